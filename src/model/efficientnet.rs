//! EfficientNet-Lite0 for inference, ported to candle from the PyTorch layout
//! (`_conv_stem`, `_bn0`, `_blocks.{0..15}`, `_conv_head`, `_bn1`, optional `_fc`).
//!
//! BatchNorm is folded into the preceding convolution when the weights are loaded, 1x1
//! convolutions run as batched matrix products, and depthwise convolutions use the
//! [`DepthwiseConv`] kernel. Padding is TensorFlow "SAME", activations are ReLU6.

use super::ops::{pad_same, BiasAct, DepthwiseConv};
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;

/// BatchNorm epsilon of the original TensorFlow model.
const BN_EPS: f32 = 1e-3;
/// Blocks that downsample by two.
const STRIDE_TWO_BLOCKS: [usize; 4] = [1, 3, 5, 11];
/// Width of the pooled feature.
pub const FEATURE_DIM: usize = 1280;

/// Tensors by name, as read from a safetensors file.
pub type Weights = HashMap<String, Tensor>;

fn tensor(weights: &Weights, name: &str) -> Result<Tensor> {
    let t = weights
        .get(name)
        .ok_or_else(|| Error::model("weights", format!("tensor `{name}` is missing")))?;
    Ok(t.to_dtype(DType::F32)?)
}

fn vec_of(weights: &Weights, name: &str) -> Result<Vec<f32>> {
    Ok(tensor(weights, name)?.flatten_all()?.to_vec1::<f32>()?)
}

/// Folds BatchNorm `bn` into the convolution weight `conv` (output channels first):
/// returns the scaled weight and the bias that replaces the normalisation.
fn fold_bn(weights: &Weights, conv: &str, bn: &str) -> Result<(Tensor, Vec<f32>)> {
    let w = tensor(weights, &format!("{conv}.weight"))?;
    let gamma = vec_of(weights, &format!("{bn}.weight"))?;
    let beta = vec_of(weights, &format!("{bn}.bias"))?;
    let mean = vec_of(weights, &format!("{bn}.running_mean"))?;
    let var = vec_of(weights, &format!("{bn}.running_var"))?;
    let out = w.dim(0)?;
    if [gamma.len(), beta.len(), mean.len(), var.len()] != [out; 4] {
        return Err(Error::model(
            "weights",
            format!("{bn} has a different channel count from {conv} ({out})"),
        ));
    }
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&var)
        .map(|(g, v)| g / (v + BN_EPS).sqrt())
        .collect();
    let bias = beta
        .iter()
        .zip(&mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    let mut shape = vec![out];
    shape.extend(std::iter::repeat_n(1, w.rank() - 1));
    let scale = Tensor::from_vec(scale, shape, w.device())?;
    Ok((w.broadcast_mul(&scale)?, bias))
}

/// A 1x1 convolution (BN folded) as a matrix product, with bias and optional ReLU6.
struct Pointwise {
    /// `(out, in)`.
    weight: Tensor,
    bias_act: BiasAct,
}

impl Pointwise {
    fn load(weights: &Weights, conv: &str, bn: &str, relu6: bool) -> Result<Self> {
        let (w, bias) = fold_bn(weights, conv, bn)?;
        let (o, i, kh, kw) = w.dims4()?;
        if (kh, kw) != (1, 1) {
            return Err(Error::model(
                "weights",
                format!("{conv} should be 1x1, is {kh}x{kw}"),
            ));
        }
        Ok(Pointwise {
            weight: w.reshape((o, i))?,
            bias_act: BiasAct::new(bias, relu6),
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let o = self.weight.dim(0)?;
        let y = self
            .weight
            .broadcast_matmul(&x.reshape((n, c, h * w))?)?
            .reshape((n, o, h, w))?;
        Ok(self.bias_act.forward(&y)?)
    }
}

/// One mobile inverted bottleneck block (no squeeze-excite in the Lite variant).
struct MbConv {
    expand: Option<Pointwise>,
    depthwise: DepthwiseConv,
    project: Pointwise,
    residual: bool,
}

impl MbConv {
    fn load(weights: &Weights, index: usize) -> Result<Self> {
        let p = format!("_blocks.{index}");
        let expand = if weights.contains_key(&format!("{p}._expand_conv.weight")) {
            Some(Pointwise::load(
                weights,
                &format!("{p}._expand_conv"),
                &format!("{p}._bn0"),
                true,
            )?)
        } else {
            None
        };
        let (dw, dw_bias) = fold_bn(
            weights,
            &format!("{p}._depthwise_conv"),
            &format!("{p}._bn1"),
        )?;
        let (channels, one, k, k2) = dw.dims4()?;
        if one != 1 || k != k2 {
            return Err(Error::model(
                "weights",
                format!("{p}._depthwise_conv has shape {:?}", dw.dims()),
            ));
        }
        let stride = if STRIDE_TWO_BLOCKS.contains(&index) {
            2
        } else {
            1
        };
        let depthwise = DepthwiseConv::new(
            dw.flatten_all()?.to_vec1::<f32>()?,
            dw_bias,
            k,
            stride,
            true,
        );
        let project = Pointwise::load(
            weights,
            &format!("{p}._project_conv"),
            &format!("{p}._bn2"),
            false,
        )?;
        let in_channels = match &expand {
            Some(e) => e.weight.dim(1)?,
            None => channels,
        };
        let out_channels = project.weight.dim(0)?;
        Ok(MbConv {
            expand,
            depthwise,
            project,
            residual: stride == 1 && in_channels == out_channels,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = match &self.expand {
            Some(e) => e.forward(x)?,
            None => x.clone(),
        };
        let h = self.depthwise.forward(&h)?;
        let h = self.project.forward(&h)?;
        Ok(if self.residual { (h + x)? } else { h })
    }
}

/// EfficientNet-Lite0 with BatchNorm folded, ready for inference.
pub struct EfficientNetLite0 {
    stem: Tensor,
    stem_bias_act: BiasAct,
    blocks: Vec<MbConv>,
    head: Pointwise,
    /// ImageNet classifier `(weight (1000, 1280), bias)`, when the weights carry one.
    classifier: Option<(Tensor, Tensor)>,
}

impl EfficientNetLite0 {
    /// Builds the network from PyTorch-named tensors of any float dtype.
    pub fn load(weights: &Weights) -> Result<Self> {
        let (stem, stem_bias) = fold_bn(weights, "_conv_stem", "_bn0")?;
        let mut blocks = Vec::new();
        while weights.contains_key(&format!("_blocks.{}._depthwise_conv.weight", blocks.len())) {
            blocks.push(MbConv::load(weights, blocks.len())?);
        }
        if blocks.len() != 16 {
            return Err(Error::model(
                "weights",
                format!(
                    "EfficientNet-Lite0 has 16 blocks, the weights have {}",
                    blocks.len()
                ),
            ));
        }
        let head = Pointwise::load(weights, "_conv_head", "_bn1", true)?;
        let classifier = match (weights.get("_fc.weight"), weights.get("_fc.bias")) {
            (Some(w), Some(b)) => Some((w.to_dtype(DType::F32)?.t()?, b.to_dtype(DType::F32)?)),
            _ => None,
        };
        Ok(EfficientNetLite0 {
            stem,
            stem_bias_act: BiasAct::new(stem_bias, true),
            blocks,
            head,
            classifier,
        })
    }

    /// Output of the stem and the first `blocks` blocks of a normalised `(N, 3, H, W)` batch
    /// (training runs frozen blocks through this fast path).
    pub fn prefix(&self, x: &Tensor, blocks: usize) -> Result<Tensor> {
        let x = pad_same(x, 3, 2)?;
        let mut x = self
            .stem_bias_act
            .forward(&x.conv2d(&self.stem, 0, 2, 1, 1)?)?;
        for block in self.blocks.iter().take(blocks) {
            x = block.forward(&x)?;
        }
        Ok(x)
    }

    /// Head feature map `(N, 1280, H/32, W/32)` of a normalised `(N, 3, H, W)` batch.
    pub fn feature_map(&self, x: &Tensor) -> Result<Tensor> {
        self.head.forward(&self.prefix(x, self.blocks.len())?)
    }

    /// Pooled 1280-d features `(N, 1280)` (global average) of a normalised batch.
    pub fn pooled(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.feature_map(x)?;
        let (n, c, h, w) = x.dims4()?;
        Ok(x.reshape((n, c, h * w))?.mean(2)?)
    }

    /// ImageNet logits `(N, 1000)` from pooled features, if the weights include the classifier.
    pub fn classify(&self, pooled: &Tensor) -> Result<Option<Tensor>> {
        match &self.classifier {
            Some((wt, b)) => Ok(Some(pooled.matmul(wt)?.broadcast_add(b)?)),
            None => Ok(None),
        }
    }

    pub fn device(&self) -> &Device {
        self.stem.device()
    }
}
