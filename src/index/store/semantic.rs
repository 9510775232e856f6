//! The pretrained models' vectors in the sled store (`E` + slot + hash), beside the main
//! model's, for `query` and `search`.

use super::{key, Hash, Store, META_SEMANTIC, SEMANTIC};
use crate::error::Result;
use crate::model::pretrained::PretrainedInfo;
use std::path::{Path, PathBuf};

/// The f32 values of a semantic vector record (little-endian).
pub(super) fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A pretrained model an index holds vectors of (`Msemantic`), for `query` and `search`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SemanticModel {
    /// The byte after `E` in the keys of its vectors.
    pub slot: u8,
    pub info: PretrainedInfo,
    /// The folder it was loaded from last (canonical).
    pub dir: PathBuf,
}

impl Store {
    /// The pretrained models whose vectors the index holds beside the main model's, in the
    /// order they were added.
    pub fn semantic_models(&self) -> Result<Vec<SemanticModel>> {
        match self.get(META_SEMANTIC)? {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_slice(&v)
                .map_err(|e| self.corrupt(format!("unreadable semantic model record: {e}"))),
        }
    }

    /// Records a pretrained model (or the folder it now lies in, if the index holds it
    /// already) and returns its record.
    pub fn add_semantic_model(&self, info: &PretrainedInfo, dir: &Path) -> Result<SemanticModel> {
        let mut models = self.semantic_models()?;
        let record = match models.iter_mut().find(|m| m.info == *info) {
            Some(m) => {
                m.dir = dir.to_path_buf();
                m.clone()
            }
            None => {
                let slot = (0..=u8::MAX)
                    .find(|s| models.iter().all(|m| m.slot != *s))
                    .ok_or_else(|| self.corrupt("256 semantic models recorded"))?;
                let m = SemanticModel {
                    slot,
                    info: info.clone(),
                    dir: dir.to_path_buf(),
                };
                models.push(m.clone());
                m
            }
        };
        self.db
            .insert(
                META_SEMANTIC,
                serde_json::to_vec(&models).expect("serialises"),
            )
            .map_err(|e| self.storage(e))?;
        self.flush()?;
        Ok(record)
    }

    /// Stores semantic vectors of contents, durably. Like decisions they are outside the
    /// generation (the graph does not depend on them); they are removed with their content.
    pub fn put_semantic(&self, slot: u8, vectors: &[(Hash, Vec<f32>)]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (hash, v) in vectors {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            batch.insert(key(SEMANTIC, &[&[slot], hash]), bytes);
        }
        self.db.apply_batch(batch).map_err(|e| self.storage(e))?;
        self.flush()
    }

    /// Whether the content has a vector of the semantic model in `slot`.
    pub fn has_semantic(&self, slot: u8, hash: &Hash) -> Result<bool> {
        self.db
            .contains_key(key(SEMANTIC, &[&[slot], hash]))
            .map_err(|e| self.storage(e))
    }

    /// How many vectors of the semantic model in `slot` the index holds (keys only).
    pub fn semantic_count(&self, slot: u8) -> Result<usize> {
        let mut n = 0;
        for key in self.db.scan_prefix([SEMANTIC, slot]).keys() {
            key.map_err(|e| self.storage(e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Every vector of the semantic model in `slot`, by content.
    pub fn semantic_vectors(
        &self,
        slot: u8,
    ) -> impl Iterator<Item = Result<(Hash, Vec<f32>)>> + '_ {
        self.db.scan_prefix([SEMANTIC, slot]).map(move |item| {
            let (k, v) = item.map_err(|e| self.storage(e))?;
            let hash: Hash = k[2..]
                .try_into()
                .map_err(|_| self.corrupt("semantic vector key is not a 32-byte hash"))?;
            Ok((hash, floats(&v)))
        })
    }
}
