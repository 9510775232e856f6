//! `config.json` of a Hugging Face model folder: which family, and the shapes of its
//! towers.
//!
//! Owns reading the file into [`Family`] and [`TowerConfig`]s, with the defaults the
//! transformers library applies to fields a checkpoint leaves out, and refusing what the
//! port does not run (other architectures, SigLIP 2 NaFlex, SwiGLU DINOv2) with a message
//! that names the file and the field.

use serde_json::Value;
use std::path::Path;

/// The model families lookalike runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// CLIP (OpenAI and OpenCLIP checkpoints in the transformers layout): image and text.
    Clip,
    /// SigLIP and fixed-resolution SigLIP 2: image and text.
    Siglip,
    /// DINOv2, with or without registers: image only.
    Dinov2,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Clip => "clip",
            Family::Siglip => "siglip",
            Family::Dinov2 => "dinov2",
        }
    }
}

/// Activation of a transformer's MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(1.702 x)` (OpenAI CLIP).
    QuickGelu,
    /// The exact GELU, with erf.
    Gelu,
    /// GELU's tanh approximation (`gelu_pytorch_tanh`, `gelu_new`).
    GeluTanh,
}

/// The shape of one transformer tower.
#[derive(Debug, Clone, PartialEq)]
pub struct TowerConfig {
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub activation: Activation,
    pub eps: f64,
    /// Vision: input side in pixels and patch side. Text: unused (0).
    pub image_size: usize,
    pub patch_size: usize,
    /// Text: vocabulary and context length. Vision: unused (0).
    pub vocab: usize,
    pub context: usize,
}

/// What `config.json` says.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub family: Family,
    pub vision: TowerConfig,
    pub text: Option<TowerConfig>,
    /// CLIP: the projection's output dimension. SigLIP: the text head's output dimension.
    pub projection: usize,
    /// CLIP text: the end token pooled (`None`: the legacy rule, the highest token id).
    pub eos_token: Option<u32>,
    /// SigLIP: whether the vision tower ends in its attention-pooling head.
    pub vision_head: bool,
    /// DINOv2: register tokens (0 without).
    pub registers: usize,
}

/// A config problem: the message names the field.
pub type ConfigError = String;

fn get_usize(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    default: usize,
) -> Result<usize, ConfigError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .map(|n| n as usize)
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{key}` is {v}, expected a positive integer")),
    }
}

fn get_f64(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    default: f64,
) -> Result<f64, ConfigError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite() && *x > 0.0)
            .ok_or_else(|| format!("`{key}` is {v}, expected a positive number")),
    }
}

fn activation(
    obj: &serde_json::Map<String, Value>,
    default: &str,
) -> Result<Activation, ConfigError> {
    let name = obj
        .get("hidden_act")
        .and_then(Value::as_str)
        .unwrap_or(default);
    match name {
        "quick_gelu" => Ok(Activation::QuickGelu),
        "gelu" => Ok(Activation::Gelu),
        "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => Ok(Activation::GeluTanh),
        other => Err(format!(
            "`hidden_act` is \"{other}\"; supported: quick_gelu, gelu, gelu_pytorch_tanh, gelu_new"
        )),
    }
}

/// Defaults of one tower kind, as the transformers library's config classes set them.
struct Defaults {
    hidden: usize,
    /// 0: `mlp_ratio` times `hidden_size` (DINOv2).
    intermediate: usize,
    layers: usize,
    heads: usize,
    act: &'static str,
    eps: f64,
    image_size: usize,
    patch_size: usize,
    vocab: usize,
    context: usize,
}

fn tower(obj: &serde_json::Map<String, Value>, d: &Defaults) -> Result<TowerConfig, ConfigError> {
    let hidden = get_usize(obj, "hidden_size", d.hidden)?;
    let heads = get_usize(obj, "num_attention_heads", d.heads)?;
    if hidden % heads != 0 {
        return Err(format!(
            "`hidden_size` {hidden} is not a multiple of `num_attention_heads` {heads}"
        ));
    }
    // DINOv2 gives the MLP's width as a ratio; the others as a size.
    let intermediate = if d.intermediate == 0 {
        (hidden as f64 * get_f64(obj, "mlp_ratio", 4.0)?) as usize
    } else {
        get_usize(obj, "intermediate_size", d.intermediate)?
    };
    let (image_size, patch_size) = if d.image_size > 0 {
        let image = get_usize(obj, "image_size", d.image_size)?;
        let patch = get_usize(obj, "patch_size", d.patch_size)?;
        if image % patch != 0 {
            return Err(format!(
                "`image_size` {image} is not a multiple of `patch_size` {patch}"
            ));
        }
        (image, patch)
    } else {
        (0, 0)
    };
    let (vocab, context) = if d.vocab > 0 {
        (
            get_usize(obj, "vocab_size", d.vocab)?,
            get_usize(obj, "max_position_embeddings", d.context)?,
        )
    } else {
        (0, 0)
    };
    Ok(TowerConfig {
        hidden,
        intermediate,
        layers: get_usize(obj, "num_hidden_layers", d.layers)?,
        heads,
        activation: activation(obj, d.act)?,
        eps: get_f64(obj, "layer_norm_eps", d.eps)?,
        image_size,
        patch_size,
        vocab,
        context,
    })
}

const CLIP_VISION: Defaults = Defaults {
    hidden: 768,
    intermediate: 3072,
    layers: 12,
    heads: 12,
    act: "quick_gelu",
    eps: 1e-5,
    image_size: 224,
    patch_size: 32,
    vocab: 0,
    context: 0,
};
const CLIP_TEXT: Defaults = Defaults {
    hidden: 512,
    intermediate: 2048,
    layers: 12,
    heads: 8,
    act: "quick_gelu",
    eps: 1e-5,
    image_size: 0,
    patch_size: 0,
    vocab: 49408,
    context: 77,
};
const SIGLIP_VISION: Defaults = Defaults {
    hidden: 768,
    intermediate: 3072,
    layers: 12,
    heads: 12,
    act: "gelu_pytorch_tanh",
    eps: 1e-6,
    image_size: 224,
    patch_size: 16,
    vocab: 0,
    context: 0,
};
const SIGLIP_TEXT: Defaults = Defaults {
    hidden: 768,
    intermediate: 3072,
    layers: 12,
    heads: 12,
    act: "gelu_pytorch_tanh",
    eps: 1e-6,
    image_size: 0,
    patch_size: 0,
    vocab: 32000,
    context: 64,
};
const DINOV2: Defaults = Defaults {
    hidden: 768,
    intermediate: 0,
    layers: 12,
    heads: 12,
    act: "gelu",
    eps: 1e-6,
    image_size: 224,
    patch_size: 14,
    vocab: 0,
    context: 0,
};

fn sub<'a>(
    obj: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Option<&'a serde_json::Map<String, Value>> {
    obj.get(key).and_then(Value::as_object)
}

impl ModelConfig {
    /// Reads `config.json`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<ModelConfig, ConfigError> {
        let raw: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let obj = raw.as_object().ok_or("not a JSON object")?;
        let model_type = obj
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or("no `model_type`")?;
        let empty = serde_json::Map::new();
        match model_type {
            "clip" | "clip_vision_model" => {
                let standalone = model_type == "clip_vision_model";
                let vision = if standalone {
                    obj
                } else {
                    sub(obj, "vision_config").unwrap_or(&empty)
                };
                let text = (!standalone)
                    .then(|| sub(obj, "text_config").unwrap_or(&empty))
                    .map(|t| tower(t, &CLIP_TEXT))
                    .transpose()?;
                let eos = sub(obj, "text_config")
                    .and_then(|t| t.get("eos_token_id"))
                    .and_then(Value::as_u64)
                    .unwrap_or(49407);
                Ok(ModelConfig {
                    family: Family::Clip,
                    vision: tower(vision, &CLIP_VISION)?,
                    text,
                    projection: get_usize(obj, "projection_dim", 512)?,
                    // transformers keeps the argmax rule for configs written before the end
                    // token's id was fixed (they say 2).
                    eos_token: (eos != 2).then_some(eos as u32),
                    vision_head: false,
                    registers: 0,
                })
            }
            "siglip" | "siglip_vision_model" => {
                let standalone = model_type == "siglip_vision_model";
                let vision_obj = if standalone {
                    obj
                } else {
                    sub(obj, "vision_config").unwrap_or(&empty)
                };
                let vision = tower(vision_obj, &SIGLIP_VISION)?;
                let text_obj = (!standalone).then(|| sub(obj, "text_config").unwrap_or(&empty));
                let text = text_obj.map(|t| tower(t, &SIGLIP_TEXT)).transpose()?;
                let projection = match (text_obj, &text) {
                    (Some(t), Some(tc)) => get_usize(t, "projection_size", tc.hidden)?,
                    _ => vision.hidden,
                };
                let vision_head = vision_obj
                    .get("vision_use_head")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                Ok(ModelConfig {
                    family: Family::Siglip,
                    vision,
                    text,
                    projection,
                    eos_token: None,
                    vision_head,
                    registers: 0,
                })
            }
            "dinov2" | "dinov2_with_registers" => {
                if obj.get("use_swiglu_ffn").and_then(Value::as_bool) == Some(true) {
                    return Err("`use_swiglu_ffn` is true (DINOv2 ViT-g): not supported; \
                                use ViT-S/14, ViT-B/14 or ViT-L/14"
                        .into());
                }
                let registers = if model_type == "dinov2_with_registers" {
                    get_usize(obj, "num_register_tokens", 4)?
                } else {
                    0
                };
                Ok(ModelConfig {
                    family: Family::Dinov2,
                    vision: tower(obj, &DINOV2)?,
                    text: None,
                    projection: get_usize(obj, "hidden_size", 768)?,
                    eos_token: None,
                    vision_head: false,
                    registers,
                })
            }
            "siglip2" => Err(
                "`model_type` is \"siglip2\" (SigLIP 2 NaFlex, variable resolution): \
                 not supported; use a fixed-resolution SigLIP 2 checkpoint such as \
                 google/siglip2-base-patch16-224 (model_type \"siglip\")"
                    .into(),
            ),
            other => Err(format!(
                "`model_type` is \"{other}\"; supported: clip, clip_vision_model, siglip, \
                 siglip_vision_model, dinov2, dinov2_with_registers"
            )),
        }
    }

    /// The dimension of the image embedding.
    pub fn image_dim(&self) -> usize {
        match self.family {
            Family::Clip => self.projection,
            Family::Siglip | Family::Dinov2 => self.vision.hidden,
        }
    }
}

/// Reads and parses `dir/config.json`.
pub fn read(dir: &Path) -> Result<ModelConfig, (std::path::PathBuf, ConfigError)> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| (path.clone(), e.to_string()))?;
    ModelConfig::parse(&text).map_err(|e| (path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_a_checkpoint_leaves_out() {
        let c = ModelConfig::parse(r#"{"model_type": "clip"}"#).unwrap();
        assert_eq!(c.family, Family::Clip);
        assert_eq!(
            (c.vision.hidden, c.vision.patch_size, c.vision.layers),
            (768, 32, 12)
        );
        assert_eq!(c.text.as_ref().unwrap().context, 77);
        assert_eq!(c.eos_token, Some(49407));
        let c = ModelConfig::parse(
            r#"{"model_type": "dinov2", "hidden_size": 384, "num_attention_heads": 6}"#,
        )
        .unwrap();
        assert_eq!(
            (c.vision.intermediate, c.vision.patch_size, c.registers),
            (1536, 14, 0)
        );
    }

    #[test]
    fn legacy_clip_end_token_means_argmax() {
        let c = ModelConfig::parse(r#"{"model_type": "clip", "text_config": {"eos_token_id": 2}}"#)
            .unwrap();
        assert_eq!(c.eos_token, None);
    }

    #[test]
    fn refusals_name_the_field() {
        for (json, words) in [
            (r#"{"model_type": "bert"}"#, "\"bert\""),
            (r#"{"model_type": "siglip2"}"#, "NaFlex"),
            (
                r#"{"model_type": "dinov2", "use_swiglu_ffn": true}"#,
                "use_swiglu_ffn",
            ),
            (
                r#"{"model_type": "clip", "vision_config": {"hidden_act": "relu"}}"#,
                "hidden_act",
            ),
            (
                r#"{"model_type": "clip", "vision_config": {"hidden_size": 100}}"#,
                "multiple",
            ),
            (
                r#"{"model_type": "dinov2", "num_hidden_layers": -1}"#,
                "num_hidden_layers",
            ),
            (r#"{}"#, "model_type"),
            ("{", "JSON"),
        ] {
            let e = ModelConfig::parse(json).unwrap_err();
            assert!(e.contains(words), "{json}: {e}");
        }
    }
}
