//! Where the descriptor projection starts: at random, or on the principal axes of the
//! starting network's pooled head features of the training photos
//! (`lookalike train --init-projection pca`).
//!
//! A random projection throws away much of what the pooled features already tell apart, and
//! a short run cannot find it again: on four held-out labelled sets a head trained from a
//! random projection ended 1-3 points of precision@10 below the ImageNet features it came
//! from, the same head started on their first 512 principal axes at their level
//! (docs/studies/quality.md, "A query head that generalises"). The axes are those of the
//! unit-length GeM features, centred; each axis is signed so that its largest component is
//! positive, so that the same photos always give the same start.

use crate::error::{Error, Result};
use crate::model::describe::{for_each_chunk, Source};
use crate::model::{Encoder, Pooling};
use crate::progress::Progress;
use crate::vector::normalised;
use candle_core::{Device, Tensor};
use nalgebra::{DMatrix, SymmetricEigen};
use std::path::PathBuf;

/// How the descriptor projection of a new head starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProjectionInit {
    /// Drawn at random (or the `--init` model's own projection, when it has one).
    #[default]
    Random,
    /// The principal axes of the starting network's features of the training photos.
    Pca,
}

impl ProjectionInit {
    /// The names the command line takes.
    pub const NAMES: [&'static str; 2] = ["random", "pca"];

    pub fn from_name(name: &str) -> Option<ProjectionInit> {
        match name {
            "random" => Some(ProjectionInit::Random),
            "pca" => Some(ProjectionInit::Pca),
            _ => None,
        }
    }
}

/// The most photos whose features the principal axes are computed from (spread evenly over
/// the list when there are more).
pub const MAX_IMAGES: usize = 10_000;

/// What the principal axes were computed from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AxesSummary {
    /// Photos described (those that could not be decoded are left out).
    pub images: usize,
    pub skipped: usize,
    /// Axes kept, and the share of the features' variance along them.
    pub axes: usize,
    pub explained_variance: f64,
}

/// Every `n`-th file, so that at most `max` are taken, spread over the whole list.
fn spread(files: &[PathBuf], max: usize) -> Vec<&PathBuf> {
    let step = files.len().div_ceil(max.max(1)).max(1);
    files.iter().step_by(step).collect()
}

/// The first `dim` principal axes `(dim, features)` of `encoder`'s unit-length pooled head
/// features (GeM with exponent `gem_p`) of up to [`MAX_IMAGES`] of `files`.
pub fn principal_axes(
    files: &[PathBuf],
    encoder: &Encoder,
    gem_p: f64,
    dim: usize,
    progress: &dyn Progress,
) -> Result<(Tensor, AxesSummary)> {
    let chosen = spread(files, MAX_IMAGES);
    let sources: Vec<Source> = chosen.iter().map(|p| Source::File(p)).collect();
    let mut width = 0;
    let mut sum: Vec<f64> = Vec::new();
    let mut scatter: Option<DMatrix<f64>> = None;
    let mut images = 0;
    let skipped = for_each_chunk(
        &sources,
        encoder,
        "principal axes",
        progress,
        |prepared, _, _| {
            if prepared.is_empty() {
                return Ok(());
            }
            let features = encoder
                .head_features(&encoder.input_tensor(&prepared)?, Pooling::Gem(gem_p))?
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "model {} has no EfficientNet head features to start a projection from",
                        encoder.info()
                    ))
                })?
                .to_vec2::<f32>()?;
            let rows: Vec<Vec<f32>> = features.into_iter().filter_map(normalised).collect();
            let Some(first) = rows.first() else {
                return Ok(());
            };
            width = first.len();
            let x = DMatrix::from_row_iterator(
                rows.len(),
                width,
                rows.iter().flat_map(|r| r.iter().map(|&v| v as f64)),
            );
            sum.resize(width, 0.0);
            for r in &rows {
                for (s, &v) in sum.iter_mut().zip(r) {
                    *s += v as f64;
                }
            }
            let xtx = x.transpose() * &x;
            scatter = Some(match scatter.take() {
                Some(s) => s + xtx,
                None => xtx,
            });
            images += rows.len();
            Ok(())
        },
    )?;
    let Some(scatter) = scatter.filter(|_| images >= 2) else {
        return Err(Error::InvalidArgument(format!(
            "principal axes need at least 2 readable photos, found {images}"
        )));
    };
    if dim > width {
        return Err(Error::InvalidArgument(format!(
            "a projection started on principal axes has at most {width} dimensions, not {dim}"
        )));
    }
    let n = images as f64;
    let mean = DMatrix::from_column_slice(width, 1, &sum) / n;
    let covariance = scatter / n - &mean * mean.transpose();
    progress.status("principal axes: eigen decomposition");
    let eigen = SymmetricEigen::new(covariance);
    let mut order: Vec<usize> = (0..width).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let total: f64 = eigen.eigenvalues.iter().map(|v| v.max(0.0)).sum();
    let kept: f64 = order[..dim]
        .iter()
        .map(|&i| eigen.eigenvalues[i].max(0.0))
        .sum();
    let mut values = Vec::with_capacity(dim * width);
    for &i in &order[..dim] {
        let axis = eigen.eigenvectors.column(i);
        let largest = axis
            .iter()
            .copied()
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(1.0);
        let sign = if largest < 0.0 { -1.0 } else { 1.0 };
        values.extend(axis.iter().map(|&v| (v * sign) as f32));
    }
    let axes = Tensor::from_vec(values, (dim, width), &Device::Cpu)?;
    Ok((
        axes,
        AxesSummary {
            images,
            skipped: skipped.len(),
            axes: dim,
            explained_variance: if total > 0.0 { kept / total } else { 0.0 },
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    #[test]
    fn spread_takes_at_most_max_over_the_whole_list() {
        let files: Vec<PathBuf> = (0..25).map(|i| PathBuf::from(format!("{i}"))).collect();
        let chosen = spread(&files, 10);
        assert_eq!(chosen.len(), 9);
        assert_eq!(chosen[0], &PathBuf::from("0"));
        assert_eq!(chosen[8], &PathBuf::from("24"));
        assert_eq!(spread(&files, 100).len(), 25);
    }

    /// The axes are orthonormal, ordered by variance, signed, and the same on every run;
    /// projecting on all of them keeps every cosine.
    #[test]
    fn axes_are_orthonormal_and_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for k in 0..6u32 {
            let img = image::RgbImage::from_fn(48, 40, |x, y| {
                image::Rgb([
                    ((x * (k + 1) * 5) % 256) as u8,
                    ((y * (7 - k) * 3) % 256) as u8,
                    (((x + y) * k * 11) % 256) as u8,
                ])
            });
            let path = dir.path().join(format!("{k}.png"));
            img.save(&path).unwrap();
            files.push(path);
        }
        files.push(dir.path().join("missing.png"));
        let encoder = Encoder::imagenet().unwrap();
        let (axes, summary) = principal_axes(&files, &encoder, 3.0, 4, &NoProgress).unwrap();
        assert_eq!((summary.images, summary.skipped, summary.axes), (6, 1, 4));
        // Six centred points span at most five directions: four axes hold nearly all.
        assert!(
            summary.explained_variance >= 0.8 - 1e-9 && summary.explained_variance <= 1.0 + 1e-9,
            "{summary:?}"
        );
        let a = axes.to_vec2::<f32>().unwrap();
        for (i, u) in a.iter().enumerate() {
            for (j, v) in a.iter().enumerate() {
                let d = crate::vector::dot(u, v);
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((d - want).abs() < 1e-4, "axes {i}, {j}: {d}");
            }
            let largest = u
                .iter()
                .copied()
                .fold(0f32, |m, x| if x.abs() > m.abs() { x } else { m });
            assert!(largest > 0.0);
        }
        let (again, _) = principal_axes(&files, &encoder, 3.0, 4, &NoProgress).unwrap();
        assert_eq!(again.to_vec2::<f32>().unwrap(), a);
        let err = principal_axes(&files, &encoder, 3.0, 2000, &NoProgress)
            .err()
            .unwrap();
        assert!(err.to_string().contains("at most 1280"), "{err}");
    }
}
