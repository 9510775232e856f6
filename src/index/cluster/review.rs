//! Review decisions of an index in Milvus: a small collection beside the index's
//! (`NAME__review`), one row per decided group, shared by every `serve` and `dedup` that
//! opens the index.
//!
//! A row holds the group id, the verdict, the group's contents, the keeper's path bytes and
//! the time, as dynamic fields; its vector (two numbers, the same for every row) is there
//! because Milvus wants one. The rows are read once, when a process first asks for
//! decisions (after a barrier: every decision written before is seen), and kept in memory;
//! each decision is written through, its new row inserted before the group's older rows are
//! deleted (their keys are known: no query waits for Milvus to show the new row). A
//! process sees decisions made by another only when it opens the index again.

use super::{hex, path_of_text, path_text, unhex, ClusterIndex};
use crate::error::Result;
use crate::index::milvus::{self, Milvus};
use crate::index::records::{path_bytes, path_from_bytes, DecisionBook, DecisionRecord, Hash};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The suffix of the review decisions' collection beside a collection.
pub const REVIEW_SUFFIX: &str = "__review";

/// What the review collection's description names as its model, and its dimension.
const REVIEW_MODEL: &str = "lookalike-review-decisions";
const REVIEW_DIM: usize = 2;

/// The decisions read from the review collection, with the keys of each group's rows.
pub(super) struct ReviewRows {
    collection: Milvus,
    by_group: HashMap<Hash, (Vec<i64>, DecisionRecord)>,
}

impl ReviewRows {
    /// Opens (or makes) the review collection beside `main` and reads every decision; where
    /// a killed write left a group two rows, the newest counts and the others are deleted.
    fn load(main: &Milvus) -> Result<ReviewRows> {
        let collection = main.sibling(&format!("{}{REVIEW_SUFFIX}", main.url().collection));
        collection.open_or_create_as(REVIEW_MODEL, "-", REVIEW_DIM, json!({}))?;
        collection.barrier(REVIEW_DIM)?;
        let mut rows: Vec<(i64, Hash, DecisionRecord)> = collection
            .list(
                "",
                &["group", "verdict", "contents", "keeper", "decided_at"],
            )?
            .iter()
            .filter_map(|row| {
                let (group, record) = record_of(row)?;
                Some((milvus::primary_key(row)?, group, record))
            })
            .collect();
        rows.sort_by_key(|r| r.0);
        let mut by_group: HashMap<Hash, (Vec<i64>, DecisionRecord)> = HashMap::new();
        for (pk, group, record) in rows {
            let entry = by_group
                .entry(group)
                .or_insert_with(|| (Vec::new(), record.clone()));
            entry.0.push(pk);
            entry.1 = record;
        }
        let stale: Vec<i64> = by_group
            .values_mut()
            .flat_map(|(pks, _)| {
                let newest = pks.pop();
                std::mem::replace(pks, newest.into_iter().collect())
            })
            .collect();
        collection.delete(&stale)?;
        Ok(ReviewRows {
            collection,
            by_group,
        })
    }
}

/// A decision's row (the keeper's path written as the rows of files write theirs).
fn row_of(group: &Hash, record: &DecisionRecord) -> Value {
    let mut vector = vec![0.0f32; REVIEW_DIM];
    vector[0] = 1.0;
    json!({
        "vector": vector,
        // Listings page by bucket: the group id's first two bytes.
        "bucket": u16::from_be_bytes([group[0], group[1]]),
        "group": hex(group),
        "verdict": record.verdict,
        "contents": record.contents.iter().map(hex).collect::<Vec<_>>().join(","),
        "keeper": record.keeper.as_deref().map(|k| path_text(&path_from_bytes(k))),
        "decided_at": record.decided_at.to_string(),
    })
}

/// The decision a row holds, `None` for a row that is not one.
fn record_of(row: &Value) -> Option<(Hash, DecisionRecord)> {
    let text = |name: &str| row.get(name).and_then(Value::as_str);
    let group = unhex(text("group")?)?;
    let contents = match text("contents")? {
        "" => Vec::new(),
        list => list.split(',').map(unhex).collect::<Option<Vec<_>>>()?,
    };
    let keeper = match row.get("keeper") {
        Some(Value::String(k)) => Some(path_bytes(&path_of_text(k))),
        _ => None,
    };
    Some((
        group,
        DecisionRecord {
            verdict: text("verdict")?.to_string(),
            contents,
            keeper,
            decided_at: text("decided_at")?.parse().ok()?,
        },
    ))
}

impl ClusterIndex {
    /// The review decisions, read from Milvus on first use.
    fn with_review<T>(&self, work: impl FnOnce(&mut ReviewRows) -> Result<T>) -> Result<T> {
        let mut review = self.review.lock().unwrap_or_else(|e| e.into_inner());
        if review.is_none() {
            *review = Some(ReviewRows::load(&self.milvus)?);
        }
        work(review.as_mut().expect("loaded above"))
    }
}

impl DecisionBook for ClusterIndex {
    fn put_decision(&self, group: &Hash, record: &DecisionRecord) -> Result<()> {
        self.with_review(|review| {
            let pk = review.collection.insert(&[row_of(group, record)])?;
            let older = review
                .by_group
                .insert(*group, (pk, record.clone()))
                .map(|(pks, _)| pks)
                .unwrap_or_default();
            review.collection.delete(&older)
        })
    }

    fn remove_decision(&self, group: &Hash) -> Result<()> {
        self.with_review(|review| match review.by_group.remove(group) {
            Some((pks, _)) => review.collection.delete(&pks),
            None => Ok(()),
        })
    }

    fn decisions(&self) -> Result<Vec<(Hash, DecisionRecord)>> {
        self.with_review(|review| {
            let mut all: Vec<(Hash, DecisionRecord)> = review
                .by_group
                .iter()
                .map(|(group, (_, record))| (*group, record.clone()))
                .collect();
            all.sort_by_key(|d| d.0);
            Ok(all)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_survives_its_row() {
        let record = DecisionRecord {
            verdict: "keeper".into(),
            contents: vec![[1; 32], [2; 32]],
            keeper: Some(b"/photos/\xffodd name.jpg".to_vec()),
            decided_at: 1_796_616_250,
        };
        let mut row = row_of(&[7; 32], &record);
        // Milvus gives the row back with its key, as the listing asks.
        row["id"] = json!("449");
        assert_eq!(record_of(&row), Some(([7; 32], record.clone())));
        let without_keeper = DecisionRecord {
            keeper: None,
            contents: Vec::new(),
            ..record
        };
        let row = row_of(&[8; 32], &without_keeper);
        assert_eq!(record_of(&row), Some(([8; 32], without_keeper)));
    }

    #[test]
    fn rows_that_are_not_decisions_are_passed_over() {
        assert_eq!(record_of(&json!({"bucket": -1, "barrier": "x"})), None);
        let mut row = row_of(
            &[7; 32],
            &DecisionRecord {
                verdict: "accepted".into(),
                contents: vec![[1; 32]],
                keeper: None,
                decided_at: 5,
            },
        );
        row["contents"] = json!("not hex");
        assert_eq!(record_of(&row), None);
    }
}
