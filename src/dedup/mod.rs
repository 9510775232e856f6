//! Duplicates: exact copies (same content hash), near-exact copies (the same picture
//! resized or recompressed) and similar images (edited copies), and acting on them.
//!
//! The flow: `contents` (the index's contents, files in keeper order) → `pairs` (a
//! range search over the graph's links in `vectors.flat`, scored by normalised similarity and
//! the pixel check) → `content_check` (the pictures decoded again; `features` and
//! [`matching`]: corners matched under one affine map, patches compared; capture times) →
//! `groups` (keepers, tiers) → `shots` (the files of one shot in several formats: the
//! keeper by format preference, the same-shot tier) → [`report`] (HTML) and [`actions`] (plan, journal, undo).
//!
//! Invariants: two different contents are grouped only when their pictures agree, not just
//! their descriptors (unless `content_check` is off); groups never chain (every member is
//! similar to its keeper, or to a file of the keeper's shot); files under a reference folder
//! are always keepers and never acted on; the files of one shot are acted on together or
//! not at all; an action never touches a file whose size or mtime changed since it was indexed, and
//! each change is journaled before the next.
//!
//! Entry points: [`find_duplicates`], [`restrict_to_tiers`], [`copy_of`] with a [`Probe`]
//! (the same decision for one picture that need not be indexed: `query --copies`),
//! [`actions::plan`], [`actions::execute`], [`actions::undo`], [`report::html`].

pub mod actions;
mod content_check;
mod contents;
pub mod decisions;
mod features;
mod groups;
pub mod json;
pub mod matching;
pub mod own_verifier;
mod pairs;
mod probe;
pub mod report;
mod shots;
pub mod verifier;

pub use probe::{copy_of, CopyEvidence, Probe};

use crate::dedup::matching::Agreement;
use crate::error::Result;
use crate::index::cluster::ClusterIndex;
use crate::index::store::Hash;
use crate::index::Index;
pub use crate::ingest::format::{Family, DEFAULT_FORMAT_PREFERENCE};
use crate::model::background::Background;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Default near-duplicate threshold for models without a background set (cosine
/// similarity): the embedded encoder's copy-head cosine threshold at precision 0.99 in
/// `lookalike eval copies` (0.9222, rounded up; see docs/dedup.md, "Normalised similarity and the threshold").
pub const DEFAULT_THRESHOLD: f32 = 0.93;

/// Default threshold of the normalised similarity (see [`crate::model::background`]), used when the
/// model carries a background set: the embedded encoder's copy-head threshold at precision
/// 0.99 in `lookalike eval copies` (method `encoder-norm`, 0.1446; 0.1451 on seed 2), rounded
/// up.
pub const DEFAULT_NORMALISED_THRESHOLD: f32 = 0.15;

/// Default threshold with the pixel check (normalised similarity plus the thumbnails' bonus,
/// see [`crate::ingest::thumbnail::verified`]): the embedded encoder's copy-head threshold at
/// precision 0.99 in `lookalike eval copies` (method `encoder-verified`, 0.1928; 0.1929 on
/// seed 2), rounded up.
pub const DEFAULT_VERIFIED_THRESHOLD: f32 = 0.20;

/// With normalised scoring, a pair must also reach this cosine similarity: photos unlike
/// every background photo have low levels, and would otherwise pass on a low cosine (99.6 %
/// of the true pairs `dedup` groups on the copy-detection set-up are above it; docs/studies/dedup.md).
pub const NORMALISED_MIN_COSINE: f32 = 0.70;

/// With the pixel check, an image's own graph links down to this cosine are candidates too,
/// and count only when the thumbnails vouch for them: the copies the encoder loses most (a
/// strong blur: 18 of 38 blurred copies fall below 0.70, 6 of all 646 copies below 0.50;
/// docs/studies/quality.md, "The pixel check"). They are not followed further (the range search runs
/// above [`NORMALISED_MIN_COSINE`]).
pub const VERIFIED_MIN_COSINE: f32 = 0.50;

/// Default near-exact limit: a copy whose small RGB thumbnail differs from its keeper's by
/// at most this many levels on average, and nowhere by much more (see `groups::NEAR_EXACT_PEAK`),
/// and whose aspect ratio is the same, is the same picture resized or recompressed (see
/// docs/dedup.md, "Tiers").
pub const DEFAULT_NEAR_EXACT: f32 = 4.0;

/// How close a member is to its keeper. Ordered from closest to loosest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The same bytes.
    Exact,
    /// Another file of the keeper's shot: the camera's JPEG beside its RAW, a HEIC's JPEG
    /// export (another format, the same name in the same folder or the same capture time).
    /// Never acted on unless asked for by name (`--tier same-shot`).
    SameShot,
    /// The same picture resized or recompressed: same aspect ratio, thumbnails within the
    /// near-exact limit.
    NearExact,
    /// An edited copy (cropped, rotated, recoloured, captioned...): the score reaches the
    /// threshold and the pair verifier finds one picture.
    Copy,
    /// Another shot of the same scene or subject (a burst, a retake, another page of one
    /// template): similar, but the verifier finds two pictures. Listed for review, never
    /// acted on unless asked for by name (`--tier similar-shot`).
    SimilarShot,
}

impl Tier {
    pub const ALL: [Tier; 5] = [
        Tier::Exact,
        Tier::SameShot,
        Tier::NearExact,
        Tier::Copy,
        Tier::SimilarShot,
    ];

    /// The tier of a name as [`Tier::name`] writes it.
    pub fn parse(name: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Exact => "exact",
            Tier::SameShot => "same-shot",
            Tier::NearExact => "near-exact",
            Tier::Copy => "copy",
            Tier::SimilarShot => "similar-shot",
        }
    }

    /// The name used in JSON and the HTML report (`near_exact`).
    pub fn key(self) -> &'static str {
        match self {
            Tier::Exact => "exact",
            Tier::SameShot => "same_shot",
            Tier::NearExact => "near_exact",
            Tier::Copy => "copy",
            Tier::SimilarShot => "similar_shot",
        }
    }

    /// Whether actions leave the tier's files alone unless it is named (`--tier`): the
    /// other files of a kept shot, and other shots (not duplicates at all).
    pub fn only_when_named(self) -> bool {
        matches!(self, Tier::SameShot | Tier::SimilarShot)
    }

    /// Whether the tier's files duplicate their keeper (another file of the keeper's shot,
    /// or another shot of the scene, does not).
    pub fn duplicates(self) -> bool {
        !matches!(self, Tier::SameShot | Tier::SimilarShot)
    }
}

/// The groups with only the members of `tiers` (see [`restrict_group`]).
pub fn restrict_to_tiers(groups: Vec<Group>, tiers: &[Tier]) -> Vec<Group> {
    groups
        .into_iter()
        .filter_map(|g| restrict_group(g, tiers))
        .collect()
}

/// The group with only the members of `tiers` (and its keeper); `None` when no copy is left
/// to act on. The group's tier is recomputed. The files of one shot stay together: a shot
/// loses all its files when one of them is left out.
pub fn restrict_group(mut g: Group, tiers: &[Tier]) -> Option<Group> {
    let left_out: Vec<usize> = g
        .members
        .iter()
        .filter(|m| !m.keeper && !tiers.contains(&m.tier))
        .filter_map(|m| m.shot)
        .collect();
    g.members.retain(|m| {
        m.keeper || (tiers.contains(&m.tier) && !m.shot.is_some_and(|s| left_out.contains(&s)))
    });
    g.tier = g.loosest_tier()?;
    g.members.iter().skip(1).any(|m| !m.reference).then_some(g)
}

/// Files that duplicate a keeper, and their bytes (another file of the keeper's shot, or
/// another shot, is not a duplicate).
pub fn totals(groups: &[Group]) -> (usize, u64) {
    let copies = groups
        .iter()
        .flat_map(|g| g.members.iter().skip(1))
        .filter(|m| m.tier.duplicates());
    (copies.clone().count(), copies.map(|m| m.size).sum())
}

/// Which image of a group is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    /// Highest resolution, then largest file, then oldest.
    #[default]
    Best,
    /// Largest file, then highest resolution, then oldest.
    Largest,
    /// Oldest modification time.
    Oldest,
    /// Newest modification time.
    Newest,
    /// Shortest path (fewest bytes), then alphabetical.
    ShortestPath,
}

impl Keep {
    pub const NAMES: [&'static str; 5] = ["best", "largest", "oldest", "newest", "shortest-path"];

    pub fn parse(name: &str) -> Option<Keep> {
        Some(match name {
            "best" => Keep::Best,
            "largest" => Keep::Largest,
            "oldest" => Keep::Oldest,
            "newest" => Keep::Newest,
            "shortest-path" => Keep::ShortestPath,
            _ => return None,
        })
    }
}

/// Which rule chose the keeper among files with the same bytes ([`contents`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileRule {
    /// The only file under a reference folder.
    Reference,
    /// The oldest modification time (the others 2 s or more later).
    Oldest,
    /// The newest modification time (`--keep newest`).
    Newest,
    /// The other files' names say they are copies (`copy`, `backup`, `(1)`, `-1`).
    Name,
    /// The shallowest path (fewest folders).
    ShallowestPath,
    /// The shortest path (fewest bytes; `--keep shortest-path`).
    ShortestPath,
    /// Nothing told them apart: the first path in byte order.
    PathOrder,
}

impl FileRule {
    /// What the rule says, for people.
    pub fn text(self) -> &'static str {
        match self {
            FileRule::Reference => "under a reference folder",
            FileRule::Oldest => "the oldest file",
            FileRule::Newest => "the newest file",
            FileRule::Name => "the other names say copy",
            FileRule::ShallowestPath => "the shallowest path",
            FileRule::ShortestPath => "the shortest path",
            FileRule::PathOrder => "the first path in order",
        }
    }
}

/// Which rule chose the keeper's picture among the different pictures of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PictureRule {
    /// Under a reference folder.
    Reference,
    /// More pixels (`--keep best`).
    Resolution,
    /// A larger file (`--keep largest`, or `best` between pictures of one size).
    FileSize,
    /// An older file (`--keep oldest`, or the tie-break of `best` and `largest`).
    Oldest,
    /// A newer file (`--keep newest`).
    Newest,
    /// A shorter path (`--keep shortest-path`).
    ShortestPath,
    /// The preferred format of one shot (`--prefer`).
    Format,
    /// Chosen in a review.
    Chosen,
    /// Nothing told them apart: the first path in byte order.
    PathOrder,
}

impl PictureRule {
    /// What the rule says, for people.
    pub fn text(self) -> &'static str {
        match self {
            PictureRule::Reference => "under a reference folder",
            PictureRule::Resolution => "the highest resolution",
            PictureRule::FileSize => "the largest file",
            PictureRule::Oldest => "the oldest file",
            PictureRule::Newest => "the newest file",
            PictureRule::ShortestPath => "the shortest path",
            PictureRule::Format => "the preferred format",
            PictureRule::Chosen => "chosen in a review",
            PictureRule::PathOrder => "the first path in order",
        }
    }
}

/// Why the keeper of a group is the keeper: the rule that chose its picture among the
/// group's different pictures (none when all are the same bytes) and the rule that chose
/// the file among its picture's exact copies (none when it has one file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KeptBecause {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<PictureRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileRule>,
}

impl KeptBecause {
    /// One line for people ("the highest resolution; of its exact copies, the oldest file").
    pub fn text(&self) -> String {
        match (self.picture, self.file) {
            (Some(p), Some(f)) => format!("{}; of its exact copies, {}", p.text(), f.text()),
            (Some(p), None) => p.text().to_string(),
            (None, Some(f)) => f.text().to_string(),
            (None, None) => String::new(),
        }
    }
}

/// How to group.
#[derive(Debug, Clone)]
pub struct DedupOptions {
    /// Pairs at or above it are similar: a normalised similarity (plus the pixel check's
    /// bonus with `pixel_check`) with a `background`, a cosine similarity without.
    pub threshold: f32,
    /// The model's background set: pairs are scored by normalised similarity.
    pub background: Option<Arc<Background>>,
    /// With a background set, add the pixel check's bonus ([`crate::ingest::thumbnail`]) to pairs
    /// whose thumbnails agree.
    pub pixel_check: bool,
    /// Near-exact limit: mean absolute difference of the thumbnails, in levels of the RGB thumbnails.
    pub near_exact: f32,
    pub keep: Keep,
    /// Files under these folders are always keepers and never acted on.
    pub references: Vec<PathBuf>,
    /// Which file of one shot is kept, most preferred first (families not listed come
    /// last).
    pub prefer: Vec<Family>,
    /// Group two different contents only when their local features agree on one geometric
    /// map ([`crate::dedup::matching`]) and the pair verifier finds one picture: the same
    /// picture, not merely the same kind of picture.
    pub content_check: bool,
    /// The pair verifier of the content check (`None`: the built-in one).
    pub verifier: Option<Arc<verifier::Verifier>>,
}

impl DedupOptions {
    /// The pair verifier the content check asks.
    pub fn verifier(&self) -> &verifier::Verifier {
        self.verifier
            .as_deref()
            .unwrap_or_else(|| verifier::Verifier::built_in())
    }
}

impl DedupOptions {
    /// `dedup`'s defaults for an index scored with `background` (normalised similarity
    /// and its verified threshold) or without one (cosine and its threshold).
    pub fn scored_with(background: Option<Arc<Background>>) -> DedupOptions {
        DedupOptions {
            threshold: match background {
                Some(_) => DEFAULT_VERIFIED_THRESHOLD,
                None => DEFAULT_THRESHOLD,
            },
            background,
            ..DedupOptions::default()
        }
    }

    /// What the threshold applies to: `verified` (normalised similarity plus the pixel
    /// check), `normalised` (a background set without the pixel check) or `cosine`.
    pub fn scoring(&self) -> &'static str {
        match (&self.background, self.pixel_check) {
            (Some(_), true) => "verified",
            (Some(_), false) => "normalised",
            (None, _) => "cosine",
        }
    }
}

impl Default for DedupOptions {
    fn default() -> Self {
        DedupOptions {
            threshold: DEFAULT_THRESHOLD,
            background: None,
            pixel_check: true,
            near_exact: DEFAULT_NEAR_EXACT,
            keep: Keep::Best,
            references: Vec::new(),
            prefer: DEFAULT_FORMAT_PREFERENCE.to_vec(),
            content_check: true,
            verifier: None,
        }
    }
}

/// One file of a group.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub path: PathBuf,
    /// Cosine similarity to the keeper (1 for the keeper and its exact copies).
    pub similarity: f32,
    /// What the threshold was compared with: the normalised similarity to the keeper with a
    /// background set, else the cosine similarity.
    pub score: f32,
    /// How close it is to the keeper (the keeper itself: `exact`).
    pub tier: Tier,
    pub keeper: bool,
    /// Under a reference folder: never acted on.
    pub reference: bool,
    pub width: u32,
    pub height: u32,
    pub size: u64,
    /// Modification time recorded when indexed (ns since the epoch).
    pub mtime_ns: i64,
    /// How the member's local features agree with the keeper's (with the content check, for
    /// members of a different content than the keeper).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement: Option<Agreement>,
    /// What the pair verifier says of the member and its keeper (with the content check,
    /// for members of a different content than the keeper): why it is in its tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifier: Option<verifier::Verdict>,
    /// The kind of file (by its name): raw, heic, avif, jpeg or other.
    pub format: Family,
    /// The files of one shot in several formats share this number (the position in the group
    /// of the shot's first file; the keeper's shot is 0). Acted on together or not at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shot: Option<usize>,
    /// The index's id of the member's content (files of one content share it).
    #[serde(skip)]
    pub content: u64,
}

/// A duplicate group; `members[0]` is the keeper.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The loosest tier among the members.
    pub tier: Tier,
    pub members: Vec<Member>,
    /// Which rules chose the keeper.
    pub kept_because: KeptBecause,
}

impl Group {
    /// The loosest tier among the copies (`None` when the keeper is alone).
    pub fn loosest_tier(&self) -> Option<Tier> {
        self.members.iter().skip(1).map(|m| m.tier).max()
    }
}

/// Finds duplicate groups. Files deleted from disk since they were indexed are left out.
pub fn find_duplicates(index: &mut Index, opts: &DedupOptions) -> Result<Vec<Group>> {
    Ok(candidates(index, opts)?.into_groups(opts))
}

/// The first stage of [`find_duplicates`], the only one that reads the index: the contents
/// and their scored pairs. The rest (the content check, which decodes pictures, and the
/// grouping) needs the files only, so a server can let go of the index meanwhile.
pub fn candidates(index: &mut Index, opts: &DedupOptions) -> Result<Candidates> {
    let contents = contents::load(index, opts)?;
    let scored = pairs::scored_pairs(index, &contents, opts)?;
    Ok(Candidates { contents, scored })
}

/// [`candidates`] from an index kept in a Milvus collection.
pub fn candidates_in(cluster: &ClusterIndex, opts: &DedupOptions) -> Result<Candidates> {
    let (files, contents) = cluster.files_and_contents()?;
    let contents = contents::from_records(files, contents, opts);
    let scored = pairs::scored_pairs_in(cluster, &contents, opts)?;
    Ok(Candidates { contents, scored })
}

/// Contents and their pairs above the threshold, before the content check.
pub struct Candidates {
    contents: Vec<contents::Content>,
    scored: pairs::ScoredPairs,
}

/// A candidate pair with what the content check measured about it ([`Candidates::measured`]).
#[derive(Debug, Clone)]
pub struct MeasuredPair {
    /// The first file of each picture.
    pub a: PathBuf,
    pub b: PathBuf,
    /// The two pictures' contents (BLAKE3 of their bytes).
    pub contents: (Hash, Hash),
    pub features: verifier::PairFeatures,
    /// Whether the hand-written rule of the content check calls them one picture.
    pub same_content: bool,
}

impl Candidates {
    /// Keeps the candidate pairs whose two contents `keep` names (by their BLAKE3), so
    /// that only those are checked: the pairs review decisions speak of, say.
    pub fn retain_pairs(&mut self, keep: impl Fn(&Hash, &Hash) -> bool) {
        let contents = &self.contents;
        self.scored
            .pairs
            .retain(|&(i, j, _, _)| keep(&contents[i].hash, &contents[j].hash));
    }

    /// Every candidate pair (at or above the threshold, before the content check's
    /// verdict) with what the content check measured: the pairs the verifier learns from
    /// and is measured on. Pairs whose capture times say two shots, and pairs with a
    /// picture that cannot be read now, are left out (they are decided without pixels).
    pub fn measured(&self) -> Vec<MeasuredPair> {
        let agreements =
            content_check::check_content(&self.contents, &self.scored.pairs).agreements;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for &(i, j, score, cosine) in &self.scored.pairs {
            let key = content_check::pair_key(i, j);
            let Some(a) = agreements.get(&key) else {
                continue;
            };
            if !seen.insert(key) {
                continue;
            }
            let (ci, cj) = (&self.contents[key.0], &self.contents[key.1]);
            out.push(MeasuredPair {
                contents: (ci.hash, cj.hash),
                a: ci.first_path().to_path_buf(),
                b: cj.first_path().to_path_buf(),
                features: verifier::PairFeatures::of(
                    a,
                    score,
                    cosine,
                    (ci.width, ci.height),
                    (cj.width, cj.height),
                ),
                same_content: a.same_content(),
            });
        }
        out.sort_by(|x, y| (&x.a, &x.b).cmp(&(&y.a, &y.b)));
        out
    }

    /// The groups ([`Candidates::into_groups`]), named by their contents, with no review
    /// decision (an index that keeps none).
    pub fn into_unreviewed(self, opts: &DedupOptions) -> Result<Vec<decisions::Reviewed>> {
        let hashes: HashMap<u64, Hash> = self.contents.iter().map(|c| (c.id, c.hash)).collect();
        decisions::name_groups_by(self.into_groups(opts), |id| Ok(hashes.get(&id).copied()))
    }

    /// The groups: pairs checked for content (with `opts.content_check`), then grouped,
    /// ordered by their keepers' paths.
    pub fn into_groups(self, opts: &DedupOptions) -> Vec<Group> {
        let scored = pairs::check_pairs(&self.contents, self.scored, opts);
        let mut groups = groups::group(&self.contents, &scored, opts);
        groups.sort_by(|a, b| a.members[0].path.cmp(&b.members[0].path));
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::store::{FileRecord, Hash};

    #[test]
    fn normalised_pairs_need_the_cosine_floor_too_lower_with_the_pixel_check() {
        use crate::index::store::{ChangeSet, ContentRecord};
        let tmp = tempfile::tempdir().unwrap();
        // A one-head model of the default's input size: the vectors below are its descriptors.
        let mut model = crate::model::Encoder::default_model()
            .unwrap()
            .info()
            .clone();
        (model.dim, model.copy_dim) = (256, 0);
        let dim = model.dim;
        let index_dir = tmp.path().join("index");
        let mut index =
            Index::open_or_create(&index_dir, &model, crate::index::lock::Wait::No).unwrap();
        let unit = |pairs: &[(usize, f32)]| {
            let mut v = vec![0f32; dim];
            for &(i, x) in pairs {
                v[i] = x;
            }
            crate::vector::normalised(v).unwrap()
        };
        // a-b: cosine 0.6 (below the normalised floor, above the pixel check's link floor);
        // c-d: cosine 0.95; the background is orthogonal to all.
        let vectors = [
            unit(&[(0, 1.0)]),
            unit(&[(0, 0.6), (1, 0.8)]),
            unit(&[(2, 1.0)]),
            unit(&[(2, 0.95), (3, 0.312)]),
        ];
        // 0 and 1 show one picture (so their thumbnails agree; the index keeps none, so they
        // are decoded from the files); 2 and 3 are not pictures. `picture(true)` is another
        // picture: no quarter turn or mirror image of the first.
        let picture = |other: bool| {
            let img = image::RgbImage::from_fn(64, 64, |x, y| {
                let v = if other {
                    ((x * y) % 256) as u8
                } else {
                    (x * 3 + y / 2 + if x > 40 && y < 20 { 60 } else { 0 }) as u8
                };
                image::Rgb([v, v / 2, 90])
            });
            let mut bytes = Vec::new();
            img.write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
            bytes
        };
        let mut changes = ChangeSet::default();
        for (i, v) in vectors.iter().enumerate() {
            let path = tmp.path().join(format!("{i}.png"));
            let bytes = if i < 2 { picture(false) } else { b"x".to_vec() };
            std::fs::write(&path, bytes).unwrap();
            let hash: Hash = *blake3::hash(&[i as u8]).as_bytes();
            let rec = ContentRecord {
                id: i as u64,
                width: 10,
                height: 10,
                vector: v.clone(),
            };
            changes.put_content(hash, rec);
            let file = FileRecord {
                size: 1,
                mtime_ns: 0,
                hash,
            };
            changes.put_file(path, file);
        }
        index.store().commit(changes).unwrap();
        let background = Background::from_rows(&unit(&[(9, 1.0)]), dim).unwrap();
        let mut opts = DedupOptions {
            threshold: DEFAULT_NORMALISED_THRESHOLD,
            background: Some(Arc::new(background)),
            pixel_check: false,
            // The scores are under test here, not the pictures (2 and 3 are none).
            content_check: false,
            ..DedupOptions::default()
        };
        let names = |groups: &[Group]| -> Vec<Vec<String>> {
            groups
                .iter()
                .map(|g| {
                    let mut n: Vec<String> = g
                        .members
                        .iter()
                        .map(|m| m.path.file_name().unwrap().to_string_lossy().into_owned())
                        .collect();
                    n.sort();
                    n
                })
                .collect()
        };
        let pair = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
        // With the pixel check, a pair below the floor counts when the thumbnails vouch for it.
        opts.pixel_check = true;
        let groups = find_duplicates(&mut index, &opts).unwrap();
        assert_eq!(
            names(&groups),
            [pair("0.png", "1.png"), pair("2.png", "3.png")]
        );
        let vouched = &groups[0].members[1];
        assert!(vouched.score > vouched.similarity, "{vouched:?}");
        // Thumbnails that disagree do not vouch.
        std::fs::write(tmp.path().join("1.png"), picture(true)).unwrap();
        let groups = find_duplicates(&mut index, &opts).unwrap();
        assert_eq!(names(&groups), [pair("2.png", "3.png")]);
        opts.pixel_check = false;
        let groups = find_duplicates(&mut index, &opts).unwrap();
        assert_eq!(names(&groups), [pair("2.png", "3.png")]);
        let copy = &groups[0].members[1];
        assert!((copy.similarity - 0.95).abs() < 1e-3, "{copy:?}");
        assert!(
            (copy.score - copy.similarity).abs() < 1e-3,
            "levels are 0: {copy:?}"
        );
    }
}
