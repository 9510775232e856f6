//! EfficientNet-Lite0 for inference, ported to candle from the PyTorch layout
//! (`_conv_stem`, `_bn0`, `_blocks.{0..15}`, `_conv_head`, `_bn1`, optional `_fc`).
//!
//! BatchNorm is folded into the preceding convolution when the weights are loaded. The
//! network runs on the NHWC kernels of [`super::kernels`], one image per thread: 1x1
//! convolutions are matrix products, depthwise convolutions a direct loop vectorised across
//! channels, the stem an im2col product. Padding is TensorFlow "SAME", activations ReLU6.
//! Tensors are NCHW at the boundary (what training and the encoder hand in).

use super::kernels::{self, Dense, Depthwise, Hwc, Pooling};
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;
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
    /// `(in, out)`, row-major.
    weight: Vec<f32>,
    bias: Vec<f32>,
    cin: usize,
    relu6: bool,
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
            weight: w.reshape((o, i))?.t()?.flatten_all()?.to_vec1::<f32>()?,
            bias,
            cin: i,
            relu6,
        })
    }

    fn cout(&self) -> usize {
        self.bias.len()
    }

    /// `input` (shape `shape`) into `out`, resized to fit; returns the output shape.
    fn run(&self, input: &[f32], shape: Hwc, out: &mut Vec<f32>) -> Hwc {
        let shape_out = Hwc {
            c: self.cout(),
            ..shape
        };
        out.resize(shape_out.len(), 0.0);
        kernels::pointwise(
            input,
            shape.pixels(),
            self.cin,
            &self.weight,
            &self.bias,
            self.relu6,
            out,
            Parallelism::None,
        );
        shape_out
    }
}

/// One mobile inverted bottleneck block (no squeeze-excite in the Lite variant).
struct MbConv {
    expand: Option<Pointwise>,
    depthwise: Depthwise,
    project: Pointwise,
    residual: bool,
}

impl MbConv {
    /// Block `index`, its tensors named `{prefix}_blocks.{index}.*`.
    fn load(weights: &Weights, prefix: &str, index: usize) -> Result<Self> {
        let p = format!("{prefix}_blocks.{index}");
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
        let depthwise = Depthwise::from_channel_major(
            &dw.flatten_all()?.to_vec1::<f32>()?,
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
            Some(e) => e.cin,
            None => channels,
        };
        if expand.as_ref().is_some_and(|e| e.cout() != channels) || project.cin != channels {
            return Err(Error::model(
                "weights",
                format!("{p}: the expansion, depthwise and projection widths differ"),
            ));
        }
        let residual = stride == 1 && in_channels == project.cout();
        Ok(MbConv {
            expand,
            depthwise,
            project,
            residual,
        })
    }

    /// Runs the block on `ws.x` (shape `shape`), leaving the result in `ws.x`.
    fn run(&self, ws: &mut Workspace, shape: Hwc) -> Hwc {
        let expanded = match &self.expand {
            Some(e) => e.run(&ws.x, shape, &mut ws.a),
            None => {
                ws.a.clone_from(&ws.x);
                shape
            }
        };
        let dw_shape = self.depthwise.output_shape(expanded);
        ws.b.resize(dw_shape.len(), 0.0);
        self.depthwise.run(&ws.a, expanded, &mut ws.b);
        let out = self.project.run(&ws.b, dw_shape, &mut ws.a);
        if self.residual {
            for (y, x) in ws.a.iter_mut().zip(&ws.x) {
                *y += x;
            }
        }
        std::mem::swap(&mut ws.x, &mut ws.a);
        out
    }
}

/// Buffers one thread reuses from image to image (and from call to call): the current map
/// and two scratch maps, at most a few megabytes each.
#[derive(Default)]
struct Workspace {
    x: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
}

/// Runs `blocks` on `ws.x` in turn, leaving the result in `ws.x`.
fn run_blocks(blocks: &[MbConv], ws: &mut Workspace, mut shape: Hwc) -> Hwc {
    for block in blocks {
        shape = block.run(ws, shape);
    }
    shape
}

/// Runs `blocks` and then the head convolution on `ws.x` (shape `shape`) and pools the head
/// features.
fn pooled_tail(
    blocks: &[MbConv],
    head: &Pointwise,
    ws: &mut Workspace,
    shape: Hwc,
    pooling: Pooling,
) -> Vec<f32> {
    let shape = run_blocks(blocks, ws, shape);
    let shape = head.run(&ws.x, shape, &mut ws.a);
    std::mem::swap(&mut ws.x, &mut ws.a);
    let mut v = vec![0f32; shape.c];
    kernels::pool(&ws.x, shape.c, pooling, &mut v);
    v
}

/// The later blocks and the head of a second network that shares the stem and the blocks
/// before [`Branch::start`] with an [`EfficientNetLite0`]: a second descriptor head for the
/// cost of its own blocks only.
pub struct Branch {
    start: usize,
    blocks: Vec<MbConv>,
    head: Pointwise,
}

impl Branch {
    /// Blocks `start` to 15 and the head, their tensors named with `prefix` before the
    /// usual names (`{prefix}_blocks.12._expand_conv.weight`, `{prefix}_conv_head.weight`).
    pub fn load(weights: &Weights, prefix: &str, start: usize) -> Result<Self> {
        if !(1..=BLOCKS).contains(&start) {
            return Err(Error::model(
                "weights",
                format!("a branch starts after block 0 and by block {BLOCKS}, not at {start}"),
            ));
        }
        let blocks = (start..BLOCKS)
            .map(|i| MbConv::load(weights, prefix, i))
            .collect::<Result<Vec<_>>>()?;
        let head = Pointwise::load(
            weights,
            &format!("{prefix}_conv_head"),
            &format!("{prefix}_bn1"),
            true,
        )?;
        Ok(Branch {
            start,
            blocks,
            head,
        })
    }

    /// The first block of the branch: blocks before it are shared.
    pub fn start(&self) -> usize {
        self.start
    }
}

/// Blocks of EfficientNet-Lite0.
pub const BLOCKS: usize = 16;

/// EfficientNet-Lite0 with BatchNorm folded, ready for inference.
pub struct EfficientNetLite0 {
    stem: Dense,
    blocks: Vec<MbConv>,
    head: Pointwise,
    /// ImageNet classifier `(weight (1000, 1280), bias)`, when the weights carry one.
    classifier: Option<(Tensor, Tensor)>,
}

impl EfficientNetLite0 {
    /// Builds the network from PyTorch-named tensors of any float dtype.
    pub fn load(weights: &Weights) -> Result<Self> {
        let (stem, stem_bias) = fold_bn(weights, "_conv_stem", "_bn0")?;
        let (_, cin, k, k2) = stem.dims4()?;
        if (cin, k, k2) != (3, 3, 3) {
            return Err(Error::model(
                "weights",
                format!(
                    "_conv_stem has shape {:?}, expected (32, 3, 3, 3)",
                    stem.dims()
                ),
            ));
        }
        let stem = Dense::from_torch(
            &stem.flatten_all()?.to_vec1::<f32>()?,
            stem_bias,
            cin,
            k,
            2,
            true,
        );
        let mut blocks = Vec::new();
        while weights.contains_key(&format!("_blocks.{}._depthwise_conv.weight", blocks.len())) {
            blocks.push(MbConv::load(weights, "", blocks.len())?);
        }
        if blocks.len() != BLOCKS {
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
            blocks,
            head,
            classifier,
        })
    }

    /// Stem and the first `blocks` blocks of one normalised CHW image; the result is left
    /// in `ws.x`.
    fn run(&self, chw: &[f32], (h, w): (usize, usize), blocks: usize, ws: &mut Workspace) -> Hwc {
        let plane = h * w;
        ws.a.resize(3 * plane, 0.0);
        debug_assert!(blocks <= self.blocks.len());
        for (i, px) in ws.a.chunks_exact_mut(3).enumerate() {
            px.copy_from_slice(&[chw[i], chw[plane + i], chw[2 * plane + i]]);
        }
        let input = Hwc { h, w, c: 3 };
        let shape = self.stem.output_shape(input);
        ws.x.resize(shape.len(), 0.0);
        self.stem
            .run(&ws.a, input, &mut ws.b, &mut ws.x, Parallelism::None);
        run_blocks(&self.blocks[..blocks], ws, shape)
    }

    /// Runs `f` on every image of a normalised `(N, 3, H, W)` batch, images in parallel.
    fn per_image<T: Send>(
        &self,
        x: &Tensor,
        f: impl Fn(&[f32], (usize, usize), &mut Workspace) -> T + Sync,
    ) -> Result<Vec<T>> {
        let (_, c, h, w) = x.dims4()?;
        if c != 3 {
            return Err(Error::InvalidArgument(format!(
                "EfficientNet-Lite0 takes 3 channels, the input has {c}"
            )));
        }
        thread_local! {
            static WORKSPACE: std::cell::RefCell<Workspace> = Default::default();
        }
        let data = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        // One image per thread; a lone image (a query) runs on one thread too: splitting
        // its small matrix products over two cores was slower (benches/encoder.rs, batch 1).
        Ok(data
            .par_chunks(3 * h * w)
            .map(|img| WORKSPACE.with_borrow_mut(|ws| f(img, (h, w), ws)))
            .collect())
    }

    /// Output `(N, C, h, w)` of the stem and the first `blocks` blocks of a normalised
    /// `(N, 3, H, W)` batch (training runs frozen blocks through this fast path).
    pub fn prefix(&self, x: &Tensor, blocks: usize) -> Result<Tensor> {
        let maps = self.per_image(x, |img, hw, ws| {
            let shape = self.run(img, hw, blocks, ws);
            (shape, ws.x.clone())
        })?;
        let shape = maps
            .first()
            .map(|(s, _)| *s)
            .unwrap_or(Hwc { h: 0, w: 0, c: 0 });
        let n = maps.len();
        let data: Vec<f32> = maps.into_iter().flat_map(|(_, m)| m).collect();
        Ok(
            Tensor::from_vec(data, (n, shape.h, shape.w, shape.c), &Device::Cpu)?
                .permute((0, 3, 1, 2))?
                .contiguous()?,
        )
    }

    /// Pooled 1280-d head features `(N, 1280)` of a normalised `(N, 3, H, W)` batch.
    pub fn pooled(&self, x: &Tensor, pooling: Pooling) -> Result<Tensor> {
        let n = x.dim(0)?;
        let dim = self.head.cout();
        let pooled = self.per_image(x, |img, hw, ws| {
            let stem = self.run(img, hw, 0, ws);
            pooled_tail(&self.blocks, &self.head, ws, stem, pooling)
        })?;
        Ok(Tensor::from_vec(pooled.concat(), (n, dim), &Device::Cpu)?)
    }

    /// Pooled head features of the network and of `branch`, `((N, 1280), (N, C))`: the stem
    /// and the shared blocks run once per image.
    pub fn pooled_with_branch(
        &self,
        x: &Tensor,
        branch: &Branch,
        pooling: Pooling,
    ) -> Result<(Tensor, Tensor)> {
        let n = x.dim(0)?;
        let (dim, branch_dim) = (self.head.cout(), branch.head.cout());
        let pooled = self.per_image(x, |img, hw, ws| {
            let shared = self.run(img, hw, branch.start, ws);
            let saved = ws.x.clone();
            let v = pooled_tail(
                &self.blocks[branch.start..],
                &self.head,
                ws,
                shared,
                pooling,
            );
            ws.x = saved;
            let u = pooled_tail(&branch.blocks, &branch.head, ws, shared, pooling);
            (v, u)
        })?;
        let (main, other): (Vec<Vec<f32>>, Vec<Vec<f32>>) = pooled.into_iter().unzip();
        Ok((
            Tensor::from_vec(main.concat(), (n, dim), &Device::Cpu)?,
            Tensor::from_vec(other.concat(), (n, branch_dim), &Device::Cpu)?,
        ))
    }

    /// ImageNet logits `(N, 1000)` from pooled features, if the weights include the classifier.
    pub fn classify(&self, pooled: &Tensor) -> Result<Option<Tensor>> {
        match &self.classifier {
            Some((wt, b)) => Ok(Some(pooled.matmul(wt)?.broadcast_add(b)?)),
            None => Ok(None),
        }
    }
}
