//! `eval copies`: copy detection, following the DISC2021 protocol. Copies of the originals are
//! generated with [`super::transforms`]; originals and distractors form the reference set.
//! Every copy queries it, and so does every distractor (against the references other than
//! itself): as in DISC2021, queries without a copy in the reference set must not produce
//! confident matches, which is what makes the precision-0.99 threshold safe for `dedup` in a
//! collection of similar but distinct photos.
//!
//! Scored per method: µAP over all query→candidate pairs, recall at precision 0.90 and 0.99
//! with their thresholds, recall@1, and per transform recall@1 and the recall reached at the
//! overall precision-0.90 threshold.

use super::methods::{Descriptor, Method};
use super::metrics::{micro_average_precision, pr_curve, recall_at_precision, PrPoint, ScoredPair};
use super::transforms::{make_copy, rng_for, Transform};
use super::{describe_all, Source};
use crate::error::{Error, Result};
use crate::ingest::decode::{self, DecodeOptions};
use crate::model::{Encoder, Task};
use crate::progress::Progress;
use image::DynamicImage;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How to run the copy-detection evaluation.
#[derive(Debug, Clone)]
pub struct CopiesOptions {
    pub seed: u64,
    /// Originals are shrunk to fit this size before editing (real copies of big photos are
    /// shared at screen sizes; this also bounds the cost).
    pub max_side: u32,
    /// Candidates kept per query (the highest-scoring references).
    pub candidates: usize,
    /// Transforms to apply, one copy of each per original.
    pub transforms: Vec<Transform>,
    /// Write the generated copies here, for inspection.
    pub save_copies: Option<PathBuf>,
}

impl Default for CopiesOptions {
    fn default() -> Self {
        CopiesOptions {
            seed: 1,
            max_side: 1024,
            candidates: 20,
            transforms: Transform::ALL.to_vec(),
            save_copies: None,
        }
    }
}

/// Figures of one transform for one method.
#[derive(Debug, Clone, Serialize)]
pub struct TransformScores {
    pub transform: Transform,
    pub queries: usize,
    pub recall_at_1: f64,
    pub recall_at_p90: f64,
}

/// Figures of one method.
#[derive(Debug, Clone, Serialize)]
pub struct CopyScores {
    pub method: Method,
    /// µAP over copy and non-matching queries (the DISC2021 protocol).
    pub micro_ap: f64,
    /// µAP over copy queries only (how well each copy's original outranks other images).
    pub micro_ap_copy_queries: f64,
    pub recall_at_p90: f64,
    pub threshold_at_p90: Option<f32>,
    pub recall_at_p99: f64,
    pub threshold_at_p99: Option<f32>,
    pub recall_at_1: f64,
    pub per_transform: Vec<TransformScores>,
    /// The precision-recall curve, thinned to at most a few hundred points.
    pub curve: Vec<PrPoint>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct CopiesReport {
    pub seed: u64,
    pub originals: usize,
    pub distractors: usize,
    /// Copy queries (each has its original among the references).
    pub queries: usize,
    /// Distractor queries (no copy among the references).
    pub non_matching_queries: usize,
    /// Files that could not be decoded (originals, distractors or copies).
    pub skipped: usize,
    pub candidates_per_query: usize,
    pub methods: Vec<CopyScores>,
}

struct Query {
    original: usize,
    transform: Transform,
}

/// Runs the evaluation.
pub fn evaluate(
    originals: &[PathBuf],
    distractors: &[PathBuf],
    methods: &[Method],
    encoder: &Encoder,
    opts: &CopiesOptions,
    progress: &dyn Progress,
) -> Result<CopiesReport> {
    if originals.is_empty() {
        return Err(Error::InvalidArgument("no original images".into()));
    }
    // Generate the copies: one per transform per original, seeded by (seed, original, transform).
    progress.start("generating copies", originals.len());
    let decode_opts = DecodeOptions::new(encoder.info().input_size as u32);
    let generated: Vec<Vec<(Query, Vec<u8>, String)>> = decode::decode_pool(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    )
    .install(|| {
        originals
            .par_iter()
            .enumerate()
            .map(|(o, path)| {
                let out = match std::fs::read(path)
                    .map_err(|e| crate::SkipReason::from_io(&e))
                    .and_then(|b| decode::decode_upright(&b, opts.max_side, &decode_opts))
                {
                    Ok(rgb) => {
                        let img = DynamicImage::ImageRgb8(rgb);
                        opts.transforms
                            .iter()
                            .map(|&t| {
                                let ti = Transform::ALL.iter().position(|x| *x == t).unwrap_or(0);
                                let copy = make_copy(&img, t, &mut rng_for(opts.seed, o, ti));
                                (
                                    Query {
                                        original: o,
                                        transform: t,
                                    },
                                    copy.jpeg,
                                    copy.description,
                                )
                            })
                            .collect()
                    }
                    Err(reason) => {
                        progress.skipped(path, &reason);
                        Vec::new()
                    }
                };
                progress.advance(1);
                out
            })
            .collect()
    });
    let generated: Vec<(Query, Vec<u8>, String)> = generated.into_iter().flatten().collect();
    if let Some(dir) = &opts.save_copies {
        save_copies(dir, originals, &generated)?;
    }

    let reference_paths: Vec<&Path> = originals
        .iter()
        .chain(distractors)
        .map(PathBuf::as_path)
        .collect();
    let ref_sources: Vec<Source> = reference_paths.iter().map(|p| Source::File(p)).collect();
    let refs = describe_all(
        &ref_sources,
        methods,
        encoder,
        Task::Copy,
        "describing references",
        progress,
    )?;
    let query_sources: Vec<Source> = generated.iter().map(|(_, b, _)| Source::Bytes(b)).collect();
    let queries = describe_all(
        &query_sources,
        methods,
        encoder,
        Task::Copy,
        "describing copies",
        progress,
    )?;
    let skipped =
        refs.skipped.len() + queries.skipped.len() + originals.len() * opts.transforms.len()
            - generated.len();

    progress.start("scoring", methods.len());
    let mut scores = Vec::new();
    for (m, &method) in methods.iter().enumerate() {
        let ranked = rank(
            &queries.descriptors[m],
            &refs.descriptors[m],
            opts.candidates,
            None,
        );
        // Distractor d is reference originals.len() + d; it must not find itself.
        let distractor_queries = &refs.descriptors[m][originals.len()..];
        let unmatched = rank(
            distractor_queries,
            &refs.descriptors[m],
            opts.candidates,
            Some(originals.len()),
        );
        scores.push(score_method(method, &generated, &ranked, &unmatched));
        progress.advance(1);
    }
    Ok(CopiesReport {
        seed: opts.seed,
        originals: originals.len(),
        distractors: distractors.len(),
        queries: generated.len(),
        non_matching_queries: distractors.len(),
        skipped,
        candidates_per_query: opts.candidates,
        methods: scores,
    })
}

fn save_copies(
    dir: &Path,
    originals: &[PathBuf],
    generated: &[(Query, Vec<u8>, String)],
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (q, bytes, _) in generated {
        let stem = originals[q.original]
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = dir.join(format!("{stem}__{}.jpg", q.transform.name()));
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// For each query, the `k` best references `(reference index, score)`, best first.
/// A query that could not be described has no candidates. With `self_offset`, query `i` is
/// reference `self_offset + i` and is not its own candidate.
fn rank(
    queries: &[Option<Descriptor>],
    refs: &[Option<Descriptor>],
    k: usize,
    self_offset: Option<usize>,
) -> Vec<Vec<(usize, f32)>> {
    queries
        .par_iter()
        .enumerate()
        .map(|(qi, q)| {
            let Some(q) = q else {
                return Vec::new();
            };
            let own = self_offset.map(|o| o + qi);
            let mut sims: Vec<(usize, f32)> = refs
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != own)
                .filter_map(|(i, r)| r.as_ref().map(|r| (i, q.similarity(r))))
                .collect();
            let k = k.min(sims.len());
            if k < sims.len() {
                sims.select_nth_unstable_by(k, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                sims.truncate(k);
            }
            sims.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            sims
        })
        .collect()
}

fn thin(curve: Vec<PrPoint>, max_points: usize) -> Vec<PrPoint> {
    if curve.len() <= max_points {
        return curve;
    }
    let step = curve.len() as f64 / max_points as f64;
    let mut out: Vec<PrPoint> = (0..max_points)
        .map(|i| curve[(i as f64 * step) as usize])
        .collect();
    out.push(*curve.last().expect("non-empty"));
    out
}

fn score_method(
    method: Method,
    generated: &[(Query, Vec<u8>, String)],
    ranked: &[Vec<(usize, f32)>],
    unmatched: &[Vec<(usize, f32)>],
) -> CopyScores {
    // Reference i < originals is original i; the copy of original o matches reference o.
    let pairs_of = |qi: usize| -> Vec<ScoredPair> {
        ranked[qi]
            .iter()
            .map(|&(r, score)| ScoredPair {
                score,
                positive: r == generated[qi].0.original,
            })
            .collect()
    };
    let top1 = |qi: usize| {
        ranked[qi]
            .first()
            .is_some_and(|&(r, _)| r == generated[qi].0.original)
    };

    let mut all_pairs: Vec<ScoredPair> = (0..generated.len()).flat_map(pairs_of).collect();
    let micro_ap_copy_queries = micro_average_precision(&pr_curve(&all_pairs, generated.len()));
    all_pairs.extend(unmatched.iter().flatten().map(|&(_, score)| ScoredPair {
        score,
        positive: false,
    }));
    let curve = pr_curve(&all_pairs, generated.len());
    let (r90, t90) = recall_at_precision(&curve, 0.90);
    let (r99, t99) = recall_at_precision(&curve, 0.99);
    let n = generated.len().max(1) as f64;

    let mut by_transform: BTreeMap<Transform, Vec<usize>> = BTreeMap::new();
    for (qi, (q, _, _)) in generated.iter().enumerate() {
        by_transform.entry(q.transform).or_default().push(qi);
    }
    // A copy is found at a threshold when its original is among its candidates at or above it.
    let found_at = |qi: usize, t: Option<f32>| {
        t.is_some_and(|t| {
            ranked[qi]
                .iter()
                .any(|&(r, s)| r == generated[qi].0.original && s >= t)
        })
    };
    let per_transform = by_transform
        .into_iter()
        .map(|(transform, qs)| TransformScores {
            transform,
            queries: qs.len(),
            recall_at_1: qs.iter().filter(|&&qi| top1(qi)).count() as f64 / qs.len() as f64,
            recall_at_p90: qs.iter().filter(|&&qi| found_at(qi, t90)).count() as f64
                / qs.len() as f64,
        })
        .collect();
    CopyScores {
        method,
        micro_ap: micro_average_precision(&curve),
        micro_ap_copy_queries,
        recall_at_p90: r90,
        threshold_at_p90: t90,
        recall_at_p99: r99,
        threshold_at_p99: t99,
        recall_at_1: (0..generated.len()).filter(|&qi| top1(qi)).count() as f64 / n,
        per_transform,
        curve: thin(curve, 400),
    }
}
