//! Bad and odd input: every file gets a vector or a reason, nothing panics, nothing aborts the
//! run. Fixtures are generated here, except the corpus of real odd files
//! (`../shared/datasets/odd-images.tar`, or the tarball named by `LOOKALIKE_ODD_IMAGES`).

mod common;

use common::*;
use image::{DynamicImage, ImageBuffer, Rgb, RgbImage, Rgba, RgbaImage};
use std::path::{Path, PathBuf};

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The embedding of `image` printed by `lookalike embed --json`.
/// The copy head's descriptor of `image` (the one that decides "same picture").
fn embed(image: &Path) -> Vec<f64> {
    let out = bin()
        .args(["embed", "--json", "--head", "copy"])
        .arg(image)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{image:?}: {}", stderr(&out));
    stdout_json(&out)["vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

/// A picture with structure in both directions (so that rotations and flips change it).
fn picture(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let disc = ((fx - 0.3).powi(2) + (fy - 0.35).powi(2)).sqrt() < 0.2;
        if disc {
            Rgb([230, 40, 30])
        } else {
            Rgb([(fx * 200.0) as u8, (fy * 180.0) as u8, 90])
        }
    })
}

/// The corpus of odd files, unpacked into `dir`, if it is available.
fn odd_images(dir: &Path) -> Option<PathBuf> {
    let tar = std::env::var_os("LOOKALIKE_ODD_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/odd-images.tar")
        });
    if !tar.is_file() {
        eprintln!("odd-images corpus not found at {tar:?}: not run");
        return None;
    }
    std::fs::create_dir_all(dir).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    Some(dir.join("odd-images"))
}

#[test]
fn every_odd_file_gets_a_vector_or_a_reason_and_nothing_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(odd) = odd_images(tmp.path()) else {
        return;
    };
    let index = tmp.path().join("index");
    let out = run(&index, &["index", odd.to_str().unwrap(), "--json"]);
    // 1: finished, some files skipped (never 101, a panic, or 2, an abort).
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = stdout_json(&out);
    let skipped = v["skipped"].as_array().unwrap();
    let count = |k: &str| v[k].as_u64().unwrap() as usize;
    assert_eq!(
        count("scanned"),
        count("embedded") + count("copies") + count("ignored") + skipped.len(),
        "{v}"
    );
    let kind_of = |name: &str| {
        skipped
            .iter()
            .find(|s| s["path"].as_str().unwrap().ends_with(name))
            .map(|s| s["kind"]["kind"].as_str().unwrap().to_string())
    };
    // An iPhone photo (a grid of HEVC tiles) and a single-picture HEIF decode.
    for name in ["IMG_5195.HEIC", "samplefilehub.heif"] {
        assert_eq!(kind_of(name), None, "{name} was skipped");
    }
    // Malformed EXIF never costs the pixels.
    for name in ["corrupted-exif.jpg", "image00971.jpg", "image01088.jpg"] {
        assert_eq!(kind_of(name), None, "{name} was skipped");
    }
    for s in skipped {
        let kind = s["kind"]["kind"].as_str().unwrap();
        assert!(kind != "decoder_panic" || !s["reason"].as_str().unwrap().is_empty());
    }
    assert!(count("embedded") >= 40, "{v}");
}

/// Mean absolute difference of two prepared (encoder-input) images, in grey levels.
fn pixel_distance(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn the_eight_exif_orientations_give_the_same_picture() {
    use lookalike::ingest::decode::{prepare, DecodeOptions};
    let tmp = tempfile::tempdir().unwrap();
    let Some(odd) = odd_images(tmp.path()) else {
        return;
    };
    let opts = DecodeOptions::new(224);
    for shape in ["landscape", "portrait"] {
        let dir = odd.join("exif-orientation");
        let file = |o: u32| dir.join(format!("{shape}_{o}.jpg"));
        let first = prepare(&std::fs::read(file(1)).unwrap(), &opts)
            .unwrap()
            .rgb;
        // The eight files differ only by the digit drawn on them and their JPEG noise (about
        // 14 grey levels); the picture mirrored or turned is 3x further (checked below).
        for o in 2..=8 {
            let img = prepare(&std::fs::read(file(o)).unwrap(), &opts)
                .unwrap()
                .rgb;
            let d = pixel_distance(&first, &img);
            assert!(
                d < 25.0,
                "{shape} orientation {o}: {d:.1} grey levels from orientation 1"
            );
        }
        let upright = image::RgbImage::from_raw(224, 224, first.clone()).unwrap();
        for (what, wrong) in [
            ("mirrored", image::imageops::flip_horizontal(&upright)),
            ("turned", image::imageops::rotate180(&upright)),
        ] {
            let d = pixel_distance(&first, wrong.as_raw());
            assert!(d > 35.0, "{shape}: the {what} picture is only {d:.1} away");
        }
        // And the encoder sees one picture (the drawn digits differ: the copy head, trained
        // to tell distinct photos of one scene apart, scores them 0.88-0.97).
        let e1 = embed(&file(1));
        for o in 2..=8 {
            let sim = dot(&e1, &embed(&file(o)));
            assert!(sim > 0.85, "{shape} orientation {o}: similarity {sim}");
        }
    }
}

#[test]
fn pixel_formats_decode_to_the_same_picture() {
    let tmp = tempfile::tempdir().unwrap();
    let base = picture(160, 120);
    let reference = tmp.path().join("rgb8.png");
    base.save(&reference).unwrap();
    let want = embed(&reference);

    // 16-bit RGB.
    let deep: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(160, 120, |x, y| {
        Rgb(base.get_pixel(x, y).0.map(|c| c as u16 * 257))
    });
    let p16 = tmp.path().join("rgb16.png");
    DynamicImage::ImageRgb16(deep).save(&p16).unwrap();
    // Grey + alpha, fully opaque: the grey picture.
    let grey = DynamicImage::ImageRgb8(base.clone()).to_luma_alpha8();
    let pgrey = tmp.path().join("grey-alpha.png");
    grey.save(&pgrey).unwrap();
    // An animated GIF: the first frame counts.
    let gif = tmp.path().join("animated.gif");
    {
        use image::codecs::gif::{GifEncoder, Repeat};
        use image::{Delay, Frame};
        let mut enc = GifEncoder::new(std::fs::File::create(&gif).unwrap());
        enc.set_repeat(Repeat::Infinite).unwrap();
        let first = DynamicImage::ImageRgb8(base.clone()).to_rgba8();
        let second = RgbaImage::from_pixel(160, 120, Rgba([0, 0, 255, 255]));
        for f in [first, second] {
            enc.encode_frame(Frame::from_parts(
                f,
                0,
                0,
                Delay::from_numer_denom_ms(100, 1),
            ))
            .unwrap();
        }
    }
    // The first frame alone, through the same GIF encoder (same palette quantisation).
    let still = tmp.path().join("still.gif");
    DynamicImage::ImageRgb8(base.clone()).save(&still).unwrap();
    let blue = tmp.path().join("blue.png");
    RgbImage::from_pixel(160, 120, Rgb([0, 0, 255]))
        .save(&blue)
        .unwrap();
    assert!(dot(&want, &embed(&p16)) > 0.999, "16-bit PNG");
    let animated = embed(&gif);
    let first_sim = dot(&animated, &embed(&still));
    assert!(
        first_sim > 0.99,
        "animated GIF vs its first frame: {first_sim}"
    );
    assert!(
        dot(&animated, &embed(&blue)) < first_sim - 0.1,
        "the second frame was used"
    );
    let grey_sim = dot(&want, &embed(&pgrey));
    assert!(grey_sim > 0.8, "grey + alpha PNG: {grey_sim}");
}

#[test]
fn transparency_is_composited_on_a_fixed_background() {
    let tmp = tempfile::tempdir().unwrap();
    let base = picture(160, 120);
    // The same picture twice, with different colours hidden under zero alpha.
    let hidden = |c: u8| {
        RgbaImage::from_fn(160, 120, |x, y| {
            if x < 40 {
                Rgba([c, 255 - c, c / 2, 0])
            } else {
                let p = base.get_pixel(x, y).0;
                Rgba([p[0], p[1], p[2], 255])
            }
        })
    };
    let (a, b) = (tmp.path().join("a.png"), tmp.path().join("b.png"));
    hidden(0).save(&a).unwrap();
    hidden(200).save(&b).unwrap();
    let (ea, eb) = (embed(&a), embed(&b));
    assert!(
        dot(&ea, &eb) > 0.9999,
        "transparent pixels leaked their colour"
    );
}

#[test]
fn an_image_over_the_pixel_limit_names_the_option() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    picture(1500, 1000).save(photos.join("big.png")).unwrap();
    picture(300, 200).save(photos.join("small.png")).unwrap();
    let index = tmp.path().join("index");
    let out = run(
        &index,
        &["index", photos.to_str().unwrap(), "--max-pixels", "1000000"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("big.png") && err.contains("--max-pixels"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 embedded"));
}

#[test]
fn a_decompression_bomb_is_refused_without_allocating_it() {
    // A valid PNG header declaring 100000 x 100000 RGBA pixels (40 GB decoded).
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    // A real 1x1 PNG whose header is rewritten to 100000 x 100000 (CRC fixed).
    let mut png = Vec::new();
    image::RgbaImage::from_pixel(1, 1, Rgba([1, 2, 3, 255]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(photos.join("bomb.png"), &png).unwrap();
    let index = tmp.path().join("index");
    // Under GNU time, where it is installed, to read the peak memory.
    let gnu_time = Path::new("/usr/bin/time");
    let mut cmd = if gnu_time.is_file() {
        let mut c = std::process::Command::new(gnu_time);
        c.args(["-f", "peak-rss-kb %M"])
            .arg(env!("CARGO_BIN_EXE_lookalike"));
        c
    } else {
        bin()
    };
    let out = cmd
        .args(["index", "--json", photos.to_str().unwrap(), "--index"])
        .arg(&index)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["skipped"][0]["kind"]["kind"], "too_large", "{v}");
    let err = stderr(&out);
    if let Some(kb) = err
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kb "))
        .and_then(|n| n.trim().parse::<u64>().ok())
    {
        // The process (model included) stays small; decoding the bomb would need 40 GB.
        assert!(kb < 600_000, "peak memory {kb} KB");
    }
}

#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_are_kept_apart_and_printed_escaped() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    // "caf\xE9.png" (Latin-1) and "caf\u{FFFD}.png", its lossy UTF-8 rendering: two files.
    let latin1 = photos.join(OsStr::from_bytes(b"caf\xe9.png"));
    let lossy = photos.join("caf\u{FFFD}.png");
    picture(160, 120)
        .save_with_format(&latin1, image::ImageFormat::Png)
        .unwrap();
    copy_photos(&photos, &["coins.png"]);
    std::fs::rename(photos.join("coins.png"), &lossy).unwrap();
    let index = tmp.path().join("index");
    let out = run(&index, &["index", photos.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["embedded"], 2);

    let out = run(
        &index,
        &["query", "--json", "-k", "2", lossy.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names = neighbor_paths(&stdout_json(&out));
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].ends_with("caf\u{FFFD}.png"), "{names:?}");
    // The Latin-1 name is printed with its byte escaped, not merged with the other one.
    assert!(
        names[1].contains("\\xE9") || names[1].contains("\\xe9"),
        "{names:?}"
    );
}

#[test]
fn header_only_heif_files_get_reasons_and_misnamed_raw_files_are_read_by_content() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, &["coins.png"]);
    // ISO-BMFF headers as phones write them, and nothing after.
    let mut avif = vec![0, 0, 0, 28];
    avif.extend_from_slice(b"ftypavif\0\0\0\0avifmif1miaf");
    avif.resize(4096, 0);
    std::fs::write(photos.join("phone.avif"), &avif).unwrap();
    let mut heic = vec![0, 0, 0, 24];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    heic.resize(4096, 0);
    std::fs::write(photos.join("phone.heic"), &heic).unwrap();
    // Named like camera RAW files, but a PNG and a plain TIFF: their content decides.
    std::fs::copy(photos.join("coins.png"), photos.join("camera.nef")).unwrap();
    let tiff = tmp.path().join("t.tiff");
    picture(64, 48).save(&tiff).unwrap();
    std::fs::copy(&tiff, photos.join("camera.cr2")).unwrap();
    let index = tmp.path().join("index");
    let out = run(&index, &["index", photos.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["embedded"], 2, "{v}");
    assert_eq!(v["copies"], 1, "camera.nef is coins.png: {v}");
    let mut skipped: Vec<(String, String, String)> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                file_name(s["path"].as_str().unwrap()),
                s["kind"]["kind"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    skipped.sort();
    let kinds: Vec<(&str, &str)> = skipped
        .iter()
        .map(|(f, k, _)| (f.as_str(), k.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![("phone.avif", "decode"), ("phone.heic", "decode")]
    );
    assert!(skipped[0].2.contains("HEIF container"), "{skipped:?}");
}

#[test]
fn a_missing_or_corrupt_model_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let photo = sample_photos().join("coins.png");
    let missing = tmp.path().join("nowhere.safetensors");
    let out = bin()
        .args(["embed", "--model"])
        .arg(&missing)
        .arg(&photo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nowhere.safetensors"),
        "{}",
        stderr(&out)
    );

    let corrupt = tmp.path().join("corrupt.safetensors");
    std::fs::write(&corrupt, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": broken").unwrap();
    let out = bin()
        .args(["embed", "--model"])
        .arg(&corrupt)
        .arg(&photo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("corrupt.safetensors"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn cmyk_jpeg_and_palette_png_decode_to_the_right_colours() {
    use lookalike::ingest::decode::{prepare, DecodeOptions};
    let tmp = tempfile::tempdir().unwrap();
    let base = picture(160, 160);
    let opts = DecodeOptions::new(64);
    let want = {
        let p = tmp.path().join("rgb.png");
        base.save(&p).unwrap();
        prepare(&std::fs::read(&p).unwrap(), &opts).unwrap().rgb
    };

    // CMYK, as Photoshop writes it (Adobe marker; the encoder stores inverted values).
    let cmyk: Vec<u8> = base
        .pixels()
        .flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 0])
        .collect();
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 95)
        .encode(&cmyk, 160, 160, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
    let got = prepare(&jpeg, &opts).expect("CMYK JPEG decodes").rgb;
    let d = pixel_distance(&want, &got);
    assert!(d < 6.0, "CMYK JPEG colours are {d:.1} grey levels off");

    // Palette PNG: 4 colours, indexed.
    let palette = [
        [230u8, 40, 30],
        [20, 120, 200],
        [250, 250, 250],
        [10, 10, 10],
    ];
    let indices: Vec<u8> = (0..160 * 160)
        .map(|i| (((i % 160) / 40 + (i / 160) / 40) % 4) as u8)
        .collect();
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, 160, 160);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(palette.concat());
        enc.write_header()
            .unwrap()
            .write_image_data(&indices)
            .unwrap();
    }
    let rgb = RgbImage::from_fn(160, 160, |x, y| {
        Rgb(palette[indices[(y * 160 + x) as usize] as usize])
    });
    let p = tmp.path().join("palette-as-rgb.png");
    rgb.save(&p).unwrap();
    let want = prepare(&std::fs::read(&p).unwrap(), &opts).unwrap().rgb;
    let got = prepare(&png_bytes, &opts).expect("palette PNG decodes").rgb;
    assert_eq!(got, want, "palette PNG colours");
}

#[cfg(unix)]
#[test]
fn unreadable_files_and_folders_are_reported_not_fatal() {
    use std::os::unix::fs::PermissionsExt;
    let uid = std::process::Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        eprintln!("running as root, which reads everything: permissions cannot be tested");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, &["coins.png", "gravel.png"]);
    let locked_dir = photos.join("locked");
    copy_photos(&locked_dir, &["chelsea.png"]);
    let set = |p: &Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    set(&photos.join("gravel.png"), 0o000);
    set(&locked_dir, 0o000);
    let index = tmp.path().join("index");
    let out = run(&index, &["index", photos.to_str().unwrap(), "--json"]);
    set(&locked_dir, 0o755);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["embedded"], 1, "{v}");
    let kinds: Vec<&str> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"]["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"unreadable") && kinds.contains(&"walk"),
        "{v}"
    );
}
