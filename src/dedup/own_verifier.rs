//! A collection's own pair verifier: the pairs its review decisions label, and the verifier
//! retrained on them ([`crate::train::adapt`]) kept in its index.
//!
//! A reviewer's decisions in `serve` are labelled pairs. A group marked **not duplicates**
//! says that every pair of its pictures is two pictures; an **accepted** group says that the
//! pairs the verifier called one picture are (its similar shots stay unlabelled: accepting
//! a group acts on its duplicates only). A keeper alone labels nothing. The pairs are
//! measured as `dedup` measures them, and only those the hand-written rule accepts count:
//! the verifier never sees the others.
//!
//! Using it is opt-in (`lookalike verifier adapt` writes it), it lives in the index (sled
//! key `V`), and it is reversible (`lookalike verifier adapt --forget`); `--verifier FILE`
//! still takes precedence.

use super::decisions::Verdict;
use super::verifier::{PairFeatures, Verifier};
use super::{candidates, DedupOptions};
use crate::error::{Error, Result};
use crate::index::store::{DecisionBook, Hash, Store};
use crate::index::Index;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A pair of pictures a review decision labels.
#[derive(Debug, Clone)]
pub struct DecidedPair {
    /// The decided group it belongs to (pairs of one group are held out together).
    pub group: Hash,
    pub a: PathBuf,
    pub b: PathBuf,
    pub features: PairFeatures,
    /// One picture (from an accepted group) or two (from a group marked not duplicates).
    pub copy: bool,
}

/// The pairs the index's review decisions label, measured by the content check (only pairs
/// the rule accepts; `opts.verifier()`, or the built-in one, says which pairs of an
/// accepted group are its copies).
pub fn decided_pairs(index: &mut Index, opts: &DedupOptions) -> Result<Vec<DecidedPair>> {
    // Content -> the decisions naming it (group id, verdict), in the store's order.
    let mut decided: HashMap<Hash, Vec<(Hash, Verdict)>> = HashMap::new();
    for (group, record) in index.store().decisions()? {
        let Some(verdict) = Verdict::parse(&record.verdict) else {
            continue;
        };
        if verdict == Verdict::Keeper {
            continue;
        }
        for content in record.contents {
            decided.entry(content).or_default().push((group, verdict));
        }
    }
    if decided.is_empty() {
        return Ok(Vec::new());
    }
    let shared = |a: &Hash, b: &Hash| -> Option<(Hash, Verdict)> {
        let (da, db) = (decided.get(a)?, decided.get(b)?);
        da.iter().find(|d| db.contains(d)).copied()
    };
    let mut found = candidates(index, opts)?;
    found.retain_pairs(|a, b| shared(a, b).is_some());
    let verifier = opts.verifier();
    let mut out = Vec::new();
    for m in found.measured() {
        if !m.same_content {
            continue;
        }
        let Some((group, verdict)) = shared(&m.contents.0, &m.contents.1) else {
            continue;
        };
        let copy = match verdict {
            Verdict::NotDuplicates => false,
            Verdict::Accepted if verifier.is_copy(&m.features) => true,
            _ => continue,
        };
        out.push(DecidedPair {
            group,
            a: m.a,
            b: m.b,
            features: m.features,
            copy,
        });
    }
    Ok(out)
}

/// The collection's own verifier kept in `store`, if it has one.
pub fn load(store: &Store) -> Result<Option<Verifier>> {
    store.collection_verifier()?.map(parse).transpose()
}

/// A stored verifier's bytes read back.
fn parse(bytes: Vec<u8>) -> Result<Verifier> {
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::InvalidArgument("the index's own verifier is not UTF-8 JSON".to_string())
    })?;
    Verifier::from_json(&text, Path::new("the index's own verifier"))
}

/// Keeps `verifier` as the collection's own, replacing any before it.
pub fn save(store: &Store, verifier: &Verifier) -> Result<()> {
    store.put_collection_verifier(verifier.to_json().as_bytes())
}

/// Forgets the collection's own verifier (the built-in one applies again); whether there
/// was one.
pub fn forget(store: &Store) -> Result<bool> {
    store.remove_collection_verifier()
}

/// What [`DedupOptions::use_own_verifier`] did.
#[derive(Debug)]
pub enum OwnVerifier {
    /// The collection has none, or a verifier was named: nothing changed.
    NotUsed,
    /// The collection's own verifier decides.
    Used,
    /// The collection has one this version cannot use (written by a version whose
    /// verifier sees other measurements): the built-in one decides; `verifier adapt` again
    /// makes a new one.
    Unusable(Error),
}

impl DedupOptions {
    /// Uses the collection's own verifier when the index has one and no verifier was
    /// named. A stored verifier that cannot be read leaves the built-in one in place and
    /// says why; only a storage error fails.
    pub fn use_own_verifier(&mut self, store: &Store) -> Result<OwnVerifier> {
        if self.verifier.is_some() {
            return Ok(OwnVerifier::NotUsed);
        }
        let Some(bytes) = store.collection_verifier()? else {
            return Ok(OwnVerifier::NotUsed);
        };
        match parse(bytes) {
            Ok(v) => {
                self.verifier = Some(Arc::new(v));
                Ok(OwnVerifier::Used)
            }
            Err(e) => Ok(OwnVerifier::Unusable(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_own_verifier_leaves_the_built_in_one_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut opts = DedupOptions::default();
        assert!(matches!(
            opts.use_own_verifier(&store).unwrap(),
            OwnVerifier::NotUsed
        ));
        // A verifier of an older version, which saw other measurements.
        let mut old = Verifier::built_in().clone();
        old.features.pop();
        save(&store, &old).unwrap();
        match opts.use_own_verifier(&store).unwrap() {
            OwnVerifier::Unusable(e) => assert!(e.to_string().contains("features"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(opts.verifier.is_none());
        save(&store, Verifier::built_in()).unwrap();
        assert!(matches!(
            opts.use_own_verifier(&store).unwrap(),
            OwnVerifier::Used
        ));
        assert_eq!(opts.verifier.as_deref(), Some(Verifier::built_in()));
        // A named verifier wins.
        assert!(matches!(
            opts.use_own_verifier(&store).unwrap(),
            OwnVerifier::NotUsed
        ));
        assert!(forget(&store).unwrap());
        assert!(load(&store).unwrap().is_none());
    }
}
