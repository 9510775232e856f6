//! The transformer towers of CLIP, SigLIP and DINOv2, in candle, as the transformers
//! library computes them.
//!
//! Owns the pre-norm encoder block (shared by all three), the vision towers (patch
//! embedding, class token, registers, position embeddings fitted to the input size, and
//! each family's pooling: CLIP's class token and projection, SigLIP's attention-pooling
//! head, DINOv2's class token) and the text towers (CLIP's causal one pooled at the end
//! token, SigLIP's bidirectional one pooled at the last position).
//!
//! Speed: each linear layer is one matrix product over every token of the batch (query,
//! key and value fused into one); the attention scale and DINOv2's layer scales are folded
//! into the weights when they are loaded.

use super::config::{Activation, Family, ModelConfig, TowerConfig};
use super::resample;
use super::weights::Weights;
use crate::error::Result;
use candle_core::{DType, Device, Tensor, D};

/// `x W^T + b` over the last dimension, as one matrix product over all leading ones.
struct Dense {
    /// `(in, out)`, contiguous.
    w_t: Tensor,
    b: Option<Tensor>,
    out: usize,
}

impl Dense {
    fn load(w: &Weights, prefix: &str, inp: usize, out: usize, bias: bool) -> Result<Dense> {
        let weight = w.get(&format!("{prefix}.weight"), &[out, inp])?;
        let b = if bias {
            Some(w.get(&format!("{prefix}.bias"), &[out])?)
        } else {
            None
        };
        Dense::new(weight, b)
    }

    /// From `(out, in)` weights.
    fn new(weight: Tensor, b: Option<Tensor>) -> Result<Dense> {
        let out = weight.dim(0)?;
        Ok(Dense {
            w_t: weight.t()?.contiguous()?,
            b,
            out,
        })
    }

    /// Scales every output (row of the weights, and the bias) by `scale` (per output).
    fn scaled(self, scale: &Tensor) -> Result<Dense> {
        Ok(Dense {
            w_t: self.w_t.broadcast_mul(scale)?,
            b: self.b.map(|b| b.mul(scale)).transpose()?,
            out: self.out,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut dims = x.dims().to_vec();
        let inp = *dims.last().expect("a tensor with dimensions");
        let rows = x.elem_count() / inp;
        let y = x.reshape((rows, inp))?.matmul(&self.w_t)?;
        let y = match &self.b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        *dims.last_mut().expect("a tensor with dimensions") = self.out;
        Ok(y.reshape(dims)?)
    }
}

struct Norm {
    w: Tensor,
    b: Tensor,
    eps: f32,
}

impl Norm {
    fn load(w: &Weights, prefix: &str, dim: usize, eps: f64) -> Result<Norm> {
        Ok(Norm {
            w: w.get(&format!("{prefix}.weight"), &[dim])?,
            b: w.get(&format!("{prefix}.bias"), &[dim])?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::layer_norm(
            &x.contiguous()?,
            &self.w,
            &self.b,
            self.eps,
        )?)
    }
}

fn activate(act: Activation, x: &Tensor) -> Result<Tensor> {
    Ok(match act {
        Activation::QuickGelu => (x * candle_nn::ops::sigmoid(&(x * 1.702)?)?)?,
        Activation::Gelu => x.gelu_erf()?,
        Activation::GeluTanh => x.gelu()?,
    })
}

/// Multi-head attention with query, key and value fused into one product.
struct Attention {
    /// `(dim, 3 dim)`: query (already scaled by `1/sqrt(head dim)`), key, value.
    qkv: Dense,
    out: Dense,
    heads: usize,
}

/// Names of one attention block's tensors: query, key, value and output prefixes.
struct AttentionNames {
    q: String,
    k: String,
    v: String,
    out: String,
}

impl Attention {
    fn load(w: &Weights, names: &AttentionNames, dim: usize, heads: usize) -> Result<Attention> {
        let scale = ((dim / heads) as f64).powf(-0.5);
        let q_w = (w.get(&format!("{}.weight", names.q), &[dim, dim])? * scale)?;
        let q_b = (w.get(&format!("{}.bias", names.q), &[dim])? * scale)?;
        let k_w = w.get(&format!("{}.weight", names.k), &[dim, dim])?;
        let k_b = w.get(&format!("{}.bias", names.k), &[dim])?;
        let v_w = w.get(&format!("{}.weight", names.v), &[dim, dim])?;
        let v_b = w.get(&format!("{}.bias", names.v), &[dim])?;
        let weight = Tensor::cat(&[q_w, k_w, v_w], 0)?;
        let bias = Tensor::cat(&[q_b, k_b, v_b], 0)?;
        Ok(Attention {
            qkv: Dense::new(weight, Some(bias))?,
            out: Dense::load(w, &names.out, dim, dim, true)?,
            heads,
        })
    }

    /// `x`: `(batch, tokens, dim)`; `mask`: additive, broadcast to `(batch, heads, tokens, tokens)`.
    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let qkv = split_heads(&self.qkv.forward(x)?, 3, self.heads)?;
        let o = attend(&qkv.get(0)?, &qkv.get(1)?, &qkv.get(2)?, mask)?;
        self.out.forward(&o.transpose(1, 2)?.reshape((b, t, d))?)
    }
}

/// `(batch, tokens, parts * dim)` (parts packed side by side, e.g. query, key, value) to
/// `(parts, batch, heads, tokens, dim / heads)`.
fn split_heads(packed: &Tensor, parts: usize, heads: usize) -> Result<Tensor> {
    let (b, t, pd) = packed.dims3()?;
    let d = pd / parts;
    Ok(packed
        .reshape((b, t, parts, heads, d / heads))?
        .permute((2, 0, 3, 1, 4))?
        .contiguous()?)
}

/// Scaled dot-product attention of `(batch, heads, tokens, head dim)` queries (already
/// scaled), keys and values, with an optional additive mask.
fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let mut scores = q.matmul(&k.t()?)?;
    if let Some(m) = mask {
        scores = scores.broadcast_add(m)?;
    }
    let p = candle_nn::ops::softmax_last_dim(&scores)?;
    Ok(p.matmul(v)?)
}

/// A pre-norm encoder block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))` (DINOv2's
/// layer scales folded into the output projections).
struct Block {
    norm1: Norm,
    attn: Attention,
    norm2: Norm,
    fc1: Dense,
    fc2: Dense,
    act: Activation,
}

/// How a family names a block's tensors.
#[derive(Clone, Copy)]
enum Naming {
    /// CLIP and SigLIP: `encoder.layers.N.self_attn.q_proj`, `layer_norm1`, `mlp.fc1`.
    Clip,
    /// DINOv2: `encoder.layer.N.attention.attention.query`, `norm1`, `layer_scale1.lambda1`.
    Dinov2,
}

impl Block {
    fn load(w: &Weights, prefix: &str, c: &TowerConfig, naming: Naming) -> Result<Block> {
        let d = c.hidden;
        let p = |s: &str| format!("{prefix}.{s}");
        let block = match naming {
            Naming::Clip => Block {
                norm1: Norm::load(w, &p("layer_norm1"), d, c.eps)?,
                attn: Attention::load(
                    w,
                    &AttentionNames {
                        q: p("self_attn.q_proj"),
                        k: p("self_attn.k_proj"),
                        v: p("self_attn.v_proj"),
                        out: p("self_attn.out_proj"),
                    },
                    d,
                    c.heads,
                )?,
                norm2: Norm::load(w, &p("layer_norm2"), d, c.eps)?,
                fc1: Dense::load(w, &p("mlp.fc1"), d, c.intermediate, true)?,
                fc2: Dense::load(w, &p("mlp.fc2"), c.intermediate, d, true)?,
                act: c.activation,
            },
            Naming::Dinov2 => {
                let mut attn = Attention::load(
                    w,
                    &AttentionNames {
                        q: p("attention.attention.query"),
                        k: p("attention.attention.key"),
                        v: p("attention.attention.value"),
                        out: p("attention.output.dense"),
                    },
                    d,
                    c.heads,
                )?;
                attn.out = attn.out.scaled(&w.get(&p("layer_scale1.lambda1"), &[d])?)?;
                let fc2 = Dense::load(w, &p("mlp.fc2"), c.intermediate, d, true)?
                    .scaled(&w.get(&p("layer_scale2.lambda1"), &[d])?)?;
                Block {
                    norm1: Norm::load(w, &p("norm1"), d, c.eps)?,
                    attn,
                    norm2: Norm::load(w, &p("norm2"), d, c.eps)?,
                    fc1: Dense::load(w, &p("mlp.fc1"), d, c.intermediate, true)?,
                    fc2,
                    act: c.activation,
                }
            }
        };
        Ok(block)
    }

    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let x = (x + self.attn.forward(&self.norm1.forward(x)?, mask)?)?;
        let h = activate(self.act, &self.fc1.forward(&self.norm2.forward(&x)?)?)?;
        Ok((&x + self.fc2.forward(&h)?)?)
    }
}

fn load_blocks(w: &Weights, prefix: &str, c: &TowerConfig, naming: Naming) -> Result<Vec<Block>> {
    (0..c.layers)
        .map(|i| Block::load(w, &format!("{prefix}.{i}"), c, naming))
        .collect()
}

fn run_blocks(blocks: &[Block], mut x: Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    for b in blocks {
        x = b.forward(&x, mask)?;
    }
    Ok(x)
}

/// SigLIP's attention-pooling head: one learned query attends to every token.
struct PoolingHead {
    /// `(1, dim)`, scaled.
    probe_q: Tensor,
    /// `(dim, 2 dim)`: key, value.
    kv: Dense,
    out: Dense,
    heads: usize,
    norm: Norm,
    fc1: Dense,
    fc2: Dense,
    act: Activation,
}

impl PoolingHead {
    fn load(w: &Weights, prefix: &str, c: &TowerConfig) -> Result<PoolingHead> {
        let d = c.hidden;
        let p = |s: &str| format!("{prefix}.{s}");
        let in_w = w.get(&p("attention.in_proj_weight"), &[3 * d, d])?;
        let in_b = w.get(&p("attention.in_proj_bias"), &[3 * d])?;
        let probe = w.get(&p("probe"), &[1, 1, d])?.reshape((1, d))?;
        let scale = ((d / c.heads) as f64).powf(-0.5);
        // The probe is a constant: its query is computed once.
        let q = Dense::new(in_w.narrow(0, 0, d)?, Some(in_b.narrow(0, 0, d)?))?;
        let probe_q = (q.forward(&probe)? * scale)?;
        Ok(PoolingHead {
            probe_q,
            kv: Dense::new(in_w.narrow(0, d, 2 * d)?, Some(in_b.narrow(0, d, 2 * d)?))?,
            out: Dense::load(w, &p("attention.out_proj"), d, d, true)?,
            heads: c.heads,
            norm: Norm::load(w, &p("layernorm"), d, c.eps)?,
            fc1: Dense::load(w, &p("mlp.fc1"), d, c.intermediate, true)?,
            fc2: Dense::load(w, &p("mlp.fc2"), c.intermediate, d, true)?,
            act: c.activation,
        })
    }

    /// `(batch, tokens, dim)` to `(batch, dim)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, _, d) = x.dims3()?;
        let h = self.heads;
        let kv = split_heads(&self.kv.forward(x)?, 2, h)?;
        let q = self
            .probe_q
            .reshape((1, 1, h, d / h))?
            .transpose(1, 2)?
            .broadcast_as((b, h, 1, d / h))?
            .contiguous()?;
        let o = attend(&q, &kv.get(0)?, &kv.get(1)?, None)?;
        let o = self.out.forward(&o.transpose(1, 2)?.reshape((b, d))?)?;
        let m = activate(self.act, &self.fc1.forward(&self.norm.forward(&o)?)?)?;
        Ok((&o + self.fc2.forward(&m)?)?)
    }
}

enum VisionPooling {
    /// CLIP: the class token, normalised (`post_layernorm`), projected.
    ClassProjected { norm: Norm, projection: Dense },
    /// SigLIP: every token normalised, then the attention-pooling head (or, without a
    /// head, the mean of the tokens).
    Head {
        norm: Norm,
        head: Option<PoolingHead>,
    },
    /// DINOv2: every token normalised (`layernorm`), the class token.
    Class { norm: Norm },
}

/// A vision transformer: pixels `(batch, 3, size, size)` to image embeddings.
pub(crate) struct VisionTower {
    patch: usize,
    size: usize,
    /// `(3 patch^2, dim)` and its bias: the patch embedding as one product.
    embed: Dense,
    class_token: Option<Tensor>,
    registers: Option<Tensor>,
    /// `(tokens, dim)` fitted to `size`: the class token's first if there is one.
    positions: Tensor,
    pre_norm: Option<Norm>,
    blocks: Vec<Block>,
    pooling: VisionPooling,
}

impl VisionTower {
    /// Loads the vision tower for inputs of `input x input` pixels.
    pub fn load(w: &Weights, config: &ModelConfig, input: usize) -> Result<VisionTower> {
        let c = &config.vision;
        let (d, p) = (c.hidden, c.patch_size);
        let grid = c.image_size / p;
        let in_grid = input / p;
        let patch_weight = |name: &str| -> Result<Tensor> {
            Ok(w.get(name, &[d, 3, p, p])?.reshape((d, 3 * p * p))?)
        };
        match config.family {
            Family::Clip => {
                let e = "vision_model.embeddings";
                let positions = w.get(
                    &format!("{e}.position_embedding.weight"),
                    &[grid * grid + 1, d],
                )?;
                Ok(VisionTower {
                    patch: p,
                    size: input,
                    embed: Dense::new(patch_weight(&format!("{e}.patch_embedding.weight"))?, None)?,
                    class_token: Some(
                        w.get(&format!("{e}.class_embedding"), &[d])?
                            .reshape((1, d))?,
                    ),
                    registers: None,
                    positions: fit_positions(&positions, 1, grid, in_grid, false)?,
                    pre_norm: Some(Norm::load(w, "vision_model.pre_layrnorm", d, c.eps)?),
                    blocks: load_blocks(w, "vision_model.encoder.layers", c, Naming::Clip)?,
                    pooling: VisionPooling::ClassProjected {
                        norm: Norm::load(w, "vision_model.post_layernorm", d, c.eps)?,
                        projection: Dense::load(
                            w,
                            "visual_projection",
                            d,
                            config.projection,
                            false,
                        )?,
                    },
                })
            }
            Family::Siglip => {
                let e = "vision_model.embeddings";
                let positions =
                    w.get(&format!("{e}.position_embedding.weight"), &[grid * grid, d])?;
                let head = if config.vision_head {
                    Some(PoolingHead::load(w, "vision_model.head", c)?)
                } else {
                    None
                };
                Ok(VisionTower {
                    patch: p,
                    size: input,
                    embed: Dense::new(
                        patch_weight(&format!("{e}.patch_embedding.weight"))?,
                        Some(w.get(&format!("{e}.patch_embedding.bias"), &[d])?),
                    )?,
                    class_token: None,
                    registers: None,
                    positions: fit_positions(&positions, 0, grid, in_grid, false)?,
                    pre_norm: None,
                    blocks: load_blocks(w, "vision_model.encoder.layers", c, Naming::Clip)?,
                    pooling: VisionPooling::Head {
                        norm: Norm::load(w, "vision_model.post_layernorm", d, c.eps)?,
                        head,
                    },
                })
            }
            Family::Dinov2 => {
                let positions = w
                    .get("embeddings.position_embeddings", &[1, grid * grid + 1, d])?
                    .reshape((grid * grid + 1, d))?;
                let registers = if config.registers > 0 {
                    Some(
                        w.get("embeddings.register_tokens", &[1, config.registers, d])?
                            .reshape((config.registers, d))?,
                    )
                } else {
                    None
                };
                Ok(VisionTower {
                    patch: p,
                    size: input,
                    embed: Dense::new(
                        patch_weight("embeddings.patch_embeddings.projection.weight")?,
                        Some(w.get("embeddings.patch_embeddings.projection.bias", &[d])?),
                    )?,
                    class_token: Some(w.get("embeddings.cls_token", &[1, 1, d])?.reshape((1, d))?),
                    registers,
                    // The version with registers resamples with antialiasing.
                    positions: fit_positions(&positions, 1, grid, in_grid, config.registers > 0)?,
                    pre_norm: None,
                    blocks: load_blocks(w, "encoder.layer", c, Naming::Dinov2)?,
                    pooling: VisionPooling::Class {
                        norm: Norm::load(w, "layernorm", d, c.eps)?,
                    },
                })
            }
        }
    }

    /// Image embeddings (not normalised) of `count` images, `pixels` holding each one's
    /// `(3, size, size)` values in turn.
    pub fn forward(&self, pixels: &[f32], count: usize) -> Result<Tensor> {
        let (s, p) = (self.size, self.patch);
        assert_eq!(pixels.len(), count * 3 * s * s, "pixel buffer size");
        let g = s / p;
        // Patches as rows of (channel, y, x) values: the convolution as one product.
        let mut rows = vec![0f32; count * g * g * 3 * p * p];
        let row_len = 3 * p * p;
        for (i, image) in pixels.chunks_exact(3 * s * s).enumerate() {
            for gy in 0..g {
                for gx in 0..g {
                    let row = &mut rows[((i * g + gy) * g + gx) * row_len..][..row_len];
                    for c in 0..3 {
                        for y in 0..p {
                            let src = &image[(c * s + gy * p + y) * s + gx * p..][..p];
                            row[(c * p + y) * p..][..p].copy_from_slice(src);
                        }
                    }
                }
            }
        }
        let rows = Tensor::from_vec(rows, (count, g * g, row_len), &Device::Cpu)?;
        let mut x = self.embed.forward(&rows)?;
        let d = x.dim(2)?;
        if let Some(cls) = &self.class_token {
            x = Tensor::cat(&[&cls.unsqueeze(0)?.broadcast_as((count, 1, d))?, &x], 1)?;
        }
        x = x.broadcast_add(&self.positions)?;
        if let Some(r) = &self.registers {
            let n = r.dim(0)?;
            let r = r.unsqueeze(0)?.broadcast_as((count, n, d))?;
            x = Tensor::cat(&[&x.narrow(1, 0, 1)?, &r, &x.narrow(1, 1, g * g)?], 1)?;
        }
        if let Some(norm) = &self.pre_norm {
            x = norm.forward(&x)?;
        }
        let x = run_blocks(&self.blocks, x, None)?;
        match &self.pooling {
            VisionPooling::ClassProjected { norm, projection } => {
                projection.forward(&norm.forward(&x.narrow(1, 0, 1)?.squeeze(1)?)?)
            }
            VisionPooling::Head { norm, head } => {
                let x = norm.forward(&x)?;
                match head {
                    Some(h) => h.forward(&x),
                    None => Ok(x.mean(1)?),
                }
            }
            VisionPooling::Class { norm } => norm.forward(&x.narrow(1, 0, 1)?.squeeze(1)?),
        }
    }
}

/// Position embeddings `(lead + grid^2, dim)` fitted to `to x to` patches: the `lead`
/// rows (class token) kept, the grid resampled bicubically as transformers does it.
fn fit_positions(
    positions: &Tensor,
    lead: usize,
    grid: usize,
    to: usize,
    antialias: bool,
) -> Result<Tensor> {
    if grid == to {
        return Ok(positions.clone());
    }
    let d = positions.dim(1)?;
    // (grid^2, d) to (d, grid, grid).
    let planes: Vec<f32> = positions
        .narrow(0, lead, grid * grid)?
        .t()?
        .contiguous()?
        .flatten_all()?
        .to_vec1()?;
    let windows = if antialias {
        resample::windows_aa(grid, to)
    } else {
        resample::windows_bicubic(grid, to)
    };
    let fitted = resample::resample_grid(&planes, d, (grid, grid), &windows, &windows);
    let fitted = Tensor::from_vec(fitted, (d, to * to), &Device::Cpu)?.t()?;
    Ok(Tensor::cat(&[&positions.narrow(0, 0, lead)?, &fitted], 0)?.contiguous()?)
}

/// How a text tower pools its tokens.
enum TextPooling {
    /// CLIP: the end token (the first of id `eos`, or the highest id), normalised and
    /// projected; causal attention.
    EndToken { eos: Option<u32>, projection: Dense },
    /// SigLIP: the last position, through the head; bidirectional attention over the
    /// sequence padded to the context length.
    Last { head: Dense },
}

/// A text transformer: token ids to a text embedding.
pub(crate) struct TextTower {
    tokens: Tensor,
    positions: Tensor,
    blocks: Vec<Block>,
    final_norm: Norm,
    pooling: TextPooling,
    context: usize,
}

impl TextTower {
    pub fn load(w: &Weights, config: &ModelConfig, c: &TowerConfig) -> Result<TextTower> {
        let d = c.hidden;
        let pooling = match config.family {
            Family::Clip => TextPooling::EndToken {
                eos: config.eos_token,
                projection: Dense::load(w, "text_projection", d, config.projection, false)?,
            },
            _ => TextPooling::Last {
                head: Dense::load(w, "text_model.head", d, config.projection, true)?,
            },
        };
        Ok(TextTower {
            tokens: w.get(
                "text_model.embeddings.token_embedding.weight",
                &[c.vocab, d],
            )?,
            positions: w.get(
                "text_model.embeddings.position_embedding.weight",
                &[c.context, d],
            )?,
            blocks: load_blocks(w, "text_model.encoder.layers", c, Naming::Clip)?,
            final_norm: Norm::load(w, "text_model.final_layer_norm", d, c.eps)?,
            pooling,
            context: c.context,
        })
    }

    /// The context length in tokens.
    pub fn context(&self) -> usize {
        self.context
    }

    /// The embedding (not normalised) of one token sequence. `ids` are at most the
    /// context length (CLIP: as tokenized; SigLIP: padded to the context length, `keys`
    /// saying which positions may be attended to, all of them when `None`).
    pub fn forward(&self, ids: &[u32], keys: Option<&[bool]>) -> Result<Vec<f32>> {
        let t = ids.len();
        assert!(t > 0 && t <= self.context, "token count {t}");
        let vocab = self.tokens.dim(0)?;
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= vocab) {
            return Err(crate::error::Error::model(
                "tokenizer.json",
                format!("token id {bad} is beyond the model's vocabulary of {vocab}"),
            ));
        }
        let idx = Tensor::from_slice(ids, t, &Device::Cpu)?;
        let x = self
            .tokens
            .index_select(&idx, 0)?
            .add(&self.positions.narrow(0, 0, t)?)?
            .unsqueeze(0)?;
        let mask = match (&self.pooling, keys) {
            (TextPooling::EndToken { .. }, _) => Some(causal_mask(t)?),
            (TextPooling::Last { .. }, Some(keys)) => Some(key_mask(keys)?),
            (TextPooling::Last { .. }, None) => None,
        };
        let x = run_blocks(&self.blocks, x, mask.as_ref())?;
        let x = self.final_norm.forward(&x)?.squeeze(0)?;
        let pooled = match &self.pooling {
            TextPooling::EndToken { eos, projection } => {
                let at = match eos {
                    Some(e) => ids.iter().position(|i| i == e).unwrap_or(t - 1),
                    // The first of the highest ids, as torch's argmax.
                    None => {
                        let max = ids.iter().max().copied().unwrap_or(0);
                        ids.iter().position(|&i| i == max).unwrap_or(0)
                    }
                };
                projection.forward(&x.narrow(0, at, 1)?)?
            }
            TextPooling::Last { head } => head.forward(&x.narrow(0, t - 1, 1)?)?,
        };
        Ok(pooled.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?)
    }
}

fn causal_mask(t: usize) -> Result<Tensor> {
    let m: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(m, (1, 1, t, t), &Device::Cpu)?)
}

fn key_mask(keys: &[bool]) -> Result<Tensor> {
    let m: Vec<f32> = keys
        .iter()
        .map(|&k| if k { 0.0 } else { f32::NEG_INFINITY })
        .collect();
    Ok(Tensor::from_vec(m, (1, 1, 1, keys.len()), &Device::Cpu)?)
}

/// L2-normalises the rows of `(n, dim)`.
pub(crate) fn normalise_rows(x: &Tensor) -> Result<Vec<Vec<f32>>> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
    Ok(x.broadcast_div(&norm)?.to_vec2()?)
}
