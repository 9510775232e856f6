//! `eval retrieval`: labelled folders (label = parent folder name). Leave-one-out on one folder
//! (every image queries all the others), or the k-NN protocol with a train and a test folder.

use super::methods::{Descriptor, Method};
use super::metrics::{average_precision_at_r, knn_vote, precision_at_k};
use super::{describe_all, image_files, Source};
use crate::error::{Error, Result};
use crate::model::pretrained::Pretrained;
use crate::model::{Encoder, Task};
use crate::progress::Progress;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Neighbours that vote in the k-NN classifier.
pub const KNN_K: usize = 20;

/// Images and their labels.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub paths: Vec<PathBuf>,
    pub labels: Vec<String>,
}

impl Labelled {
    /// Every image under `dir`, labelled by the name of its parent folder.
    pub fn from_folder(dir: &Path) -> Result<Labelled> {
        let paths = image_files(dir)?;
        if paths.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "no images under {}",
                dir.display()
            )));
        }
        let labels = paths
            .iter()
            .map(|p| {
                p.parent()
                    .and_then(|d| d.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        Ok(Labelled { paths, labels })
    }
}

/// Figures of one method.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RetrievalScores {
    pub method: Method,
    pub queries: usize,
    pub precision_at_1: f64,
    pub precision_at_10: f64,
    pub map_at_r: f64,
    pub knn_accuracy: f64,
}

/// The whole report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RetrievalReport {
    /// `leave-one-out` or `train-test`.
    pub protocol: String,
    pub references: usize,
    pub queries: usize,
    pub classes: usize,
    pub skipped: usize,
    pub knn_k: usize,
    pub methods: Vec<RetrievalScores>,
}

/// Descriptors of one method with their label ids.
type LabelledDescriptors = Vec<(Descriptor, u32)>;

/// Scores queries against references; `same_set` excludes each query from its own results.
fn score(
    method: Method,
    queries: &[(Descriptor, u32)],
    refs: &[(Descriptor, u32)],
    same_set: bool,
    class_sizes: &BTreeMap<u32, usize>,
) -> RetrievalScores {
    let per_query: Vec<(f64, f64, Option<f64>, bool)> = queries
        .par_iter()
        .enumerate()
        .map(|(qi, (q, label))| {
            let mut sims: Vec<(f32, usize)> = refs
                .iter()
                .enumerate()
                .filter(|(ri, _)| !(same_set && *ri == qi))
                .map(|(ri, (d, _))| (q.similarity(d), ri))
                .collect();
            let r = class_sizes.get(label).copied().unwrap_or(0) - usize::from(same_set);
            let need = r.max(KNN_K).max(10).min(sims.len());
            if need < sims.len() {
                sims.select_nth_unstable_by(need, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                sims.truncate(need);
            }
            sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let relevant: Vec<bool> = sims.iter().map(|(_, ri)| refs[*ri].1 == *label).collect();
            let votes: Vec<(u32, f32)> = sims
                .iter()
                .take(KNN_K)
                .map(|(s, ri)| (refs[*ri].1, *s))
                .collect();
            (
                precision_at_k(&relevant, 1),
                precision_at_k(&relevant, 10),
                average_precision_at_r(&relevant, r),
                knn_vote(&votes) == Some(*label),
            )
        })
        .collect();
    let n = per_query.len().max(1) as f64;
    let maps: Vec<f64> = per_query.iter().filter_map(|q| q.2).collect();
    RetrievalScores {
        method,
        queries: per_query.len(),
        precision_at_1: per_query.iter().map(|q| q.0).sum::<f64>() / n,
        precision_at_10: per_query.iter().map(|q| q.1).sum::<f64>() / n,
        map_at_r: maps.iter().sum::<f64>() / maps.len().max(1) as f64,
        knn_accuracy: per_query.iter().filter(|q| q.3).count() as f64 / n,
    }
}

/// Runs the retrieval evaluation. With `train`, test images query the train images;
/// without, every test image queries all the other test images.
/// The `pretrained` method needs `pretrained`: that model's embeddings are its descriptors.
pub fn evaluate(
    train: Option<&Labelled>,
    test: &Labelled,
    methods: &[Method],
    encoder: &Encoder,
    pretrained: Option<&Pretrained>,
    progress: &dyn Progress,
) -> Result<RetrievalReport> {
    if methods.contains(&Method::Pretrained) && pretrained.is_none() {
        return Err(crate::Error::InvalidArgument(
            "method pretrained needs a pretrained model (--model DIR or NAME)".into(),
        ));
    }
    // The encoder's methods are described together; the pretrained model's apart, from
    // the files (its own decoding and image processor).
    let encoder_methods: Vec<Method> = methods
        .iter()
        .copied()
        .filter(|m| *m != Method::Pretrained)
        .collect();
    let pool = crate::ingest::decode::decode_pool(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    );
    let mut names: BTreeMap<&str, u32> = BTreeMap::new();
    for l in train
        .iter()
        .flat_map(|t| t.labels.iter())
        .chain(test.labels.iter())
    {
        let next = names.len() as u32;
        names.entry(l.as_str()).or_insert(next);
    }
    let describe = |set: &Labelled, stage: &str| -> Result<(Vec<LabelledDescriptors>, usize)> {
        let sources: Vec<Source> = set.paths.iter().map(|p| Source::File(p)).collect();
        let d = if encoder_methods.is_empty() {
            None
        } else {
            Some(describe_all(
                &sources,
                &encoder_methods,
                encoder,
                Task::Query,
                stage,
                progress,
            )?)
        };
        let mut skipped = d.as_ref().map_or(0, |d| d.skipped.len());
        let mut encoder_lists = d.map(|d| d.descriptors).unwrap_or_default().into_iter();
        let label = |l: &String| names[l.as_str()];
        let mut per_method = Vec::new();
        for m in methods {
            let list: LabelledDescriptors = if *m == Method::Pretrained {
                let model = pretrained.expect("checked above");
                let files: Vec<&Path> = set.paths.iter().map(PathBuf::as_path).collect();
                let stage = format!("{stage} ({})", model.info().name);
                let vectors = model.embed_files(&files, &pool, &stage, progress)?;
                if encoder_methods.is_empty() {
                    skipped = vectors.iter().filter(|v| v.is_err()).count();
                }
                vectors
                    .into_iter()
                    .zip(&set.labels)
                    .filter_map(|(v, l)| v.ok().map(|v| (Descriptor::Vector(v), label(l))))
                    .collect()
            } else {
                encoder_lists
                    .next()
                    .expect("one list per encoder method")
                    .into_iter()
                    .zip(&set.labels)
                    .filter_map(|(d, l)| d.map(|d| (d, label(l))))
                    .collect()
            };
            per_method.push(list);
        }
        Ok((per_method, skipped))
    };
    let (test_d, mut skipped) = describe(test, "describing test images")?;
    let (train_d, protocol) = match train {
        Some(t) => {
            let (d, s) = describe(t, "describing train images")?;
            skipped += s;
            (Some(d), "train-test")
        }
        None => (None, "leave-one-out"),
    };
    progress.start("scoring", methods.len());
    let mut out = Vec::new();
    for (m, &method) in methods.iter().enumerate() {
        let queries = &test_d[m];
        let refs = train_d.as_ref().map_or(queries, |t| &t[m]);
        let mut class_sizes: BTreeMap<u32, usize> = BTreeMap::new();
        for (_, l) in refs {
            *class_sizes.entry(*l).or_default() += 1;
        }
        out.push(score(
            method,
            queries,
            refs,
            train_d.is_none(),
            &class_sizes,
        ));
        progress.advance(1);
    }
    Ok(RetrievalReport {
        protocol: protocol.into(),
        references: train_d.as_ref().map_or(test_d[0].len(), |t| t[0].len()),
        queries: test_d[0].len(),
        classes: names.len(),
        skipped,
        knn_k: KNN_K,
        methods: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: f32, y: f32) -> Descriptor {
        Descriptor::Vector(crate::vector::normalised(vec![x, y]).unwrap())
    }

    #[test]
    fn separable_classes_score_perfectly_and_mixed_ones_do_not() {
        let set = vec![
            (v(1.0, 0.0), 0),
            (v(0.9, 0.1), 0),
            (v(0.0, 1.0), 1),
            (v(0.1, 0.9), 1),
        ];
        let sizes = BTreeMap::from([(0, 2), (1, 2)]);
        let s = score(Method::Encoder, &set, &set, true, &sizes);
        assert_eq!(
            (s.precision_at_1, s.map_at_r, s.knn_accuracy),
            (1.0, 1.0, 1.0)
        );
        // P@10 with only 3 other images: at most 1 relevant of 10.
        assert!((s.precision_at_10 - 0.1).abs() < 1e-12);

        let mixed = vec![
            (v(1.0, 0.0), 0),
            (v(0.9, 0.1), 1),
            (v(0.0, 1.0), 0),
            (v(0.1, 0.9), 1),
        ];
        let s = score(Method::Encoder, &mixed, &mixed, true, &sizes);
        assert_eq!(s.precision_at_1, 0.0);
        assert_eq!(s.map_at_r, 0.0);
    }
}
