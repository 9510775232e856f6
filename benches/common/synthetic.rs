//! Synthetic embeddings for the scale benchmarks: unit vectors in clusters ("similar photos",
//! far below the duplicate threshold), shared by benches/ann.rs and
//! examples/synthetic_index.rs.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Points per cluster on average.
pub const CLUSTER_SIZE: usize = 50;

pub struct Generator {
    rng: ChaCha8Rng,
    centres: Vec<Vec<f32>>,
    dim: usize,
}

impl Generator {
    /// Enough cluster centres for `count` points of `dim` dimensions.
    pub fn new(count: usize, dim: usize, seed: u64) -> Generator {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let centres = (0..count.div_ceil(CLUSTER_SIZE).max(1))
            .map(|_| unit((0..dim).map(|_| gaussian(&mut rng)).collect()))
            .collect();
        Generator { rng, centres, dim }
    }

    /// A point of a random cluster: its centre plus noise of expected length `spread`
    /// (1.0: two points of one cluster have cosine similarity about 0.5).
    pub fn point(&mut self, spread: f32) -> Vec<f32> {
        let c = self.rng.random_range(0..self.centres.len());
        let centre = std::mem::take(&mut self.centres[c]);
        let v = self.around(&centre, spread);
        self.centres[c] = centre;
        v
    }

    /// `base` plus Gaussian noise of expected length `noise`, normalised (0.15: cosine
    /// similarity about 0.99 to `base`, a near duplicate).
    pub fn around(&mut self, base: &[f32], noise: f32) -> Vec<f32> {
        debug_assert_eq!(base.len(), self.dim);
        let scale = noise / (self.dim as f32).sqrt();
        unit(
            base.iter()
                .map(|b| b + scale * gaussian(&mut self.rng))
                .collect(),
        )
    }
}

fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    // Box-Muller.
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}
