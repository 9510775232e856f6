//! The commands that make models: `train` (contrastive training), `calibrate` (a background
//! set) and `combine` (two models joined into one with a head per task).

use super::output::{path_text, Out};
use super::{numbers, progress};
use super::{EXIT_OK, EXIT_PARTIAL};
use anyhow::Result;
use clap::Args;
use lookalike::eval;
use lookalike::eval::retrieval::Labelled;
use lookalike::model::background::{self as bg, CalibrateOptions, CalibrateReport};
use lookalike::model::heads::CombineReport;
use lookalike::train::augment::AugmentConfig;
use lookalike::train::projection::ProjectionInit;
use lookalike::train::trainer::{self, limits, CheckpointOptions, TrainOptions, TrainReport};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The longest interval between checkpoints: a week.
const MAX_CHECKPOINT_MINUTES: f64 = 7.0 * 24.0 * 60.0;
/// The largest background set `train` and `calibrate` describe.
const MAX_BACKGROUND_IMAGES: usize = 1_000_000;

/// The arguments of `train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
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
    /// Passes over the photos (1 to 10000)
    #[arg(allow_negative_numbers = true, long, default_value_t = TrainOptions::default().epochs,
          value_parser = numbers::count(limits::EPOCHS))]
    epochs: usize,
    /// Images per step, two views each (2 to 4096)
    #[arg(allow_negative_numbers = true, long, default_value_t = TrainOptions::default().batch_size,
          value_parser = numbers::count(limits::BATCH_SIZE))]
    batch_size: usize,
    /// Input side in pixels (32 to 1024)
    #[arg(allow_negative_numbers = true, long, default_value_t = TrainOptions::default().input_size,
          value_parser = numbers::count(limits::INPUT_SIZE))]
    input_size: usize,
    /// Descriptor dimension (8 to 4096)
    #[arg(allow_negative_numbers = true, long, default_value_t = TrainOptions::default().dim,
          value_parser = numbers::count(limits::DIM))]
    dim: usize,
    /// Peak learning rate (above 0, at most 1)
    #[arg(allow_negative_numbers = true, long, default_value_t = TrainOptions::default().lr,
          value_parser = numbers::positive::<f64>(limits::MAX_LR))]
    lr: f64,
    /// Steps over which the learning rate rises to its peak
    #[arg(allow_negative_numbers = true, long, default_value_t = TrainOptions::default().warmup_steps,
          value_parser = numbers::count(limits::WARMUP_STEPS))]
    warmup_steps: usize,
    /// Temperature of the contrastive loss (above 0, at most 10)
    #[arg(allow_negative_numbers = true, long, default_value_t = TrainOptions::default().temperature,
          value_parser = numbers::positive::<f64>(limits::MAX_TEMPERATURE))]
    temperature: f64,
    /// Weight of the KoLeo (entropy) regulariser (0 to 100)
    #[arg(allow_negative_numbers = true, long, default_value_t = TrainOptions::default().koleo_weight,
          value_parser = numbers::within::<f64>(0.0, limits::MAX_LOSS_WEIGHT))]
    koleo: f64,
    /// Augmentations: copy (SimCLR views plus copy-style edits: blur, noise, JPEG,
    /// rotations, overlays, padding, downscaling) or semantic (SimCLR views only)
    #[arg(long, default_value = "copy", value_parser = ["copy", "semantic"])]
    augment: String,
    /// Keep the embeddings of the last N views as extra negatives (helps small batches)
    #[arg(allow_negative_numbers = true, long, default_value_t = 0, value_name = "N", value_parser = numbers::count(limits::QUEUE))]
    queue: usize,
    /// Build batches from groups of N mutually similar photos (found before training by
    /// the --init encoder, else the ImageNet one), so that distinct photos of one scene
    /// are negatives of each other; 0: random batches
    #[arg(allow_negative_numbers = true, long, default_value_t = 0, value_name = "N",
          value_parser = numbers::count(limits::HARD_NEGATIVES))]
    hard_negatives: usize,
    /// Train only blocks N and later (and the head); 0 to 16
    #[arg(allow_negative_numbers = true, long, default_value_t = 0, value_name = "N",
          value_parser = numbers::count(limits::FREEZE_BLOCKS))]
    freeze_blocks: usize,
    /// Weight of a similarity distillation towards the ImageNet encoder: each view's
    /// neighbours in the batch stay what the ImageNet descriptors say, so training adds
    /// to the starting features instead of replacing them; 0: none
    #[arg(allow_negative_numbers = true, long, default_value_t = 0.0, value_name = "W",
          value_parser = numbers::within::<f64>(0.0, limits::MAX_LOSS_WEIGHT))]
    distill: f64,
    /// Where the descriptor projection starts: random (or the --init model's own), or pca:
    /// the principal axes of the starting network's features of the photos, so that the
    /// descriptor starts as the best linear summary of what the network already sees
    #[arg(long, default_value = "random", value_name = "HOW", value_parser = ProjectionInit::NAMES)]
    init_projection: String,
    #[arg(long, default_value_t = TrainOptions::default().seed)]
    seed: u64,
    /// Checkpoint file [default: OUT with .ckpt.safetensors]
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Minutes between checkpoints
    #[arg(allow_negative_numbers = true, long, default_value_t = 5.0, value_name = "MIN",
          value_parser = numbers::positive::<f64>(MAX_CHECKPOINT_MINUTES))]
    checkpoint_minutes: f64,
    /// Continue from the checkpoint, if there is one
    #[arg(long)]
    resume: bool,
    /// After training, describe up to N of the training photos as the model's background
    /// set (see `lookalike calibrate`); 0: none
    #[arg(allow_negative_numbers = true, long, default_value_t = CalibrateOptions::default().max_images, value_name = "N",
          value_parser = numbers::count(0..=MAX_BACKGROUND_IMAGES))]
    background_images: usize,
}

/// Trains a model, then describes its background set unless `--background-images 0`.
pub fn train(args: TrainArgs, out: &Out) -> Result<u8> {
    let TrainArgs {
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
        init_projection,
        seed,
        checkpoint,
        checkpoint_minutes,
        resume,
        background_images,
    } = args;
    // Long work must not end in an unwritable output file.
    super::output::check_writable(&model_out)?;
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
        init_projection: ProjectionInit::from_name(&init_projection)
            .expect("clap checked the name"),
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

/// The arguments of `calibrate`.
#[derive(Args, Debug)]
pub struct CalibrateArgs {
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
    #[arg(allow_negative_numbers = true, long, default_value_t = CalibrateOptions::default().max_images, value_name = "N",
          value_parser = numbers::count(1..=MAX_BACKGROUND_IMAGES))]
    max_images: usize,
    #[arg(long, default_value_t = CalibrateOptions::default().seed)]
    seed: u64,
}

/// Writes a copy of a model with a background set; exit status 1 if photos were skipped.
pub fn calibrate(args: CalibrateArgs, out: &Out) -> Result<u8> {
    let CalibrateArgs {
        paths,
        model,
        out: model_out,
        max_images,
        seed,
    } = args;
    super::output::check_writable(&model_out)?;
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

/// The arguments of `combine`.
#[derive(Args, Debug)]
pub struct CombineArgs {
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
}

/// Joins a query model and a copy model into one two-head model.
pub fn combine(args: CombineArgs, out: &Out) -> Result<u8> {
    let CombineArgs {
        query,
        copy,
        out: model_out,
        name,
    } = args;
    super::output::check_writable(&model_out)?;
    let name = name.unwrap_or_else(|| {
        model_out
            .file_stem()
            .map_or("two-heads".into(), |s| s.to_string_lossy().into_owned())
    });
    let report = lookalike::model::heads::combine(&query, &copy, &name, &model_out)?;
    out.combine_report(&report, &model_out)?;
    Ok(EXIT_OK)
}

impl Out {
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
        if let Some(p) = &r.projection {
            text.push_str(&format!(
                "projection started on the first {} principal axes of {} photos ({} skipped): {:.1} % of the variance\n",
                p.axes,
                p.images,
                p.skipped,
                100.0 * p.explained_variance
            ));
        }
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
}
