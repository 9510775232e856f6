//! Pretrained encoders in the Hugging Face layout: CLIP (OpenAI and OpenCLIP
//! checkpoints), SigLIP and fixed-resolution SigLIP 2, DINOv2 with or without registers.
//!
//! Owns opening a model folder (`config.json`, `model.safetensors` in f32, f16 or bf16,
//! `preprocessor_config.json`, and for text models `tokenizer.json` with
//! `tokenizer_config.json`), checking every file against the others, and embedding images
//! and texts with it: [`Pretrained::open`], [`Pretrained::prepare`],
//! [`Pretrained::embed_pixels`], [`Pretrained::embed_text`].
//!
//! The port follows the transformers library's modelling code and image processors; it is
//! checked against reference outputs of tiny models that library wrote
//! (`tests/fixtures/models/`, `scripts/make-model-fixtures.py`). candle-transformers has
//! CLIP, SigLIP and DINOv2 too, but its CLIP knows only QuickGELU (OpenCLIP checkpoints use
//! GELU) and pools at the highest token id, and its DINOv2 reads the original repository's
//! tensor names at a fixed 518-pixel input; one tower here serves all three families, so
//! that one fast path does.
//!
//! Invariant: a model's identity is its folder name and the BLAKE3 of `model.safetensors`;
//! nothing here opens an index or prints.

pub mod config;
pub mod hub;
pub mod processor;
pub mod resample;
mod tokenize;
mod vit;
mod weights;

pub use config::{Family, ModelConfig};
pub use processor::Processor;

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use tokenize::TextInput;
use vit::{TextTower, VisionTower};
use weights::{problem, Weights};

/// What identifies a pretrained model and what it can do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PretrainedInfo {
    /// The model folder's name, e.g. `clip-vit-base-patch32`.
    pub name: String,
    pub family: Family,
    /// Dimension of the embeddings (image and text).
    pub dim: usize,
    /// Side of the square input in pixels.
    pub input_size: usize,
    /// BLAKE3 of `model.safetensors`, hex.
    pub weights_hash: String,
    /// Whether texts can be embedded (a text tower and a tokenizer).
    pub text: bool,
}

impl PretrainedInfo {
    /// `name@hash12`.
    pub fn id(&self) -> String {
        super::model_id(&self.name, &self.weights_hash)
    }
}

/// A loaded pretrained model.
pub struct Pretrained {
    info: PretrainedInfo,
    dir: PathBuf,
    config: ModelConfig,
    processor: Processor,
    vision: VisionTower,
    text: Option<(TextTower, TextInput)>,
}

impl std::fmt::Debug for Pretrained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pretrained")
            .field("info", &self.info)
            .finish()
    }
}

/// Whether `path` looks like a Hugging Face model folder (it holds `config.json`).
pub fn is_model_folder(path: &Path) -> bool {
    path.is_dir() && path.join("config.json").is_file()
}

impl Pretrained {
    /// Opens a model folder; every problem names the file and what is wrong with it.
    pub fn open(dir: &Path) -> Result<Pretrained> {
        if !dir.is_dir() {
            return Err(problem(dir, "not a model folder (expected a folder holding config.json, model.safetensors and preprocessor_config.json)"));
        }
        let needed = |name: &str| -> Result<PathBuf> {
            let p = dir.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                let hint = if name == "model.safetensors" && dir.join("pytorch_model.bin").exists()
                {
                    " (only pytorch_model.bin is there: lookalike reads safetensors only; download the model's model.safetensors)"
                } else {
                    ""
                };
                Err(problem(
                    &p,
                    format!("missing: a model folder needs {name}{hint}"),
                ))
            }
        };
        needed("config.json")?;
        let config = config::read(dir).map_err(|(path, e)| problem(&path, e))?;
        let processor_path = needed("preprocessor_config.json")?;
        let text =
            std::fs::read_to_string(&processor_path).map_err(|e| Error::io(&processor_path, e))?;
        let processor = Processor::parse(&text).map_err(|e| problem(&processor_path, e))?;
        let weights_path = needed("model.safetensors")?;
        let weights = Weights::open(&weights_path)?;

        let (h, w) = processor.output_size((1000, 1000));
        let input = h;
        let c = &config.vision;
        if h != w || input % c.patch_size != 0 {
            return Err(problem(
                &processor_path,
                format!("gives {h}x{w} pixels; the model needs a square whose side is a multiple of its patch size {}", c.patch_size),
            ));
        }
        if config.family != Family::Dinov2 && input != c.image_size {
            return Err(problem(
                &processor_path,
                format!(
                    "gives {input}-pixel images, but config.json's image_size is {}",
                    c.image_size
                ),
            ));
        }
        let vision = VisionTower::load(&weights, &config, input)?;
        let text = match &config.text {
            Some(tc) if dir.join("tokenizer.json").is_file() => {
                let tower = TextTower::load(&weights, &config, tc)?;
                let input = TextInput::open(dir, config.family, tower.context())?;
                Some((tower, input))
            }
            _ => None,
        };
        let weights_hash = blake3::Hasher::new()
            .update_mmap(weights.path())
            .map_err(|e| Error::io(weights.path(), e))?
            .finalize()
            .to_hex()
            .to_string();
        // A snapshot in a hub cache is named by its repository, any other folder by its name.
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let name = hub::name_in_cache(&canonical)
            .or_else(|| {
                canonical
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "model".into());
        Ok(Pretrained {
            info: PretrainedInfo {
                name,
                family: config.family,
                dim: config.image_dim(),
                input_size: input,
                weights_hash,
                text: text.is_some(),
            },
            dir: dir.to_path_buf(),
            config,
            processor,
            vision,
            text,
        })
    }

    pub fn info(&self) -> &PretrainedInfo {
        &self.info
    }

    /// The largest side a picture is decoded at before [`Pretrained::prepare`] (a JPEG at
    /// the DCT scale that covers it, anything larger shrunk to fit): pictures up to this
    /// size are prepared exactly as the model's image processor does; larger ones are
    /// shrunk first, for speed, which changes their embeddings slightly.
    pub fn decode_side(&self) -> u32 {
        (4 * self.info.input_size as u32).max(2048)
    }

    /// Reads, decodes (upright) and prepares an image file for the model. Never panics.
    pub fn prepare_file(
        &self,
        path: &Path,
        max_pixels: u64,
    ) -> std::result::Result<Vec<f32>, crate::SkipReason> {
        let bytes = std::fs::read(path).map_err(|e| crate::SkipReason::from_io(&e))?;
        let opts = crate::ingest::decode::DecodeOptions {
            max_pixels,
            ..crate::ingest::decode::DecodeOptions::new(self.info.input_size as u32)
        };
        let rgb = crate::ingest::decode::decode_upright(&bytes, self.decode_side(), &opts)?;
        Ok(self.prepare(&rgb))
    }

    /// Unit embeddings of image files, decoded in parallel on `pool` and embedded in chunks
    /// of 16 (memory stays bounded); for a file that cannot be decoded, the reason.
    pub fn embed_files(
        &self,
        files: &[&Path],
        pool: &rayon::ThreadPool,
        stage: &str,
        progress: &dyn crate::progress::Progress,
    ) -> Result<Vec<std::result::Result<Vec<f32>, crate::SkipReason>>> {
        use rayon::prelude::*;
        let max_pixels = crate::ingest::decode::DEFAULT_MAX_PIXELS;
        progress.start(stage, files.len());
        let mut out = Vec::with_capacity(files.len());
        for chunk in files.chunks(16) {
            let prepared: Vec<_> = pool.install(|| {
                chunk
                    .par_iter()
                    .map(|p| self.prepare_file(p, max_pixels))
                    .collect()
            });
            for (v, path) in self.embed_prepared(prepared)?.into_iter().zip(chunk) {
                if let Err(reason) = &v {
                    progress.skipped(path, reason);
                }
                out.push(v);
            }
            progress.advance(chunk.len());
        }
        Ok(out)
    }

    /// Unit embeddings of a batch of inputs, some of which could not be prepared: each input
    /// gives its embedding, each failure stays as it is, in order.
    pub fn embed_prepared<E>(
        &self,
        prepared: Vec<std::result::Result<Vec<f32>, E>>,
    ) -> Result<Vec<std::result::Result<Vec<f32>, E>>> {
        let pixels: Vec<f32> = prepared.iter().flatten().flatten().copied().collect();
        let count = prepared.iter().filter(|p| p.is_ok()).count();
        let mut vectors = if count > 0 {
            self.embed_pixels(&pixels, count)?.into_iter()
        } else {
            Vec::new().into_iter()
        };
        Ok(prepared
            .into_iter()
            .map(|p| p.map(|_| vectors.next().expect("one vector per input")))
            .collect())
    }

    /// The model's input, `(3, size, size)` values, for an upright RGB picture.
    pub fn prepare(&self, rgb: &image::RgbImage) -> Vec<f32> {
        let (w, h) = rgb.dimensions();
        self.processor.apply(rgb.as_raw(), w as usize, h as usize)
    }

    /// Unit-length embeddings of `count` prepared inputs laid end to end.
    pub fn embed_pixels(&self, pixels: &[f32], count: usize) -> Result<Vec<Vec<f32>>> {
        vit::normalise_rows(&self.vision.forward(pixels, count)?)
    }

    /// Embeddings as the model gives them (not normalised): what the references hold.
    pub fn raw_image_embeddings(&self, pixels: &[f32], count: usize) -> Result<Vec<Vec<f32>>> {
        Ok(self.vision.forward(pixels, count)?.to_vec2()?)
    }

    /// The token ids of `text` (special tokens added, truncated, not padded).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        self.text_tower()?.1.ids(text)
    }

    /// The text's embedding as the model gives it (not normalised).
    pub fn raw_text_embedding(&self, text: &str) -> Result<Vec<f32>> {
        let (tower, input) = self.text_tower()?;
        let tokens = input.tokens(text)?;
        tower.forward(&tokens.ids, tokens.keys.as_deref())
    }

    /// The text's unit-length embedding, comparable with the image embeddings.
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>> {
        crate::vector::normalised(self.raw_text_embedding(text)?).ok_or_else(|| {
            Error::model(
                self.info.id(),
                format!("the embedding of {text:?} is not usable (zero or not finite)"),
            )
        })
    }

    fn text_tower(&self) -> Result<&(TextTower, TextInput)> {
        self.text.as_ref().ok_or_else(|| {
            let why = match self.config.family {
                Family::Dinov2 => "DINOv2 has no text tower".to_string(),
                _ if self.config.text.is_none() => {
                    "this checkpoint holds the image tower only".to_string()
                }
                _ => format!(
                    "{} has no tokenizer.json",
                    crate::text::path_text(&self.dir)
                ),
            };
            Error::model(
                self.info.id(),
                format!(
                    "cannot embed text: {why}; use a CLIP or SigLIP 2 model with its tokenizer"
                ),
            )
        })
    }
}
