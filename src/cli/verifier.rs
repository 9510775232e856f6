//! `lookalike verifier`: make labelled pairs from folders of distinct pictures, train the
//! pair verifier on them, and measure it by leaving one domain out; retrain it on a
//! collection's own review decisions.

use super::output::{check_writable, path_text, Out};
use super::progress;
use super::{Globals, Result, EXIT_OK};
use clap::{Args, Subcommand};
use lookalike::dedup::own_verifier;
use lookalike::dedup::verifier::Verifier;
use lookalike::dedup::{DedupOptions, DEFAULT_VERIFIED_THRESHOLD};
use lookalike::eval::pairs::{self, DomainOptions, DomainScore, PairRow};
use lookalike::index::Index;
use lookalike::model::Encoder;
use lookalike::train::adapt::{adapt, AdaptReport, Errors};
use lookalike::train::verifier::{leave_one_domain_out, train_on, BoostOptions};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// The arguments of `verifier`.
#[derive(Args, Debug)]
pub struct VerifierArgs {
    #[command(subcommand)]
    command: VerifierCommand,
}

#[derive(Subcommand, Debug)]
enum VerifierCommand {
    /// Measure the candidate pairs of folders of distinct pictures, one folder per domain
    /// (named by the folder): some pictures get edited copies (the edits of `eval
    /// copies`), originals and copies are indexed in a scratch index, and every pair `dedup`
    /// would judge is measured and labelled (one picture: both files come from one original)
    Pairs {
        /// Folders of distinct pictures, one per domain
        #[arg(required = true)]
        domains: Vec<PathBuf>,
        /// Where the copies and scratch indexes go (a sub-folder per domain)
        #[arg(long, value_name = "DIR")]
        work: PathBuf,
        /// The pairs, as CSV
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Pictures of each domain given edited copies (17 each)
        #[arg(long, default_value_t = 24)]
        copied: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Train a verifier on pairs CSV files and write it as JSON (`dedup --verifier FILE`
    /// uses it)
    Train {
        /// Pairs from `verifier pairs`
        #[arg(required = true)]
        pairs: Vec<PathBuf>,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Name recorded in the verifier [default: OUT's file stem]
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        boost: BoostArgs,
    },
    /// Retrain the verifier on this collection's review decisions (groups marked not
    /// duplicates or accepted in `serve`): measured on a held-out third of the decided
    /// groups first, then kept in the index, where `dedup`, `query --copies` and `serve`
    /// use it instead of the built-in one
    Adapt {
        /// Measure only; keep nothing
        #[arg(long)]
        dry_run: bool,
        /// Forget the collection's own verifier: the built-in one decides again
        #[arg(long, conflicts_with_all = ["dry_run", "verifier"])]
        forget: bool,
        /// The verifier to start from (a file from `verifier train`) [default: the
        /// built-in one]
        #[arg(long, value_name = "FILE")]
        verifier: Option<PathBuf>,
    },
    /// Leave one domain out: for each domain, train on the others and measure on it;
    /// today's hand-written content check is measured on the same pairs beside it
    Eval {
        /// Pairs from `verifier pairs` (two domains at least)
        #[arg(required = true)]
        pairs: Vec<PathBuf>,
        #[command(flatten)]
        boost: BoostArgs,
    },
}

/// How the trees are grown.
#[derive(Args, Debug)]
struct BoostArgs {
    /// Trees
    #[arg(long, default_value_t = BoostOptions::default().rounds)]
    rounds: usize,
    /// Depth of each tree
    #[arg(long, default_value_t = BoostOptions::default().depth)]
    depth: usize,
    #[arg(long, default_value_t = BoostOptions::default().learning_rate)]
    learning_rate: f32,
    /// Probability at or above which a pair is one picture
    #[arg(long, default_value_t = BoostOptions::default().threshold)]
    threshold: f32,
}

impl BoostArgs {
    fn options(&self) -> BoostOptions {
        BoostOptions {
            rounds: self.rounds,
            depth: self.depth,
            learning_rate: self.learning_rate,
            threshold: self.threshold,
            ..BoostOptions::default()
        }
    }
}

pub fn run(args: VerifierArgs, globals: &Globals, out: &Out) -> Result<u8> {
    match args.command {
        VerifierCommand::Adapt {
            dry_run,
            forget,
            verifier,
        } => adapt_command(globals, dry_run, forget, verifier, out),
        VerifierCommand::Pairs {
            domains,
            work,
            out: csv,
            copied,
            seed,
        } => {
            check_writable(&csv)?;
            let encoder = Encoder::default_model()?;
            let background = encoder.background()?.cloned().map(Arc::new);
            let dedup_opts = DedupOptions {
                threshold: DEFAULT_VERIFIED_THRESHOLD,
                background,
                ..DedupOptions::default()
            };
            let opts = DomainOptions {
                originals_copied: copied,
                seed,
                ..DomainOptions::default()
            };
            let bar = progress::Bar::new(out.shows_progress());
            let mut rows: Vec<PairRow> = Vec::new();
            for folder in &domains {
                let name = folder
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "domain".into());
                let w = work.join(&name);
                rows.extend(pairs::measure_domain(
                    folder,
                    &name,
                    &w,
                    &encoder,
                    &dedup_opts,
                    &opts,
                    &bar,
                )?);
            }
            bar.finish();
            let mut file = std::fs::File::create(&csv)?;
            pairs::write_csv(&rows, &mut file)?;
            let copies = rows.iter().filter(|r| r.copy).count();
            if out.json {
                return out
                    .emit_json(
                        &json!({"pairs": rows.len(), "copy_pairs": copies, "out": path_text(&csv)}),
                    )
                    .map(|_| EXIT_OK);
            }
            out.emit(&format!(
                "{} pairs ({} of one picture, {} of two) from {} domains; wrote {}\n",
                rows.len(),
                copies,
                rows.len() - copies,
                domains.len(),
                path_text(&csv)
            ))?;
            Ok(EXIT_OK)
        }
        VerifierCommand::Train {
            pairs: files,
            out: file,
            name,
            boost,
        } => {
            check_writable(&file)?;
            let rows = read_all(&files)?;
            let name = name.unwrap_or_else(|| {
                file.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "verifier".into())
            });
            let v = train_on(&rows, &boost.options(), &name);
            std::fs::write(&file, v.to_json() + "\n")?;
            // Read back, as `dedup --verifier` will.
            Verifier::load(&file)?;
            // It learns from the pairs the content check's rule accepts (`train_on`).
            let accepted = rows.iter().filter(|r| r.same_content).count();
            if out.json {
                return out
                    .emit_json(&json!({"pairs": rows.len(), "trained_on": accepted, "trees": v.trees.len(), "out": path_text(&file)}))
                    .map(|_| EXIT_OK);
            }
            out.emit(&format!(
                "trained {} trees on the {accepted} pairs the rule accepts (of {}); wrote {}\n",
                v.trees.len(),
                rows.len(),
                path_text(&file)
            ))?;
            Ok(EXIT_OK)
        }
        VerifierCommand::Eval {
            pairs: files,
            boost,
        } => {
            let rows = read_all(&files)?;
            let bar = progress::Bar::new(out.shows_progress());
            let held = leave_one_domain_out(&rows, &boost.options(), &bar)?;
            bar.finish();
            if out.json {
                return out.emit_json(&json!({"domains": held})).map(|_| EXIT_OK);
            }
            let mut s = String::from(
                "Held out in turn, each domain judged by a verifier trained on the others. Copy \
                 pairs found; files in look-alike pairs grouped, per 1,000 files; look-alike \
                 pairs listed as similar shots\n",
            );
            s.push_str(&format!(
                "{:<12} {:>6} | {:>22} {:>9} {:>7} | {:>22} {:>9} {:>7}\n",
                "domain",
                "files",
                "verifier: copies",
                "false/1k",
                "review",
                "content check: copies",
                "false/1k",
                "review"
            ));
            let line = |d: &DomainScore| {
                format!(
                    "{:>14} {:>7.3} {:>9.1} {:>6.1}%",
                    format!("{}/{}", d.copies_found, d.copy_pairs),
                    d.copies_found as f64 / d.copy_pairs.max(1) as f64,
                    d.false_files_per_1000,
                    100.0 * d.lookalikes_to_review as f64 / d.lookalike_pairs.max(1) as f64
                )
            };
            for h in &held {
                s.push_str(&format!(
                    "{:<12} {:>6} | {} | {}\n",
                    h.verifier.domain,
                    h.verifier.files,
                    line(&h.verifier),
                    line(&h.rule)
                ));
            }
            out.emit(&s)?;
            Ok(EXIT_OK)
        }
    }
}

/// `verifier adapt`.
fn adapt_command(
    globals: &Globals,
    dry_run: bool,
    forget: bool,
    base: Option<PathBuf>,
    out: &Out,
) -> Result<u8> {
    let mut index = Index::open(&globals.index, globals.wait)?;
    if forget {
        let had = own_verifier::forget(index.store())?;
        if out.json {
            return out.emit_json(&json!({"forgotten": had})).map(|_| EXIT_OK);
        }
        out.emit(if had {
            "forgot this collection's own verifier: the built-in one decides again\n"
        } else {
            "this collection has no verifier of its own: the built-in one decides\n"
        })?;
        return Ok(EXIT_OK);
    }
    let background = super::dedup::dedup_background(&index, None, out)?;
    let opts = DedupOptions {
        verifier: base
            .as_deref()
            .map(Verifier::load)
            .transpose()?
            .map(Arc::new),
        ..DedupOptions::scored_with(background)
    };
    out.note("measuring the pairs of the decided groups");
    let pairs = own_verifier::decided_pairs(&mut index, &opts)?;
    let name = format!(
        "{} retrained on {} pairs of this collection's review decisions",
        opts.verifier().name,
        pairs.len()
    );
    let (adapted, report) = adapt(opts.verifier(), &pairs, &name)?;
    if !dry_run {
        own_verifier::save(index.store(), &adapted)?;
    }
    if out.json {
        return out
            .emit_json(&json!({"report": report, "kept": !dry_run}))
            .map(|_| EXIT_OK);
    }
    out.emit(&adapt_text(&report, dry_run))?;
    Ok(EXIT_OK)
}

fn adapt_text(r: &AdaptReport, dry_run: bool) -> String {
    let errors = |e: &Errors| {
        format!(
            "look-alike pairs called copies {}, copies missed {}",
            e.false_copies, e.missed_copies
        )
    };
    let mut s = format!(
        "{} decided pairs from {} groups: {} of one picture (accepted), {} of two (not duplicates)\n",
        r.copies + r.look_alikes,
        r.groups,
        r.copies,
        r.look_alikes
    );
    match &r.held_out {
        Some(h) => s.push_str(&format!(
            "held out ({} pairs, a third of the groups): before: {}; retrained on the rest: {}\n",
            h.pairs,
            errors(&h.base),
            errors(&h.adapted)
        )),
        None => s.push_str("too few decided groups to hold a third out: no held-out figure\n"),
    }
    s.push_str(&format!(
        "on every decided pair: before: {}; retrained: {}\n",
        errors(&r.base),
        errors(&r.fitted)
    ));
    s.push_str(if dry_run {
        "dry run: nothing kept\n"
    } else {
        "kept in the index: dedup, query --copies and serve use it (lookalike verifier adapt --forget: back to the built-in one)\n"
    });
    s
}

fn read_all(files: &[PathBuf]) -> Result<Vec<PairRow>> {
    let mut rows = Vec::new();
    for f in files {
        rows.extend(pairs::read_csv(f)?);
    }
    Ok(rows)
}
