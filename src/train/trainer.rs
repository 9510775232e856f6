//! The training loop: a loader thread decodes and augments pairs of views in parallel while
//! the calling thread runs forward, backward and AdamW; checkpoints are written every few
//! minutes (atomically) and a run resumes from one at the step it reached. Data order and
//! augmentations are drawn from `(seed, step, index)`, so a resumed run continues exactly.

use super::augment::{random_view, AugmentConfig};
use super::hard;
use super::loss::{koleo, nt_xent, similarity_distillation};
use super::net::{preload, TrainNet};
use super::optim::{learning_rate, AdamW};
use super::projection::{self, AxesSummary, ProjectionInit};
use crate::error::{Error, Result};
use crate::eval::methods::Method;
use crate::eval::retrieval::{self, Labelled};
use crate::ingest::decode::{self, DecodeOptions};
use crate::model::{
    save_safetensors, Encoder, ARCH_LITE0_DESCRIPTOR, HEAD_PROJECTION, IMAGENET_MODEL,
};
use crate::progress::NoProgress;
use crate::progress::Progress;
use candle_core::Var;
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Everything that defines a training run (saved in the model's metadata as the recipe).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TrainOptions {
    /// `efficientnet-lite0-gem` (from pretrained weights) or `small-cnn` (from scratch).
    #[serde(default = "default_arch")]
    pub arch: String,
    /// Pretrained weights to start from; `None`: the embedded ImageNet weights.
    pub init: Option<PathBuf>,
    pub input_size: usize,
    pub dim: usize,
    pub gem_p: f64,
    /// Images per step (each gives two views).
    pub batch_size: usize,
    pub epochs: usize,
    pub lr: f64,
    pub warmup_steps: usize,
    pub weight_decay: f64,
    pub temperature: f64,
    pub koleo_weight: f64,
    /// Embeddings of earlier steps kept as extra negatives (0: none). The queue starts empty
    /// again when a run resumes.
    #[serde(default)]
    pub queue: usize,
    /// Batches made of groups of this many mutually similar photos (found by the `init`
    /// encoder, else the ImageNet one; see [`super::hard`]); 0 or 1: random batches.
    #[serde(default)]
    pub hard_negatives: usize,
    pub freeze_blocks: usize,
    pub seed: u64,
    pub augment: AugmentConfig,
    /// Weight of the similarity distillation towards the ImageNet encoder's descriptors of
    /// the same views ([`super::loss::similarity_distillation`]); 0: none. Keeps what the
    /// starting features know while the contrastive loss adds to it.
    #[serde(default)]
    pub distill: f64,
    /// Where the descriptor projection starts (see [`super::projection`]).
    #[serde(default)]
    pub init_projection: ProjectionInit,
}

fn default_arch() -> String {
    ARCH_LITE0_DESCRIPTOR.to_string()
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            arch: default_arch(),
            init: None,
            input_size: 224,
            dim: 256,
            gem_p: 3.0,
            batch_size: 32,
            epochs: 1,
            lr: 1e-3,
            warmup_steps: 50,
            weight_decay: 1e-4,
            temperature: 0.1,
            koleo_weight: 0.1,
            queue: 0,
            hard_negatives: 0,
            freeze_blocks: 0,
            seed: 1,
            augment: AugmentConfig::default(),
            distill: 0.0,
            init_projection: ProjectionInit::Random,
        }
    }
}

/// The values [`TrainOptions::check`] accepts; the command line refuses others as it parses.
pub mod limits {
    use std::ops::RangeInclusive;

    /// Input side in pixels.
    pub const INPUT_SIZE: RangeInclusive<usize> = 32..=1024;
    /// Descriptor dimension.
    pub const DIM: RangeInclusive<usize> = 8..=4096;
    /// Images per step: at least two, so that every view has a negative.
    pub const BATCH_SIZE: RangeInclusive<usize> = 2..=4096;
    pub const EPOCHS: RangeInclusive<usize> = 1..=10_000;
    pub const WARMUP_STEPS: RangeInclusive<usize> = 0..=1_000_000;
    pub const QUEUE: RangeInclusive<usize> = 0..=1_000_000;
    /// Group size of hard-negative batches (also at most the batch size).
    pub const HARD_NEGATIVES: RangeInclusive<usize> = 0..=4096;
    /// EfficientNet-Lite0 has 16 blocks.
    pub const FREEZE_BLOCKS: RangeInclusive<usize> = 0..=16;
    /// The learning rate is above 0 and at most this.
    pub const MAX_LR: f64 = 1.0;
    /// The temperature is above 0 and at most this.
    pub const MAX_TEMPERATURE: f64 = 10.0;
    /// Loss weights (KoLeo, distillation) are 0 to this.
    pub const MAX_LOSS_WEIGHT: f64 = 100.0;
}

impl TrainOptions {
    /// Refuses values no run can use (a batch of one, a zero temperature, a NaN rate...),
    /// naming the option, its value and the range it must lie in.
    pub fn check(&self) -> Result<()> {
        fn count(name: &str, value: usize, range: std::ops::RangeInclusive<usize>) -> Result<()> {
            if range.contains(&value) {
                return Ok(());
            }
            Err(Error::InvalidArgument(format!(
                "{name} is {value}; it must be in {}..={}",
                range.start(),
                range.end()
            )))
        }
        fn real(name: &str, value: f64, zero_allowed: bool, max: f64) -> Result<()> {
            let low_ok = if zero_allowed {
                value >= 0.0
            } else {
                value > 0.0
            };
            if low_ok && value <= max {
                return Ok(());
            }
            let low = if zero_allowed { "from 0" } else { "above 0" };
            Err(Error::InvalidArgument(format!(
                "{name} is {value}; it must be {low} and at most {max}"
            )))
        }
        count("the input size", self.input_size, limits::INPUT_SIZE)?;
        count("the descriptor dimension", self.dim, limits::DIM)?;
        count("the batch size", self.batch_size, limits::BATCH_SIZE)?;
        count("the number of epochs", self.epochs, limits::EPOCHS)?;
        count("the warm-up", self.warmup_steps, limits::WARMUP_STEPS)?;
        count("the queue", self.queue, limits::QUEUE)?;
        count(
            "the hard-negative group",
            self.hard_negatives,
            limits::HARD_NEGATIVES,
        )?;
        count(
            "the number of frozen blocks",
            self.freeze_blocks,
            limits::FREEZE_BLOCKS,
        )?;
        real("the learning rate", self.lr, false, limits::MAX_LR)?;
        real(
            "the temperature",
            self.temperature,
            false,
            limits::MAX_TEMPERATURE,
        )?;
        real(
            "the KoLeo weight",
            self.koleo_weight,
            true,
            limits::MAX_LOSS_WEIGHT,
        )?;
        real(
            "the distillation weight",
            self.distill,
            true,
            limits::MAX_LOSS_WEIGHT,
        )?;
        if self.hard_negatives > self.batch_size {
            return Err(Error::InvalidArgument(format!(
                "the hard-negative group ({}) is larger than the batch ({})",
                self.hard_negatives, self.batch_size
            )));
        }
        Ok(())
    }
}

/// Where checkpoints go and how often.
#[derive(Debug, Clone)]
pub struct CheckpointOptions {
    pub path: PathBuf,
    pub every: Duration,
    /// Continue from `path` if it exists.
    pub resume: bool,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub images: usize,
    pub steps: usize,
    /// Step the run started from (0, or the checkpoint's step).
    pub resumed_from: usize,
    /// Mean loss over the last (up to) 20 steps.
    pub final_loss: f64,
    /// Images per second (each image is two views) over this run's steps.
    pub images_per_s: f64,
    pub elapsed_s: f64,
    /// Retrieval figures after each epoch (epoch 0: before training), when asked for.
    pub epochs: Vec<EpochScores>,
    /// What hard-negative mining found (`None`: random batches).
    pub hard_negatives: Option<hard::MiningSummary>,
    /// What the projection's principal axes were computed from (`None`: not asked, or a
    /// resumed run).
    pub projection: Option<AxesSummary>,
}

/// Labelled folders to measure k-NN retrieval on after every epoch (the test images query the
/// train images; see [`retrieval::evaluate`]).
pub struct EpochEval {
    pub train: Labelled,
    pub test: Labelled,
}

/// Figures of the model after one epoch.
#[derive(Debug, Clone, Serialize)]
pub struct EpochScores {
    pub epoch: usize,
    /// Mean loss over the epoch's steps (`None` for epoch 0).
    pub mean_loss: Option<f64>,
    pub knn_accuracy: f64,
    pub precision_at_1: f64,
    pub precision_at_10: f64,
}

const CHECKPOINT_STEP: &str = "lookalike.checkpoint_step";

/// The image order of `epoch`, a permutation drawn from the seed.
fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(
        seed ^ (epoch as u64).wrapping_mul(0xA24B_AED4_963E_E407),
    ));
    order
}

/// Two normalised views of each image of one step: `(2B, 3, S, S)` values, views of image `i`
/// at rows `i` and `B + i`. Unreadable files are replaced by the next file in the list.
fn load_batch(files: &[PathBuf], indices: &[usize], step: usize, opts: &TrainOptions) -> Vec<f32> {
    let side = opts.input_size as u32;
    let decode_opts = DecodeOptions::new(side);
    let per_view = 3 * opts.input_size * opts.input_size;
    let views: Vec<(Vec<f32>, Vec<f32>)> = indices
        .par_iter()
        .enumerate()
        .map(|(i, &index)| {
            let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ ((step as u64) << 20) ^ i as u64);
            let img = (0..files.len().min(16))
                .find_map(|k| {
                    let path = &files[(index + k) % files.len()];
                    std::fs::read(path)
                        .ok()
                        .and_then(|b| decode::decode_upright(&b, 2 * side, &decode_opts).ok())
                })
                .unwrap_or_else(|| {
                    image::RgbImage::from_pixel(side, side, image::Rgb([127, 127, 127]))
                });
            let to_chw = |v: image::RgbImage| -> Vec<f32> {
                let s = side as usize * side as usize;
                let mut out = vec![0f32; 3 * s];
                for (p, px) in v.pixels().enumerate() {
                    for c in 0..3 {
                        out[c * s + p] = (px[c] as f32 - 127.0) / 128.0;
                    }
                }
                out
            };
            let a = to_chw(random_view(&img, side, &opts.augment, &mut rng));
            let b = to_chw(random_view(&img, side, &opts.augment, &mut rng));
            (a, b)
        })
        .collect();
    let mut data = Vec::with_capacity(2 * views.len() * per_view);
    data.extend(views.iter().flat_map(|(a, _)| a.iter().copied()));
    data.extend(views.iter().flat_map(|(_, b)| b.iter().copied()));
    data
}

fn write_atomically(
    path: &Path,
    tensors: &HashMap<String, Tensor>,
    meta: &[(&str, String)],
) -> Result<()> {
    let tmp = path.with_extension("tmp");
    save_safetensors(tensors, meta, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Measures the current weights on `eval` (through the inference encoder, as users run them).
fn score_epoch(
    tensors: &HashMap<String, Tensor>,
    meta: &[(&str, String)],
    scratch: &Path,
    eval: &EpochEval,
    epoch: usize,
    mean_loss: Option<f64>,
) -> Result<EpochScores> {
    save_safetensors(tensors, meta, scratch)?;
    let encoder = Encoder::from_file(scratch);
    let _ = std::fs::remove_file(scratch);
    let report = retrieval::evaluate(
        Some(&eval.train),
        &eval.test,
        &[Method::Encoder],
        &encoder?,
        None,
        &NoProgress,
    )?;
    let m = &report.methods[0];
    Ok(EpochScores {
        epoch,
        mean_loss,
        knn_accuracy: m.knn_accuracy,
        precision_at_1: m.precision_at_1,
        precision_at_10: m.precision_at_10,
    })
}

/// Trains a descriptor on `files` and writes it to `out`; with `epoch_eval`, measures k-NN
/// retrieval before training and after every epoch.
pub fn train(
    files: &[PathBuf],
    opts: &TrainOptions,
    checkpoint: &CheckpointOptions,
    out: &Path,
    name: &str,
    epoch_eval: Option<&EpochEval>,
    progress: &dyn Progress,
) -> Result<TrainReport> {
    opts.check()?;
    if files.len() < 2 {
        return Err(Error::InvalidArgument(format!(
            "training needs at least 2 images, found {}",
            files.len()
        )));
    }
    let device = Device::Cpu;
    let batch = opts.batch_size.clamp(2, files.len());
    let steps_per_epoch = (files.len() / batch).max(1);
    let total_steps = steps_per_epoch * opts.epochs.max(1);

    // Weights: a checkpoint to resume, else the initial weights.
    let varmap = VarMap::new();
    let mut start_step = 0;
    let mut opt_state = HashMap::new();
    let mut axes_summary = None;
    if checkpoint.resume && checkpoint.path.exists() {
        let bytes = std::fs::read(&checkpoint.path).map_err(|e| Error::io(&checkpoint.path, e))?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| Error::model(format!("checkpoint {}", checkpoint.path.display()), e))?;
        start_step = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(CHECKPOINT_STEP))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::model("checkpoint", "it records no step"))?;
        let arch = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("lookalike.arch"))
            .cloned()
            .unwrap_or_default();
        if arch != opts.arch {
            return Err(Error::InvalidArgument(format!(
                "checkpoint {} is of architecture `{arch}`, not `{}`",
                checkpoint.path.display(),
                opts.arch
            )));
        }
        let tensors = candle_core::safetensors::load_buffer(&bytes, &device)?;
        preload(&varmap, &tensors, &["adamw."])?;
        opt_state = tensors
            .into_iter()
            .filter(|(n, _)| n.starts_with("adamw."))
            .collect();
    } else if opts.arch == ARCH_LITE0_DESCRIPTOR {
        let tensors = match &opts.init {
            Some(p) => candle_core::safetensors::load(p, &device)?,
            None => candle_core::safetensors::load_buffer(IMAGENET_MODEL, &device)?,
        };
        // A two-head file starts from its query head (its tensors have the usual names).
        preload(
            &varmap,
            &tensors,
            &["_fc.", crate::model::heads::COPY_PREFIX],
        )?;
        if opts.init_projection == ProjectionInit::Pca {
            let start = match &opts.init {
                Some(p) => Encoder::from_file(p)?,
                None => Encoder::imagenet()?,
            };
            let (axes, summary) =
                projection::principal_axes(files, &start, opts.gem_p, opts.dim, progress)?;
            varmap
                .data()
                .lock()
                .expect("var map lock")
                .insert(HEAD_PROJECTION.to_string(), Var::from_tensor(&axes)?);
            axes_summary = Some(summary);
        }
    } else if opts.init.is_some()
        || opts.freeze_blocks > 0
        || opts.init_projection == ProjectionInit::Pca
    {
        return Err(Error::InvalidArgument(format!(
            "`{}` trains from scratch: --init, --freeze-blocks and --init-projection pca apply \
             to {ARCH_LITE0_DESCRIPTOR}",
            opts.arch
        )));
    }
    let net = TrainNet::new(
        &opts.arch,
        &varmap,
        opts.dim,
        opts.gem_p,
        opts.freeze_blocks,
        &device,
    )
    .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let named: Vec<(String, candle_core::Var)> = {
        let trainable = net.trainable(&varmap);
        let data = varmap.data().lock().expect("var map lock");
        data.iter()
            .filter(|(_, v)| {
                trainable
                    .iter()
                    .any(|t| t.as_tensor().id() == v.as_tensor().id())
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    };
    let mut opt = AdamW::new(named, opts.weight_decay)?;
    opt.restore(&opt_state, start_step)?;

    let recipe = serde_json::to_string(opts).expect("options serialise");
    let checkpoint_meta = |step: usize| -> Vec<(&str, String)> {
        vec![
            ("checkpoint_step", step.to_string()),
            ("recipe", recipe.clone()),
            ("arch", net.arch().into()),
        ]
    };
    let model_meta = |steps: usize| -> Vec<(&str, String)> {
        let mut meta = vec![
            ("name", name.to_string()),
            ("arch", net.arch().to_string()),
            ("input_size", opts.input_size.to_string()),
            ("dim", opts.dim.to_string()),
            ("gem_p", opts.gem_p.to_string()),
            ("recipe", recipe.clone()),
            ("data", format!("{} images", files.len())),
            ("steps", steps.to_string()),
            ("date", crate::model::now_rfc3339()),
        ];
        if opts.arch == ARCH_LITE0_DESCRIPTOR {
            meta.push((
                "license",
                "Apache-2.0 (derived from EfficientNet-Lite0 ImageNet weights)".to_string(),
            ));
        }
        meta
    };
    let scratch = out.with_extension("epoch.tmp");
    let mut epochs = Vec::new();
    if let Some(eval) = epoch_eval {
        if start_step == 0 {
            progress.status("measuring the initial weights");
            epochs.push(score_epoch(
                &net.tensors(&varmap)?,
                &model_meta(0),
                &scratch,
                eval,
                0,
                None,
            )?);
        }
    }
    let mut epoch_losses: Vec<f64> = Vec::new();
    // Hard-negative groups, mined with the initial weights (so a resumed run mines the same).
    let (neighbours, mined) = if opts.hard_negatives > 1 {
        let miner = match &opts.init {
            Some(p) if opts.arch == ARCH_LITE0_DESCRIPTOR => Encoder::from_file(p)?,
            _ => Encoder::imagenet()?,
        };
        let (lists, summary) = hard::mine(&miner, files, progress)?;
        (Some(lists), Some(summary))
    } else {
        (None, None)
    };
    let order_of = |epoch: usize| {
        let base = epoch_order(files.len(), opts.seed, epoch);
        match &neighbours {
            Some(lists) => hard::grouped_order(
                lists,
                &base,
                opts.hard_negatives,
                opts.seed ^ 0x5EED ^ epoch as u64,
            ),
            None => base,
        }
    };

    progress.start("training", total_steps);
    progress.advance(start_step);
    let start = Instant::now();
    let mut last_checkpoint = Instant::now();
    let mut recent: Vec<f64> = Vec::new();
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<f32>)>(2);
    let pool = decode::decode_pool(std::thread::available_parallelism().map_or(2, |n| n.get()));
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(move || {
            pool.install(|| {
                let mut order = Vec::new();
                let mut order_epoch = usize::MAX;
                for step in start_step..total_steps {
                    let epoch = step / steps_per_epoch;
                    if epoch != order_epoch {
                        order = order_of(epoch);
                        order_epoch = epoch;
                    }
                    let at = (step % steps_per_epoch) * batch;
                    let data = load_batch(files, &order[at..at + batch], step, opts);
                    if tx.send((step, data)).is_err() {
                        return;
                    }
                }
            })
        });
        let mut queue: Option<Tensor> = None;
        let teacher = if opts.distill > 0.0 {
            Some(Encoder::imagenet()?)
        } else {
            None
        };
        for (step, data) in rx {
            let s = opts.input_size;
            let x = Tensor::from_vec(data, (2 * batch, 3, s, s), &device)?;
            let z = net.forward(&x, true)?;
            let mut loss = nt_xent(&z, queue.as_ref(), opts.temperature)?;
            if opts.queue > 0 {
                let fresh = z.detach();
                let all = match &queue {
                    Some(q) => Tensor::cat(&[&fresh, q], 0)?,
                    None => fresh,
                };
                let keep = all.dim(0)?.min(opts.queue);
                queue = Some(all.narrow(0, 0, keep)?);
            }
            if opts.koleo_weight > 0.0 {
                loss = (loss + (koleo(&z, 1e-8)? * opts.koleo_weight)?)?;
            }
            if let Some(teacher) = &teacher {
                let t = teacher.features(&x)?;
                let norm = t.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
                let t = t.broadcast_div(&norm)?;
                let kd = similarity_distillation(&z, &t, opts.temperature)?;
                loss = (loss + (kd * opts.distill)?)?;
            }
            let grads = loss.backward()?;
            opt.step(
                &grads,
                learning_rate(opts.lr, step, opts.warmup_steps, total_steps),
            )?;
            let value = loss.to_scalar::<f32>()? as f64;
            recent.push(value);
            if recent.len() > 20 {
                recent.remove(0);
            }
            epoch_losses.push(value);
            if let (Some(eval), true) = (epoch_eval, (step + 1) % steps_per_epoch == 0) {
                let mean = epoch_losses.iter().sum::<f64>() / epoch_losses.len() as f64;
                epochs.push(score_epoch(
                    &net.tensors(&varmap)?,
                    &model_meta(step + 1),
                    &scratch,
                    eval,
                    (step + 1) / steps_per_epoch,
                    Some(mean),
                )?);
                epoch_losses.clear();
            }
            progress.advance(1);
            let done = (step + 1 - start_step) * batch;
            let knn = epochs
                .last()
                .map(|e| format!(", k-NN {:.3} after epoch {}", e.knn_accuracy, e.epoch))
                .unwrap_or_default();
            progress.status(&format!(
                "epoch {} loss {value:.4}, {:.1} images/s{knn}",
                step / steps_per_epoch + 1,
                done as f64 / start.elapsed().as_secs_f64().max(1e-9)
            ));
            if last_checkpoint.elapsed() >= checkpoint.every || step + 1 == total_steps {
                let mut tensors = net.tensors(&varmap)?;
                tensors.extend(opt.state());
                write_atomically(&checkpoint.path, &tensors, &checkpoint_meta(step + 1))?;
                last_checkpoint = Instant::now();
            }
        }
        Ok(())
    })?;

    write_atomically(out, &net.tensors(&varmap)?, &model_meta(total_steps))?;
    let elapsed = start.elapsed().as_secs_f64();
    let steps_run = total_steps - start_step;
    Ok(TrainReport {
        images: files.len(),
        steps: total_steps,
        resumed_from: start_step,
        final_loss: recent.iter().sum::<f64>() / recent.len().max(1) as f64,
        images_per_s: (steps_run * batch) as f64 / elapsed.max(1e-9),
        elapsed_s: elapsed,
        epochs,
        hard_negatives: mined,
        projection: axes_summary,
    })
}

#[cfg(test)]
mod tests {
    use super::TrainOptions;

    #[test]
    fn options_no_run_can_use_are_refused_by_name() {
        assert!(TrainOptions::default().check().is_ok());
        let refused = |edit: &dyn Fn(&mut TrainOptions), words: &str| {
            let mut opts = TrainOptions::default();
            edit(&mut opts);
            let e = opts.check().expect_err(words).to_string();
            assert!(e.contains(words), "{e}");
        };
        refused(
            &|o| o.batch_size = 1,
            "the batch size is 1; it must be in 2..=4096",
        );
        refused(&|o| o.epochs = 0, "the number of epochs is 0");
        refused(&|o| o.input_size = 8, "the input size is 8");
        refused(&|o| o.dim = 100_000, "the descriptor dimension is 100000");
        refused(&|o| o.freeze_blocks = 17, "0..=16");
        refused(&|o| o.lr = f64::NAN, "the learning rate is NaN");
        refused(&|o| o.lr = 0.0, "above 0");
        refused(&|o| o.temperature = -0.1, "the temperature");
        refused(&|o| o.koleo_weight = f64::INFINITY, "the KoLeo weight");
        refused(&|o| o.distill = -1.0, "from 0");
        refused(
            &|o| {
                o.batch_size = 8;
                o.hard_negatives = 16;
            },
            "the hard-negative group (16) is larger than the batch (8)",
        );
    }
}
