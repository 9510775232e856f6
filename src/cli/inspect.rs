//! The commands that look at one image or at the index: `embed`, `info`, `compact` and
//! `verify`.

use super::output::{path_text, Out};
use super::{announce_rebuild, note_rebuild, Globals, ModelArg};
use super::{EXIT_FATAL, EXIT_OK};
use anyhow::{Context, Result};
use clap::Args;
use lookalike::dedup::report::human_bytes;
use lookalike::index::store::SemanticModel;
use lookalike::index::{CompactReport, IndexStats};
use lookalike::ingest::decode::{self, DecodeOptions};
use lookalike::model::Task;
use lookalike::{Index, ModelInfo};
use serde_json::json;
use std::path::PathBuf;

/// The arguments of `embed`.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    #[command(flatten)]
    model: ModelArg,
    /// Which descriptor: stored (the vector the index keeps: both heads' descriptors for a
    /// two-head model), query or copy (one head's unit descriptor)
    #[arg(long, default_value = "stored", value_parser = ["stored", "query", "copy"])]
    head: String,
}

/// Prints the embedding of one image.
pub fn embed(args: EmbedArgs, out: &Out) -> Result<u8> {
    let EmbedArgs { image, model, head } = args;
    let encoder = model.load()?;
    let opts = DecodeOptions::new(encoder.info().input_size as u32);
    let img = decode::prepare_files(std::slice::from_ref(&image), &opts)
        .pop()
        .expect("one result per file")
        .map_err(|reason| anyhow::anyhow!("{}: {reason}", image.display()))?;
    let vector = encoder.embed(&[img])?.pop().flatten().with_context(|| {
        format!(
            "{}: the encoder produced an unusable embedding",
            image.display()
        )
    })?;
    let vector = match head.as_str() {
        "query" => encoder.info().head(Task::Query).unit(&vector).into_owned(),
        "copy" => encoder.info().head(Task::Copy).unit(&vector).into_owned(),
        _ => vector,
    };
    out.embedding(encoder.info(), &head, &vector)?;
    Ok(EXIT_OK)
}

/// Prints what the index holds.
pub fn info(globals: &Globals, out: &Out) -> Result<u8> {
    if let Some(store) = &globals.store {
        let stats = lookalike::index::cluster::stats(store)?;
        if out.json {
            out.emit_json(&serde_json::to_value(&stats)?)?;
        } else {
            let mut text = format!(
                "store: {}\nmodel: {} ({} dimensions)\nfiles: {}\n",
                stats.store, stats.model, stats.dim, stats.files
            );
            if let Some(rows) = stats.copy_rows {
                text.push_str(&format!("copy descriptors: {rows}\n"));
            }
            out.emit(&text)?;
        }
        return Ok(EXIT_OK);
    }
    let mut index = Index::open(&globals.index, globals.wait)?;
    let stats = index.stats()?;
    note_rebuild(&index, out);
    if lookalike::model::is_earlier_default(&stats.model) {
        out.note(&format!(
            "built with {}, the built-in model of an earlier version: `lookalike index` on its \
             folders embeds its photos again with this version's",
            stats.model_id
        ));
    }
    let mut pretrained = Vec::new();
    for m in index.store().semantic_models()? {
        let vectors = index.store().semantic_count(m.slot)?;
        pretrained.push((m, vectors));
    }
    let built_in = || {
        format!(
            "built-in ({})",
            lookalike::dedup::verifier::Verifier::built_in().name
        )
    };
    let verifier = match lookalike::dedup::own_verifier::load(index.store()) {
        Ok(Some(v)) => v.name,
        Ok(None) => built_in(),
        Err(e @ lookalike::Error::InvalidArgument(_)) => {
            format!("{}; this collection's own cannot be used: {e}", built_in())
        }
        Err(e) => return Err(e.into()),
    };
    out.info(&stats, &pretrained, &verifier)?;
    Ok(EXIT_OK)
}

/// Drops the records of deleted files and rebuilds the graph without them.
pub fn compact(globals: &Globals, out: &Out) -> Result<u8> {
    let mut index = Index::open(&globals.index, globals.wait)?;
    let report = index.compact()?;
    out.compact_report(&report)?;
    Ok(EXIT_OK)
}

/// Checks the index; exit status 2 if it is not consistent.
pub fn verify(globals: &Globals, out: &Out) -> Result<u8> {
    let problems = if let Some(store) = &globals.store {
        // A collection of the built-in model (another is refused, naming both).
        let model = lookalike::Encoder::default_model()?.info().clone();
        lookalike::index::cluster::ClusterIndex::open(store, &model)?.verify()?
    } else {
        let mut index = Index::open(&globals.index, globals.wait)?;
        announce_rebuild(&mut index, out)?;
        index.verify()?
    };
    out.verify_report(&problems)?;
    Ok(if problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_FATAL
    })
}

impl Out {
    pub fn embedding(&self, model: &ModelInfo, head: &str, vector: &[f32]) -> anyhow::Result<()> {
        if self.json {
            return self.emit_json(&json!({
                "model": model.id(),
                "head": head,
                "dim": vector.len(),
                "vector": vector,
            }));
        }
        let values: Vec<String> = vector.iter().map(|v| format!("{v:.6}")).collect();
        self.emit(&format!("{}\n", values.join(" ")))
    }

    /// The index's figures, each pretrained model it holds with its number of vectors, and
    /// the pair verifier `dedup` asks (its own, retrained on its review decisions, or the
    /// built-in one).
    pub fn info(
        &self,
        s: &IndexStats,
        pretrained: &[(SemanticModel, usize)],
        verifier: &str,
    ) -> anyhow::Result<()> {
        if self.json {
            let mut v = serde_json::to_value(s)?;
            v["path"] = json!(path_text(&s.path));
            v["pair_verifier"] = json!(verifier);
            v["pretrained"] = pretrained
                .iter()
                .map(|(m, vectors)| {
                    json!({
                        "model": m.info.id(),
                        "family": m.info.family,
                        "dim": m.info.dim,
                        "input_size": m.info.input_size,
                        "text": m.info.text,
                        "vectors": vectors,
                        "folder": path_text(&m.dir),
                    })
                })
                .collect();
            return self.emit_json(&v);
        }
        let mut extra = String::new();
        for (m, vectors) in pretrained {
            let text = m.info.text;
            extra.push_str(&format!(
                "pretrained:      {} ({}, dim {}, {} px input{}): {vectors} vectors, for query{}; from {}\n",
                m.info.id(),
                m.info.family.name(),
                m.info.dim,
                m.info.input_size,
                if text { ", text" } else { "" },
                if text { " and search" } else { "" },
                path_text(&m.dir),
            ));
        }
        self.emit(&(format!(
            "index:           {}\nformat version:  {}\nmodel:           {} ({}, {} px input)\nweights hash:    {}\ndimension:       {}\nfiles:           {}\ndistinct images: {}\ngraph points:    {}\nsize on disk:    {}\npair verifier:   {}\n",
            path_text(&s.path),
            s.format_version,
            s.model_id,
            s.model.arch,
            s.model.input_size,
            s.model.weights_hash,
            s.dim,
            s.files,
            s.distinct_images,
            s.graph_points,
            human_bytes(s.size_on_disk_bytes),
            verifier,
        ) + &extra))
    }

    pub fn compact_report(&self, r: &CompactReport) -> anyhow::Result<()> {
        if self.json {
            return self.emit_json(&serde_json::to_value(r)?);
        }
        self.emit(&format!(
            "dropped {} records of deleted files and {} unused vectors; graph {} -> {} points; database {} -> {}\n",
            r.files_removed,
            r.contents_removed,
            r.points_before,
            r.points_after,
            human_bytes(r.database_bytes_before),
            human_bytes(r.database_bytes_after)
        ))
    }

    pub fn verify_report(&self, problems: &[String]) -> anyhow::Result<()> {
        if self.json {
            return self
                .emit_json(&json!({"consistent": problems.is_empty(), "problems": problems}));
        }
        if problems.is_empty() {
            return self.emit("the index is consistent\n");
        }
        let mut s = format!("{} problems:\n", problems.len());
        for p in problems {
            s.push_str(&format!("  {p}\n"));
        }
        self.emit(&s)
    }
}
