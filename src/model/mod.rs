//! Encoders: pixels to vectors.
//!
//! Owns loading weights (embedded or from a safetensors file) and their identity
//! ([`ModelInfo`]), embedding prepared images ([`Encoder::embed`]: L2-normalised, a two-head
//! model's two descriptors side by side, see [`Head`]), the networks ([`efficientnet`],
//! [`small_cnn`]) and their kernels ([`kernels`], [`ops`]), two-head models ([`heads`]), the
//! background set a model carries ([`background`]), and describing image sets in bounded
//! chunks ([`describe`]).
//!
//! The default encoder is compiled into the binary from `models/`; replacing it is the one
//! line that names [`DEFAULT_MODEL_FILE`]'s bytes. Every safetensors file written by lookalike
//! carries its description in the safetensors metadata (`lookalike.*` keys); plain PyTorch
//! conversions without it are recognised by their tensor names.
//!
//! Invariants: a model's identity is its name and the BLAKE3 of its file (the background set
//! included); nothing here opens an index or prints.
//!
//! Entry points: [`Encoder::default_model`], [`Encoder::from_file`], [`Encoder::embed`],
//! [`Encoder::background`], [`describe::describe_files`].

pub mod background;
pub mod describe;
pub mod efficientnet;
pub mod heads;
pub mod kernels;
pub mod ops;
pub mod pretrained;
pub mod small_cnn;

use crate::error::{Error, Result};
use crate::ingest::decode::PreparedImage;
use crate::model::background::Background;
use crate::vector::normalised;
use candle_core::{Device, Tensor};
use efficientnet::{Branch, EfficientNetLite0};
pub use kernels::Pooling;
use std::collections::HashMap;
use std::path::Path;

/// The default encoder compiled into the binary: EfficientNet-Lite0 fine-tuned by
/// `lookalike train`, with a head for query by example and one for copy detection
/// (see MODEL_CARD.md), f16.
pub static DEFAULT_MODEL: &[u8] =
    include_bytes!("../../models/lookalike-two-heads-lite0-v2-f16.safetensors");
/// Where [`DEFAULT_MODEL`] comes from, relative to the repository root.
pub const DEFAULT_MODEL_FILE: &str = "models/lookalike-two-heads-lite0-v2-f16.safetensors";
/// The name [`DEFAULT_MODEL`] records.
pub const DEFAULT_MODEL_NAME: &str = "lookalike-two-heads-lite0-v2";
/// EfficientNet-Lite0, ImageNet-supervised, classifier removed, f16: where training starts
/// (`lookalike train` without `--init`), and the reference the port is tested against.
pub static IMAGENET_MODEL: &[u8] =
    include_bytes!("../../models/efficientnet-lite0-imagenet-f16.safetensors");

/// The built-in models of earlier versions, by the BLAKE3 of their files: an index built
/// with one of them is moved to the built-in model of this version by `lookalike index`
/// (every photo embedded again), and refused by searches until then, instead of being
/// refused as another model's. The ImageNet encoder, still selectable, is not among them.
pub const EARLIER_DEFAULTS: &[(&str, &str)] = &[
    (
        "lookalike-copy-lite0 (2026-11-27)",
        "17e7b3fb0dbedc05365a79d49150a949b8bee98a400f7258165dd65ffca86643",
    ),
    (
        "lookalike-copy-lite0 (2026-12-01)",
        "c6c98ffbca2396436047b2c17a15d098b339b65230fdd0f36d7f4376fb445a08",
    ),
    (
        "lookalike-two-heads-lite0 (2026-12-02)",
        "5eef686a8d35843707220bbb0c764b72067f2f91ae4f696082f03d924077b57b",
    ),
];

/// Whether `info` is the built-in model of an earlier version.
pub fn is_earlier_default(info: &ModelInfo) -> bool {
    EARLIER_DEFAULTS
        .iter()
        .any(|(_, hash)| *hash == info.weights_hash)
}

/// BLAKE3 of [`DEFAULT_MODEL`], hex.
pub fn default_model_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| blake3::hash(DEFAULT_MODEL).to_hex().to_string())
}

/// Metadata key prefix of lookalike's own safetensors files.
pub const META_PREFIX: &str = "lookalike.";

/// What identifies an encoder and how to feed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    /// Human-readable model name, e.g. `efficientnet-lite0-imagenet`.
    pub name: String,
    /// Network architecture, e.g. `efficientnet-lite0`.
    pub arch: String,
    /// Side of the square input image in pixels.
    pub input_size: usize,
    /// Dimension of the stored vector (both heads' descriptors, for a two-head model).
    pub dim: usize,
    /// BLAKE3 of the weights file, hex.
    pub weights_hash: String,
    /// For a two-head model, the dimension of the copy head's descriptor, stored after the
    /// query head's (see [`Head`]); 0: one descriptor serves both tasks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub copy_dim: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What a descriptor is compared for. A two-head model has one head per task; a one-head
/// model's descriptor serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Query by example: photos that look alike (semantic neighbours welcome).
    Query,
    /// Copy detection: the same picture edited (`dedup`, `eval copies`, the background set).
    Copy,
}

/// Where one head's descriptor lies in a stored vector, and how to compare it.
///
/// A two-head model stores `[query / sqrt 2, copy / sqrt 2]`: a unit vector whose plain dot
/// product is the mean of the two heads' cosines, so that the same graph and flat-file code
/// serve both layouts. A head's cosine is then twice the dot product of its parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Head {
    pub start: usize,
    pub len: usize,
    /// Factor from the dot product of the parts to the head's cosine.
    pub scale: f32,
}

impl Head {
    /// The head that is the whole vector.
    pub fn whole(dim: usize) -> Head {
        Head {
            start: 0,
            len: dim,
            scale: 1.0,
        }
    }

    /// The head's part of a stored vector.
    pub fn part<'a>(&self, v: &'a [f32]) -> &'a [f32] {
        &v[self.start..self.start + self.len]
    }

    /// The head's cosine similarity of two stored vectors.
    pub fn similarity(&self, a: &[f32], b: &[f32]) -> f32 {
        self.part_similarity(self.part(a), self.part(b))
    }

    /// The head's cosine similarity of two of its parts.
    pub fn part_similarity(&self, a: &[f32], b: &[f32]) -> f32 {
        crate::vector::dot(a, b) * self.scale
    }

    /// The head's unit descriptor within a stored vector (borrowed when it is the vector).
    pub fn unit<'a>(&self, v: &'a [f32]) -> std::borrow::Cow<'a, [f32]> {
        self.part_unit(self.part(v))
    }

    /// The head's unit descriptor from its part of a stored vector.
    pub fn part_unit<'a>(&self, part: &'a [f32]) -> std::borrow::Cow<'a, [f32]> {
        if self.scale == 1.0 {
            std::borrow::Cow::Borrowed(part)
        } else {
            let k = self.scale.sqrt();
            std::borrow::Cow::Owned(part.iter().map(|x| x * k).collect())
        }
    }
}

impl ModelInfo {
    /// Where the descriptor for `task` lies in the stored vector.
    pub fn head(&self, task: Task) -> Head {
        if self.copy_dim == 0 {
            return Head::whole(self.dim);
        }
        let query = self.dim - self.copy_dim;
        match task {
            Task::Query => Head {
                start: 0,
                len: query,
                scale: 2.0,
            },
            Task::Copy => Head {
                start: query,
                len: self.copy_dim,
                scale: 2.0,
            },
        }
    }

    /// Whether the model has a head per task.
    pub fn has_two_heads(&self) -> bool {
        self.copy_dim > 0
    }

    /// Whether this is the built-in model and `older` the built-in model of an earlier
    /// version, whose indexes it takes over (see [`EARLIER_DEFAULTS`]).
    pub fn supersedes(&self, older: &ModelInfo) -> bool {
        self.weights_hash == default_model_hash() && is_earlier_default(older)
    }

    /// `name@hash12`: short, unique enough to tell models apart in messages and output.
    pub fn id(&self) -> String {
        model_id(&self.name, &self.weights_hash)
    }
}

/// `name@hash12`, the short identity of a model (the built-in kind or a pretrained one).
pub(crate) fn model_id(name: &str, weights_hash: &str) -> String {
    format!("{name}@{}", &weights_hash[..12.min(weights_hash.len())])
}

impl std::fmt::Display for ModelInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id())
    }
}

enum Network {
    /// The ImageNet network: global average pool of the head features.
    EfficientNetLite0(EfficientNetLite0),
    /// A trained descriptor: GeM pooling of the head features, then a linear projection.
    Lite0Descriptor {
        net: EfficientNetLite0,
        /// `(1280, dim)`.
        projection_t: Tensor,
        gem_p: f64,
    },
    /// Two trained descriptors sharing the stem and the first blocks (see [`heads`]): the
    /// query head (the network) and the copy head (the branch).
    TwoHeads {
        net: EfficientNetLite0,
        branch: Branch,
        /// `(1280, query dim)` and `(1280, copy dim)`.
        projections_t: (Tensor, Tensor),
        gem_p: f64,
    },
    /// The small CNN trained from scratch.
    SmallCnn(small_cnn::SmallCnn),
}

/// A loaded encoder: images in, unit-length embeddings out.
pub struct Encoder {
    info: ModelInfo,
    network: Network,
    /// The model's background set (`(count, dim)`), converted on first use: a query never
    /// needs it.
    background_tensor: Option<Tensor>,
    background: std::sync::OnceLock<std::result::Result<Background, String>>,
}

/// Name of the descriptor projection `(dim, 1280)`.
pub const HEAD_PROJECTION: &str = "descriptor.projection.weight";
const ARCH_EFFICIENTNET_LITE0: &str = "efficientnet-lite0";
/// EfficientNet-Lite0 with a GeM + linear descriptor head (written by `lookalike train`).
pub const ARCH_LITE0_DESCRIPTOR: &str = "efficientnet-lite0-gem";

/// Images turned into one input tensor by [`Encoder::embed`]: EfficientNet-Lite0 then runs
/// them one per thread (benches/encoder.rs: batches of 4 to 32 are equally fast); the small
/// CNN runs the chunk as one candle batch.
const EMBED_CHUNK: usize = 16;

impl Encoder {
    /// The encoder compiled into the binary.
    pub fn default_model() -> Result<Encoder> {
        Self::from_bytes(DEFAULT_MODEL, DEFAULT_MODEL_NAME)
    }

    /// The ImageNet encoder compiled into the binary (global average pool, 1280-d).
    pub fn imagenet() -> Result<Encoder> {
        Self::from_bytes(IMAGENET_MODEL, "efficientnet-lite0-imagenet")
    }

    /// Loads a safetensors file; its file stem names the model when its metadata does not.
    pub fn from_file(path: &Path) -> Result<Encoder> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        Self::from_bytes(&bytes, &stem).map_err(|e| in_file(e, path))
    }

    /// Loads safetensors bytes; `fallback_name` names the model when its metadata does not.
    pub fn from_bytes(bytes: &[u8], fallback_name: &str) -> Result<Encoder> {
        let meta = own_metadata(bytes)?;
        let weights = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| Error::model("file", e))?;
        let get = |key: &str| meta.get(key).cloned();
        let gem_p = || -> Result<f64> {
            match get("gem_p") {
                Some(p) => p
                    .parse()
                    .map_err(|_| Error::model("metadata", format!("gem_p `{p}` is not a number"))),
                None => Ok(3.0),
            }
        };
        let mut copy_dim = 0;
        let background_tensor = weights.get(crate::model::background::TENSOR).cloned();
        let arch = get("arch").unwrap_or_else(|| {
            if weights.contains_key("_blocks.0._depthwise_conv.weight") {
                ARCH_EFFICIENTNET_LITE0.to_string()
            } else {
                "unknown".to_string()
            }
        });
        let (network, dim) = match arch.as_str() {
            ARCH_EFFICIENTNET_LITE0 => (
                Network::EfficientNetLite0(EfficientNetLite0::load(&weights)?),
                efficientnet::FEATURE_DIM,
            ),
            ARCH_LITE0_DESCRIPTOR => {
                let projection = projection_t(&weights, HEAD_PROJECTION)?;
                let dim = projection.dim(1)?;
                (
                    Network::Lite0Descriptor {
                        net: EfficientNetLite0::load(&weights)?,
                        projection_t: projection,
                        gem_p: gem_p()?,
                    },
                    dim,
                )
            }
            heads::ARCH_TWO_HEADS => {
                let start: usize = get(heads::META_BRANCH_START)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| {
                        Error::model(
                            "metadata",
                            format!("`{META_PREFIX}{}` is missing", heads::META_BRANCH_START),
                        )
                    })?;
                let query = projection_t(&weights, HEAD_PROJECTION)?;
                let copy = projection_t(
                    &weights,
                    &format!("{}{}", heads::COPY_PREFIX, HEAD_PROJECTION),
                )?;
                let dims = (query.dim(1)?, copy.dim(1)?);
                copy_dim = dims.1;
                (
                    Network::TwoHeads {
                        net: EfficientNetLite0::load(&weights)?,
                        branch: Branch::load(&weights, heads::COPY_PREFIX, start)?,
                        projections_t: (query, copy),
                        gem_p: gem_p()?,
                    },
                    dims.0 + dims.1,
                )
            }
            small_cnn::ARCH_SMALL_CNN => {
                let gem_p = gem_p()?;
                let dim = weights
                    .get(small_cnn::PROJECTION)
                    .ok_or_else(|| {
                        Error::model("weights", format!("`{}` is missing", small_cnn::PROJECTION))
                    })?
                    .dim(0)?;
                let weights = weights
                    .into_iter()
                    .map(|(n, t)| Ok((n, t.to_dtype(candle_core::DType::F32)?)))
                    .collect::<Result<HashMap<_, _>>>()?;
                let vb = candle_nn::VarBuilder::from_tensors(
                    weights,
                    candle_core::DType::F32,
                    &Device::Cpu,
                );
                let net = small_cnn::SmallCnn::new(&vb, dim, gem_p)
                    .map_err(|e| Error::model("weights", e))?;
                (Network::SmallCnn(net), dim)
            }
            other => {
                return Err(Error::model(
                    "architecture",
                    format!(
                        "`{other}` is not one lookalike can run (known: \
                         {ARCH_EFFICIENTNET_LITE0}, {ARCH_LITE0_DESCRIPTOR}, {}, {})",
                        heads::ARCH_TWO_HEADS,
                        small_cnn::ARCH_SMALL_CNN
                    ),
                ))
            }
        };
        let input_size = match get("input_size") {
            Some(s) => s.parse().map_err(|_| {
                Error::model("metadata", format!("input_size `{s}` is not a number"))
            })?,
            None => 224,
        };
        let info = ModelInfo {
            name: get("name").unwrap_or_else(|| fallback_name.to_string()),
            arch,
            input_size,
            dim,
            weights_hash: blake3::hash(bytes).to_hex().to_string(),
            copy_dim,
        };
        // The background set holds descriptors of the copy head.
        let background_dim = info.head(Task::Copy).len;
        if let Some(t) = &background_tensor {
            match t.dims() {
                [_, d] if *d == background_dim => {}
                other => {
                    return Err(Error::model(
                        "background",
                        format!(
                            "`{}` has shape {other:?}, not (count, {background_dim})",
                            crate::model::background::TENSOR
                        ),
                    ))
                }
            }
        }
        Ok(Encoder {
            info,
            network,
            background_tensor,
            background: std::sync::OnceLock::new(),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Whether the model carries a background set (or was given one).
    pub fn has_background(&self) -> bool {
        self.background_tensor.is_some() || self.background.get().is_some()
    }

    /// The background set (see [`crate::model::background`]), if the model carries one.
    pub fn background(&self) -> Result<Option<&Background>> {
        let Some(t) = &self.background_tensor else {
            return Ok(self.background.get().and_then(|b| b.as_ref().ok()));
        };
        let dim = self.info.head(Task::Copy).len;
        match self
            .background
            .get_or_init(|| Background::from_tensor(t, dim).map_err(|e| e.to_string()))
        {
            Ok(b) => Ok(Some(b)),
            Err(e) => Err(Error::model(format!("model {}", self.info), e)),
        }
    }

    /// Uses `background` instead of the model's own (for `eval copies --background`).
    pub fn set_background(&mut self, background: Background) {
        self.background_tensor = None;
        self.background = std::sync::OnceLock::from(Ok(background));
    }

    /// Normalised `(N, 3, S, S)` input tensor for a batch of prepared images.
    pub fn input_tensor(&self, images: &[PreparedImage]) -> Result<Tensor> {
        let s = self.info.input_size;
        let mut data = vec![0f32; images.len() * 3 * s * s];
        for (img, chunk) in images.iter().zip(data.chunks_mut(3 * s * s)) {
            if img.side as usize != s {
                return Err(Error::InvalidArgument(format!(
                    "image prepared at {} px, model {} takes {s} px",
                    img.side, self.info
                )));
            }
            let (r, rest) = chunk.split_at_mut(s * s);
            let (g, b) = rest.split_at_mut(s * s);
            for (i, px) in img.rgb.chunks_exact(3).enumerate() {
                r[i] = (px[0] as f32 - 127.0) / 128.0;
                g[i] = (px[1] as f32 - 127.0) / 128.0;
                b[i] = (px[2] as f32 - 127.0) / 128.0;
            }
        }
        Ok(Tensor::from_vec(
            data,
            (images.len(), 3, s, s),
            &Device::Cpu,
        )?)
    }

    /// Raw (unnormalised) features `(N, dim)` of an input tensor.
    pub fn features(&self, input: &Tensor) -> Result<Tensor> {
        match &self.network {
            Network::EfficientNetLite0(net) => net.pooled(input, Pooling::Average),
            Network::Lite0Descriptor {
                net,
                projection_t,
                gem_p,
            } => Ok(net
                .pooled(input, Pooling::Gem(*gem_p))?
                .matmul(projection_t)?),
            Network::TwoHeads {
                net,
                branch,
                projections_t,
                gem_p,
            } => {
                let (query, copy) = net.pooled_with_branch(input, branch, Pooling::Gem(*gem_p))?;
                Ok(Tensor::cat(
                    &[
                        query.matmul(&projections_t.0)?,
                        copy.matmul(&projections_t.1)?,
                    ],
                    1,
                )?)
            }
            Network::SmallCnn(net) => Ok(net.features(input, false)?),
        }
    }

    /// The pooled 1280-d head features `(N, 1280)` of an input tensor, before any
    /// projection or normalisation (of the query head, for a two-head model); `None` for a
    /// network that is not EfficientNet-Lite0. Training starts a projection from them
    /// (`train::projection`).
    pub fn head_features(&self, input: &Tensor, pooling: Pooling) -> Result<Option<Tensor>> {
        match &self.network {
            Network::EfficientNetLite0(net)
            | Network::Lite0Descriptor { net, .. }
            | Network::TwoHeads { net, .. } => Ok(Some(net.pooled(input, pooling)?)),
            Network::SmallCnn(_) => Ok(None),
        }
    }

    /// ImageNet logits, for encoders that carry a classifier (used to check ports).
    pub fn classify(&self, input: &Tensor) -> Result<Option<Tensor>> {
        match &self.network {
            Network::EfficientNetLite0(net) => net.classify(&net.pooled(input, Pooling::Average)?),
            Network::Lite0Descriptor { .. } | Network::TwoHeads { .. } | Network::SmallCnn(_) => {
                Ok(None)
            }
        }
    }

    /// Unit-length stored vectors of a batch (for a two-head model, each head's unit
    /// descriptor scaled by `1/sqrt 2`, see [`Head`]); `None` for an image whose feature
    /// vector is not finite or is zero, which no similarity can be computed from.
    pub fn embed(&self, images: &[PreparedImage]) -> Result<Vec<Option<Vec<f32>>>> {
        let mut out = Vec::with_capacity(images.len());
        let split = self.info.dim - self.info.copy_dim;
        // Bounded chunks: the input tensor (and the small CNN's activations) stay small.
        for chunk in images.chunks(EMBED_CHUNK) {
            let features = self
                .features(&self.input_tensor(chunk)?)?
                .to_vec2::<f32>()?;
            out.extend(features.into_iter().map(|v| {
                if self.info.copy_dim == 0 {
                    return normalised(v);
                }
                let (query, copy) = v.split_at(split);
                let (query, copy) = (normalised(query.to_vec())?, normalised(copy.to_vec())?);
                let k = std::f32::consts::FRAC_1_SQRT_2;
                Some(query.into_iter().chain(copy).map(|x| x * k).collect())
            }));
        }
        Ok(out)
    }
}

/// The current time (UTC, RFC 3339), for model metadata.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// lookalike's own metadata of safetensors bytes: the `lookalike.` keys, prefix removed.
pub fn own_metadata(bytes: &[u8]) -> Result<HashMap<String, String>> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::model("file", format!("not a safetensors file ({e})")))?;
    Ok(header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(META_PREFIX).map(|k| (k.to_string(), v)))
        .collect())
}

/// A model error `e` with the file it concerns named in it.
pub(crate) fn in_file(e: Error, path: &Path) -> Error {
    match e {
        Error::Model { what, detail } => Error::Model {
            what: format!("{what} in {}", path.display()),
            detail,
        },
        other => other,
    }
}

/// A projection matrix `name` (`(dim, 1280)` in the file) transposed for `features · P`.
fn projection_t(weights: &HashMap<String, Tensor>, name: &str) -> Result<Tensor> {
    Ok(weights
        .get(name)
        .ok_or_else(|| Error::model("weights", format!("`{name}` is missing")))?
        .to_dtype(candle_core::DType::F32)?
        .t()?
        .contiguous()?)
}

/// Writes tensors as safetensors with lookalike's metadata (`lookalike.` is prefixed to each key).
pub fn save_safetensors(
    tensors: &HashMap<String, Tensor>,
    metadata: &[(&str, String)],
    path: &Path,
) -> Result<()> {
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (format!("{META_PREFIX}{k}"), v.clone()))
        .collect();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let views: Vec<(String, Tensor)> = names
        .into_iter()
        .map(|n| (n.clone(), tensors[n].contiguous()))
        .map(|(n, t)| t.map(|t| (n, t)))
        .collect::<candle_core::Result<_>>()?;
    let bytes = safetensors::serialize(views.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
        .map_err(|e| Error::model("serialisation", e))?;
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in model takes over indexes of the earlier built-in models, and nothing else.
    #[test]
    fn the_built_in_model_takes_over_the_earlier_ones_only() {
        let current = Encoder::default_model().unwrap().info().clone();
        let previous = Encoder::from_file(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models/lookalike-two-heads-lite0-f16.safetensors"),
        )
        .unwrap()
        .info()
        .clone();
        assert!(is_earlier_default(&previous));
        assert!(current.supersedes(&previous));
        assert!(!previous.supersedes(&current));
        assert!(!current.supersedes(&current));
        assert!(!current.supersedes(Encoder::imagenet().unwrap().info()));
        assert!(EARLIER_DEFAULTS
            .iter()
            .all(|(_, hash)| *hash != default_model_hash()));
    }

    #[test]
    fn garbage_is_not_a_model() {
        let err = Encoder::from_bytes(b"definitely not safetensors", "x")
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a safetensors file"), "{err}");
    }

    #[test]
    fn embedded_models_describe_themselves() {
        let enc = Encoder::default_model().unwrap();
        let info = enc.info();
        assert_eq!(info.arch, heads::ARCH_TWO_HEADS);
        assert_eq!(info.input_size, 224);
        assert_eq!((info.dim, info.copy_dim), (768, 256));
        assert_eq!(info.name, DEFAULT_MODEL_NAME);
        assert_eq!(enc.background().unwrap().unwrap().dim(), 256);
        assert_eq!(
            info.weights_hash,
            blake3::hash(DEFAULT_MODEL).to_hex().to_string()
        );
        let enc = Encoder::imagenet().unwrap();
        let info = enc.info();
        assert_eq!(info.arch, "efficientnet-lite0");
        assert_eq!(info.dim, 1280);
        assert_eq!(info.name, "efficientnet-lite0-imagenet");
    }
}
