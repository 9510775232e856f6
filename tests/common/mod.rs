//! Helpers for the integration tests: run the real binary on files in temporary folders.
#![allow(dead_code)]

pub mod hub;
pub mod server;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lookalike"))
}

/// Runs lookalike with `args` against the index folder `index`.
pub fn run(index: &Path, args: &[&str]) -> Output {
    bin()
        .args(args)
        .arg("--index")
        .arg(index)
        .output()
        .expect("lookalike runs")
}

pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The demo photos shipped in the repository.
pub fn sample_photos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/photos")
}

/// Copies the named sample photos into `dir` (created).
pub fn copy_photos(dir: &Path, names: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    for n in names {
        std::fs::copy(sample_photos().join(n), dir.join(n)).unwrap();
    }
}

/// Every sample photo.
pub const PHOTOS: &[&str] = &[
    "astronaut.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "gravel.png",
    "retina.jpg",
    "rocket.jpg",
];

/// Writes a half-size, JPEG-recompressed copy of `src` to `dst`.
pub fn write_resized_copy(src: &Path, dst: &Path, quality: u8) {
    let img = image::open(src).unwrap();
    let small = img.resize(img.width() / 2, img.height() / 2, FilterType::Triangle);
    let file = std::fs::File::create(dst).unwrap();
    JpegEncoder::new_with_quality(file, quality)
        .encode_image(&small.to_rgb8())
        .unwrap();
}

/// Paths of the neighbours of the first query in `query --json` output.
pub fn neighbor_paths(v: &serde_json::Value) -> Vec<String> {
    v["results"][0]["neighbors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["path"].as_str().unwrap().to_string())
        .collect()
}

pub fn file_name(p: &str) -> String {
    Path::new(p)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// JPEG bytes of `img` (quality `quality`) with an EXIF block that records the capture time
/// `taken` ("YYYY:MM:DD HH:MM:SS") and its fraction of a second `subsec` (digits).
pub fn jpeg_taken_at(img: &image::RgbImage, quality: u8, taken: &str, subsec: &str) -> Vec<u8> {
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, quality)
        .encode_image(img)
        .unwrap();
    let ascii = |text: &str| exif::Value::Ascii(vec![text.as_bytes().to_vec()]);
    let fields = [
        (exif::Tag::DateTimeOriginal, ascii(taken)),
        (exif::Tag::SubSecTimeOriginal, ascii(subsec)),
    ]
    .map(|(tag, value)| exif::Field {
        tag,
        ifd_num: exif::In::PRIMARY,
        value,
    });
    let mut writer = exif::experimental::Writer::new();
    for field in &fields {
        writer.push_field(field);
    }
    let mut tiff = std::io::Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();
    // An APP1 segment right after the start-of-image marker.
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The Chromium (or Chrome) on the PATH, if any.
pub fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
}

/// The sample photos with an exact copy of the rocket and a half-size copy of the coffee
/// (two duplicate groups), indexed. Returns (photos folder, canonical; index folder).
pub fn sample_library(dir: &Path) -> (PathBuf, PathBuf) {
    let photos = dir.join("photos");
    copy_photos(&photos, PHOTOS);
    std::fs::create_dir_all(photos.join("copies")).unwrap();
    std::fs::copy(photos.join("rocket.jpg"), photos.join("copies/rocket.jpg")).unwrap();
    write_resized_copy(
        &photos.join("coffee.png"),
        &photos.join("copies/coffee-small.jpg"),
        85,
    );
    let photos = photos.canonicalize().unwrap();
    let index = dir.join("index");
    let out = run(&index, &["index", photos.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (photos, index)
}

/// Copies the files of a folder (and its subfolders) into `to`, created.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}
