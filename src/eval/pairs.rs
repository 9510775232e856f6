//! Labelled pairs for the pair verifier, and its honest evaluation.
//!
//! A *domain* is a folder of distinct pictures of one kind (portraits, receipts, video
//! frames, drawings...). [`measure_domain`] gives some of them edited copies (the edits of
//! `eval copies`, seeded), indexes originals and copies into a scratch index of its own
//! (never the user's), takes every candidate pair `dedup` would judge, and measures each
//! with the content check: a pair is one picture when both files come from one original
//! (an original and its copy, or two copies of it), two pictures otherwise, so every
//! look-alike the candidate stage lets through is a labelled negative of that domain.
//!
//! [`score_domain`] scores a decision on one domain's pairs (leaving one domain out is
//! [`crate::train::verifier::leave_one_domain_out`]). Rows are kept as CSV ([`write_csv`],
//! [`read_csv`]) so that the expensive part runs once.

use crate::dedup::verifier::{PairFeatures, FEATURES, FEATURE_NAMES};
use crate::dedup::{self, DedupOptions};
use crate::error::{Error, Result};
use crate::eval::transforms::{make_copy, rng_for, Transform};
use crate::index::lock::Wait;
use crate::index::pipeline::{self, IndexOptions};
use crate::index::Index;
use crate::ingest::decode::{self, DecodeOptions};
use crate::model::Encoder;
use crate::progress::Progress;
use image::DynamicImage;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One measured, labelled pair.
#[derive(Debug, Clone, PartialEq)]
pub struct PairRow {
    pub domain: String,
    /// Files in the domain's set (originals and copies): the denominator of "files per 1,000".
    pub domain_files: usize,
    pub a: PathBuf,
    pub b: PathBuf,
    /// Both files come from one original.
    pub copy: bool,
    /// The edits of the copies in the pair (`original` for an original), joined by `+`.
    pub edits: String,
    /// What today's hand-written content check says.
    pub same_content: bool,
    pub features: PairFeatures,
}

/// How a domain's set is made.
#[derive(Debug, Clone)]
pub struct DomainOptions {
    /// Originals given edited copies (spread evenly over the folder's sorted files).
    pub originals_copied: usize,
    pub seed: u64,
    /// Originals are shrunk to this side before editing, as in `eval copies`.
    pub max_side: u32,
}

impl Default for DomainOptions {
    fn default() -> Self {
        DomainOptions {
            originals_copied: 24,
            seed: 1,
            max_side: 1024,
        }
    }
}

/// Makes the set of one domain in `work` (copies, scratch index), and measures every
/// candidate pair of it.
pub fn measure_domain(
    folder: &Path,
    name: &str,
    work: &Path,
    encoder: &Encoder,
    dedup_opts: &DedupOptions,
    opts: &DomainOptions,
    progress: &dyn Progress,
) -> Result<Vec<PairRow>> {
    let originals = crate::eval::image_files(folder)?;
    if originals.len() < 2 {
        return Err(Error::InvalidArgument(format!(
            "{}: a domain needs at least two pictures, found {}",
            folder.display(),
            originals.len()
        )));
    }
    let copies_dir = work.join("copies");
    let index_dir = work.join("index");
    for dir in [&copies_dir, &index_dir] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    // Which original every file comes from, and the edit that made it.
    let mut origin: HashMap<PathBuf, (usize, String)> = HashMap::new();
    for (o, path) in originals.iter().enumerate() {
        origin.insert(absolute(path)?, (o, "original".into()));
    }
    let n = opts.originals_copied.min(originals.len());
    let chosen: Vec<usize> = (0..n).map(|k| k * originals.len() / n).collect();
    progress.start(&format!("{name}: editing copies"), chosen.len());
    let decode_opts = DecodeOptions::new(opts.max_side);
    let made: Vec<Vec<MadeCopy>> = chosen
        .par_iter()
        .map(|&o| {
            let img = std::fs::read(&originals[o])
                .ok()
                .and_then(|b| decode::decode_upright(&b, opts.max_side, &decode_opts).ok());
            progress.advance(1);
            let Some(img) = img else {
                return Vec::new();
            };
            let img = DynamicImage::ImageRgb8(img);
            Transform::ALL
                .iter()
                .enumerate()
                .map(|(t, &transform)| {
                    let copy = make_copy(&img, transform, &mut rng_for(opts.seed, o, t));
                    let path = copies_dir.join(format!("{o:05}__{}.jpg", transform.name()));
                    (path, o, transform.name().to_string(), copy.jpeg)
                })
                .collect()
        })
        .collect();
    for (path, o, edit, bytes) in made.into_iter().flatten() {
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
        origin.insert(absolute(&path)?, (o, edit));
    }
    let mut index = Index::open_or_create(&index_dir, encoder.info(), Wait::No)?;
    let roots = vec![folder.to_path_buf(), copies_dir.clone()];
    pipeline::update(
        &mut index,
        encoder,
        &roots,
        &IndexOptions::default(),
        progress,
    )?;
    progress.start(&format!("{name}: measuring pairs"), 1);
    let measured = dedup::candidates(&mut index, dedup_opts)?.measured();
    progress.advance(1);
    let files = origin.len();
    let mut rows = Vec::with_capacity(measured.len());
    for m in measured {
        let (Some((oa, ea)), Some((ob, eb))) = (origin.get(&m.a), origin.get(&m.b)) else {
            continue;
        };
        rows.push(PairRow {
            domain: name.to_string(),
            domain_files: files,
            a: m.a.clone(),
            b: m.b.clone(),
            copy: oa == ob,
            edits: format!("{ea}+{eb}"),
            same_content: m.same_content,
            features: m.features,
        });
    }
    Ok(rows)
}

/// A copy made for a domain's set: where it goes, its original, its edit, its bytes.
type MadeCopy = (PathBuf, usize, String, Vec<u8>);

fn absolute(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|e| Error::io(path, e))
}

/// The CSV header of [`write_csv`].
fn header() -> String {
    let mut cols = vec![
        "domain",
        "domain_files",
        "a",
        "b",
        "copy",
        "edits",
        "same_content",
    ];
    cols.extend(FEATURE_NAMES);
    cols.join(",")
}

/// Writes rows as CSV (paths may not hold commas or line breaks: such a row is an error).
pub fn write_csv(rows: &[PairRow], out: &mut dyn Write) -> Result<()> {
    let io = |e| Error::io(Path::new("pairs CSV"), e);
    writeln!(out, "{}", header()).map_err(io)?;
    for r in rows {
        let (a, b) = (r.a.to_string_lossy(), r.b.to_string_lossy());
        if [&a, &b].iter().any(|p| p.contains([',', '\n', '\r'])) || r.domain.contains(',') {
            return Err(Error::InvalidArgument(format!(
                "a path or domain name with a comma cannot go in the pairs CSV: {a}"
            )));
        }
        let features: Vec<String> = r.features.0.iter().map(|v| v.to_string()).collect();
        writeln!(
            out,
            "{},{},{a},{b},{},{},{},{}",
            r.domain,
            r.domain_files,
            r.copy as u8,
            r.edits,
            r.same_content as u8,
            features.join(",")
        )
        .map_err(io)?;
    }
    Ok(())
}

/// Reads rows [`write_csv`] wrote.
pub fn read_csv(path: &Path) -> Result<Vec<PairRow>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let bad = |line: usize, why: &str| {
        Error::InvalidArgument(format!("{}:{line}: {why}", path.display()))
    };
    let mut lines = text.lines();
    if lines.next() != Some(header().as_str()) {
        return Err(bad(
            1,
            "not a pairs CSV of this version (its header differs)",
        ));
    }
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != 7 + FEATURES {
            return Err(bad(n + 2, "wrong number of columns"));
        }
        let num = |s: &str| s.parse::<f32>().map_err(|_| bad(n + 2, "not a number"));
        let mut x = [0f32; FEATURES];
        for (f, cell) in cells[7..].iter().enumerate() {
            x[f] = num(cell)?;
        }
        rows.push(PairRow {
            domain: cells[0].to_string(),
            domain_files: cells[1]
                .parse()
                .map_err(|_| bad(n + 2, "not a file count"))?,
            a: PathBuf::from(cells[2]),
            b: PathBuf::from(cells[3]),
            copy: cells[4] == "1",
            edits: cells[5].to_string(),
            same_content: cells[6] == "1",
            features: PairFeatures(x),
        });
    }
    Ok(rows)
}

/// How a decision did on one domain's pairs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DomainScore {
    pub domain: String,
    pub files: usize,
    /// Copy pairs, and those called one picture.
    pub copy_pairs: usize,
    pub copies_found: usize,
    /// Look-alike pairs (two pictures), those called one picture, and the distinct files
    /// in them per 1,000 files of the domain.
    pub lookalike_pairs: usize,
    pub lookalikes_accepted: usize,
    pub false_files_per_1000: f64,
    /// Look-alike pairs not accepted but sharing a scene: listed in the similar-shot tier
    /// for review rather than dropped.
    pub lookalikes_to_review: usize,
    /// Copy pairs found, by the edit of the copy (pairs of an original and its copy only).
    pub found_by_edit: BTreeMap<String, (usize, usize)>,
}

/// Scores a decision (`accepts`) on one domain's rows.
pub fn score_domain(rows: &[&PairRow], accepts: &dyn Fn(&PairRow) -> bool) -> DomainScore {
    let mut s = DomainScore {
        domain: rows.first().map(|r| r.domain.clone()).unwrap_or_default(),
        files: rows.first().map_or(0, |r| r.domain_files),
        ..DomainScore::default()
    };
    let mut false_files: HashSet<&Path> = HashSet::new();
    for r in rows {
        let yes = accepts(r);
        if r.copy {
            s.copy_pairs += 1;
            s.copies_found += yes as usize;
            if let Some(edit) = r
                .edits
                .strip_prefix("original+")
                .or_else(|| r.edits.strip_suffix("+original"))
            {
                let e = s.found_by_edit.entry(edit.to_string()).or_default();
                e.0 += yes as usize;
                e.1 += 1;
            }
        } else {
            s.lookalike_pairs += 1;
            if yes {
                s.lookalikes_accepted += 1;
                false_files.insert(&r.a);
                false_files.insert(&r.b);
            } else if r.features.same_scene() {
                s.lookalikes_to_review += 1;
            }
        }
    }
    s.false_files_per_1000 = 1000.0 * false_files.len() as f64 / s.files.max(1) as f64;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(domain: &str, a: &str, b: &str, copy: bool, edits: &str, v: f32) -> PairRow {
        let mut x = [0.0; FEATURES];
        x[6] = v;
        PairRow {
            domain: domain.into(),
            domain_files: 10,
            a: a.into(),
            b: b.into(),
            copy,
            edits: edits.into(),
            same_content: v > 0.5,
            features: PairFeatures(x),
        }
    }

    #[test]
    fn rows_read_back_from_csv() {
        let rows = vec![
            row(
                "bursts",
                "/x/a.jpg",
                "/x/b.jpg",
                false,
                "original+original",
                0.25,
            ),
            row(
                "bursts",
                "/x/a.jpg",
                "/c/00000__crop.jpg",
                true,
                "original+crop",
                0.875,
            ),
        ];
        let mut buf = Vec::new();
        write_csv(&rows, &mut buf).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        std::fs::write(&path, &buf).unwrap();
        assert_eq!(read_csv(&path).unwrap(), rows);
        std::fs::write(&path, "domain,a\n").unwrap();
        assert!(read_csv(&path).is_err());
        let comma = vec![row("d", "/x/a,b.jpg", "/x/c.jpg", false, "o+o", 0.0)];
        assert!(write_csv(&comma, &mut Vec::new()).is_err());
    }

    #[test]
    fn a_domain_is_scored_by_pairs_and_by_distinct_files_in_false_pairs() {
        let rows = [
            row("d", "a", "b", false, "original+original", 0.9),
            row("d", "a", "c", false, "original+original", 0.9),
            row("d", "a", "a1", true, "original+crop", 0.9),
            row("d", "a", "a2", true, "original+text", 0.1),
        ];
        let refs: Vec<&PairRow> = rows.iter().collect();
        let s = score_domain(&refs, &|r| r.features.0[6] > 0.5);
        assert_eq!((s.copy_pairs, s.copies_found), (2, 1));
        assert_eq!((s.lookalike_pairs, s.lookalikes_accepted), (2, 2));
        // a, b and c of 10 files.
        assert_eq!(s.false_files_per_1000, 300.0);
        assert_eq!(s.found_by_edit["crop"], (1, 1));
        assert_eq!(s.found_by_edit["text"], (0, 1));
    }
}
