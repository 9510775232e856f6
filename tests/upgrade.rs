//! An index built with the previous built-in model (`models/lookalike-two-heads-lite0-f16`,
//! the default of 2026-12-02 to 2026-12-07): searches refuse it with the command that moves
//! it, `index` embeds every photo again with this version's model, and copies are judged
//! exactly as before.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn previous_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lookalike-two-heads-lite0-f16.safetensors")
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// Runs `args` and asserts that it exits 2 with the command that moves the index.
fn refused_with_the_upgrade_command(index: &Path, args: &[&str], photos: &Path) {
    let out = run(index, args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    let err = stderr(&out);
    for words in [
        "lookalike-two-heads-lite0@5eef686a8d35",
        "an earlier built-in model",
        &format!("lookalike index {}", photos.display()),
    ] {
        assert!(err.contains(words), "{args:?}: no {words:?} in {err}");
    }
}

/// One head's unit descriptor of `image` by the built-in model.
fn embedding(image: &Path, head: &str) -> Vec<f32> {
    let out = bin()
        .args(["embed", "--json", "--head", head])
        .arg(image)
        .output()
        .unwrap();
    ok(&out);
    stdout_json(&out)["vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn an_index_of_the_previous_built_in_model_is_refused_then_moved_by_index() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, PHOTOS);
    write_resized_copy(
        &sample_photos().join("chelsea.png"),
        &photos.join("chelsea-half.jpg"),
        85,
    );
    let index = tmp.path().join("index");
    let previous = previous_model();
    let previous = previous.to_str().unwrap();
    let photos_arg = photos.to_str().unwrap();
    ok(&run(
        &index,
        &["index", photos_arg, "--model", previous, "-q"],
    ));
    let dedup_before = run(&index, &["dedup", "--json", "--model", previous]);
    ok(&dedup_before);
    let groups_before = stdout_json(&dedup_before)["groups"].clone();
    assert_eq!(
        groups_before.as_array().unwrap().len(),
        1,
        "the copy is grouped"
    );

    // This version's built-in model: searches are refused, naming what to run.
    let query = photos.join("chelsea.png");
    let query = query.to_str().unwrap();
    refused_with_the_upgrade_command(&index, &["query", query], &photos);
    refused_with_the_upgrade_command(&index, &["query", query, "--copies", "--json"], &photos);
    refused_with_the_upgrade_command(&index, &["dedup", "--json"], &photos);
    let info = run(&index, &["info"]);
    ok(&info);
    assert!(
        stderr(&info).contains("the built-in model of an earlier version"),
        "{}",
        stderr(&info)
    );

    // `index` moves it: a note first, then every distinct picture embedded again.
    let moved = run(&index, &["index", photos_arg, "--json"]);
    ok(&moved);
    assert!(
        stderr(&moved).contains("note: the index was built with lookalike-two-heads-lite0@"),
        "{}",
        stderr(&moved)
    );
    let report = stdout_json(&moved);
    let upgraded = &report["upgraded"];
    assert_eq!(upgraded["embedded"], 9, "{report}");
    assert_eq!(upgraded["pending"], 9);
    assert_eq!(upgraded["dropped"], 0);
    assert_eq!(upgraded["interrupted"], false);
    assert!(upgraded["from"]
        .as_str()
        .unwrap()
        .starts_with("lookalike-two-heads-lite0@5eef686a8d35"));
    assert_eq!(report["embedded"], 0, "nothing else changed: {report}");
    assert_eq!(report["unchanged"], 9);

    let info = stdout_json(&run(&index, &["info", "--json"]));
    assert_eq!(info["model_id"], upgraded["to"], "{info}");
    assert_eq!(info["distinct_images"], 9);
    ok(&run(&index, &["verify"]));

    // Queries answer from the new vectors; copies are judged exactly as before.
    let found = run(&index, &["query", query, "--json", "-k", "3"]);
    ok(&found);
    let found = stdout_json(&found);
    assert!(
        neighbor_paths(&found)[0].ends_with("chelsea.png"),
        "{found}"
    );
    let similarity = found["results"][0]["neighbors"][0]["similarity"]
        .as_f64()
        .unwrap();
    assert!(similarity > 0.999, "a photo is its own nearest: {found}");
    // Plain queries rank by the query head; `--copies` by the copy head, where dedup looks.
    let copy = photos.join("chelsea-half.jpg");
    for (head, args) in [
        (
            "query",
            vec!["query", copy.to_str().unwrap(), "--json", "-k", "2"],
        ),
        (
            "copy",
            vec![
                "query",
                copy.to_str().unwrap(),
                "--json",
                "-k",
                "2",
                "--copies",
            ],
        ),
    ] {
        let found = stdout_json(&run(&index, &args));
        let second = &found["results"][0]["neighbors"][1];
        assert!(
            second["path"].as_str().unwrap().ends_with("chelsea.png"),
            "{found}"
        );
        let want = cosine(
            &embedding(&copy, head),
            &embedding(&photos.join("chelsea.png"), head),
        );
        let got = second["similarity"].as_f64().unwrap() as f32;
        assert!((got - want).abs() < 1e-4, "{head}: {got} against {want}");
    }
    let dedup_after = run(&index, &["dedup", "--json"]);
    ok(&dedup_after);
    assert_eq!(stdout_json(&dedup_after)["groups"], groups_before);
    // The previous model no longer fits the index.
    let out = run(&index, &["query", query, "--model", previous]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("model mismatch"), "{}", stderr(&out));

    // A second run has nothing to move.
    let again = stdout_json(&run(&index, &["index", photos_arg, "--json"]));
    assert!(again.get("upgraded").is_none(), "{again}");
    assert_eq!(again["embedded"], 0);
}
