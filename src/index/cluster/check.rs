//! The Milvus store's self-check (`lookalike verify --store`): every row of the collection
//! and of the copy descriptors' collection is whole and agrees with the others.

use super::{bucket_of, floats, hex, path_text, ClusterIndex, RowContent, RowFile, FILE_FIELDS};
use crate::error::Result;
use crate::index::milvus;
use serde_json::Value;
use std::collections::HashMap;

impl ClusterIndex {
    /// Checks every row of the collection and of the copy descriptors' collection: each row
    /// has its fields, unit descriptors of the model's dimensions with finite values, and
    /// the bucket its path hashes to; each path has one row (more: a killed run's, deleted
    /// by the next `index`); each file's content has one copy row and no copy row is left
    /// without its file. Returns what is wrong (empty: consistent); reads every row once.
    pub fn verify(&self) -> Result<Vec<String>> {
        let mut problems = Problems::default();
        let mut fields = FILE_FIELDS.to_vec();
        fields.push("vector");
        if self.model.has_two_heads() {
            fields.push("copy");
        }
        let unit = |v: &[f32], dim: usize| -> Option<String> {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if v.len() != dim {
                Some(format!("{} dimensions, the model's head {dim}", v.len()))
            } else if v.iter().any(|x| !x.is_finite()) {
                Some("a value that is not finite".into())
            } else if (norm - 1.0).abs() > 1e-3 {
                Some(format!("length {norm:.4}, not 1"))
            } else {
                None
            }
        };
        let mut files: HashMap<(String, String), u32> = HashMap::new();
        self.milvus.list_each("", &fields, |rows| {
            for row in rows {
                let pk = milvus::primary_key(&row).unwrap_or(-1);
                let (Some(file), Some(content)) = (RowFile::of(&row), RowContent::of(&row)) else {
                    problems.add(format!("row {pk}: a field is missing or unreadable"));
                    continue;
                };
                let at = file.path.display();
                if let Some(why) = unit(&content.vector, self.dim()) {
                    problems.add(format!("{at}: its descriptor has {why}"));
                }
                match (&content.copy, self.model.has_two_heads()) {
                    (Some(copy), true) => {
                        if let Some(why) = unit(copy, self.model.copy_dim) {
                            problems.add(format!("{at}: its copy descriptor has {why}"));
                        }
                    }
                    (None, true) => problems.add(format!("{at}: its copy descriptor is missing")),
                    _ => {}
                }
                let bucket = row.get("bucket").and_then(Value::as_u64);
                if bucket != Some(u64::from(bucket_of(&file.path))) {
                    problems.add(format!(
                        "{at}: in bucket {bucket:?}, its path hashes to {}",
                        bucket_of(&file.path)
                    ));
                }
                *files
                    .entry((path_text(&file.path), hex(&file.record.hash)))
                    .or_default() += 1;
            }
            Ok(())
        })?;
        let mut paths: HashMap<&str, u32> = HashMap::new();
        for ((path, _), n) in &files {
            *paths.entry(path).or_default() += n;
        }
        let twice = paths.values().filter(|&&n| n > 1).count();
        if twice > 0 {
            problems.add(format!(
                "{twice} paths with more than one row (a killed run's: the next `index` deletes the older)"
            ));
        }
        if let Some(copies) = &self.copies {
            let mut seen: HashMap<(String, String), u32> = HashMap::new();
            copies.list_each("", &["path", "hash", "vector"], |rows| {
                for row in rows {
                    let (Some(path), Some(hash), Some(vector)) = (
                        row.get("path").and_then(Value::as_str),
                        row.get("hash").and_then(Value::as_str),
                        row.get("vector").and_then(floats),
                    ) else {
                        problems.add("a copy row: a field is missing or unreadable".into());
                        continue;
                    };
                    if let Some(why) = unit(&vector, self.model.copy_dim) {
                        problems.add(format!("{path}: its copy descriptor has {why}"));
                    }
                    *seen
                        .entry((path.to_string(), hash.to_string()))
                        .or_default() += 1;
                }
                Ok(())
            })?;
            let orphans = seen.keys().filter(|k| !files.contains_key(*k)).count();
            let missing = files.keys().filter(|k| !seen.contains_key(*k)).count();
            let doubled = seen.values().filter(|&&n| n > 1).count();
            for (n, what) in [
                (orphans, "copy rows without their file's row"),
                (missing, "files without their copy row"),
                (doubled, "files with more than one copy row"),
            ] {
                if n > 0 {
                    problems.add(format!("{n} {what} (the next `index` derives them again)"));
                }
            }
        }
        Ok(problems.into_list())
    }
}

/// What `verify` found, the first [`Problems::SHOWN`] said and the rest counted.
#[derive(Default)]
struct Problems {
    said: Vec<String>,
    more: usize,
}

impl Problems {
    const SHOWN: usize = 100;

    fn add(&mut self, problem: String) {
        if self.said.len() < Self::SHOWN {
            self.said.push(problem);
        } else {
            self.more += 1;
        }
    }

    fn into_list(mut self) -> Vec<String> {
        if self.more > 0 {
            self.said.push(format!("and {} more", self.more));
        }
        self.said
    }
}
