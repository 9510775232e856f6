//! Command-line front end: argument parsing, model and index selection, output, exit codes.
//! Only this module prints.

mod output;
mod progress;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use lookalike::actions::{self, Action};
use lookalike::background::{self as bg, CalibrateOptions};
use lookalike::decode::{self, DecodeOptions};
use lookalike::dedup::{
    self, DedupOptions, Keep, DEFAULT_NEAR_EXACT, DEFAULT_NORMALISED_THRESHOLD, DEFAULT_THRESHOLD,
    DEFAULT_VERIFIED_THRESHOLD,
};
use lookalike::eval;
use lookalike::eval::copies::{self, CopiesOptions};
use lookalike::eval::methods::Method;
use lookalike::eval::retrieval::{self, Labelled};
use lookalike::index::DEFAULT_INDEX_DIR;
use lookalike::indexer::{self, IndexOptions};
use lookalike::lock::Wait;
use lookalike::model::Task;
use lookalike::report;
use lookalike::scan::ScanOptions;
use lookalike::train::augment::AugmentConfig;
use lookalike::train::trainer::{self, CheckpointOptions, TrainOptions};
use lookalike::{Encoder, Index};
use output::{Out, QueryResult};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the command finished, but some files could not be processed.
pub const EXIT_PARTIAL: u8 = 1;
/// Exit status: usage error or fatal error.
pub const EXIT_FATAL: u8 = 2;
/// Exit status: another process holds the index (EX_TEMPFAIL: try again later).
pub const EXIT_BUSY: u8 = 75;
/// Exit status: stopped by Ctrl-C (128 + SIGINT); what was done is kept.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser, Debug)]
#[command(
    name = "lookalike",
    version,
    about = "Find similar and duplicate images with a neural image encoder",
    long_about = "Find similar and duplicate images with a neural image encoder.\n\n\
        Index folders of photos, then ask for the lookalikes of any image or list duplicate \
        groups. The default encoder is built into the binary.",
    after_help = "Exit status: 0 success, 1 finished but some files were skipped, 2 error, \
        75 the index is in use by another process, 130 interrupted (work done so far is kept)."
)]
struct Cli {
    /// Index folder
    #[arg(long, global = true, default_value = DEFAULT_INDEX_DIR, value_name = "PATH")]
    index: PathBuf,
    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true)]
    json: bool,
    /// No progress bar and no per-file warnings (errors are still printed)
    #[arg(long, short, global = true)]
    quiet: bool,
    /// If another process is using the index, wait for it (at most SECS seconds if given)
    /// instead of failing with exit status 75
    #[arg(long, global = true, value_name = "SECS", num_args = 0..=1, require_equals = true)]
    wait: Option<Option<u64>>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct ModelArg {
    /// Encoder weights (safetensors); default: the encoder built into lookalike
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
}

impl ModelArg {
    fn load(&self) -> Result<Encoder> {
        Ok(match &self.model {
            Some(path) => Encoder::from_file(path)?,
            None => Encoder::default_model()?,
        })
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Add folders (or files) to the index; re-running only embeds what is new or changed
    Index {
        /// Folders or image files to index
        #[arg(required = true, value_name = "DIR")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        model: ModelArg,
        /// Follow symbolic links (loops are detected)
        #[arg(long)]
        follow_links: bool,
        /// New images per commit (each commit is atomic and flushed)
        #[arg(long, default_value_t = IndexOptions::default().batch_size, value_name = "N")]
        batch_size: usize,
        /// Decode threads [default: number of CPUs]
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// Refuse images with more pixels than this (decompression-bomb guard)
        #[arg(long, default_value_t = decode::DEFAULT_MAX_PIXELS, value_name = "N")]
        max_pixels: u64,
    },
    /// Show the indexed images most similar to each given image
    Query {
        /// Query images (they need not be indexed)
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<PathBuf>,
        /// Number of results per query
        #[arg(short, long, default_value_t = 10)]
        k: usize,
        /// Mark the results that are copies of the query (the same picture, edited or not),
        /// decided as `dedup` decides: the copy head's score with the default threshold, then
        /// the content check
        #[arg(long)]
        copies: bool,
        #[command(flatten)]
        model: ModelArg,
    },
    /// List groups of duplicates (exact, near-exact and similar), and optionally move,
    /// hard-link, trash or delete the copies (a dry run unless --yes)
    Dedup {
        /// Similarity at or above which two images are duplicates ("similar" tier): when the
        /// model carries a background set, the normalised similarity plus the pixel check's
        /// bonus [default: 0.20] (0.15 with --no-pixel-check), else the cosine similarity
        /// [default: 0.93]
        #[arg(long, value_name = "S")]
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
        /// List and act on copies of these tiers only (comma-separated: exact, near-exact,
        /// similar) [default: all three]
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
        #[arg(long, default_value_t = DEFAULT_NEAR_EXACT, value_name = "LEVELS")]
        near_exact: f32,
        /// Which image of a group is kept: best (resolution, then size, then age), largest,
        /// oldest, newest, shortest-path
        #[arg(long, default_value = "best", value_parser = clap::builder::PossibleValuesParser::new(Keep::NAMES))]
        keep: String,
        /// Files under this folder are always keepers and never touched (repeatable)
        #[arg(long, value_name = "DIR")]
        reference: Vec<PathBuf>,
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
    },
    /// Reverse the moves (and trashing) recorded in a dedup journal
    Undo {
        #[arg(value_name = "JOURNAL")]
        journal: PathBuf,
    },
    /// Print the embedding of an image
    Embed {
        #[arg(value_name = "IMAGE")]
        image: PathBuf,
        #[command(flatten)]
        model: ModelArg,
        /// Which descriptor: stored (the vector the index keeps: both heads' descriptors for a
        /// two-head model), query or copy (one head's unit descriptor)
        #[arg(long, default_value = "stored", value_parser = ["stored", "query", "copy"])]
        head: String,
    },
    /// Show what the index holds
    Info,
    /// Drop the records of files deleted from disk and rebuild the graph without them
    /// (`index` does this by itself for the folders it scans, and rebuilds the graph when a
    /// quarter of its points are dead)
    Compact,
    /// Check that the index is consistent (every record, counter and graph point); exit
    /// status 2 if it is not
    Verify,
    /// Train a descriptor contrastively on unlabelled photos (two augmented views of each
    /// photo are a positive pair; the other photos of the batch are negatives)
    Train {
        /// Folders of photos
        #[arg(required = true, value_name = "DIR")]
        paths: Vec<PathBuf>,
        /// Where to write the trained model (safetensors)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Architecture: efficientnet-lite0-gem (from the ImageNet weights) or small-cnn (from
        /// scratch)
        #[arg(long, default_value = lookalike::model::ARCH_LITE0_DESCRIPTOR)]
        arch: String,
        /// Labelled folder (one sub-folder per class) of references for a k-NN retrieval
        /// measurement before training and after every epoch; needs --eval-test
        #[arg(long, value_name = "DIR", requires = "eval_test")]
        eval_train: Option<PathBuf>,
        /// Labelled folder of queries for the per-epoch measurement; needs --eval-train
        #[arg(long, value_name = "DIR", requires = "eval_train")]
        eval_test: Option<PathBuf>,
        /// Initial weights (EfficientNet-Lite0 safetensors; of a two-head model, its query head);
        /// default: the embedded ImageNet weights
        #[arg(long, value_name = "FILE")]
        init: Option<PathBuf>,
        #[arg(long, default_value_t = TrainOptions::default().epochs)]
        epochs: usize,
        /// Images per step (two views each)
        #[arg(long, default_value_t = TrainOptions::default().batch_size)]
        batch_size: usize,
        /// Input side in pixels
        #[arg(long, default_value_t = TrainOptions::default().input_size)]
        input_size: usize,
        /// Descriptor dimension
        #[arg(long, default_value_t = TrainOptions::default().dim)]
        dim: usize,
        #[arg(long, default_value_t = TrainOptions::default().lr)]
        lr: f64,
        #[arg(long, default_value_t = TrainOptions::default().warmup_steps)]
        warmup_steps: usize,
        #[arg(long, default_value_t = TrainOptions::default().temperature)]
        temperature: f64,
        /// Weight of the KoLeo (entropy) regulariser
        #[arg(long, default_value_t = TrainOptions::default().koleo_weight)]
        koleo: f64,
        /// Augmentations: copy (SimCLR views plus copy-style edits: blur, noise, JPEG,
        /// rotations, overlays, padding, downscaling) or semantic (SimCLR views only)
        #[arg(long, default_value = "copy", value_parser = ["copy", "semantic"])]
        augment: String,
        /// Keep the embeddings of the last N views as extra negatives (helps small batches)
        #[arg(long, default_value_t = 0, value_name = "N")]
        queue: usize,
        /// Build batches from groups of N mutually similar photos (found before training by
        /// the --init encoder, else the ImageNet one), so that distinct photos of one scene
        /// are negatives of each other; 0: random batches
        #[arg(long, default_value_t = 0, value_name = "N")]
        hard_negatives: usize,
        /// Train only blocks N and later (and the head)
        #[arg(long, default_value_t = 0, value_name = "N")]
        freeze_blocks: usize,
        /// Weight of a similarity distillation towards the ImageNet encoder: each view's
        /// neighbours in the batch stay what the ImageNet descriptors say, so training adds
        /// to the starting features instead of replacing them; 0: none
        #[arg(long, default_value_t = 0.0, value_name = "W")]
        distill: f64,
        #[arg(long, default_value_t = TrainOptions::default().seed)]
        seed: u64,
        /// Checkpoint file [default: OUT with .ckpt.safetensors]
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Minutes between checkpoints
        #[arg(long, default_value_t = 5.0, value_name = "MIN")]
        checkpoint_minutes: f64,
        /// Continue from the checkpoint, if there is one
        #[arg(long)]
        resume: bool,
        /// After training, describe up to N of the training photos as the model's background
        /// set (see `lookalike calibrate`); 0: none
        #[arg(long, default_value_t = CalibrateOptions::default().max_images, value_name = "N")]
        background_images: usize,
    },
    /// Give a model a background set described from unrelated photos (written into a copy of
    /// the model file): dedup and `eval copies` then score pairs by normalised similarity
    Calibrate {
        /// Folders of photos
        #[arg(required = true, value_name = "DIR")]
        paths: Vec<PathBuf>,
        /// The model to calibrate (safetensors)
        #[arg(long, value_name = "FILE")]
        model: PathBuf,
        /// Where to write the calibrated model
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// At most this many photos, drawn at random when there are more
        #[arg(long, default_value_t = CalibrateOptions::default().max_images, value_name = "N")]
        max_images: usize,
        #[arg(long, default_value_t = CalibrateOptions::default().seed)]
        seed: u64,
    },
    /// Join two trained models into one with a head per task: QUERY's descriptor for
    /// `query`, COPY's for `dedup` and `eval copies` (both trained from the same --init with
    /// the same --freeze-blocks; the blocks they share run once)
    Combine {
        /// Model for query by example (safetensors from `lookalike train`)
        #[arg(long, value_name = "FILE")]
        query: PathBuf,
        /// Model for copy detection (its background set is kept)
        #[arg(long, value_name = "FILE")]
        copy: PathBuf,
        /// Where to write the two-head model
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Name recorded in the model [default: OUT's file stem]
        #[arg(long)]
        name: Option<String>,
    },
    /// Measure quality: retrieval on labelled folders, copy detection on generated copies
    Eval {
        #[command(subcommand)]
        what: EvalCommand,
    },
}

#[derive(Subcommand, Debug)]
enum EvalCommand {
    /// Retrieval on labelled images (label = parent folder name): precision@1, precision@10,
    /// mAP@R and weighted k-NN accuracy (k = 20)
    #[command(group(clap::ArgGroup::new("sets").required(true).args(["dir", "test"])))]
    Retrieval {
        /// Labelled folder: every image queries all the others
        #[arg(value_name = "DIR", conflicts_with_all = ["train", "test"])]
        dir: Option<PathBuf>,
        /// Reference (train) folder of the k-NN protocol
        #[arg(long, value_name = "DIR", requires = "test")]
        train: Option<PathBuf>,
        /// Query (test) folder of the k-NN protocol
        #[arg(long, value_name = "DIR", requires = "train")]
        test: Option<PathBuf>,
        /// Methods, comma-separated: encoder, encoder-norm and encoder-verified (need a
        /// background set), mean-hash, gradient-hash, dct-hash, block-hash, raw-pixels, hashes,
        /// all
        #[arg(long, default_value = "encoder,raw-pixels")]
        method: String,
        #[command(flatten)]
        model: ModelArg,
    },
    /// Copy detection: generate edited copies of the originals in DIR, then find each copy's
    /// original among originals and distractors
    Copies {
        /// Folder of original images
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Folder of other images that must not be matched
        #[arg(long, value_name = "DIR")]
        distractors: Option<PathBuf>,
        /// Methods, comma-separated (see `eval retrieval --help`)
        #[arg(long, default_value = "all")]
        method: String,
        /// Seed of the copy generator
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Originals are shrunk to fit this many pixels per side before editing
        #[arg(long, default_value_t = 1024, value_name = "PX")]
        max_side: u32,
        /// Write a precision-recall plot (SVG)
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
        /// Keep the generated copies in this folder
        #[arg(long, value_name = "DIR")]
        save_copies: Option<PathBuf>,
        /// Photos unrelated to the originals and distractors: the background set of the
        /// encoder-norm and encoder-verified methods (instead of the model's own)
        #[arg(long, value_name = "DIR")]
        background: Option<PathBuf>,
        #[command(flatten)]
        model: ModelArg,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    progress::quiet_decoder_panics();
    let cli = Cli::parse();
    let out = Out::new(cli.json, cli.quiet);
    match run(cli, &out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            out.error(&e);
            let busy = matches!(
                e.downcast_ref::<lookalike::Error>(),
                Some(lookalike::Error::Busy { .. })
            );
            ExitCode::from(if busy { EXIT_BUSY } else { EXIT_FATAL })
        }
    }
}

impl Cli {
    fn lock_wait(&self) -> Wait {
        match self.wait {
            None => Wait::No,
            Some(None) => Wait::Forever,
            Some(Some(secs)) => Wait::For(Duration::from_secs(secs)),
        }
    }
}

/// The first Ctrl-C sets the returned flag (long commands finish their current step, keep
/// what is done and exit with status 130); a second one exits at once.
fn interrupt_flag(out: &Out) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = flag.clone();
    let quiet = !out.shows_progress();
    let installed = ctrlc::set_handler(move || {
        if handler_flag.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED.into());
        }
        if !quiet {
            eprintln!("\ninterrupted: saving what is done (Ctrl-C again to quit at once)");
        }
    });
    if let Err(e) = installed {
        out.warn(&format!("Ctrl-C will not save work in progress: {e}"));
    }
    flag
}

fn run(cli: Cli, out: &Out) -> Result<u8> {
    let wait = cli.lock_wait();
    match cli.command {
        Command::Index {
            paths,
            model,
            follow_links,
            batch_size,
            threads,
            max_pixels,
        } => {
            let encoder = model.load()?;
            let mut index = Index::open_or_create(&cli.index, encoder.info(), wait)?;
            let defaults = IndexOptions::default();
            let opts = IndexOptions {
                scan: ScanOptions { follow_links },
                batch_size,
                threads: threads.unwrap_or(defaults.threads),
                max_pixels,
                interrupt: Some(interrupt_flag(out)),
            };
            let bar = progress::Bar::new(out.shows_progress());
            let report = indexer::update(&mut index, &encoder, &paths, &opts, &bar)?;
            bar.finish();
            out.index_report(&report)?;
            Ok(if report.interrupted {
                EXIT_INTERRUPTED
            } else if report.skipped.is_empty() {
                EXIT_OK
            } else {
                EXIT_PARTIAL
            })
        }
        Command::Query {
            images,
            k,
            copies,
            model,
        } => {
            // The index opens on a second thread (sled reads its page table: about 50 ms at
            // 100,000 images) while the model loads and the images are embedded.
            let (encoder, vectors, index) = std::thread::scope(|scope| {
                let opening = scope.spawn(|| Index::open(&cli.index, wait));
                let embedded = model.load().and_then(|encoder| {
                    let vectors = embed_queries(&encoder, &images, out)?;
                    Ok((encoder, vectors))
                });
                let index = opening
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                embedded.map(|(encoder, vectors)| (encoder, vectors, index))
            })?;
            let mut index = index?;
            index.check_model(encoder.info())?;
            // A few queries scan the flat vector file (exact, no graph to load); many
            // queries amortise loading the graph, except with a two-head model, whose graph
            // is built for dedup (its queries always scan the flat file).
            let many = images.len() > EXACT_QUERIES_MAX && !encoder.info().has_two_heads();
            if many || !index.can_search_exactly() {
                announce_rebuild(&mut index, out)?;
            }
            // With --copies, each result is checked as dedup checks a pair, with the scoring
            // dedup would use for this index and model.
            let decision = if copies {
                let background = encoder.background()?.cloned().map(Arc::new);
                Some(DedupOptions {
                    threshold: match background {
                        Some(_) => DEFAULT_VERIFIED_THRESHOLD,
                        None => DEFAULT_THRESHOLD,
                    },
                    background,
                    ..DedupOptions::default()
                })
            } else {
                None
            };
            let mut results = Vec::new();
            for (path, embedded) in images.iter().zip(vectors) {
                let Some((vector, prepared)) = embedded else {
                    continue;
                };
                let neighbors = index.nearest(&vector, k)?;
                let marks = match &decision {
                    Some(opts) => {
                        let bytes = std::fs::read(path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        let probe = dedup::Probe::new(&bytes, &prepared, vector);
                        let marks = neighbors
                            .iter()
                            .map(|n| dedup::copy_of(&index, opts, &probe, &n.path))
                            .collect::<Result<Vec<_>, _>>()?;
                        Some(marks)
                    }
                    None => None,
                };
                results.push(QueryResult {
                    query: path.clone(),
                    neighbors,
                    copies: marks,
                });
            }
            out.query_results(&results)?;
            Ok(if results.len() < images.len() {
                EXIT_PARTIAL
            } else {
                EXIT_OK
            })
        }
        Command::Dedup {
            threshold,
            cosine,
            no_pixel_check,
            no_content_check,
            tier,
            model,
            near_exact,
            keep,
            reference,
            csv,
            html,
            move_to,
            hardlink,
            trash,
            delete,
            yes,
            journal,
        } => {
            anyhow::ensure!(
                (0.0..=255.0).contains(&near_exact),
                "--near-exact is a number of levels between 0 and 255, got {near_exact}"
            );
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
            let mut index = Index::open(&cli.index, wait)?;
            let background = if cosine {
                None
            } else {
                dedup_background(&index, model.as_deref(), out)?
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
            let opts = DedupOptions {
                threshold,
                background,
                pixel_check: !no_pixel_check,
                content_check: !no_content_check,
                near_exact,
                keep: Keep::parse(&keep).expect("clap checked the name"),
                references: reference
                    .iter()
                    .map(|r| {
                        std::fs::canonicalize(r)
                            .with_context(|| format!("--reference {}", r.display()))
                    })
                    .collect::<Result<_>>()?,
            };
            let mut groups = dedup::find_duplicates(&mut index, &opts)?;
            if !tier.is_empty() {
                let tiers: Vec<dedup::Tier> = tier
                    .iter()
                    .map(|t| dedup::Tier::parse(t).expect("clap checked the name"))
                    .collect();
                groups = dedup::restrict_to_tiers(groups, &tiers);
            }
            note_rebuild(&index, out);
            if let Some(path) = &html {
                let page = report::html(&groups, &opts)?;
                std::fs::write(path, page)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                out.note(&format!(
                    "wrote {} ({} groups)",
                    path.display(),
                    groups.len()
                ));
            }
            let Some(action) = action else {
                if csv {
                    out.dedup_csv(&groups)?;
                } else {
                    out.dedup_groups(&groups, &opts, None)?;
                }
                return Ok(EXIT_OK);
            };
            let (steps, not_exact) = actions::plan(&groups, &action);
            if not_exact > 0 {
                out.note(&format!(
                    "--hardlink replaces exact copies only: {not_exact} near-duplicates left as they are"
                ));
            }
            if !yes {
                out.dedup_groups(&groups, &opts, Some(&steps))?;
                return Ok(EXIT_OK);
            }
            let journal = journal.unwrap_or_else(|| {
                let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string()
                    .replace(':', "-");
                cli.index
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
        Command::Undo { journal } => {
            let report = actions::undo(&journal)?;
            out.undo_report(&report)?;
            Ok(if report.problems.is_empty() {
                EXIT_OK
            } else {
                EXIT_PARTIAL
            })
        }
        Command::Embed { image, model, head } => {
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
        Command::Eval { what } => run_eval(what, out),
        Command::Train {
            paths,
            out: model_out,
            arch,
            eval_train,
            eval_test,
            init,
            epochs,
            batch_size,
            input_size,
            dim,
            lr,
            warmup_steps,
            temperature,
            koleo,
            augment,
            queue,
            hard_negatives,
            freeze_blocks,
            distill,
            seed,
            checkpoint,
            checkpoint_minutes,
            resume,
            background_images,
        } => {
            let files = eval::image_files_in(&paths)?;
            let epoch_eval = match (eval_train, eval_test) {
                (Some(train), Some(test)) => Some(trainer::EpochEval {
                    train: Labelled::from_folder(&train)?,
                    test: Labelled::from_folder(&test)?,
                }),
                _ => None,
            };
            let opts = TrainOptions {
                arch,
                init,
                input_size,
                dim,
                batch_size,
                epochs,
                lr,
                warmup_steps,
                temperature,
                koleo_weight: koleo,
                queue,
                hard_negatives,
                freeze_blocks,
                seed,
                augment: AugmentConfig::preset(&augment).expect("clap checked the name"),
                distill,
                ..TrainOptions::default()
            };
            let checkpoint = CheckpointOptions {
                path: checkpoint.unwrap_or_else(|| model_out.with_extension("ckpt.safetensors")),
                every: std::time::Duration::from_secs_f64(checkpoint_minutes * 60.0),
                resume,
            };
            let name = model_out
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "trained".into());
            let bar = progress::Bar::new(out.shows_progress());
            let report = trainer::train(
                &files,
                &opts,
                &checkpoint,
                &model_out,
                &name,
                epoch_eval.as_ref(),
                &bar,
            )?;
            bar.finish();
            let calibrated = if background_images > 0 {
                let opts = CalibrateOptions {
                    max_images: background_images,
                    seed,
                };
                let bar = progress::Bar::new(out.shows_progress());
                let report = bg::calibrate(&model_out, &files, &paths, &model_out, &opts, &bar)?;
                bar.finish();
                Some(report)
            } else {
                None
            };
            out.train_report(&report, calibrated.as_ref(), &model_out)?;
            Ok(EXIT_OK)
        }
        Command::Calibrate {
            paths,
            model,
            out: model_out,
            max_images,
            seed,
        } => {
            let files = eval::image_files_in(&paths)?;
            let opts = CalibrateOptions { max_images, seed };
            let bar = progress::Bar::new(out.shows_progress());
            let report = bg::calibrate(&model, &files, &paths, &model_out, &opts, &bar)?;
            bar.finish();
            out.calibrate_report(&report, &model_out)?;
            Ok(if report.skipped > 0 {
                EXIT_PARTIAL
            } else {
                EXIT_OK
            })
        }
        Command::Combine {
            query,
            copy,
            out: model_out,
            name,
        } => {
            let name = name.unwrap_or_else(|| {
                model_out
                    .file_stem()
                    .map_or("two-heads".into(), |s| s.to_string_lossy().into_owned())
            });
            let report = lookalike::model::heads::combine(&query, &copy, &name, &model_out)?;
            out.combine_report(&report, &model_out)?;
            Ok(EXIT_OK)
        }
        Command::Compact => {
            let mut index = Index::open(&cli.index, wait)?;
            let report = index.compact()?;
            out.compact_report(&report)?;
            Ok(EXIT_OK)
        }
        Command::Verify => {
            let mut index = Index::open(&cli.index, wait)?;
            announce_rebuild(&mut index, out)?;
            let problems = index.verify()?;
            out.verify_report(&problems)?;
            Ok(if problems.is_empty() {
                EXIT_OK
            } else {
                EXIT_FATAL
            })
        }
        Command::Info => {
            let mut index = Index::open(&cli.index, wait)?;
            let stats = index.stats()?;
            note_rebuild(&index, out);
            out.info(&stats)?;
            Ok(EXIT_OK)
        }
    }
}

fn run_eval(what: EvalCommand, out: &Out) -> Result<u8> {
    let bar = progress::Bar::new(out.shows_progress());
    match what {
        EvalCommand::Retrieval {
            dir,
            train,
            test,
            method,
            model,
        } => {
            let encoder = model.load()?;
            let methods = methods_for(&method, &encoder)?;
            let (train, test) = match (dir, train, test) {
                (Some(d), _, _) => (None, Labelled::from_folder(&d)?),
                (None, Some(tr), Some(te)) => (
                    Some(Labelled::from_folder(&tr)?),
                    Labelled::from_folder(&te)?,
                ),
                _ => anyhow::bail!("give a labelled folder, or --train and --test"),
            };
            let report = retrieval::evaluate(train.as_ref(), &test, &methods, &encoder, &bar)?;
            bar.finish();
            out.retrieval_report(&report, &encoder.info().id())?;
            Ok(if report.skipped > 0 {
                EXIT_PARTIAL
            } else {
                EXIT_OK
            })
        }
        EvalCommand::Copies {
            dir,
            distractors,
            method,
            seed,
            max_side,
            plot,
            save_copies,
            background,
            model,
        } => {
            let mut encoder = model.load()?;
            if let Some(dir) = &background {
                let files = eval::image_files(dir)?;
                let (set, _) = bg::build(&encoder, &files, &CalibrateOptions::default(), &bar)?;
                encoder.set_background(set);
            }
            let methods = methods_for(&method, &encoder)?;
            let originals = eval::image_files(&dir)?;
            let distractors = match distractors {
                Some(d) => eval::image_files(&d)?,
                None => Vec::new(),
            };
            let opts = CopiesOptions {
                seed,
                max_side,
                save_copies,
                ..CopiesOptions::default()
            };
            let report =
                copies::evaluate(&originals, &distractors, &methods, &encoder, &opts, &bar)?;
            bar.finish();
            if let Some(path) = &plot {
                eval::plot::precision_recall_svg(&report, path)?;
            }
            out.copies_report(&report, &encoder.info().id())?;
            Ok(if report.skipped > 0 {
                EXIT_PARTIAL
            } else {
                EXIT_OK
            })
        }
    }
}

/// The methods of a `--method` list; `all` leaves out the methods that need a background set
/// when the encoder has none (naming one is an error then).
fn methods_for(spec: &str, encoder: &Encoder) -> Result<Vec<Method>> {
    let mut methods = Method::parse_list(spec).map_err(|e| anyhow::anyhow!(e))?;
    let named: Vec<&str> = spec.split(',').map(str::trim).collect();
    if !encoder.has_background() {
        methods.retain(|m| !m.needs_background() || named.contains(&m.name()));
    }
    Ok(methods)
}

/// Query images up to which `query` scans the flat vector file instead of loading the graph.
const EXACT_QUERIES_MAX: usize = 16;

/// Opens an index for querying and checks that it was built with `encoder`.
/// The embedding of each query image, `None` (with a warning) for one that cannot be read.
/// A query image's descriptor and its picture as prepared for the encoder.
type Embedded = (Vec<f32>, decode::PreparedImage);

/// Each query image embedded (`None`, with a warning, for an image that cannot be read).
fn embed_queries(
    encoder: &Encoder,
    images: &[PathBuf],
    out: &Out,
) -> Result<Vec<Option<Embedded>>> {
    let opts = DecodeOptions::new(encoder.info().input_size as u32);
    let prepared = decode::prepare_files(images, &opts);
    let mut vectors = Vec::with_capacity(images.len());
    for (path, image) in images.iter().zip(prepared) {
        match image {
            Ok(img) => {
                let vector = encoder
                    .embed(std::slice::from_ref(&img))?
                    .pop()
                    .flatten()
                    .with_context(|| {
                        format!(
                            "{}: the encoder produced an unusable embedding",
                            path.display()
                        )
                    })?;
                vectors.push(Some((vector, img)));
            }
            Err(reason) => {
                out.warn(&format!("{}: {reason}", path.display()));
                vectors.push(None);
            }
        }
    }
    Ok(vectors)
}

/// The background set `dedup` scores with: that of `--model` (which must be the index's
/// model), or of the built-in encoder when the index was built with it; `None` (cosine
/// scoring) for a model without one.
fn dedup_background(
    index: &Index,
    model: Option<&Path>,
    out: &Out,
) -> Result<Option<Arc<lookalike::background::Background>>> {
    let encoder = match model {
        Some(path) => {
            let encoder = Encoder::from_file(path)?;
            index.check_model(encoder.info())?;
            encoder
        }
        None => {
            let encoder = Encoder::default_model()?;
            if index.check_model(encoder.info()).is_err() {
                out.note(
                    "the index was built with another model: scoring by cosine similarity \
                     (pass --model FILE to use its background set)",
                );
                return Ok(None);
            }
            encoder
        }
    };
    Ok(encoder.background()?.cloned().map(Arc::new))
}

/// Loads the graph, telling the user when it had to be rebuilt from the database.
fn announce_rebuild(index: &mut Index, out: &Out) -> Result<()> {
    index.graph()?;
    note_rebuild(index, out);
    Ok(())
}

/// Tells the user when the graph had to be rebuilt from the database (by work that needed it).
fn note_rebuild(index: &Index, out: &Out) {
    if let Some(problem) = index.graph_rebuilt_because() {
        out.note(&format!("{problem}: rebuilt the graph from the database"));
    }
}
