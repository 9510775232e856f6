//! Contrastive losses. NT-Xent (InfoNCE over a batch of view pairs, Chen et al. 2020, SimCLR)
//! with an optional queue of earlier embeddings as extra negatives, and the KoLeo entropy
//! regulariser that SSCD (Pizzi et al. 2022) adds to spread descriptors apart, and a
//! similarity distillation (CompRess, Abbasi Koohpayegani et al. 2020) that keeps the
//! neighbours of each view what a teacher's descriptors say they are.

use candle_core::{DType, Result, Tensor, D};

/// NT-Xent loss of `z` `(2B, d)`: unit-length embeddings where rows `i` and `i + B` are two
/// views of one image. Every other row (and every row of `queue`, `(Q, d)`, if given) is a
/// negative. Returns the mean cross-entropy of picking the partner, at `temperature`.
pub fn nt_xent(z: &Tensor, queue: Option<&Tensor>, temperature: f64) -> Result<Tensor> {
    let (n, _) = z.dims2()?;
    if n % 2 != 0 || n == 0 {
        candle_core::bail!("NT-Xent needs an even, non-zero number of rows, got {n}");
    }
    let b = n / 2;
    let mut logits = (z.matmul(&z.t()?)? / temperature)?;
    // A row is not its own negative: push the diagonal far below every other logit.
    let eye = Tensor::eye(n, DType::F32, z.device())?;
    logits = (logits - (eye * 1e9)?)?;
    if let Some(q) = queue {
        let extra = (z.matmul(&q.t()?)? / temperature)?;
        logits = Tensor::cat(&[&logits, &extra], 1)?;
    }
    let targets: Vec<u32> = (0..n).map(|i| ((i + b) % n) as u32).collect();
    let targets = Tensor::new(targets.as_slice(), z.device())?;
    candle_nn::loss::cross_entropy(&logits, &targets)
}

/// KoLeo regulariser of unit-length rows `z` `(N, d)`: `-mean_i log(min_j |z_i - z_j|)`.
/// Large when some descriptors crowd together; pushing it down spreads them over the sphere.
pub fn koleo(z: &Tensor, eps: f64) -> Result<Tensor> {
    let (n, _) = z.dims2()?;
    if n < 2 {
        candle_core::bail!("KoLeo needs at least two rows, got {n}");
    }
    let eye = Tensor::eye(n, DType::F32, z.device())?;
    // For unit vectors |a - b|^2 = 2 - 2 a.b: the nearest neighbour has the largest dot product.
    let sims = (z.matmul(&z.t()?)? - (eye * 4.0)?)?;
    let nearest = sims.max_keepdim(D::Minus1)?.squeeze(D::Minus1)?;
    let dist = ((nearest * -2.0)? + 2.0)?.clamp(eps * eps, 4.0)?.sqrt()?;
    dist.log()?.mean_all()?.neg()
}

/// Similarity distillation of unit-length rows `z` `(N, d)` towards a teacher's unit-length
/// rows `t` `(N, e)` of the same images: for each row, the KL divergence from the teacher's
/// softmax over its similarities to the other rows to the student's, at `temperature`,
/// averaged over the rows. Zero when the student ranks and spaces every row's neighbours as
/// the teacher does; the teacher gets no gradient.
pub fn similarity_distillation(z: &Tensor, t: &Tensor, temperature: f64) -> Result<Tensor> {
    let (n, _) = z.dims2()?;
    if n < 2 || t.dim(0)? != n {
        candle_core::bail!(
            "distillation needs two or more rows on both sides, got {n} and {}",
            t.dim(0)?
        );
    }
    // A row is not its own neighbour.
    let eye = (Tensor::eye(n, DType::F32, z.device())? * 1e9)?;
    let student = ((z.matmul(&z.t()?)? / temperature)? - &eye)?;
    let teacher = ((t.matmul(&t.t()?)? / temperature)? - &eye)?.detach();
    let log_student = candle_nn::ops::log_softmax(&student, D::Minus1)?;
    let log_teacher = candle_nn::ops::log_softmax(&teacher, D::Minus1)?;
    let p_teacher = log_teacher.exp()?;
    let kl = (p_teacher * (log_teacher - log_student)?)?.sum(D::Minus1)?;
    kl.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn unit_rows(rows: &[[f32; 2]]) -> Tensor {
        let flat: Vec<f32> = rows
            .iter()
            .flat_map(|r| {
                let n = (r[0] * r[0] + r[1] * r[1]).sqrt();
                [r[0] / n, r[1] / n]
            })
            .collect();
        Tensor::from_vec(flat, (rows.len(), 2), &Device::Cpu).unwrap()
    }

    fn scalar(t: &Tensor) -> f64 {
        t.to_scalar::<f32>().unwrap() as f64
    }

    #[test]
    fn nt_xent_by_hand() {
        // Views: a = (1,0), b = (0,1); a' = a, b' = b. T = 0.5.
        let z = unit_rows(&[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]);
        let got = scalar(&nt_xent(&z, None, 0.5).unwrap());
        // Row a: logits to b, a', b' are 0, 2, 0 -> -log(e^2 / (e^2 + 2)); same for every row.
        let want = -((2f64).exp() / ((2f64).exp() + 2.0)).ln();
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");

        // A queue entry equal to a adds one negative as strong as the positive for a and a'.
        let q = unit_rows(&[[1.0, 0.0]]);
        let got = scalar(&nt_xent(&z, Some(&q), 0.5).unwrap());
        let e2 = (2f64).exp();
        let want = (2.0 * -(e2 / (2.0 * e2 + 2.0)).ln() + 2.0 * -(e2 / (e2 + 3.0)).ln()) / 4.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        assert!(nt_xent(&unit_rows(&[[1.0, 0.0]; 3]), None, 0.5).is_err());
    }

    #[test]
    fn a_gradient_step_pulls_positives_together() {
        let z0 = unit_rows(&[[1.0, 0.2], [0.1, 1.0], [0.6, 0.8], [0.9, -0.4]]);
        let v = Var::from_tensor(&z0).unwrap();
        let loss = nt_xent(v.as_tensor(), None, 0.2).unwrap();
        let grad = loss.backward().unwrap().get(&v).unwrap().clone();
        let stepped = (v.as_tensor() - (grad * 0.1).unwrap()).unwrap();
        let norms = stepped
            .sqr()
            .unwrap()
            .sum_keepdim(1)
            .unwrap()
            .sqrt()
            .unwrap();
        let stepped = stepped.broadcast_div(&norms).unwrap();
        let after = scalar(&nt_xent(&stepped, None, 0.2).unwrap());
        assert!(after < scalar(&loss), "{after} >= {}", scalar(&loss));
        let cos = |t: &Tensor, i: usize, j: usize| -> f32 {
            let a: Vec<f32> = t.get(i).unwrap().to_vec1().unwrap();
            let b: Vec<f32> = t.get(j).unwrap().to_vec1().unwrap();
            a[0] * b[0] + a[1] * b[1]
        };
        assert!(cos(&stepped, 0, 2) > cos(&z0, 0, 2));
        assert!(cos(&stepped, 1, 3) > cos(&z0, 1, 3));
    }

    #[test]
    fn distillation_is_zero_for_the_teacher_itself_and_pulls_a_student_towards_it() {
        let teacher = unit_rows(&[[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.2]]);
        assert!(scalar(&similarity_distillation(&teacher, &teacher, 0.1).unwrap()).abs() < 1e-6);
        // A student that swaps which rows are near each other costs more than one that
        // keeps the teacher's neighbours.
        let swapped = unit_rows(&[[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [-1.0, 0.2]]);
        let close = unit_rows(&[[1.0, 0.0], [0.8, 0.2], [0.0, 1.0], [-1.0, 0.3]]);
        let far = scalar(&similarity_distillation(&swapped, &teacher, 0.1).unwrap());
        let near = scalar(&similarity_distillation(&close, &teacher, 0.1).unwrap());
        assert!(far > near && near > 0.0, "{far} {near}");
        // Gradient steps on the student bring the loss down.
        let var = Var::from_tensor(&swapped).unwrap();
        let mut last = far;
        for _ in 0..20 {
            let z = var.as_tensor();
            let norm = z.sqr().unwrap().sum_keepdim(1).unwrap().sqrt().unwrap();
            let loss =
                similarity_distillation(&z.broadcast_div(&norm).unwrap(), &teacher, 0.1).unwrap();
            last = scalar(&loss);
            let grads = loss.backward().unwrap();
            let g = grads.get(z).unwrap();
            var.set(&(z - (g * 0.05).unwrap()).unwrap()).unwrap();
        }
        assert!(last < far / 2.0, "{last} {far}");
    }

    #[test]
    fn koleo_by_hand_and_it_spreads_points() {
        // Three points at 0, 90 and 180 degrees: nearest distances sqrt(2), sqrt(2), sqrt(2).
        let z = unit_rows(&[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]);
        let got = scalar(&koleo(&z, 1e-8).unwrap());
        assert!((got - -(2f64.sqrt().ln())).abs() < 1e-5, "{got}");
        // Two crowded points score higher (worse) than spread ones.
        let crowded = unit_rows(&[[1.0, 0.0], [1.0, 0.05], [-1.0, 0.0]]);
        assert!(scalar(&koleo(&crowded, 1e-8).unwrap()) > got);
    }
}
