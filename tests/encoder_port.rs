//! The candle port of EfficientNet-Lite0 reproduces the reference outputs computed with an
//! independent implementation (tests/fixtures/reference, from the model's distribution).

mod common;

use candle_core::Tensor;
use common::{cosine, max_abs_diff};
use lookalike::ingest::decode::PreparedImage;
use lookalike::Encoder;
use std::path::{Path, PathBuf};

struct Reference {
    image: PreparedImage,
    pooled: Vec<f32>,
    top5: Vec<u32>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference")
}

fn references() -> Vec<(String, Reference)> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("reference-outputs.json")).unwrap())
            .unwrap();
    let mut out = Vec::new();
    for (name, v) in json["images"].as_object().unwrap() {
        let rgb = image::open(fixtures().join(name)).unwrap().into_rgb8();
        assert_eq!(rgb.dimensions(), (224, 224));
        let image = PreparedImage {
            rgb: rgb.into_raw(),
            side: 224,
            width: 224,
            height: 224,
        };
        let floats = |key: &str| -> Vec<f32> {
            v[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        let pooled = floats("pooled_1280");
        let top5 = v["top5_imagenet_class_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        out.push((
            name.clone(),
            Reference {
                image,
                pooled,
                top5,
            },
        ));
    }
    assert_eq!(out.len(), 3);
    out
}

fn pooled(encoder: &Encoder, images: &[PreparedImage]) -> Vec<Vec<f32>> {
    let input = encoder.input_tensor(images).unwrap();
    encoder.features(&input).unwrap().to_vec2().unwrap()
}

/// The embedded (f16) weights: differences come only from rounding the weights to f16.
#[test]
fn embedded_model_reproduces_reference_features() {
    let encoder = Encoder::imagenet().unwrap();
    let refs = references();
    let images: Vec<PreparedImage> = refs.iter().map(|(_, r)| r.image.clone()).collect();
    let got = pooled(&encoder, &images);
    for ((name, r), g) in refs.iter().zip(&got) {
        let diff = max_abs_diff(g, &r.pooled);
        let cos = cosine(g, &r.pooled);
        eprintln!("{name}: f16 weights, max |diff| {diff:.5}, cosine {cos:.6}");
        assert!(diff < 0.025, "{name}: max |diff| {diff}");
        assert!(cos > 0.9999, "{name}: cosine {cos}");
    }
    // The embedding is the unit-length pooled feature.
    let emb = encoder.embed(&images).unwrap();
    for (e, g) in emb.iter().zip(&got) {
        let e = e.as_ref().unwrap();
        let norm: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(cosine(e, g) > 0.99999);
    }
}

/// Batching must not change results: one image alone equals the same image in a batch.
#[test]
fn batch_and_single_image_agree() {
    let encoder = Encoder::imagenet().unwrap();
    let refs = references();
    let images: Vec<PreparedImage> = refs.iter().map(|(_, r)| r.image.clone()).collect();
    let batch = pooled(&encoder, &images);
    let single = pooled(&encoder, &images[1..2]);
    assert!(max_abs_diff(&batch[1], &single[0]) < 1e-4);
}

/// The original f32 weights (with classifier), when the shared model folder is beside the
/// checkout: pooled features within 2e-3 and the same top-5 ImageNet classes.
#[test]
fn original_weights_reproduce_reference_features_and_classes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/models/efficientnet-lite0-imagenet.safetensors");
    if !path.exists() {
        eprintln!("skipped: {} is not present", path.display());
        return;
    }
    let encoder = Encoder::from_file(&path).unwrap();
    let refs = references();
    let images: Vec<PreparedImage> = refs.iter().map(|(_, r)| r.image.clone()).collect();
    let got = pooled(&encoder, &images);
    let input = encoder.input_tensor(&images).unwrap();
    let logits: Tensor = encoder
        .classify(&input)
        .unwrap()
        .expect("the original weights carry the classifier");
    let logits: Vec<Vec<f32>> = logits.to_vec2().unwrap();
    for (((name, r), g), l) in refs.iter().zip(&got).zip(&logits) {
        let diff = max_abs_diff(g, &r.pooled);
        eprintln!("{name}: f32 weights, max |diff| {diff:.5}");
        assert!(diff < 2e-3, "{name}: max |diff| {diff}");
        let mut order: Vec<u32> = (0..l.len() as u32).collect();
        order.sort_by(|&a, &b| l[b as usize].total_cmp(&l[a as usize]));
        assert_eq!(&order[..5], &r.top5[..], "{name}");
    }
}
