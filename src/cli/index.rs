//! `lookalike index`: adds folders to the index (embedding only what is new or changed) and
//! reports what it did.

use super::output::{path_text, Out};
use super::{interrupt_flag, numbers, pretrained, progress, Globals, ModelArg};
use super::{EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL};
use anyhow::Result;
use clap::Args;
use lookalike::index::cluster::{ClusterIndex, Shard};
use lookalike::index::milvus::StoreUrl;
use lookalike::index::pipeline::{self, IndexOptions, IndexReport};
use lookalike::index::semantic::{self, SemanticReport};
use lookalike::index::upgrade;
use lookalike::ingest::decode;
use lookalike::ingest::scan::ScanOptions;
use lookalike::model::pretrained::{Pretrained, PretrainedInfo};
use lookalike::{Encoder, Index};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The arguments of `index`.
#[derive(Args, Debug)]
pub struct IndexArgs {
    /// Folders or image files to index
    #[arg(required_unless_present = "from_index", value_name = "DIR")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArg,
    /// Follow symbolic links (loops are detected)
    #[arg(long)]
    follow_links: bool,
    /// New images per commit, 1 to 100,000 (each commit is atomic and flushed)
    #[arg(allow_negative_numbers = true, long, default_value_t = IndexOptions::default().batch_size, value_name = "N",
          value_parser = numbers::count::<usize>(1..=100_000))]
    batch_size: usize,
    /// Decode threads, 1 to 1024 [default: number of CPUs]
    #[arg(allow_negative_numbers = true, long, value_name = "N", value_parser = numbers::count::<usize>(1..=1024))]
    threads: Option<usize>,
    /// Refuse images with more pixels than this (decompression-bomb guard)
    #[arg(allow_negative_numbers = true, long, default_value_t = decode::DEFAULT_MAX_PIXELS, value_name = "N",
          value_parser = numbers::count(numbers::MAX_PIXELS))]
    max_pixels: u64,
    /// With --store: index only the K-th of N parts of the files (by a stable hash of each
    /// path), so that N workers share the work
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// With --store: copy the records of this index folder into the collection, reading no
    /// picture (the folder's model must be the collection's)
    #[arg(long, value_name = "INDEX_DIR", conflicts_with_all = ["paths", "model"])]
    from_index: Option<PathBuf>,
}

/// `index` into a Milvus collection: the main model's rows, then the rows of every
/// pretrained model the collection holds (and of the one given with --model).
fn index_into(
    store: &StoreUrl,
    paths: &[PathBuf],
    model: &ModelArg,
    encoder: &Encoder,
    shard: Option<Shard>,
    opts: &IndexOptions,
    out: &Out,
) -> Result<u8> {
    let shard = shard.unwrap_or(Shard::ALL);
    // A pretrained model folder must load before anything is written.
    let given = match model.pretrained()? {
        Some(dir) => Some((Pretrained::open(&dir)?, dir)),
        None => None,
    };
    let cluster = ClusterIndex::open_or_create(store, encoder.info())?;
    let bar = progress::Bar::new(out.shows_progress());
    let report = cluster.update(encoder, paths, shard, opts, &bar)?;
    bar.finish();
    let mut semantic_reports = Vec::new();
    let mut held: Vec<(PretrainedInfo, PathBuf, Option<Pretrained>)> = Vec::new();
    if let Some((m, dir)) = given {
        held.push((m.info().clone(), dir, Some(m)));
    }
    for m in cluster.semantic_models()? {
        if held.iter().all(|(info, ..)| *info != m.info) {
            held.push((m.info, m.dir, None));
        }
    }
    for (info, dir, loaded) in held {
        if report.interrupted {
            break;
        }
        let bar = progress::Bar::new(out.shows_progress());
        let load = || match loaded {
            Some(m) => Ok(m),
            None => pretrained::load_recorded(&info, &dir)
                .map_err(|e| lookalike::Error::InvalidArgument(format!("{e:#}"))),
        };
        let r = cluster.update_semantic(
            &info,
            &dir,
            load,
            shard,
            opts.threads,
            opts.max_pixels,
            opts.interrupt.clone(),
            &bar,
        )?;
        bar.finish();
        semantic_reports.push(r);
    }
    finish(&report, &semantic_reports, out)
}

/// Prints what a run did (the main model's and the pretrained models'); its exit status.
fn finish(report: &IndexReport, semantic: &[SemanticReport], out: &Out) -> Result<u8> {
    out.index_report(report, semantic)?;
    let interrupted = report.interrupted || semantic.iter().any(|r| r.interrupted);
    let skipped = !report.skipped.is_empty() || semantic.iter().any(|r| !r.skipped.is_empty());
    Ok(exit_status(interrupted, skipped))
}

/// Copies an index folder's records into the `--store` collection.
fn import(folder: &Path, shard: Option<Shard>, globals: &Globals, out: &Out) -> Result<u8> {
    let Some(store) = &globals.store else {
        anyhow::bail!(
            "--from-index copies an index folder into a --store collection; no --store was given"
        );
    };
    let index = Index::open(folder, globals.wait)?;
    let cluster = ClusterIndex::open_or_create(store, &index.meta().model)?;
    let bar = progress::Bar::new(out.shows_progress());
    let report = cluster.import(&index, shard.unwrap_or(Shard::ALL), &bar)?;
    bar.finish();
    if out.json {
        out.emit_json(&serde_json::to_value(&report)?)?;
    } else {
        out.emit(&format!(
            "{} files of {} in {:.1} s: {} rows written, {} unchanged{}\n",
            report.files,
            folder.display(),
            report.elapsed_s,
            report.written,
            report.unchanged,
            if report.missing > 0 {
                format!(
                    ", {} without their content record (`lookalike verify` says more)",
                    report.missing
                )
            } else {
                String::new()
            }
        ))?;
    }
    Ok(if report.missing > 0 {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    })
}

/// Indexes the given folders and files; exit status 130 if interrupted, 1 if files were skipped.
pub fn run(args: IndexArgs, globals: &Globals, out: &Out) -> Result<u8> {
    let IndexArgs {
        paths,
        model,
        follow_links,
        batch_size,
        threads,
        max_pixels,
        shard,
        from_index,
    } = args;
    if let Some(folder) = from_index {
        return import(&folder, shard, globals, out);
    }
    // Every path must exist and be readable before anything is created.
    for path in &paths {
        if let Err(e) = readable(path) {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file or folder".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => e.to_string(),
            };
            anyhow::bail!("{}: {why}; nothing was indexed", path.display());
        }
    }
    let encoder = model.load()?;
    let defaults = IndexOptions::default();
    let opts = IndexOptions {
        scan: ScanOptions { follow_links },
        batch_size,
        threads: threads.unwrap_or(defaults.threads),
        max_pixels,
        interrupt: Some(interrupt_flag(out)),
    };
    if let Some(store) = &globals.store {
        return index_into(store, &paths, &model, &encoder, shard, &opts, out);
    }
    if shard.is_some() {
        anyhow::bail!("--shard divides the work of workers writing to one --store; the index folder takes one process at a time");
    }
    // A pretrained model folder must load before anything is created or done.
    let added = match model.pretrained()? {
        Some(dir) => Some((Pretrained::open(&dir)?, dir)),
        None => None,
    };
    let mut index = Index::open_or_create(&globals.index, encoder.info(), globals.wait)?;
    let pending = upgrade::pending(&index, &encoder)?;
    if pending > 0 {
        out.note(&format!(
            "the index was built with {}, the built-in model of an earlier version: embedding \
             its {pending} photos again with {} (better query by example; copies are judged \
             as before)",
            index.meta().model.id(),
            encoder.info().id()
        ));
    }
    let bar = progress::Bar::new(out.shows_progress());
    let report = pipeline::update(&mut index, &encoder, &paths, &opts, &bar)?;
    bar.finish();
    // Then every pretrained model the index holds embeds what it has not seen (only the
    // added one, when a model is added to an existing index). A held model with nothing to
    // embed is not loaded.
    let mut semantic_reports = Vec::new();
    let mut models: Vec<(Option<Pretrained>, PretrainedInfo, PathBuf)> = Vec::new();
    if let Some((m, dir)) = added {
        let info = m.info().clone();
        models.push((Some(m), info, dir));
    }
    for record in index.store().semantic_models()? {
        if models.iter().all(|(_, info, _)| *info != record.info) {
            models.push((None, record.info, record.dir));
        }
    }
    for (loaded, info, dir) in models {
        if report.interrupted {
            break;
        }
        let pending = semantic::pending(&index, &info)?;
        if pending.is_empty() {
            semantic_reports.push(pending.up_to_date(&info));
            continue;
        }
        let model = match loaded {
            Some(m) => m,
            None => match pretrained::load_recorded(&info, &dir) {
                Ok(m) => m,
                Err(e) => {
                    out.warn(&format!("{e:#}; its vectors of new photos are missing"));
                    continue;
                }
            },
        };
        let bar = progress::Bar::new(out.shows_progress());
        let r = semantic::update(
            &index,
            &model,
            &dir,
            pending,
            opts.threads,
            max_pixels,
            opts.interrupt.clone(),
            &bar,
        )?;
        bar.finish();
        semantic_reports.push(r);
    }
    finish(&report, &semantic_reports, out)
}

/// 130 if interrupted, 1 if files were skipped, else 0.
fn exit_status(interrupted: bool, skipped: bool) -> u8 {
    if interrupted {
        EXIT_INTERRUPTED
    } else if !skipped {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    }
}

impl Out {
    pub fn index_report(&self, r: &IndexReport, semantic: &[SemanticReport]) -> anyhow::Result<()> {
        let skipped_json = |list: &[pipeline::Skipped]| -> Vec<serde_json::Value> {
            list.iter()
                .map(|s| json!({"path": path_text(&s.path), "reason": s.reason, "kind": s.kind}))
                .collect()
        };
        if self.json {
            let mut v = serde_json::to_value(r)?;
            v["skipped"] = skipped_json(&r.skipped).into();
            v["pretrained"] = semantic
                .iter()
                .map(|s| {
                    let mut v = serde_json::to_value(s).expect("serialises");
                    v["skipped"] = skipped_json(&s.skipped).into();
                    v
                })
                .collect();
            return self.emit_json(&v);
        }
        let mut s = String::new();
        if let Some(u) = &r.upgraded {
            s.push_str(&format!(
                "moved from {} to {}: {} of {} photos embedded again, {} dropped (their files no longer hold what was indexed){}\n",
                u.from,
                u.to,
                u.embedded,
                u.pending,
                u.dropped,
                if u.interrupted { "; not finished" } else { "" }
            ));
        }
        s.push_str(&format!(
            "{} files in {:.1} s: {} embedded, {} unchanged, {} renamed, {} copies, {} removed, {} skipped",
            r.scanned,
            r.elapsed_s,
            r.embedded,
            r.unchanged,
            r.renamed,
            r.copies,
            r.removed,
            r.skipped.len()
        ));
        if r.ignored > 0 {
            s.push_str(&format!(", {} non-image files ignored", r.ignored));
        }
        if r.embedded > 0 && r.elapsed_s > 0.0 {
            s.push_str(&format!(
                " ({:.1} images/s)",
                r.embedded as f64 / r.elapsed_s
            ));
        }
        s.push('\n');
        for m in semantic {
            s.push_str(&format!(
                "{}: {} embedded, {} already embedded, {} skipped",
                m.model,
                m.embedded,
                m.present,
                m.skipped.len()
            ));
            if m.embedded > 0 && m.elapsed_s > 0.0 {
                s.push_str(&format!(
                    " ({:.1} images/s)",
                    m.embedded as f64 / m.elapsed_s
                ));
            }
            s.push('\n');
        }
        if r.interrupted || semantic.iter().any(|m| m.interrupted) {
            s.push_str("interrupted: what was embedded is saved; run the same command to finish\n");
        }
        self.emit(&s)
    }
}

/// Whether a path named on the command line can be read: a folder listed, a file opened.
fn readable(path: &std::path::Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path)?.is_dir() {
        std::fs::read_dir(path).map(drop)
    } else {
        std::fs::File::open(path).map(drop)
    }
}
