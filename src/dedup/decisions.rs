//! Review decisions on duplicate groups: "not duplicates", a chosen keeper, "accepted"; kept
//! in the index (the folder's sled store, or a collection beside a Milvus index: a
//! [`DecisionBook`]) and applied to the groups `find_duplicates` returns, by the CLI and by
//! `serve` alike.
//!
//! A group is named by its contents (the BLAKE3 of its sorted content hashes), so a decision
//! survives re-indexing, renames and moves of its files. How a decision applies to a group
//! found later:
//! - **not duplicates**: the group is hidden while its contents are all among the decided
//!   ones (a new copy joining it is news: the group shows again);
//! - **keeper**: the chosen file is the keeper while it is in the group and the decided
//!   contents are all still there;
//! - **accepted**: the keeper as above, and the group counts as reviewed (actions from the
//!   review page take accepted groups only) only while its contents are exactly the decided
//!   ones: a group that gained a member is shown for review again.

use super::{Group, KeptBecause, PictureRule, Tier};
use crate::error::{Error, Result};
use crate::index::store::{path_bytes, path_from_bytes, DecisionBook, DecisionRecord, Hash, Store};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a reviewer said about a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Different pictures: hide the group.
    NotDuplicates,
    /// This file is the keeper (not yet accepted).
    Keeper,
    /// The group is reviewed: act on its copies, keeping the keeper.
    Accepted,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::NotDuplicates, Verdict::Keeper, Verdict::Accepted];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::NotDuplicates => "not-duplicates",
            Verdict::Keeper => "keeper",
            Verdict::Accepted => "accepted",
        }
    }

    pub fn parse(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// A decision as it applies to a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub keeper: Option<PathBuf>,
    /// Seconds since the Unix epoch.
    pub decided_at: u64,
}

/// A group's name: the BLAKE3 of its sorted, distinct content hashes.
pub type GroupId = Hash;

/// The id as 64 lowercase hex digits.
pub fn id_text(id: &GroupId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id written by [`id_text`], or `None`.
pub fn parse_id(text: &str) -> Option<GroupId> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut id = [0u8; 32];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}

/// A group with its name and the decision that applies to it.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub id: GroupId,
    /// The group's contents, sorted and distinct.
    pub contents: Vec<Hash>,
    pub group: Group,
    pub decision: Option<Decision>,
}

impl Reviewed {
    /// Hidden by a "not duplicates" decision.
    pub fn hidden(&self) -> bool {
        self.decision
            .as_ref()
            .is_some_and(|d| d.verdict == Verdict::NotDuplicates)
    }

    /// Accepted as it is now.
    pub fn accepted(&self) -> bool {
        self.decision
            .as_ref()
            .is_some_and(|d| d.verdict == Verdict::Accepted)
    }
}

/// Names each group by its contents (read from the index), without applying decisions.
pub fn name_groups(store: &Store, groups: Vec<Group>) -> Result<Vec<Reviewed>> {
    name_groups_by(groups, |id| store.hash_of_id(id))
}

/// [`name_groups`] with the contents' hashes from `hash_of` (by content id).
pub fn name_groups_by(
    groups: Vec<Group>,
    hash_of: impl Fn(u64) -> Result<Option<Hash>>,
) -> Result<Vec<Reviewed>> {
    let mut hashes: HashMap<u64, Hash> = HashMap::new();
    groups
        .into_iter()
        .map(|group| {
            let mut contents = Vec::with_capacity(group.members.len());
            for m in &group.members {
                let hash = match hashes.get(&m.content) {
                    Some(h) => *h,
                    None => {
                        let h = hash_of(m.content)?.ok_or_else(|| {
                            Error::InvalidArgument(format!(
                                "content id {} is no longer in the index",
                                m.content
                            ))
                        })?;
                        hashes.insert(m.content, h);
                        h
                    }
                };
                contents.push(hash);
            }
            contents.sort_unstable();
            contents.dedup();
            Ok(Reviewed {
                id: group_id(&contents),
                contents,
                group,
                decision: None,
            })
        })
        .collect()
}

fn group_id(contents: &[Hash]) -> GroupId {
    let mut hasher = blake3::Hasher::new();
    for c in contents {
        hasher.update(c);
    }
    *hasher.finalize().as_bytes()
}

/// The decisions kept in an index, ready to apply.
pub struct Decisions {
    by_id: HashMap<GroupId, DecisionRecord>,
    /// For "not duplicates": the decisions naming each content.
    by_content: HashMap<Hash, Vec<GroupId>>,
}

impl Decisions {
    /// Every decision the index holds.
    pub fn load(book: &dyn DecisionBook) -> Result<Decisions> {
        let mut by_content: HashMap<Hash, Vec<GroupId>> = HashMap::new();
        let mut by_id = HashMap::new();
        for (id, record) in book.decisions()? {
            for c in &record.contents {
                by_content.entry(*c).or_default().push(id);
            }
            by_id.insert(id, record);
        }
        Ok(Decisions { by_id, by_content })
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The decision that applies to `reviewed` now (see the module header), with its
    /// keeper made the group's keeper. Returns the group unchanged when none applies.
    pub fn apply(&self, mut reviewed: Reviewed) -> Reviewed {
        reviewed.decision = None;
        let subset_of = |record: &DecisionRecord| {
            reviewed
                .contents
                .iter()
                .all(|c| record.contents.binary_search(c).is_ok())
        };
        // Hidden when a "not duplicates" decision covers every content of the group.
        let first = reviewed.contents.first();
        let hiding = first
            .and_then(|c| self.by_content.get(c))
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
            .filter(|r| r.verdict == Verdict::NotDuplicates.name())
            .find(|r| subset_of(r));
        if let Some(record) = hiding {
            reviewed.decision = Some(decision_of(record, Verdict::NotDuplicates));
            return reviewed;
        }
        let Some(record) = self.by_id.get(&reviewed.id).or_else(|| {
            // A keeper chosen for a group that has since gained members still holds.
            first
                .and_then(|c| self.by_content.get(c))
                .into_iter()
                .flatten()
                .filter_map(|id| self.by_id.get(id))
                .find(|r| {
                    r.verdict != Verdict::NotDuplicates.name()
                        && r.contents
                            .iter()
                            .all(|c| reviewed.contents.binary_search(c).is_ok())
                })
        }) else {
            return reviewed;
        };
        let exact = group_id(&record.contents) == reviewed.id;
        let verdict = match Verdict::parse(&record.verdict) {
            Some(Verdict::Accepted) if exact => Verdict::Accepted,
            Some(Verdict::Accepted | Verdict::Keeper) => Verdict::Keeper,
            _ => return reviewed,
        };
        let keeper = record.keeper.as_deref().map(path_from_bytes);
        if let Some(k) = &keeper {
            if !set_keeper(&mut reviewed.group, k) {
                // The chosen keeper left the group: the decision no longer says anything.
                return reviewed;
            }
        }
        reviewed.decision = Some(Decision {
            verdict,
            keeper,
            decided_at: record.decided_at,
        });
        reviewed
    }
}

fn decision_of(record: &DecisionRecord, verdict: Verdict) -> Decision {
    Decision {
        verdict,
        keeper: record.keeper.as_deref().map(path_from_bytes),
        decided_at: record.decided_at,
    }
}

/// Names the groups and applies the index's decisions; groups marked "not duplicates" are
/// left out unless `include_hidden`.
pub fn review(store: &Store, groups: Vec<Group>, include_hidden: bool) -> Result<Vec<Reviewed>> {
    apply(store, name_groups(store, groups)?, include_hidden)
}

/// Applies the decisions of `book` to named groups; groups marked "not duplicates" are left
/// out unless `include_hidden`.
pub fn apply(
    book: &dyn DecisionBook,
    named: Vec<Reviewed>,
    include_hidden: bool,
) -> Result<Vec<Reviewed>> {
    let decisions = Decisions::load(book)?;
    Ok(named
        .into_iter()
        .map(|r| decisions.apply(r))
        .filter(|r| include_hidden || !r.hidden())
        .collect())
}

/// Records `verdict` on a group (with `keeper`, which must be one of its files, for
/// `keeper` and `accepted`; `accepted` without one keeps the group's keeper).
pub fn decide(
    book: &dyn DecisionBook,
    reviewed: &Reviewed,
    verdict: Verdict,
    keeper: Option<&Path>,
) -> Result<()> {
    let keeper = match (verdict, keeper) {
        (Verdict::NotDuplicates, _) => None,
        (_, Some(k)) => {
            if !reviewed.group.members.iter().any(|m| m.path == k) {
                return Err(Error::InvalidArgument(format!(
                    "{} is not a file of group {}",
                    k.display(),
                    id_text(&reviewed.id)
                )));
            }
            Some(k.to_path_buf())
        }
        (Verdict::Keeper, None) => {
            return Err(Error::InvalidArgument(
                "choosing a keeper needs the keeper's path".into(),
            ))
        }
        (Verdict::Accepted, None) => Some(reviewed.group.members[0].path.clone()),
    };
    let record = DecisionRecord {
        verdict: verdict.name().to_string(),
        contents: reviewed.contents.clone(),
        keeper: keeper.as_deref().map(path_bytes),
        decided_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    book.put_decision(&reviewed.id, &record)
}

/// Forgets the decision recorded on a group.
pub fn forget(book: &dyn DecisionBook, id: &GroupId) -> Result<()> {
    book.remove_decision(id)
}

/// Makes the member at `keeper` the group's keeper (first), re-tiering the others against
/// it; `false` if no member has that path. The tiers stay those found against the old
/// keeper, exchanged where the two keepers' relations swap: the old keeper (and its exact
/// copies and shot) take the new keeper's tier, the new keeper's exact copies become exact
/// and its shot same-shot. Similarities and scores stay those to the old keeper.
pub fn set_keeper(group: &mut Group, keeper: &Path) -> bool {
    let Some(i) = group.members.iter().position(|m| m.path == keeper) else {
        return false;
    };
    if i == 0 {
        return true;
    }
    let (old_content, new_content) = (group.members[0].content, group.members[i].content);
    let new_tier = group.members[i].tier;
    let new_shot = group.members[i].shot;
    for m in group.members.iter_mut() {
        let old_tier = m.tier;
        m.tier = if m.content == new_content {
            Tier::Exact
        } else if new_shot.is_some() && m.shot == new_shot {
            Tier::SameShot
        } else if m.content == old_content || (m.shot == Some(0) && new_shot != Some(0)) {
            new_tier
        } else {
            old_tier
        };
        m.keeper = false;
    }
    let member = group.members.remove(i);
    group.members.insert(0, member);
    group.members[0].keeper = true;
    group.kept_because = KeptBecause {
        picture: Some(PictureRule::Chosen),
        file: None,
    };
    // Shots are numbered by the position of their first file, the keeper's being 0.
    let mut renumber: HashMap<usize, usize> = HashMap::new();
    for (pos, m) in group.members.iter_mut().enumerate() {
        if let Some(s) = m.shot {
            let next = *renumber.entry(s).or_insert(pos);
            m.shot = Some(next);
        }
    }
    group.tier = group.loosest_tier().unwrap_or(Tier::Exact);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::Member;
    use crate::ingest::format::Family;

    fn member(path: &str, content: u64, tier: Tier, shot: Option<usize>) -> Member {
        Member {
            path: PathBuf::from(path),
            similarity: 1.0,
            score: 1.0,
            tier,
            keeper: false,
            reference: false,
            width: 10,
            height: 10,
            size: 100,
            mtime_ns: 0,
            agreement: None,
            verifier: None,
            format: Family::Jpeg,
            shot,
            content,
        }
    }

    fn group(members: Vec<Member>) -> Group {
        let mut g = Group {
            tier: Tier::Exact,
            members,
            kept_because: Default::default(),
        };
        g.members[0].keeper = true;
        g.tier = g.loosest_tier().unwrap();
        g
    }

    fn decisions(records: Vec<DecisionRecord>) -> Decisions {
        let mut by_content: HashMap<Hash, Vec<GroupId>> = HashMap::new();
        let mut by_id = HashMap::new();
        for r in records {
            let id = group_id(&r.contents);
            for c in &r.contents {
                by_content.entry(*c).or_default().push(id);
            }
            by_id.insert(id, r);
        }
        Decisions { by_id, by_content }
    }

    fn record(verdict: Verdict, contents: &[u8], keeper: Option<&str>) -> DecisionRecord {
        DecisionRecord {
            verdict: verdict.name().into(),
            contents: contents.iter().map(|&c| [c; 32]).collect(),
            keeper: keeper.map(|k| k.as_bytes().to_vec()),
            decided_at: 0,
        }
    }

    /// A group of files `/N.jpg` with contents `[N; 32]`, the first the keeper.
    fn reviewed(contents: &[u8]) -> Reviewed {
        let g = group(
            contents
                .iter()
                .map(|&c| member(&format!("/{c}.jpg"), c as u64, Tier::Copy, None))
                .collect(),
        );
        let hashes: Vec<Hash> = contents.iter().map(|&c| [c; 32]).collect();
        Reviewed {
            id: group_id(&hashes),
            contents: hashes,
            group: g,
            decision: None,
        }
    }

    #[test]
    fn not_duplicates_hides_a_group_until_a_new_content_joins_it() {
        let d = decisions(vec![record(Verdict::NotDuplicates, &[1, 2, 3], None)]);
        assert!(d.apply(reviewed(&[1, 2, 3])).hidden());
        // A part of the decided group (one file left) stays hidden.
        assert!(d.apply(reviewed(&[1, 3])).hidden());
        // A new content is news.
        assert!(!d.apply(reviewed(&[1, 2, 4])).hidden());
        assert!(d.apply(reviewed(&[5, 6])).decision.is_none());
    }

    #[test]
    fn acceptance_holds_for_exactly_the_decided_group_and_the_keeper_longer() {
        let d = decisions(vec![record(Verdict::Accepted, &[1, 2], Some("/2.jpg"))]);
        let same = d.apply(reviewed(&[1, 2]));
        assert!(same.accepted());
        assert_eq!(same.group.members[0].path, Path::new("/2.jpg"));
        assert!(same.group.members[0].keeper && !same.group.members[1].keeper);
        // A new member: the keeper holds, the acceptance does not (review it again).
        let grown = d.apply(reviewed(&[1, 2, 3]));
        assert!(!grown.accepted());
        assert_eq!(grown.decision.as_ref().unwrap().verdict, Verdict::Keeper);
        assert_eq!(grown.group.members[0].path, Path::new("/2.jpg"));
        // The keeper's content left the group: nothing applies.
        let d = decisions(vec![record(Verdict::Keeper, &[1], Some("/1.jpg"))]);
        let other = d.apply(reviewed(&[1, 2]));
        assert_eq!(other.group.members[0].path, Path::new("/1.jpg"));
        let d = decisions(vec![record(Verdict::Keeper, &[1, 9], Some("/9.jpg"))]);
        assert!(d.apply(reviewed(&[1, 2])).decision.is_none());
    }

    #[test]
    fn ids_read_back_and_refuse_other_text() {
        let id = group_id(&[[7u8; 32], [9u8; 32]]);
        assert_eq!(parse_id(&id_text(&id)), Some(id));
        assert_eq!(parse_id("xyz"), None);
        assert_eq!(parse_id(&"g".repeat(64)), None);
        assert_eq!(parse_id(&"é".repeat(32)), None);
    }

    #[test]
    fn a_new_keeper_swaps_tiers_with_the_old_one() {
        let mut g = group(vec![
            member("/a.jpg", 1, Tier::Exact, None),
            member("/a-copy.jpg", 1, Tier::Exact, None),
            member("/b.jpg", 2, Tier::NearExact, None),
            member("/c.jpg", 3, Tier::Copy, None),
        ]);
        assert!(set_keeper(&mut g, Path::new("/b.jpg")));
        let tiers: Vec<(&str, Tier, bool)> = g
            .members
            .iter()
            .map(|m| (m.path.to_str().unwrap(), m.tier, m.keeper))
            .collect();
        assert_eq!(
            tiers,
            [
                ("/b.jpg", Tier::Exact, true),
                ("/a.jpg", Tier::NearExact, false),
                ("/a-copy.jpg", Tier::NearExact, false),
                ("/c.jpg", Tier::Copy, false),
            ]
        );
        assert_eq!(g.tier, Tier::Copy);
        assert!(!set_keeper(&mut g, Path::new("/elsewhere.jpg")));
    }

    #[test]
    fn a_new_keeper_brings_its_shot_and_leaves_the_old_shot_together() {
        let mut g = group(vec![
            member("/a.cr2", 1, Tier::Exact, Some(0)),
            member("/a.jpg", 2, Tier::SameShot, Some(0)),
            member("/b.cr2", 3, Tier::Copy, Some(2)),
            member("/b.jpg", 4, Tier::Copy, Some(2)),
        ]);
        assert!(set_keeper(&mut g, Path::new("/b.jpg")));
        let got: Vec<(&str, Tier, Option<usize>)> = g
            .members
            .iter()
            .map(|m| (m.path.to_str().unwrap(), m.tier, m.shot))
            .collect();
        assert_eq!(
            got,
            [
                ("/b.jpg", Tier::Exact, Some(0)),
                ("/a.cr2", Tier::Copy, Some(1)),
                ("/a.jpg", Tier::Copy, Some(1)),
                ("/b.cr2", Tier::SameShot, Some(0)),
            ]
        );
    }
}
