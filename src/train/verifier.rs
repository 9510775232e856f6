//! Training the pair verifier ([`crate::dedup::verifier`]) and measuring it by leaving one
//! domain out ([`leave_one_domain_out`]). The model: gradient-boosted regression
//! trees on the logistic loss (second-order steps, as XGBoost and LightGBM take them), over
//! features binned once at their quantiles. A few thousand to a hundred thousand pairs
//! train in seconds on one core. Deterministic: no sampling, ties broken by feature and bin
//! order.

use crate::dedup::verifier::{sigmoid, Node, Tree, Verifier, FEATURES, FEATURE_NAMES};
use crate::error::{Error, Result};
use crate::eval::pairs::{score_domain, DomainScore, PairRow};
use crate::progress::Progress;
use serde::Serialize;
use std::collections::HashMap;

/// One labelled pair: its features, whether it is one picture, and its weight.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub x: [f32; FEATURES],
    pub copy: bool,
    pub weight: f32,
}

/// How the trees are grown.
#[derive(Debug, Clone)]
pub struct BoostOptions {
    /// Trees.
    pub rounds: usize,
    /// Splits from the root to a leaf, at most.
    pub depth: usize,
    /// Each tree's step is shrunk by this.
    pub learning_rate: f32,
    /// L2 penalty on a leaf's value (in units of the summed second derivatives).
    pub lambda: f32,
    /// Each side of a split holds at least the second derivative of this much sample
    /// weight at probability 0.5 (a quarter of it): leaves of a handful of pairs are not grown.
    pub min_leaf_weight: f32,
    /// Split points per feature, at most (the feature's quantiles).
    pub bins: usize,
    /// The probability at or above which a pair is one picture.
    pub threshold: f32,
}

impl Default for BoostOptions {
    fn default() -> Self {
        BoostOptions {
            rounds: 150,
            depth: 3,
            learning_rate: 0.1,
            lambda: 1.0,
            min_leaf_weight: 5.0,
            bins: 32,
            threshold: 0.5,
        }
    }
}

/// Split points of each feature: up to `bins` distinct quantiles of its values.
fn split_points(samples: &[Sample], bins: usize) -> Vec<Vec<f32>> {
    (0..FEATURES)
        .map(|f| {
            let mut values: Vec<f32> = samples.iter().map(|s| s.x[f]).collect();
            values.sort_by(f32::total_cmp);
            let mut points: Vec<f32> = (1..bins).map(|q| values[q * values.len() / bins]).collect();
            points.dedup();
            // A split point equal to the smallest value sends nothing left.
            points.retain(|&p| p > values[0]);
            points
        })
        .collect()
}

/// Trains a verifier on `samples` (named `name`).
pub fn train(samples: &[Sample], opts: &BoostOptions, name: &str) -> Verifier {
    train_from(None, samples, opts, name)
}

/// Trains a verifier on `samples`, from scratch or, given a `base`, by growing more trees
/// on top of the base's (boosting goes on from the base's log-odds: the base's trees and
/// bias are kept as they are, and the new trees correct it where the samples disagree).
pub fn train_from(
    base: Option<&Verifier>,
    samples: &[Sample],
    opts: &BoostOptions,
    name: &str,
) -> Verifier {
    let points = split_points(samples, opts.bins.max(2));
    // Each sample's bin per feature: the number of split points at or below its value.
    let binned: Vec<[u8; FEATURES]> = samples
        .iter()
        .map(|s| std::array::from_fn(|f| points[f].partition_point(|&p| p <= s.x[f]) as u8))
        .collect();
    let total: f32 = samples.iter().map(|s| s.weight).sum();
    let positive: f32 = samples.iter().filter(|s| s.copy).map(|s| s.weight).sum();
    let rate = (positive / total.max(1e-9)).clamp(1e-4, 1.0 - 1e-4);
    let (bias, mut margin, mut trees) = match base {
        Some(b) => (
            b.bias,
            samples
                .iter()
                .map(|s| b.margin(&crate::dedup::verifier::PairFeatures(s.x)))
                .collect(),
            b.trees.clone(),
        ),
        None => {
            let bias = (rate / (1.0 - rate)).ln();
            (bias, vec![bias; samples.len()], Vec::new())
        }
    };
    trees.reserve(opts.rounds);
    let all: Vec<usize> = (0..samples.len()).collect();
    for _ in 0..opts.rounds {
        // First and second derivatives of the weighted logistic loss at the current margin.
        let (g, h): (Vec<f32>, Vec<f32>) = samples
            .iter()
            .zip(&margin)
            .map(|(s, &m)| {
                let p = sigmoid(m);
                let y = if s.copy { 1.0 } else { 0.0 };
                (s.weight * (p - y), s.weight * (p * (1.0 - p)).max(1e-6))
            })
            .unzip();
        let grower = Grower {
            binned: &binned,
            points: &points,
            g: &g,
            h: &h,
            opts,
        };
        let mut nodes = Vec::new();
        grower.grow(&all, 0, &mut nodes);
        let tree = Tree { nodes };
        for (i, s) in samples.iter().enumerate() {
            margin[i] += leaf_value(&tree, &s.x);
        }
        trees.push(tree);
    }
    Verifier {
        name: name.to_string(),
        features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        bias,
        threshold: opts.threshold,
        trees,
    }
}

/// The value of the leaf `x` lands in.
fn leaf_value(tree: &Tree, x: &[f32; FEATURES]) -> f32 {
    let mut at = 0;
    while let Some(f) = tree.nodes[at].feature {
        at = if x[f] < tree.nodes[at].split {
            tree.nodes[at].left
        } else {
            tree.nodes[at].right
        };
    }
    tree.nodes[at].value
}

/// What growing one tree needs.
struct Grower<'a> {
    binned: &'a [[u8; FEATURES]],
    points: &'a [Vec<f32>],
    g: &'a [f32],
    h: &'a [f32],
    opts: &'a BoostOptions,
}

impl Grower<'_> {
    /// Grows the subtree of the samples `rows` at `depth`, appending its nodes (its root
    /// first) to `nodes`; returns the root's position.
    fn grow(&self, rows: &[usize], depth: usize, nodes: &mut Vec<Node>) -> usize {
        let (gs, hs): (f32, f32) = rows
            .iter()
            .fold((0.0, 0.0), |(a, b), &i| (a + self.g[i], b + self.h[i]));
        let lambda = self.opts.lambda;
        let at = nodes.len();
        nodes.push(Node {
            feature: None,
            split: 0.0,
            left: 0,
            right: 0,
            value: -gs / (hs + lambda) * self.opts.learning_rate,
        });
        if depth >= self.opts.depth {
            return at;
        }
        let Some((feature, bin)) = self.best_split(rows, gs, hs) else {
            return at;
        };
        let (left, right): (Vec<usize>, Vec<usize>) = rows
            .iter()
            .partition(|&&i| (self.binned[i][feature] as usize) <= bin);
        let l = self.grow(&left, depth + 1, nodes);
        let r = self.grow(&right, depth + 1, nodes);
        nodes[at] = Node {
            feature: Some(feature),
            split: self.points[feature][bin],
            left: l,
            right: r,
            value: nodes[at].value,
        };
        at
    }

    /// The split with the largest gain, as (feature, last bin on the left), if any gains.
    fn best_split(&self, rows: &[usize], gs: f32, hs: f32) -> Option<(usize, usize)> {
        let lambda = self.opts.lambda;
        let score = |g: f32, h: f32| g * g / (h + lambda);
        let parent = score(gs, hs);
        let mut best: Option<(f32, usize, usize)> = None;
        for f in 0..FEATURES {
            let n = self.points[f].len();
            if n == 0 {
                continue;
            }
            let mut hist = vec![(0f32, 0f32); n + 1];
            for &i in rows {
                let b = self.binned[i][f] as usize;
                hist[b].0 += self.g[i];
                hist[b].1 += self.h[i];
            }
            let (mut gl, mut hl) = (0f32, 0f32);
            for (bin, &(g, h)) in hist.iter().enumerate().take(n) {
                gl += g;
                hl += h;
                let (gr, hr) = (gs - gl, hs - hl);
                if hl < self.opts.min_leaf_weight * 0.25 || hr < self.opts.min_leaf_weight * 0.25 {
                    continue;
                }
                let gain = score(gl, hl) + score(gr, hr) - parent;
                if gain > 1e-6 && best.is_none_or(|(b, _, _)| gain > b) {
                    best = Some((gain, f, bin));
                }
            }
        }
        best.map(|(_, f, b)| (f, b))
    }
}

/// Training samples from rows: every domain weighs the same in all, and within a domain the
/// copies weigh as much as the look-alikes.
pub fn samples(rows: &[&PairRow]) -> Vec<Sample> {
    let mut cells: HashMap<(&str, bool), usize> = HashMap::new();
    for r in rows {
        *cells.entry((r.domain.as_str(), r.copy)).or_default() += 1;
    }
    rows.iter()
        .map(|r| Sample {
            x: r.features.0,
            copy: r.copy,
            weight: 1000.0 / cells[&(r.domain.as_str(), r.copy)] as f32,
        })
        .collect()
}

/// Trains a verifier on every row.
/// The verifier is the second stage of the content check: it sees only the pairs the
/// hand-written rule accepts (their pictures share one picture's geometry) and tells one
/// picture from two shots among them. So it trains on those pairs only.
pub fn train_on(rows: &[PairRow], opts: &BoostOptions, name: &str) -> Verifier {
    let accepted: Vec<&PairRow> = rows.iter().filter(|r| r.same_content).collect();
    train(&samples(&accepted), opts, name)
}

/// Leave one domain out, for each domain: the verifier trained on the other domains, and
/// today's hand-written rule, scored on the domain left out.
#[derive(Debug, Clone, Serialize)]
pub struct HeldOut {
    pub verifier: DomainScore,
    pub rule: DomainScore,
}

/// Runs leave-one-domain-out over `rows` (at least two domains).
pub fn leave_one_domain_out(
    rows: &[PairRow],
    opts: &BoostOptions,
    progress: &dyn Progress,
) -> Result<Vec<HeldOut>> {
    let domains: Vec<&str> = {
        let mut d: Vec<&str> = rows.iter().map(|r| r.domain.as_str()).collect();
        d.sort_unstable();
        d.dedup();
        d
    };
    if domains.len() < 2 {
        return Err(Error::InvalidArgument(format!(
            "leaving one domain out needs at least two domains, the pairs hold {}",
            domains.len()
        )));
    }
    progress.start("leaving one domain out", domains.len());
    let out = domains
        .iter()
        .map(|&d| {
            let (held, rest): (Vec<&PairRow>, Vec<&PairRow>) =
                rows.iter().partition(|r| r.domain == d);
            let accepted: Vec<&PairRow> = rest.into_iter().filter(|r| r.same_content).collect();
            let v = train(&samples(&accepted), opts, "held-out");
            progress.advance(1);
            HeldOut {
                verifier: score_domain(&held, &|r| r.same_content && v.is_copy(&r.features)),
                rule: score_domain(&held, &|r| r.same_content),
            }
        })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairs whose label depends on two features jointly (patches agree and the disagreeing
    /// region is small), with noise features.
    fn samples(n: usize, seed: u64) -> Vec<Sample> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let x: [f32; FEATURES] = std::array::from_fn(|_| rng.random::<f32>());
                let copy = x[6] > 0.6 && x[11] < 0.3;
                Sample {
                    x,
                    copy,
                    weight: 1.0,
                }
            })
            .collect()
    }

    #[test]
    fn boosted_trees_learn_a_rule_of_two_features_and_generalise_to_new_pairs() {
        let v = train(&samples(4000, 1), &BoostOptions::default(), "test");
        let test = samples(2000, 2);
        let right = test
            .iter()
            .filter(|s| {
                let p = v.probability(&crate::dedup::verifier::PairFeatures(s.x));
                (p >= 0.5) == s.copy
            })
            .count();
        assert!(right as f32 / test.len() as f32 > 0.97, "{right} of 2000");
        // A pair that fails the rule on one feature only is rejected for that feature.
        let reason_against = |pick: &dyn Fn(&[f32; FEATURES]) -> bool| {
            let x = test.iter().find(|s| pick(&s.x)).unwrap().x;
            let (p, reasons) = v.explain(&crate::dedup::verifier::PairFeatures(x));
            assert!(p < 0.5, "{reasons:?}");
            reasons.iter().find(|r| r.1 < 0.0).unwrap().0
        };
        assert_eq!(reason_against(&|x| x[6] < 0.3 && x[11] < 0.1), "patches");
        assert_eq!(
            reason_against(&|x| x[6] > 0.9 && x[11] > 0.7),
            "disagreeing_extent"
        );
    }

    #[test]
    fn trees_grown_on_a_base_correct_it_where_new_labels_disagree_and_keep_the_rest() {
        let base = train(&samples(4000, 1), &BoostOptions::default(), "base");
        // A collection where pairs with feature 0 above 0.8 are never one picture.
        let relabelled: Vec<Sample> = samples(1000, 4)
            .into_iter()
            .map(|s| Sample {
                copy: s.copy && s.x[0] <= 0.8,
                ..s
            })
            .collect();
        let opts = BoostOptions {
            rounds: 30,
            depth: 2,
            ..BoostOptions::default()
        };
        let adapted = train_from(Some(&base), &relabelled, &opts, "adapted");
        assert_eq!(adapted.trees.len(), base.trees.len() + 30);
        assert_eq!(adapted.trees[..base.trees.len()], base.trees[..]);
        assert_eq!(adapted.bias, base.bias);
        let test = samples(2000, 5);
        let says = |v: &Verifier, s: &Sample| v.is_copy(&crate::dedup::verifier::PairFeatures(s.x));
        let (moved, kept): (Vec<&Sample>, Vec<&Sample>) =
            test.iter().filter(|s| s.copy).partition(|s| s.x[0] > 0.85);
        // Copies in the relabelled region are no copies any more; elsewhere, still copies.
        let still = |v: &Verifier, set: &[&Sample]| {
            set.iter().filter(|s| says(v, s)).count() as f32 / set.len() as f32
        };
        assert!(still(&base, &moved) > 0.9);
        assert!(still(&adapted, &moved) < 0.1, "{}", still(&adapted, &moved));
        assert!(still(&adapted, &kept) > 0.9, "{}", still(&adapted, &kept));
    }

    #[test]
    fn training_is_deterministic() {
        let s = samples(500, 3);
        let opts = BoostOptions {
            rounds: 10,
            ..BoostOptions::default()
        };
        assert_eq!(train(&s, &opts, "a"), train(&s, &opts, "a"));
    }
}
