//! The CLIP, SigLIP and DINOv2 port against the transformers library: tiny models of each
//! family with reference outputs (`tests/fixtures/models/`, written by
//! `scripts/make-model-fixtures.py`). Image embeddings, text embeddings and the image
//! processors' pixels must match within 1e-4, token ids exactly.

use lookalike::model::pretrained::{Family, Pretrained};
use std::path::{Path, PathBuf};

const TOLERANCE: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models")
}

struct Reference {
    json: serde_json::Value,
    /// Name to (shape, values).
    tensors: std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>,
}

fn reference(dir: &Path) -> Reference {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("reference.json")).unwrap()).unwrap();
    let bytes = std::fs::read(dir.join("reference.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, (view.shape().to_vec(), values))
        })
        .collect();
    Reference { json, tensors }
}

fn rows(values: &[f32], width: usize) -> Vec<Vec<f32>> {
    values.chunks_exact(width).map(<[f32]>::to_vec).collect()
}

/// Checks one fixture model against its references; returns the family.
fn check(name: &str) -> Family {
    let dir = fixtures().join(name);
    let model = Pretrained::open(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
    let r = reference(&dir);
    let (pixel_shape, pixels) = &r.tensors["pixel_values"];
    let count = pixel_shape[0];
    let (embed_shape, image_embeds) = &r.tensors["image_embeds"];
    assert_eq!(model.info().dim, embed_shape[1], "{name}: dimension");

    // The model on the processor's own pixels.
    let ours = model.raw_image_embeddings(pixels, count).unwrap();
    for (i, (a, b)) in ours
        .iter()
        .zip(rows(image_embeds, embed_shape[1]))
        .enumerate()
    {
        let d = common::max_abs_diff(a, &b);
        assert!(d <= TOLERANCE, "{name}: image {i} differs by {d}");
    }

    // The image processor: the same photos, prepared here. PNGs decode to the same bytes
    // as Pillow's, so the pixels agree to rounding; JPEG decoders may differ by one level
    // (Pillow's libjpeg against the image crate's), which is allowed (one level over the
    // smallest standard deviation of the normalisation, 0.229) with a near-equal embedding.
    let photos = r.json["photos"].as_array().unwrap();
    let one_level = 1.0 / 255.0 / 0.225 + TOLERANCE;
    let per_image = pixels.len() / count;
    for (i, photo) in photos.iter().enumerate() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples/photos")
            .join(photo.as_str().unwrap());
        let rgb = image::open(&path).unwrap().to_rgb8();
        let prepared = model.prepare(&rgb);
        let expected = &pixels[i * per_image..(i + 1) * per_image];
        let d = common::max_abs_diff(&prepared, expected);
        let ours = model.raw_image_embeddings(&prepared, 1).unwrap();
        let reference = &image_embeds[i * embed_shape[1]..(i + 1) * embed_shape[1]];
        if path.extension().is_some_and(|e| e == "jpg") {
            assert!(d <= one_level, "{name}: pixels of {photo} differ by {d}");
            let cos = common::cosine(&ours[0], reference);
            assert!(cos > 0.999, "{name}: embedding of {photo} has cosine {cos}");
        } else {
            assert!(d <= TOLERANCE, "{name}: pixels of {photo} differ by {d}");
            let d = common::max_abs_diff(&ours[0], reference);
            assert!(
                d <= TOLERANCE,
                "{name}: embedding of {photo} differs by {d}"
            );
        }
    }

    // Text: token ids and embeddings.
    if let Some(strings) = r.json.get("strings").and_then(|s| s.as_array()) {
        assert!(model.info().text, "{name}: has a text tower");
        let ids = r.json["token_ids"].as_array().unwrap();
        assert_eq!(strings.len(), 200);
        for (s, expected) in strings.iter().zip(ids) {
            let s = s.as_str().unwrap();
            let expected: Vec<u32> = expected
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(
                model.token_ids(s).unwrap(),
                expected,
                "{name}: token ids of {s:?}"
            );
        }
        let texts = r.json["embedded_texts"].as_array().unwrap();
        let (text_shape, text_embeds) = &r.tensors["text_embeds"];
        for (i, t) in texts.iter().enumerate() {
            let ours = model.raw_text_embedding(t.as_str().unwrap()).unwrap();
            let expected = &text_embeds[i * text_shape[1]..(i + 1) * text_shape[1]];
            let d = common::max_abs_diff(&ours, expected);
            assert!(d <= TOLERANCE, "{name}: text {t} differs by {d}");
        }
    } else {
        assert!(!model.info().text, "{name}: no text tower expected");
        let e = model.embed_text("a dog").unwrap_err().to_string();
        assert!(e.contains("cannot embed text"), "{e}");
    }
    model.info().family
}

#[test]
fn clip_matches_transformers() {
    assert_eq!(check("clip-tiny"), Family::Clip);
}

#[test]
fn openclip_style_clip_matches_transformers() {
    // GELU, and the end token found by its id rather than as the highest id.
    assert_eq!(check("openclip-tiny"), Family::Clip);
}

#[test]
fn clip_with_f16_weights_matches_transformers() {
    assert_eq!(check("clip-tiny-f16"), Family::Clip);
}

#[test]
fn siglip2_matches_transformers() {
    assert_eq!(check("siglip2-tiny"), Family::Siglip);
}

#[test]
fn siglip_without_tokenizer_embeds_images_only() {
    assert_eq!(check("siglip-tiny-image-only"), Family::Siglip);
}

#[test]
fn dinov2_matches_transformers() {
    assert_eq!(check("dinov2-tiny"), Family::Dinov2);
}

#[test]
fn dinov2_with_registers_matches_transformers() {
    assert_eq!(check("dinov2-registers-tiny"), Family::Dinov2);
}

mod common;

fn fixture_arg(name: &str) -> String {
    fixtures().join(name).to_string_lossy().into_owned()
}

/// One index, two jobs: the built-in encoder keeps serving dedup while a pretrained model
/// serves query and search; adding a model embeds only with it.
#[test]
fn an_index_holds_a_pretrained_model_beside_the_built_in_encoder() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    common::copy_dir(&common::sample_photos(), &photos);
    let index = tmp.path().join("index");
    let p = photos.to_str().unwrap();

    // The bundled copy set (edited copies of the samples) and two copies of one photo.
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    common::copy_dir(&samples.join("copies"), &photos.join("copies"));
    // Two copies of one photo, so that dedup has a group to keep.
    std::fs::copy(photos.join("coins.png"), photos.join("coins-again.png")).unwrap();
    let img = image::open(photos.join("coins.png")).unwrap().rotate90();
    img.save(photos.join("coins-rotated.png")).unwrap();

    // The built-in encoder alone first: dedup's answer is what must not change.
    let out = common::run(&index, &["index", p, "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let dedup_before = common::stdout_json(&common::run(&index, &["dedup", "--json"]));
    assert!(
        dedup_before["groups"].as_array().unwrap().len() >= 5,
        "{dedup_before}"
    );
    let info = common::stdout_json(&common::run(&index, &["info", "--json"]));
    let contents = info["distinct_images"].clone();

    // Adding CLIP embeds every photo with CLIP only.
    let clip = fixture_arg("clip-tiny");
    let out = common::run(&index, &["index", p, "--model", &clip, "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let report = common::stdout_json(&out);
    assert_eq!(
        report["embedded"], 0,
        "the built-in encoder re-ran: {report}"
    );
    assert_eq!(report["pretrained"][0]["embedded"], contents, "{report}");

    // dedup's answer is the built-in encoder's, unchanged by the added model.
    let dedup_after = common::stdout_json(&common::run(&index, &["dedup", "--json"]));
    assert_eq!(dedup_before, dedup_after);
    // The model's vectors are consistent with the rest of the index.
    let out = common::run(&index, &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));

    // A second run embeds nothing; a new photo is embedded by both models.
    let img = image::open(photos.join("gravel.png")).unwrap().fliph();
    img.save(photos.join("gravel-mirrored.png")).unwrap();
    let out = common::run(&index, &["index", p, "--json"]);
    let report = common::stdout_json(&out);
    assert_eq!(report["embedded"], 1, "{report}");
    assert_eq!(report["pretrained"][0]["embedded"], 1, "{report}");
    assert_eq!(report["pretrained"][0]["present"], contents, "{report}");

    // info lists both models.
    let info = common::stdout_json(&common::run(&index, &["info", "--json"]));
    assert_eq!(
        info["pretrained"][0]["vectors"], info["distinct_images"],
        "{info}"
    );
    assert_eq!(info["pretrained"][0]["family"], "clip", "{info}");

    // query uses CLIP: a photo finds itself first with similarity 1.
    let chelsea = photos.join("chelsea.png");
    assert_query_finds_itself(&index, &chelsea, "clip-tiny");

    // search by text, and a combined query; the scores are CLIP's cosines.
    let out = common::run(&index, &["search", "a cat", "-k", "4", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v = common::stdout_json(&out);
    let neighbors = v["results"][0]["neighbors"].as_array().unwrap();
    assert_eq!(neighbors.len(), 4, "{v}");
    let model = Pretrained::open(&fixtures().join("clip-tiny")).unwrap();
    let text = model.embed_text("a cat").unwrap();
    let best = neighbors[0]["path"].as_str().unwrap();
    let image = lookalike_embed(&model, Path::new(best));
    let cos: f32 = text.iter().zip(&image).map(|(a, b)| a * b).sum();
    assert!((cos - neighbors[0]["similarity"].as_f64().unwrap() as f32).abs() < 1e-4);
    let out = common::run(
        &index,
        &[
            "search",
            "a cat",
            "--add",
            chelsea.to_str().unwrap(),
            "--subtract",
            "a rocket",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));

    // eval retrieval measures the model beside the built-in encoder.
    let labelled = labelled_photos(&photos, &tmp.path().join("labelled"));
    let v = eval_retrieval(&labelled, &clip, "clip-tiny");
    let methods: Vec<&str> = v["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods[..2], ["pretrained", "encoder"], "{v}");
    assert_eq!(v["methods"][0]["queries"], 4, "{v}");

    // A model without a text tower is added too; search keeps using CLIP.
    let dino = fixture_arg("dinov2-tiny");
    let out = common::run(&index, &["index", p, "--model", &dino, "--json"]);
    let report = common::stdout_json(&out);
    assert_eq!(
        report["pretrained"].as_array().unwrap().len(),
        2,
        "{report}"
    );
    let out = common::run(&index, &["search", "a cat", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = common::run(&index, &["search", "a cat", "--model", &dino]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("no text tower"),
        "{}",
        common::stderr(&out)
    );
}

fn lookalike_embed(model: &Pretrained, path: &Path) -> Vec<f32> {
    let rgb = image::open(path).unwrap().to_rgb8();
    model
        .embed_pixels(&model.prepare(&rgb), 1)
        .unwrap()
        .pop()
        .unwrap()
}

/// A change that breaks a model folder.
type Damage = dyn Fn(&Path);

/// A model folder with a missing file, a wrong shape or an unknown architecture is refused
/// with a message naming the file and the problem, exit status 2, and no index is created.
#[test]
fn a_broken_model_folder_is_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let good = fixtures().join("clip-tiny");
    let cases: [(&str, &Damage, &str); 4] = [
        (
            "no-weights",
            &|d| std::fs::remove_file(d.join("model.safetensors")).unwrap(),
            "model.safetensors: missing",
        ),
        (
            "no-processor",
            &|d| std::fs::remove_file(d.join("preprocessor_config.json")).unwrap(),
            "preprocessor_config.json: missing",
        ),
        (
            "unknown",
            &|d| {
                let c = std::fs::read_to_string(d.join("config.json"))
                    .unwrap()
                    .replace("\"clip\"", "\"bert\"");
                std::fs::write(d.join("config.json"), c).unwrap();
            },
            "config.json: `model_type` is \"bert\"",
        ),
        (
            "wrong-shape",
            &|d| {
                let c = std::fs::read_to_string(d.join("config.json"))
                    .unwrap()
                    .replace("\"intermediate_size\": 64", "\"intermediate_size\": 96");
                std::fs::write(d.join("config.json"), c).unwrap();
            },
            "has shape [64, 32], but config.json implies [96, 32]",
        ),
    ];
    for (name, damage, words) in cases {
        let dir = tmp.path().join(name);
        common::copy_dir(&good, &dir);
        damage(&dir);
        let index = tmp.path().join(format!("index-{name}"));
        let out = common::run(
            &index,
            &[
                "index",
                common::sample_photos().to_str().unwrap(),
                "--model",
                dir.to_str().unwrap(),
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name}: {}",
            common::stderr(&out)
        );
        assert!(
            common::stderr(&out).contains(words),
            "{name}: {}",
            common::stderr(&out)
        );
        assert!(!index.exists(), "{name}: an index was created");
    }
}

/// Every family end to end on its own index: index, query (the photo finds itself), search
/// (text models) or its refusal, eval retrieval, and dedup (the built-in encoder's groups).
#[test]
fn every_family_works_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    common::copy_dir(&common::sample_photos(), &photos);
    std::fs::copy(photos.join("coins.png"), photos.join("coins-again.png")).unwrap();
    let labelled = labelled_photos(&photos, &tmp.path().join("labelled"));
    let p = photos.to_str().unwrap();
    let astronaut = photos.join("astronaut.png");
    for (name, text) in [
        ("openclip-tiny", true),
        ("clip-tiny-f16", true),
        ("siglip2-tiny", true),
        ("siglip-tiny-image-only", false),
        ("dinov2-tiny", false),
        ("dinov2-registers-tiny", false),
    ] {
        let index = tmp.path().join(format!("index-{name}"));
        let model = fixture_arg(name);
        let out = common::run(&index, &["index", p, "--model", &model, "--json"]);
        assert!(out.status.success(), "{name}: {}", common::stderr(&out));
        assert_eq!(
            common::stdout_json(&out)["pretrained"][0]["embedded"],
            8,
            "{name}: one vector per content"
        );

        assert_query_finds_itself(&index, &astronaut, name);

        let out = common::run(
            &index,
            &["search", "a dog on the beach", "-k", "3", "--json"],
        );
        if text {
            assert!(out.status.success(), "{name}: {}", common::stderr(&out));
            let v = common::stdout_json(&out);
            // Three contents; identical files are listed one after the other.
            assert!(
                v["results"][0]["neighbors"].as_array().unwrap().len() >= 3,
                "{name}: {v}"
            );
        } else {
            assert_eq!(out.status.code(), Some(2), "{name}");
            assert!(
                common::stderr(&out).contains("cannot embed text"),
                "{name}: {}",
                common::stderr(&out)
            );
        }

        assert_eq!(
            eval_retrieval(&labelled, &model, name)["methods"][0]["method"],
            "pretrained",
            "{name}"
        );

        let v = common::stdout_json(&common::run(&index, &["dedup", "--json"]));
        assert_eq!(v["groups"].as_array().unwrap().len(), 1, "{name}: {v}");
    }
}

/// `query PHOTO` on `index`: the photo itself comes first, with similarity 1.
fn assert_query_finds_itself(index: &Path, photo: &Path, model: &str) {
    let out = common::run(
        index,
        &["query", photo.to_str().unwrap(), "-k", "2", "--json"],
    );
    let v = common::stdout_json(&out);
    let first = &v["results"][0]["neighbors"][0];
    let name = photo.file_name().unwrap().to_str().unwrap();
    assert!(
        first["path"].as_str().unwrap().ends_with(name),
        "{model}: {v}"
    );
    assert!(
        (first["similarity"].as_f64().unwrap() - 1.0).abs() < 1e-4,
        "{model}: {v}"
    );
}

/// Two labelled classes of two sample photos each, under `dir`.
fn labelled_photos(photos: &Path, dir: &Path) -> PathBuf {
    for (class, names) in [
        ("cats", ["chelsea.png", "coffee.png"]),
        ("other", ["rocket.jpg", "gravel.png"]),
    ] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for n in names {
            std::fs::copy(photos.join(n), dir.join(class).join(n)).unwrap();
        }
    }
    dir.to_path_buf()
}

/// `eval retrieval DIR --model MODEL --json`, which must succeed.
fn eval_retrieval(labelled: &Path, model: &str, name: &str) -> serde_json::Value {
    let out = common::bin()
        .args([
            "eval",
            "retrieval",
            labelled.to_str().unwrap(),
            "--model",
            model,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{name}: {}", common::stderr(&out));
    common::stdout_json(&out)
}
