//! Trainable networks: EfficientNet-Lite0 with BatchNorm in training mode (batch statistics,
//! running statistics updated outside the optimiser) and the descriptor head (GeM pooling, a
//! linear layer, L2 normalisation). Parameters live in a candle `VarMap` under the PyTorch
//! names of the original model, so that pretrained weights load by name and exported weights
//! load in the inference [`crate::model::Encoder`].

use crate::model::efficientnet::EfficientNetLite0;
use crate::model::ops::{depthwise_conv, gem, pad_same};
use crate::model::small_cnn::{SmallCnn, ARCH_SMALL_CNN};
use crate::model::ARCH_LITE0_DESCRIPTOR;
use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{BatchNorm, BatchNormConfig, Init, ModuleT, VarBuilder, VarMap};
use std::collections::HashMap;

/// BatchNorm epsilon of the original model.
const BN_EPS: f64 = 1e-3;
/// Running statistics follow batches with this weight.
const BN_MOMENTUM: f64 = 0.01;
/// (expand ratio, kernel, stride, output channels) of the 16 blocks of EfficientNet-Lite0.
const BLOCKS: [(usize, usize, usize, usize); 16] = [
    (1, 3, 1, 16),
    (6, 3, 2, 24),
    (6, 3, 1, 24),
    (6, 5, 2, 40),
    (6, 5, 1, 40),
    (6, 3, 2, 80),
    (6, 3, 1, 80),
    (6, 3, 1, 80),
    (6, 5, 1, 112),
    (6, 5, 1, 112),
    (6, 5, 1, 112),
    (6, 5, 2, 192),
    (6, 5, 1, 192),
    (6, 5, 1, 192),
    (6, 5, 1, 192),
    (6, 3, 1, 320),
];
const STEM_CHANNELS: usize = 32;
const HEAD_CHANNELS: usize = 1280;
/// Images per pass through the frozen blocks.
const PREFIX_CHUNK: usize = 4;
pub use crate::model::HEAD_PROJECTION;

fn bn(channels: usize, vb: VarBuilder) -> Result<BatchNorm> {
    candle_nn::batch_norm(
        channels,
        BatchNormConfig {
            eps: BN_EPS,
            remove_mean: true,
            affine: true,
            momentum: BN_MOMENTUM,
        },
        vb,
    )
}

fn relu6(x: &Tensor) -> Result<Tensor> {
    x.clamp(0f32, 6f32)
}

/// A 1x1 convolution as a batched matrix product.
fn pointwise(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let o = weight.dim(0)?;
    weight
        .reshape((o, c))?
        .broadcast_matmul(&x.reshape((n, c, h * w))?)?
        .reshape((n, o, h, w))
}

struct Block {
    expand: Option<(Tensor, BatchNorm)>,
    depthwise: (Tensor, BatchNorm),
    project: (Tensor, BatchNorm),
    stride: usize,
    residual: bool,
}

impl Block {
    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        if let Some((w, b)) = &self.expand {
            h = relu6(&b.forward_t(&pointwise(&h, w)?, train)?)?;
        }
        h = relu6(
            &self
                .depthwise
                .1
                .forward_t(&depthwise_conv(&h, &self.depthwise.0, self.stride)?, train)?,
        )?;
        h = self
            .project
            .1
            .forward_t(&pointwise(&h, &self.project.0)?, train)?;
        if self.residual {
            h + x
        } else {
            Ok(h)
        }
    }
}

/// EfficientNet-Lite0 with a GeM + linear descriptor head, trainable.
pub struct Lite0Descriptor {
    stem: (Tensor, BatchNorm),
    blocks: Vec<Block>,
    head: (Tensor, BatchNorm),
    projection: Tensor,
    /// GeM exponent.
    pub gem_p: f64,
    /// Blocks before this index run in inference mode and receive no gradient.
    pub frozen_blocks: usize,
    /// The inference network (BatchNorm folded, fused kernels) that runs the frozen stem and
    /// blocks, several times faster than the training graph; `None` when nothing is frozen.
    frozen_prefix: Option<EfficientNetLite0>,
    /// Every BatchNorm with its name prefix, for exporting running statistics.
    norms: Vec<(String, BatchNorm)>,
}

impl Lite0Descriptor {
    /// Builds the network in `varmap`. Tensors already in the map (e.g. pretrained weights put
    /// there with [`preload`]) are used as they are; the others are initialised.
    pub fn new(
        varmap: &VarMap,
        dim: usize,
        gem_p: f64,
        frozen_blocks: usize,
        device: &Device,
    ) -> Result<Self> {
        let vb = VarBuilder::from_varmap(varmap, DType::F32, device);
        let mut norms = Vec::new();
        let conv = |name: &str, shape: (usize, usize, usize, usize)| -> Result<Tensor> {
            let fan_in = shape.1 * shape.2 * shape.3;
            vb.get_with_hints(
                shape,
                &format!("{name}.weight"),
                Init::Randn {
                    mean: 0.0,
                    stdev: (2.0 / fan_in as f64).sqrt(),
                },
            )
        };
        let mut norm = |name: &str, c: usize| -> Result<BatchNorm> {
            let b = bn(c, vb.pp(name))?;
            norms.push((name.to_string(), b.clone()));
            Ok(b)
        };
        let stem = (
            conv("_conv_stem", (STEM_CHANNELS, 3, 3, 3))?,
            norm("_bn0", STEM_CHANNELS)?,
        );
        let mut blocks = Vec::new();
        let mut cin = STEM_CHANNELS;
        for (i, &(expand, k, stride, cout)) in BLOCKS.iter().enumerate() {
            let p = format!("_blocks.{i}");
            let mid = cin * expand;
            let expand = if expand != 1 {
                Some((
                    conv(&format!("{p}._expand_conv"), (mid, cin, 1, 1))?,
                    norm(&format!("{p}._bn0"), mid)?,
                ))
            } else {
                None
            };
            let depthwise = (
                conv(&format!("{p}._depthwise_conv"), (mid, 1, k, k))?,
                norm(&format!("{p}._bn1"), mid)?,
            );
            let project = (
                conv(&format!("{p}._project_conv"), (cout, mid, 1, 1))?,
                norm(&format!("{p}._bn2"), cout)?,
            );
            blocks.push(Block {
                expand,
                depthwise,
                project,
                stride,
                residual: stride == 1 && cin == cout,
            });
            cin = cout;
        }
        let head = (
            conv("_conv_head", (HEAD_CHANNELS, cin, 1, 1))?,
            norm("_bn1", HEAD_CHANNELS)?,
        );
        let projection = vb.get_with_hints(
            (dim, HEAD_CHANNELS),
            HEAD_PROJECTION,
            Init::Randn {
                mean: 0.0,
                stdev: (1.0 / HEAD_CHANNELS as f64).sqrt(),
            },
        )?;
        let frozen_prefix = if frozen_blocks > 0 {
            let weights: HashMap<String, Tensor> = varmap
                .data()
                .lock()
                .expect("var map lock")
                .iter()
                .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
                .collect();
            Some(EfficientNetLite0::load(&weights).map_err(candle_core::Error::wrap)?)
        } else {
            None
        };
        Ok(Lite0Descriptor {
            stem,
            blocks,
            head,
            projection,
            gem_p,
            frozen_blocks,
            frozen_prefix,
            norms,
        })
    }

    /// Unit-length descriptors `(N, dim)` of a normalised `(N, 3, H, W)` batch.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let frozen = self.frozen_blocks.min(self.blocks.len());
        let mut h = match &self.frozen_prefix {
            Some(prefix) => {
                // In chunks: small tensors stay in cache and in the allocator's free lists.
                let n = x.dim(0)?;
                let parts = (0..n)
                    .step_by(PREFIX_CHUNK)
                    .map(|at| {
                        prefix
                            .prefix(&x.narrow(0, at, PREFIX_CHUNK.min(n - at))?, frozen)
                            .map_err(candle_core::Error::wrap)
                    })
                    .collect::<Result<Vec<_>>>()?;
                Tensor::cat(&parts, 0)?.detach()
            }
            None => relu6(
                &self
                    .stem
                    .1
                    .forward_t(&pad_same(x, 3, 2)?.conv2d(&self.stem.0, 0, 2, 1, 1)?, train)?,
            )?,
        };
        for block in &self.blocks[frozen..] {
            h = block.forward(&h, train)?;
        }
        let h = relu6(
            &self
                .head
                .1
                .forward_t(&pointwise(&h, &self.head.0)?, train)?,
        )?;
        let pooled = gem(&h, self.gem_p)?;
        let z = pooled.matmul(&self.projection.t()?)?;
        let norm = z.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
        z.broadcast_div(&norm)
    }

    /// The variables the optimiser updates: everything except BatchNorm running statistics
    /// and the parameters of frozen blocks (and of the stem, when any block is frozen).
    pub fn trainable(&self, varmap: &VarMap) -> Vec<Var> {
        let frozen = self.frozen_blocks;
        let data = varmap.data().lock().expect("var map lock");
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        names
            .into_iter()
            .filter(|n| !n.ends_with("running_mean") && !n.ends_with("running_var"))
            .filter(|n| {
                if frozen == 0 {
                    return true;
                }
                if n.starts_with("_conv_stem") || n.starts_with("_bn0") {
                    return false;
                }
                match n
                    .strip_prefix("_blocks.")
                    .and_then(|r| r.split('.').next())
                    .and_then(|i| i.parse::<usize>().ok())
                {
                    Some(i) => i >= frozen,
                    None => true,
                }
            })
            .map(|n| data[n].clone())
            .collect()
    }

    /// Every tensor of the model under its inference name, BatchNorm running statistics
    /// included (read from the layers, which keep them up to date).
    pub fn tensors(&self, varmap: &VarMap) -> Result<HashMap<String, Tensor>> {
        export(varmap, self.norms.iter().map(|(n, b)| (n.clone(), b)))
    }
}

/// Every variable of `varmap` except running statistics, which are read from `norms` (the
/// layers keep them up to date; the map holds the values they started from).
fn export<'a>(
    varmap: &VarMap,
    norms: impl Iterator<Item = (String, &'a BatchNorm)>,
) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    for (n, v) in varmap.data().lock().expect("var map lock").iter() {
        if !n.ends_with("running_mean") && !n.ends_with("running_var") {
            out.insert(n.clone(), v.as_tensor().copy()?);
        }
    }
    for (name, b) in norms {
        out.insert(format!("{name}.running_mean"), b.running_mean().copy()?);
        out.insert(format!("{name}.running_var"), b.running_var().copy()?);
    }
    Ok(out)
}

/// A trainable network of one of the architectures `lookalike train` knows.
pub enum TrainNet {
    /// EfficientNet-Lite0 (from pretrained weights) with the descriptor head.
    Lite0(Box<Lite0Descriptor>),
    /// The small CNN, from scratch.
    Small(SmallCnn),
}

impl TrainNet {
    /// Builds the network `arch` in `varmap` (see [`Lite0Descriptor::new`]).
    pub fn new(
        arch: &str,
        varmap: &VarMap,
        dim: usize,
        gem_p: f64,
        frozen_blocks: usize,
        device: &Device,
    ) -> Result<Self> {
        match arch {
            ARCH_LITE0_DESCRIPTOR => Ok(TrainNet::Lite0(Box::new(Lite0Descriptor::new(
                varmap,
                dim,
                gem_p,
                frozen_blocks,
                device,
            )?))),
            ARCH_SMALL_CNN => {
                let vb = VarBuilder::from_varmap(varmap, DType::F32, device);
                Ok(TrainNet::Small(SmallCnn::new(&vb, dim, gem_p)?))
            }
            other => candle_core::bail!(
                "unknown architecture `{other}` (known: {ARCH_LITE0_DESCRIPTOR}, {ARCH_SMALL_CNN})"
            ),
        }
    }

    /// The architecture name written into model metadata.
    pub fn arch(&self) -> &'static str {
        match self {
            TrainNet::Lite0(_) => ARCH_LITE0_DESCRIPTOR,
            TrainNet::Small(_) => ARCH_SMALL_CNN,
        }
    }

    /// Unit-length descriptors of a normalised batch.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            TrainNet::Lite0(n) => n.forward(x, train),
            TrainNet::Small(n) => n.forward(x, train),
        }
    }

    /// The variables the optimiser updates.
    pub fn trainable(&self, varmap: &VarMap) -> Vec<Var> {
        match self {
            TrainNet::Lite0(n) => n.trainable(varmap),
            TrainNet::Small(_) => {
                let data = varmap.data().lock().expect("var map lock");
                let mut names: Vec<&String> = data.keys().collect();
                names.sort();
                names
                    .into_iter()
                    .filter(|n| !n.ends_with("running_mean") && !n.ends_with("running_var"))
                    .map(|n| data[n].clone())
                    .collect()
            }
        }
    }

    /// Every tensor of the model under its inference name, running statistics included.
    pub fn tensors(&self, varmap: &VarMap) -> Result<HashMap<String, Tensor>> {
        match self {
            TrainNet::Lite0(n) => n.tensors(varmap),
            TrainNet::Small(n) => export(varmap, n.norms().into_iter()),
        }
    }
}

/// Puts `tensors` (e.g. pretrained weights) into `varmap` as f32 variables, before the network
/// is built, skipping `num_batches_tracked`, the background set (descriptors of the network
/// the file came from, never a variable: a trained model gets its own when training ends) and
/// any name in `skip_prefixes`.
pub fn preload(
    varmap: &VarMap,
    tensors: &HashMap<String, Tensor>,
    skip_prefixes: &[&str],
) -> Result<usize> {
    let mut data = varmap.data().lock().expect("var map lock");
    let mut n = 0;
    for (name, t) in tensors {
        if name.ends_with("num_batches_tracked")
            || name == crate::model::background::TENSOR
            || skip_prefixes.iter().any(|p| name.starts_with(p))
        {
            continue;
        }
        data.insert(name.clone(), Var::from_tensor(&t.to_dtype(DType::F32)?)?);
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Encoder, IMAGENET_MODEL};
    use crate::train::loss::nt_xent;

    fn pretrained(dim: usize, frozen: usize) -> (VarMap, Lite0Descriptor) {
        let varmap = VarMap::new();
        let weights = candle_core::safetensors::load_buffer(IMAGENET_MODEL, &Device::Cpu).unwrap();
        assert!(preload(&varmap, &weights, &[]).unwrap() > 200);
        let net = Lite0Descriptor::new(&varmap, dim, 3.0, frozen, &Device::Cpu).unwrap();
        (varmap, net)
    }

    fn batch(n: usize, side: usize, seed: u64) -> Tensor {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let data: Vec<f32> = (0..n * 3 * side * side)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Smooth structure plus noise, per image.
                let p = i % (side * side);
                ((p / side) as f32 / side as f32 - 0.5)
                    * ((i / (3 * side * side)) as f32 + 1.0)
                    * 0.5
                    + ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.5
            })
            .collect();
        Tensor::from_vec(data, (n, 3, side, side), &Device::Cpu).unwrap()
    }

    /// Exported weights run in the inference encoder give the training network's descriptors.
    #[test]
    fn exported_descriptor_matches_the_inference_encoder() {
        let (varmap, net) = pretrained(32, 0);
        let x = batch(2, 64, 1);
        let want: Vec<Vec<f32>> = net.forward(&x, false).unwrap().to_vec2().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        crate::model::save_safetensors(
            &net.tensors(&varmap).unwrap(),
            &[
                ("arch", crate::model::ARCH_LITE0_DESCRIPTOR.into()),
                ("name", "test".into()),
                ("gem_p", "3".into()),
            ],
            &path,
        )
        .unwrap();
        let enc = Encoder::from_file(&path).unwrap();
        assert_eq!(enc.info().dim, 32);
        let got: Vec<Vec<f32>> = enc.features(&x).unwrap().to_vec2().unwrap();
        for (g, w) in got.iter().zip(&want) {
            let g = crate::vector::normalised(g.clone()).unwrap();
            let diff = g
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-4, "max diff {diff}");
        }
    }

    /// Frozen blocks run through the inference network; the descriptors do not change.
    #[test]
    fn the_frozen_prefix_gives_the_same_descriptors() {
        let (_, full) = pretrained(16, 0);
        let x = batch(5, 64, 3);
        let want: Vec<Vec<f32>> = full.forward(&x, false).unwrap().to_vec2().unwrap();
        for frozen in [1, 7, 16] {
            // Same seed for the projection: both maps start from the same weights.
            let (mut varmap, net) = pretrained(16, frozen);
            let projection = full.projection.clone();
            varmap.set_one(HEAD_PROJECTION, &projection).unwrap();
            let got: Vec<Vec<f32>> = net.forward(&x, false).unwrap().to_vec2().unwrap();
            for (g, w) in got.iter().zip(&want) {
                let diff = g
                    .iter()
                    .zip(w)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(diff < 1e-4, "{frozen} frozen blocks: max diff {diff}");
            }
        }
    }

    #[test]
    fn a_training_step_lowers_the_contrastive_loss() {
        let (varmap, net) = pretrained(16, 12);
        let vars = net.trainable(&varmap);
        // Blocks 12-15 (9 tensors each: three convs, three BN weights and biases), the head
        // conv and its BN (3), the projection (1); no running statistics, no frozen block.
        assert_eq!(vars.len(), 4 * 9 + 3 + 1);
        let x = batch(4, 64, 2);
        // Two "views": the batch and a slightly shifted copy of it.
        let views = Tensor::cat(&[&x, &(&x * 0.9).unwrap()], 0).unwrap();
        let loss0 = nt_xent(&net.forward(&views, true).unwrap(), None, 0.1).unwrap();
        let grads = loss0.backward().unwrap();
        for v in &vars {
            if let Some(g) = grads.get(v) {
                v.set(&(v.as_tensor() - (g * 0.05).unwrap()).unwrap())
                    .unwrap();
            }
        }
        let loss1 = nt_xent(&net.forward(&views, true).unwrap(), None, 0.1).unwrap();
        let (l0, l1) = (
            loss0.to_scalar::<f32>().unwrap(),
            loss1.to_scalar::<f32>().unwrap(),
        );
        assert!(l1 < l0, "loss {l0} -> {l1}");
    }
}
