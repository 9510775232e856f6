//! `lookalike eval`: measures retrieval on labelled folders and copy detection on generated
//! copies, and prints their reports.

use super::output::Out;
use super::{numbers, progress, ModelArg};
use super::{EXIT_OK, EXIT_PARTIAL};
use anyhow::Result;
use clap::{Args, Subcommand};
use lookalike::eval;
use lookalike::eval::copies::{self, CopiesOptions, CopiesReport};
use lookalike::eval::methods::Method;
use lookalike::eval::retrieval::{self, Labelled, RetrievalReport};
use lookalike::model::background::{self as bg, CalibrateOptions};
use lookalike::model::pretrained::Pretrained;
use lookalike::Encoder;
use std::path::PathBuf;

/// The arguments of `eval`: which evaluation.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(subcommand)]
    what: EvalCommand,
}

#[derive(Subcommand, Debug)]
pub enum EvalCommand {
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
        /// background set), pretrained (the model given with --model DIR or NAME, added
        /// first when one is given), mean-hash, gradient-hash, dct-hash, block-hash,
        /// raw-pixels, hashes, all
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
        #[arg(allow_negative_numbers = true, long, default_value_t = 1024, value_name = "PX",
              value_parser = numbers::count::<u32>(32..=16_384))]
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

/// Runs one evaluation; exit status 1 if some images were left out.
pub fn run(args: EvalArgs, out: &Out) -> Result<u8> {
    let bar = progress::Bar::new(out.shows_progress());
    match args.what {
        EvalCommand::Retrieval {
            dir,
            train,
            test,
            method,
            model,
        } => {
            let encoder = model.load()?;
            // With a pretrained model, its row comes first, beside the built-in encoder's.
            let pretrained = model
                .pretrained()?
                .map(|d| Pretrained::open(&d))
                .transpose()?;
            let method = match &pretrained {
                Some(_) if !method.split(',').any(|m| m.trim() == "pretrained") => {
                    format!("pretrained,{method}")
                }
                _ => method,
            };
            let methods = methods_for(&method, &encoder)?;
            let (train, test) = match (dir, train, test) {
                (Some(d), _, _) => (None, Labelled::from_folder(&d)?),
                (None, Some(tr), Some(te)) => (
                    Some(Labelled::from_folder(&tr)?),
                    Labelled::from_folder(&te)?,
                ),
                _ => anyhow::bail!("give a labelled folder, or --train and --test"),
            };
            let report = retrieval::evaluate(
                train.as_ref(),
                &test,
                &methods,
                &encoder,
                pretrained.as_ref(),
                &bar,
            )?;
            bar.finish();
            let models = match &pretrained {
                Some(p) => format!("{} (pretrained), {}", p.info().id(), encoder.info().id()),
                None => encoder.info().id(),
            };
            out.retrieval_report(&report, &models)?;
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
            if let Some(path) = &plot {
                super::output::check_writable(path)?;
            }
            if let Some(folder) = &save_copies {
                super::output::check_folder_target("--save-copies", folder)?;
            }
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

impl Out {
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
}
