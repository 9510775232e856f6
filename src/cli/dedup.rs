//! `lookalike dedup` (duplicate groups, and acting on the copies) and `lookalike undo` (reversing
//! what a dedup journal records).

use super::output::{check_folder_target, check_writable, path_text, Out};
use super::{note_rebuild, numbers, Globals};
use super::{EXIT_OK, EXIT_PARTIAL};
use anyhow::{Context, Result};
use clap::Args;
use lookalike::dedup::actions::{self, Action, JournalEntry, Outcome, Status, Step, UndoReport};
use lookalike::dedup::decisions::{self, Reviewed};
use lookalike::dedup::report::{self, human_bytes};
use lookalike::dedup::{
    self, DedupOptions, Family, Group, Keep, DEFAULT_NEAR_EXACT, DEFAULT_NORMALISED_THRESHOLD,
    DEFAULT_THRESHOLD, DEFAULT_VERIFIED_THRESHOLD,
};
use lookalike::index::cluster::ClusterIndex;
use lookalike::{Encoder, Index};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The arguments of `dedup`.
#[derive(Args, Debug)]
pub struct DedupArgs {
    /// Similarity at or above which two images are candidates for the copy tier: when the
    /// model carries a background set, the normalised similarity plus the pixel check's
    /// bonus [default: 0.20] (0.15 with --no-pixel-check), else the cosine similarity
    /// [default: 0.93]
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    threshold: Option<f32>,
    /// Score pairs by plain cosine similarity even when the model has a background set
    #[arg(long)]
    cosine: bool,
    /// Score pairs by normalised similarity alone, without the bonus for 16x16 grey
    /// thumbnails that agree (under quarter turns and mirroring)
    #[arg(long)]
    no_pixel_check: bool,
    /// Group different pictures on the encoder's score alone, without checking that their
    /// local features agree on one geometric map (faster; groups pictures that merely
    /// look alike: the same kind of thing, person, backdrop or layout)
    #[arg(long)]
    no_content_check: bool,
    /// The pair verifier of the content check: a file from `lookalike verifier train`
    /// [default: the built-in one]
    #[arg(long, value_name = "FILE")]
    verifier: Option<PathBuf>,
    /// List and act on copies of these tiers only (comma-separated: exact, same-shot,
    /// near-exact, copy, similar-shot) [default: all; actions leave same-shot and
    /// similar-shot files alone unless named here]
    #[arg(long, value_delimiter = ',', value_name = "TIERS",
          value_parser = clap::builder::PossibleValuesParser::new(dedup::Tier::ALL.map(dedup::Tier::name)))]
    tier: Vec<String>,
    /// The model the index was built with, for its background set [default: the
    /// built-in encoder, when the index was built with it]
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// A copy is "near-exact" (the same picture resized or recompressed) when it has its
    /// keeper's aspect ratio and their 32x32 colour thumbnails differ by at most this many
    /// levels on average, and by at most 6 times as many at 99 % of their pixels
    #[arg(allow_negative_numbers = true, long, default_value_t = DEFAULT_NEAR_EXACT, value_name = "LEVELS",
          value_parser = numbers::within::<f32>(0.0, 255.0))]
    near_exact: f32,
    /// Which image of a group is kept: best (resolution, then size, then age), largest,
    /// oldest, newest, shortest-path
    #[arg(long, default_value = "best", value_parser = clap::builder::PossibleValuesParser::new(Keep::NAMES))]
    keep: String,
    /// Files under this folder are always keepers and never touched (repeatable)
    #[arg(long, value_name = "DIR")]
    reference: Vec<PathBuf>,
    /// Which file of one shot is kept (a RAW and its JPEG, a HEIC and its export), most
    /// preferred first (comma-separated: raw, heic, avif, jpeg, other; unlisted ones last)
    #[arg(long, value_delimiter = ',', value_name = "FORMATS", default_value = "raw,heic,avif,jpeg,other",
          value_parser = clap::builder::PossibleValuesParser::new(Family::ALL.map(Family::name)))]
    prefer: Vec<String>,
    /// Print CSV (one row per file) instead of the table
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// Write a self-contained HTML page with the thumbnails of every group
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Move the copies into DIR, keeping their paths relative to their common folder
    #[arg(long, value_name = "DIR", group = "action")]
    move_to: Option<PathBuf>,
    /// Replace exact copies by hard links to their keeper
    #[arg(long, group = "action")]
    hardlink: bool,
    /// Move the copies to the trash
    #[arg(long, group = "action")]
    trash: bool,
    /// Delete the copies
    #[arg(long, group = "action")]
    delete: bool,
    /// Carry out the action (without it, only show what it would do)
    #[arg(long)]
    yes: bool,
    /// Journal of the actions, for `lookalike undo` [default: INDEX/journal/dedup-TIME.jsonl]
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Also list the groups marked "not duplicates" in review (`lookalike serve`); actions
    /// never touch them
    #[arg(long)]
    include_decided: bool,
    /// List and act on the groups accepted in review (`lookalike serve`) only
    #[arg(long)]
    accepted: bool,
}

/// Lists the duplicate groups, or plans or carries out the action on their copies; exit status 1
/// if some copies were left alone or failed.
pub fn run(args: DedupArgs, globals: &Globals, out: &Out) -> Result<u8> {
    let DedupArgs {
        threshold,
        cosine,
        no_pixel_check,
        no_content_check,
        verifier,
        tier,
        model,
        near_exact,
        keep,
        reference,
        prefer,
        csv,
        html,
        move_to,
        hardlink,
        trash,
        delete,
        yes,
        journal,
        include_decided,
        accepted,
    } = args;
    let action = match (move_to, hardlink, trash, delete) {
        (Some(dir), ..) => Some(Action::MoveTo(std::path::absolute(&dir)?)),
        (_, true, ..) => Some(Action::Hardlink),
        (_, _, true, _) => Some(Action::Trash),
        (.., true) => Some(Action::Delete),
        _ => None,
    };
    anyhow::ensure!(
        !yes || action.is_some(),
        "--yes confirms an action: add --move-to DIR, --hardlink, --trash or --delete"
    );
    // Every output must be writable before the index is read or a file is touched.
    if let Some(path) = &html {
        check_writable(path)?;
    }
    if let Some(Action::MoveTo(dir)) = &action {
        check_folder_target("--move-to", dir)?;
    }
    if let (true, Some(_), Some(path)) = (yes, &action, &journal) {
        check_writable(path)?;
    }
    // The index folder, or the encoder of a Milvus store: what the background set and the
    // candidates come from.
    let (mut index, cluster) = match &globals.store {
        None => (Some(Index::open(&globals.index, globals.wait)?), None),
        Some(store) => {
            let encoder = match model.as_deref() {
                Some(path) => Encoder::from_file(path)?,
                None => Encoder::default_model()?,
            };
            let cluster = ClusterIndex::open(store, encoder.info())?;
            (None, Some((cluster, encoder)))
        }
    };
    let background = match (&index, &cluster) {
        _ if cosine => None,
        (Some(index), _) => dedup_background(index, model.as_deref(), out)?,
        (None, Some((_, encoder))) => encoder.background()?.cloned().map(Arc::new),
        (None, None) => unreachable!("one of the two is open"),
    };
    let threshold = threshold.unwrap_or(match (&background, no_pixel_check) {
        (Some(_), false) => DEFAULT_VERIFIED_THRESHOLD,
        (Some(_), true) => DEFAULT_NORMALISED_THRESHOLD,
        (None, _) => DEFAULT_THRESHOLD,
    });
    let range = if background.is_some() { 2.0 } else { 1.0 };
    anyhow::ensure!(
        (-range..=range).contains(&threshold),
        "--threshold must be a {} similarity between -{range} and {range}, got {threshold}",
        if background.is_some() {
            "normalised"
        } else {
            "cosine"
        }
    );
    let mut opts = DedupOptions {
        threshold,
        background,
        pixel_check: !no_pixel_check,
        content_check: !no_content_check,
        verifier: verifier
            .as_deref()
            .map(lookalike::dedup::verifier::Verifier::load)
            .transpose()?
            .map(Arc::new),
        near_exact,
        keep: Keep::parse(&keep).expect("clap checked the name"),
        references: reference
            .iter()
            .map(|r| {
                std::fs::canonicalize(r).with_context(|| format!("--reference {}", r.display()))
            })
            .collect::<Result<_>>()?,
        prefer: prefer
            .iter()
            .map(|f| Family::parse(f).expect("clap checked the name"))
            .collect(),
    };
    let mut reviewed = match (&mut index, &cluster) {
        (Some(index), _) => {
            if opts.content_check {
                super::output::note_own_verifier(opts.use_own_verifier(index.store())?, out);
            }
            let groups = dedup::find_duplicates(index, &opts)?;
            // Review decisions (lookalike serve): chosen keepers apply; "not duplicates" hides.
            decisions::review(index.store(), groups, include_decided)?
        }
        // A Milvus store keeps its review decisions beside the index (no collection's own
        // verifier).
        (None, Some((cluster, _))) => {
            let named = dedup::candidates_in(cluster, &opts)?.into_unreviewed(&opts)?;
            decisions::apply(cluster, named, include_decided)?
        }
        (None, None) => unreachable!("one of the two is open"),
    };
    if accepted {
        reviewed.retain(|r| r.accepted());
    }
    let named: Vec<dedup::Tier> = tier
        .iter()
        .map(|t| dedup::Tier::parse(t).expect("clap checked the name"))
        .collect();
    if !named.is_empty() {
        let tiers = &named;
        reviewed = reviewed
            .into_iter()
            .filter_map(|r| {
                let group = dedup::restrict_group(r.group, tiers)?;
                Some(Reviewed { group, ..r })
            })
            .collect();
    }
    // Groups marked "not duplicates" are listed (with --include-decided) but never acted on.
    let groups: Vec<Group> = reviewed
        .iter()
        .filter(|r| !r.hidden())
        .map(|r| r.group.clone())
        .collect();
    if let Some(index) = &index {
        note_rebuild(index, out);
    }
    if let Some(path) = &html {
        let page = report::html(&groups, &opts)?;
        std::fs::write(path, page).with_context(|| format!("cannot write {}", path.display()))?;
        out.note(&format!(
            "wrote {} ({} groups)",
            path.display(),
            groups.len()
        ));
    }
    let Some(action) = action else {
        if csv {
            out.dedup_csv(&reviewed)?;
        } else {
            out.dedup_groups(&reviewed, &opts, None)?;
        }
        return Ok(EXIT_OK);
    };
    let actions::Plan {
        steps,
        not_exact,
        kept_with_shot,
        other_shots,
    } = actions::plan(&groups, &action, &named);
    if !other_shots.is_empty() {
        out.note(&format!(
            "{} other shots of a scene left alone (similar-shot: not duplicates; --tier similar-shot acts on them too)",
            other_shots.len()
        ));
    }
    if !kept_with_shot.is_empty() {
        out.note(&format!(
            "{} files left with their shot (a RAW and its JPEG stay together; --tier same-shot acts on them too)",
            kept_with_shot.len()
        ));
    }
    if not_exact > 0 {
        out.note(&format!(
            "--hardlink replaces exact copies only: {not_exact} near-duplicates left as they are"
        ));
    }
    if !yes {
        out.dedup_groups(&reviewed, &opts, Some(&steps))?;
        return Ok(EXIT_OK);
    }
    let journal = journal.unwrap_or_else(|| {
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace(':', "-");
        globals
            .index
            .join("journal")
            .join(format!("dedup-{stamp}.jsonl"))
    });
    // The index is not needed while acting; release it for other processes.
    drop(index);
    let (outcome, entries) = actions::execute(&steps, &journal)?;
    out.action_outcome(&outcome, &entries)?;
    Ok(if outcome.skipped + outcome.failed > 0 {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    })
}

/// The background set `dedup` scores with: that of `--model` (which must be the index's
/// model), or of the built-in encoder when the index was built with it; `None` (cosine
/// scoring) for a model without one.
pub(super) fn dedup_background(
    index: &Index,
    model: Option<&Path>,
    out: &Out,
) -> Result<Option<Arc<lookalike::model::background::Background>>> {
    let encoder = match model {
        Some(path) => {
            let encoder = Encoder::from_file(path)?;
            index.check_model(encoder.info())?;
            encoder
        }
        None => {
            let encoder = Encoder::default_model()?;
            match index.check_model(encoder.info()) {
                Ok(()) => encoder,
                // An earlier built-in model's index is moved by `index`, not guessed at.
                Err(e @ lookalike::Error::ModelOutdated { .. }) => return Err(e.into()),
                Err(_) => {
                    out.note(
                        "the index was built with another model: scoring by cosine similarity \
                         (pass --model FILE to use its background set)",
                    );
                    return Ok(None);
                }
            }
        }
    };
    Ok(encoder.background()?.cloned().map(Arc::new))
}

/// The arguments of `undo`.
#[derive(Args, Debug)]
pub struct UndoArgs {
    #[arg(value_name = "JOURNAL")]
    journal: PathBuf,
}

/// Reverses a dedup journal; exit status 1 if some steps could not be undone.
pub fn undo(args: UndoArgs, out: &Out) -> Result<u8> {
    let UndoArgs { journal } = args;
    let report = actions::undo(&journal)?;
    out.undo_report(&report)?;
    Ok(if report.problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    })
}

impl Out {
    pub fn dedup_groups(
        &self,
        reviewed: &[Reviewed],
        opts: &DedupOptions,
        plan: Option<&[Step]>,
    ) -> anyhow::Result<()> {
        let acted_on: Vec<Group> = reviewed
            .iter()
            .filter(|r| !r.hidden())
            .map(|r| r.group.clone())
            .collect();
        let (files, bytes) = lookalike::dedup::totals(&acted_on);
        if self.json {
            let mut v = json!({
                "threshold": opts.threshold,
                "scoring": opts.scoring(),
                "content_check": opts.content_check,
                "near_exact": opts.near_exact,
                "groups": reviewed.iter().map(dedup::json::reviewed).collect::<Vec<_>>(),
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
        for r in reviewed {
            let g = &r.group;
            let decided = match &r.decision {
                Some(d) => format!(" [{}]", d.verdict.name()),
                None => String::new(),
            };
            let why = g.kept_because.text();
            let why = if why.is_empty() {
                why
            } else {
                format!(", kept: {why}")
            };
            s.push_str(&format!(
                "{} ({} files{why}){decided}:\n",
                g.tier.name(),
                g.members.len()
            ));
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
            acted_on.len(),
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
    pub fn dedup_csv(&self, reviewed: &[Reviewed]) -> anyhow::Result<()> {
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
        for (n, g) in reviewed.iter().map(|r| &r.group).enumerate() {
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
}
