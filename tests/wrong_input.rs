//! The mistakes users make, command by command, and the answer each must get: the exit
//! status (2 for usage and fatal errors, 1 for per-file problems), the key words of the
//! message (naming the path or value), and, where the command fails before doing its work,
//! a file system left as it was (nothing created, nothing removed).

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One wrong input and its expected answer.
struct Case {
    /// The arguments, split at spaces; a quoted argument ('a dog') keeps its spaces.
    args: &'static str,
    exit: i32,
    /// Words the output (stderr, then stdout) must contain.
    words: &'static [&'static str],
    /// Words it must not contain (a misleading answer seen before).
    not: &'static [&'static str],
}

const fn case(args: &'static str, exit: i32, words: &'static [&'static str]) -> Case {
    Case {
        args,
        exit,
        words,
        not: &[],
    }
}

/// The words of `args`, split at spaces, a quoted word ('a dog') kept whole.
fn split(args: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut rest = args.trim();
    while !rest.is_empty() {
        let (word, tail) = match rest.strip_prefix('\'') {
            Some(quoted) => quoted.split_once('\'').expect("closing quote"),
            None => rest.split_once(' ').unwrap_or((rest, "")),
        };
        words.push(word);
        rest = tail.trim_start();
    }
    words
}

/// Every path under `dir` (files and folders), relative.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| {
            // Inside an index, sled may rewrite its own files on open.
            let p = e.path().to_string_lossy();
            !["/idx/", "/empty-idx/", "/clip-idx/"]
                .iter()
                .any(|i| p.contains(i))
        })
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect()
}

/// Permissions do not bind root: when the tests run as root, the test folder is given to the
/// unprivileged user `nobody` (uid and gid 65534) and every case runs as that user, so that a
/// file with mode 000 is unreadable as it is for anyone else.
fn unprivileged_user(root: &Path) -> Option<(u32, u32)> {
    if std::fs::metadata(root).unwrap().uid() != 0 {
        return None;
    }
    let nobody = (65534, 65534);
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.unwrap();
        std::os::unix::fs::lchown(entry.path(), Some(nobody.0), Some(nobody.1)).unwrap();
    }
    Some(nobody)
}

/// The binary, run from `root` as `user` (see [`unprivileged_user`]).
fn lookalike(root: &Path, user: Option<(u32, u32)>) -> Command {
    let mut cmd = common::bin();
    cmd.current_dir(root)
        .env("HOME", root)
        .env("LOOKALIKE_MODELS", root.join("model-cache"));
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// Whether `message` has `words`, in any case ("Permission denied" from the system).
fn has(message: &str, words: &str) -> bool {
    message.to_lowercase().contains(&words.to_lowercase())
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn every_command_answers_wrong_input_precisely() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let photos = root.join("photos");
    common::copy_dir(&common::sample_photos(), &photos);
    // Every case runs from `root`, with paths relative to it. The indexes the cases use: one
    // of the photos, one of an empty folder, one with a text model (for `search`).
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::create_dir_all(root.join("no-photos")).unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let clip = manifest.join("tests/fixtures/models/clip-tiny");
    common::copy_dir(&clip, &root.join("clip-tiny"));
    for setup in [
        "index photos --index idx -q",
        "index no-photos --index empty-idx -q",
        "index photos --index clip-idx -q --model clip-tiny",
    ] {
        let out = common::bin()
            .current_dir(root)
            .args(split(setup))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{setup}: {}",
            common::stderr(&out)
        );
    }
    std::fs::write(root.join("notes.txt"), "not an image, not a journal\n").unwrap();
    let model =
        std::fs::read(manifest.join("models/lookalike-two-heads-lite0-f16.safetensors")).unwrap();
    std::fs::write(root.join("truncated.safetensors"), &model[..1000]).unwrap();
    // A pretrained model folder that lacks its weights.
    common::copy_dir(&clip, &root.join("clip-without-weights"));
    std::fs::remove_file(root.join("clip-without-weights/model.safetensors")).unwrap();
    let imagenet = manifest.join("models/efficientnet-lite0-imagenet-f16.safetensors");
    std::fs::copy(&imagenet, root.join("imagenet.safetensors")).unwrap();
    // Things that cannot be read or written: mode 000 files and folders, a folder without
    // write permission, a folder holding a readable photo beside unreadable ones.
    std::fs::copy(photos.join("chelsea.png"), root.join("locked.jpg")).unwrap();
    common::copy_photos(&root.join("locked-dir"), &["coffee.png"]);
    std::fs::write(root.join("locked.jsonl"), "").unwrap();
    std::fs::copy(&imagenet, root.join("locked.safetensors")).unwrap();
    common::copy_dir(&root.join("idx"), &root.join("locked-idx"));
    std::fs::create_dir(root.join("read-only")).unwrap();
    common::copy_photos(&root.join("partly"), &["coins.png"]);
    std::fs::copy(photos.join("rocket.jpg"), root.join("partly/locked.jpg")).unwrap();
    common::copy_photos(&root.join("partly/locked-dir"), &["camera.png"]);
    let user = unprivileged_user(root);
    for locked in [
        "locked.jpg",
        "locked-dir",
        "locked.jsonl",
        "locked.safetensors",
        "locked-idx",
        "partly/locked.jpg",
        "partly/locked-dir",
    ] {
        set_mode(&root.join(locked), 0o000);
    }
    set_mode(&root.join("read-only"), 0o555);

    let cases = [
        // index
        Case {
            args: "index missing-dir --index new-index",
            exit: 2,
            words: &["missing-dir", "no such file or folder", "nothing was indexed"],
            not: &["(os error 2): No such file"],
        },
        case("index photos --model truncated.safetensors --index new-index", 2, &["truncated.safetensors", "not a safetensors file"]),
        case("index photos --model no-such-model --index new-index", 2, &["no-such-model"]),
        case("index photos --batch-size x --index new-index", 2, &["--batch-size"]),
        // query
        Case {
            args: "query missing.jpg --index idx",
            exit: 1,
            words: &["missing.jpg", "no such file"],
            not: &["vanished", "indexing"],
        },
        case("query photos --index idx", 1, &["photos", "a folder, not an image"]),
        case("query notes.txt --index idx", 1, &["notes.txt", "not an image"]),
        Case {
            args: "query photos/chelsea.png -k 0 --index idx",
            exit: 2,
            words: &["0", "1..=100000"],
            not: &["the index is empty"],
        },
        case("query photos/chelsea.png -k 99999999999 --index idx", 2, &["1..=100000"]),
        case("query photos/chelsea.png --index empty", 2, &["no index at empty"]),
        case("query photos/chelsea.png --index notes.txt", 2, &["no index at notes.txt"]),
        // search
        case("search 'a dog' -k 0 --index idx", 2, &["1..=100000"]),
        case("search 'a dog' --index idx", 2, &["holds no pretrained model", "--model"]),
        case("search 'a dog' --add beach.jpg --index clip-idx", 2, &["beach.jpg", "no such file"]),
        case("search 'a dog' --subtract photos --index clip-idx", 0, &["photos/"]),
        case("search 'a dog' --index no-index-here", 2, &["no index at no-index-here"]),
        // dedup
        case("dedup --index no-index-here", 2, &["no index at no-index-here"]),
        case("dedup --yes --index idx", 2, &["--yes", "--move-to"]),
        case("dedup --move-to moved --trash --index idx", 2, &["--move-to", "--trash"]),
        case("dedup --threshold 7 --index idx", 2, &["--threshold", "7"]),
        case("dedup --html no-dir/report.html --index idx", 2, &["no-dir/report.html"]),
        case("train photos --out notes.txt/model.safetensors", 2, &["notes.txt/model.safetensors", "not a folder"]),
        case("train photos --out photos", 2, &["photos", "is a folder"]),
        case("combine --query missing.safetensors --copy missing.safetensors --out notes.txt/m.safetensors", 2, &["notes.txt/m.safetensors", "not a folder"]),
        // an index built with another model
        case("query photos/chelsea.png --index idx --model imagenet.safetensors", 2, &["model mismatch", "efficientnet-lite0-imagenet"]),
        // an empty index answers, and says so
        case("query photos/chelsea.png --index empty-idx", 0, &["the index is empty"]),
        // serve
        case("serve --listen not-an-address --index idx", 2, &["not-an-address", "--listen"]),
        case("serve --token short --index idx", 2, &["--token", "16"]),
        case("serve --index no-index-here", 2, &["no index at no-index-here"]),
        // undo
        case("undo notes.txt", 2, &["notes.txt", "not a dedup journal"]),
        case("undo missing.jsonl", 2, &["missing.jsonl"]),
        // embed, info, eval, models
        case("embed missing.jpg", 2, &["missing.jpg", "no such file"]),
        case("info --index empty", 2, &["no index at empty"]),
        case("embed photos", 2, &["photos", "a folder, not an image"]),
        case("eval copies missing-dir", 2, &["missing-dir", "not a folder"]),
        // compact, verify
        case("compact --index no-index-here", 2, &["no index at no-index-here"]),
        case("verify --index notes.txt", 2, &["no index at notes.txt"]),
        case("verify --index locked-idx", 2, &["locked-idx", "permission denied"]),
        case("compact --index locked-idx", 2, &["locked-idx", "permission denied"]),
        case("eval retrieval missing-dir", 2, &["missing-dir", "not a folder"]),
        case("models fetch no-such-model --offline", 2, &["no-such-model", "models list"]),
        case("models fetch clip-vit-b32 --offline", 2, &["clip-vit-b32", "not in the cache"]),
        // a pretrained model folder missing a file, wrong model files
        case("index photos --model clip-without-weights --index new-index", 2, &["model.safetensors", "missing"]),
        case("calibrate photos --model notes.txt --out calibrated.safetensors", 2, &["notes.txt"]),
        Case {
            args: "combine --query imagenet.safetensors --copy truncated.safetensors --out combined.safetensors",
            exit: 2,
            words: &["imagenet.safetensors", "architecture"],
            not: &["model model"],
        },
        case("combine --query truncated.safetensors --copy imagenet.safetensors --out combined.safetensors", 2, &["truncated.safetensors", "not a safetensors file"]),
        // a folder where a file is expected
        case("undo photos", 2, &["photos"]),
        case("dedup --html photos --index idx", 2, &["photos", "is a folder"]),
        case("dedup --move-to moved --yes --journal photos --index idx", 2, &["photos", "is a folder"]),
        case("dedup --move-to notes.txt --yes --index idx", 2, &["notes.txt", "not a folder"]),
        case("eval copies photos --save-copies notes.txt", 2, &["--save-copies", "notes.txt", "not a folder"]),
        // absurd numbers, option by option
        case("index photos --batch-size 0 --index new-index", 2, &["--batch-size", "1..=100000"]),
        case("index photos --threads 0 --index new-index", 2, &["--threads", "1..=1024"]),
        case("index photos --max-pixels 0 --index new-index", 2, &["--max-pixels"]),
        case("serve --max-pixels -3 --index idx", 2, &["--max-pixels"]),
        case("dedup --near-exact -1 --index idx", 2, &["--near-exact", "0..=255"]),
        case("dedup --threshold NaN --index idx", 2, &["--threshold"]),
        case("info --wait=-5 --index idx", 2, &["--wait"]),
        case("eval copies photos --max-side 0", 2, &["--max-side", "32..=16384"]),
        case("train photos --out m.safetensors --batch-size 1", 2, &["--batch-size", "2..=4096"]),
        case("train photos --out m.safetensors --epochs 0", 2, &["--epochs", "1..=10000"]),
        case("train photos --out m.safetensors --input-size 5", 2, &["--input-size", "32..=1024"]),
        case("train photos --out m.safetensors --dim 0", 2, &["--dim", "8..=4096"]),
        case("train photos --out m.safetensors --lr nan", 2, &["--lr", "not above 0"]),
        case("train photos --out m.safetensors --temperature 0", 2, &["--temperature", "not above 0"]),
        case("train photos --out m.safetensors --koleo -1", 2, &["--koleo", "0..=100"]),
        case("train photos --out m.safetensors --distill 1e9", 2, &["--distill", "0..=100"]),
        case("train photos --out m.safetensors --freeze-blocks 17", 2, &["--freeze-blocks", "0..=16"]),
        case("train photos --out m.safetensors --checkpoint-minutes 0", 2, &["--checkpoint-minutes"]),
        case("train photos --out m.safetensors --warmup-steps 99999999", 2, &["--warmup-steps", "0..=1000000"]),
        case("train photos --out m.safetensors --queue -1", 2, &["--queue"]),
        case("train photos --out m.safetensors --background-images 1e3", 2, &["--background-images"]),
        case("query photos/chelsea.png -k -1 --index idx", 2, &["--k", "-1 is not in 1..=100000"]),
        case("train photos --out m.safetensors --hard-negatives 64 --batch-size 8", 2, &["hard-negative group (64)", "batch (8)"]),
        case("calibrate photos --model imagenet.safetensors --out calibrated.safetensors --max-images 0", 2, &["--max-images", "1..=1000000"]),
        // unreadable files and folders, unwritable outputs
        case("index locked-dir --index new-index", 2, &["locked-dir", "permission denied", "nothing was indexed"]),
        case("index locked.jpg --index new-index", 2, &["locked.jpg", "permission denied", "nothing was indexed"]),
        case("query locked.jpg --index idx", 1, &["locked.jpg", "permission denied"]),
        case("embed locked.jpg", 2, &["locked.jpg", "permission denied"]),
        case("info --index locked-idx", 2, &["locked-idx", "permission denied"]),
        case("index photos --model locked.safetensors --index new-index", 2, &["locked.safetensors", "permission denied"]),
        case("undo locked.jsonl", 2, &["locked.jsonl", "permission denied"]),
        case("eval retrieval locked-dir", 2, &["locked-dir", "permission denied"]),
        case("dedup --html read-only/report.html --index idx", 2, &["read-only/report.html", "permission denied"]),
        case("dedup --move-to moved --yes --journal read-only/j.jsonl --index idx", 2, &["read-only/j.jsonl", "permission denied"]),
        case("train photos --out read-only/m.safetensors", 2, &["read-only/m.safetensors", "permission denied"]),
        case("eval copies photos --plot read-only/pr.svg", 2, &["read-only/pr.svg", "permission denied"]),
    ];
    for c in &cases {
        let before = tree(root);
        let out = lookalike(root, user).args(split(c.args)).output().unwrap();
        let err = common::stderr(&out) + &String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(c.exit), "{:?}: {err}", c.args);
        for w in c.words {
            assert!(has(&err, w), "{:?}: message lacks {w:?}: {err}", c.args);
        }
        for w in c.not {
            assert!(!has(&err, w), "{:?}: message says {w:?}: {err}", c.args);
        }
        assert_eq!(tree(root), before, "{:?} changed the files", c.args);
    }

    // serve on a port in use: refused, naming the address, nothing created.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let before = tree(root);
    let out = lookalike(root, user)
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

    // A folder with unreadable parts: what can be read is indexed, each unreadable file and
    // folder is named with its reason, and the exit status says some were skipped.
    let out = lookalike(root, user)
        .args(["index", "partly", "--index", "partly-idx", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["embedded"], 1, "{report}");
    let skipped: Vec<String> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s["path"], s["reason"]))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    for (skip, name) in skipped.iter().zip(["locked-dir", "locked.jpg"]) {
        assert!(has(skip, name) && has(skip, "permission denied"), "{skip}");
    }
}
