//! End-to-end tests: the real binary indexes real photos in temporary folders.

mod common;

use common::*;
use std::path::Path;

fn index_json(index: &Path, dir: &Path) -> (serde_json::Value, std::process::Output) {
    let out = run(index, &["index", dir.to_str().unwrap(), "--json"]);
    (stdout_json(&out), out)
}

#[test]
fn query_finds_the_image_itself_then_its_resized_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, PHOTOS);
    write_resized_copy(
        &photos.join("chelsea.png"),
        &photos.join("chelsea-small.jpg"),
        70,
    );
    let index = tmp.path().join("index");
    let (report, out) = index_json(&index, &photos);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["embedded"], 9);
    assert_eq!(report["scanned"], 9);

    let out = run(
        &index,
        &[
            "query",
            photos.join("chelsea.png").to_str().unwrap(),
            "-k",
            "3",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(
        v["results"][0]["query"],
        photos.join("chelsea.png").to_str().unwrap()
    );
    let neighbors = v["results"][0]["neighbors"].as_array().unwrap();
    assert_eq!(neighbors.len(), 3);
    assert_eq!(
        file_name(neighbors[0]["path"].as_str().unwrap()),
        "chelsea.png"
    );
    assert!(neighbors[0]["similarity"].as_f64().unwrap() >= 0.999);
    assert_eq!(
        file_name(neighbors[1]["path"].as_str().unwrap()),
        "chelsea-small.jpg"
    );
    assert!(
        neighbors[1]["similarity"].as_f64().unwrap() > neighbors[2]["similarity"].as_f64().unwrap()
    );

    // A query image that is not in the index, and text output.
    let outside = tmp.path().join("outside.jpg");
    write_resized_copy(&photos.join("coffee.png"), &outside, 50);
    let out = run(&index, &["query", outside.to_str().unwrap(), "-k", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().nth(1).unwrap().ends_with("coffee.png"),
        "{text}"
    );
}

#[test]
fn reindexing_embeds_only_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(
        &photos,
        &["chelsea.png", "coffee.png", "rocket.jpg", "coins.png"],
    );
    let index = tmp.path().join("index");
    let (first, _) = index_json(&index, &photos);
    assert_eq!(first["embedded"], 4);

    let (again, out) = index_json(&index, &photos);
    assert!(out.status.success());
    assert_eq!(
        (again["embedded"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(4))
    );

    // A renamed file is recognised by its content; a deleted one is dropped.
    std::fs::create_dir_all(photos.join("moved")).unwrap();
    std::fs::rename(
        photos.join("coffee.png"),
        photos.join("moved/coffee-renamed.png"),
    )
    .unwrap();
    std::fs::remove_file(photos.join("rocket.jpg")).unwrap();
    let (after, _) = index_json(&index, &photos);
    assert_eq!(after["embedded"], 0, "{after}");
    assert_eq!(after["renamed"], 1, "{after}");
    assert_eq!(after["removed"], 2, "{after}");
    assert_eq!(after["unchanged"], 2, "{after}");

    let query = tmp.path().join("rocket-query.jpg");
    std::fs::copy(sample_photos().join("rocket.jpg"), &query).unwrap();
    let v = stdout_json(&run(
        &index,
        &["query", query.to_str().unwrap(), "-k", "10", "--json"],
    ));
    let paths = neighbor_paths(&v);
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(
        paths.iter().all(|p| !p.ends_with("rocket.jpg")),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.ends_with("moved/coffee-renamed.png")),
        "{paths:?}"
    );

    // A modified file (new content at the same path) is embedded again.
    write_resized_copy(
        &sample_photos().join("camera.png"),
        &photos.join("chelsea.png"),
        80,
    );
    let (changed, _) = index_json(&index, &photos);
    assert_eq!(changed["embedded"], 1, "{changed}");
    let info = stdout_json(&run(&index, &["info", "--json"]));
    assert_eq!(info["files"], 3);
    assert_eq!(info["distinct_images"], 3);
}

#[test]
fn dedup_groups_planted_duplicates_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, PHOTOS);
    std::fs::copy(photos.join("rocket.jpg"), photos.join("rocket-copy.jpg")).unwrap();
    write_resized_copy(
        &photos.join("chelsea.png"),
        &photos.join("chelsea-small.jpg"),
        80,
    );
    let index = tmp.path().join("index");
    let (report, _) = index_json(&index, &photos);
    assert_eq!(report["embedded"], 9);
    assert_eq!(report["copies"], 1);

    let out = run(&index, &["dedup", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    let mut groups: Vec<(String, Vec<String>)> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let mut names: Vec<String> = g["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| file_name(m["path"].as_str().unwrap()))
                .collect();
            names.sort();
            let tier = if g["tier"] == "exact" {
                "exact"
            } else {
                "near"
            };
            (tier.to_string(), names)
        })
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        vec![
            (
                "exact".to_string(),
                vec!["rocket-copy.jpg".to_string(), "rocket.jpg".to_string()]
            ),
            (
                "near".to_string(),
                vec!["chelsea-small.jpg".to_string(), "chelsea.png".to_string()]
            ),
        ]
    );
    // The keeper of the near group is the full-resolution original; the copy, the same
    // picture resized and recompressed, is near-exact.
    let near = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["tier"] != "exact")
        .unwrap();
    assert_eq!(
        file_name(near["members"][0]["path"].as_str().unwrap()),
        "chelsea.png"
    );
    assert_eq!(near["members"][0]["keeper"], true);
    let copy = &near["members"][1];
    // The built-in encoder has a background set: the threshold applies to the normalised
    // similarity with the pixel check's bonus, which is below the cosine one.
    assert_eq!(v["scoring"], "verified");
    let (sim, score) = (
        copy["similarity"].as_f64().unwrap(),
        copy["score"].as_f64().unwrap(),
    );
    assert!(
        score >= v["threshold"].as_f64().unwrap() && score < sim,
        "{copy}"
    );
    assert_eq!(copy["tier"], "near_exact", "{copy}");
    assert_eq!(near["tier"], "near_exact");

    // A threshold above the copy's score leaves only the exact group.
    let strict = format!("{}", score + 0.01);
    let v = stdout_json(&run(&index, &["dedup", "--json", "--threshold", &strict]));
    let tiers: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["tier"].as_str().unwrap())
        .collect();
    assert_eq!(tiers, ["exact"], "{v}");

    // --cosine scores by plain cosine similarity, with its own default threshold.
    let v = stdout_json(&run(&index, &["dedup", "--json", "--cosine"]));
    assert_eq!(
        (v["scoring"].as_str(), v["threshold"].as_f64()),
        (Some("cosine"), Some(0.93f32 as f64))
    );
    assert_eq!(v["groups"].as_array().unwrap().len(), 2, "{v}");
    let out = run(&index, &["dedup", "--cosine", "--threshold", "1.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cosine similarity between -1 and 1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreadable_files_are_reported_and_the_rest_is_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, &["chelsea.png", "coffee.png"]);
    let png = std::fs::read(photos.join("coffee.png")).unwrap();
    std::fs::write(photos.join("truncated.png"), &png[..png.len() / 3]).unwrap();
    std::fs::write(photos.join("empty.jpg"), b"").unwrap();
    std::fs::write(
        photos.join("notes.jpg"),
        b"this is a text file with a .jpg name",
    )
    .unwrap();
    let mut corrupt = vec![0xFF, 0xD8, 0xFF, 0xE0];
    corrupt.extend((0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    std::fs::write(photos.join("corrupt.jpg"), corrupt).unwrap();
    // An image under a misleading name is recognised by its content.
    std::fs::copy(
        sample_photos().join("rocket.jpg"),
        photos.join("rocket.dat"),
    )
    .unwrap();
    // A text file that does not claim to be an image is silently ignored.
    std::fs::write(photos.join("README.txt"), b"holiday photos").unwrap();

    let index = tmp.path().join("index");
    let out = run(&index, &["index", photos.to_str().unwrap(), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "finished with skipped files: {}",
        stderr(&out)
    );
    let v = stdout_json(&out);
    assert_eq!(v["embedded"], 3, "{v}");
    assert_eq!(v["ignored"], 1, "{v}");
    let mut skipped: Vec<(String, String)> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                file_name(s["path"].as_str().unwrap()),
                s["kind"]["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        vec![
            ("corrupt.jpg".into(), "decode".into()),
            ("empty.jpg".into(), "empty".into()),
            ("notes.jpg".into(), "not_an_image".into()),
            ("truncated.png".into(), "decode".into()),
        ]
    );
    assert!(v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| !s["reason"].as_str().unwrap().is_empty()));

    // Text mode names each skipped file once, with its reason, on stderr.
    let index2 = tmp.path().join("index2");
    let out = run(&index2, &["index", photos.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(err.matches("truncated.png").count(), 1, "{err}");
    assert!(err.contains("empty file"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 skipped"));
}

/// Regression: the graph of versions before 2026-12-07 (one hnsw_rs graph, `graph.hnsw.*`)
/// is not read by this one; the first command that needs the graph rebuilds it in two
/// segments, says why, and removes the old files.
#[test]
fn a_graph_of_the_earlier_single_layout_is_rebuilt_and_its_files_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, &["chelsea.png", "coffee.png", "coins.png"]);
    let index = tmp.path().join("index");
    index_json(&index, &photos);
    // The earlier layout: its two files, and a manifest that lists no segments.
    let manifest_path = index.join("graph.manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest.as_object_mut().unwrap().remove("segments");
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    for name in ["graph.hnsw.graph", "graph.hnsw.data"] {
        std::fs::write(index.join(name), b"an earlier version's graph").unwrap();
    }
    let out = run(&index, &["verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("earlier version's layout"),
        "{}",
        stderr(&out)
    );
    assert!(!index.join("graph.hnsw.graph").exists());
    assert!(!index.join("graph.hnsw.data").exists());
    assert!(index.join("graph-0.hnsw.graph").exists());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(
        manifest["segments"].as_array().unwrap().len(),
        2,
        "{manifest}"
    );
    // Read as it is from then on.
    let out = run(&index, &["verify"]);
    assert!(!stderr(&out).contains("rebuilt"), "{}", stderr(&out));
}

#[test]
fn reopening_uses_the_saved_graph_and_a_missing_one_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, &["chelsea.png", "coffee.png", "coins.png"]);
    let index = tmp.path().join("index");
    index_json(&index, &photos);
    let query = photos.join("coins.png");
    let q = query.to_str().unwrap();
    // A single query scans the flat vector file; the graph is not even loaded.
    let out = run(&index, &["query", q, "--json"]);
    assert!(out.status.success());
    assert!(!stderr(&out).contains("rebuilt"), "{}", stderr(&out));
    let before = neighbor_paths(&stdout_json(&out));
    // Commands that need the graph load the saved one.
    let out = run(&index, &["verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("rebuilt"), "{}", stderr(&out));

    std::fs::remove_file(index.join("graph.manifest.json")).unwrap();
    let out = run(&index, &["verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("rebuilt the graph"),
        "{}",
        stderr(&out)
    );
    // The rebuilt graph was saved: the next open loads it, and answers as before.
    let out = run(&index, &["verify"]);
    assert!(!stderr(&out).contains("rebuilt"), "{}", stderr(&out));
    assert_eq!(
        neighbor_paths(&stdout_json(&run(&index, &["query", q, "--json"]))),
        before
    );

    // Without the flat vector file, a query loads the graph, with the same answer, and
    // writes the file again.
    std::fs::remove_file(index.join("vectors.flat")).unwrap();
    let out = run(&index, &["query", q, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(neighbor_paths(&stdout_json(&out)), before);
    assert!(index.join("vectors.flat").exists());

    // dedup and info answer from the flat file and the manifest: a damaged graph file goes
    // unread (and unreported) until a command that needs the graph finds and rebuilds it.
    let dedup_before = stdout_json(&run(&index, &["dedup", "--json", "--cosine"]));
    let graph_file = index.join("graph-0.hnsw.graph");
    let mut bytes = std::fs::read(&graph_file).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&graph_file, bytes).unwrap();
    for args in [
        &["dedup", "--json", "--cosine"][..],
        &["info", "--json"][..],
    ] {
        let out = run(&index, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("rebuilt"),
            "{args:?}: {}",
            stderr(&out)
        );
        if args[0] == "dedup" {
            assert_eq!(stdout_json(&out), dedup_before);
        } else {
            assert_eq!(stdout_json(&out)["graph_points"], 3);
        }
    }
    let out = run(&index, &["verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));
}

#[test]
fn an_index_refuses_a_different_model_and_names_both() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, &["chelsea.png"]);
    let index = tmp.path().join("index");
    index_json(&index, &photos);

    // Another model: the same architecture with one weight changed.
    let mut tensors = candle_core::safetensors::load_buffer(
        lookalike::model::IMAGENET_MODEL,
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let w = tensors["_conv_head.weight"].clone();
    tensors.insert("_conv_head.weight".into(), (w * 1.5).unwrap());
    let other = tmp.path().join("other.safetensors");
    lookalike::model::save_safetensors(
        &tensors,
        &[
            ("name", "other-model".into()),
            ("arch", "efficientnet-lite0".into()),
        ],
        &other,
    )
    .unwrap();

    // The other model itself loads and embeds.
    let out = bin()
        .args([
            "embed",
            "--json",
            "--model",
            other.to_str().unwrap(),
            photos.join("chelsea.png").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout_json(&out)["model"]
        .as_str()
        .unwrap()
        .starts_with("other-model@"));

    for cmd in ["query", "index"] {
        let target = if cmd == "query" {
            photos.join("chelsea.png")
        } else {
            photos.clone()
        };
        let out = run(
            &index,
            &[
                cmd,
                "--model",
                other.to_str().unwrap(),
                target.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = stderr(&out);
        assert!(err.contains("model mismatch"), "{err}");
        assert!(err.contains("lookalike-two-heads-lite0-v2@"), "{err}");
        assert!(err.contains("other-model@"), "{err}");
    }
}

#[test]
fn embed_prints_a_unit_vector_and_info_describes_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "embed",
            "--json",
            sample_photos().join("coins.png").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    // The embedded default: a 512-d query head and a 256-d copy head.
    assert_eq!(v["dim"], 768);
    let vector: Vec<f64> = v["vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(vector.len(), 768);
    let norm: f64 = vector.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    // Each head's descriptor is a unit vector, half of the stored one scaled by sqrt 2.
    for (head, part) in [("query", &vector[..512]), ("copy", &vector[512..])] {
        let out = bin()
            .args(["embed", "--json", "--head", head])
            .arg(sample_photos().join("coins.png"))
            .output()
            .unwrap();
        let v = stdout_json(&out);
        assert_eq!(
            (v["head"].as_str(), v["dim"].as_u64()),
            (Some(head), Some(part.len() as u64))
        );
        for (x, y) in v["vector"].as_array().unwrap().iter().zip(part) {
            assert!(
                (x.as_f64().unwrap() - y * 2f64.sqrt()).abs() < 1e-5,
                "{head}"
            );
        }
    }
    assert!(v["model"]
        .as_str()
        .unwrap()
        .starts_with("lookalike-two-heads-lite0-v2@"));

    let out = run(&tmp.path().join("none"), &["info"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no index"), "{}", stderr(&out));

    let photos = tmp.path().join("photos");
    copy_photos(&photos, &["coins.png", "gravel.png"]);
    let index = tmp.path().join("index");
    index_json(&index, &photos);
    let info = stdout_json(&run(&index, &["info", "--json"]));
    assert_eq!(info["files"], 2);
    assert_eq!(info["dim"], 768);
    assert_eq!(info["graph_points"], 2);
    assert!(info["size_on_disk_bytes"].as_u64().unwrap() > 0);
    assert!(info["model_id"]
        .as_str()
        .unwrap()
        .starts_with("lookalike-two-heads-lite0-v2@"));
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, &["coins.png", "gravel.png", "chelsea.png"]);
    let index = tmp.path().join("index");
    index_json(&index, &photos);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = bin()
        .args([
            "query",
            "-k",
            "3",
            photos.join("coins.png").to_str().unwrap(),
            "--index",
            index.to_str().unwrap(),
        ])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn a_rerun_that_adds_no_image_restamps_the_saved_graph_without_loading_it() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let names = [
        "astronaut.png",
        "camera.png",
        "chelsea.png",
        "coffee.png",
        "coins.png",
    ];
    copy_photos(&photos, &names);
    let index = tmp.path().join("index");
    index_json(&index, &photos);
    let inode = |name: &str| std::fs::metadata(index.join(name)).unwrap().ino();
    let generation = || {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(index.join("graph.manifest.json")).unwrap())
                .unwrap();
        m["generation"].as_u64().unwrap()
    };
    let (graph, data, flat, gen0) = (
        inode("graph-0.hnsw.graph"),
        inode("graph-0.hnsw.data"),
        inode("vectors.flat"),
        generation(),
    );

    // One photo touched (same bytes, new mtime), one deleted: records change, no vector is
    // added, a fifth of the points is dead (below the quarter that triggers a rebuild).
    let touched = std::fs::File::options()
        .write(true)
        .open(photos.join("coffee.png"))
        .unwrap();
    touched
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    std::fs::remove_file(photos.join("coins.png")).unwrap();
    let (report, out) = index_json(&index, &photos);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["embedded"], 0, "{report}");
    assert_eq!(report["removed"], 1, "{report}");
    assert!(
        generation() > gen0,
        "the snapshot moved to the new generation"
    );
    assert_eq!(
        (
            inode("graph-0.hnsw.graph"),
            inode("graph-0.hnsw.data"),
            inode("vectors.flat")
        ),
        (graph, data, flat),
        "the snapshot files were not rewritten"
    );
    // Both the flat file and the restamped graph are current and answer alike.
    let query = photos.join("chelsea.png");
    let q = query.to_str().unwrap();
    let exact = neighbor_paths(&stdout_json(&run(&index, &["query", q, "--json"])));
    assert_eq!(exact.len(), 4);
    assert!(exact[0].ends_with("chelsea.png"));
    let out = run(&index, &["verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("rebuilt"), "{}", stderr(&out));
    std::fs::remove_file(index.join("vectors.flat")).unwrap();
    let out = run(&index, &["query", q, "--json"]);
    assert!(!stderr(&out).contains("rebuilt"), "{}", stderr(&out));
    assert_eq!(neighbor_paths(&stdout_json(&out)), exact);

    // A new photo: the graph is loaded, extended and saved again.
    copy_photos(&photos, &["gravel.png"]);
    let (report, _) = index_json(&index, &photos);
    assert_eq!(report["embedded"], 1, "{report}");
    assert_ne!(inode("graph-0.hnsw.graph"), graph);
    let found = neighbor_paths(&stdout_json(&run(
        &index,
        &[
            "query",
            photos.join("gravel.png").to_str().unwrap(),
            "--json",
        ],
    )));
    assert!(found[0].ends_with("gravel.png"), "{found:?}");
}
