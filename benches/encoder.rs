//! Encoder throughput and latency of the embedded default model.
//!
//! ```text
//! cargo bench --bench encoder                      # all cores
//! RAYON_NUM_THREADS=1 cargo bench --bench encoder  # one core
//! ```
//! Prints milliseconds per batch and images per second for several batch sizes, then what
//! the second head of the two-head default model costs: batches of 32 through it and
//! through the one-head network of the same blocks (the ImageNet Lite0 built in), in turns.

use lookalike::ingest::decode::PreparedImage;
use lookalike::Encoder;
use std::time::Instant;

fn image(seed: u32, side: u32) -> PreparedImage {
    let rgb = (0..side * side * 3)
        .map(|i| ((i.wrapping_mul(2654435761).wrapping_add(seed * 97)) >> 24) as u8)
        .collect();
    PreparedImage {
        rgb,
        side,
        width: side,
        height: side,
    }
}

/// Median seconds of `reps` runs of `images` through `encoder` (after one warm-up run).
fn median_seconds(encoder: &Encoder, images: &[PreparedImage], reps: usize) -> (f64, f64) {
    encoder.embed(images).unwrap();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            encoder.embed(images).unwrap();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

fn main() {
    let encoder = Encoder::default_model().expect("embedded model loads");
    let side = encoder.info().input_size as u32;
    let threads = rayon::current_num_threads();
    println!("encoder {} at {side}px, {threads} threads", encoder.info());
    // Multiply-accumulates of EfficientNet-Lite0 at 224 px: about 0.39 G, i.e. 0.78 GFLOP.
    let gflop_per_image = 0.78 * (side as f64 / 224.0).powi(2);
    for batch in [1usize, 4, 8, 16, 32] {
        let images: Vec<PreparedImage> = (0..batch as u32).map(|i| image(i, side)).collect();
        let (median, min) = median_seconds(&encoder, &images, (64 / batch).max(3));
        println!(
            "batch {batch:>2}: {:>7.1} ms/batch (min {:>7.1})  {:>6.1} images/s  {:>5.1} GFLOP/s",
            median * 1e3,
            min * 1e3,
            batch as f64 / median,
            gflop_per_image * batch as f64 / median
        );
    }
    // The second head: both networks in turns, so that drift in the machine's speed hits
    // both alike.
    let one_head = Encoder::imagenet().expect("embedded ImageNet model loads");
    let images: Vec<PreparedImage> = (0..32).map(|i| image(i, side)).collect();
    let (mut two, mut one) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        two.push(median_seconds(&encoder, &images, 3).0);
        one.push(median_seconds(&one_head, &images, 3).0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] / 32.0
    };
    let (two, one) = (median(&mut two), median(&mut one));
    println!(
        "second head: {:.2} ms per image ({:.1} % of the two-head model's {:.2} ms; one head {:.2} ms)",
        (two - one) * 1e3,
        100.0 * (two - one) / two,
        two * 1e3,
        one * 1e3
    );
}
