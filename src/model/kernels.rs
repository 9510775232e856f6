//! NHWC inference kernels on plain slices, one image at a time: the pointwise (1x1)
//! convolution as one matrix product with the bias as its starting value, the depthwise
//! convolution vectorised across channels, a small dense convolution (the stem) by im2col,
//! ReLU6 and pooling.
//!
//! Why NHWC and one image per thread: a 1x1 convolution over an `H x W x C` map is exactly a
//! `(H*W, C) x (C, C')` matrix product with no copy, and a depthwise tap reads `C` contiguous
//! values; one image's activations (at most 4.8 MB at 224 px) stay in cache, and two
//! threads on two images never wait for each other. The hot loops are compiled twice, for
//! AVX2 + FMA (chosen at run time when the CPU has them) and for the baseline target.

use gemm::Parallelism;

use crate::vector::{madd, LANES};

/// `out[p][o] = bias[o] + sum_i input[p][i] * weight[i][o]` for `pixels` rows, then ReLU6 if
/// asked. `weight` is `(cin, cout)` row-major; `out` must hold `pixels * cout` values.
#[allow(clippy::too_many_arguments)]
pub fn pointwise(
    input: &[f32],
    pixels: usize,
    cin: usize,
    weight: &[f32],
    bias: &[f32],
    relu6: bool,
    out: &mut [f32],
    parallelism: Parallelism,
) {
    let cout = bias.len();
    assert_eq!(input.len(), pixels * cin, "pointwise input size");
    assert_eq!(weight.len(), cin * cout, "pointwise weight size");
    assert_eq!(out.len(), pixels * cout, "pointwise output size");
    for row in out.chunks_exact_mut(cout) {
        row.copy_from_slice(bias);
    }
    if pixels == 0 || cout == 0 {
        return;
    }
    // SAFETY: the three matrices are row-major with the strides given, and the asserts above
    // check that every index gemm can form is inside its slice.
    unsafe {
        gemm::gemm(
            pixels,
            cout,
            cin,
            out.as_mut_ptr(),
            1,
            cout as isize,
            true,
            input.as_ptr(),
            1,
            cin as isize,
            weight.as_ptr(),
            1,
            cout as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    if relu6 {
        relu6_in_place(out);
    }
}

/// Clamps every value to `[0, 6]`.
pub fn relu6_in_place(xs: &mut [f32]) {
    for x in xs {
        *x = x.clamp(0.0, 6.0);
    }
}

/// Output size and leading padding of a TensorFlow "SAME" convolution along one axis.
/// The total padding is `max((ceil(n/s) - 1) * s + k - n, 0)`; the smaller half goes first.
pub fn same_padding(n: usize, k: usize, stride: usize) -> (usize, usize) {
    let out = n.div_ceil(stride);
    let total = ((out - 1) * stride + k).saturating_sub(n);
    (out, total / 2)
}

/// Output shape of a "SAME" `k x k` convolution with `stride` and `c` output channels.
fn same_output(shape: Hwc, k: usize, stride: usize, c: usize) -> Hwc {
    Hwc {
        h: same_padding(shape.h, k, stride).0,
        w: same_padding(shape.w, k, stride).0,
        c,
    }
}

/// Shape of an NHWC map of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hwc {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Hwc {
    pub fn len(self) -> usize {
        self.h * self.w * self.c
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    pub fn pixels(self) -> usize {
        self.h * self.w
    }
}

/// A depthwise `k x k` convolution with "SAME" padding: its weights, tap-major
/// (`weight[(ky * k + kx) * c + ch]`), the bias, the stride and whether ReLU6 follows.
#[derive(Debug, Clone)]
pub struct Depthwise {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub k: usize,
    pub stride: usize,
    pub relu6: bool,
}

impl Depthwise {
    /// From channel-major weights `(c, 1, k, k)` as stored by PyTorch.
    pub fn from_channel_major(
        weight: &[f32],
        bias: Vec<f32>,
        k: usize,
        stride: usize,
        relu6: bool,
    ) -> Self {
        let c = bias.len();
        assert_eq!(weight.len(), c * k * k, "depthwise weight shape");
        assert!(stride >= 1, "depthwise stride");
        let mut tap_major = vec![0f32; weight.len()];
        for ch in 0..c {
            for tap in 0..k * k {
                tap_major[tap * c + ch] = weight[ch * k * k + tap];
            }
        }
        Depthwise {
            weight: tap_major,
            bias,
            k,
            stride,
            relu6,
        }
    }

    /// Output shape for an input of shape `shape`.
    pub fn output_shape(&self, shape: Hwc) -> Hwc {
        same_output(shape, self.k, self.stride, shape.c)
    }

    /// Runs the convolution; `out` must hold `self.output_shape(shape).len()` values.
    pub fn run(&self, input: &[f32], shape: Hwc, out: &mut [f32]) {
        assert_eq!(shape.c, self.bias.len(), "depthwise channels");
        assert_eq!(input.len(), shape.len(), "depthwise input size");
        assert_eq!(
            out.len(),
            self.output_shape(shape).len(),
            "depthwise output size"
        );
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has the features the function is compiled for.
            unsafe { depthwise_avx2_fma(self, input, shape, out) };
            return;
        }
        depthwise_impl::<false>(self, input, shape, out);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn depthwise_avx2_fma(dw: &Depthwise, input: &[f32], shape: Hwc, out: &mut [f32]) {
    depthwise_impl::<true>(dw, input, shape, out)
}

/// Input rows (or columns) an output row reads: taps `lo..hi` of the kernel, input index of
/// tap `t` being `o * stride + t - pad`.
#[inline(always)]
fn tap_range(o: usize, stride: usize, pad: usize, k: usize, n: usize) -> (usize, usize) {
    let start = o * stride;
    let lo = pad.saturating_sub(start);
    let hi = k.min((n + pad).saturating_sub(start));
    (lo, hi.max(lo))
}

#[inline(always)]
fn depthwise_impl<const FMA: bool>(dw: &Depthwise, input: &[f32], shape: Hwc, out: &mut [f32]) {
    let Hwc { h, w, c } = shape;
    let (k, s) = (dw.k, dw.stride);
    let (oh, pt) = same_padding(h, k, s);
    let (ow, pl) = same_padding(w, k, s);
    for oy in 0..oh {
        let (ky0, ky1) = tap_range(oy, s, pt, k, h);
        for ox in 0..ow {
            let (kx0, kx1) = tap_range(ox, s, pl, k, w);
            let o = &mut out[(oy * ow + ox) * c..][..c];
            let mut cb = 0;
            while cb + LANES <= c {
                let mut acc: [f32; LANES] = dw.bias[cb..cb + LANES].try_into().unwrap();
                for ky in ky0..ky1 {
                    let iy = oy * s + ky - pt;
                    for kx in kx0..kx1 {
                        let ix = ox * s + kx - pl;
                        let x = &input[(iy * w + ix) * c + cb..][..LANES];
                        let wt = &dw.weight[(ky * k + kx) * c + cb..][..LANES];
                        for j in 0..LANES {
                            acc[j] = madd::<FMA>(wt[j], x[j], acc[j]);
                        }
                    }
                }
                o[cb..cb + LANES].copy_from_slice(&acc);
                cb += LANES;
            }
            for ch in cb..c {
                let mut acc = dw.bias[ch];
                for ky in ky0..ky1 {
                    let iy = oy * s + ky - pt;
                    for kx in kx0..kx1 {
                        let ix = ox * s + kx - pl;
                        acc = madd::<FMA>(
                            dw.weight[(ky * k + kx) * c + ch],
                            input[(iy * w + ix) * c + ch],
                            acc,
                        );
                    }
                }
                o[ch] = acc;
            }
            if dw.relu6 {
                relu6_in_place(o);
            }
        }
    }
}

/// A dense `k x k` convolution with "SAME" padding for few input channels (the stem), run
/// as im2col + [`pointwise`]. `weight` is `(k * k * cin, cout)`: row `(ky * k + kx) * cin + ci`.
#[derive(Debug, Clone)]
pub struct Dense {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub k: usize,
    pub stride: usize,
    pub cin: usize,
    pub relu6: bool,
}

impl Dense {
    /// From PyTorch's `(cout, cin, k, k)` weights.
    pub fn from_torch(
        weight: &[f32],
        bias: Vec<f32>,
        cin: usize,
        k: usize,
        stride: usize,
        relu6: bool,
    ) -> Self {
        let cout = bias.len();
        assert_eq!(weight.len(), cout * cin * k * k, "dense weight shape");
        let mut rows = vec![0f32; weight.len()];
        for co in 0..cout {
            for ci in 0..cin {
                for tap in 0..k * k {
                    rows[(tap * cin + ci) * cout + co] = weight[(co * cin + ci) * k * k + tap];
                }
            }
        }
        Dense {
            weight: rows,
            bias,
            k,
            stride,
            cin,
            relu6,
        }
    }

    pub fn output_shape(&self, shape: Hwc) -> Hwc {
        same_output(shape, self.k, self.stride, self.bias.len())
    }

    /// Runs the convolution; `columns` is scratch space, `out` must hold
    /// `self.output_shape(shape).len()` values.
    pub fn run(
        &self,
        input: &[f32],
        shape: Hwc,
        columns: &mut Vec<f32>,
        out: &mut [f32],
        parallelism: Parallelism,
    ) {
        let Hwc { h, w, c } = shape;
        assert_eq!(c, self.cin, "dense input channels");
        assert_eq!(input.len(), shape.len(), "dense input size");
        let (k, s) = (self.k, self.stride);
        let (oh, pt) = same_padding(h, k, s);
        let (ow, pl) = same_padding(w, k, s);
        let row = k * k * c;
        columns.clear();
        columns.resize(oh * ow * row, 0.0);
        for oy in 0..oh {
            let (ky0, ky1) = tap_range(oy, s, pt, k, h);
            for ox in 0..ow {
                let (kx0, kx1) = tap_range(ox, s, pl, k, w);
                let col = &mut columns[(oy * ow + ox) * row..][..row];
                for ky in ky0..ky1 {
                    let iy = oy * s + ky - pt;
                    for kx in kx0..kx1 {
                        let ix = ox * s + kx - pl;
                        col[(ky * k + kx) * c..][..c]
                            .copy_from_slice(&input[(iy * w + ix) * c..][..c]);
                    }
                }
            }
        }
        pointwise(
            columns,
            oh * ow,
            row,
            &self.weight,
            &self.bias,
            self.relu6,
            out,
            parallelism,
        );
    }
}

/// How a feature map becomes one vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pooling {
    /// Global average.
    Average,
    /// Generalised mean `(mean x^p)^(1/p)` of values clamped at 1e-6.
    Gem(f64),
}

/// Pools an NHWC map of `pixels x c` values to `c` values.
pub fn pool(map: &[f32], c: usize, pooling: Pooling, out: &mut [f32]) {
    assert_eq!(out.len(), c, "pool output size");
    let pixels = map.len() / c.max(1);
    out.fill(0.0);
    match pooling {
        Pooling::Average => {
            for px in map.chunks_exact(c) {
                for (o, v) in out.iter_mut().zip(px) {
                    *o += v;
                }
            }
            out.iter_mut().for_each(|o| *o /= pixels as f32);
        }
        Pooling::Gem(p) => {
            let p = p as f32;
            for px in map.chunks_exact(c) {
                for (o, v) in out.iter_mut().zip(px) {
                    *o += v.max(1e-6).powf(p);
                }
            }
            out.iter_mut()
                .for_each(|o| *o = (*o / pixels as f32).powf(1.0 / p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn nchw_to_hwc(t: &Tensor) -> Vec<f32> {
        t.squeeze(0)
            .unwrap()
            .permute((1, 2, 0))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    fn pad_same(x: &Tensor, k: usize, s: usize) -> Tensor {
        crate::model::ops::pad_same(x, k, s).unwrap()
    }

    #[test]
    fn same_padding_matches_tensorflow() {
        assert_eq!(same_padding(224, 3, 2), (112, 0));
        assert_eq!(same_padding(224, 5, 2), (112, 1));
        assert_eq!(same_padding(7, 3, 1), (7, 1));
        assert_eq!(same_padding(7, 5, 1), (7, 2));
        assert_eq!(same_padding(15, 3, 2), (8, 1));
    }

    /// The depthwise kernel equals candle's grouped convolution on an explicitly padded
    /// input, for both kernel sizes, both strides, odd sizes and channel counts that use the
    /// vector blocks, the scalar tail, or both.
    #[test]
    fn depthwise_matches_candle_grouped_conv() {
        let dev = Device::Cpu;
        for &(k, s, h, w, c) in &[
            (3, 1, 7, 9, 3),
            (5, 1, 6, 6, 16),
            (3, 2, 8, 11, 19),
            (5, 2, 9, 7, 40),
            (3, 1, 1, 1, 32),
        ] {
            let x = Tensor::randn(0f32, 1.0, (1, c, h, w), &dev).unwrap();
            let wt = Tensor::randn(0f32, 1.0, (c, 1, k, k), &dev).unwrap();
            let bias: Vec<f32> = (0..c).map(|i| i as f32 * 0.25 - 0.3).collect();
            for relu6 in [false, true] {
                let dw = Depthwise::from_channel_major(
                    &wt.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    bias.clone(),
                    k,
                    s,
                    relu6,
                );
                let shape = Hwc { h, w, c };
                let mut got = vec![f32::NAN; dw.output_shape(shape).len()];
                dw.run(&nchw_to_hwc(&x), shape, &mut got);

                let mut want = pad_same(&x, k, s)
                    .conv2d(&wt, 0, s, 1, c)
                    .unwrap()
                    .broadcast_add(
                        &Tensor::new(bias.as_slice(), &dev)
                            .unwrap()
                            .reshape((1, c, 1, 1))
                            .unwrap(),
                    )
                    .unwrap();
                if relu6 {
                    want = want.clamp(0f32, 6f32).unwrap();
                }
                let want = nchw_to_hwc(&want);
                let d = max_diff(&got, &want);
                assert!(d < 1e-4, "k={k} s={s} h={h} w={w} c={c} relu6={relu6}: {d}");
            }
        }
    }

    /// The im2col stem convolution equals candle's conv2d, and the pointwise product equals
    /// a 1x1 conv2d, bias and ReLU6 included.
    #[test]
    fn dense_and_pointwise_match_candle_conv2d() {
        let dev = Device::Cpu;
        for &(k, s, h, w, cin, cout) in &[
            (3, 2, 9, 10, 3, 32),
            (1, 1, 5, 3, 24, 20),
            (3, 1, 4, 4, 2, 5),
        ] {
            let x = Tensor::randn(0f32, 1.0, (1, cin, h, w), &dev).unwrap();
            let wt = Tensor::randn(0f32, 1.0, (cout, cin, k, k), &dev).unwrap();
            let bias: Vec<f32> = (0..cout).map(|i| 1.0 - i as f32 * 0.1).collect();
            let want = pad_same(&x, k, s)
                .conv2d(&wt, 0, s, 1, 1)
                .unwrap()
                .broadcast_add(
                    &Tensor::new(bias.as_slice(), &dev)
                        .unwrap()
                        .reshape((1, cout, 1, 1))
                        .unwrap(),
                )
                .unwrap()
                .clamp(0f32, 6f32)
                .unwrap();
            let want = nchw_to_hwc(&want);
            let dense = Dense::from_torch(
                &wt.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                bias.clone(),
                cin,
                k,
                s,
                true,
            );
            let shape = Hwc { h, w, c: cin };
            let mut got = vec![f32::NAN; dense.output_shape(shape).len()];
            dense.run(
                &nchw_to_hwc(&x),
                shape,
                &mut Vec::new(),
                &mut got,
                Parallelism::None,
            );
            let d = max_diff(&got, &want);
            assert!(d < 1e-4, "dense k={k} s={s} cin={cin} cout={cout}: {d}");
            if k == 1 {
                let mut got = vec![f32::NAN; h * w * cout];
                pointwise(
                    &nchw_to_hwc(&x),
                    h * w,
                    cin,
                    &dense.weight,
                    &bias,
                    true,
                    &mut got,
                    Parallelism::Rayon(2),
                );
                assert!(max_diff(&got, &want) < 1e-4, "pointwise");
            }
        }
    }

    #[test]
    fn pooling_average_and_gem() {
        // Two pixels, two channels.
        let map = [1.0f32, 0.0, 3.0, 2.0];
        let mut out = [0f32; 2];
        pool(&map, 2, Pooling::Average, &mut out);
        assert_eq!(out, [2.0, 1.0]);
        pool(&map, 2, Pooling::Gem(1.0), &mut out);
        assert!((out[0] - 2.0).abs() < 1e-6 && (out[1] - 1.0).abs() < 1e-6);
        pool(&map, 2, Pooling::Gem(3.0), &mut out);
        // (mean of 1 and 27)^(1/3) = 14^(1/3); (mean of ~0 and 8)^(1/3) = 4^(1/3).
        assert!((out[0] - 14f32.cbrt()).abs() < 1e-5, "{out:?}");
        assert!((out[1] - 4f32.cbrt()).abs() < 1e-5, "{out:?}");
    }
}
