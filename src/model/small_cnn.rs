//! A small CNN for training from scratch (`lookalike train --arch small-cnn`): a stem and six
//! depthwise-separable blocks (3x3 depthwise convolution, BatchNorm, ReLU, 1x1 convolution,
//! BatchNorm, ReLU), three of them downsampling by two, then the descriptor head (GeM pooling,
//! a linear layer, L2 normalisation). 80 k parameters plus the projection (104 k at 128-d);
//! built only from operations with fast CPU backward passes (matrix products and the
//! depthwise kernel of [`super::ops`]).
//!
//! One implementation serves training (BatchNorm on batch statistics, parameters in a
//! `VarMap`) and inference (running statistics, parameters read from a safetensors file).

use super::ops::{depthwise_conv, gem};
use candle_core::{Result, Tensor};
use candle_nn::{BatchNorm, BatchNormConfig, Init, ModuleT, VarBuilder};

/// Architecture name in model metadata.
pub const ARCH_SMALL_CNN: &str = "small-cnn";
/// Channels after the stem.
const STEM_CHANNELS: usize = 24;
/// (stride, output channels) of the blocks.
const BLOCKS: [(usize, usize); 6] = [(2, 48), (1, 48), (2, 96), (1, 96), (2, 192), (1, 192)];
/// Width of the pooled feature.
pub const FEATURE_DIM: usize = 192;
/// Name of the descriptor projection `(dim, FEATURE_DIM)`.
pub const PROJECTION: &str = "descriptor.projection.weight";

struct SeparableConv {
    depthwise: Tensor,
    depthwise_bn: BatchNorm,
    pointwise: Tensor,
    pointwise_bn: BatchNorm,
    stride: usize,
}

impl SeparableConv {
    fn new(vb: &VarBuilder, cin: usize, cout: usize, stride: usize) -> Result<Self> {
        let bn_config = BatchNormConfig {
            eps: 1e-5,
            remove_mean: true,
            affine: true,
            momentum: 0.1,
        };
        Ok(SeparableConv {
            depthwise: vb.get_with_hints(
                (cin, 1, 3, 3),
                "depthwise.weight",
                Init::Randn {
                    mean: 0.0,
                    stdev: (2.0f64 / 9.0).sqrt(),
                },
            )?,
            depthwise_bn: candle_nn::batch_norm(cin, bn_config, vb.pp("depthwise_bn"))?,
            pointwise: vb.get_with_hints(
                (cout, cin),
                "pointwise.weight",
                Init::Randn {
                    mean: 0.0,
                    stdev: (2.0 / cin as f64).sqrt(),
                },
            )?,
            pointwise_bn: candle_nn::batch_norm(cout, bn_config, vb.pp("pointwise_bn"))?,
            stride,
        })
    }

    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let h = depthwise_conv(x, &self.depthwise, self.stride)?;
        let h = self.depthwise_bn.forward_t(&h, train)?.relu()?;
        let (n, c, hh, ww) = h.dims4()?;
        let o = self.pointwise.dim(0)?;
        let h = self
            .pointwise
            .broadcast_matmul(&h.reshape((n, c, hh * ww))?)?
            .reshape((n, o, hh, ww))?;
        self.pointwise_bn.forward_t(&h, train)?.relu()
    }
}

/// The small CNN with its descriptor head.
pub struct SmallCnn {
    layers: Vec<SeparableConv>,
    projection: Tensor,
    gem_p: f64,
}

impl SmallCnn {
    /// Builds the network from `vb`: existing tensors are used, missing ones initialised
    /// (when `vb` is backed by a `VarMap`).
    pub fn new(vb: &VarBuilder, dim: usize, gem_p: f64) -> Result<Self> {
        let mut layers = vec![SeparableConv::new(&vb.pp("stem"), 3, STEM_CHANNELS, 1)?];
        let mut cin = STEM_CHANNELS;
        for (i, &(stride, cout)) in BLOCKS.iter().enumerate() {
            layers.push(SeparableConv::new(
                &vb.pp(format!("blocks.{i}")),
                cin,
                cout,
                stride,
            )?);
            cin = cout;
        }
        let projection = vb.get_with_hints(
            (dim, FEATURE_DIM),
            PROJECTION,
            Init::Randn {
                mean: 0.0,
                stdev: (1.0 / FEATURE_DIM as f64).sqrt(),
            },
        )?;
        Ok(SmallCnn {
            layers,
            projection,
            gem_p,
        })
    }

    /// Descriptor dimension.
    pub fn dim(&self) -> usize {
        self.projection.dims()[0]
    }

    /// Every BatchNorm of the network, named by its prefix in the weights.
    pub fn norms(&self) -> Vec<(String, &BatchNorm)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let p = if i == 0 {
                "stem".to_string()
            } else {
                format!("blocks.{}", i - 1)
            };
            out.push((format!("{p}.depthwise_bn"), &l.depthwise_bn));
            out.push((format!("{p}.pointwise_bn"), &l.pointwise_bn));
        }
        out
    }

    /// Unnormalised descriptors `(N, dim)` of a normalised `(N, 3, H, W)` batch.
    pub fn features(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        for layer in &self.layers {
            h = layer.forward(&h, train)?;
        }
        gem(&h, self.gem_p)?.matmul(&self.projection.t()?)
    }

    /// Unit-length descriptors `(N, dim)`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let z = self.features(x, train)?;
        let norm = z.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
        z.broadcast_div(&norm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn shapes_and_unit_length() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let net = SmallCnn::new(&vb, 16, 3.0).unwrap();
        assert_eq!(net.dim(), 16);
        assert_eq!(net.norms().len(), 14);
        let x = Tensor::randn(0f32, 1.0, (3, 3, 32, 32), &Device::Cpu).unwrap();
        let z: Vec<Vec<f32>> = net.forward(&x, true).unwrap().to_vec2().unwrap();
        assert_eq!(z.len(), 3);
        for row in z {
            assert_eq!(row.len(), 16);
            let n: f32 = row.iter().map(|v| v * v).sum();
            assert!((n - 1.0).abs() < 1e-4, "norm {n}");
        }
    }
}
