//! Builds a large index of synthetic vectors for the scale benchmarks (bench/scale.sh):
//! clustered unit vectors for the embedded default model, some of them planted as
//! near-duplicate pairs, each recorded under its own empty placeholder file so that `query`
//! and `dedup` see files that exist on disk.
//!
//! ```text
//! cargo run --release --example synthetic_index -- OUT COUNT [PAIRS]
//! ```
//! Writes the index to `OUT/index`, the placeholder files under `OUT/files`, the planted
//! pairs (two paths per line, tab-separated) to `OUT/planted.tsv`, and prints the time spent
//! storing the records and building the graph (points per second).

#[path = "../benches/common/synthetic.rs"]
mod synthetic;

use lookalike::index::lock::Wait;
use lookalike::index::store::{ChangeSet, ContentRecord, FileRecord, Hash};
use lookalike::model::Task;
use lookalike::{Encoder, Index};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Records per sled commit.
const COMMIT: usize = 10_000;

fn placeholder(files: &Path, i: usize) -> PathBuf {
    let dir = files.join(format!("d{:04}", i / 1000));
    if i.is_multiple_of(1000) {
        std::fs::create_dir_all(&dir).expect("create placeholder folder");
    }
    dir.join(format!("img{i:07}.jpg"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, count, pairs) = match args.as_slice() {
        [out, count] => (PathBuf::from(out), count.parse().expect("COUNT"), 1000),
        [out, count, pairs] => (
            PathBuf::from(out),
            count.parse().expect("COUNT"),
            pairs.parse().expect("PAIRS"),
        ),
        _ => {
            eprintln!("usage: synthetic_index OUT COUNT [PAIRS]");
            std::process::exit(2);
        }
    };
    let pairs: usize = pairs.min(count / 2);
    let encoder = Encoder::default_model().expect("embedded model");
    let model = encoder.info().clone();
    let files = std::path::absolute(out.join("files")).expect("absolute path");
    let index = Index::open_or_create(&out.join("index"), &model, Wait::No).expect("index");
    // One generator per head: a two-head model stores both unit descriptors, each scaled
    // to length 1/sqrt 2, one after the other.
    let heads = if model.has_two_heads() {
        vec![model.head(Task::Query), model.head(Task::Copy)]
    } else {
        vec![model.head(Task::Query)]
    };
    let mut gens: Vec<synthetic::Generator> = heads
        .iter()
        .enumerate()
        .map(|(i, head)| synthetic::Generator::new(count, head.len, 20261128 + i as u64))
        .collect();
    let scale = (1.0 / heads.len() as f32).sqrt();
    let mut planted = std::fs::File::create(out.join("planted.tsv")).expect("planted.tsv");

    let started = Instant::now();
    let mut changes = ChangeSet::default();
    let mut previous: Option<(PathBuf, Vec<Vec<f32>>)> = None;
    for i in 0..count {
        // The last 2 * pairs points come in twos: the second a slight variation of the first.
        let twin = i >= count - 2 * pairs && !(i - (count - 2 * pairs)).is_multiple_of(2);
        let parts: Vec<Vec<f32>> = match (&previous, twin) {
            (Some((_, v)), true) => gens
                .iter_mut()
                .zip(v)
                .map(|(gen, part)| gen.around(part, 0.15))
                .collect(),
            _ => gens.iter_mut().map(|gen| gen.point(1.0)).collect(),
        };
        let vector: Vec<f32> = parts.iter().flatten().map(|x| x * scale).collect();
        let path = placeholder(&files, i);
        std::fs::File::create(&path).expect("placeholder file");
        let mtime_ns = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64);
        let hash: Hash = *blake3::hash(&(i as u64).to_le_bytes()).as_bytes();
        if twin {
            let (first, _) = previous.as_ref().expect("twin follows its original");
            writeln!(planted, "{}\t{}", first.display(), path.display()).expect("write");
        }
        changes.put_content(
            hash,
            ContentRecord {
                id: i as u64,
                width: 1024,
                height: 768,
                vector,
            },
        );
        changes.put_file(
            path.clone(),
            FileRecord {
                size: 0,
                mtime_ns,
                hash,
            },
        );
        previous = Some((path, parts));
        if changes.len() >= 2 * COMMIT {
            index
                .store()
                .commit(std::mem::take(&mut changes))
                .expect("commit");
        }
    }
    index.store().commit(changes).expect("commit");
    let stored = started.elapsed().as_secs_f64();
    println!(
        "stored {count} records ({pairs} planted pairs) in {stored:.1} s ({:.0} records/s)",
        count as f64 / stored
    );
    // Reopen: the graph snapshot is saved for the generation the commits left.
    drop(index);
    let mut index = Index::open(&out.join("index"), Wait::No).expect("reopen");
    let started = Instant::now();
    let graph = index.rebuild_graph().expect("graph");
    let built = started.elapsed().as_secs_f64();
    println!(
        "built and saved the graph of {} points in {built:.1} s ({:.0} points/s, {} threads)",
        graph.len(),
        count as f64 / built,
        rayon::current_num_threads()
    );
}
