//! CPU kernels that candle lacks or runs slowly, as candle custom ops (inference only):
//! a depthwise convolution with TensorFlow "SAME" padding, and a per-channel bias plus
//! optional ReLU6. Both fuse the bias and activation so that each activation map is written once.
//!
//! candle 0.11 runs a grouped convolution as one convolution per group, which is two orders of
//! magnitude slower than this direct loop for depthwise layers.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

/// Output size and leading padding of a TensorFlow "SAME" convolution along one axis.
/// The total padding is `max((ceil(n/s) - 1) * s + k - n, 0)`; the smaller half goes first.
pub fn same_padding(n: usize, k: usize, stride: usize) -> (usize, usize) {
    let out = n.div_ceil(stride);
    let total = ((out - 1) * stride + k).saturating_sub(n);
    (out, total / 2)
}

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(d) => d.as_slice(),
        _ => candle_core::bail!("expected an f32 tensor"),
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("expected a contiguous tensor"),
    }
}

/// Depthwise `k x k` convolution (one filter per channel), stride 1 or 2, "SAME" padding,
/// with the (BatchNorm-folded) bias and an optional ReLU6 fused in. Input and output are NCHW.
#[derive(Debug, Clone)]
pub struct DepthwiseConv {
    /// `channels * k * k` weights, channel-major.
    weight: Arc<[f32]>,
    bias: Arc<[f32]>,
    k: usize,
    stride: usize,
    relu6: bool,
}

impl DepthwiseConv {
    pub fn new(weight: Vec<f32>, bias: Vec<f32>, k: usize, stride: usize, relu6: bool) -> Self {
        assert_eq!(weight.len(), bias.len() * k * k, "depthwise weight shape");
        assert!(stride >= 1);
        DepthwiseConv {
            weight: weight.into(),
            bias: bias.into(),
            k,
            stride,
            relu6,
        }
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.contiguous()?.apply_op1_no_bwd(self)
    }
}

/// One channel plane: `out[oy][ox] = bias + sum w[ky][kx] * in[oy*s+ky-pt][ox*s+kx-pl]`.
#[allow(clippy::too_many_arguments)]
fn depthwise_plane(
    input: &[f32],
    (h, w): (usize, usize),
    out: &mut [f32],
    (oh, ow): (usize, usize),
    weight: &[f32],
    bias: f32,
    k: usize,
    s: usize,
    (pt, pl): (usize, usize),
) {
    out.fill(bias);
    for oy in 0..oh {
        let orow = &mut out[oy * ow..(oy + 1) * ow];
        for ky in 0..k {
            let iy = (oy * s + ky) as isize - pt as isize;
            if iy < 0 || iy >= h as isize {
                continue;
            }
            let irow = &input[iy as usize * w..(iy as usize + 1) * w];
            for kx in 0..k {
                let wv = weight[ky * k + kx];
                // Output columns whose input column ox*s + kx - pl lies inside [0, w).
                let lo = pl.saturating_sub(kx).div_ceil(s);
                let Some(span) = (w + pl).checked_sub(kx + 1) else {
                    continue;
                };
                let hi = (span / s + 1).min(ow);
                if lo >= hi {
                    continue;
                }
                let first = lo * s + kx - pl;
                if s == 1 {
                    let src = &irow[first..first + (hi - lo)];
                    for (o, &v) in orow[lo..hi].iter_mut().zip(src) {
                        *o += wv * v;
                    }
                } else {
                    for (j, o) in orow[lo..hi].iter_mut().enumerate() {
                        *o += wv * irow[first + j * s];
                    }
                }
            }
        }
    }
}

fn relu6_in_place(xs: &mut [f32]) {
    for x in xs {
        *x = x.clamp(0.0, 6.0);
    }
}

impl CustomOp1 for DepthwiseConv {
    fn name(&self) -> &'static str {
        "depthwise-conv-same"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = layout.shape().dims4()?;
        if c != self.bias.len() {
            candle_core::bail!(
                "depthwise conv has {} channels, input has {c}",
                self.bias.len()
            );
        }
        let input = contiguous_f32(storage, layout)?;
        let (k, s) = (self.k, self.stride);
        let (oh, pt) = same_padding(h, k, s);
        let (ow, pl) = same_padding(w, k, s);
        let mut out = vec![0f32; n * c * oh * ow];
        out.par_chunks_mut(oh * ow)
            .enumerate()
            .for_each(|(plane, o)| {
                let ch = plane % c;
                depthwise_plane(
                    &input[plane * h * w..(plane + 1) * h * w],
                    (h, w),
                    o,
                    (oh, ow),
                    &self.weight[ch * k * k..(ch + 1) * k * k],
                    self.bias[ch],
                    k,
                    s,
                    (pt, pl),
                );
                if self.relu6 {
                    relu6_in_place(o);
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }
}

/// Adds a per-channel bias to an `(N, C, ...)` tensor and optionally applies ReLU6,
/// in one parallel pass.
#[derive(Debug, Clone)]
pub struct BiasAct {
    bias: Arc<[f32]>,
    relu6: bool,
}

impl BiasAct {
    pub fn new(bias: Vec<f32>, relu6: bool) -> Self {
        BiasAct {
            bias: bias.into(),
            relu6,
        }
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.contiguous()?.apply_op1_no_bwd(self)
    }
}

impl CustomOp1 for BiasAct {
    fn name(&self) -> &'static str {
        "bias-relu6"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = layout.shape().dims();
        if dims.len() < 2 || dims[1] != self.bias.len() {
            candle_core::bail!(
                "bias of {} channels does not fit shape {:?}",
                self.bias.len(),
                dims
            );
        }
        let c = dims[1];
        let plane: usize = dims[2..].iter().product();
        let mut out = contiguous_f32(storage, layout)?.to_vec();
        out.par_chunks_mut(plane.max(1))
            .enumerate()
            .for_each(|(i, xs)| {
                let b = self.bias[i % c];
                if self.relu6 {
                    for x in xs {
                        *x = (*x + b).clamp(0.0, 6.0);
                    }
                } else {
                    for x in xs {
                        *x += b;
                    }
                }
            });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn same_padding_matches_tensorflow() {
        assert_eq!(same_padding(224, 3, 2), (112, 0));
        assert_eq!(same_padding(224, 5, 2), (112, 1));
        assert_eq!(same_padding(7, 3, 1), (7, 1));
        assert_eq!(same_padding(7, 5, 1), (7, 2));
        assert_eq!(same_padding(15, 3, 2), (8, 1));
    }

    /// The fused kernel must equal candle's own grouped convolution on an explicitly padded
    /// input, for both kernel sizes, both strides and odd/even sizes.
    #[test]
    fn depthwise_matches_candle_grouped_conv() {
        let dev = Device::Cpu;
        for &(k, s, h, w) in &[(3, 1, 7, 9), (5, 1, 6, 6), (3, 2, 8, 11), (5, 2, 9, 7)] {
            let (n, c) = (2, 3);
            let x = Tensor::randn(0f32, 1.0, (n, c, h, w), &dev).unwrap();
            let wt = Tensor::randn(0f32, 1.0, (c, 1, k, k), &dev).unwrap();
            let bias: Vec<f32> = (0..c).map(|i| i as f32 * 0.5 - 0.3).collect();
            let op = DepthwiseConv::new(
                wt.flatten_all().unwrap().to_vec1().unwrap(),
                bias.clone(),
                k,
                s,
                false,
            );
            let got = op.forward(&x).unwrap();

            let (oh, pt) = same_padding(h, k, s);
            let (ow, pl) = same_padding(w, k, s);
            let pb = ((oh - 1) * s + k).saturating_sub(h) - pt;
            let pr = ((ow - 1) * s + k).saturating_sub(w) - pl;
            let xp = x
                .pad_with_zeros(2, pt, pb)
                .unwrap()
                .pad_with_zeros(3, pl, pr)
                .unwrap();
            let want = xp
                .conv2d(&wt, 0, s, 1, c)
                .unwrap()
                .broadcast_add(
                    &Tensor::new(bias.as_slice(), &dev)
                        .unwrap()
                        .reshape((1, c, 1, 1))
                        .unwrap(),
                )
                .unwrap();
            assert_eq!(got.dims(), want.dims(), "k={k} s={s} h={h} w={w}");
            let diff = (got - want)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-4, "k={k} s={s} h={h} w={w}: max diff {diff}");
        }
    }

    #[test]
    fn bias_act_adds_bias_and_clamps() {
        let dev = Device::Cpu;
        let x = Tensor::new(
            &[[[-1f32, 2.0], [5.0, 9.0]], [[0.0, 1.0], [2.0, 3.0]]],
            &dev,
        )
        .unwrap()
        .reshape((1, 2, 2, 2))
        .unwrap();
        let y = BiasAct::new(vec![0.5, -1.0], true).forward(&x).unwrap();
        let got: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(got, vec![0.0, 2.5, 5.5, 6.0, 0.0, 0.0, 1.0, 2.0]);
        let y = BiasAct::new(vec![0.5, -1.0], false).forward(&x).unwrap();
        let got: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(got, vec![-0.5, 2.5, 5.5, 9.5, -1.0, 0.0, 1.0, 2.0]);
    }
}
