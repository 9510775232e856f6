//! A trustworthy index: one process at a time (exit status 75 or `--wait`), and Ctrl-C keeps
//! what was done (exit status 130).

mod common;

use common::*;
use image::{Rgb, RgbImage};
use lookalike::index::lock::{IndexLock, Wait};
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes `n` distinct small PNGs (random-looking blocks) into `dir`.
fn write_images(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let img = RgbImage::from_fn(64, 64, |x, y| {
            let v = ((x / 8 + 1) * (y / 8 + 3) * (i as u32 + 7)).wrapping_mul(2654435761);
            Rgb([(v >> 8) as u8, (v >> 16) as u8, (v >> 24) as u8])
        });
        img.save(dir.join(format!("img{i:04}.png"))).unwrap();
    }
}

#[test]
fn a_busy_index_is_refused_with_75_naming_the_holder_or_waited_for() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, &["coins.png", "gravel.png"]);
    let index = tmp.path().join("index");
    let out = run(&index, &["index", photos.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // This test process holds the index, as a running `lookalike index` would.
    let held = IndexLock::acquire(&index, Wait::No).unwrap();
    let pid = std::process::id().to_string();
    for args in [
        &["info"][..],
        &["dedup"][..],
        &["index", photos.to_str().unwrap()][..],
    ] {
        let out = run(&index, args);
        assert_eq!(out.status.code(), Some(75), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("in use by pid") && err.contains(&pid), "{err}");
    }
    // A bounded wait gives up after about that long.
    let t = Instant::now();
    let out = run(&index, &["info", "--wait=1"]);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());

    // An open-ended wait succeeds once the holder lets go.
    let waiter = bin()
        .args([
            "info",
            "--wait",
            "--json",
            "--index",
            index.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(held);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["files"], 2);
}

#[cfg(unix)]
#[test]
fn ctrl_c_keeps_the_committed_batches_exits_130_and_the_next_run_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let n = 400;
    write_images(&photos, n);
    let index = tmp.path().join("index");
    let child = bin()
        .args([
            "index",
            photos.to_str().unwrap(),
            "--json",
            "--batch-size",
            "4",
        ])
        .arg("--index")
        .arg(&index)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the first batches are committed: the index lock names the process as
    // soon as the index is open; give the encoder a moment after that.
    let start = Instant::now();
    while lookalike::index::lock::holder_of(&index).is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "index never opened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let report = stdout_json(&out);
    assert_eq!(report["interrupted"], true);
    let first = report["embedded"].as_u64().unwrap() as usize;
    assert!(
        first > 0 && first < n,
        "embedded {first} of {n} before Ctrl-C"
    );

    // The committed images are there, and the next run embeds exactly the rest.
    let out = run(&index, &["info", "--json"]);
    assert_eq!(stdout_json(&out)["files"].as_u64().unwrap() as usize, first);
    let out = run(&index, &["index", photos.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout_json(&out);
    assert_eq!(report["interrupted"], false);
    assert_eq!(report["embedded"].as_u64().unwrap() as usize, n - first);
    assert_eq!(report["unchanged"].as_u64().unwrap() as usize, first);
}

#[test]
fn deleted_files_leave_results_at_once_and_compact_drops_them() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, &["coins.png", "gravel.png", "chelsea.png"]);
    let index = tmp.path().join("index");
    let out = run(&index, &["index", photos.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let query = sample_photos().join("gravel.png");
    let q = query.to_str().unwrap();
    let before = neighbor_paths(&stdout_json(&run(&index, &["query", "--json", q])));
    assert!(before[0].ends_with("gravel.png"), "{before:?}");

    std::fs::remove_file(photos.join("gravel.png")).unwrap();
    let after = neighbor_paths(&stdout_json(&run(&index, &["query", "--json", q])));
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after.iter().all(|p| !p.ends_with("gravel.png")),
        "{after:?}"
    );

    let out = run(&index, &["compact", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout_json(&out);
    assert_eq!(report["files_removed"], 1, "{report}");
    assert_eq!(report["contents_removed"], 1, "{report}");
    assert_eq!(report["points_before"], 3, "{report}");
    assert_eq!(report["points_after"], 2, "{report}");
    // The database was rewritten in place: no copy left beside it, and the index is whole.
    assert!(
        report["database_bytes_after"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert!(!index.join("db.rewrite").exists() && !index.join("db.old").exists());
    let info = stdout_json(&run(&index, &["info", "--json"]));
    assert_eq!(info["files"], 2);
    let out = run(&index, &["verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        neighbor_paths(&stdout_json(&run(&index, &["query", "--json", q]))),
        after
    );
}

/// `kill -9` at random moments of `index`: after every kill the index opens, is consistent
/// (`verify`), holds at least what it held before, and the next run carries on. The count is
/// small here; `scripts/kill-test.sh` runs it 50 times or more
/// (`LOOKALIKE_KILL_ROUNDS`, `LOOKALIKE_KILL_SEED`).
#[cfg(unix)]
#[test]
fn kill_9_at_random_moments_never_loses_committed_batches() {
    let rounds: usize = std::env::var("LOOKALIKE_KILL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let mut seed: u64 = std::env::var("LOOKALIKE_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as f64 / (1u64 << 31) as f64
    };
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let n = 40 * rounds.max(6);
    write_images(&photos, n);
    let index = tmp.path().join("index");
    let mut held = 0u64;
    for round in 0..rounds {
        let mut child = bin()
            .args(["index", photos.to_str().unwrap(), "-q", "--batch-size", "4"])
            .arg("--index")
            .arg(&index)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Anywhere from start-up (model loading) to well into the embedding.
        let delay = Duration::from_secs_f64(0.05 + 3.0 * next());
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let out = run(&index, &["verify", "--json"]);
        if !index.join("db").exists() {
            // Killed before the database was created: nothing to check yet.
            continue;
        }
        let v = stdout_json(&out);
        assert_eq!(
            v["consistent"],
            true,
            "round {round} (kill after {delay:?}): {v}\n{}",
            stderr(&out)
        );
        let info = stdout_json(&run(&index, &["info", "--json"]));
        let files = info["files"].as_u64().unwrap();
        assert!(
            files >= held,
            "round {round}: {files} files, {held} before the kill"
        );
        assert_eq!(info["distinct_images"], files, "round {round}");
        assert_eq!(info["graph_points"], files, "round {round}: {info}");
        held = files;
    }
    // The next run finishes the job, embedding only what is missing.
    let out = run(&index, &["index", photos.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout_json(&out);
    assert_eq!(report["unchanged"].as_u64().unwrap(), held);
    assert_eq!(report["embedded"].as_u64().unwrap(), n as u64 - held);
    let out = run(&index, &["verify", "--json"]);
    assert_eq!(stdout_json(&out)["consistent"], true);
}

/// The disk filling up, simulated with a file-size limit (writes past it fail with EFBIG, as
/// they would with ENOSPC): a clear error, and the batches committed before it are intact.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_a_clear_error_and_earlier_batches_survive() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    write_images(&photos.join("first"), 8);
    let index = tmp.path().join("index");
    let out = run(&index, &["index", photos.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let largest = walk_sizes(&index).into_iter().max().unwrap();

    write_images(&photos.join("second"), 400);
    // bash counts `ulimit -f` in KiB; SIGXFSZ ignored so that writes fail instead.
    let limit_kib = largest / 1024 + 256;
    let script = format!(
        "trap '' XFSZ; ulimit -f {limit_kib}; exec \"$0\" index \"$1\" --index \"$2\" -q --batch-size 4"
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .arg(env!("CARGO_BIN_EXE_lookalike"))
        .arg(&photos)
        .arg(&index)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("error"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let v = stdout_json(&run(&index, &["verify", "--json"]));
    assert_eq!(v["consistent"], true, "{v}");
    let info = stdout_json(&run(&index, &["info", "--json"]));
    assert!(info["files"].as_u64().unwrap() >= 8, "{info}");
    let out = run(&index, &["index", photos.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let info = stdout_json(&run(&index, &["info", "--json"]));
    assert_eq!(info["files"], 408, "{info}");
}

fn walk_sizes(dir: &Path) -> Vec<u64> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            out.extend(walk_sizes(&e.path()));
        } else {
            out.push(m.len());
        }
    }
    out
}

#[test]
fn a_truncated_corrupt_or_stale_snapshot_is_rebuilt_before_hnsw_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, &["chelsea.png", "coffee.png", "coins.png"]);
    let index = tmp.path().join("index");
    let out = run(&index, &["index", photos.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let query = photos.join("coins.png");
    let q = query.to_str().unwrap();
    let want = neighbor_paths(&stdout_json(&run(&index, &["query", "--json", q])));
    let graph = index.join("graph-0.hnsw.graph");
    let data = index.join("graph-0.hnsw.data");
    let manifest = index.join("graph.manifest.json");

    type Damage = Box<dyn Fn()>;
    let damages: Vec<(&str, Damage)> = vec![
        ("truncated graph", {
            let g = graph.clone();
            Box::new(move || {
                let bytes = std::fs::read(&g).unwrap();
                std::fs::write(&g, &bytes[..bytes.len() / 2]).unwrap();
            })
        }),
        ("corrupt data", {
            let d = data.clone();
            Box::new(move || {
                let mut bytes = std::fs::read(&d).unwrap();
                let mid = bytes.len() / 2;
                bytes[mid] ^= 0xFF;
                std::fs::write(&d, bytes).unwrap();
            })
        }),
        ("garbage graph of the same length", {
            let g = graph.clone();
            Box::new(move || {
                let len = std::fs::metadata(&g).unwrap().len() as usize;
                std::fs::write(&g, vec![0xA5u8; len]).unwrap();
            })
        }),
        ("stale manifest", {
            let m = manifest.clone();
            Box::new(move || {
                let mut v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
                v["generation"] = serde_json::json!(v["generation"].as_u64().unwrap() - 1);
                std::fs::write(&m, serde_json::to_vec(&v).unwrap()).unwrap();
            })
        }),
    ];
    for (what, damage) in damages {
        damage();
        // Commands that need the graph (verify, dedup, many queries) rebuild it.
        let out = run(&index, &["verify"]);
        assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("rebuilt the graph"),
            "{what}: {}",
            stderr(&out)
        );
        let out = run(&index, &["query", "--json", q]);
        assert_eq!(neighbor_paths(&stdout_json(&out)), want, "{what}");
    }

    // The flat vector file that single queries scan: damaged, it is not used (the graph
    // answers, identically); a stale one likewise.
    let flat = index.join("vectors.flat");
    let bytes = std::fs::read(&flat).unwrap();
    for (what, damaged) in [
        ("truncated vector file", bytes[..bytes.len() - 3].to_vec()),
        ("vector file of another generation", {
            let mut b = bytes.clone();
            b[8] ^= 1;
            b
        }),
        ("garbage vector file", vec![0x5Au8; bytes.len()]),
    ] {
        std::fs::write(&flat, damaged).unwrap();
        let out = run(&index, &["query", "--json", q]);
        assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
        assert_eq!(neighbor_paths(&stdout_json(&out)), want, "{what}");
    }
}
