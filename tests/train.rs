//! `lookalike train` end to end: a short run writes a model that `index` and `query` use,
//! and a resumed run continues from the checkpoint's step.

mod common;

use common::*;

#[test]
fn a_short_training_run_writes_a_usable_model_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(
        &photos,
        &["chelsea.png", "coffee.png", "rocket.jpg", "coins.png"],
    );
    let model = tmp.path().join("m.safetensors");
    let train = |epochs: &str, resume: bool| {
        let mut cmd = bin();
        cmd.args([
            "train",
            photos.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
        ])
        .args([
            "--epochs",
            epochs,
            "--batch-size",
            "2",
            "--input-size",
            "64",
            "--dim",
            "16",
        ])
        .args(["--warmup-steps", "1", "--json"]);
        if resume {
            cmd.arg("--resume");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout_json(&out)
    };
    let first = train("1", false);
    assert_eq!(
        (first["steps"].as_u64(), first["resumed_from"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(first["final_loss"].as_f64().unwrap().is_finite());
    assert!(tmp.path().join("m.ckpt.safetensors").exists());

    let second = train("2", true);
    assert_eq!(
        (second["steps"].as_u64(), second["resumed_from"].as_u64()),
        (Some(4), Some(2))
    );

    // The model indexes and queries, and describes itself.
    let index = tmp.path().join("index");
    let out = run(
        &index,
        &[
            "index",
            photos.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["embedded"], 4);
    let info = stdout_json(&run(&index, &["info", "--json"]));
    assert_eq!(info["dim"], 16);
    assert_eq!(info["model"]["arch"], "efficientnet-lite0-gem");
    assert_eq!(info["model"]["input_size"], 64);
    let q = photos.join("coins.png");
    let out = run(
        &index,
        &[
            "query",
            q.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--json",
            "-k",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(neighbor_paths(&stdout_json(&out))[0].ends_with("coins.png"));
}
