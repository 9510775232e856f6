//! `lookalike eval` end to end, on small sets made from the sample photos.

mod common;

use common::*;
use image::imageops::FilterType;
use std::path::Path;

/// Writes `n` variants (crops at different offsets, some flipped) of a sample photo into `dir`.
fn variants(photo: &str, dir: &Path, n: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let img = image::open(sample_photos().join(photo)).unwrap();
    let (w, h) = (img.width(), img.height());
    for i in 0..n {
        let x = w / 10 * (i % 3);
        let y = h / 10 * (i / 3 % 3);
        let mut v = img.crop_imm(x, y, w * 7 / 10, h * 7 / 10);
        if i % 2 == 1 {
            v = v.fliph();
        }
        v.resize(200, 200, FilterType::Triangle)
            .to_rgb8()
            .save(dir.join(format!("{i}.jpg")))
            .unwrap();
    }
}

#[test]
fn retrieval_on_labelled_folders_in_both_protocols() {
    let tmp = tempfile::tempdir().unwrap();
    let (all, train, test) = (
        tmp.path().join("all"),
        tmp.path().join("train"),
        tmp.path().join("test"),
    );
    for (label, photo) in [
        ("cat", "chelsea.png"),
        ("coffee", "coffee.png"),
        ("rocket", "rocket.jpg"),
    ] {
        variants(photo, &all.join(label), 4);
        variants(photo, &train.join(label), 3);
        variants(photo, &test.join(label), 2);
    }
    let out = bin()
        .args(["eval", "retrieval", all.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["protocol"], "leave-one-out");
    assert_eq!(
        (v["queries"].as_u64(), v["classes"].as_u64()),
        (Some(12), Some(3))
    );
    let methods = v["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 2);
    let encoder = &methods[0];
    assert_eq!(encoder["method"], "encoder");
    // Crops of one photo are each other's nearest neighbours.
    assert_eq!(encoder["precision_at_1"], 1.0);
    assert_eq!(encoder["map_at_r"], 1.0);
    assert_eq!(encoder["knn_accuracy"], 1.0);
    // With 11 other images, P@10 is at most 3 relevant of 10.
    assert!((encoder["precision_at_10"].as_f64().unwrap() - 0.3).abs() < 1e-9);
    assert_eq!(methods[1]["method"], "raw-pixels");

    let out = bin()
        .args([
            "eval",
            "retrieval",
            "--train",
            train.to_str().unwrap(),
            "--test",
            test.to_str().unwrap(),
        ])
        .args(["--method", "encoder", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["protocol"], "train-test");
    assert_eq!(
        (v["queries"].as_u64(), v["references"].as_u64()),
        (Some(6), Some(9))
    );
    assert_eq!(v["methods"][0]["knn_accuracy"], 1.0);

    let out = bin()
        .args([
            "eval",
            "retrieval",
            "--method",
            "sift",
            all.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown method"), "{}", stderr(&out));
}

#[test]
fn copy_detection_reports_every_method_and_transform_and_plots() {
    let tmp = tempfile::tempdir().unwrap();
    let originals = tmp.path().join("originals");
    let distractors = tmp.path().join("distractors");
    copy_photos(&originals, &["chelsea.png", "coffee.png", "rocket.jpg"]);
    copy_photos(
        &distractors,
        &[
            "astronaut.png",
            "camera.png",
            "coins.png",
            "gravel.png",
            "retina.jpg",
        ],
    );
    let plot = tmp.path().join("pr.svg");
    let saved = tmp.path().join("copies");
    let out = bin()
        .args([
            "eval",
            "copies",
            originals.to_str().unwrap(),
            "--distractors",
            distractors.to_str().unwrap(),
        ])
        .args([
            "--method",
            "encoder,dct-hash,raw",
            "--seed",
            "3",
            "--max-side",
            "320",
            "--json",
        ])
        .arg("--plot")
        .arg(&plot)
        .arg("--save-copies")
        .arg(&saved)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(
        (v["originals"].as_u64(), v["distractors"].as_u64()),
        (Some(3), Some(5))
    );
    assert_eq!(v["queries"], 3 * 17);
    // Every distractor also queries the others and must not find a copy.
    assert_eq!(v["non_matching_queries"], 5);
    assert_eq!(std::fs::read_dir(&saved).unwrap().count(), 3 * 17);
    let methods = v["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["encoder", "dct-hash", "raw-pixels"]);
    for m in methods {
        for key in ["micro_ap", "recall_at_p90", "recall_at_p99", "recall_at_1"] {
            let x = m[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&x), "{key} = {x}");
        }
        assert_eq!(m["per_transform"].as_array().unwrap().len(), 17);
        assert!(m["recall_at_p99"].as_f64() <= m["recall_at_p90"].as_f64());
    }
    // The encoder finds most copies; rotated copies defeat the DCT hash.
    assert!(
        methods[0]["recall_at_1"].as_f64().unwrap() >= 0.8,
        "{}",
        methods[0]
    );
    let rot = |m: &serde_json::Value| {
        m["per_transform"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["transform"] == "rotate-90")
            .unwrap()["recall_at_1"]
            .as_f64()
            .unwrap()
    };
    assert!(rot(&methods[0]) > rot(&methods[1]));
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("encoder") && svg.contains("dct-hash"));

    // The same seed generates the same copies.
    let again = tmp.path().join("again");
    let out = bin()
        .args([
            "eval",
            "copies",
            originals.to_str().unwrap(),
            "--method",
            "dct-hash",
            "--seed",
            "3",
            "--max-side",
            "320",
        ])
        .arg("--save-copies")
        .arg(&again)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let a = std::fs::read(saved.join("coffee__chain.jpg")).unwrap();
    let b = std::fs::read(again.join("coffee__chain.jpg")).unwrap();
    assert_eq!(a, b);
}

#[test]
fn normalised_scoring_needs_a_background_set_and_takes_one_from_a_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let originals = tmp.path().join("originals");
    let background = tmp.path().join("background");
    copy_photos(&originals, &["chelsea.png", "coffee.png", "rocket.jpg"]);
    copy_photos(&background, &["astronaut.png", "camera.png", "gravel.png"]);
    let eval = |extra: &[&str]| {
        bin()
            .args(["eval", "copies", originals.to_str().unwrap()])
            .args(["--seed", "2", "--max-side", "256", "--json"])
            .args(extra)
            .output()
            .unwrap()
    };
    let imagenet = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/efficientnet-lite0-imagenet-f16.safetensors"
    );

    // The built-in encoder carries a background set: `all` includes encoder-norm.
    let out = eval(&["--method", "all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["methods"][1]["method"], "encoder-norm", "{v}");
    assert!(
        v["methods"][1]["recall_at_1"].as_f64().unwrap() >= 0.8,
        "{v}"
    );

    // The ImageNet features have none: `all` leaves it out, naming it is an error...
    let out = eval(&["--model", imagenet, "--method", "all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert!(v["methods"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["method"] != "encoder-norm"));
    let out = eval(&["--model", imagenet, "--method", "encoder-norm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no background set"),
        "{}",
        stderr(&out)
    );

    // ...unless --background gives one.
    let out = eval(
        &[
            "--model",
            imagenet,
            "--method",
            "encoder-norm",
            "--background",
        ]
        .into_iter()
        .chain([background.to_str().unwrap()])
        .collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["methods"][0]["method"], "encoder-norm", "{v}");
}
