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
    // The training photos became the model's background set.
    assert_eq!(first["background"]["images"], 4, "{first}");

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

    // `calibrate` gives it another background set, of at most --max-images photos, which
    // `eval copies` then scores with (method encoder-norm).
    let calibrated = tmp.path().join("m2.safetensors");
    let out = bin()
        .args(["calibrate", photos.to_str().unwrap(), "--model"])
        .args([model.as_os_str(), "--out".as_ref(), calibrated.as_os_str()])
        .args(["--max-images", "2", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(
        (v["found"].as_u64(), v["images"].as_u64()),
        (Some(4), Some(2)),
        "{v}"
    );
    let out = bin()
        .args(["eval", "copies", photos.to_str().unwrap(), "--model"])
        .arg(&calibrated)
        .args([
            "--method",
            "encoder,encoder-norm",
            "--max-side",
            "128",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    let names: Vec<&str> = v["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["encoder", "encoder-norm"]);

    // Training on from the calibrated model must not carry its background set (descriptors
    // of the old network) into the new model: with --background-images 0 it has none.
    let retrained = tmp.path().join("m3.safetensors");
    let out = bin()
        .args(["train", photos.to_str().unwrap(), "--init"])
        .args([
            calibrated.as_os_str(),
            "--out".as_ref(),
            retrained.as_os_str(),
        ])
        .args(["--batch-size", "2", "--input-size", "64", "--dim", "16"])
        .args([
            "--background-images",
            "0",
            "--hard-negatives",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Its batches were grouped by the initial model's neighbours, and the recipe says so.
    let v = stdout_json(&out);
    let photos = v["hard_negatives"]["photos"].as_u64();
    assert!(photos.is_some_and(|p| p <= 4), "{v}");
    assert!(
        model_metadata(&retrained, "recipe").contains("\"hard_negatives\":2"),
        "{}",
        model_metadata(&retrained, "recipe")
    );
    assert!(tensor_names(&calibrated).contains(&"descriptor.background".to_string()));
    let names = tensor_names(&retrained);
    assert!(
        names.iter().any(|n| n.starts_with("descriptor.")),
        "{names:?}"
    );
    assert!(
        !names.contains(&"descriptor.background".to_string()),
        "{names:?}"
    );
}

/// One `lookalike.` metadata value of a safetensors file.
fn model_metadata(path: &std::path::Path, key: &str) -> String {
    header(path)["__metadata__"][format!("lookalike.{key}")]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The JSON header of a safetensors file.
fn header(path: &std::path::Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + len]).unwrap()
}

/// The tensor names in a safetensors file's header.
fn tensor_names(path: &std::path::Path) -> Vec<String> {
    header(path)
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

/// Two classes of generated 32x32 pictures: warm diagonal gradients and cool stripes.
fn labelled_folder(dir: &std::path::Path, per_class: u32) {
    for class in ["warm", "cool"] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..per_class {
            let img = image::RgbImage::from_fn(32, 32, |x, y| {
                if class == "warm" {
                    image::Rgb([200 + ((x + y + i) % 50) as u8, (x * 4 + i * 9) as u8, 20])
                } else {
                    let stripe = if (y + i) / 4 % 2 == 0 { 220 } else { 30 };
                    image::Rgb([20, (x * 3 + i * 7) as u8, stripe])
                }
            });
            img.save(dir.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
}

#[test]
fn the_small_cnn_trains_from_scratch_with_a_per_epoch_knn_curve() {
    let tmp = tempfile::tempdir().unwrap();
    let (train_dir, test_dir) = (tmp.path().join("train"), tmp.path().join("test"));
    labelled_folder(&train_dir, 6);
    labelled_folder(&test_dir, 2);
    let model = tmp.path().join("small.safetensors");
    let out = bin()
        .args(["train", train_dir.to_str().unwrap(), "--out"])
        .arg(&model)
        .args(["--arch", "small-cnn", "--input-size", "32", "--dim", "8"])
        .args(["--epochs", "2", "--batch-size", "4", "--warmup-steps", "1"])
        .args(["--eval-train", train_dir.to_str().unwrap()])
        .args(["--eval-test", test_dir.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout_json(&out);
    let epochs = report["epochs"].as_array().unwrap();
    // Epoch 0 (the initial weights) and one entry per epoch, each with figures in range.
    assert_eq!(epochs.len(), 3, "{report}");
    for (i, e) in epochs.iter().enumerate() {
        assert_eq!(e["epoch"], i);
        let knn = e["knn_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&knn), "{e}");
        assert_eq!(e["mean_loss"].is_null(), i == 0, "{e}");
    }
    // The model runs in the inference encoder.
    let out = bin()
        .args(["embed", test_dir.join("warm/0.png").to_str().unwrap()])
        .args(["--model", model.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["dim"], 8);
    assert_eq!(v["vector"].as_array().unwrap().len(), 8);

    // Its checkpoint does not resume another architecture.
    let out = bin()
        .args(["train", train_dir.to_str().unwrap(), "--out"])
        .arg(&model)
        .args(["--resume", "--input-size", "32"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("architecture `small-cnn`"),
        "{}",
        stderr(&out)
    );

    // Options that only apply to the pretrained architecture are refused.
    let out = bin()
        .args(["train", train_dir.to_str().unwrap(), "--out"])
        .arg(tmp.path().join("x.safetensors"))
        .args(["--arch", "small-cnn", "--freeze-blocks", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--freeze-blocks"), "{}", stderr(&out));
}
