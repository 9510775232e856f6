//! Rendering results as text or JSON on stdout, and messages on stderr. A closed stdout
//! (`lookalike query x | head -1`) ends the process quietly with status 0.

use lookalike::actions::{JournalEntry, Outcome, Status, Step, UndoReport};
use lookalike::background::CalibrateReport;
use lookalike::dedup::{CopyEvidence, DedupOptions, Group};
use lookalike::eval::copies::CopiesReport;
use lookalike::eval::retrieval::RetrievalReport;
use lookalike::index::{CompactReport, IndexStats, Neighbor};
use lookalike::indexer::IndexReport;
use lookalike::model::heads::CombineReport;
use lookalike::report::human_bytes;
use lookalike::train::trainer::TrainReport;
use lookalike::ModelInfo;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The results of one query: its neighbours, best first, and with `query --copies`, for
/// each neighbour, why it is a copy of the query (`None`: it is not).
pub struct QueryResult {
    pub query: PathBuf,
    pub neighbors: Vec<Neighbor>,
    pub copies: Option<Vec<Option<CopyEvidence>>>,
}

/// Where and how results go.
pub struct Out {
    json: bool,
    quiet: bool,
}

/// A path as text: lossless when it is UTF-8, otherwise with the invalid bytes escaped.
pub fn path_text(path: &Path) -> String {
    match path.to_str() {
        Some(s) => s.to_string(),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStrExt;
                path.as_os_str()
                    .as_bytes()
                    .utf8_chunks()
                    .map(|c| {
                        let mut s = c.valid().to_string();
                        for b in c.invalid() {
                            s.push_str(&format!("\\x{b:02x}"));
                        }
                        s
                    })
                    .collect()
            }
            #[cfg(not(unix))]
            {
                path.to_string_lossy().into_owned()
            }
        }
    }
}

impl Out {
    pub fn new(json: bool, quiet: bool) -> Self {
        Out { json, quiet }
    }

    /// Whether a progress bar may be drawn (it is drawn on a terminal only).
    pub fn shows_progress(&self) -> bool {
        !self.quiet && !self.json
    }

    fn emit(&self, text: &str) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(text.as_bytes())
            .and_then(|_| stdout.flush())
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            Err(e) => Err(e.into()),
        }
    }

    fn emit_json(&self, value: &serde_json::Value) -> anyhow::Result<()> {
        let mut s = serde_json::to_string_pretty(value)?;
        s.push('\n');
        self.emit(&s)
    }

    /// A warning about one file (on stderr, unless quiet).
    pub fn warn(&self, message: &str) {
        if !self.quiet {
            eprintln!("warning: {message}");
        }
    }

    /// Something the user should know that is not a problem (stderr, unless quiet).
    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("note: {message}");
        }
    }

    /// A fatal error, with its chain of causes.
    pub fn error(&self, e: &anyhow::Error) {
        eprintln!("error: {e:#}");
    }

    pub fn index_report(&self, r: &IndexReport) -> anyhow::Result<()> {
        if self.json {
            let mut v = serde_json::to_value(r)?;
            v["skipped"] = r
                .skipped
                .iter()
                .map(|s| json!({"path": path_text(&s.path), "reason": s.reason, "kind": s.kind}))
                .collect();
            return self.emit_json(&v);
        }
        let mut s = format!(
            "{} files in {:.1} s: {} embedded, {} unchanged, {} renamed, {} copies, {} removed, {} skipped",
            r.scanned,
            r.elapsed_s,
            r.embedded,
            r.unchanged,
            r.renamed,
            r.copies,
            r.removed,
            r.skipped.len()
        );
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
        if r.interrupted {
            s.push_str("interrupted: what was embedded is saved; run the same command to finish\n");
        }
        self.emit(&s)
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

    pub fn query_results(&self, results: &[QueryResult]) -> anyhow::Result<()> {
        if self.json {
            let v = json!({
                "results": results.iter().map(|r| json!({
                    "query": path_text(&r.query),
                    "neighbors": r.neighbors.iter().enumerate().map(|(i, n)| {
                        let mut neighbor = json!({
                            "path": path_text(&n.path),
                            "similarity": n.similarity,
                        });
                        if let Some(copies) = &r.copies {
                            let evidence = copies[i];
                            neighbor["copy"] = json!(evidence.is_some());
                            if let Some(e) = evidence {
                                neighbor["copy_evidence"] = json!(e);
                            }
                        }
                        neighbor
                    }).collect::<Vec<_>>(),
                })).collect::<Vec<_>>()
            });
            return self.emit_json(&v);
        }
        let mut s = String::new();
        for r in results {
            s.push_str(&format!("{}\n", path_text(&r.query)));
            if r.neighbors.is_empty() {
                s.push_str("  (the index is empty)\n");
            }
            for (i, n) in r.neighbors.iter().enumerate() {
                let mark = match r.copies.as_ref().map(|c| c[i]) {
                    None => "",
                    Some(None) => "        ",
                    Some(Some(e)) if e.exact => "exact   ",
                    Some(Some(_)) => "copy    ",
                };
                s.push_str(&format!(
                    "  {:.4}  {mark}{}\n",
                    n.similarity,
                    path_text(&n.path)
                ));
            }
        }
        self.emit(&s)
    }

    pub fn dedup_groups(
        &self,
        groups: &[Group],
        opts: &DedupOptions,
        plan: Option<&[Step]>,
    ) -> anyhow::Result<()> {
        let (files, bytes) = lookalike::dedup::totals(groups);
        if self.json {
            let mut v = json!({
                "threshold": opts.threshold,
                "scoring": opts.scoring(),
                "content_check": opts.content_check,
                "near_exact": opts.near_exact,
                "groups": groups.iter().map(|g| json!({
                    "tier": g.tier,
                    "members": g.members.iter().map(|m| {
                        let mut member = json!({
                            "path": path_text(&m.path),
                            "similarity": m.similarity,
                            "score": m.score,
                            "tier": m.tier,
                            "keeper": m.keeper,
                            "reference": m.reference,
                            "width": m.width,
                            "height": m.height,
                            "size": m.size,
                        });
                        if let Some(a) = &m.agreement {
                            member["agreement"] = json!(a);
                        }
                        member
                    }).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "duplicates": files,
                "duplicate_bytes": bytes,
            });
            if let Some(steps) = plan {
                v["dry_run"] = json!(steps
                    .iter()
                    .map(|st| json!({
                        "action": st.action,
                        "path": path_text(&st.path),
                        "target": st.target.as_deref().map(path_text),
                        "keeper": path_text(&st.keeper),
                    }))
                    .collect::<Vec<_>>());
            }
            return self.emit_json(&v);
        }
        let mut s = String::new();
        for g in groups {
            s.push_str(&format!("{} ({} files):\n", g.tier.name(), g.members.len()));
            for m in &g.members {
                let mark = if m.keeper {
                    "keep "
                } else if m.reference {
                    "ref  "
                } else {
                    "     "
                };
                let tier = if m.keeper { "" } else { m.tier.name() };
                // With a background set, the normalised similarity the threshold applies to.
                let score = match (opts.background.is_some(), m.keeper) {
                    (false, _) => String::new(),
                    (true, true) => " ".repeat(7),
                    (true, false) => format!(" {:+.3}", m.score),
                };
                s.push_str(&format!(
                    "  {mark} {:.4}{score} {:<10} {:>9}  {:>9}  {}\n",
                    m.similarity,
                    tier,
                    format!("{}x{}", m.width, m.height),
                    human_bytes(m.size),
                    path_text(&m.path)
                ));
            }
        }
        s.push_str(&format!(
            "{} groups, {} files ({}) that duplicate a keeper (threshold {} on the {} similarity, near-exact within {} levels)\n",
            groups.len(),
            files,
            human_bytes(bytes),
            opts.threshold,
            opts.scoring(),
            opts.near_exact
        ));
        if let Some(steps) = plan {
            for st in steps {
                match &st.target {
                    Some(t) => s.push_str(&format!(
                        "would {} {} -> {}\n",
                        st.action,
                        path_text(&st.path),
                        path_text(t)
                    )),
                    None => s.push_str(&format!("would {} {}\n", st.action, path_text(&st.path))),
                }
            }
            s.push_str(&format!(
                "dry run: {} files would be changed; add --yes to do it\n",
                steps.len()
            ));
        }
        self.emit(&s)
    }

    /// One CSV row per file: group number, tiers, keeper mark, similarity, size, path.
    pub fn dedup_csv(&self, groups: &[Group]) -> anyhow::Result<()> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "group",
            "group_tier",
            "keeper",
            "reference",
            "tier",
            "similarity",
            "score",
            "width",
            "height",
            "size",
            "path",
        ])?;
        for (n, g) in groups.iter().enumerate() {
            for m in &g.members {
                w.write_record([
                    (n + 1).to_string(),
                    g.tier.name().to_string(),
                    m.keeper.to_string(),
                    m.reference.to_string(),
                    m.tier.name().to_string(),
                    format!("{:.4}", m.similarity),
                    format!("{:.4}", m.score),
                    m.width.to_string(),
                    m.height.to_string(),
                    m.size.to_string(),
                    path_text(&m.path),
                ])?;
            }
        }
        let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
        self.emit(&String::from_utf8(bytes)?)
    }

    pub fn action_outcome(&self, o: &Outcome, entries: &[JournalEntry]) -> anyhow::Result<()> {
        for e in entries.iter().filter(|e| e.status != Status::Done) {
            self.warn(&format!(
                "{}: {} {}",
                path_text(&e.path),
                if e.status == Status::Skipped {
                    "left alone:"
                } else {
                    "failed:"
                },
                e.detail.as_deref().unwrap_or("")
            ));
        }
        if self.json {
            return self.emit_json(&json!({
                "done": o.done, "skipped": o.skipped, "failed": o.failed, "bytes": o.bytes,
                "journal": path_text(&o.journal),
            }));
        }
        self.emit(&format!(
            "{} files done ({}), {} left alone, {} failed; journal: {} (undo moves and trashing with `lookalike undo` on it)\n",
            o.done,
            human_bytes(o.bytes),
            o.skipped,
            o.failed,
            path_text(&o.journal)
        ))
    }

    pub fn undo_report(&self, r: &UndoReport) -> anyhow::Result<()> {
        for p in &r.problems {
            self.warn(p);
        }
        if self.json {
            return self.emit_json(&serde_json::to_value(r)?);
        }
        self.emit(&format!(
            "{} files restored, {} steps cannot be undone (deleted, or hard links to identical bytes), {} problems\n",
            r.restored,
            r.irreversible,
            r.problems.len()
        ))
    }

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

    /// An evaluation report as JSON, with the model it measured.
    fn emit_report_json(&self, report: &impl serde::Serialize, model: &str) -> anyhow::Result<()> {
        let mut v = serde_json::to_value(report)?;
        v["model"] = json!(model);
        self.emit_json(&v)
    }

    pub fn retrieval_report(&self, r: &RetrievalReport, model: &str) -> anyhow::Result<()> {
        if self.json {
            return self.emit_report_json(r, model);
        }
        let mut s = format!(
            "retrieval ({}): {} queries, {} references, {} classes, k-NN k = {}; model {model}\n",
            r.protocol, r.queries, r.references, r.classes, r.knn_k
        );
        if r.skipped > 0 {
            s.push_str(&format!(
                "{} images could not be decoded and were left out\n",
                r.skipped
            ));
        }
        s.push_str(&format!(
            "{:<14} {:>8} {:>8} {:>8} {:>8}\n",
            "method", "P@1", "P@10", "mAP@R", "kNN acc"
        ));
        for m in &r.methods {
            s.push_str(&format!(
                "{:<14} {:>8.4} {:>8.4} {:>8.4} {:>8.4}\n",
                m.method.name(),
                m.precision_at_1,
                m.precision_at_10,
                m.map_at_r,
                m.knn_accuracy
            ));
        }
        self.emit(&s)
    }

    pub fn copies_report(&self, r: &CopiesReport, model: &str) -> anyhow::Result<()> {
        if self.json {
            return self.emit_report_json(r, model);
        }
        let threshold = |t: Option<f32>| t.map_or("-".to_string(), |t| format!("{t:.4}"));
        let mut s = format!(
            "copy detection: {} copies of {} originals, {} distractors; {} copy queries and {} non-matching queries (seed {}, {} candidates per query); model {model}\n",
            r.queries, r.originals, r.distractors, r.queries, r.non_matching_queries, r.seed, r.candidates_per_query
        );
        if r.skipped > 0 {
            s.push_str(&format!(
                "{} images could not be decoded or generated and were left out\n",
                r.skipped
            ));
        }
        s.push_str(&format!(
            "{:<14} {:>7} {:>9} {:>7} {:>8} {:>7} {:>8} {:>7}\n",
            "method", "µAP", "µAP-copy", "R@P90", "thr@P90", "R@P99", "thr@P99", "R@1"
        ));
        for m in &r.methods {
            s.push_str(&format!(
                "{:<14} {:>7.4} {:>9.4} {:>7.4} {:>8} {:>7.4} {:>8} {:>7.4}\n",
                m.method.name(),
                m.micro_ap,
                m.micro_ap_copy_queries,
                m.recall_at_p90,
                threshold(m.threshold_at_p90),
                m.recall_at_p99,
                threshold(m.threshold_at_p99),
                m.recall_at_1
            ));
        }
        // Per transform: the encoder methods next to the best hash (by µAP), or every method
        // if there is no hash or no encoder.
        let encoders: Vec<_> = r.methods.iter().filter(|m| m.method.is_encoder()).collect();
        let best_hash = r
            .methods
            .iter()
            .filter(|m| m.method.is_hash())
            .max_by(|a, b| a.micro_ap.total_cmp(&b.micro_ap));
        let shown: Vec<_> = match best_hash {
            Some(h) if !encoders.is_empty() => encoders.into_iter().chain([h]).collect(),
            _ => r.methods.iter().collect(),
        };
        s.push_str("\nper transform: recall@1 / recall at the overall precision-0.90 threshold\n");
        s.push_str(&format!("{:<16} {:>7}", "transform", "queries"));
        for m in &shown {
            s.push_str(&format!(" {:>22}", m.method.name()));
        }
        s.push('\n');
        for (i, t) in shown[0].per_transform.iter().enumerate() {
            s.push_str(&format!("{:<16} {:>7}", t.transform.name(), t.queries));
            for m in &shown {
                let x = &m.per_transform[i];
                s.push_str(&format!(
                    " {:>22}",
                    format!("{:.3} / {:.3}", x.recall_at_1, x.recall_at_p90)
                ));
            }
            s.push('\n');
        }
        self.emit(&s)
    }

    pub fn train_report(
        &self,
        r: &TrainReport,
        background: Option<&CalibrateReport>,
        model: &Path,
    ) -> anyhow::Result<()> {
        if self.json {
            let mut v = serde_json::to_value(r)?;
            v["model"] = json!(path_text(model));
            v["background"] = serde_json::to_value(background)?;
            return self.emit_json(&v);
        }
        let mut text = String::new();
        if let Some(h) = &r.hard_negatives {
            text.push_str(&format!(
                "hard negatives: {} photos with neighbours (median similarity to the nearest {:.3}); {} pairs left out as likely copies\n",
                h.photos, h.median_nearest_similarity, h.copy_pairs_skipped
            ));
        }
        if !r.epochs.is_empty() {
            text.push_str("epoch  mean loss  k-NN acc  P@1     P@10\n");
            for e in &r.epochs {
                text.push_str(&format!(
                    "{:>5}  {:>9}  {:.4}    {:.4}  {:.4}\n",
                    e.epoch,
                    e.mean_loss.map_or("-".into(), |l| format!("{l:.4}")),
                    e.knn_accuracy,
                    e.precision_at_1,
                    e.precision_at_10
                ));
            }
        }
        self.emit(&format!(
            "{text}trained {} steps on {} images (from step {}) in {:.1} s: loss {:.4}, {:.2} images/s; wrote {}\n",
            r.steps,
            r.images,
            r.resumed_from,
            r.elapsed_s,
            r.final_loss,
            r.images_per_s,
            path_text(model)
        ))?;
        match background {
            Some(b) => self.calibrate_report(b, model),
            None => Ok(()),
        }
    }

    pub fn calibrate_report(&self, r: &CalibrateReport, model: &Path) -> anyhow::Result<()> {
        if self.json {
            return self.emit_report_json(r, &path_text(model));
        }
        self.emit(&format!(
            "background set of {} photos ({} found, {} skipped) in {:.1} s; wrote {}\n",
            r.images,
            r.found,
            r.skipped,
            r.elapsed_s,
            path_text(model)
        ))
    }

    pub fn combine_report(&self, r: &CombineReport, model: &Path) -> anyhow::Result<()> {
        if self.json {
            return self.emit_report_json(r, &path_text(model));
        }
        self.emit(&format!(
            "wrote {} ({}, {:.1} MB): blocks 0-{} shared, query head {}-d, copy head {}-d, \
             background set of {} photos\n",
            path_text(model),
            r.model_id,
            r.bytes as f64 / 1e6,
            r.branch_start - 1,
            r.query_dim,
            r.copy_dim,
            r.background_images
        ))
    }

    pub fn info(&self, s: &IndexStats) -> anyhow::Result<()> {
        if self.json {
            let mut v = serde_json::to_value(s)?;
            v["path"] = json!(path_text(&s.path));
            return self.emit_json(&v);
        }
        self.emit(&format!(
            "index:           {}\nformat version:  {}\nmodel:           {} ({}, {} px input)\nweights hash:    {}\ndimension:       {}\nfiles:           {}\ndistinct images: {}\ngraph points:    {}\nsize on disk:    {}\n",
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
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1500), "1.5 KB");
        assert_eq!(human_bytes(2_500_000), "2.5 MB");
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_paths_are_escaped() {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/a/caf\xe9.jpg"));
        assert_eq!(path_text(p), "/a/caf\\xe9.jpg");
    }
}
