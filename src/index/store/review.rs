//! What review keeps in the sled store, outside the generation: decisions on duplicate
//! groups and the collection's own pair verifier.

use super::{key, Hash, Store, DECISION, VERIFIER};
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// A review decision on a duplicate group (`serve`'s duplicates page), kept across
/// re-indexing: the group is named by its contents, not by its paths or graph ids. What the
/// verdict means is `dedup::decisions`' business; the store only keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The verdict's name (`not-duplicates`, `keeper`, `accepted`).
    pub verdict: String,
    /// The group's contents, sorted.
    pub contents: Vec<Hash>,
    /// The chosen keeper's path bytes.
    pub keeper: Option<Vec<u8>>,
    /// Seconds since the Unix epoch.
    pub decided_at: u64,
}

impl Store {
    /// Records a review decision under its group id, durably. Decisions are not part of the
    /// generation: the graph and the flat file do not depend on them.
    pub fn put_decision(&self, group: &Hash, record: &DecisionRecord) -> Result<()> {
        let value = bincode::serialize(record).expect("serialises");
        self.db
            .insert(key(DECISION, &[group]), value)
            .map_err(|e| self.storage(e))?;
        self.flush()
    }

    /// Forgets the decision on a group (no error if there is none).
    pub fn remove_decision(&self, group: &Hash) -> Result<()> {
        self.db
            .remove(key(DECISION, &[group]))
            .map_err(|e| self.storage(e))?;
        self.flush()
    }

    /// Keeps the collection's own pair verifier (as the bytes of its file), durably,
    /// replacing any before it. Like decisions, not part of the generation.
    pub fn put_collection_verifier(&self, bytes: &[u8]) -> Result<()> {
        self.db
            .insert([VERIFIER], bytes)
            .map_err(|e| self.storage(e))?;
        self.flush()
    }

    /// The collection's own pair verifier's bytes, if it has one.
    pub fn collection_verifier(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .get([VERIFIER])
            .map_err(|e| self.storage(e))?
            .map(|v| v.to_vec()))
    }

    /// Forgets the collection's own pair verifier; whether there was one.
    pub fn remove_collection_verifier(&self) -> Result<bool> {
        let had = self
            .db
            .remove([VERIFIER])
            .map_err(|e| self.storage(e))?
            .is_some();
        self.flush()?;
        Ok(had)
    }

    /// Every review decision, by group id.
    pub fn decisions(&self) -> Result<Vec<(Hash, DecisionRecord)>> {
        self.db
            .scan_prefix([DECISION])
            .map(|item| {
                let (k, v) = item.map_err(|e| self.storage(e))?;
                let group: Hash = k[1..]
                    .try_into()
                    .map_err(|_| self.corrupt("decision key is not a 32-byte group id"))?;
                Ok((group, self.decode("decision", &v)?))
            })
            .collect()
    }
}
