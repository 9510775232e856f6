//! Two-head models end to end: `combine` joins a query model and a copy model that share
//! their first blocks; `index`, `query`, `dedup` and `info` run on the result.

mod common;

use common::*;
use std::path::Path;

/// The one-head model the default's query head comes from.
fn one_head_model() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(QUERY_HEAD_FILE)).unwrap()
}

const QUERY_HEAD_FILE: &str = "models/lookalike-copy-lite0-f16.safetensors";

/// Writes a trained one-head model to `query`, and to `copy` the same model with block 14
/// changed slightly: the two share blocks 0-13, as two models trained from one --init with
/// --freeze-blocks 14 do.
fn two_models(query: &Path, copy: &Path) {
    let bytes = &one_head_model();
    std::fs::write(query, bytes).unwrap();
    let meta: Vec<(String, String)> = lookalike::model::own_metadata(bytes)
        .unwrap()
        .into_iter()
        .collect();
    let mut tensors =
        candle_core::safetensors::load_buffer(bytes, &candle_core::Device::Cpu).unwrap();
    let name = "_blocks.14._project_conv.weight";
    let changed = (&tensors[name] * 1.05).unwrap();
    tensors.insert(name.to_string(), changed);
    let meta: Vec<(&str, String)> = meta.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    lookalike::model::save_safetensors(&tensors, &meta, copy).unwrap();
}

/// Runs `lookalike combine --json` on the three files.
fn combine(query: &Path, copy: &Path, out: &Path) -> std::process::Output {
    bin()
        .args(["combine", "--json", "--query"])
        .arg(query)
        .arg("--copy")
        .arg(copy)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn a_combined_model_indexes_queries_and_finds_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let (query, copy, two) = (
        tmp.path().join("query.safetensors"),
        tmp.path().join("copy.safetensors"),
        tmp.path().join("two.safetensors"),
    );
    two_models(&query, &copy);
    let out = combine(&query, &copy, &two);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["branch_start"], 14);
    assert_eq!(
        (v["query_dim"].as_u64(), v["copy_dim"].as_u64()),
        (Some(256), Some(256))
    );
    assert_eq!(v["background_images"], 9469);

    // The same model as its own copy head shares everything: nothing to branch.
    let out = combine(&query, &query, &tmp.path().join("same.safetensors"));
    assert!(out.status.success(), "{}", stderr(&out));

    let photos = tmp.path().join("photos");
    copy_photos(&photos, PHOTOS);
    write_resized_copy(
        &photos.join("chelsea.png"),
        &photos.join("chelsea-small.jpg"),
        70,
    );
    let index = tmp.path().join("index");
    let model = two.to_str().unwrap();
    let out = run(
        &index,
        &[
            "index",
            photos.to_str().unwrap(),
            "--model",
            model,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["embedded"], 9);
    let info = stdout_json(&run(&index, &["info", "--json"]));
    assert_eq!(info["dim"], 512);
    assert_eq!(info["model"]["copy_dim"], 256);

    let out = run(
        &index,
        &[
            "query",
            photos.join("chelsea.png").to_str().unwrap(),
            "-k",
            "3",
            "--model",
            model,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    let names: Vec<String> = neighbor_paths(&v).iter().map(|p| file_name(p)).collect();
    assert_eq!(names[..2], ["chelsea.png", "chelsea-small.jpg"]);
    // Similarities are the query head's cosines: the image itself scores 1.
    let first = v["results"][0]["neighbors"][0]["similarity"]
        .as_f64()
        .unwrap();
    assert!((first - 1.0).abs() < 1e-3, "{first}");

    let v = stdout_json(&run(&index, &["dedup", "--model", model, "--json"]));
    assert_eq!(v["scoring"], "verified", "{v}");
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{v}");
    let mut members: Vec<String> = groups[0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| file_name(m["path"].as_str().unwrap()))
        .collect();
    members.sort();
    assert_eq!(members, ["chelsea-small.jpg", "chelsea.png"]);
}

#[test]
fn models_that_share_no_blocks_are_not_combined() {
    let tmp = tempfile::tempdir().unwrap();
    let (query, copy) = (
        tmp.path().join("query.safetensors"),
        tmp.path().join("imagenet.safetensors"),
    );
    std::fs::write(&query, one_head_model()).unwrap();
    // The ImageNet encoder is no trained descriptor.
    std::fs::write(&copy, lookalike::model::IMAGENET_MODEL).unwrap();
    let out = combine(&query, &copy, &tmp.path().join("two.safetensors"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("efficientnet-lite0-gem"),
        "{}",
        stderr(&out)
    );
    assert!(!tmp.path().join("two.safetensors").exists());
}
