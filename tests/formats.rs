//! HEIC, AVIF and camera RAW: decoded right (PSNR against libheif's decode, orientation),
//! broken files reported with reasons and never a panic, and the files of one shot grouped
//! in the same-shot tier. Fixtures: tests/fixtures/photo-formats (see its README.md).

mod common;

use common::*;
use lookalike::ingest::capture_time::CaptureTime;
use lookalike::ingest::decode::{decode_upright, prepare, DecodeOptions};
use lookalike::ingest::raw;
use lookalike::problem::SkipReason;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photo-formats")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

/// The whole picture, upright, at full size.
fn decode(name: &str) -> Result<image::RgbImage, SkipReason> {
    decode_upright(&read(name), 10_000, &DecodeOptions::new(224))
}

/// PSNR of two equally long lists of values in 0-255.
fn psnr_of(a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (x, y) in a.zip(b) {
        sum += (x - y).powi(2);
        n += 1;
    }
    10.0 * (255.0f64 * 255.0 / (sum / n.max(1) as f64).max(1e-9)).log10()
}

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let values = |img: &image::RgbImage| img.as_raw().iter().map(|&v| v as f64).collect::<Vec<_>>();
    psnr_of(values(a).into_iter(), values(b).into_iter())
}

/// PSNR of the luma (BT.601) of two pictures: where a HEVC decode shows, unlike the
/// chroma upsampling filter, which HEIF leaves to the decoder.
fn luma_psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let luma = |img: &image::RgbImage| -> Vec<f64> {
        img.pixels()
            .map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64)
            .collect()
    };
    psnr_of(luma(a).into_iter(), luma(b).into_iter())
}

/// A fixture decoded upright (checked to be `size`) and libheif's decode of it.
fn decoded_and_reference(name: &str, size: (u32, u32)) -> (image::RgbImage, image::RgbImage) {
    let ours = decode(name).unwrap();
    assert_eq!(ours.dimensions(), size, "{name}");
    let reference = image::open(fixtures().join(format!("{name}.ref.png")))
        .unwrap()
        .to_rgb8();
    (ours, reference)
}

#[test]
fn heic_decodes_like_libheif_and_its_exif_orientation_is_not_applied_twice() {
    for (name, size) in [
        ("chelsea.heic", (360, 240)),
        // 3x2 tiles of 128 pixels, cropped to 300x200, as phones write 512-pixel ones.
        ("grid.heic", (300, 200)),
        ("astronaut-10bit.heic", (160, 160)),
        // 320x192 stored, turned by irot to portrait; its EXIF also says "rotate 90", as
        // an iPhone's does: applied once, not twice.
        ("rotated.heic", (192, 320)),
    ] {
        let (ours, reference) = decoded_and_reference(name, size);
        let (rgb, luma) = (psnr(&ours, &reference), luma_psnr(&ours, &reference));
        eprintln!("{name}: PSNR {rgb:.1} dB (luma {luma:.1} dB) against libheif");
        assert!(rgb >= 40.0, "{name}: PSNR {rgb:.1} dB");
        assert!(luma >= 45.0, "{name}: luma PSNR {luma:.1} dB");
    }
}

#[test]
fn heic_and_avif_alpha_planes_are_composited_on_grey() {
    for (name, (w, h)) in [("alpha.heic", (96, 64)), ("alpha.avif", (240, 160))] {
        let ours = decode(name).unwrap();
        assert_eq!(ours.dimensions(), (w, h), "{name}");
        // The left half is transparent: the fixed background (mid grey) shows.
        let grey = ours.get_pixel(10, h / 2).0;
        assert!(
            grey.iter().all(|&c| c.abs_diff(128) <= 3),
            "{name}: {grey:?}"
        );
        let photo = (w * 5 / 8..w)
            .flat_map(|x| (0..h).map(move |y| (x, y)))
            .map(|(x, y)| {
                ours.get_pixel(x, y)
                    .0
                    .iter()
                    .map(|&c| c.abs_diff(128) as u32)
                    .sum::<u32>()
            })
            .sum::<u32>();
        assert!(
            photo > (w * 3 / 8) * h * 10,
            "{name}: the opaque half is the photo, not grey"
        );
    }
}

#[test]
fn avif_decodes_like_libheif_grids_rotation_and_mirroring_included() {
    for (name, size) in [
        ("coffee.avif", (240, 160)),
        ("astronaut-10bit-444.avif", (128, 128)),
        ("limited.avif", (240, 160)),
        ("grid.avif", (240, 160)),
        // A quarter turn anticlockwise, then a top-to-bottom flip.
        ("rotated.avif", (160, 240)),
    ] {
        let (ours, reference) = decoded_and_reference(name, size);
        let db = psnr(&ours, &reference);
        eprintln!("{name}: PSNR {db:.1} dB against libheif");
        assert!(db >= 40.0, "{name}: PSNR {db:.1} dB");
    }
}

#[test]
fn raw_files_are_their_largest_preview_turned_by_the_raws_orientation() {
    let preview = image::load_from_memory(
        &std::fs::read(fixtures().join("panasonic.rw2"))
            .map(|d| {
                let p = raw::inspect(&d).largest().unwrap();
                d[p.offset..p.offset + p.len].to_vec()
            })
            .unwrap(),
    )
    .unwrap()
    .to_rgb8();
    assert_eq!(preview.dimensions(), (480, 320));
    let turned = |quarters: u32| -> image::RgbImage {
        match quarters {
            1 => image::imageops::rotate90(&preview),
            2 => image::imageops::rotate180(&preview),
            3 => image::imageops::rotate270(&preview),
            _ => preview.clone(),
        }
    };
    // Orientation 6: 90 degrees clockwise; 8: 270; 3: 180.
    for (name, quarters) in [
        ("nikon.nef", 1),
        ("canon.cr2", 3),
        ("adobe.dng", 2),
        ("panasonic.rw2", 0),
        ("olympus.orf", 0),
        ("fujifilm.raf", 1),
        ("canon.cr3", 1),
    ] {
        let bytes = read(name);
        assert!(raw::is_raw(&bytes), "{name}");
        let info = raw::inspect(&bytes);
        let largest = info.largest().unwrap();
        assert_eq!((largest.width, largest.height), (480, 320), "{name}");
        let ours = decode(name).unwrap();
        let expected = turned(quarters);
        assert_eq!(ours.dimensions(), expected.dimensions(), "{name}");
        let db = psnr(&ours, &expected);
        assert!(db >= 40.0, "{name}: {db:.1} dB from the turned preview");
    }
    // A thumbnail or a lossless raw strip is never taken for the preview.
    assert_eq!(raw::inspect(&read("canon.cr2")).previews.len(), 2);
}

#[test]
fn raw_capture_times_are_read_from_every_container() {
    let taken = |name: &str| CaptureTime::of(&read(name));
    assert!(taken("canon.cr2").is_some());
    assert!(taken("canon.cr3").is_some());
    assert!(taken("fujifilm.raf").is_some());
    // 10:15:30.12 and 10:15:31: two exposures; a second and its own copy: one.
    let (cr2, raf) = (taken("canon.cr2"), taken("fujifilm.raf"));
    assert!(CaptureTime::two_shots(cr2.as_ref(), raf.as_ref()));
    assert!(!CaptureTime::two_shots(cr2.as_ref(), cr2.as_ref()));
    assert_eq!(taken("panasonic.rw2"), None);
}

#[test]
fn broken_heic_and_raw_files_give_reasons() {
    let opts = DecodeOptions::new(224);
    for name in ["truncated.heic", "truncated.avif", "truncated.nef"] {
        let reason = prepare(&read(name), &opts).unwrap_err();
        assert!(
            matches!(reason, SkipReason::Decode(_)),
            "{name}: {reason:?}"
        );
    }
    let reason = prepare(&read("no-preview.dng"), &opts).unwrap_err();
    assert!(
        matches!(&reason, SkipReason::Unsupported(r) if r.contains("without a JPEG preview")),
        "{reason:?}"
    );
    // Corrupt HEVC data decodes to something or to a reason, never a panic.
    if let Err(reason) = prepare(&read("corrupt.heic"), &opts) {
        assert!(!matches!(reason, SkipReason::DecoderPanic(_)), "{reason:?}");
    }
    // The pixel limit is checked from the container, before decoding.
    let small = DecodeOptions {
        max_pixels: 10_000,
        ..opts
    };
    for name in ["chelsea.heic", "coffee.avif", "grid.avif", "nikon.nef"] {
        let reason = prepare(&read(name), &small).unwrap_err();
        assert!(matches!(reason, SkipReason::TooLarge { .. }), "{reason:?}");
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

#[test]
fn mutated_heif_and_raw_files_give_reasons_not_panics() {
    let opts = DecodeOptions {
        max_pixels: 4_000_000,
        ..DecodeOptions::new(64)
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut decoded = 0;
    let mut tried = 0;
    let names = [
        "chelsea.heic",
        "astronaut-10bit.heic",
        "rotated.heic",
        "grid.heic",
        "coffee.avif",
        "grid.avif",
        "rotated.avif",
        "nikon.nef",
        "canon.cr2",
        "canon.cr3",
        "adobe.dng",
        "fujifilm.raf",
        "olympus.orf",
        "panasonic.rw2",
    ];
    for name in names {
        let original = read(name);
        let rounds = if name.ends_with(".heic") || name.ends_with(".avif") {
            150
        } else {
            400
        };
        for round in 0..rounds {
            let mut bytes = original.clone();
            if round % 3 == 0 {
                bytes.truncate(rng.below(original.len()));
            } else {
                // Most flips land in the headers, where the parsers are.
                let span = if round % 3 == 1 { 4096 } else { bytes.len() };
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(span.min(bytes.len()));
                    bytes[at] = rng.below(256) as u8;
                }
            }
            tried += 1;
            // The RAW walk itself must not panic (the decoder would hide it as a reason).
            let _ = raw::inspect(&bytes);
            match prepare(&bytes, &opts) {
                Ok(img) => {
                    assert_eq!(img.rgb.len(), 64 * 64 * 3);
                    decoded += 1;
                }
                Err(SkipReason::DecoderPanic(message)) => {
                    panic!("{name}, round {round}: decoder panicked: {message}")
                }
                Err(_) => {}
            }
        }
    }
    eprintln!("{tried} mutated files: {decoded} decoded, the rest refused with a reason");
}

#[test]
fn index_reads_heic_and_raw_and_reports_what_it_cannot() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let dir = fixtures();
    let out = run(&index, &["index", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = stdout_json(&out);
    let mut skipped: Vec<(String, String)> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let path = s["path"].as_str().unwrap();
            let name = Path::new(path).file_name().unwrap().to_string_lossy();
            (
                name.into_owned(),
                s["kind"]["kind"].as_str().unwrap().into(),
            )
        })
        .filter(|(name, _)| name != "corrupt.heic")
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            ("no-preview.dng".to_string(), "unsupported".to_string()),
            ("truncated.avif".into(), "decode".into()),
            ("truncated.heic".into(), "decode".into()),
            ("truncated.nef".into(), "decode".into()),
        ],
        "{v}"
    );
    // 5 HEIC + 6 AVIF + 7 RAW + 5 photos of the shot folder (the MOV is a video: ignored),
    // and the 9 reference PNGs; the corrupt HEIC either way.
    let embedded = v["embedded"].as_u64().unwrap() + v["copies"].as_u64().unwrap();
    assert!((32..=33).contains(&embedded), "{v}");
    assert_eq!(v["ignored"], 2, "the MOV and the README: {v}");
}

/// The groups of `dedup --json` as (path file name, tier, keeper) lists.
fn groups(out: &std::process::Output) -> Vec<Vec<(String, String, bool)>> {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    stdout_json(out)["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    let path = m["path"].as_str().unwrap();
                    let name = Path::new(path).file_name().unwrap().to_string_lossy();
                    (
                        name.into_owned(),
                        m["tier"].as_str().unwrap().to_string(),
                        m["keeper"].as_bool().unwrap(),
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_raw_and_its_jpeg_and_a_heic_and_its_export_are_one_shot_kept_together() {
    let tmp = tempfile::tempdir().unwrap();
    let shot = tmp.path().join("shot");
    std::fs::create_dir_all(&shot).unwrap();
    for entry in std::fs::read_dir(fixtures().join("shot")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), shot.join(entry.file_name())).unwrap();
    }
    let index = tmp.path().join("index");
    let out = run(&index, &["index", shot.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["ignored"], 1, "the Live Photo's MOV");
    let one = |a: &str, b: &str| {
        vec![
            (a.to_string(), "exact".to_string(), true),
            (b.to_string(), "same_shot".to_string(), false),
        ]
    };
    let listed = groups(&run(&index, &["dedup", "--json"]));
    assert_eq!(
        listed,
        [
            one("IMG_0001.CR2", "IMG_0001.JPG"),
            one("IMG_0002.HEIC", "IMG_0002.jpg")
        ]
    );
    // The preference decides the keeper.
    let listed = groups(&run(&index, &["dedup", "--json", "--prefer", "jpeg"]));
    assert_eq!(
        listed,
        [
            one("IMG_0001.JPG", "IMG_0001.CR2"),
            one("IMG_0002.jpg", "IMG_0002.HEIC")
        ]
    );
    // A dry run keeps each pair together; naming the tier splits them.
    let trash = run(&index, &["dedup", "--trash"]);
    assert_eq!(trash.status.code(), Some(0), "{}", stderr(&trash));
    let text = String::from_utf8_lossy(&trash.stdout);
    assert!(!text.contains("would trash"), "{text}");
    assert!(text.contains("dry run: 0 files"), "{text}");
    assert!(
        stderr(&trash).contains("2 files left with their shot"),
        "{}",
        stderr(&trash)
    );
    let split = run(&index, &["dedup", "--trash", "--tier", "same-shot"]);
    let text = String::from_utf8_lossy(&split.stdout);
    assert!(
        text.contains("would trash") && text.contains("IMG_0001.JPG"),
        "{text}"
    );
    assert!(text.contains("dry run: 2 files"), "{text}");
    // Nothing moved, and the MOV was never mentioned.
    assert_eq!(std::fs::read_dir(&shot).unwrap().count(), 6);
    assert!(!stderr(&split).contains("MOV"));
    // The HTML report shows the HEIC and the RAW too.
    let page = tmp.path().join("report.html");
    let out = run(&index, &["dedup", "--html", page.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("data:image/jpeg;base64,").count(), 4, "{html}");
}
