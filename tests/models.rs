//! `lookalike models list|fetch` against a stand-in for the Hugging Face hub on loopback
//! (`tests/common/hub.rs`): download, checksums, resuming, and offline use of the cache. No
//! test reaches the internet.

mod common;

use common::hub::{self, Mode};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

const NAME: &str = "clip-vit-b32";
const REPO: &str = "openai/clip-vit-base-patch32";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/clip-tiny")
}

fn files() -> HashMap<String, Vec<u8>> {
    [
        "config.json",
        "preprocessor_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    .iter()
    .map(|f| (f.to_string(), std::fs::read(fixture().join(f)).unwrap()))
    .collect()
}

/// Runs `lookalike ARGS` with the model cache in `cache` and the hub at `endpoint`.
fn lookalike(cache: &Path, endpoint: &str, args: &[&str]) -> Output {
    common::bin()
        .args(args)
        .env("LOOKALIKE_MODELS", cache)
        .env("HF_ENDPOINT", endpoint)
        .output()
        .unwrap()
}

/// An endpoint where nothing listens: any attempt to download fails.
const NOWHERE: &str = "http://127.0.0.1:9";

#[test]
fn fetch_downloads_checks_and_is_used_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let server = hub::serve(REPO, files(), Mode::Normal);

    let out = lookalike(&cache, &server.url, &["models", "fetch", NAME, "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let folder = PathBuf::from(common::stdout_json(&out)["folder"].as_str().unwrap());
    assert!(folder.starts_with(&cache), "{folder:?}");
    for (name, bytes) in files() {
        assert_eq!(std::fs::read(folder.join(&name)).unwrap(), bytes, "{name}");
    }

    // Offline from now on: the cache serves list, fetch --offline, and --model NAME.
    let out = lookalike(&cache, NOWHERE, &["models", "list", "--json"]);
    let v = common::stdout_json(&out);
    let entry = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == NAME)
        .unwrap()
        .clone();
    assert_eq!(
        entry["folder"].as_str().map(PathBuf::from),
        Some(folder.clone()),
        "{v}"
    );
    let out = lookalike(&cache, NOWHERE, &["models", "fetch", NAME, "--offline"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = lookalike(&cache, NOWHERE, &["models", "fetch", NAME]);
    assert!(
        out.status.success(),
        "cached: no network needed: {}",
        common::stderr(&out)
    );

    let index = tmp.path().join("index");
    let photos = common::sample_photos();
    let out = common::bin()
        .args([
            "index",
            photos.to_str().unwrap(),
            "--model",
            NAME,
            "--json",
            "--index",
        ])
        .arg(&index)
        .env("LOOKALIKE_MODELS", &cache)
        .env("HF_ENDPOINT", NOWHERE)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let report = common::stdout_json(&out);
    assert_eq!(report["pretrained"][0]["embedded"], 8, "{report}");
    assert!(
        report["pretrained"][0]["model"]
            .as_str()
            .unwrap()
            .starts_with(REPO),
        "{report}"
    );
}

#[test]
fn a_checksum_mismatch_is_refused_and_nothing_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let server = hub::serve(REPO, files(), Mode::Corrupt);
    let out = lookalike(&cache, &server.url, &["models", "fetch", NAME]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("checksum mismatch"),
        "{}",
        common::stderr(&out)
    );
    let out = lookalike(&cache, NOWHERE, &["models", "fetch", NAME, "--offline"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("not in the cache"),
        "{}",
        common::stderr(&out)
    );
    // No blob holds the corrupt bytes.
    let weights = std::fs::read(fixture().join("model.safetensors")).unwrap();
    for entry in walkdir::WalkDir::new(&cache).into_iter().flatten() {
        if entry.file_type().is_file() {
            assert_ne!(
                std::fs::metadata(entry.path()).unwrap().len(),
                weights.len() as u64,
                "{:?} kept",
                entry.path()
            );
        }
    }
}

#[test]
fn an_interrupted_download_is_resumed() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let cut = 100_000;
    let server = hub::serve(REPO, files(), Mode::CutAfter(cut));
    let out = lookalike(&cache, &server.url, &["models", "fetch", NAME]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("again to resume"),
        "{}",
        common::stderr(&out)
    );

    let out = lookalike(&cache, &server.url, &["models", "fetch", NAME, "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let folder = PathBuf::from(common::stdout_json(&out)["folder"].as_str().unwrap());
    assert_eq!(
        std::fs::read(folder.join("model.safetensors")).unwrap(),
        std::fs::read(fixture().join("model.safetensors")).unwrap()
    );
    // The second download asked for the rest only.
    let ranges = server.ranges.lock().unwrap().clone();
    assert!(ranges.contains(&format!("bytes={cut}-")), "{ranges:?}");
}

#[test]
fn unknown_names_and_missing_models_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out = lookalike(&cache, NOWHERE, &["models", "fetch", "no-such-model"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("models list"),
        "{}",
        common::stderr(&out)
    );
    let out = lookalike(&cache, NOWHERE, &["models", "fetch", NAME]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("download failed"),
        "{}",
        common::stderr(&out)
    );
    let index = tmp.path().join("index");
    let out = common::bin()
        .args([
            "index",
            common::sample_photos().to_str().unwrap(),
            "--model",
            NAME,
            "--index",
        ])
        .arg(&index)
        .env("LOOKALIKE_MODELS", &cache)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("models fetch clip-vit-b32"),
        "{}",
        common::stderr(&out)
    );
    assert!(!index.exists(), "an index was created");
}
