//! Score normalisation for copy detection: a model's *background set* and the normalised
//! similarity computed against it.
//!
//! Cosine similarity alone is not calibrated across images: in a dense region of the
//! descriptor space (piles of golf balls, burst shots, a texture) distinct photos score as
//! high as edited copies elsewhere, and that fixes a high threshold for everyone. The
//! background level `b(x)` of a descriptor is its similarity to its nearest neighbour in a
//! background set of unrelated photos; the normalised similarity of a pair is
//!
//! ```text
//! s'(a, b) = cos(a, b) - (b(a) + b(b)) / 2
//! ```
//!
//! so a pair has to stand out from what its images reach against photos they are *not*
//! copies of (the score normalisation of SSCD, Pizzi et al. 2022, made symmetric). The
//! background set is stored in the model file (`descriptor.background`, f16) by
//! [`calibrate`]; `dedup` and `eval copies` use it, `query` ranks by plain cosine.

use crate::error::{Error, Result};
use crate::model::describe::describe_files;
use crate::model::kernels::pointwise;
use crate::model::{save_safetensors, Encoder, Task};
use crate::progress::Progress;
use candle_core::{DType, Device, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Name of the background tensor, `(count, dim)`, in a model file.
pub const TENSOR: &str = "descriptor.background";

/// Descriptors scored per block against the background: one `(BLOCK, count)` product.
const BLOCK: usize = 64;

/// Unit descriptors of unrelated photos, held transposed for blocked products.
#[derive(Clone)]
pub struct Background {
    dim: usize,
    count: usize,
    /// `(dim, count)` row-major.
    transposed: Vec<f32>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Background({} x {})", self.count, self.dim)
    }
}

/// `cos - (level_a + level_b) / 2`: the normalised similarity of a pair.
pub fn normalised(similarity: f32, level_a: f32, level_b: f32) -> f32 {
    similarity - 0.5 * (level_a + level_b)
}

impl Background {
    /// From `count` rows of `dim` values (each a unit vector).
    pub fn from_rows(rows: &[f32], dim: usize) -> Result<Background> {
        if dim == 0 || rows.is_empty() || !rows.len().is_multiple_of(dim) {
            return Err(Error::model(
                "background",
                format!("{} values do not form rows of {dim}", rows.len()),
            ));
        }
        if rows.iter().any(|x| !x.is_finite()) {
            return Err(Error::model(
                "background",
                "it holds values that are not finite",
            ));
        }
        let count = rows.len() / dim;
        let mut transposed = vec![0f32; rows.len()];
        for (r, row) in rows.chunks_exact(dim).enumerate() {
            for (d, &x) in row.iter().enumerate() {
                transposed[d * count + r] = x;
            }
        }
        Ok(Background {
            dim,
            count,
            transposed,
        })
    }

    /// From the `(count, dim)` tensor of a model file.
    pub fn from_tensor(t: &Tensor, dim: usize) -> Result<Background> {
        let (_, d) = t
            .dims2()
            .map_err(|e| Error::model("background", format!("`{TENSOR}`: {e}")))?;
        if d != dim {
            return Err(Error::model(
                "background",
                format!("`{TENSOR}` has dimension {d}, the encoder {dim}"),
            ));
        }
        let rows = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        Self::from_rows(&rows, dim)
    }

    /// The `(count, dim)` f16 tensor written into a model file.
    pub fn to_tensor(&self) -> Result<Tensor> {
        let t = Tensor::from_slice(&self.transposed, (self.dim, self.count), &Device::Cpu)?;
        Ok(t.t()?.contiguous()?.to_dtype(DType::F16)?)
    }

    /// Photos in the background set.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Background levels (similarity to the nearest background descriptor) of `vectors`,
    /// in order. Runs on the calling thread; callers parallelise over blocks.
    pub fn levels(&self, vectors: &[&[f32]]) -> Vec<f32> {
        let zeros = vec![0f32; self.count];
        let mut block = vec![0f32; BLOCK * self.dim];
        let mut sims = vec![0f32; BLOCK * self.count];
        let mut out = Vec::with_capacity(vectors.len());
        for chunk in vectors.chunks(BLOCK) {
            let n = chunk.len();
            for (row, v) in block.chunks_exact_mut(self.dim).zip(chunk) {
                row.copy_from_slice(&v[..self.dim]);
            }
            pointwise(
                &block[..n * self.dim],
                n,
                self.dim,
                &self.transposed,
                &zeros,
                false,
                &mut sims[..n * self.count],
                gemm::Parallelism::None,
            );
            out.extend(
                sims[..n * self.count]
                    .chunks_exact(self.count)
                    .map(|row| row.iter().copied().fold(f32::NEG_INFINITY, f32::max)),
            );
        }
        out
    }

    /// [`Self::levels`] on every core.
    pub fn par_levels(&self, vectors: &[&[f32]]) -> Vec<f32> {
        vectors
            .par_chunks(BLOCK)
            .flat_map_iter(|c| self.levels(c))
            .collect()
    }
}

/// How to build a background set.
#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    /// At most this many photos (drawn at random by `seed` when there are more).
    pub max_images: usize,
    pub seed: u64,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        CalibrateOptions {
            max_images: 10_000,
            seed: 1,
        }
    }
}

/// What [`calibrate`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CalibrateReport {
    /// Photos found.
    pub found: usize,
    /// Photos in the background set.
    pub images: usize,
    /// Photos that could not be decoded or described.
    pub skipped: usize,
    pub elapsed_s: f64,
}

/// Describes (up to `opts.max_images` of) `files` with `encoder`: the background set.
pub fn build(
    encoder: &Encoder,
    files: &[PathBuf],
    opts: &CalibrateOptions,
    progress: &dyn Progress,
) -> Result<(Background, usize)> {
    let mut chosen: Vec<&PathBuf> = files.iter().collect();
    if chosen.len() > opts.max_images {
        chosen.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed));
        chosen.truncate(opts.max_images);
        chosen.sort();
    }
    // Undecodable photos and unusable embeddings are left out.
    let paths: Vec<&Path> = chosen.iter().map(|p| p.as_path()).collect();
    let vectors = describe_files(
        &paths,
        encoder,
        Task::Copy,
        "describing background photos",
        progress,
    )?;
    let dim = encoder.info().head(Task::Copy).len;
    let mut rows = Vec::with_capacity(chosen.len() * dim);
    let mut skipped = 0;
    for v in vectors {
        match v {
            Some(v) => rows.extend(v),
            None => skipped += 1,
        }
    }
    if rows.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "none of the {} photos could be described: no background set",
            chosen.len()
        )));
    }
    Ok((Background::from_rows(&rows, dim)?, skipped))
}

/// Writes a copy of the model file `model` to `out` with a background set described from
/// `files` (replacing any it had), and records its size and source in the metadata.
pub fn calibrate(
    model: &Path,
    files: &[PathBuf],
    folders: &[PathBuf],
    out: &Path,
    opts: &CalibrateOptions,
    progress: &dyn Progress,
) -> Result<CalibrateReport> {
    let start = std::time::Instant::now();
    let bytes = std::fs::read(model).map_err(|e| Error::io(model, e))?;
    let encoder =
        Encoder::from_bytes(&bytes, "model").map_err(|e| crate::model::in_file(e, model))?;
    let (background, skipped) = build(&encoder, files, opts, progress)?;
    let mut meta: Vec<(String, String)> = crate::model::own_metadata(&bytes)?
        .into_iter()
        .filter(|(k, _)| !k.starts_with("background_"))
        .collect();
    // Each folder by its last two components (`imagenette/train`), enough to say what it was.
    let names: Vec<String> = folders
        .iter()
        .map(|f| {
            let parts: Vec<_> = f
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect();
            parts[parts.len().saturating_sub(2)..].join("/")
        })
        .collect();
    meta.push(("background_images".into(), background.len().to_string()));
    meta.push(("background_data".into(), names.join(", ")));
    meta.push(("background_date".into(), crate::model::now_rfc3339()));
    meta.sort();
    let mut tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)?
            .into_iter()
            .filter(|(n, _)| n != TENSOR)
            .collect();
    tensors.insert(TENSOR.to_string(), background.to_tensor()?);
    let meta_refs: Vec<(&str, String)> =
        meta.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let tmp = out.with_extension("tmp");
    save_safetensors(&tensors, &meta_refs, &tmp)?;
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
    Ok(CalibrateReport {
        found: files.len(),
        images: background.len(),
        skipped,
        elapsed_s: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let v: Vec<f32> = (0..dim)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 2000) as f32 / 1000.0 - 1.0
            })
            .collect();
        crate::vector::normalised(v).unwrap()
    }

    #[test]
    fn levels_are_the_nearest_background_similarity() {
        let dim = 24;
        let rows: Vec<f32> = (0..150).flat_map(|i| unit(i, dim)).collect();
        let bg = Background::from_rows(&rows, dim).unwrap();
        assert_eq!((bg.len(), bg.dim()), (150, 24));
        // More queries than one block, so that blocks and their remainder are both used.
        let queries: Vec<Vec<f32>> = (1000..1000 + BLOCK as u64 + 7)
            .map(|i| unit(i, dim))
            .collect();
        let refs: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
        let levels = bg.par_levels(&refs);
        assert_eq!(levels, bg.levels(&refs));
        for (q, level) in queries.iter().zip(&levels) {
            let brute = rows
                .chunks_exact(dim)
                .map(|r| r.iter().zip(q).map(|(a, b)| a * b).sum::<f32>())
                .fold(f32::NEG_INFINITY, f32::max);
            assert!((brute - level).abs() < 1e-5, "{brute} vs {level}");
        }
        // A background photo itself reaches 1.
        let own = bg.levels(&[&rows[5 * dim..6 * dim]]);
        assert!((own[0] - 1.0).abs() < 1e-5, "{own:?}");
    }

    #[test]
    fn normalised_similarity_subtracts_the_mean_level() {
        assert!((normalised(0.9, 0.8, 0.6) - 0.2).abs() < 1e-6);
        // The same cosine counts for less between photos of a crowded region.
        assert!(normalised(0.95, 0.9, 0.9) < normalised(0.9, 0.5, 0.5));
    }

    #[test]
    fn the_tensor_round_trips_and_bad_shapes_are_refused() {
        let dim = 8;
        let rows: Vec<f32> = (0..5).flat_map(|i| unit(i, dim)).collect();
        let bg = Background::from_rows(&rows, dim).unwrap();
        let t = bg.to_tensor().unwrap();
        assert_eq!(t.dims(), &[5, 8]);
        let back = Background::from_tensor(&t, dim).unwrap();
        let q = unit(99, dim);
        let (a, b) = (bg.levels(&[&q])[0], back.levels(&[&q])[0]);
        assert!((a - b).abs() < 2e-3, "f16 storage: {a} vs {b}");
        assert!(Background::from_tensor(&t, 16).is_err());
        assert!(Background::from_rows(&rows[..7], dim).is_err());
        assert!(Background::from_rows(&[f32::NAN; 8], dim).is_err());
    }
}
