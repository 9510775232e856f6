//! How the default `dedup --threshold` was chosen: similarity of edited copies to their
//! originals versus similarity between distinct images, with the embedded encoder.
//!
//! ```text
//! cargo run --release --example threshold_study -- target/data/imagenette/val 300
//! ```
//! Takes the first N images (by path) of a folder as originals, derives copies with common
//! edits, and prints the copy similarities per edit next to the distribution of each distinct
//! image's highest similarity to any other image of the folder.

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::DynamicImage;
use lookalike::decode::{prepare, DecodeOptions, PreparedImage};
use lookalike::Encoder;
use rayon::prelude::*;
use std::path::PathBuf;

fn jpeg(img: &DynamicImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&img.to_rgb8())
        .unwrap();
    out
}

type Edit = (&'static str, fn(&DynamicImage) -> Vec<u8>);

const EDITS: &[Edit] = &[
    ("half size, JPEG q75", |i| {
        jpeg(
            &i.resize(i.width() / 2, i.height() / 2, FilterType::Triangle),
            75,
        )
    }),
    ("quarter size, JPEG q75", |i| {
        jpeg(
            &i.resize(i.width() / 4, i.height() / 4, FilterType::Triangle),
            75,
        )
    }),
    ("JPEG q20", |i| jpeg(i, 20)),
    ("centre crop 80% area", |i| {
        let (w, h) = (i.width(), i.height());
        let (cw, ch) = (w * 894 / 1000, h * 894 / 1000);
        jpeg(&i.crop_imm((w - cw) / 2, (h - ch) / 2, cw, ch), 90)
    }),
    ("centre crop 50% area", |i| {
        let (w, h) = (i.width(), i.height());
        let (cw, ch) = (w * 707 / 1000, h * 707 / 1000);
        jpeg(&i.crop_imm((w - cw) / 2, (h - ch) / 2, cw, ch), 90)
    }),
    ("brightness +40", |i| jpeg(&i.brighten(40), 90)),
    ("grayscale", |i| {
        jpeg(&DynamicImage::ImageLuma8(i.to_luma8()), 90)
    }),
    ("horizontal flip", |i| jpeg(&i.fliph(), 90)),
];

fn embed_all(encoder: &Encoder, images: &[PreparedImage]) -> Vec<Vec<f32>> {
    images
        .chunks(32)
        .flat_map(|c| encoder.embed(c).unwrap().into_iter().map(|v| v.unwrap()))
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn quantile(sorted: &[f32], q: f64) -> f32 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/data/imagenette/val".into()),
    );
    let n: usize = args.next().map_or(Ok(300), |s| s.parse())?;
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    let encoder = Encoder::default_model()?;
    let opts = DecodeOptions::new(encoder.info().input_size as u32);
    let all: Vec<PreparedImage> = files
        .par_iter()
        .map(|p| prepare(&std::fs::read(p).unwrap(), &opts).unwrap())
        .collect();
    let all_vecs = embed_all(&encoder, &all);

    // Highest similarity of each image to any other distinct image of the folder.
    let mut best_other: Vec<f32> = (0..all_vecs.len())
        .into_par_iter()
        .map(|i| {
            (0..all_vecs.len())
                .filter(|&j| j != i)
                .map(|j| dot(&all_vecs[i], &all_vecs[j]))
                .fold(f32::MIN, f32::max)
        })
        .collect();
    best_other.sort_by(f32::total_cmp);
    println!(
        "{} distinct images; highest similarity to another image:",
        best_other.len()
    );
    for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
        println!("  quantile {q:>5}: {:.4}", quantile(&best_other, q));
    }

    // Step across the folder so that originals cover every class.
    let step = (files.len() / n.max(1)).max(1);
    let originals: Vec<usize> = (0..files.len()).step_by(step).take(n).collect();
    println!(
        "\n{} originals, similarity of each edited copy to its original:",
        originals.len()
    );
    println!(
        "{:<24} {:>7} {:>7} {:>7} {:>7}",
        "edit", "min", "p01", "p05", "median"
    );
    let mut all_copies = Vec::new();
    for (name, edit) in EDITS {
        let copies: Vec<PreparedImage> = originals
            .par_iter()
            .map(|&i| {
                let img = image::open(&files[i]).unwrap();
                prepare(&edit(&img), &opts).unwrap()
            })
            .collect();
        let vecs = embed_all(&encoder, &copies);
        let mut sims: Vec<f32> = originals
            .iter()
            .zip(&vecs)
            .map(|(&i, v)| dot(&all_vecs[i], v))
            .collect();
        sims.sort_by(f32::total_cmp);
        println!(
            "{name:<24} {:>7.4} {:>7.4} {:>7.4} {:>7.4}",
            sims[0],
            quantile(&sims, 0.01),
            quantile(&sims, 0.05),
            quantile(&sims, 0.5)
        );
        all_copies.extend(sims);
    }
    all_copies.sort_by(f32::total_cmp);
    println!("\nthreshold  copies found  distinct images with a false match");
    for t in [0.80f32, 0.82, 0.84, 0.85, 0.86, 0.88, 0.90, 0.92, 0.94] {
        let found = all_copies.iter().filter(|&&s| s >= t).count() as f64 / all_copies.len() as f64;
        let false_match = best_other.iter().filter(|&&s| s >= t).count();
        println!(
            "{t:>9.2}  {:>11.1}%  {false_match:>5} of {}",
            found * 100.0,
            best_other.len()
        );
    }
    Ok(())
}
