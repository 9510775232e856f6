//! Retraining the pair verifier on a collection's own review decisions
//! ([`crate::dedup::own_verifier`]): more trees grown on top of the base verifier's (the
//! built-in one unless another is named), on the pairs the decisions label, and measured
//! first on a held-out part of those decisions (a third of the decided groups, chosen by
//! their ids), so that the gain is a number and not a hope.

use super::verifier::{train_from, BoostOptions, Sample};
use crate::dedup::own_verifier::DecidedPair;
use crate::dedup::verifier::Verifier;
use crate::error::{Error, Result};
use serde::Serialize;

/// How the collection's trees are grown: few and shallow, so that a few dozen decisions
/// correct the base where they disagree with it without unlearning the rest.
pub fn adapt_options() -> BoostOptions {
    BoostOptions {
        rounds: 30,
        depth: 2,
        learning_rate: 0.1,
        min_leaf_weight: 2.0,
        ..BoostOptions::default()
    }
}

/// How a verifier does on labelled pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Errors {
    /// Pairs of two pictures it calls one (a tier that actions touch would take them).
    pub false_copies: usize,
    /// Pairs of one picture it calls two.
    pub missed_copies: usize,
}

impl Errors {
    fn of(verifier: &Verifier, pairs: &[&DecidedPair]) -> Errors {
        let mut e = Errors::default();
        for p in pairs {
            match (p.copy, verifier.is_copy(&p.features)) {
                (false, true) => e.false_copies += 1,
                (true, false) => e.missed_copies += 1,
                _ => {}
            }
        }
        e
    }
}

/// What adapting measured and learned.
#[derive(Debug, Clone, Serialize)]
pub struct AdaptReport {
    /// Decided pairs: one picture, two pictures; the groups they come from.
    pub copies: usize,
    pub look_alikes: usize,
    pub groups: usize,
    /// The held-out third of the groups (`None` when either part would be empty).
    pub held_out: Option<HeldOut>,
    /// The final verifier (trained on every decided pair) on those pairs: what it learned.
    pub fitted: Errors,
    pub base: Errors,
}

/// The held-out third of the decided groups: its pairs, and the base's and the retrained
/// verifier's errors on them (the retrained one learned from the other groups only).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeldOut {
    pub pairs: usize,
    pub base: Errors,
    pub adapted: Errors,
}

/// Whether a decided group is in the held-out third.
fn held_out(p: &DecidedPair) -> bool {
    p.group[0].is_multiple_of(3)
}

/// Samples whose two kinds weigh the same in all.
fn samples(pairs: &[&DecidedPair]) -> Vec<Sample> {
    let copies = pairs.iter().filter(|p| p.copy).count().max(1) as f32;
    let others = pairs.iter().filter(|p| !p.copy).count().max(1) as f32;
    pairs
        .iter()
        .map(|p| Sample {
            x: p.features.0,
            copy: p.copy,
            weight: 100.0 / if p.copy { copies } else { others },
        })
        .collect()
}

/// Retrains `base` on the decided `pairs`: measured on the held-out third first, then
/// trained on all. Needs pairs of both kinds (accepted groups and groups marked not
/// duplicates), or the new trees would learn that every pair is one kind.
pub fn adapt(
    base: &Verifier,
    pairs: &[DecidedPair],
    name: &str,
) -> Result<(Verifier, AdaptReport)> {
    let all: Vec<&DecidedPair> = pairs.iter().collect();
    let (copies, look_alikes) = (
        all.iter().filter(|p| p.copy).count(),
        all.iter().filter(|p| !p.copy).count(),
    );
    if copies == 0 || look_alikes == 0 {
        return Err(Error::InvalidArgument(format!(
            "retraining needs decisions of both kinds: the review decisions label {copies} \
             pairs of one picture (accepted groups) and {look_alikes} of two (groups marked \
             not duplicates); review more groups in `lookalike serve` first"
        )));
    }
    let opts = adapt_options();
    let (test, train): (Vec<&DecidedPair>, Vec<&DecidedPair>) =
        all.iter().partition(|p| held_out(p));
    let both_kinds =
        |pairs: &[&DecidedPair]| pairs.iter().any(|p| p.copy) && pairs.iter().any(|p| !p.copy);
    let held_out = (!test.is_empty() && both_kinds(&train)).then(|| {
        let partial = train_from(Some(base), &samples(&train), &opts, name);
        HeldOut {
            pairs: test.len(),
            base: Errors::of(base, &test),
            adapted: Errors::of(&partial, &test),
        }
    });
    let adapted = train_from(Some(base), &samples(&all), &opts, name);
    let mut groups: Vec<_> = all.iter().map(|p| p.group).collect();
    groups.sort_unstable();
    groups.dedup();
    let report = AdaptReport {
        copies,
        look_alikes,
        groups: groups.len(),
        held_out,
        fitted: Errors::of(&adapted, &all),
        base: Errors::of(base, &all),
    };
    Ok((adapted, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::verifier::{PairFeatures, FEATURES};
    use crate::train::verifier::train;

    /// A decided pair of group `g` whose features are all `v`.
    fn pair(g: u8, v: f32, copy: bool) -> DecidedPair {
        DecidedPair {
            group: [g; 32],
            a: "a.jpg".into(),
            b: "b.jpg".into(),
            features: PairFeatures([v; FEATURES]),
            copy,
        }
    }

    fn base() -> Verifier {
        // Everything at or above 0.5 is one picture.
        let samples: Vec<Sample> = (0..200)
            .map(|i| {
                let v = i as f32 / 200.0;
                Sample {
                    x: [v; FEATURES],
                    copy: v >= 0.5,
                    weight: 1.0,
                }
            })
            .collect();
        train(&samples, &BoostOptions::default(), "base")
    }

    #[test]
    fn decisions_of_one_kind_are_refused_with_their_counts() {
        let pairs = vec![pair(1, 0.9, true), pair(2, 0.8, true)];
        let e = adapt(&base(), &pairs, "x").unwrap_err().to_string();
        assert!(
            e.contains("2 pairs of one picture") && e.contains("0 of two"),
            "{e}"
        );
    }

    #[test]
    fn the_held_out_third_is_measured_before_and_after_and_the_fit_follows_the_decisions() {
        let base = base();
        // Groups 0, 3, 6... are held out. Look-alikes at 0.7 (the base calls them copies).
        let mut pairs = Vec::new();
        for g in 0..12u8 {
            pairs.push(pair(g, 0.9, true));
            pairs.push(pair(g, 0.7, false));
        }
        let (adapted, report) = adapt(&base, &pairs, "x").unwrap();
        assert_eq!(
            (report.copies, report.look_alikes, report.groups),
            (12, 12, 12)
        );
        let held = report.held_out.unwrap();
        assert_eq!(held.pairs, 8);
        assert_eq!(held.base.false_copies, 4);
        assert_eq!(held.adapted.false_copies, 0);
        assert_eq!(report.base.false_copies, 12);
        assert_eq!(report.fitted, Errors::default());
        assert!(adapted.is_copy(&PairFeatures([0.9; FEATURES])));
    }
}
