//! Speed of the pretrained encoders (CLIP, SigLIP, DINOv2): images per second of the image
//! tower alone, text-query latency, load time and peak memory, for one model folder.
//!
//! ```text
//! python3 scripts/make-model-fixtures.py --full-size target/full-size-models   # once
//! cargo bench --bench pretrained -- target/full-size-models/clip-vit-b32
//! ```
//! Real-size architectures with random weights give honest speed figures (the arithmetic
//! does not depend on the values). One model per run, so that the peak memory is its own.

use lookalike::model::pretrained::Pretrained;
use std::time::Instant;

/// The allocator of the `lookalike` binary, so that the figures are the command's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this file without it:
    // then only a smoke run on a tiny fixture model.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let folder = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let dir = match (folder, benchmarking) {
        (Some(dir), _) => dir,
        (None, false) => concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/models/clip-tiny"
        )
        .to_string(),
        (None, true) => panic!("usage: cargo bench --bench pretrained -- MODEL_FOLDER"),
    };
    let t = Instant::now();
    let model = Pretrained::open(std::path::Path::new(&dir)).expect("model loads");
    let load_s = t.elapsed().as_secs_f64();
    let info = model.info().clone();
    let photo = image::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/photos/chelsea.png"
    ))
    .expect("sample photo")
    .to_rgb8();
    let one = model.prepare(&photo);
    println!(
        "{} ({}, {} px, dim {}), {} threads, loaded in {load_s:.2} s",
        info.name,
        info.family.name(),
        info.input_size,
        info.dim,
        rayon::current_num_threads()
    );
    let batches: &[usize] = if benchmarking {
        &[1, 8, 16, 32]
    } else {
        &[1, 2]
    };
    for &batch in batches {
        let pixels: Vec<f32> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * batch)
            .collect();
        model.embed_pixels(&pixels, batch).unwrap(); // warm-up
        let reps = (32 / batch).max(2);
        let t = Instant::now();
        for _ in 0..reps {
            model.embed_pixels(&pixels, batch).unwrap();
        }
        let per_batch = t.elapsed().as_secs_f64() / reps as f64;
        println!(
            "  image tower, batch {batch:>2}: {:>7.1} ms per batch, {:>6.1} images/s",
            per_batch * 1e3,
            batch as f64 / per_batch
        );
    }
    if info.text {
        let queries = [
            "a dog on the beach",
            "sunset over the mountains",
            "a red car in the snow",
        ];
        model.embed_text(queries[0]).unwrap();
        let mut times: Vec<f64> = (0..9)
            .map(|i| {
                let t = Instant::now();
                model.embed_text(queries[i % queries.len()]).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("  text query: median {:.1} ms", times[times.len() / 2]);
    }
    println!("  peak memory (VmHWM): {:.0} MB", peak_rss_mb());
}
