//! Storage: the sled database that is the index's source of truth.
//!
//! One sled tree holds everything, keys distinguished by a one-byte prefix, so that a batch of
//! changes is committed atomically with `apply_batch`:
//!
//! | key | value |
//! |---|---|
//! | `M` + name | index metadata (format version, model, generation, counters) |
//! | `F` + path bytes | [`FileRecord`]: size, mtime, content hash |
//! | `C` + hash (32 bytes) | [`ContentRecord`]: id, pixel size, vector |
//! | `I` + id (u64 big-endian) | hash: maps graph ids back to contents |
//! | `P` + hash + path bytes | empty: the paths holding one content |
//! | `T` + hash | the content's 16x16 grey thumbnail (pixel check) |
//! | `D` + group id (32 bytes) | [`DecisionRecord`]: a review decision on a duplicate group |
//! | `R` + path bytes | empty: a folder (or file) given to `index`, re-indexed by `serve` |
//!
//! Identical files share one content record and one vector. See `index/README.md`.

pub use super::db::DB_DIR;
#[cfg(test)]
use super::db::REWRITE_DIR;
use super::db::{open_db, recover_rewrite, OLD_DIR};
use crate::error::{Error, Result};
use crate::ingest::thumbnail::Thumbnail;
use crate::model::ModelInfo;
use std::path::{Path, PathBuf};

mod check;
mod review;
mod semantic;

pub use super::records::{
    path_bytes, path_from_bytes, ContentRecord, DecisionBook, DecisionRecord, FileRecord, Hash,
};
use semantic::floats;
pub use semantic::SemanticModel;

/// Version of the on-disk layout; bumped on incompatible change.
pub const FORMAT_VERSION: u32 = 1;

const FILE: u8 = b'F';
const CONTENT: u8 = b'C';
const ID: u8 = b'I';
const PATHS: u8 = b'P';
const THUMBNAIL: u8 = b'T';
const DECISION: u8 = b'D';
const ROOT: u8 = b'R';
const SEMANTIC: u8 = b'E';
const UPGRADED: u8 = b'U';
const VERIFIER: u8 = b'V';
const META_FORMAT: &[u8] = b"Mformat";
const META_MODEL: &[u8] = b"Mmodel";
const META_GENERATION: &[u8] = b"Mgeneration";
const META_NEXT_ID: &[u8] = b"Mnext_id";
const META_CONTENTS: &[u8] = b"Mcontents";
const META_FILES: &[u8] = b"Mfiles";
const META_SEMANTIC: &[u8] = b"Msemantic";
const META_UPGRADE: &[u8] = b"Mupgrade";

/// The index's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub format_version: u32,
    pub model: ModelInfo,
    /// Incremented by every commit; the graph snapshot records the generation it matches.
    pub generation: u64,
    pub files: u64,
    pub contents: u64,
    /// The model the index is being moved to (`Mupgrade`), while contents hold vectors of
    /// both: no search may use them until every content is re-embedded
    /// ([`crate::index::upgrade`]).
    pub upgrade: Option<ModelInfo>,
}

fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    k.push(prefix);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn u64_value(v: Option<sled::IVec>) -> u64 {
    v.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// A set of changes committed together, atomically.
#[derive(Debug, Default)]
pub struct ChangeSet {
    files: Vec<(PathBuf, Option<FileRecord>)>,
    contents: Vec<(Hash, Option<ContentRecord>)>,
    thumbnails: Vec<(Hash, Thumbnail)>,
}

impl ChangeSet {
    /// Records (or replaces) the record of `path`.
    pub fn put_file(&mut self, path: PathBuf, record: FileRecord) {
        self.files.push((path, Some(record)));
    }
    /// Forgets `path`.
    pub fn remove_file(&mut self, path: PathBuf) {
        self.files.push((path, None));
    }
    /// Stores a new content and its vector.
    pub fn put_content(&mut self, hash: Hash, record: ContentRecord) {
        self.contents.push((hash, Some(record)));
    }
    /// Stores the pixel-check thumbnail of a content (dropped with it).
    pub fn put_thumbnail(&mut self, hash: Hash, thumbnail: Thumbnail) {
        self.thumbnails.push((hash, thumbnail));
    }
    /// Drops a content no file holds any more (and its thumbnail).
    pub fn remove_content(&mut self, hash: Hash) {
        self.contents.push((hash, None));
    }
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.contents.is_empty() && self.thumbnails.is_empty()
    }
    /// Number of changes.
    pub fn len(&self) -> usize {
        self.files.len() + self.contents.len() + self.thumbnails.len()
    }
}

/// The sled database of one index. Cloning is cheap and shares the database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database in `index_dir`, first finishing or undoing a
    /// [`Store::rewrite`] that a crash interrupted. The caller holds the index lock.
    pub fn open(index_dir: &Path) -> Result<Store> {
        recover_rewrite(index_dir)?;
        let path = index_dir.join(DB_DIR);
        let db = open_db(&path)?;
        Ok(Store { db, path })
    }

    /// Whether a database exists in `index_dir` (without creating one), counting one that an
    /// interrupted rewrite left under its old name. A folder that cannot be read is an
    /// error, not "no database": it may well hold one.
    pub fn exists(index_dir: &Path) -> Result<bool> {
        for d in [DB_DIR, OLD_DIR] {
            match std::fs::metadata(index_dir.join(d).join("conf")) {
                Ok(meta) if meta.is_file() => return Ok(true),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(Error::io(index_dir, e))
                }
                Err(_) => {}
            }
        }
        Ok(false)
    }

    /// Rewrites the database compactly: every record is copied, in key order, into a fresh
    /// database that then replaces this one (the generation and every record are unchanged).
    /// sled's log keeps the space of rewritten pages as free segments, which it overwrites at
    /// every open (1.2 GB per open on a database of a million images, 5.97 GB before the
    /// rewrite and 2.88 GB after). Returns the sizes on disk before and after. No other clone
    /// of this store may be in use.
    pub fn rewrite(&mut self) -> Result<(u64, u64)> {
        super::db::rewrite(&mut self.db, &self.path)
    }

    fn storage(&self, source: sled::Error) -> Error {
        Error::Storage {
            path: self.path.clone(),
            source,
        }
    }

    fn corrupt(&self, detail: impl Into<String>) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    fn get(&self, k: &[u8]) -> Result<Option<sled::IVec>> {
        self.db.get(k).map_err(|e| self.storage(e))
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, what: &str, bytes: &[u8]) -> Result<T> {
        bincode::deserialize(bytes)
            .map_err(|e| self.corrupt(format!("unreadable {what} record: {e}")))
    }

    /// The metadata, or `None` for a fresh database.
    pub fn meta(&self) -> Result<Option<Meta>> {
        let Some(format) = self.get(META_FORMAT)? else {
            return Ok(None);
        };
        let format_version = u32::from_be_bytes(
            format
                .as_ref()
                .try_into()
                .map_err(|_| self.corrupt("format version is not 4 bytes"))?,
        );
        if format_version != FORMAT_VERSION {
            return Err(Error::FormatVersion {
                path: self.path.clone(),
                found: format_version,
                expected: FORMAT_VERSION,
            });
        }
        let model = self
            .get(META_MODEL)?
            .ok_or_else(|| self.corrupt("no model recorded"))?;
        let model: ModelInfo = serde_json::from_slice(&model)
            .map_err(|e| self.corrupt(format!("unreadable model record: {e}")))?;
        let upgrade = match self.get(META_UPGRADE)? {
            Some(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| self.corrupt(format!("unreadable upgrade record: {e}")))?,
            ),
            None => None,
        };
        Ok(Some(Meta {
            format_version,
            model,
            generation: u64_value(self.get(META_GENERATION)?),
            files: u64_value(self.get(META_FILES)?),
            contents: u64_value(self.get(META_CONTENTS)?),
            upgrade,
        }))
    }

    /// Starts moving the index to `target`: from now on every content written is marked as
    /// holding `target`'s vector (`U` records), and searches are refused until
    /// [`Store::finish_upgrade`]. Marks of an earlier, unfinished upgrade to another model
    /// are dropped (their vectors are re-embedded again).
    pub fn begin_upgrade(&self, target: &ModelInfo) -> Result<()> {
        let meta = self.meta()?.ok_or_else(|| self.corrupt("no metadata"))?;
        let mut batch = sled::Batch::default();
        if meta.upgrade.as_ref() != Some(target) {
            for k in self.db.scan_prefix([UPGRADED]).keys() {
                batch.remove(k.map_err(|e| self.storage(e))?);
            }
        }
        batch.insert(
            META_UPGRADE,
            serde_json::to_vec(target).expect("model info serialises"),
        );
        batch.insert(META_GENERATION, &(meta.generation + 1).to_be_bytes());
        self.db.apply_batch(batch).map_err(|e| self.storage(e))?;
        self.flush()
    }

    /// Contents whose vector is not yet the upgrade target's, in key order.
    pub fn contents_to_upgrade(&self) -> Result<Vec<(Hash, u64)>> {
        let mut out = Vec::new();
        for item in self.contents() {
            let (hash, record) = item?;
            if !self
                .db
                .contains_key(key(UPGRADED, &[&hash]))
                .map_err(|e| self.storage(e))?
            {
                out.push((hash, record.id));
            }
        }
        Ok(out)
    }

    /// Contents already holding the upgrade target's vector.
    pub fn upgraded_count(&self) -> u64 {
        self.db.scan_prefix([UPGRADED]).count() as u64
    }

    /// Ends an upgrade whose every content holds the target's vector: the target becomes
    /// the index's model, in one atomic batch with the marks' removal.
    pub fn finish_upgrade(&self) -> Result<Meta> {
        let meta = self.meta()?.ok_or_else(|| self.corrupt("no metadata"))?;
        let target = meta
            .upgrade
            .ok_or_else(|| self.corrupt("no upgrade to finish"))?;
        let mut batch = sled::Batch::default();
        for k in self.db.scan_prefix([UPGRADED]).keys() {
            batch.remove(k.map_err(|e| self.storage(e))?);
        }
        batch.remove(META_UPGRADE);
        batch.insert(
            META_MODEL,
            serde_json::to_vec(&target).expect("model info serialises"),
        );
        batch.insert(META_GENERATION, &(meta.generation + 1).to_be_bytes());
        self.db.apply_batch(batch).map_err(|e| self.storage(e))?;
        self.flush()?;
        self.meta()?
            .ok_or_else(|| self.corrupt("metadata vanished after writing"))
    }

    /// Records the model of a fresh database.
    pub fn init(&self, model: &ModelInfo) -> Result<Meta> {
        let mut batch = sled::Batch::default();
        batch.insert(META_FORMAT, &FORMAT_VERSION.to_be_bytes());
        batch.insert(
            META_MODEL,
            serde_json::to_vec(model).expect("model info serialises"),
        );
        batch.insert(META_GENERATION, &0u64.to_be_bytes());
        self.db.apply_batch(batch).map_err(|e| self.storage(e))?;
        self.flush()?;
        self.meta()?
            .ok_or_else(|| self.corrupt("metadata vanished after writing"))
    }

    pub fn file(&self, path: &Path) -> Result<Option<FileRecord>> {
        match self.get(&key(FILE, &[&path_bytes(path)]))? {
            Some(v) => Ok(Some(self.decode("file", &v)?)),
            None => Ok(None),
        }
    }

    /// A file's record and its content's, if the file is indexed.
    pub fn picture(&self, path: &Path) -> Result<Option<(FileRecord, ContentRecord)>> {
        let Some(file) = self.file(path)? else {
            return Ok(None);
        };
        Ok(self.content(&file.hash)?.map(|c| (file, c)))
    }

    pub fn content(&self, hash: &Hash) -> Result<Option<ContentRecord>> {
        match self.get(&key(CONTENT, &[hash]))? {
            Some(v) => Ok(Some(self.decode("content", &v)?)),
            None => Ok(None),
        }
    }

    /// The pixel-check thumbnail of a content, if one was stored (indexes written before
    /// thumbnails were kept have none).
    pub fn thumbnail(&self, hash: &Hash) -> Result<Option<Thumbnail>> {
        match self.get(&key(THUMBNAIL, &[hash]))? {
            Some(v) => Thumbnail::from_bytes(&v).map(Some).ok_or_else(|| {
                self.corrupt(format!(
                    "a thumbnail of {} bytes, not {}",
                    v.len(),
                    crate::ingest::thumbnail::BYTES
                ))
            }),
            None => Ok(None),
        }
    }

    /// The content behind a graph id, if it is still live.
    pub fn hash_of_id(&self, id: u64) -> Result<Option<Hash>> {
        match self.get(&key(ID, &[&id.to_be_bytes()]))? {
            Some(v) => Ok(Some(v.as_ref().try_into().map_err(|_| {
                self.corrupt(format!("id {id} maps to a hash of {} bytes", v.len()))
            })?)),
            None => Ok(None),
        }
    }

    /// All paths holding `hash`, sorted.
    pub fn paths_of(&self, hash: &Hash) -> Result<Vec<PathBuf>> {
        let prefix = key(PATHS, &[hash]);
        self.db
            .scan_prefix(&prefix)
            .keys()
            .map(|k| {
                k.map(|k| path_from_bytes(&k[prefix.len()..]))
                    .map_err(|e| self.storage(e))
            })
            .collect()
    }

    /// Every file record whose path is `root` or lies under it.
    pub fn files_under(&self, root: &Path) -> Result<Vec<(PathBuf, FileRecord)>> {
        let root_bytes = path_bytes(root);
        let mut out = Vec::new();
        for item in self.db.scan_prefix(key(FILE, &[&root_bytes])) {
            let (k, v) = item.map_err(|e| self.storage(e))?;
            let path = path_from_bytes(&k[1..]);
            if path.starts_with(root) {
                out.push((path, self.decode("file", &v)?));
            }
        }
        Ok(out)
    }

    /// Every file record.
    pub fn files(&self) -> impl Iterator<Item = Result<(PathBuf, FileRecord)>> + '_ {
        self.db.scan_prefix([FILE]).map(move |item| {
            let (k, v) = item.map_err(|e| self.storage(e))?;
            Ok((path_from_bytes(&k[1..]), self.decode("file", &v)?))
        })
    }

    /// Every content record.
    pub fn contents(&self) -> impl Iterator<Item = Result<(Hash, ContentRecord)>> + '_ {
        self.db.scan_prefix([CONTENT]).map(move |item| {
            let (k, v) = item.map_err(|e| self.storage(e))?;
            let hash: Hash = k[1..]
                .try_into()
                .map_err(|_| self.corrupt("content key is not a 32-byte hash"))?;
            Ok((hash, self.decode("content", &v)?))
        })
    }

    /// The next unused graph id.
    pub fn next_id(&self) -> Result<u64> {
        Ok(u64_value(self.get(META_NEXT_ID)?))
    }

    /// Applies `changes` atomically, bumps the generation, and flushes to disk.
    /// Returns the new generation.
    pub fn commit(&self, changes: ChangeSet) -> Result<u64> {
        let meta = self.meta()?.ok_or_else(|| self.corrupt("no metadata"))?;
        let mut batch = sled::Batch::default();
        let (mut files, mut contents) = (meta.files as i64, meta.contents as i64);
        let mut next_id = self.next_id()?;
        // Later entries of one change set see earlier ones through these overlays.
        let mut file_overlay: std::collections::HashMap<Vec<u8>, Option<Hash>> = Default::default();
        let mut content_overlay: std::collections::HashMap<Hash, bool> = Default::default();
        // Read only when contents go (their semantic vectors go with them).
        let semantic_slots: Vec<u8> = if changes.contents.iter().any(|(_, r)| r.is_none()) {
            self.semantic_models()?.iter().map(|m| m.slot).collect()
        } else {
            Vec::new()
        };

        for (hash, record) in &changes.contents {
            let existing = match content_overlay.get(hash) {
                Some(&live) => live,
                None => self.content(hash)?.is_some(),
            };
            match record {
                Some(rec) => {
                    if !existing {
                        contents += 1;
                    }
                    batch.insert(
                        key(CONTENT, &[hash]),
                        bincode::serialize(rec).expect("serialises"),
                    );
                    batch.insert(key(ID, &[&rec.id.to_be_bytes()]), &hash[..]);
                    if meta.upgrade.is_some() {
                        batch.insert(key(UPGRADED, &[hash]), &[] as &[u8]);
                    }
                    next_id = next_id.max(rec.id + 1);
                }
                None => {
                    if let Some(old) = self.content(hash)? {
                        batch.remove(key(ID, &[&old.id.to_be_bytes()]));
                    }
                    if existing {
                        contents -= 1;
                    }
                    batch.remove(key(CONTENT, &[hash]));
                    batch.remove(key(THUMBNAIL, &[hash]));
                    batch.remove(key(UPGRADED, &[hash]));
                    for slot in &semantic_slots {
                        batch.remove(key(SEMANTIC, &[&[*slot], hash]));
                    }
                }
            }
            content_overlay.insert(*hash, record.is_some());
        }

        for (hash, thumbnail) in &changes.thumbnails {
            batch.insert(key(THUMBNAIL, &[hash]), &thumbnail.0[..]);
        }

        for (path, record) in &changes.files {
            let pb = path_bytes(path);
            let old_hash = match file_overlay.get(&pb) {
                Some(h) => *h,
                None => self.file(path)?.map(|r| r.hash),
            };
            if let Some(old) = old_hash {
                batch.remove(key(PATHS, &[&old, &pb]));
                files -= 1;
            }
            match record {
                Some(rec) => {
                    batch.insert(
                        key(FILE, &[&pb]),
                        bincode::serialize(rec).expect("serialises"),
                    );
                    batch.insert(key(PATHS, &[&rec.hash, &pb]), &[] as &[u8]);
                    files += 1;
                }
                None => batch.remove(key(FILE, &[&pb])),
            }
            file_overlay.insert(pb, record.as_ref().map(|r| r.hash));
        }

        let generation = meta.generation + 1;
        batch.insert(META_GENERATION, &generation.to_be_bytes());
        batch.insert(META_NEXT_ID, &next_id.to_be_bytes());
        batch.insert(META_FILES, &(files.max(0) as u64).to_be_bytes());
        batch.insert(META_CONTENTS, &(contents.max(0) as u64).to_be_bytes());
        self.db.apply_batch(batch).map_err(|e| self.storage(e))?;
        self.flush()?;
        Ok(generation)
    }

    /// Remembers the folders (or files) an `index` run was given, so that they can be
    /// re-indexed without naming them again.
    pub fn add_roots(&self, roots: &[PathBuf]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for root in roots {
            batch.insert(key(ROOT, &[&path_bytes(root)]), &[] as &[u8]);
        }
        self.db.apply_batch(batch).map_err(|e| self.storage(e))?;
        self.flush()
    }

    /// The folders (and files) ever given to `index`, in path order.
    pub fn roots(&self) -> Result<Vec<PathBuf>> {
        self.db
            .scan_prefix([ROOT])
            .keys()
            .map(|k| {
                k.map(|k| path_from_bytes(&k[1..]))
                    .map_err(|e| self.storage(e))
            })
            .collect()
    }

    /// Makes everything committed durable.
    pub fn flush(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(|e| self.storage(e))
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        self.db.size_on_disk().map_err(|e| self.storage(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::pretrained::PretrainedInfo;

    fn model() -> ModelInfo {
        ModelInfo {
            name: "m".into(),
            arch: "a".into(),
            input_size: 4,
            dim: 2,
            weights_hash: "00".repeat(32),
            copy_dim: 0,
        }
    }

    fn content(id: u64) -> ContentRecord {
        ContentRecord {
            id,
            width: 3,
            height: 2,
            vector: vec![0.6, 0.8],
        }
    }

    /// The metadata, file records and content records of a store, in key order.
    type Everything = (Meta, Vec<(PathBuf, FileRecord)>, Vec<(Hash, ContentRecord)>);

    fn everything(store: &Store) -> Everything {
        (
            store.meta().unwrap().unwrap(),
            store.files().collect::<Result<_>>().unwrap(),
            store.contents().collect::<Result<_>>().unwrap(),
        )
    }

    /// A store of 300 files over 200 contents, committed in many small batches (the pattern
    /// that leaves sled's log full of rewritten pages).
    fn filled(dir: &Path) -> Store {
        let store = Store::open(dir).unwrap();
        store.init(&model()).unwrap();
        for batch in 0..20u8 {
            let mut cs = ChangeSet::default();
            for i in 0..10u8 {
                let hash = *blake3::hash(&[batch, i]).as_bytes();
                cs.put_content(hash, content(u64::from(batch) * 10 + u64::from(i)));
                for copy in 0..1 + usize::from(i % 2) {
                    let path = PathBuf::from(format!("/p/{batch}/{i}-{copy}.jpg"));
                    cs.put_file(
                        path,
                        FileRecord {
                            size: 1,
                            mtime_ns: 2,
                            hash,
                        },
                    );
                }
            }
            store.commit(cs).unwrap();
        }
        store
    }

    #[test]
    fn a_rewrite_keeps_every_record_and_the_generation() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = filled(dir.path());
        let before = everything(&store);
        assert_eq!((before.1.len(), before.2.len()), (300, 200));
        // (Sizes of a store this small are sled's segment overhead, not worth comparing.)
        let (size_before, size_after) = store.rewrite().unwrap();
        assert!(size_before > 0 && size_after > 0);
        assert_eq!(everything(&store), before);
        // The rewritten store takes commits, and reopens with them.
        let mut cs = ChangeSet::default();
        cs.remove_file("/p/0/0-0.jpg".into());
        store.commit(cs).unwrap();
        let after = everything(&store);
        drop(store);
        assert_eq!(everything(&Store::open(dir.path()).unwrap()), after);
        assert_eq!(after.0.generation, before.0.generation + 1);
        for leftover in [REWRITE_DIR, OLD_DIR] {
            assert!(!dir.path().join(leftover).exists(), "{leftover}");
        }
    }

    #[test]
    fn decisions_roots_and_the_collection_verifier_are_kept_outside_the_generation_and_survive_a_rewrite(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = filled(dir.path());
        let generation = store.meta().unwrap().unwrap().generation;
        let record = DecisionRecord {
            verdict: "accepted".into(),
            contents: vec![[1; 32], [2; 32]],
            keeper: Some(b"/p/0/0-0.jpg".to_vec()),
            decided_at: 1_700_000_000,
        };
        store.put_decision(&[9; 32], &record).unwrap();
        store.put_decision(&[8; 32], &record).unwrap();
        store.remove_decision(&[8; 32]).unwrap();
        assert_eq!(store.collection_verifier().unwrap(), None);
        assert!(!store.remove_collection_verifier().unwrap());
        store.put_collection_verifier(b"{\"old\": 1}").unwrap();
        store.put_collection_verifier(b"{\"trees\": []}").unwrap();
        store
            .add_roots(&["/p/1".into(), "/p/0".into(), "/p/0".into()])
            .unwrap();
        // Neither bumps the generation: the graph and the flat file stay current.
        assert_eq!(store.meta().unwrap().unwrap().generation, generation);
        store.rewrite().unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.decisions().unwrap(), vec![([9; 32], record)]);
        assert_eq!(
            store.collection_verifier().unwrap().as_deref(),
            Some(&b"{\"trees\": []}"[..])
        );
        assert_eq!(
            store.roots().unwrap(),
            [PathBuf::from("/p/0"), PathBuf::from("/p/1")]
        );
        assert!(store.verify().unwrap().is_empty());
    }

    #[test]
    fn an_interrupted_rewrite_is_finished_or_undone_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let before = everything(&filled(dir.path()));
        let (db, new, old) = (
            dir.path().join(DB_DIR),
            dir.path().join(REWRITE_DIR),
            dir.path().join(OLD_DIR),
        );
        let copy = |from: &Path, to: &Path| {
            std::fs::create_dir_all(to).unwrap();
            for e in walkdir::WalkDir::new(from).min_depth(1) {
                let e = e.unwrap();
                let target = to.join(e.path().strip_prefix(from).unwrap());
                if e.file_type().is_dir() {
                    std::fs::create_dir_all(&target).unwrap();
                } else {
                    std::fs::copy(e.path(), &target).unwrap();
                }
            }
        };
        // Crashed while copying: the partial copy is dropped.
        copy(&db, &new);
        std::fs::write(new.join("db"), b"partial").unwrap();
        assert_eq!(everything(&Store::open(dir.path()).unwrap()), before);
        assert!(!new.exists());
        // Crashed between the renames: the (complete) copy goes in.
        copy(&db, &new);
        std::fs::rename(&db, &old).unwrap();
        assert!(Store::exists(dir.path()).unwrap());
        assert_eq!(everything(&Store::open(dir.path()).unwrap()), before);
        assert!(!new.exists() && !old.exists());
        // The old database renamed away and no copy: it comes back.
        std::fs::rename(&db, &old).unwrap();
        assert_eq!(everything(&Store::open(dir.path()).unwrap()), before);
        assert!(!old.exists());
    }

    #[test]
    fn commit_keeps_files_contents_and_counters_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.meta().unwrap().is_none());
        store.init(&model()).unwrap();
        let (h1, h2) = ([1u8; 32], [2u8; 32]);
        let rec = |hash| FileRecord {
            size: 1,
            mtime_ns: 2,
            hash,
        };

        let mut cs = ChangeSet::default();
        cs.put_content(h1, content(0));
        let thumb = Thumbnail([7; crate::ingest::thumbnail::BYTES]);
        cs.put_thumbnail(h1, thumb.clone());
        cs.put_file("/p/a.jpg".into(), rec(h1));
        cs.put_file("/p/copy.jpg".into(), rec(h1));
        assert_eq!(store.commit(cs).unwrap(), 1);
        assert_eq!(store.thumbnail(&h1).unwrap(), Some(thumb));
        let m = store.meta().unwrap().unwrap();
        assert_eq!((m.files, m.contents, m.generation), (2, 1, 1));
        assert_eq!(
            store.paths_of(&h1).unwrap(),
            vec![PathBuf::from("/p/a.jpg"), PathBuf::from("/p/copy.jpg")]
        );
        assert_eq!(store.hash_of_id(0).unwrap(), Some(h1));
        assert_eq!(store.next_id().unwrap(), 1);

        // The copy is rewritten with new content; the old content keeps one path.
        let mut cs = ChangeSet::default();
        cs.put_content(h2, content(1));
        cs.put_file("/p/copy.jpg".into(), rec(h2));
        store.commit(cs).unwrap();
        assert_eq!(
            store.paths_of(&h1).unwrap(),
            vec![PathBuf::from("/p/a.jpg")]
        );
        assert_eq!(
            store.paths_of(&h2).unwrap(),
            vec![PathBuf::from("/p/copy.jpg")]
        );

        let mut cs = ChangeSet::default();
        cs.remove_file("/p/a.jpg".into());
        cs.remove_content(h1);
        store.commit(cs).unwrap();
        let m = store.meta().unwrap().unwrap();
        assert_eq!((m.files, m.contents, m.generation), (1, 1, 3));
        assert_eq!(store.hash_of_id(0).unwrap(), None);
        assert!(store.content(&h1).unwrap().is_none());
        // Its thumbnail went with it; the new content was stored without one.
        assert_eq!(store.thumbnail(&h1).unwrap(), None);
        assert_eq!(store.thumbnail(&h2).unwrap(), None);
        assert_eq!(store.files_under(Path::new("/p")).unwrap().len(), 1);
        assert_eq!(store.files_under(Path::new("/p/cop")).unwrap().len(), 0);
        assert!(store.verify().unwrap().is_empty());
        // A thumbnail without its content is reported.
        let mut cs = ChangeSet::default();
        cs.put_thumbnail([9; 32], Thumbnail([0; crate::ingest::thumbnail::BYTES]));
        store.commit(cs).unwrap();
        assert_eq!(
            store.verify().unwrap(),
            ["a thumbnail whose content is missing"]
        );
    }

    #[test]
    fn verify_checks_the_pretrained_models_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.init(&model()).unwrap();
        let h1 = [1u8; 32];
        let mut cs = ChangeSet::default();
        cs.put_content(h1, content(0));
        store.commit(cs).unwrap();
        let info = PretrainedInfo {
            name: "clip".into(),
            family: crate::model::pretrained::config::Family::Clip,
            dim: 2,
            input_size: 224,
            weights_hash: "ab".repeat(32),
            text: true,
        };
        let slot = store
            .add_semantic_model(&info, Path::new("/m"))
            .unwrap()
            .slot;
        store.put_semantic(slot, &[(h1, vec![0.6, 0.8])]).unwrap();
        assert!(store.verify().unwrap().is_empty());
        store
            .put_semantic(slot, &[([2; 32], vec![1.0, 0.0])])
            .unwrap();
        store
            .put_semantic(slot + 1, &[(h1, vec![1.0, 0.0])])
            .unwrap();
        let mut cs = ChangeSet::default();
        cs.put_content([3; 32], content(1));
        store.commit(cs).unwrap();
        store.put_semantic(slot, &[([3; 32], vec![1.0])]).unwrap();
        let mut cs = ChangeSet::default();
        cs.put_content([4; 32], content(2));
        store.commit(cs).unwrap();
        store
            .put_semantic(slot, &[([4; 32], vec![f32::NAN, 0.0])])
            .unwrap();
        let id = info.id();
        assert_eq!(
            store.verify().unwrap(),
            [
                format!("a vector of {id} whose content is missing"),
                format!("a vector of {id} has 4 bytes, the model's 2 dimensions need 8"),
                format!("a vector of {id} holds a value that is not finite"),
                format!("a vector in slot {}, which holds no model", slot + 1),
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_paths_round_trip() {
        use std::os::unix::ffi::OsStrExt;
        let p = PathBuf::from(std::ffi::OsStr::from_bytes(b"/x/caf\xe9.jpg"));
        assert_eq!(path_from_bytes(&path_bytes(&p)), p);
    }
}
