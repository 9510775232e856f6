//! Encoders: loading weights (embedded or from a safetensors file), their identity, and turning
//! prepared images into L2-normalised embeddings.
//!
//! The default encoder is compiled into the binary from `models/`; replacing it is the one
//! line that names [`DEFAULT_MODEL_FILE`]'s bytes. Every safetensors file written by lookalike
//! carries its description in the safetensors metadata (`lookalike.*` keys); plain PyTorch
//! conversions without it are recognised by their tensor names.

pub mod efficientnet;
pub mod kernels;
pub mod ops;
pub mod small_cnn;

use crate::background::Background;
use crate::decode::PreparedImage;
use crate::error::{Error, Result};
use candle_core::{Device, Tensor};
use efficientnet::EfficientNetLite0;
use kernels::Pooling;
use std::collections::HashMap;
use std::path::Path;

/// The default encoder compiled into the binary: EfficientNet-Lite0 fine-tuned by
/// `lookalike train` for copy detection and similarity (see MODEL_CARD.md), f16.
pub static DEFAULT_MODEL: &[u8] =
    include_bytes!("../../models/lookalike-copy-lite0-f16.safetensors");
/// Where [`DEFAULT_MODEL`] comes from, relative to the repository root.
pub const DEFAULT_MODEL_FILE: &str = "models/lookalike-copy-lite0-f16.safetensors";
/// EfficientNet-Lite0, ImageNet-supervised, classifier removed, f16: where training starts
/// (`lookalike train` without `--init`), and the reference the port is tested against.
pub static IMAGENET_MODEL: &[u8] =
    include_bytes!("../../models/efficientnet-lite0-imagenet-f16.safetensors");

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
    /// Embedding dimension.
    pub dim: usize,
    /// BLAKE3 of the weights file, hex.
    pub weights_hash: String,
}

impl ModelInfo {
    /// `name@hash12`: short, unique enough to tell models apart in messages and output.
    pub fn id(&self) -> String {
        format!(
            "{}@{}",
            self.name,
            &self.weights_hash[..12.min(self.weights_hash.len())]
        )
    }
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
        Self::from_bytes(DEFAULT_MODEL, "lookalike-copy-lite0")
    }

    /// The ImageNet encoder compiled into the binary (global average pool, 1280-d).
    pub fn imagenet() -> Result<Encoder> {
        Self::from_bytes(IMAGENET_MODEL, "efficientnet-lite0-imagenet")
    }

    /// Loads a safetensors file; `fallback_name` names it when its metadata does not.
    pub fn from_file(path: &Path) -> Result<Encoder> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        Self::from_bytes(&bytes, &stem).map_err(|e| match e {
            Error::Model { what, detail } => Error::Model {
                what: format!("{what} in {}", path.display()),
                detail,
            },
            other => other,
        })
    }

    /// Loads safetensors bytes; `fallback_name` names the model when its metadata does not.
    pub fn from_bytes(bytes: &[u8], fallback_name: &str) -> Result<Encoder> {
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::model("file", format!("not a safetensors file ({e})")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let weights = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| Error::model("file", e))?;
        let get = |key: &str| meta.get(&format!("{META_PREFIX}{key}")).cloned();
        let background_tensor = weights.get(crate::background::TENSOR).cloned();
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
                let projection = weights
                    .get(crate::train::net::HEAD_PROJECTION)
                    .ok_or_else(|| {
                        Error::model(
                            "weights",
                            format!("`{}` is missing", crate::train::net::HEAD_PROJECTION),
                        )
                    })?
                    .to_dtype(candle_core::DType::F32)?;
                let gem_p = match get("gem_p") {
                    Some(p) => p.parse().map_err(|_| {
                        Error::model("metadata", format!("gem_p `{p}` is not a number"))
                    })?,
                    None => 3.0,
                };
                let dim = projection.dim(0)?;
                (
                    Network::Lite0Descriptor {
                        net: EfficientNetLite0::load(&weights)?,
                        projection_t: projection.t()?.contiguous()?,
                        gem_p,
                    },
                    dim,
                )
            }
            small_cnn::ARCH_SMALL_CNN => {
                let gem_p = match get("gem_p") {
                    Some(p) => p.parse().map_err(|_| {
                        Error::model("metadata", format!("gem_p `{p}` is not a number"))
                    })?,
                    None => 3.0,
                };
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
                         {ARCH_EFFICIENTNET_LITE0}, {ARCH_LITE0_DESCRIPTOR}, {})",
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
        };
        if let Some(t) = &background_tensor {
            match t.dims() {
                [_, d] if *d == dim => {}
                other => {
                    return Err(Error::model(
                        "background",
                        format!(
                            "`{}` has shape {other:?}, not (count, {dim})",
                            crate::background::TENSOR
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

    /// The background set (see [`crate::background`]), if the model carries one.
    pub fn background(&self) -> Result<Option<&Background>> {
        let Some(t) = &self.background_tensor else {
            return Ok(self.background.get().and_then(|b| b.as_ref().ok()));
        };
        let dim = self.info.dim;
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
            Network::SmallCnn(net) => Ok(net.features(input, false)?),
        }
    }

    /// ImageNet logits, for encoders that carry a classifier (used to check ports).
    pub fn classify(&self, input: &Tensor) -> Result<Option<Tensor>> {
        match &self.network {
            Network::EfficientNetLite0(net) => net.classify(&net.pooled(input, Pooling::Average)?),
            Network::Lite0Descriptor { .. } | Network::SmallCnn(_) => Ok(None),
        }
    }

    /// Unit-length embeddings of a batch; `None` for an image whose feature vector is not
    /// finite or is zero, which no similarity can be computed from.
    pub fn embed(&self, images: &[PreparedImage]) -> Result<Vec<Option<Vec<f32>>>> {
        let mut out = Vec::with_capacity(images.len());
        // Bounded chunks: the input tensor (and the small CNN's activations) stay small.
        for chunk in images.chunks(EMBED_CHUNK) {
            let features = self
                .features(&self.input_tensor(chunk)?)?
                .to_vec2::<f32>()?;
            out.extend(features.into_iter().map(normalised));
        }
        Ok(out)
    }
}

/// Scales `v` to unit length; `None` if it has a non-finite value or (near) zero length.
pub fn normalised(mut v: Vec<f32>) -> Option<Vec<f32>> {
    if v.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm < 1e-12 {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Some(v)
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

    #[test]
    fn normalised_rejects_nan_and_zero() {
        assert!(normalised(vec![0.0, 0.0]).is_none());
        assert!(normalised(vec![f32::NAN, 1.0]).is_none());
        assert!(normalised(vec![f32::INFINITY, 1.0]).is_none());
        let v = normalised(vec![3.0, 4.0]).unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
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
        assert_eq!(info.arch, ARCH_LITE0_DESCRIPTOR);
        assert_eq!(info.input_size, 224);
        assert_eq!(info.dim, 256);
        assert_eq!(info.name, "lookalike-copy-lite0");
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
