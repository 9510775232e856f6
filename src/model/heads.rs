//! Two-head models: one descriptor for query by example and one for copy detection, sharing
//! the stem and the first blocks of EfficientNet-Lite0 (`lookalike combine`).
//!
//! Copy-style training (hard negatives, strong edits) makes a better copy detector and a
//! worse semantic neighbour: on Imagenette val precision@10 falls from 0.88 to 0.80 while the
//! copy µAP rises (docs/studies/quality.md, "Two heads"). Two models trained from the same initial
//! weights with the same frozen blocks compute the same features up to their first trained
//! block; a two-head file keeps those blocks once and the rest of each model beside each
//! other:
//!
//! - the query head under the usual tensor names (a two-head file is a valid `--init`);
//! - the copy head's blocks, head convolution and projection under [`COPY_PREFIX`];
//! - the background set (`descriptor.background`) of the copy head, which is what it is for;
//! - metadata `arch` = [`ARCH_TWO_HEADS`] and the first block of the copy branch
//!   ([`META_BRANCH_START`]).
//!
//! The encoder runs the shared part once per image and stores both descriptors in one
//! vector ([`super::Head`]).

use super::efficientnet::BLOCKS;
use super::HEAD_PROJECTION;
use super::{save_safetensors, Encoder, Task, ARCH_LITE0_DESCRIPTOR};
use crate::error::{Error, Result};
use crate::model::background::TENSOR as BACKGROUND;
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// Architecture name of a two-head model.
pub const ARCH_TWO_HEADS: &str = "efficientnet-lite0-gem-two-heads";
/// Prefix of the copy branch's tensor names.
pub const COPY_PREFIX: &str = "copy.";
/// Metadata key (after [`super::META_PREFIX`]): the first block of the copy branch.
pub const META_BRANCH_START: &str = "copy_branch_start";

/// Largest difference two shared tensors may have (values of f16 files converted to f32
/// compare exactly; this allows a model stored in f16 beside one stored in f32).
const SHARED_TOLERANCE: f32 = 1e-3;

/// What [`combine`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CombineReport {
    /// The first block of the copy branch: blocks before it are shared.
    pub branch_start: usize,
    pub query_dim: usize,
    pub copy_dim: usize,
    /// Background photos of the copy head (0: none; `lookalike calibrate` adds them).
    pub background_images: usize,
    /// Name and weights hash of the written model.
    pub model_id: String,
    pub bytes: u64,
}

struct Loaded {
    tensors: HashMap<String, Tensor>,
    meta: HashMap<String, String>,
}

/// Loads a model to combine: one written by `lookalike train`, or the head for `task` of a
/// two-head model (so that one head of a model can be replaced and the other kept).
fn load(path: &Path, task: Task) -> Result<Loaded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let meta = super::own_metadata(&bytes).map_err(|e| super::in_file(e, path))?;
    let arch = meta.get("arch").cloned().unwrap_or_else(|| "none".into());
    if arch != ARCH_LITE0_DESCRIPTOR && arch != ARCH_TWO_HEADS {
        return Err(Error::model(
            path.display().to_string(),
            format!(
                "architecture `{arch}`: only {ARCH_LITE0_DESCRIPTOR} models (written by \
                 `lookalike train`) and {ARCH_TWO_HEADS} models can be combined"
            ),
        ));
    }
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| Error::model(format!("file {}", path.display()), e))?;
    let loaded = Loaded { tensors, meta };
    if arch == ARCH_TWO_HEADS {
        return one_head(loaded, task).map_err(|e| super::in_file(e, path));
    }
    Ok(loaded)
}

/// Whether tensor `name` belongs to a branch that starts at block `start`: its blocks, the
/// head convolution and the projection.
fn in_branch(name: &str, start: usize) -> bool {
    name.starts_with("_conv_head.")
        || name.starts_with("_bn1.")
        || name == HEAD_PROJECTION
        || (start..BLOCKS).any(|i| name.starts_with(&format!("_blocks.{i}.")))
}

/// The one-head model of a two-head model's head for `task`, as `lookalike train` would
/// have written it: the shared tensors, then the head's own (the copy branch's without
/// their prefix), and that head's metadata.
fn one_head(two: Loaded, task: Task) -> Result<Loaded> {
    let start: usize = two
        .meta
        .get(META_BRANCH_START)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::model("metadata", format!("`{META_BRANCH_START}` is missing")))?;
    let mut tensors = HashMap::new();
    for (n, t) in two.tensors {
        let own = match (n.strip_prefix(COPY_PREFIX), task) {
            (Some(rest), Task::Copy) => Some(rest.to_string()),
            (Some(_), Task::Query) => None,
            (None, Task::Copy) if in_branch(&n, start) => None,
            (None, Task::Query) if n == BACKGROUND => None,
            (None, _) => Some(n),
        };
        if let Some(name) = own {
            tensors.insert(name, t);
        }
    }
    let prefix = match task {
        Task::Query => "query_",
        Task::Copy => "copy_",
    };
    let mut meta: HashMap<String, String> = two
        .meta
        .iter()
        .filter(|(k, _)| ["input_size", "gem_p", "license", "storage"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in &two.meta {
        if let Some(key) = k.strip_prefix(prefix) {
            meta.insert(key.to_string(), v.clone());
        }
        if task == Task::Copy && k.starts_with("background_") {
            meta.insert(k.clone(), v.clone());
        }
    }
    meta.insert("arch".into(), ARCH_LITE0_DESCRIPTOR.into());
    Ok(Loaded { tensors, meta })
}

/// Whether tensor `name` is the same in both models.
fn same(a: &Loaded, b: &Loaded, name: &str) -> Result<bool> {
    let (Some(x), Some(y)) = (a.tensors.get(name), b.tensors.get(name)) else {
        return Ok(false);
    };
    if x.dims() != y.dims() {
        return Ok(false);
    }
    let diff = (x.to_dtype(DType::F32)? - y.to_dtype(DType::F32)?)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar::<f32>()?;
    Ok(diff <= SHARED_TOLERANCE)
}

/// Names of the tensors of block `i` (or of the stem, `None`) in `m`.
fn names_of(m: &Loaded, part: Option<usize>) -> Vec<String> {
    let prefixes: Vec<String> = match part {
        Some(i) => vec![format!("_blocks.{i}.")],
        None => vec!["_conv_stem.".into(), "_bn0.".into()],
    };
    let mut names: Vec<String> = m
        .tensors
        .keys()
        .filter(|n| prefixes.iter().any(|p| n.starts_with(p.as_str())))
        .filter(|n| !n.ends_with("num_batches_tracked"))
        .cloned()
        .collect();
    names.sort();
    names
}

/// Writes a two-head model to `out`: `query` (a model for query by example) and the copy
/// branch of `copy` (a model for copy detection), which must share the stem and at least
/// the first block with it. The copy branch starts at the first block that differs. The
/// background set is `copy`'s; the query model's, if any, is dropped. Either may be a
/// two-head model, of which its head for that task is taken: a new query head joins the
/// copy head of an existing model unchanged.
pub fn combine(query: &Path, copy: &Path, name: &str, out: &Path) -> Result<CombineReport> {
    let (q, c) = (load(query, Task::Query)?, load(copy, Task::Copy)?);
    for key in ["input_size", "gem_p"] {
        if q.meta.get(key) != c.meta.get(key) {
            return Err(Error::InvalidArgument(format!(
                "{} has {key} {:?}, {} has {:?}: the heads must take the same input",
                query.display(),
                q.meta.get(key),
                copy.display(),
                c.meta.get(key)
            )));
        }
    }
    let shared = |part: Option<usize>| -> Result<bool> {
        let names = names_of(&q, part);
        if names.is_empty() || names != names_of(&c, part) {
            return Ok(false);
        }
        for n in &names {
            if !same(&q, &c, n)? {
                return Ok(false);
            }
        }
        Ok(true)
    };
    if !shared(None)? {
        return Err(Error::InvalidArgument(format!(
            "{} and {} do not share their stem: train both from the same --init with \
             --freeze-blocks N (N >= 1)",
            query.display(),
            copy.display()
        )));
    }
    let mut start = 0;
    while start < BLOCKS && shared(Some(start))? {
        start += 1;
    }
    if start == 0 {
        return Err(Error::InvalidArgument(format!(
            "{} and {} differ from block 0 on: nothing to share (train both with \
             --freeze-blocks N from the same --init)",
            query.display(),
            copy.display()
        )));
    }
    let dtype = q
        .tensors
        .get(HEAD_PROJECTION)
        .map(|t| t.dtype())
        .unwrap_or(DType::F32);

    let mut tensors: HashMap<String, Tensor> = q
        .tensors
        .iter()
        .filter(|(n, _)| n.as_str() != BACKGROUND && !n.ends_with("num_batches_tracked"))
        .map(|(n, t)| (n.clone(), t.clone()))
        .collect();
    for (n, t) in &c.tensors {
        if in_branch(n, start) && !n.ends_with("num_batches_tracked") {
            tensors.insert(format!("{COPY_PREFIX}{n}"), t.to_dtype(dtype)?);
        }
    }
    let background_images = match c.tensors.get(BACKGROUND) {
        Some(t) => {
            tensors.insert(BACKGROUND.to_string(), t.to_dtype(dtype)?);
            t.dim(0)?
        }
        None => 0,
    };
    let dim_of = |m: &Loaded| -> Result<usize> {
        Ok(m.tensors
            .get(HEAD_PROJECTION)
            .ok_or_else(|| Error::model("weights", format!("`{HEAD_PROJECTION}` is missing")))?
            .dim(0)?)
    };
    let (query_dim, copy_dim) = (dim_of(&q)?, dim_of(&c)?);

    let mut meta: Vec<(String, String)> = vec![
        ("name".into(), name.to_string()),
        ("arch".into(), ARCH_TWO_HEADS.into()),
        (META_BRANCH_START.into(), start.to_string()),
        ("dim".into(), (query_dim + copy_dim).to_string()),
        ("query_dim".into(), query_dim.to_string()),
        ("copy_dim".into(), copy_dim.to_string()),
        ("date".into(), crate::model::now_rfc3339()),
    ];
    for key in ["input_size", "gem_p", "license", "storage"] {
        if let Some(v) = q.meta.get(key) {
            meta.push((key.into(), v.clone()));
        }
    }
    for (prefix, m) in [("query", &q), ("copy", &c)] {
        for key in ["name", "recipe", "data", "steps", "date"] {
            if let Some(v) = m.meta.get(key) {
                meta.push((format!("{prefix}_{key}"), v.clone()));
            }
        }
    }
    for key in ["background_images", "background_data", "background_date"] {
        if let Some(v) = c.meta.get(key) {
            meta.push((key.into(), v.clone()));
        }
    }
    let meta: Vec<(&str, String)> = meta.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    save_safetensors(&tensors, &meta, out)?;
    let encoder = Encoder::from_file(out)?;
    Ok(CombineReport {
        branch_start: start,
        query_dim,
        copy_dim,
        background_images,
        model_id: encoder.info().id(),
        bytes: std::fs::metadata(out).map_err(|e| Error::io(out, e))?.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::decode::PreparedImage;
    use crate::model::IMAGENET_MODEL;

    /// A trained-descriptor file from the ImageNet weights: a seeded projection to `dim`, and
    /// the weights of blocks `changed..` scaled by `1.1` (none when `changed` is 16).
    fn model(path: &Path, dim: usize, seed: u64, changed: usize) {
        let mut tensors = candle_core::safetensors::load_buffer(IMAGENET_MODEL, &Device::Cpu)
            .unwrap()
            .into_iter()
            .filter(|(n, _)| !n.starts_with("_fc."))
            .map(|(n, t)| {
                let block = n
                    .strip_prefix("_blocks.")
                    .and_then(|r| r.split('.').next())
                    .and_then(|i| i.parse::<usize>().ok());
                let t = t.to_dtype(DType::F32).unwrap();
                let t = match block {
                    Some(i) if i >= changed && n.ends_with("conv.weight") => (t * 1.1).unwrap(),
                    _ => t,
                };
                (n, t)
            })
            .collect::<HashMap<_, _>>();
        let mut x = seed;
        let values: Vec<f32> = (0..dim * 1280)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect();
        tensors.insert(
            HEAD_PROJECTION.into(),
            Tensor::from_vec(values, (dim, 1280), &Device::Cpu).unwrap(),
        );
        let meta = [
            ("arch", ARCH_LITE0_DESCRIPTOR.to_string()),
            ("name", format!("m{seed}")),
            ("input_size", "64".into()),
            ("gem_p", "3".into()),
        ];
        save_safetensors(&tensors, &meta, path).unwrap();
    }

    fn images() -> Vec<PreparedImage> {
        (0..3u32)
            .map(|k| PreparedImage {
                rgb: (0..64 * 64 * 3)
                    .map(|i| ((i as u32 * (7 + k) / 5 + k * 40) % 256) as u8)
                    .collect(),
                side: 64,
                width: 64,
                height: 64,
            })
            .collect()
    }

    /// The combined model's two parts are the two models' descriptors, each scaled by
    /// `1/sqrt 2`, and each head compares like its model.
    #[test]
    fn each_head_describes_like_its_model() {
        let dir = tempfile::tempdir().unwrap();
        let (q, c, two) = (
            dir.path().join("q.safetensors"),
            dir.path().join("c.safetensors"),
            dir.path().join("two.safetensors"),
        );
        model(&q, 8, 1, 16);
        model(&c, 6, 2, 13);
        let report = combine(&q, &c, "two", &two).unwrap();
        assert_eq!(
            (report.branch_start, report.query_dim, report.copy_dim),
            (13, 8, 6)
        );
        let enc = Encoder::from_file(&two).unwrap();
        let info = enc.info();
        assert_eq!(
            (info.arch.as_str(), info.dim, info.copy_dim),
            (ARCH_TWO_HEADS, 14, 6)
        );
        let imgs = images();
        let got = enc.embed(&imgs).unwrap();
        let want_q = Encoder::from_file(&q).unwrap().embed(&imgs).unwrap();
        let want_c = Encoder::from_file(&c).unwrap().embed(&imgs).unwrap();
        let (hq, hc) = (info.head(Task::Query), info.head(Task::Copy));
        for ((g, wq), wc) in got.iter().zip(&want_q).zip(&want_c) {
            let g = g.as_ref().unwrap();
            assert!((crate::vector::dot(g, g) - 1.0).abs() < 1e-5);
            for (head, want) in [(hq, wq), (hc, wc)] {
                let unit = head.unit(g);
                let diff = unit
                    .iter()
                    .zip(want.as_ref().unwrap())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(diff < 1e-4, "{head:?}: max diff {diff}");
            }
        }
        let (a, b) = (got[0].as_ref().unwrap(), got[1].as_ref().unwrap());
        let cos = |w: &Option<Vec<f32>>, v: &Option<Vec<f32>>| {
            crate::vector::dot(w.as_ref().unwrap(), v.as_ref().unwrap())
        };
        assert!((hq.similarity(a, b) - cos(&want_q[0], &want_q[1])).abs() < 1e-4);
        assert!((hc.similarity(a, b) - cos(&want_c[0], &want_c[1])).abs() < 1e-4);
    }

    /// A new query head joins the copy head of a two-head model: the copy descriptors and
    /// the background set are bit for bit those of the two-head model.
    #[test]
    fn a_query_head_replaces_the_query_head_of_a_two_head_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        model(&path("q.safetensors"), 8, 1, 16);
        model(&path("c.safetensors"), 6, 2, 13);
        model(&path("q2.safetensors"), 12, 3, 16);
        combine(
            &path("q.safetensors"),
            &path("c.safetensors"),
            "two",
            &path("two.safetensors"),
        )
        .unwrap();
        let report = combine(
            &path("q2.safetensors"),
            &path("two.safetensors"),
            "new",
            &path("new.safetensors"),
        )
        .unwrap();
        assert_eq!(
            (report.branch_start, report.query_dim, report.copy_dim),
            (13, 12, 6)
        );
        let imgs = images();
        let old = Encoder::from_file(&path("two.safetensors")).unwrap();
        let new = Encoder::from_file(&path("new.safetensors")).unwrap();
        let (old_copy, new_copy) = (old.info().head(Task::Copy), new.info().head(Task::Copy));
        let want_q = Encoder::from_file(&path("q2.safetensors"))
            .unwrap()
            .embed(&imgs)
            .unwrap();
        for ((o, n), q) in old
            .embed(&imgs)
            .unwrap()
            .iter()
            .zip(new.embed(&imgs).unwrap())
            .zip(&want_q)
        {
            let (o, n) = (o.as_ref().unwrap(), n.as_ref().unwrap());
            assert_eq!(old_copy.part(o), new_copy.part(n));
            let query = new.info().head(Task::Query).unit(n);
            for (a, b) in query.iter().zip(q.as_ref().unwrap()) {
                assert!((a - b).abs() < 1e-4);
            }
        }
        // The query head of a two-head model can be taken too (nothing changes).
        combine(
            &path("two.safetensors"),
            &path("two.safetensors"),
            "same",
            &path("same.safetensors"),
        )
        .unwrap();
        let same = Encoder::from_file(&path("same.safetensors")).unwrap();
        assert_eq!(same.embed(&imgs).unwrap(), old.embed(&imgs).unwrap());
    }

    #[test]
    fn models_must_share_the_stem_and_a_block() {
        let dir = tempfile::tempdir().unwrap();
        let (q, c) = (
            dir.path().join("q.safetensors"),
            dir.path().join("c.safetensors"),
        );
        model(&q, 8, 1, 16);
        model(&c, 8, 2, 0);
        let err = combine(&q, &c, "two", &dir.path().join("two.safetensors"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("nothing to share"), "{err}");
    }
}
