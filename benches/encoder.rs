//! Encoder throughput and latency of the embedded default model.
//!
//! ```text
//! cargo bench --bench encoder                      # all cores
//! RAYON_NUM_THREADS=1 cargo bench --bench encoder  # one core
//! ```
//! Prints milliseconds per batch and images per second for several batch sizes.

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

fn main() {
    let encoder = Encoder::default_model().expect("embedded model loads");
    let side = encoder.info().input_size as u32;
    let threads = rayon::current_num_threads();
    println!("encoder {} at {side}px, {threads} threads", encoder.info());
    // Multiply-accumulates of EfficientNet-Lite0 at 224 px: about 0.39 G, i.e. 0.78 GFLOP.
    let gflop_per_image = 0.78 * (side as f64 / 224.0).powi(2);
    for batch in [1usize, 4, 8, 16, 32] {
        let images: Vec<PreparedImage> = (0..batch as u32).map(|i| image(i, side)).collect();
        encoder.embed(&images).unwrap(); // warm-up
        let reps = (64 / batch).max(3);
        let mut times = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            encoder.embed(&images).unwrap();
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "batch {batch:>2}: {:>7.1} ms/batch (min {:>7.1})  {:>6.1} images/s  {:>5.1} GFLOP/s",
            median * 1e3,
            times[0] * 1e3,
            batch as f64 / median,
            gflop_per_image * batch as f64 / median
        );
    }
}
