//! candle custom ops for training: [`depthwise_conv`], a depthwise convolution with "SAME"
//! padding and its backward pass (gradients with respect to the input and to the weights,
//! each a direct loop); [`pad_same`]; GeM pooling. Inference runs on [`super::kernels`].
//!
//! candle 0.11 runs a grouped convolution as one convolution per group, which is two orders of
//! magnitude slower than this direct loop for depthwise layers.

use super::kernels::same_padding;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Zero-pads the two spatial dimensions of an NCHW tensor for a "SAME" `k x k` convolution
/// with stride `s` (the extra pixel, if any, at the bottom and right).
pub fn pad_same(x: &Tensor, k: usize, s: usize) -> candle_core::Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let (oh, pt) = same_padding(h, k, s);
    let (ow, pl) = same_padding(w, k, s);
    let pb = ((oh - 1) * s + k).saturating_sub(h) - pt;
    let pr = ((ow - 1) * s + k).saturating_sub(w) - pl;
    x.pad_with_zeros(2, pt, pb)?.pad_with_zeros(3, pl, pr)
}

/// Generalised-mean pooling of an NCHW map to `(N, C)`: `(mean x^p)^(1/p)`, values clamped
/// at 1e-6 first. `p = 1` is average pooling; larger `p` moves towards max pooling.
/// Differentiable, for training and inference alike.
pub fn gem(x: &Tensor, p: f64) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    x.clamp(1e-6f32, f32::MAX)?
        .powf(p)?
        .reshape((n, c, h * w))?
        .mean(2)?
        .powf(1.0 / p)
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

/// One channel plane: `out[oy][ox] += sum w[ky][kx] * in[oy*s+ky-pt][ox*s+kx-pl]`.
fn depthwise_plane(g: &Geometry, input: &[f32], out: &mut [f32], weight: &[f32]) {
    g.for_each_tap(|oy, iy, ky, kx, lo, hi, first| {
        let wv = weight[ky * g.k + kx];
        let irow = &input[iy * g.w..(iy + 1) * g.w];
        let orow = &mut out[oy * g.ow + lo..oy * g.ow + hi];
        if g.s == 1 {
            // Contiguous on both sides: vectorised.
            for (o, &v) in orow.iter_mut().zip(&irow[first..first + (hi - lo)]) {
                *o += wv * v;
            }
        } else {
            for (j, o) in orow.iter_mut().enumerate() {
                *o += wv * irow[first + j * g.s];
            }
        }
    });
}

/// Depthwise convolution `(N, C, H, W) x (C, 1, k, k)` with "SAME" padding and autograd.
pub fn depthwise_conv(x: &Tensor, weight: &Tensor, stride: usize) -> candle_core::Result<Tensor> {
    let k = weight.dim(2)?;
    x.contiguous()?
        .apply_op2(&weight.contiguous()?, DepthwiseTrain { k, stride })
}

/// The training depthwise convolution: forward without bias, backward to input and weights.
#[derive(Debug, Clone, Copy)]
struct DepthwiseTrain {
    k: usize,
    stride: usize,
}

/// Geometry shared by the forward and backward loops of one depthwise convolution.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    pt: usize,
    pl: usize,
    k: usize,
    s: usize,
}

impl Geometry {
    fn new((n, c, h, w): (usize, usize, usize, usize), k: usize, s: usize) -> Self {
        let (oh, pt) = same_padding(h, k, s);
        let (ow, pl) = same_padding(w, k, s);
        Geometry {
            n,
            c,
            h,
            w,
            oh,
            ow,
            pt,
            pl,
            k,
            s,
        }
    }

    /// Calls `f(oy, iy, ky, kx, lo, hi, first)` for every kernel tap that touches the input:
    /// output columns `lo..hi` read input columns `first, first + s, ...` of row `iy`.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize, usize, usize, usize, usize)) {
        let Geometry {
            h,
            w,
            oh,
            ow,
            pt,
            pl,
            k,
            s,
            ..
        } = *self;
        for oy in 0..oh {
            for ky in 0..k {
                let iy = (oy * s + ky) as isize - pt as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                for kx in 0..k {
                    let lo = pl.saturating_sub(kx).div_ceil(s);
                    let Some(span) = (w + pl).checked_sub(kx + 1) else {
                        continue;
                    };
                    let hi = (span / s + 1).min(ow);
                    if lo < hi {
                        f(oy, iy as usize, ky, kx, lo, hi, lo * s + kx - pl);
                    }
                }
            }
        }
    }
}

impl CustomOp2 for DepthwiseTrain {
    fn name(&self) -> &'static str {
        "depthwise-conv-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = Geometry::new(l1.shape().dims4()?, self.k, self.stride);
        let input = contiguous_f32(s1, l1)?;
        let weight = contiguous_f32(s2, l2)?;
        if weight.len() != g.c * g.k * g.k {
            candle_core::bail!(
                "depthwise weight has {} values for {} channels",
                weight.len(),
                g.c
            );
        }
        let mut out = vec![0f32; g.n * g.c * g.oh * g.ow];
        out.par_chunks_mut(g.oh * g.ow)
            .enumerate()
            .for_each(|(plane, o)| {
                let ch = plane % g.c;
                depthwise_plane(
                    &g,
                    &input[plane * g.h * g.w..(plane + 1) * g.h * g.w],
                    o,
                    &weight[ch * g.k * g.k..(ch + 1) * g.k * g.k],
                );
            });
        Ok((CpuStorage::F32(out), Shape::from((g.n, g.c, g.oh, g.ow))))
    }

    fn bwd(
        &self,
        input: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dims = input.dims4()?;
        let grad_input = grad.apply_op2_no_bwd(weight, &DepthwiseGradInput { op: *self, dims })?;
        let grad_weight = grad.apply_op2_no_bwd(input, &DepthwiseGradWeight { op: *self })?;
        Ok((Some(grad_input), Some(grad_weight)))
    }
}

/// Gradient of the depthwise convolution with respect to its input: `(grad_out, weight)`.
struct DepthwiseGradInput {
    op: DepthwiseTrain,
    dims: (usize, usize, usize, usize),
}

impl CustomOp2 for DepthwiseGradInput {
    fn name(&self) -> &'static str {
        "depthwise-conv-grad-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = Geometry::new(self.dims, self.op.k, self.op.stride);
        let grad = contiguous_f32(s1, l1)?;
        let weight = contiguous_f32(s2, l2)?;
        let mut out = vec![0f32; g.n * g.c * g.h * g.w];
        out.par_chunks_mut(g.h * g.w)
            .enumerate()
            .for_each(|(plane, gi)| {
                let ch = plane % g.c;
                let go = &grad[plane * g.oh * g.ow..(plane + 1) * g.oh * g.ow];
                let wk = &weight[ch * g.k * g.k..(ch + 1) * g.k * g.k];
                g.for_each_tap(|oy, iy, ky, kx, lo, hi, first| {
                    let wv = wk[ky * g.k + kx];
                    let grow = &go[oy * g.ow..(oy + 1) * g.ow];
                    let irow = &mut gi[iy * g.w..(iy + 1) * g.w];
                    for (j, &gv) in grow[lo..hi].iter().enumerate() {
                        irow[first + j * g.s] += wv * gv;
                    }
                });
            });
        Ok((CpuStorage::F32(out), Shape::from(self.dims)))
    }
}

/// Gradient of the depthwise convolution with respect to its weights: `(grad_out, input)`.
struct DepthwiseGradWeight {
    op: DepthwiseTrain,
}

impl CustomOp2 for DepthwiseGradWeight {
    fn name(&self) -> &'static str {
        "depthwise-conv-grad-weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = Geometry::new(l2.shape().dims4()?, self.op.k, self.op.stride);
        let grad = contiguous_f32(s1, l1)?;
        let input = contiguous_f32(s2, l2)?;
        let kk = g.k * g.k;
        // One partial sum per channel and image, reduced over the batch afterwards.
        let partial: Vec<Vec<f32>> = (0..g.n * g.c)
            .into_par_iter()
            .map(|plane| {
                let mut acc = vec![0f32; kk];
                let go = &grad[plane * g.oh * g.ow..(plane + 1) * g.oh * g.ow];
                let inp = &input[plane * g.h * g.w..(plane + 1) * g.h * g.w];
                g.for_each_tap(|oy, iy, ky, kx, lo, hi, first| {
                    let grow = &go[oy * g.ow..(oy + 1) * g.ow];
                    let irow = &inp[iy * g.w..(iy + 1) * g.w];
                    let mut sum = 0f32;
                    for (j, &gv) in grow[lo..hi].iter().enumerate() {
                        sum += gv * irow[first + j * g.s];
                    }
                    acc[ky * g.k + kx] += sum;
                });
                acc
            })
            .collect();
        let mut out = vec![0f32; g.c * kk];
        for (plane, acc) in partial.iter().enumerate() {
            let ch = plane % g.c;
            for (o, a) in out[ch * kk..(ch + 1) * kk].iter_mut().zip(acc) {
                *o += a;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((g.c, 1, g.k, g.k))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Forward and both gradients of the training op equal candle's grouped convolution.
    #[test]
    fn depthwise_training_op_matches_candle_forward_and_gradients() {
        use candle_core::Var;
        let dev = Device::Cpu;
        for &(k, s, h, w) in &[(3, 1, 7, 9), (5, 1, 6, 6), (3, 2, 8, 11), (5, 2, 9, 7)] {
            let (n, c) = (2, 3);
            let x =
                Var::from_tensor(&Tensor::randn(0f32, 1.0, (n, c, h, w), &dev).unwrap()).unwrap();
            let wt =
                Var::from_tensor(&Tensor::randn(0f32, 1.0, (c, 1, k, k), &dev).unwrap()).unwrap();
            // A fixed random projection of the output makes the loss sensitive to every value.
            let (oh, _) = same_padding(h, k, s);
            let (ow, _) = same_padding(w, k, s);
            let proj = Tensor::randn(0f32, 1.0, (n, c, oh, ow), &dev).unwrap();

            let ours = depthwise_conv(x.as_tensor(), wt.as_tensor(), s).unwrap();
            let loss = (&ours * &proj).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            let (gx, gw) = (
                grads.get(&x).unwrap().clone(),
                grads.get(&wt).unwrap().clone(),
            );

            let theirs = pad_same(x.as_tensor(), k, s)
                .unwrap()
                .conv2d(wt.as_tensor(), 0, s, 1, c)
                .unwrap();
            let loss2 = (&theirs * &proj).unwrap().sum_all().unwrap();
            let grads2 = loss2.backward().unwrap();
            let max_diff = |a: &Tensor, b: &Tensor| -> f32 {
                (a - b)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar()
                    .unwrap()
            };
            let case = format!("k={k} s={s} h={h} w={w}");
            assert!(max_diff(&ours, &theirs) < 1e-4, "{case}: forward");
            assert!(
                max_diff(&gx, grads2.get(&x).unwrap()) < 1e-4,
                "{case}: input gradient"
            );
            assert!(
                max_diff(&gw, grads2.get(&wt).unwrap()) < 1e-3,
                "{case}: weight gradient"
            );
        }
    }
}
