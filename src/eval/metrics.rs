//! Quality metrics, as pure functions over rankings and scored pairs.
//!
//! Retrieval: precision@k, mAP@R (Musgrave et al., "A Metric Learning Reality Check"), and the
//! similarity-weighted k-NN classifier of self-supervised learning papers (Wu et al. 2018:
//! each of the k neighbours votes for its label with weight `exp(similarity / 0.07)`).
//! Copy detection: the precision-recall curve over all query→candidate pairs ranked by score,
//! micro average precision (µAP, as in the DISC2021 benchmark), and recall at a precision.

use std::collections::HashMap;

/// Precision of the first `k` results (`relevant[i]`: whether result `i` is relevant).
/// Fewer than `k` results count the missing ones as not relevant.
pub fn precision_at_k(relevant: &[bool], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    relevant.iter().take(k).filter(|&&r| r).count() as f64 / k as f64
}

/// Average precision over the first `r` results, where `r` is the number of relevant items
/// in the whole collection: `(1/r) * sum over i <= r of P@i * relevant[i]`. `None` if `r == 0`.
pub fn average_precision_at_r(relevant: &[bool], r: usize) -> Option<f64> {
    if r == 0 {
        return None;
    }
    let mut hits = 0usize;
    let mut sum = 0.0;
    for (i, &rel) in relevant.iter().take(r).enumerate() {
        if rel {
            hits += 1;
            sum += hits as f64 / (i + 1) as f64;
        }
    }
    Some(sum / r as f64)
}

/// Temperature of the k-NN vote weights.
pub const KNN_TEMPERATURE: f32 = 0.07;

/// Label predicted by a similarity-weighted vote of `neighbours` (label, similarity).
/// Ties between labels go to the smaller label id.
pub fn knn_vote(neighbours: &[(u32, f32)]) -> Option<u32> {
    let mut votes: HashMap<u32, f64> = HashMap::new();
    for &(label, sim) in neighbours {
        *votes.entry(label).or_default() += ((sim / KNN_TEMPERATURE) as f64).exp();
    }
    votes
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(label, _)| label)
}

/// A query→candidate pair with its score and whether the candidate is the query's match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPair {
    pub score: f32,
    pub positive: bool,
}

/// One point of a precision-recall curve: accepting every pair with score >= `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PrPoint {
    pub threshold: f32,
    pub precision: f64,
    pub recall: f64,
}

/// Precision-recall curve of `pairs` (any order), one point per distinct score, from the
/// highest score down. `positives` is the number of true matches that exist, including those
/// that no pair reaches (a query whose match was not retrieved lowers recall).
pub fn pr_curve(pairs: &[ScoredPair], positives: usize) -> Vec<PrPoint> {
    let mut sorted: Vec<ScoredPair> = pairs.to_vec();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut curve = Vec::new();
    let (mut tp, mut seen) = (0usize, 0usize);
    let mut i = 0;
    while i < sorted.len() {
        let threshold = sorted[i].score;
        // Pairs with equal scores are accepted or rejected together.
        while i < sorted.len() && sorted[i].score == threshold {
            tp += sorted[i].positive as usize;
            seen += 1;
            i += 1;
        }
        curve.push(PrPoint {
            threshold,
            precision: tp as f64 / seen as f64,
            recall: if positives == 0 {
                0.0
            } else {
                tp as f64 / positives as f64
            },
        });
    }
    curve
}

/// Micro average precision: the area under the step-wise precision-recall curve,
/// `sum (recall_i - recall_{i-1}) * precision_i` over the curve's points.
pub fn micro_average_precision(curve: &[PrPoint]) -> f64 {
    let mut previous = 0.0;
    let mut ap = 0.0;
    for p in curve {
        ap += (p.recall - previous) * p.precision;
        previous = p.recall;
    }
    ap
}

/// The highest recall reached with precision at least `min_precision`, and the score
/// threshold that reaches it (`None` when no threshold does).
pub fn recall_at_precision(curve: &[PrPoint], min_precision: f64) -> (f64, Option<f32>) {
    curve
        .iter()
        .filter(|p| p.precision >= min_precision)
        .max_by(|a, b| {
            a.recall
                .total_cmp(&b.recall)
                .then(b.threshold.total_cmp(&a.threshold))
        })
        .map_or((0.0, None), |p| (p.recall, Some(p.threshold)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(f32, bool)]) -> Vec<ScoredPair> {
        v.iter()
            .map(|&(score, positive)| ScoredPair { score, positive })
            .collect()
    }

    #[test]
    fn precision_at_k_counts_missing_results_as_misses() {
        assert_eq!(precision_at_k(&[true, false, true], 2), 0.5);
        assert_eq!(precision_at_k(&[true, true], 4), 0.5);
        assert_eq!(precision_at_k(&[], 1), 0.0);
    }

    #[test]
    fn map_at_r_by_hand() {
        // Perfect: both relevant items first.
        assert_eq!(average_precision_at_r(&[true, true, false], 2), Some(1.0));
        // Worst: relevant items after the first R.
        assert_eq!(
            average_precision_at_r(&[false, false, true, true], 2),
            Some(0.0)
        );
        // R = 3, relevant at ranks 1 and 3: (1/1 + 2/3) / 3.
        let ap = average_precision_at_r(&[true, false, true, true], 3).unwrap();
        assert!((ap - (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        // No relevant item exists: undefined.
        assert_eq!(average_precision_at_r(&[false], 0), None);
    }

    #[test]
    fn knn_vote_weighs_by_similarity() {
        // Two weak votes for 1 lose to one strong vote for 2 (exp(0.9/0.07) >> 2 exp(0.5/0.07)).
        assert_eq!(knn_vote(&[(1, 0.5), (1, 0.5), (2, 0.9)]), Some(2));
        // Equal similarities: the majority wins.
        assert_eq!(knn_vote(&[(1, 0.5), (1, 0.5), (2, 0.5)]), Some(1));
        // A tie goes to the smaller label.
        assert_eq!(knn_vote(&[(3, 0.5), (2, 0.5)]), Some(2));
        assert_eq!(knn_vote(&[]), None);
    }

    #[test]
    fn perfect_and_worst_rankings() {
        let perfect = pr_curve(&pairs(&[(0.9, true), (0.8, true), (0.1, false)]), 2);
        assert_eq!(micro_average_precision(&perfect), 1.0);
        assert_eq!(recall_at_precision(&perfect, 0.99), (1.0, Some(0.8)));
        let worst = pr_curve(&pairs(&[(0.9, false), (0.8, false), (0.1, true)]), 1);
        assert!((micro_average_precision(&worst) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(recall_at_precision(&worst, 0.9), (0.0, None));
    }

    #[test]
    fn ties_are_accepted_together() {
        let curve = pr_curve(&pairs(&[(0.9, true), (0.9, false)]), 1);
        assert_eq!(curve.len(), 1);
        assert_eq!(curve[0].precision, 0.5);
        assert_eq!(micro_average_precision(&curve), 0.5);
    }

    #[test]
    fn an_unretrieved_match_caps_recall() {
        // Two queries, one match never retrieved: recall cannot pass 0.5.
        let curve = pr_curve(&pairs(&[(0.95, true), (0.4, false)]), 2);
        assert_eq!(micro_average_precision(&curve), 0.5);
        assert_eq!(recall_at_precision(&curve, 0.9), (0.5, Some(0.95)));
    }

    #[test]
    fn recall_at_precision_picks_the_lowest_threshold_that_keeps_precision() {
        // Ranked: T(0.9) T(0.8) F(0.7) T(0.6); 3 positives.
        let curve = pr_curve(
            &pairs(&[(0.7, false), (0.9, true), (0.6, true), (0.8, true)]),
            3,
        );
        assert_eq!(recall_at_precision(&curve, 0.99), (2.0 / 3.0, Some(0.8)));
        assert_eq!(recall_at_precision(&curve, 0.75), (1.0, Some(0.6)));
        let ap = micro_average_precision(&curve);
        assert!((ap - (1.0 / 3.0 + 1.0 / 3.0 + 0.75 / 3.0)).abs() < 1e-12);
    }
}
