//! `dedup` end to end: tiers, keepers, reference folders, the pixel check, the content check,
//! capture times, solid margins, dry runs, actions with their journal and undo, CSV, and the
//! HTML report checked in a headless browser; and the same copy decision in `query --copies`.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// Photos with planted duplicates: an exact copy of rocket.jpg and a resized copy of
/// chelsea.png in `copies/`, the originals in `photos/`. Returns (photos root, index).
fn planted(tmp: &Path) -> (PathBuf, PathBuf) {
    let root = tmp.join("library");
    let photos = root.join("photos");
    copy_photos(
        &photos,
        &["rocket.jpg", "chelsea.png", "coins.png", "gravel.png"],
    );
    let copies = root.join("copies");
    std::fs::create_dir_all(&copies).unwrap();
    std::fs::copy(photos.join("rocket.jpg"), copies.join("rocket-backup.jpg")).unwrap();
    write_resized_copy(
        &photos.join("chelsea.png"),
        &copies.join("chelsea-small.jpg"),
        85,
    );
    let index = tmp.join("index");
    let out = run(&index, &["index", root.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (root, index)
}

fn keepers_and_copies(v: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let names: Vec<String> = g["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| file_name(m["path"].as_str().unwrap()))
                .collect();
            (names[0].clone(), names[1..].to_vec())
        })
        .collect();
    out.sort();
    out
}

/// A folder `catalogue` under `tmp` with five different t-shirts laid out alike (small
/// fixtures) and a copy of t-shirt 1 cropped to 80 % and re-encoded; returns the folder and
/// t-shirt 1's picture.
fn t_shirt_catalogue(tmp: &Path) -> (PathBuf, image::DynamicImage) {
    let dir = tmp.join("catalogue");
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lookalike");
    for n in 1..=5 {
        let name = format!("t-shirt-{n}.jpg");
        std::fs::copy(fixtures.join(&name), dir.join(&name)).unwrap();
    }
    let original = image::open(fixtures.join("t-shirt-1.jpg")).unwrap();
    let (w, h) = (original.width(), original.height());
    original
        .crop_imm(w / 10, h / 10, w * 8 / 10, h * 8 / 10)
        .to_rgb8()
        .save(dir.join("t-shirt-1-cropped.jpg"))
        .unwrap();
    (dir, original)
}

/// `query --copies` marks the results that are copies of the query, as `dedup` decides: the
/// same bytes (exact) and an edited copy, not different t-shirts laid out alike nor another
/// shot of the query's own scene, though the query lists them all.
#[test]
fn query_marks_the_copies_among_its_results_and_only_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, original) = t_shirt_catalogue(tmp.path());
    // The query: a shot of t-shirt 1 with its capture time, and a second shot of it a moment
    // later (its pixels nearly the same) in the collection.
    let taken = "2026:03:01 10:15:30";
    let query = tmp.path().join("query.jpg");
    let shot = original.to_rgb8();
    std::fs::write(&query, jpeg_taken_at(&shot, 95, taken, "100")).unwrap();
    std::fs::write(
        dir.join("t-shirt-1-second-shot.jpg"),
        jpeg_taken_at(&original.brighten(4).to_rgb8(), 95, taken, "600"),
    )
    .unwrap();
    std::fs::copy(&query, dir.join("t-shirt-1-shot.jpg")).unwrap();
    let index = tmp.path().join("index");
    let out = run(&index, &["index", dir.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = run(
        &index,
        &[
            "query",
            query.to_str().unwrap(),
            "-k",
            "9",
            "--copies",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = stdout_json(&out);
    let marks: std::collections::BTreeMap<String, (bool, bool)> = v["results"][0]["neighbors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let exact = n["copy_evidence"]["exact"].as_bool().unwrap_or(false);
            (
                file_name(n["path"].as_str().unwrap()),
                (n["copy"].as_bool().unwrap(), exact),
            )
        })
        .collect();
    assert_eq!(marks.len(), 8, "every indexed file is listed: {marks:?}");
    assert_eq!(marks["t-shirt-1-shot.jpg"], (true, true), "{marks:?}");
    assert_eq!(marks["t-shirt-1-cropped.jpg"], (true, false), "{marks:?}");
    // The original t-shirt photo (no capture time) is the query's picture re-encoded.
    assert_eq!(marks["t-shirt-1.jpg"], (true, false), "{marks:?}");
    for other in [
        "t-shirt-2.jpg",
        "t-shirt-3.jpg",
        "t-shirt-4.jpg",
        "t-shirt-5.jpg",
        "t-shirt-1-second-shot.jpg",
    ] {
        assert_eq!(marks[other], (false, false), "{other}: {marks:?}");
    }
    // Without --copies nothing is marked.
    let out = run(&index, &["query", query.to_str().unwrap(), "--json"]);
    let v = stdout_json(&out);
    assert!(v["results"][0]["neighbors"][0].get("copy").is_none(), "{v}");
}

/// Two shots of one still scene a moment apart (a burst: their pixels nearly the same, their
/// EXIF capture times a fraction of a second apart) are two photos, not a photo and its
/// copy; a resized copy that kept its original's EXIF still joins it.
#[test]
fn two_shots_of_a_burst_stay_apart_while_a_copy_with_the_same_capture_time_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("burst");
    std::fs::create_dir_all(&dir).unwrap();
    let scene = image::open(sample_photos().join("rocket.jpg")).unwrap();
    let taken = "2026:03:01 10:15:30";
    let first = scene.to_rgb8();
    let second = scene.brighten(3).to_rgb8();
    let (w, h) = (first.width(), first.height());
    let copy = scene
        .resize(w * 3 / 4, h * 3 / 4, image::imageops::FilterType::Triangle)
        .to_rgb8();
    for (name, img, quality, subsec) in [
        ("IMG_0001.jpg", &first, 95, "120"),
        ("IMG_0002.jpg", &second, 93, "370"),
        ("IMG_0001-small.jpg", &copy, 85, "120"),
    ] {
        std::fs::write(dir.join(name), jpeg_taken_at(img, quality, taken, subsec)).unwrap();
    }
    let index = tmp.path().join("index");
    let out = run(&index, &["index", dir.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The pictures alone would put all three together ...
    let out = run(&index, &["dedup", "--json", "--no-content-check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let members: usize = keepers_and_copies(&stdout_json(&out))
        .iter()
        .map(|(_, copies)| 1 + copies.len())
        .sum();
    assert_eq!(
        members, 3,
        "the encoder's scores see one picture three times"
    );
    // ... the capture times keep the second shot apart: listed for review as another shot,
    // not a duplicate.
    let out = run(
        &index,
        &["dedup", "--json", "--tier", "exact,near-exact,copy"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        keepers_and_copies(&stdout_json(&out)),
        vec![(
            "IMG_0001.jpg".to_string(),
            vec!["IMG_0001-small.jpg".to_string()]
        )]
    );
    let v = stdout_json(&run(&index, &["dedup", "--json", "--tier", "similar-shot"]));
    let members = &v["groups"][0]["members"];
    assert_eq!(
        file_name(members[1]["path"].as_str().unwrap()),
        "IMG_0002.jpg",
        "{v}"
    );
    assert_eq!(members[1]["tier"], "similar_shot", "{v}");
}

/// Draws `text` in dark 8x8 glyphs scaled by `scale`, its top left at (x, y).
fn draw_text(img: &mut image::RgbImage, text: &str, (x, y): (u32, u32), scale: u32) {
    let dark = image::Rgb([20, 20, 20]);
    lookalike::eval::transforms::draw_text(img, text, x, y, scale, dark);
}

/// A receipt of one shop's template: the shop's logo and header, then lines of items and
/// prices that differ from receipt to receipt (`seed`).
fn receipt(seed: u64) -> image::RgbImage {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut page = image::RgbImage::from_pixel(480, 720, image::Rgb([245, 245, 240]));
    let logo = image::open(sample_photos().join("coffee.png"))
        .unwrap()
        .resize_exact(120, 80, image::imageops::FilterType::Triangle)
        .to_rgb8();
    image::imageops::overlay(&mut page, &logo, 180, 20);
    draw_text(&mut page, "CAFE LOOKALIKE", (100, 115), 2);
    draw_text(&mut page, "12 RUE DES PIXELS  TEL 0142", (30, 145), 2);
    for line in 0..16 {
        let item: String = (0..rng.random_range(6..14))
            .map(|_| b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"[rng.random_range(0..26)] as char)
            .collect();
        let price = format!(
            "{:>3}.{:02}",
            rng.random_range(1..60),
            rng.random_range(0..100)
        );
        draw_text(&mut page, &item, (30, 190 + line * 28), 2);
        draw_text(&mut page, &price, (340, 190 + line * 28), 2);
    }
    draw_text(&mut page, "TOTAL", (30, 660), 3);
    draw_text(&mut page, "THANK YOU", (150, 695), 2);
    page
}

/// Other shots of one scene (frames of a video, without capture times, a subject moving
/// across an unchanged background; two receipts of one shop's template) are listed in the
/// similar-shot tier, and actions leave them alone unless that tier is named; a captioned
/// copy of a photo is a copy.
#[test]
fn other_shots_are_listed_as_similar_shots_and_never_acted_on_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("library");
    std::fs::create_dir_all(&dir).unwrap();
    let save = |name: &str, img: &image::RgbImage| {
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(img)
            .unwrap();
        std::fs::write(dir.join(name), jpeg).unwrap();
    };
    // Three frames: the camera drifts by 2 px a frame, the subject moves by 90 px.
    let scene = image::open(sample_photos().join("rocket.jpg"))
        .unwrap()
        .to_rgb8();
    let subject = image::open(sample_photos().join("chelsea.png"))
        .unwrap()
        .crop_imm(120, 40, 150, 150)
        .to_rgb8();
    for k in 0..3u32 {
        let mut frame =
            image::imageops::crop_imm(&scene, 2 * k, k, scene.width() - 8, scene.height() - 8)
                .to_image();
        image::imageops::overlay(&mut frame, &subject, 40 + 90 * k as i64, 200);
        save(&format!("frame-{k}.jpg"), &frame);
    }
    save("receipt-1.jpg", &receipt(1));
    save("receipt-2.jpg", &receipt(2));
    // A captioned copy, as `eval copies` makes them.
    std::fs::copy(
        sample_photos().join("astronaut.png"),
        dir.join("astronaut.png"),
    )
    .unwrap();
    let mut captioned = image::open(dir.join("astronaut.png")).unwrap().to_rgb8();
    for y in 400..470 {
        for x in 0..captioned.width() {
            captioned.put_pixel(x, y, image::Rgb([250, 250, 250]));
        }
    }
    draw_text(&mut captioned, "FIRST WALK 1984", (20, 415), 4);
    save("astronaut-captioned.jpg", &captioned);
    let index = tmp.path().join("index");
    let out = run(&index, &["index", dir.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = stdout_json(&run(&index, &["dedup", "--json"]));
    let tier_of = |name: &str| -> Option<String> {
        v["groups"].as_array().unwrap().iter().find_map(|g| {
            g["members"].as_array().unwrap().iter().find_map(|m| {
                (file_name(m["path"].as_str().unwrap()) == name).then(|| {
                    if m["keeper"] == true {
                        "keeper".to_string()
                    } else {
                        m["tier"].as_str().unwrap().to_string()
                    }
                })
            })
        })
    };
    let frames: Vec<Option<String>> = (0..3).map(|k| tier_of(&format!("frame-{k}.jpg"))).collect();
    assert_eq!(
        frames
            .iter()
            .filter(|t| t.as_deref() == Some("keeper"))
            .count(),
        1,
        "{frames:?}\n{v}"
    );
    assert_eq!(
        frames
            .iter()
            .filter(|t| t.as_deref() == Some("similar_shot"))
            .count(),
        2,
        "{frames:?}\n{v}"
    );
    let receipts = [tier_of("receipt-1.jpg"), tier_of("receipt-2.jpg")];
    assert!(
        receipts.contains(&Some("keeper".into()))
            && receipts.contains(&Some("similar_shot".into())),
        "{receipts:?}\n{v}"
    );
    assert_eq!(
        tier_of("astronaut-captioned.jpg").as_deref(),
        Some("copy"),
        "{v}"
    );
    // Why: the verifier's verdict comes with each copy and each other shot it judged.
    let verdicts = v.to_string().matches("\"probability\"").count();
    assert!(verdicts >= 1, "{v}");

    // Trashing without --tier takes the copy only; the other shots stay where they are.
    let home = tmp.path().join("home");
    let out = bin()
        .env("XDG_DATA_HOME", &home)
        .args([
            "--index",
            index.to_str().unwrap(),
            "dedup",
            "--trash",
            "--yes",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!dir.join("astronaut-captioned.jpg").exists());
    for name in [
        "frame-0.jpg",
        "frame-1.jpg",
        "frame-2.jpg",
        "receipt-1.jpg",
        "receipt-2.jpg",
    ] {
        assert!(dir.join(name).exists(), "{name} was acted on");
    }
}

#[test]
fn the_pixel_check_groups_strongly_blurred_copies_that_the_encoder_alone_misses() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(
        &photos,
        &["astronaut.png", "coffee.png", "chelsea.png", "coins.png"],
    );
    // Gaussian blur of 4 % of the longer side, the strongest blur of `eval copies`.
    for name in ["astronaut", "coffee"] {
        let img = image::open(photos.join(format!("{name}.png"))).unwrap();
        let sigma = 0.04 * img.width().max(img.height()) as f32;
        image::imageops::blur(&img.to_rgb8(), sigma)
            .save(photos.join(format!("{name}-blurred.png")))
            .unwrap();
    }
    let index = tmp.path().join("index");
    let out = run(&index, &["index", photos.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The scores (the content check, which looks at the pictures, comes after them).
    let v = stdout_json(&run(&index, &["dedup", "--json", "--no-content-check"]));
    assert_eq!(
        (v["scoring"].as_str(), v["threshold"].as_f64()),
        (Some("verified"), Some(0.20f32 as f64))
    );
    let astronaut = (
        "astronaut.png".to_string(),
        vec!["astronaut-blurred.png".to_string()],
    );
    assert_eq!(
        keepers_and_copies(&v),
        [
            astronaut.clone(),
            (
                "coffee.png".to_string(),
                vec!["coffee-blurred.png".to_string()]
            ),
        ],
        "{v}"
    );
    // With the content check (the default), the blurred astronaut is compared with its
    // original blurred alike and still joins it. The blurred coffee cup, a smooth picture
    // with few corners left, does not: the check's price (docs/studies/dedup.md, "Distinct
    // look-alikes").
    let v = stdout_json(&run(&index, &["dedup", "--json"]));
    assert_eq!(keepers_and_copies(&v), [astronaut], "{v}");
    // The encoder's normalised similarity alone scores them below its threshold.
    let v = stdout_json(&run(
        &index,
        &["dedup", "--json", "--no-pixel-check", "--no-content-check"],
    ));
    assert_eq!(
        (v["scoring"].as_str(), v["threshold"].as_f64()),
        (Some("normalised"), Some(0.15f32 as f64))
    );
    assert!(keepers_and_copies(&v).is_empty(), "{v}");
}

/// Regression (2026-12-01): a copy padded onto a solid colour was compared as a smaller
/// picture inside a frame; its margins are now left out before the encoder sees it.
/// Regression: five different t-shirts on plain surfaces (one kind of thing, one layout)
/// were grouped as duplicates of each other; the encoder's scores alone still would (checked
/// with `--no-content-check`). Edited copies of one of them must still join it.
#[test]
fn different_pictures_that_look_alike_stay_apart_while_their_copies_group() {
    let tmp = tempfile::tempdir().unwrap();
    // Copies of t-shirt 1: cropped to 80 % and re-encoded (in the catalogue); mirrored and
    // brightened.
    let (dir, original) = t_shirt_catalogue(tmp.path());
    original
        .fliph()
        .brighten(30)
        .to_rgb8()
        .save(dir.join("t-shirt-1-mirrored.png"))
        .unwrap();
    let index = tmp.path().join("index");
    let out = run(&index, &["index", dir.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = run(&index, &["dedup", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = stdout_json(&out);
    let groups: Vec<Vec<String>> = keepers_and_copies(&v)
        .into_iter()
        .map(|(k, c)| {
            let mut names: Vec<String> = std::iter::once(k).chain(c).collect();
            names.sort();
            names
        })
        .collect();
    assert_eq!(
        groups,
        vec![vec![
            "t-shirt-1-cropped.jpg".to_string(),
            "t-shirt-1-mirrored.png".to_string(),
            "t-shirt-1.jpg".to_string(),
        ]],
        "only the copies are grouped"
    );
    // Each copy says why it is there: matched corners that agree on one map.
    for m in v["groups"][0]["members"].as_array().unwrap().iter().skip(1) {
        let agreement = &m["agreement"];
        assert!(agreement["inliers"].as_u64().unwrap() >= 16, "{m}");
        assert!(agreement["patches"].as_f64().unwrap() >= 0.6, "{m}");
    }
    let members = v["groups"][0]["members"].as_array().unwrap();
    if !members[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("mirrored.png")
    {
        let mirrored = members
            .iter()
            .find(|m| m["path"].as_str().unwrap().ends_with("mirrored.png"))
            .unwrap();
        assert_eq!(mirrored["agreement"]["mirrored"], true, "{mirrored}");
    }

    // Without the content check, the encoder's scores alone group different t-shirts: the
    // fixtures are look-alikes, so this test guards the check.
    let out = run(&index, &["dedup", "--json", "--no-content-check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let grouped_others = keepers_and_copies(&stdout_json(&out))
        .into_iter()
        .flat_map(|(k, c)| std::iter::once(k).chain(c))
        .filter(|n| !n.starts_with("t-shirt-1"))
        .count();
    assert!(grouped_others >= 2, "the fixtures no longer look alike");
}

#[test]
fn padded_and_letterboxed_copies_prepare_like_their_originals() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    copy_photos(&photos, &["astronaut.png", "coffee.png", "chelsea.png"]);
    // White padding of a quarter of the width on each side (a square "no crop" post), and
    // black bars of a fifth of the height above and below (letterboxing), saved as JPEG.
    for (name, colour, (fx, fy)) in [
        ("astronaut", [255u8, 255, 255], (0.25, 0.0)),
        ("coffee", [0u8, 0, 0], (0.0, 0.2)),
    ] {
        let img = image::open(photos.join(format!("{name}.png")))
            .unwrap()
            .to_rgb8();
        let (bx, by) = (
            (img.width() as f32 * fx) as u32,
            (img.height() as f32 * fy) as u32,
        );
        let mut canvas = image::RgbImage::from_pixel(
            img.width() + 2 * bx,
            img.height() + 2 * by,
            image::Rgb(colour),
        );
        image::imageops::overlay(&mut canvas, &img, bx as i64, by as i64);
        canvas
            .save(photos.join(format!("{name}-framed.jpg")))
            .unwrap();
    }
    let index = tmp.path().join("index");
    let out = run(&index, &["index", photos.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for name in ["astronaut", "coffee"] {
        let query = photos.join(format!("{name}-framed.jpg"));
        let v = stdout_json(&run(
            &index,
            &["query", query.to_str().unwrap(), "-k", "2", "--json"],
        ));
        let neighbors = v["results"][0]["neighbors"].as_array().unwrap();
        assert_eq!(
            file_name(neighbors[1]["path"].as_str().unwrap()),
            format!("{name}.png"),
            "{v}"
        );
        // Only JPEG's loss separates them (whole frames score far lower: dedup's cosine
        // mode found 29 % of the padded copies of `eval copies` before, 97 % now).
        let similarity = neighbors[1]["similarity"].as_f64().unwrap();
        assert!(similarity > 0.97, "{name}: {similarity}");
    }
    // Grouped (the keeper is the larger file by pixels, here the framed one).
    let v = stdout_json(&run(&index, &["dedup", "--json"]));
    let mut groups: Vec<Vec<String>> = keepers_and_copies(&v)
        .into_iter()
        .map(|(keeper, copies)| {
            let mut members = [vec![keeper], copies].concat();
            members.sort();
            members
        })
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        [
            ["astronaut-framed.jpg", "astronaut.png"],
            ["coffee-framed.jpg", "coffee.png"]
        ],
        "{v}"
    );
}

#[test]
fn tier_restricts_what_is_listed_and_acted_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = planted(tmp.path());
    let groups = |tiers: &str| {
        let out = run(&index, &["dedup", "--json", "--tier", tiers]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        keepers_and_copies(&stdout_json(&out))
    };
    let rocket = (
        "rocket.jpg".to_string(),
        vec!["rocket-backup.jpg".to_string()],
    );
    let chelsea = (
        "chelsea.png".to_string(),
        vec!["chelsea-small.jpg".to_string()],
    );
    assert_eq!(groups("exact"), vec![rocket.clone()]);
    assert_eq!(groups("near-exact"), vec![chelsea.clone()]);
    assert_eq!(groups("exact,near-exact"), vec![chelsea, rocket]);
    assert!(groups("copy").is_empty());
    assert!(groups("similar-shot").is_empty());
    // A dry run plans only what is listed.
    let out = run(
        &index,
        &[
            "dedup",
            "--tier",
            "exact",
            "--move-to",
            tmp.path().join("dups").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rocket-backup.jpg") && !text.contains("chelsea-small.jpg"),
        "{text}"
    );
    let out = run(&index, &["dedup", "--tier", "copy,copies"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("copies"), "{}", stderr(&out));
}

#[test]
fn keep_policies_and_reference_folders_choose_the_keeper() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, index) = planted(tmp.path());
    let v = stdout_json(&run(&index, &["dedup", "--json"]));
    // Default: highest resolution keeps; between exact copies, the older file.
    assert_eq!(
        keepers_and_copies(&v),
        vec![
            ("chelsea.png".into(), vec!["chelsea-small.jpg".into()]),
            ("rocket.jpg".into(), vec!["rocket-backup.jpg".into()]),
        ]
    );
    let rocket = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["tier"] == "exact")
        .unwrap();
    assert_eq!(rocket["members"][1]["tier"], "exact");
    assert_eq!(rocket["members"][1]["similarity"], 1.0);

    // --keep newest: make the copies newer, they become the keepers.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    for name in ["rocket-backup.jpg", "chelsea-small.jpg"] {
        let f = std::fs::File::options()
            .write(true)
            .open(root.join("copies").join(name))
            .unwrap();
        f.set_modified(later).unwrap();
    }
    run(&index, &["index", root.to_str().unwrap(), "-q"]);
    let v = stdout_json(&run(&index, &["dedup", "--json", "--keep", "newest"]));
    assert_eq!(
        keepers_and_copies(&v),
        vec![
            ("chelsea-small.jpg".into(), vec!["chelsea.png".into()]),
            ("rocket-backup.jpg".into(), vec!["rocket.jpg".into()]),
        ]
    );

    // A reference folder always keeps, whatever the policy, and is never listed as a copy.
    let reference = root.join("copies");
    let v = stdout_json(&run(
        &index,
        &[
            "dedup",
            "--json",
            "--reference",
            reference.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        keepers_and_copies(&v),
        vec![
            ("chelsea-small.jpg".into(), vec!["chelsea.png".into()]),
            ("rocket-backup.jpg".into(), vec!["rocket.jpg".into()]),
        ]
    );
    for g in v["groups"].as_array().unwrap() {
        assert_eq!(g["members"][0]["reference"], true);
        assert_eq!(g["members"][1]["reference"], false);
    }

    // CSV: a header and one row per file.
    let out = run(&index, &["dedup", "--csv"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[0].starts_with("group,group_tier,keeper,"), "{text}");
    assert_eq!(rows.len(), 5, "{text}");
    assert_eq!(
        rows.iter().filter(|r| r.contains(",true,false,")).count(),
        2,
        "{text}"
    );
}

/// The README's demo: a checkout writes `copies/rocket-backup.jpg` a moment before
/// `photos/rocket.jpg` (same bytes); the name, not that moment, decides, and the group says so.
#[test]
fn the_keeper_of_exact_copies_is_the_file_a_person_would_keep() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, index) = planted(tmp.path());
    let set_time = |path: &Path, t: std::time::SystemTime| {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(t).unwrap();
    };
    let now = std::time::SystemTime::now();
    let backup = root.join("copies/rocket-backup.jpg");
    set_time(&backup, now - std::time::Duration::from_millis(800));
    set_time(&root.join("photos/rocket.jpg"), now);
    run(&index, &["index", root.to_str().unwrap(), "-q"]);
    let exact_group = |args: &[&str]| {
        let v = stdout_json(&run(&index, args));
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["tier"] == "exact")
            .cloned()
            .unwrap()
    };
    let g = exact_group(&["dedup", "--json"]);
    assert_eq!(
        file_name(g["members"][0]["path"].as_str().unwrap()),
        "rocket.jpg"
    );
    assert_eq!(
        g["kept_because"],
        serde_json::json!({"file": "name"}),
        "{g}"
    );
    let text = String::from_utf8_lossy(&run(&index, &["dedup"]).stdout).into_owned();
    assert!(text.contains("kept: the other names say copy"), "{text}");

    // A backup clearly older than the other file is kept: it was there first.
    set_time(&backup, now - std::time::Duration::from_secs(3600));
    run(&index, &["index", root.to_str().unwrap(), "-q"]);
    let g = exact_group(&["dedup", "--json"]);
    assert_eq!(
        file_name(g["members"][0]["path"].as_str().unwrap()),
        "rocket-backup.jpg"
    );
    assert_eq!(
        g["kept_because"],
        serde_json::json!({"file": "oldest"}),
        "{g}"
    );
    // Between different pictures the policy decides, and the group names it.
    let v = stdout_json(&run(&index, &["dedup", "--json"]));
    let chelsea = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["tier"] == "near_exact")
        .unwrap();
    assert_eq!(
        chelsea["kept_because"],
        serde_json::json!({"picture": "resolution"}),
        "{chelsea}"
    );
}

#[test]
fn actions_are_dry_runs_until_yes_and_moves_can_be_undone() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, index) = planted(tmp.path());
    let dupes = tmp.path().join("dupes");
    let copies = root.join("copies");

    // Without --yes nothing changes.
    let out = run(
        &index,
        &["dedup", "--move-to", dupes.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["dry_run"].as_array().unwrap().len(), 2, "{v}");
    assert!(copies.join("rocket-backup.jpg").exists() && !dupes.exists());

    // With --yes the copies move, keeping their paths below the common folder.
    let journal = tmp.path().join("journal.jsonl");
    let out = run(
        &index,
        &[
            "dedup",
            "--move-to",
            dupes.to_str().unwrap(),
            "--yes",
            "--journal",
            journal.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["done"], 2);
    assert!(!copies.join("rocket-backup.jpg").exists());
    assert!(dupes.join("rocket-backup.jpg").exists());
    assert!(dupes.join("chelsea-small.jpg").exists());
    assert!(root.join("photos/rocket.jpg").exists());
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap().lines().count(),
        2
    );

    // Undo puts them back.
    let out = run(&index, &["undo", journal.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["restored"], 2);
    assert!(copies.join("rocket-backup.jpg").exists());
    assert!(copies.join("chelsea-small.jpg").exists());

    // A copy edited since it was indexed is left alone (exit status 1), the other goes.
    std::fs::write(copies.join("rocket-backup.jpg"), b"edited since").unwrap();
    let out = run(&index, &["dedup", "--delete", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(
        (v["done"].as_u64(), v["skipped"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert!(copies.join("rocket-backup.jpg").exists());
    assert!(!copies.join("chelsea-small.jpg").exists());
    assert!(
        stderr(&out).contains("changed since it was indexed"),
        "{}",
        stderr(&out)
    );
    // The default journal lives in the index folder.
    let journals: Vec<_> = std::fs::read_dir(index.join("journal")).unwrap().collect();
    assert_eq!(journals.len(), 1);
}

#[test]
fn the_html_report_shows_every_group_with_loading_thumbnails_in_a_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = planted(tmp.path());
    let report = tmp.path().join("report.html");
    let out = run(&index, &["dedup", "--html", report.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(&report).unwrap();
    for external in ["src=\"file:", "src=\"http", "href=\"http", "url("] {
        assert!(!page.contains(external), "not self-contained: {external}");
    }

    let Some(browser) = chromium() else {
        eprintln!("chromium not installed: the report was not checked in a browser");
        return;
    };
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let dom = String::from_utf8_lossy(&out.stdout);
    // The page's own script counted the thumbnails the browser decoded.
    assert!(dom.contains("data-images-ok=\"4\""), "{dom}");
    assert!(dom.contains("data-images-failed=\"0\""), "{dom}");
    assert_eq!(dom.matches("<section class=\"group\"").count(), 2);
    assert_eq!(dom.matches("class=\"member keeper\"").count(), 2);
    assert_eq!(dom.matches(">KEEP<").count(), 2);
}

#[test]
fn trash_moves_copies_to_the_freedesktop_trash_and_undo_restores_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, index) = planted(tmp.path());
    let copies = root.join("copies");
    let before_exact = std::fs::read(copies.join("rocket-backup.jpg")).unwrap();
    // A private trash: the freedesktop home trash lives under $XDG_DATA_HOME (same
    // filesystem as the photos here, so the trash crate uses it).
    let data_home = tmp.path().join("data-home");
    let trash = data_home.join("Trash");
    let journal = tmp.path().join("journal.jsonl");
    let with_trash = |args: &[&str]| {
        bin()
            .args(args)
            .arg("--index")
            .arg(&index)
            .env("XDG_DATA_HOME", &data_home)
            .output()
            .expect("lookalike runs")
    };

    let out = with_trash(&[
        "dedup",
        "--trash",
        "--yes",
        "--journal",
        journal.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["done"], 2);
    for name in ["rocket-backup.jpg", "chelsea-small.jpg"] {
        assert!(!copies.join(name).exists(), "{name} still in place");
        assert!(
            trash.join("files").join(name).exists(),
            "{name} not in the trash"
        );
        let info =
            std::fs::read_to_string(trash.join("info").join(format!("{name}.trashinfo"))).unwrap();
        assert!(
            info.contains("[Trash Info]") && info.contains(name),
            "{info}"
        );
    }
    assert!(root.join("photos/rocket.jpg").exists());
    assert!(root.join("photos/chelsea.png").exists());

    let out = with_trash(&["undo", journal.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["restored"], 2, "{v}");
    assert_eq!(
        std::fs::read(copies.join("rocket-backup.jpg")).unwrap(),
        before_exact
    );
    assert!(copies.join("chelsea-small.jpg").exists());
    assert!(!trash.join("files/rocket-backup.jpg").exists());

    // A second undo finds nothing left in the trash and says so.
    let out = with_trash(&["undo", journal.to_str().unwrap(), "--json"]);
    let v = stdout_json(&out);
    assert_eq!(v["restored"], 0, "{v}");
    assert_eq!(v["problems"].as_array().unwrap().len(), 2, "{v}");
}
