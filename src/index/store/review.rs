//! What review keeps in the sled store, outside the generation: decisions on duplicate
//! groups and the collection's own pair verifier.

use super::{key, Hash, Store, DECISION, VERIFIER};
use crate::error::Result;
use crate::index::records::{DecisionBook, DecisionRecord};

/// Decisions are not part of the generation: the graph and the flat file do not depend on
/// them.
impl DecisionBook for Store {
    fn put_decision(&self, group: &Hash, record: &DecisionRecord) -> Result<()> {
        let value = bincode::serialize(record).expect("serialises");
        self.db
            .insert(key(DECISION, &[group]), value)
            .map_err(|e| self.storage(e))?;
        self.flush()
    }

    fn remove_decision(&self, group: &Hash) -> Result<()> {
        self.db
            .remove(key(DECISION, &[group]))
            .map_err(|e| self.storage(e))?;
        self.flush()
    }

    fn decisions(&self) -> Result<Vec<(Hash, DecisionRecord)>> {
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

impl Store {
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
}
