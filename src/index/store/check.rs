//! The sled store's self-check (`lookalike verify`): every record agrees with the others
//! and with the counters.

use super::{floats, key, path_bytes, path_from_bytes, Hash, Store, PATHS, SEMANTIC, THUMBNAIL};
use crate::error::Result;

impl Store {
    /// Checks that the records agree with each other and with the counters: every file's
    /// content exists and lists the file, every content's id maps back to it and its vector
    /// has the model's dimension, every path entry has its file. Returns what is wrong
    /// (empty: consistent). Reads the whole database.
    pub fn verify(&self) -> Result<Vec<String>> {
        let meta = self.meta()?.ok_or_else(|| self.corrupt("no metadata"))?;
        let mut problems = Vec::new();
        let mut files = 0u64;
        for item in self.files() {
            let (path, rec) = item?;
            files += 1;
            if self.content(&rec.hash)?.is_none() {
                problems.push(format!("{}: its content is missing", path.display()));
            }
            if self
                .get(&key(PATHS, &[&rec.hash, &path_bytes(&path)]))?
                .is_none()
            {
                problems.push(format!("{}: not listed under its content", path.display()));
            }
        }
        let mut contents = 0u64;
        let next_id = self.next_id()?;
        for item in self.contents() {
            let (hash, rec) = item?;
            contents += 1;
            if self.hash_of_id(rec.id)? != Some(hash) {
                problems.push(format!("content with id {} is not found by its id", rec.id));
            }
            if rec.id >= next_id {
                problems.push(format!(
                    "content id {} is not below next id {next_id}",
                    rec.id
                ));
            }
            if rec.vector.len() != meta.model.dim {
                problems.push(format!(
                    "content with id {} has {} dimensions, the model {}",
                    rec.id,
                    rec.vector.len(),
                    meta.model.dim
                ));
            }
        }
        for item in self.db.scan_prefix([THUMBNAIL]) {
            let (k, v) = item.map_err(|e| self.storage(e))?;
            let hash: Hash = k[1..]
                .try_into()
                .map_err(|_| self.corrupt("thumbnail key is not a 32-byte hash"))?;
            if v.len() != crate::ingest::thumbnail::BYTES {
                problems.push(format!("a thumbnail of {} bytes", v.len()));
            }
            if self.content(&hash)?.is_none() {
                problems.push("a thumbnail whose content is missing".to_string());
            }
        }
        for item in self.db.scan_prefix([PATHS]) {
            let (k, _) = item.map_err(|e| self.storage(e))?;
            let path = path_from_bytes(&k[1 + 32..]);
            if self.file(&path)?.is_none() {
                problems.push(format!(
                    "{}: listed under a content but has no record",
                    path.display()
                ));
            }
        }
        self.verify_semantic(&mut problems)?;
        if files != meta.files {
            problems.push(format!("{files} file records, counter says {}", meta.files));
        }
        if contents != meta.contents {
            problems.push(format!(
                "{contents} content records, counter says {}",
                meta.contents
            ));
        }
        Ok(problems)
    }

    /// Checks the pretrained models' vectors: each belongs to a recorded model and to a
    /// content, and has the model's dimension with finite values.
    fn verify_semantic(&self, problems: &mut Vec<String>) -> Result<()> {
        let models = self.semantic_models()?;
        for item in self.db.scan_prefix([SEMANTIC]) {
            let (k, v) = item.map_err(|e| self.storage(e))?;
            let slot = k[1];
            let Some(model) = models.iter().find(|m| m.slot == slot) else {
                problems.push(format!("a vector in slot {slot}, which holds no model"));
                continue;
            };
            let id = model.info.id();
            let hash: Hash = k[2..]
                .try_into()
                .map_err(|_| self.corrupt("semantic vector key is not a 32-byte hash"))?;
            if self.content(&hash)?.is_none() {
                problems.push(format!("a vector of {id} whose content is missing"));
            }
            if v.len() != 4 * model.info.dim {
                problems.push(format!(
                    "a vector of {id} has {} bytes, the model's {} dimensions need {}",
                    v.len(),
                    model.info.dim,
                    4 * model.info.dim
                ));
            } else if floats(&v).iter().any(|x| !x.is_finite()) {
                problems.push(format!("a vector of {id} holds a value that is not finite"));
            }
        }
        Ok(())
    }
}
