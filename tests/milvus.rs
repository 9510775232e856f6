//! The index kept in a real Milvus server (`--store milvus://...`): the same answers as the
//! index folder, workers sharing the work, runs killed or cut off and finished by the next.
//!
//! The server is the one named by `LOOKALIKE_TEST_MILVUS` (`HOST:PORT`), or a Milvus
//! standalone started from the PyPI package `milvus` by `scripts/milvus-standalone.py`
//! (installed by `scripts/milvus-standalone.py install`, which `.ci/run` does) and stopped
//! when this test process ends. Without either, each test says why it did not run and
//! passes, unless `LOOKALIKE_REQUIRE_MILVUS=1` (CI), where that fails it.

mod common;

use common::server::{encode, Server};
use common::*;
use lookalike::index::cluster::COPIES_SUFFIX;
use lookalike::index::milvus::{self, Milvus, StoreUrl};
use lookalike::model::ModelInfo;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The server's `HOST:PORT`, started once for the whole test process; `None` when there is
/// none (the reason printed).
fn server() -> Option<&'static str> {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    let found = SERVER.get_or_init(|| {
        if let Ok(address) = std::env::var("LOOKALIKE_TEST_MILVUS") {
            return Ok(address);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let data = root.join("target/milvus-test");
        let started = std::process::Command::new("python3")
            .arg(root.join("scripts/milvus-standalone.py"))
            .arg("start")
            .arg(&data)
            .arg("--watch")
            .arg(std::process::id().to_string())
            .output();
        match started {
            Ok(out) if out.status.success() => Ok("127.0.0.1:19530".into()),
            Ok(out) => Err(format!(
                "the Milvus standalone server did not start: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => Err(format!("python3 is not available: {e}")),
        }
    });
    match found {
        Ok(address) => Some(address),
        Err(why) if std::env::var("LOOKALIKE_REQUIRE_MILVUS").as_deref() == Ok("1") => {
            panic!("LOOKALIKE_REQUIRE_MILVUS=1 but {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// A collection of its own for one test (and the collection of copy descriptors beside
/// it), dropped first and when the test ends.
struct Collection {
    url: String,
    milvus: Milvus,
    copies: Milvus,
}

impl Collection {
    fn new(address: &str, name: &str) -> Collection {
        let url = format!("milvus://{address}/t_{name}_{}", std::process::id());
        let milvus = Milvus::connect(&url.parse::<StoreUrl>().unwrap()).unwrap();
        let copies = format!("{url}{COPIES_SUFFIX}");
        let copies = Milvus::connect(&copies.parse::<StoreUrl>().unwrap()).unwrap();
        milvus.drop_collection().unwrap();
        copies.drop_collection().unwrap();
        Collection {
            url,
            milvus,
            copies,
        }
    }

    /// Waits (at most a minute) until the collection shows `rows` rows: a run is under way.
    fn await_rows(&self, rows: usize) {
        let start = Instant::now();
        while self.paths().1 < rows && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every row's primary key: a row rewritten gets a new one.
    fn keys(&self) -> HashSet<i64> {
        let rows = self.milvus.list("", &["path"]).unwrap();
        rows.iter().filter_map(milvus::primary_key).collect()
    }

    /// Every row's path, and how many rows there are.
    fn paths(&self) -> (HashSet<String>, usize) {
        let rows = self.milvus.list("", &["path"]).unwrap();
        let paths: HashSet<String> = rows
            .iter()
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect();
        (paths, rows.len())
    }
}

impl Drop for Collection {
    /// Drops the collection and those beside it (copy descriptors, pretrained models').
    fn drop(&mut self) {
        let name = self.milvus.url().collection.clone();
        for other in self.milvus.collections().unwrap_or_default() {
            if other.starts_with(&format!("{name}__")) {
                let _ = self.milvus.sibling(&other).drop_collection();
            }
        }
        let _ = self.milvus.drop_collection();
    }
}

/// Runs lookalike with `args` on the Milvus collection `url`.
fn on_store(url: &str, args: &[&str]) -> Output {
    bin()
        .args(args)
        .arg("--store")
        .arg(url)
        .output()
        .expect("lookalike runs")
}

/// The neighbours of a query as (path, similarity).
fn neighbours(v: &serde_json::Value) -> Vec<(String, f64)> {
    neighbour_list(&v["results"][0]["neighbors"])
}

/// A list of neighbours as (path, similarity).
fn neighbour_list(list: &serde_json::Value) -> Vec<(String, f64)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["path"].as_str().unwrap().to_string(),
                n["similarity"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The same neighbours in the same order, similarities equal up to float rounding.
fn assert_same_answers(a: &[(String, f64)], b: &[(String, f64)], what: &str) {
    let paths = |x: &[(String, f64)]| x.iter().map(|n| n.0.clone()).collect::<Vec<_>>();
    assert_eq!(paths(a), paths(b), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x.1 - y.1).abs() < 1e-4,
            "{what}: {} {} vs {}",
            x.0,
            x.1,
            y.1
        );
    }
}

/// Every picture of `photos` queried on the collection `url`.
fn answers(url: &str, photos: &Path) -> Vec<Vec<(String, f64)>> {
    PHOTOS
        .iter()
        .map(|name| {
            let q = photos.join(name);
            let out = on_store(url, &["query", q.to_str().unwrap(), "-k", "20", "--json"]);
            assert!(out.status.success(), "{}", stderr(&out));
            neighbours(&stdout_json(&out))
        })
        .collect()
}

/// `count` distinct pictures (shapes and gradients of their own), written as PNGs.
fn distinct_pictures(dir: &Path, count: u32) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..count)
        .map(|i| {
            let img = image::RgbImage::from_fn(96, 96, |x, y| {
                let (a, b) = (i * 37 % 251, i * 91 % 241);
                let band = ((x * (1 + i % 7) + y * (1 + i % 5)) / 12 + i) % 2;
                image::Rgb([
                    ((x * a / 96 + band * 120) % 256) as u8,
                    ((y * b / 96 + i * 13) % 256) as u8,
                    (((x ^ y) * (i + 3)) % 256) as u8,
                ])
            });
            let path = dir.join(format!("picture-{i:03}.png"));
            img.save(&path).unwrap();
            path
        })
        .collect()
}

#[test]
fn query_answers_from_milvus_as_from_the_index_folder() {
    let Some(address) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (photos, index) = sample_library(tmp.path());
    let store = Collection::new(address, "answers");
    let out = on_store(&store.url, &["index", photos.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout_json(&out);
    // The exact copy of the rocket is not embedded again.
    assert_eq!(report["embedded"], PHOTOS.len() + 1);
    assert_eq!(report["copies"], 1);
    assert_eq!(store.paths().1, PHOTOS.len() + 2);
    let info = stdout_json(&on_store(&store.url, &["info", "--json"]));
    assert_eq!(info["files"], PHOTOS.len() + 2, "{info}");
    assert_eq!(info["copy_rows"], PHOTOS.len() + 2, "{info}");
    assert!(info["model"].as_str().unwrap().contains('@'), "{info}");

    for name in PHOTOS {
        let q = photos.join(name);
        let args = ["query", q.to_str().unwrap(), "-k", "20", "--json"];
        let folder = run(&index, &args);
        let milvus = on_store(&store.url, &args);
        assert!(milvus.status.success(), "{}", stderr(&milvus));
        assert_same_answers(
            &neighbours(&stdout_json(&milvus)),
            &neighbours(&stdout_json(&folder)),
            name,
        );
    }
    // Text output too.
    let q = photos.join("rocket.jpg");
    let folder = run(&index, &["query", q.to_str().unwrap(), "-k", "3"]);
    let milvus = on_store(&store.url, &["query", q.to_str().unwrap(), "-k", "3"]);
    assert_eq!(
        String::from_utf8_lossy(&milvus.stdout),
        String::from_utf8_lossy(&folder.stdout)
    );
}

/// Two JSON answers alike: the same structure, texts and flags, numbers within 1e-4 (the
/// two stores compute cosines in their own order of operations).
fn assert_alike(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() < 1e-4, "{at}: {x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_alike(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(x), keys(y), "{at}");
            for (k, v) in x {
                assert_alike(v, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

#[test]
fn copies_are_marked_from_milvus_as_from_the_index_folder() {
    let Some(address) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (photos, index) = sample_library(tmp.path());
    let store = Collection::new(address, "copies");
    let out = on_store(&store.url, &["index", photos.to_str().unwrap(), "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The copy descriptors are searched in a collection of their own, one row per file.
    assert_eq!(
        store.copies.list("", &["path"]).unwrap().len(),
        PHOTOS.len() + 2
    );
    let mut marked = 0;
    for name in PHOTOS {
        let q = photos.join(name);
        let args = [
            "query",
            q.to_str().unwrap(),
            "--copies",
            "-k",
            "5",
            "--json",
        ];
        let folder = stdout_json(&run(&index, &args));
        let milvus = on_store(&store.url, &args);
        assert!(milvus.status.success(), "{}", stderr(&milvus));
        let milvus = stdout_json(&milvus);
        assert_alike(&milvus, &folder, name);
        marked += milvus["results"][0]["neighbors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["copy"] == true)
            .count();
    }
    // Each picture is its own copy, the rocket has its exact copy, the coffee its resized
    // one: the comparison compared copy decisions, not only their absence.
    assert!(marked >= PHOTOS.len() + 2, "{marked}");
}

#[test]
fn dedup_finds_in_milvus_the_groups_of_the_index_folder() {
    let Some(address) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (photos, index) = sample_library(tmp.path());
    // The README's demo copies too: a brightened, a cropped and a half-size copy.
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/copies"),
        &photos.join("demo-copies"),
    );
    let out = run(&index, &["index", photos.to_str().unwrap(), "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = Collection::new(address, "dedup");
    let out = on_store(&store.url, &["index", photos.to_str().unwrap(), "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for options in [&[][..], &["--cosine"][..], &["--no-content-check"][..]] {
        let mut args = vec!["dedup", "--json"];
        args.extend(options);
        let folder = run(&index, &args);
        assert!(folder.status.success(), "{}", stderr(&folder));
        let milvus = on_store(&store.url, &args);
        assert!(milvus.status.success(), "{}", stderr(&milvus));
        let (folder, milvus) = (stdout_json(&folder), stdout_json(&milvus));
        assert_alike(&milvus, &folder, &format!("dedup {options:?}"));
        // Groups were found: the comparison compared decisions, not two empty lists.
        assert!(folder["groups"].as_array().unwrap().len() >= 4, "{folder}");
    }
}

/// The groups of a serving server, once found.
fn served_groups(server: &Server, query: &str) -> serde_json::Value {
    server.wait_for(&format!("/api/groups?{query}"), 120, |v| {
        v["state"] == "ready"
    })
}

/// Each group's id and member paths.
fn group_members(list: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    list["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let paths = g["members"].as_array().unwrap().iter();
            (
                g["id"].as_str().unwrap().to_string(),
                paths
                    .map(|m| m["path"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn serve_answers_from_milvus_as_from_the_index_folder_and_keeps_decisions_beside_it() {
    let Some(address) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (photos, index) = sample_library(tmp.path());
    let store = Collection::new(address, "serve");
    let out = on_store(&store.url, &["index", photos.to_str().unwrap(), "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let local = tmp.path().join("local");
    let photos_arg = photos.to_str().unwrap();
    let folder = Server::start(&index, &[]);
    let milvus = Server::start(&local, &["--store", &store.url, photos_arg]);

    // Query by example, similar and copies, as from the index folder.
    for name in PHOTOS {
        let path = encode(photos.join(name).to_str().unwrap());
        for mode in ["similar", "copies"] {
            let target = format!("/api/query?path={path}&k=20&mode={mode}");
            let (a, b) = (milvus.get(&target), folder.get(&target));
            assert_eq!(a.status, 200, "{name} {mode}: {}", a.error());
            let (a, b) = (a.json(), b.json());
            let (list_a, list_b) = (
                neighbour_list(&a["neighbors"]),
                neighbour_list(&b["neighbors"]),
            );
            assert!(!list_a.is_empty(), "{name} {mode}");
            assert_same_answers(&list_a, &list_b, &format!("{name} {mode}"));
            // Each file described as the folder describes it.
            for (x, y) in a["neighbors"]
                .as_array()
                .unwrap()
                .iter()
                .zip(b["neighbors"].as_array().unwrap())
            {
                for field in ["size", "modified", "width", "height", "exact"] {
                    assert_eq!(x[field], y[field], "{name} {mode} {field}: {x}");
                }
                assert!(x["width"].as_u64().unwrap() > 0, "{x}");
            }
        }
    }
    // A thumbnail of an indexed file; a file the collection does not hold is refused.
    let rocket = encode(photos.join("rocket.jpg").to_str().unwrap());
    let thumb = milvus.get(&format!("/api/thumb?path={rocket}&size=128"));
    assert_eq!(thumb.status, 200);
    assert_eq!(&thumb.body[..2], &[0xff, 0xd8], "a JPEG");
    let outside = encode(sample_photos().join("rocket.jpg").to_str().unwrap());
    assert_eq!(
        milvus.get(&format!("/api/thumb?path={outside}")).status,
        404
    );

    // The duplicate groups of the index folder.
    let groups = served_groups(&milvus, "");
    assert_eq!(
        group_members(&groups),
        group_members(&served_groups(&folder, "")),
        "{groups}"
    );
    assert!(groups["total"].as_u64().unwrap() >= 2, "{groups}");
    drop(folder);

    // A decision is kept beside the collection: the group stays hidden for `dedup --store`
    // and for the next server.
    let coffee = group_members(&groups)
        .into_iter()
        .find(|(_, paths)| paths.iter().any(|p| p.ends_with("coffee-small.jpg")))
        .expect("the coffee pair is a group");
    let r = milvus.post_json(
        "/api/decisions",
        &serde_json::json!({"group": coffee.0, "verdict": "not-duplicates"}),
    );
    assert_eq!(r.status, 200, "{}", r.error());
    let hidden = served_groups(&milvus, "");
    assert_eq!(hidden["total"], groups["total"].as_u64().unwrap() - 1);
    assert_eq!(hidden["counts"]["hidden"], 1);
    milvus.stop();
    let listed = |extra: &[&str]| {
        let mut args = vec!["dedup", "--json"];
        args.extend(extra);
        let out = on_store(&store.url, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        group_members(&stdout_json(&out))
    };
    assert!(listed(&[]).iter().all(|g| g.0 != coffee.0));
    assert!(listed(&["--include-decided"])
        .iter()
        .any(|g| g.0 == coffee.0));
    let milvus = Server::start(&local, &["--store", &store.url, photos_arg]);
    let again = served_groups(&milvus, "decided=only");
    assert_eq!(group_members(&again), vec![coffee.clone()], "{again}");
    assert_eq!(again["groups"][0]["decision"]["verdict"], "not-duplicates");
    let r = milvus.post_json(
        "/api/decisions",
        &serde_json::json!({"group": coffee.0, "verdict": "clear"}),
    );
    assert_eq!(r.status, 200, "{}", r.error());
    assert_eq!(served_groups(&milvus, "")["total"], groups["total"]);

    // An accepted group's copy moved away, journaled under the local folder, and undone.
    let rockets = group_members(&groups)
        .into_iter()
        .find(|(_, paths)| paths.iter().any(|p| p.ends_with("copies/rocket.jpg")))
        .expect("the rocket pair is a group");
    let r = milvus.post_json(
        "/api/decisions",
        &serde_json::json!({"group": rockets.0, "verdict": "accepted"}),
    );
    assert_eq!(r.status, 200, "{}", r.error());
    let to = tmp.path().join("moved");
    let run = serde_json::json!({"action": "move", "to": to.to_str().unwrap(), "confirm": true});
    let done = milvus.post_json("/api/actions/run", &run).json();
    assert_eq!(done["done"], 1, "{done}");
    let journal = done["journal"].as_str().unwrap();
    assert!(local.join("journal").join(journal).is_file(), "{done}");
    let moved = PathBuf::from(&rockets.1[1]);
    assert!(!moved.exists());
    let undone = milvus
        .post_json("/api/undo", &serde_json::json!({"journal": journal}))
        .json();
    assert_eq!(undone["restored"], 1, "{undone}");
    assert!(moved.exists());

    // Re-indexing from the web app writes the new photo's row.
    std::fs::copy(
        sample_photos().join("gravel.png"),
        photos.join("gravel-2.png"),
    )
    .unwrap();
    let r = milvus.post_json("/api/reindex", &serde_json::json!({}));
    assert_eq!(r.status, 202, "{}", r.error());
    let status = milvus.wait_for("/api/status", 120, |v| {
        v["reindex"]["running"] == false && !v["reindex"]["finished_at"].is_null()
    });
    assert_eq!(
        status["reindex"]["error"],
        serde_json::Value::Null,
        "{status}"
    );
    assert_eq!(status["index"]["files"], PHOTOS.len() + 3, "{status}");
    assert!(store.paths().0.iter().any(|p| p.ends_with("gravel-2.png")));
    let (code, err) = milvus.stop();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn an_index_folder_copied_into_milvus_answers_as_the_folder_and_needs_no_reindexing() {
    let Some(address) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (photos, index) = sample_library(tmp.path());
    let files = PHOTOS.len() + 2;
    let store = Collection::new(address, "import");
    let from = ["index", "--from-index", index.to_str().unwrap(), "--json"];
    let out = on_store(&store.url, &from);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout_json(&out);
    assert_eq!(report["written"], files, "{report}");
    assert_eq!(store.paths().1, files);
    let keys = store.keys();

    // Copied again, then the photos indexed: nothing to write either time.
    let report = stdout_json(&on_store(&store.url, &from));
    assert_eq!(
        (report["written"].clone(), report["unchanged"].clone()),
        (0.into(), files.into())
    );
    let out = on_store(&store.url, &["index", photos.to_str().unwrap(), "--json"]);
    let report = stdout_json(&out);
    assert_eq!(report["embedded"], 0, "{report}");
    assert_eq!(report["unchanged"], files, "{report}");
    assert_eq!(store.keys(), keys, "rows were written again");

    for name in PHOTOS {
        let q = photos.join(name);
        let args = [
            "query",
            q.to_str().unwrap(),
            "-k",
            "20",
            "--copies",
            "--json",
        ];
        let (folder, milvus) = (run(&index, &args), on_store(&store.url, &args));
        assert!(milvus.status.success(), "{}", stderr(&milvus));
        assert_alike(&stdout_json(&milvus), &stdout_json(&folder), name);
    }
    let folder = stdout_json(&run(&index, &["dedup", "--json"]));
    let milvus = stdout_json(&on_store(&store.url, &["dedup", "--json"]));
    assert_alike(&milvus, &folder, "dedup");
    assert!(!folder["groups"].as_array().unwrap().is_empty(), "{folder}");
}

#[test]
fn text_search_from_milvus_answers_as_from_the_index_folder() {
    let Some(address) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (photos, index) = sample_library(tmp.path());
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/clip-tiny");
    let clip = clip.to_str().unwrap();
    let dir = photos.to_str().unwrap();
    let out = run(&index, &["index", dir, "--model", clip, "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = Collection::new(address, "search");
    let sem = store.milvus.sibling(&format!(
        "{}{}{}",
        store.milvus.url().collection,
        lookalike::index::cluster::SEMANTIC_INFIX,
        &lookalike::model::pretrained::Pretrained::open(Path::new(clip))
            .unwrap()
            .info()
            .weights_hash[..12]
    ));
    sem.drop_collection().unwrap();
    // Before a pretrained model is added, search says how to add one.
    assert!(on_store(&store.url, &["index", dir, "-q"]).status.success());
    let out = on_store(&store.url, &["search", "a cat"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("holds no pretrained model"),
        "{}",
        stderr(&out)
    );

    let out = on_store(&store.url, &["index", dir, "--model", clip, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout_json(&out);
    // The identical rocket is embedded once.
    assert_eq!(
        report["pretrained"][0]["embedded"],
        PHOTOS.len() + 1,
        "{report}"
    );
    assert_eq!(sem.list("", &["path"]).unwrap().len(), PHOTOS.len() + 2);
    // Run again: the held model has nothing to embed.
    let report = stdout_json(&on_store(&store.url, &["index", dir, "--json"]));
    assert_eq!(report["pretrained"][0]["embedded"], 0, "{report}");
    assert_eq!(
        report["pretrained"][0]["present"],
        PHOTOS.len() + 2,
        "{report}"
    );

    let chelsea = photos.join("chelsea.png");
    for args in [
        vec!["search", "a cat", "-k", "20", "--json"],
        vec![
            "search",
            "a rocket",
            "--subtract",
            chelsea.to_str().unwrap(),
            "-k",
            "20",
            "--json",
        ],
    ] {
        let folder = run(&index, &args);
        assert!(folder.status.success(), "{}", stderr(&folder));
        let milvus = on_store(&store.url, &args);
        assert!(milvus.status.success(), "{}", stderr(&milvus));
        let (f, m) = (
            neighbours(&stdout_json(&folder)),
            neighbours(&stdout_json(&milvus)),
        );
        assert_eq!(f.len(), PHOTOS.len() + 2);
        assert_same_answers(&m, &f, &args.join(" "));
    }
    // query uses the pretrained model too, as from the index folder.
    let args = ["query", chelsea.to_str().unwrap(), "-k", "20", "--json"];
    let (f, m) = (run(&index, &args), on_store(&store.url, &args));
    assert!(m.status.success(), "{}", stderr(&m));
    assert_same_answers(
        &neighbours(&stdout_json(&m)),
        &neighbours(&stdout_json(&f)),
        "query",
    );
    // A file removed: its row goes from the model's collection too.
    std::fs::remove_file(photos.join("coins.png")).unwrap();
    assert!(on_store(&store.url, &["index", dir, "-q"]).status.success());
    let rows = sem.list("", &["path"]).unwrap();
    assert_eq!(rows.len(), PHOTOS.len() + 1, "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| !r["path"].as_str().unwrap().ends_with("coins.png")));
    sem.drop_collection().unwrap();
}

#[test]
fn two_workers_with_a_shard_each_make_the_collection_of_one_worker() {
    let Some(address) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (photos, _) = sample_library(tmp.path());
    let dir = photos.to_str().unwrap();
    let one = Collection::new(address, "one_worker");
    let out = on_store(&one.url, &["index", dir, "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let two = Collection::new(address, "two_workers");
    let mut scanned = 0;
    for shard in ["1/2", "2/2"] {
        let out = on_store(&two.url, &["index", dir, "--shard", shard, "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let report = stdout_json(&out);
        // Each worker takes a part of the files (both parts are not empty here).
        let part = report["scanned"].as_u64().unwrap();
        assert!(part > 0 && part < PHOTOS.len() as u64 + 2, "{report}");
        scanned += part;
    }
    assert_eq!(scanned, PHOTOS.len() as u64 + 2);
    assert_eq!(two.paths(), one.paths());
    for (a, b) in answers(&two.url, &photos)
        .iter()
        .zip(answers(&one.url, &photos))
    {
        assert_same_answers(a, &b, "two workers against one");
    }
}

#[test]
fn a_rerun_changes_only_what_changed_on_disk() {
    let Some(address) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (photos, _) = sample_library(tmp.path());
    let dir = photos.to_str().unwrap();
    let store = Collection::new(address, "rerun");
    assert!(on_store(&store.url, &["index", dir, "-q"]).status.success());
    let files = PHOTOS.len() + 2;
    let keys = store.keys();

    let out = on_store(&store.url, &["index", dir, "--json"]);
    let report = stdout_json(&out);
    assert_eq!(report["embedded"], 0);
    assert_eq!(report["unchanged"], files);
    // Regression: the rows are left as they were, not written again.
    assert_eq!(
        store.keys(),
        keys,
        "a rerun on unchanged files rewrote rows"
    );

    // One file removed, one replaced by another picture.
    std::fs::remove_file(photos.join("coins.png")).unwrap();
    std::fs::copy(photos.join("camera.png"), photos.join("gravel.png")).unwrap();
    let out = on_store(&store.url, &["index", dir, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout_json(&out);
    assert_eq!(report["removed"], 1, "{report}");
    assert_eq!(report["copies"], 1, "{report}");
    let (paths, rows) = store.paths();
    assert_eq!(rows, files - 1, "one row per file, none twice");
    assert!(!paths.iter().any(|p| p.ends_with("coins.png")));

    // The replaced file now answers as the camera.
    let q = photos.join("camera.png");
    let out = on_store(
        &store.url,
        &["query", q.to_str().unwrap(), "-k", "2", "--json"],
    );
    let found = neighbours(&stdout_json(&out));
    let names: HashSet<String> = found.iter().map(|n| file_name(&n.0)).collect();
    assert_eq!(
        names,
        HashSet::from(["camera.png".to_string(), "gravel.png".to_string()])
    );
    assert!(found.iter().all(|n| n.1 > 0.999), "{found:?}");
}

#[test]
fn a_worker_killed_mid_run_and_run_again_leaves_each_file_once() {
    let Some(address) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let pictures = distinct_pictures(&tmp.path().join("pictures"), 60);
    let dir = tmp.path().join("pictures").canonicalize().unwrap();
    let dir = dir.to_str().unwrap();
    let store = Collection::new(address, "killed");
    // The collection is made first, so that the kill falls among the batches.
    assert!(
        on_store(&store.url, &["index", pictures[0].to_str().unwrap(), "-q"])
            .status
            .success()
    );
    let mut child = bin()
        .args([
            "index",
            dir,
            "--batch-size",
            "1",
            "-q",
            "--store",
            &store.url,
        ])
        .spawn()
        .unwrap();
    store.await_rows(3);
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, rows_at_kill) = store.paths();
    assert!(rows_at_kill < 60, "killed after the run had finished");

    let out = on_store(&store.url, &["index", dir, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (paths, rows) = store.paths();
    assert_eq!(rows, 60, "no duplicate, no missing record");
    let expected: HashSet<String> = pictures
        .iter()
        .map(|p| p.canonicalize().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(paths, expected);
    // The copy descriptors' collection is derived again: one row per file there too.
    let copies = store.copies.list("", &["path"]).unwrap();
    assert_eq!(copies.len(), 60);
    let copy_paths: HashSet<String> = copies
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(copy_paths, expected);
    let out = on_store(&store.url, &["verify", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stdout_json(&out)["consistent"], true);
}

#[test]
fn verify_names_what_is_wrong_in_a_collection() {
    let Some(address) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (photos, _) = sample_library(tmp.path());
    let store = Collection::new(address, "verify");
    assert!(
        on_store(&store.url, &["index", photos.to_str().unwrap(), "-q"])
            .status
            .success()
    );
    let out = on_store(&store.url, &["verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("consistent"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A second row of a path, written as a killed run leaves one, with a descriptor that
    // is not of unit length and in the wrong bucket; no copy row for it.
    let mut row = store
        .milvus
        .list(
            "",
            &[
                "path", "size", "mtime", "hash", "w", "h", "bucket", "vector", "copy",
            ],
        )
        .unwrap()
        .remove(0);
    let path = row["path"].as_str().unwrap().to_string();
    row.as_object_mut().unwrap().remove("id");
    row["vector"] = serde_json::json!(row["vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() * 2.0)
        .collect::<Vec<_>>());
    row["hash"] = serde_json::json!("ab".repeat(32));
    row["bucket"] = serde_json::json!((row["bucket"].as_u64().unwrap() + 1) % 65_536);
    let dim = row["vector"].as_array().unwrap().len();
    store.milvus.insert(&[row]).unwrap();
    store.milvus.barrier(dim).unwrap();
    let out = on_store(&store.url, &["verify", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = stdout_json(&out);
    let problems: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&path) && p.contains("length 2.0000")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&path) && p.contains("bucket")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("1 paths with more than one row")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("1 files without their copy row")),
        "{problems:?}"
    );
}

/// A TCP relay to the server that can be cut: Milvus going away, as a client sees it.
struct Relay {
    address: String,
    cut: Arc<AtomicBool>,
}

impl Relay {
    fn to(server: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let (server, flag) = (server.to_string(), cut.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(upstream) = TcpStream::connect(&server) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 65536];
                        while !flag.load(Ordering::SeqCst) {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) if to.write_all(&buf[..n]).is_err() => break,
                                Ok(_) => {}
                            }
                        }
                        let _ = from.shutdown(std::net::Shutdown::Both);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { address, cut }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        // Wake the accepting thread so that it stops listening.
        let _ = TcpStream::connect(&self.address);
    }
}

#[test]
fn milvus_gone_mid_run_is_a_clear_error_and_the_next_run_finishes() {
    let Some(address) = server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let pictures = distinct_pictures(&tmp.path().join("pictures"), 60);
    let dir = tmp.path().join("pictures").canonicalize().unwrap();
    let dir = dir.to_str().unwrap();
    let store = Collection::new(address, "cut_off");
    let relay = Relay::to(address);
    let name = store.url.rsplit('/').next().unwrap();
    let via_relay = format!("milvus://{}/{name}", relay.address);
    assert!(
        on_store(&via_relay, &["index", pictures[0].to_str().unwrap(), "-q"])
            .status
            .success()
    );
    let child = bin()
        .args([
            "index",
            dir,
            "--batch-size",
            "1",
            "-q",
            "--store",
            &via_relay,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    store.await_rows(3);
    relay.cut();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains(&via_relay), "{message}");
    assert!(
        message.contains("cannot reach the server") || message.contains("Milvus at"),
        "{message}"
    );

    // The next run, with the server back, finishes the work: each file once.
    let out = on_store(&store.url, &["index", dir, "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(store.paths().1, 60);
}

#[test]
fn a_collection_of_another_model_is_refused_before_anything_is_written() {
    let Some(address) = server() else { return };
    let store = Collection::new(address, "other_model");
    let other = ModelInfo {
        name: "other".into(),
        arch: "other".into(),
        input_size: 32,
        dim: 8,
        weights_hash: "0123456789abcdef".into(),
        copy_dim: 0,
    };
    store.milvus.open_or_create(&other, 8).unwrap();
    let photos = sample_photos();
    let out = on_store(&store.url, &["index", photos.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(message.contains("model mismatch"), "{message}");
    assert!(message.contains(&store.url), "{message}");
    assert!(message.contains("other@"), "{message}");
    assert_eq!(store.paths().1, 0);
    let q = photos.join("rocket.jpg");
    let out = on_store(&store.url, &["query", q.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("model mismatch"));
}

#[test]
fn commands_that_do_not_read_a_milvus_store_yet_say_so() {
    // No server needed: each is refused with exit 2 before anything is opened.
    let refused = |args: &[&str], says: &str| {
        let out = bin()
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    };
    let store = ["--store", "milvus://127.0.0.1:9/photos"];
    refused(
        &[&["compact"][..], &store].concat(),
        "only `index`, `query`, `search`, `dedup`, `serve`, `info` and",
    );
    let folder = tempfile::tempdir().unwrap();
    let folder = folder.path().join("i");
    let folder = folder.to_str().unwrap();
    refused(
        &["index", "samples", "--shard", "1/2", "--index", folder],
        "--shard",
    );
    // --from-index copies the folder's records as they are: no model to pick.
    refused(
        &[&["index", "--from-index", "i", "--model", "m"][..], &store].concat(),
        "cannot be used with",
    );
}
