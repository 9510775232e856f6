//! The mistakes users make, command by command, and the answer each must get: the exit
//! status (2 for usage and fatal errors, 1 for per-file problems), the key words of the
//! message (naming the path or value), and, where the command fails before doing its work,
//! a file system left as it was (nothing created, nothing removed).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One wrong input and its expected answer.
struct Case {
    args: &'static [&'static str],
    exit: i32,
    /// Words the output (stderr, then stdout) must contain.
    words: &'static [&'static str],
    /// Words it must not contain (a misleading answer seen before).
    not: &'static [&'static str],
}

const fn case(args: &'static [&'static str], exit: i32, words: &'static [&'static str]) -> Case {
    Case {
        args,
        exit,
        words,
        not: &[],
    }
}

/// Every path under `dir` (files and folders), relative.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| {
            // Inside an index, sled may rewrite its own files on open.
            let p = e.path().to_string_lossy();
            !p.contains("/idx/") && !p.contains("/empty-idx/")
        })
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect()
}

#[test]
fn every_command_answers_wrong_input_precisely() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let photos = root.join("photos");
    common::copy_dir(&common::sample_photos(), &photos);
    // Every case runs from `root`, with paths relative to it.
    let index = common::bin()
        .current_dir(root)
        .args(["index", "photos", "--index", "idx", "-q"])
        .output()
        .unwrap();
    assert_eq!(index.status.code(), Some(0), "{}", common::stderr(&index));
    std::fs::create_dir_all(root.join("empty")).unwrap();
    // An index of an empty folder: an empty index.
    std::fs::create_dir_all(root.join("no-photos")).unwrap();
    let empty_index = common::bin()
        .current_dir(root)
        .args(["index", "no-photos", "--index", "empty-idx", "-q"])
        .output()
        .unwrap();
    assert_eq!(
        empty_index.status.code(),
        Some(0),
        "{}",
        common::stderr(&empty_index)
    );
    std::fs::write(root.join("notes.txt"), "not an image, not a journal\n").unwrap();
    let model = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/lookalike-two-heads-lite0-f16.safetensors"),
    )
    .unwrap();
    std::fs::write(root.join("truncated.safetensors"), &model[..1000]).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/efficientnet-lite0-imagenet-f16.safetensors"),
        root.join("imagenet.safetensors"),
    )
    .unwrap();

    let cases = [
        // index
        Case {
            args: &["index", "missing-dir", "--index", "new-index"],
            exit: 2,
            words: &[
                "missing-dir",
                "no such file or folder",
                "nothing was indexed",
            ],
            // The error once, not twice.
            not: &["(os error 2): No such file"],
        },
        case(
            &[
                "index",
                "photos",
                "--model",
                "truncated.safetensors",
                "--index",
                "new-index",
            ],
            2,
            &["truncated.safetensors", "not a safetensors file"],
        ),
        case(
            &[
                "index",
                "photos",
                "--model",
                "no-such-model",
                "--index",
                "new-index",
            ],
            2,
            &["no-such-model"],
        ),
        case(
            &[
                "index",
                "photos",
                "--batch-size",
                "x",
                "--index",
                "new-index",
            ],
            2,
            &["--batch-size"],
        ),
        // query
        Case {
            args: &["query", "missing.jpg", "--index", "idx"],
            exit: 1,
            words: &["missing.jpg", "no such file"],
            not: &["vanished", "indexing"],
        },
        case(
            &["query", "photos", "--index", "idx"],
            1,
            &["photos", "a folder, not an image"],
        ),
        case(
            &["query", "notes.txt", "--index", "idx"],
            1,
            &["notes.txt", "not an image"],
        ),
        Case {
            args: &["query", "photos/chelsea.png", "-k", "0", "--index", "idx"],
            exit: 2,
            words: &["0", "1..=100000"],
            not: &["the index is empty"],
        },
        case(
            &[
                "query",
                "photos/chelsea.png",
                "-k",
                "99999999999",
                "--index",
                "idx",
            ],
            2,
            &["1..=100000"],
        ),
        case(
            &["query", "photos/chelsea.png", "--index", "empty"],
            2,
            &["no index at empty"],
        ),
        case(
            &["query", "photos/chelsea.png", "--index", "notes.txt"],
            2,
            &["no index at notes.txt"],
        ),
        // search
        case(
            &["search", "a dog", "-k", "0", "--index", "idx"],
            2,
            &["1..=100000"],
        ),
        case(
            &["search", "a dog", "--index", "idx"],
            2,
            &["holds no pretrained model", "--model"],
        ),
        case(
            &["search", "a dog", "--index", "no-index-here"],
            2,
            &["no index at no-index-here"],
        ),
        // dedup
        case(
            &["dedup", "--index", "no-index-here"],
            2,
            &["no index at no-index-here"],
        ),
        case(
            &["dedup", "--yes", "--index", "idx"],
            2,
            &["--yes", "--move-to"],
        ),
        case(
            &["dedup", "--move-to", "moved", "--trash", "--index", "idx"],
            2,
            &["--move-to", "--trash"],
        ),
        case(
            &["dedup", "--threshold", "7", "--index", "idx"],
            2,
            &["--threshold", "7"],
        ),
        case(
            &["dedup", "--html", "no-dir/report.html", "--index", "idx"],
            2,
            &["no-dir/report.html"],
        ),
        case(
            &["train", "photos", "--out", "notes.txt/model.safetensors"],
            2,
            &["notes.txt/model.safetensors", "not a folder"],
        ),
        case(
            &["train", "photos", "--out", "photos"],
            2,
            &["photos", "is a folder"],
        ),
        case(
            &[
                "combine",
                "--query",
                "missing.safetensors",
                "--copy",
                "missing.safetensors",
                "--out",
                "notes.txt/m.safetensors",
            ],
            2,
            &["notes.txt/m.safetensors", "not a folder"],
        ),
        // an index built with another model
        case(
            &[
                "query",
                "photos/chelsea.png",
                "--index",
                "idx",
                "--model",
                "imagenet.safetensors",
            ],
            2,
            &["model mismatch", "efficientnet-lite0-imagenet"],
        ),
        // an empty index answers, and says so
        case(
            &["query", "photos/chelsea.png", "--index", "empty-idx"],
            0,
            &["the index is empty"],
        ),
        // serve
        case(
            &["serve", "--listen", "not-an-address", "--index", "idx"],
            2,
            &["not-an-address", "--listen"],
        ),
        case(
            &["serve", "--token", "short", "--index", "idx"],
            2,
            &["--token", "16"],
        ),
        case(
            &["serve", "--index", "no-index-here"],
            2,
            &["no index at no-index-here"],
        ),
        // undo
        case(
            &["undo", "notes.txt"],
            2,
            &["notes.txt", "not a dedup journal"],
        ),
        case(&["undo", "missing.jsonl"], 2, &["missing.jsonl"]),
        // embed, info, eval, models
        case(
            &["embed", "missing.jpg"],
            2,
            &["missing.jpg", "no such file"],
        ),
        case(&["info", "--index", "empty"], 2, &["no index at empty"]),
        case(
            &["eval", "retrieval", "missing-dir"],
            2,
            &["missing-dir", "not a folder"],
        ),
        case(
            &["models", "fetch", "no-such-model", "--offline"],
            2,
            &["no-such-model", "models list"],
        ),
    ];
    for c in &cases {
        let before = tree(root);
        let out = common::bin()
            .current_dir(root)
            .args(c.args)
            .env("LOOKALIKE_MODELS", root.join("model-cache"))
            .output()
            .unwrap();
        let err = common::stderr(&out) + &String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(c.exit), "{:?}: {err}", c.args);
        for w in c.words {
            assert!(err.contains(w), "{:?}: message lacks {w:?}: {err}", c.args);
        }
        for w in c.not {
            assert!(!err.contains(w), "{:?}: message says {w:?}: {err}", c.args);
        }
        assert_eq!(tree(root), before, "{:?} changed the files", c.args);
    }

    // serve on a port in use: refused, naming the address, nothing created.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let before = tree(root);
    let out = common::bin()
        .current_dir(root)
        .args(["serve", "--listen", &addr, "--index", "idx"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains(&addr),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(tree(root), before);
}
