//! The pair verifier: whether two similar pictures are one picture (an edited copy) or two
//! (another shot of the scene, another receipt of the template, another drawing of the
//! set), from what the content check measured about the pair ([`PairFeatures`]), as a
//! probability. It is a small ensemble of regression trees trained by gradient boosting on
//! labelled pairs of many domains (`lookalike verifier train`; the training lives in
//! [`crate::train::verifier`]), stored as JSON; the built-in one is embedded in the binary
//! like the model. Inference is a few dozen comparisons per pair, and deterministic.
//!
//! Each decision can say why: a tree's prediction is the sum of the changes along its path,
//! and each change is put to the feature of the split that made it, so a probability comes
//! with the features that moved it most ([`Verifier::explain`]).

use crate::dedup::matching::Agreement;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::OnceLock;

/// The names of the features, in order: what the verifier sees of a pair.
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "cosine",
    "score",
    "matches",
    "inliers",
    "inlier_share",
    "coverage",
    "patches",
    "patches_strict",
    "patch_median",
    "detailed",
    "overlap",
    "disagreeing_extent",
    "scale",
    "rotation",
    "stretch",
    "mirrored",
    "blurred",
    "pixel_ratio",
    "aspect_ratio",
    "residual",
    "largest_region",
    "regions",
    "imbalance",
];

/// How many features a pair has.
pub const FEATURES: usize = 23;

/// What the verifier sees of a pair of pictures, in the order of [`FEATURE_NAMES`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairFeatures(pub [f32; FEATURES]);

impl PairFeatures {
    /// Whether the pair shows one scene ([`Agreement::same_scene`], read back from the
    /// features): a pair the verifier rejects then goes to the similar-shot tier.
    pub fn same_scene(&self) -> bool {
        let inliers = self.0[3].exp_m1().round() as usize;
        inliers >= crate::dedup::matching::MIN_INLIERS / 2
            && self.0[5] >= crate::dedup::matching::MIN_COVERAGE
    }

    /// The features of a pair: the content check's agreement, the pair's score (what the
    /// threshold applied to) and cosine similarity, and each picture's size in pixels.
    pub fn of(
        agreement: &Agreement,
        score: f32,
        cosine: f32,
        (wa, ha): (u32, u32),
        (wb, hb): (u32, u32),
    ) -> PairFeatures {
        let d = &agreement.detail;
        let ln_ratio = |a: f32, b: f32| (a.max(1e-6) / b.max(1e-6)).ln().abs();
        let (wa, ha, wb, hb) = (wa as f32, ha as f32, wb as f32, hb as f32);
        PairFeatures([
            cosine,
            score,
            (agreement.matches as f32).ln_1p(),
            (agreement.inliers as f32).ln_1p(),
            agreement.inliers as f32 / agreement.matches.max(1) as f32,
            agreement.coverage,
            agreement.patches,
            d.strict,
            d.median,
            (d.detailed as f32).ln_1p(),
            d.overlap,
            d.disagreeing_extent,
            if d.scale > 0.0 {
                d.scale.ln().abs()
            } else {
                0.0
            },
            d.rotation,
            d.stretch.max(1.0).ln(),
            agreement.mirrored as u8 as f32,
            d.blurred as u8 as f32,
            ln_ratio(wa * ha, wb * hb),
            ln_ratio(wa / ha.max(1.0), wb / hb.max(1.0)),
            d.residual,
            d.largest_region,
            d.regions as f32,
            d.imbalance,
        ])
    }
}

/// One node of a tree: a split (`feature` below `split` goes `left`) or a leaf. Every node
/// holds the prediction the tree would make if it stopped there, so that a prediction can
/// be put to the splits on its path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<usize>,
    #[serde(default)]
    pub split: f32,
    #[serde(default)]
    pub left: usize,
    #[serde(default)]
    pub right: usize,
    pub value: f32,
}

/// A regression tree, its root first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The tree's output for `x`, and the change each split on its path made, by feature.
    fn walk(&self, x: &[f32; FEATURES], changes: Option<&mut [f32; FEATURES]>) -> f32 {
        let mut at = 0;
        let mut changes = changes;
        while let Some(f) = self.nodes[at].feature {
            let next = if x[f] < self.nodes[at].split {
                self.nodes[at].left
            } else {
                self.nodes[at].right
            };
            if let Some(c) = changes.as_deref_mut() {
                c[f] += self.nodes[next].value - self.nodes[at].value;
            }
            at = next;
        }
        self.nodes[at].value
    }
}

/// A trained verifier: `bias` plus the sum of its trees, through the logistic function, is
/// the probability that a pair is one picture; a pair is a copy at `threshold` or above.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verifier {
    /// What it is and how it was made (data, command), for `info` and the model card.
    pub name: String,
    /// The feature names it was trained on: must be [`FEATURE_NAMES`].
    pub features: Vec<String>,
    pub bias: f32,
    pub threshold: f32,
    pub trees: Vec<Tree>,
}

/// The built-in verifier's file (JSON), embedded in the binary.
const BUILT_IN: &str = include_str!("../../models/verifier.json");

impl Verifier {
    /// The verifier embedded in the binary.
    pub fn built_in() -> &'static Verifier {
        static BUILT: OnceLock<Verifier> = OnceLock::new();
        BUILT.get_or_init(|| {
            Verifier::from_json(BUILT_IN, Path::new("models/verifier.json"))
                .expect("the embedded verifier is checked by the tests")
        })
    }

    /// A verifier read from a file that `lookalike verifier train` wrote.
    pub fn load(path: &Path) -> Result<Verifier> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Verifier::from_json(&text, path)
    }

    /// A verifier from its JSON (`path` names where it came from, in errors).
    pub fn from_json(text: &str, path: &Path) -> Result<Verifier> {
        let bad = |why: String| Error::InvalidArgument(format!("{}: {why}", path.display()));
        let v: Verifier =
            serde_json::from_str(text).map_err(|e| bad(format!("not a verifier: {e}")))?;
        if v.features != FEATURE_NAMES {
            return Err(bad(format!(
                "its features ({}) are not this version's ({})",
                v.features.join(","),
                FEATURE_NAMES.join(",")
            )));
        }
        for (t, tree) in v.trees.iter().enumerate() {
            let n = tree.nodes.len();
            let broken = n == 0
                || tree.nodes.iter().enumerate().any(|(i, node)| {
                    node.feature.is_some_and(|f| {
                        f >= FEATURES
                            || node.left <= i
                            || node.right <= i
                            || node.left >= n
                            || node.right >= n
                    })
                });
            if broken {
                return Err(bad(format!("tree {t} is malformed")));
            }
        }
        Ok(v)
    }

    /// The verifier as JSON, as [`Verifier::load`] reads it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a verifier serialises")
    }

    /// The log-odds that the pair is one picture.
    pub fn margin(&self, x: &PairFeatures) -> f32 {
        self.bias + self.trees.iter().map(|t| t.walk(&x.0, None)).sum::<f32>()
    }

    /// The probability that the pair is one picture.
    pub fn probability(&self, x: &PairFeatures) -> f32 {
        sigmoid(self.margin(x))
    }

    /// Whether the pair is one picture.
    pub fn is_copy(&self, x: &PairFeatures) -> bool {
        self.probability(x) >= self.threshold
    }

    /// The probability and each feature's share of the log-odds (positive: towards one
    /// picture), largest effect first.
    pub fn explain(&self, x: &PairFeatures) -> (f32, Vec<(&'static str, f32)>) {
        let mut changes = [0f32; FEATURES];
        let sum: f32 = self
            .trees
            .iter()
            .map(|t| t.walk(&x.0, Some(&mut changes)))
            .sum();
        let mut reasons: Vec<(&'static str, f32)> = FEATURE_NAMES
            .iter()
            .zip(changes)
            .filter(|(_, c)| *c != 0.0)
            .map(|(n, c)| (*n, c))
            .collect();
        reasons.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
        (sigmoid(self.bias + sum), reasons)
    }
}

/// The verifier's answer about one pair: the probability that it is one picture, and the
/// features that moved it most (positive: towards one picture).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub probability: f32,
    pub reasons: Vec<Reason>,
}

/// One feature's share of a [`Verdict`], in log-odds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reason {
    pub feature: &'static str,
    pub effect: f32,
}

/// Reasons kept in a verdict.
const REASONS: usize = 3;

impl Verifier {
    /// The verdict on a pair the content check's rule accepted (its agreement, score,
    /// cosine and the two pictures' sizes), and whether it is one picture: the one decision
    /// `dedup` and `query --copies` share.
    pub fn judge(
        &self,
        agreement: &Agreement,
        score: f32,
        cosine: f32,
        size_a: (u32, u32),
        size_b: (u32, u32),
    ) -> (bool, Verdict) {
        let verdict = self.verdict(&PairFeatures::of(agreement, score, cosine, size_a, size_b));
        (verdict.probability >= self.threshold, verdict)
    }

    /// The verdict on a pair, with its three main reasons.
    pub fn verdict(&self, x: &PairFeatures) -> Verdict {
        let (probability, reasons) = self.explain(x);
        Verdict {
            probability,
            reasons: reasons
                .into_iter()
                .take(REASONS)
                .map(|(feature, effect)| Reason { feature, effect })
                .collect(),
        }
    }
}

/// The logistic function.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stump(feature: usize, split: f32, left: f32, right: f32) -> Tree {
        Tree {
            nodes: vec![
                Node {
                    feature: Some(feature),
                    split,
                    left: 1,
                    right: 2,
                    value: 0.0,
                },
                Node {
                    feature: None,
                    split: 0.0,
                    left: 0,
                    right: 0,
                    value: left,
                },
                Node {
                    feature: None,
                    split: 0.0,
                    left: 0,
                    right: 0,
                    value: right,
                },
            ],
        }
    }

    fn verifier(trees: Vec<Tree>) -> Verifier {
        Verifier {
            name: "test".into(),
            features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            bias: -1.0,
            threshold: 0.5,
            trees,
        }
    }

    #[test]
    fn the_trees_add_up_to_the_log_odds_and_the_reasons_to_the_trees() {
        let v = verifier(vec![stump(6, 0.6, -2.0, 3.0), stump(11, 0.3, 0.5, -1.5)]);
        let mut x = PairFeatures([0.0; FEATURES]);
        x.0[6] = 0.9; // patches agree: +3
        x.0[11] = 0.1; // a small disagreeing region: +0.5
        assert_eq!(v.margin(&x), -1.0 + 3.0 + 0.5);
        assert!(v.is_copy(&x));
        let (p, reasons) = v.explain(&x);
        assert_eq!(p, v.probability(&x));
        assert_eq!(reasons, vec![("patches", 3.0), ("disagreeing_extent", 0.5)]);
        x.0[11] = 0.8;
        assert_eq!(v.margin(&x), -1.0 + 3.0 - 1.5);
        x.0[6] = 0.2;
        assert!(!v.is_copy(&x));
    }

    #[test]
    fn a_verifier_reads_back_and_a_malformed_one_is_refused() {
        let v = verifier(vec![stump(0, 0.5, -1.0, 1.0)]);
        let path = Path::new("v.json");
        assert_eq!(Verifier::from_json(&v.to_json(), path).unwrap(), v);
        let mut loops = v.clone();
        loops.trees[0].nodes[0].left = 0;
        assert!(Verifier::from_json(&loops.to_json(), path).is_err());
        let mut other = v.clone();
        other.features.pop();
        let err = Verifier::from_json(&other.to_json(), path).unwrap_err();
        assert!(err.to_string().contains("features"), "{err}");
        assert!(Verifier::from_json("{}", path).is_err());
    }

    /// The built-in verifier against reference outputs computed by an independent
    /// implementation (`scripts/verifier-reference.py`, run on pairs of every domain when the
    /// verifier is trained again).
    #[test]
    fn the_built_in_verifier_gives_the_reference_outputs() {
        let v = Verifier::built_in();
        assert!(!v.trees.is_empty() && (0.0..1.0).contains(&v.threshold));
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/verifier/reference.json"
        );
        let reference: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            reference["verifier"],
            v.name.as_str(),
            "reference of another verifier"
        );
        let cases = reference["cases"].as_array().unwrap();
        assert!(cases.len() >= 20);
        let (mut copies, mut others) = (0, 0);
        for case in cases {
            let x: Vec<f32> = case["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_f64().unwrap() as f32)
                .collect();
            let x = PairFeatures(x.try_into().unwrap());
            let expected = case["probability"].as_f64().unwrap() as f32;
            let p = v.probability(&x);
            assert!(
                (p - expected).abs() < 1e-4,
                "{p} against {expected}: {case}"
            );
            if case["copy"] == true {
                copies += 1;
            } else {
                others += 1;
            }
        }
        assert!(copies > 0 && others > 0);
    }
}
