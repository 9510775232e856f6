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

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (n(a) * n(b))
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
        let d = max_diff(a, &b);
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
        let d = max_diff(&prepared, expected);
        let ours = model.raw_image_embeddings(&prepared, 1).unwrap();
        let reference = &image_embeds[i * embed_shape[1]..(i + 1) * embed_shape[1]];
        if path.extension().is_some_and(|e| e == "jpg") {
            assert!(d <= one_level, "{name}: pixels of {photo} differ by {d}");
            let cos = cosine(&ours[0], reference);
            assert!(cos > 0.999, "{name}: embedding of {photo} has cosine {cos}");
        } else {
            assert!(d <= TOLERANCE, "{name}: pixels of {photo} differ by {d}");
            let d = max_diff(&ours[0], reference);
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
            let d = max_diff(&ours, expected);
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
