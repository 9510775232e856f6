//! `lookalike serve` over loopback: every endpoint of the JSON API on a real index, bad
//! uploads, paths outside the index, the cross-site, rebinding and token guards, review
//! decisions that survive re-indexing and that `lookalike dedup` honours, actions with their
//! journal and undo, and the served index refused to other commands by name.

mod common;

use common::server::{encode, request, Server};
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;

fn groups(server: &Server, query: &str) -> Value {
    server.wait_for(&format!("/api/groups?{query}"), 120, |v| {
        v["state"] == "ready"
    })
}

fn group_paths(g: &Value) -> Vec<String> {
    g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| file_name(m["path"].as_str().unwrap()))
        .collect()
}

/// The group holding a file named `name`.
fn group_with(list: &Value, name: &str) -> Option<Value> {
    list["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| group_paths(g).iter().any(|p| p == name))
        .cloned()
}

#[test]
fn search_thumbnails_and_files_answer_for_indexed_photos() {
    let tmp = tempfile::tempdir().unwrap();
    let (photos, index) = sample_library(tmp.path());
    let server = Server::start(&index, &[]);

    // The page and its assets, with the security headers.
    let page = server.get("/");
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    assert_eq!(server.get("/app.js").status, 200);
    assert_eq!(server.get("/app.css").status, 200);

    let status = server.get("/api/status").json();
    assert_eq!(status["index"]["files"], 10, "{status}");
    assert_eq!(status["roots"], json!([photos.to_str().unwrap()]));

    // An edited copy that is not indexed finds its original first.
    let edited = tmp.path().join("edited.jpg");
    write_resized_copy(&photos.join("chelsea.png"), &edited, 70);
    let found = server
        .post_bytes("/api/query?k=5", &std::fs::read(&edited).unwrap())
        .json();
    assert_eq!(found["neighbors"][0]["name"], "chelsea.png", "{found}");
    assert_eq!(found["neighbors"].as_array().unwrap().len(), 5);
    assert_eq!(found["more"], true);
    let n = &found["neighbors"][0];
    assert!(n["width"].as_u64().unwrap() > 0 && n["size"].as_u64().unwrap() > 0);
    // Copies only: the original, not the other photos.
    let copies = server
        .post_bytes(
            "/api/query?k=5&mode=copies",
            &std::fs::read(&edited).unwrap(),
        )
        .json();
    let names: Vec<&str> = copies["neighbors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["chelsea.png"], "{copies}");

    // By an indexed path, paged.
    let rocket = photos.join("rocket.jpg");
    let by_path = |offset: usize| {
        server
            .get(&format!(
                "/api/query?path={}&k=4&offset={offset}",
                encode(rocket.to_str().unwrap())
            ))
            .json()
    };
    let first = by_path(0);
    let first_two: Vec<String> = first["neighbors"].as_array().unwrap()[..2]
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(first_two, ["rocket.jpg", "rocket.jpg"], "{first}");
    let second = by_path(4);
    assert_eq!(second["offset"], 4);
    let all_paths: std::collections::HashSet<String> = [&first, &second]
        .iter()
        .flat_map(|v| v["neighbors"].as_array().unwrap().clone())
        .map(|n| n["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all_paths.len(), 8, "pages overlap: {first} {second}");
    let copies = server
        .get(&format!(
            "/api/query?path={}&mode=copies",
            encode(rocket.to_str().unwrap())
        ))
        .json();
    assert!(copies["neighbors"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["name"] == "rocket.jpg" && n["exact"] == true));

    // Thumbnails: JPEG, within the size, cached by ETag.
    let target = format!(
        "/api/thumb?path={}&size=128",
        encode(photos.join("coffee.png").to_str().unwrap())
    );
    let thumb = server.get(&target);
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
    let img = image::load_from_memory(&thumb.body).unwrap();
    assert_eq!(img.width().max(img.height()), 128);
    let etag = thumb.header("etag").unwrap().to_string();
    let again = request(
        server.port,
        "GET",
        &target,
        &[("If-None-Match", &etag)],
        &[],
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(
        server
            .get(&format!("{target}&size=5000").replace("size=128&", ""))
            .status,
        400
    );

    // The original bytes.
    let file = server.get(&format!(
        "/api/file?path={}",
        encode(rocket.to_str().unwrap())
    ));
    assert_eq!(file.status, 200);
    assert_eq!(file.header("content-type"), Some("image/jpeg"));
    assert_eq!(file.body, std::fs::read(&rocket).unwrap());

    // Unknown endpoints and bad parameters answer in JSON.
    assert_eq!(server.get("/api/nothing").status, 404);
    let bad = server.get("/api/query?path=x&k=0");
    assert_eq!(bad.status, 400);
    assert!(
        bad.error().contains("k must be between 1"),
        "{}",
        bad.error()
    );
    let bad = server.get(&format!(
        "/api/query?path={}&mode=odd",
        encode(rocket.to_str().unwrap())
    ));
    assert!(bad.error().contains("mode must be"), "{}", bad.error());
}

#[test]
fn bad_uploads_are_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = sample_library(tmp.path());
    let server = Server::start(&index, &[]);

    let text = server.post_bytes("/api/query", b"hello, this is not an image");
    assert_eq!(text.status, 422);
    assert!(
        text.error().contains("not a readable image"),
        "{}",
        text.error()
    );

    // A real 1x1 PNG whose header announces 100,000 x 100,000 pixels: refused before decoding.
    let mut bomb = Vec::new();
    image::RgbaImage::from_pixel(1, 1, image::Rgba([1, 2, 3, 255]))
        .write_to(
            &mut std::io::Cursor::new(&mut bomb),
            image::ImageFormat::Png,
        )
        .unwrap();
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32fast::hash(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let refused = server.post_bytes("/api/query", &bomb);
    assert_eq!(refused.status, 422);
    assert!(refused.error().contains("pixels"), "{}", refused.error());

    let zeros = vec![0u8; 100 << 20];
    let too_big = server.post_bytes("/api/query", &zeros);
    assert_eq!(too_big.status, 413);
    assert!(too_big.error().contains("64 MiB"), "{}", too_big.error());

    let empty = server.post_bytes("/api/query", b"");
    assert_eq!(empty.status, 400);
    assert!(empty.error().contains("no image"), "{}", empty.error());

    // Still serving.
    assert_eq!(server.get("/api/status").status, 200);
}

#[test]
fn only_indexed_paths_are_served_and_links_put_in_since_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (photos, index) = sample_library(tmp.path());
    let server = Server::start(&index, &[]);
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, "private").unwrap();
    let refuse = |path: &str| {
        for endpoint in ["/api/file", "/api/thumb", "/api/query"] {
            let r = server.get(&format!("{endpoint}?path={}", encode(path)));
            assert_eq!(r.status, 404, "{endpoint} {path}: {:?}", r.error());
            assert!(r.error().contains("not in the index"), "{}", r.error());
        }
    };
    refuse(secret.to_str().unwrap());
    refuse("/etc/passwd");
    refuse(&format!("{}/../secret.txt", photos.display()));
    refuse(&format!("{}/./rocket.jpg", photos.display()));

    // An indexed file replaced by a link to another file is no longer served.
    let coins = photos.join("coins.png");
    std::fs::remove_file(&coins).unwrap();
    std::os::unix::fs::symlink(&secret, &coins).unwrap();
    refuse(coins.to_str().unwrap());
    // A folder on the way replaced by a link to another folder, too.
    let copies = photos.join("copies");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::rename(&copies, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &copies).unwrap();
    refuse(copies.join("rocket.jpg").to_str().unwrap());
}

#[test]
fn cross_site_requests_rebound_names_and_missing_tokens_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = sample_library(tmp.path());
    let server = Server::start(&index, &[]);
    let body = json!({"verdict": "accepted", "tier": ["exact"]}).to_string();
    let post = |headers: &[(&str, &str)]| {
        request(
            server.port,
            "POST",
            "/api/decisions/bulk",
            headers,
            body.as_bytes(),
        )
    };
    // A form or script of another site cannot send the header.
    let r = post(&[("Content-Type", "application/json")]);
    assert_eq!(r.status, 403);
    assert!(r.error().contains("X-Lookalike"), "{}", r.error());
    let r = post(&[
        ("Content-Type", "application/json"),
        ("X-Lookalike", "1"),
        ("Origin", "http://evil.example"),
    ]);
    assert_eq!(r.status, 403);
    assert!(r.error().contains("cross-site"), "{}", r.error());
    // A name of another site resolving to 127.0.0.1 (DNS rebinding).
    let r = request(
        server.port,
        "GET",
        "/api/status",
        &[("Host", &format!("evil.example:{}", server.port))],
        &[],
    );
    assert_eq!(r.status, 403);
    // Nothing was decided.
    let list = groups(&server, "");
    assert_eq!(list["counts"]["accepted"], 0, "{list}");

    // With a token (forced here on loopback), every request needs it.
    drop(server);
    let token = "0123456789abcdef-test";
    let server = Server::start(&index, &["--token", token]);
    assert!(server.printed.ends_with(&format!("/?token={token}")));
    let r = server.get("/api/status");
    assert_eq!(r.status, 401);
    assert!(r.error().contains("token"), "{}", r.error());
    assert_eq!(server.get("/").status, 401);
    let bearer = format!("Bearer {token}");
    let r = request(
        server.port,
        "GET",
        "/api/status",
        &[("Authorization", &bearer)],
        &[],
    );
    assert_eq!(r.status, 200);
    let wrong = request(
        server.port,
        "GET",
        "/api/status",
        &[("Authorization", "Bearer 0123456789abcdef-nope")],
        &[],
    );
    assert_eq!(wrong.status, 401);
    // Opening the printed address sets the cookie and leaves the token out of the address.
    let opened = server.get(&format!("/?token={token}"));
    assert_eq!(opened.status, 303);
    assert_eq!(opened.header("location"), Some("/"));
    let cookie = opened.header("set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let cookie = cookie.split(';').next().unwrap().to_string();
    let r = request(server.port, "GET", "/", &[("Cookie", &cookie)], &[]);
    assert_eq!(r.status, 200);

    // Off loopback a token is made up and printed when none is given.
    drop(server);
    let server = Server::start(&index, &["--listen", "0.0.0.0:0"]);
    let printed = server.printed.clone();
    let made_up = printed.split("?token=").nth(1).expect("a token is printed");
    assert_eq!(made_up.len(), 32, "{printed}");
    assert_eq!(server.get("/api/status").status, 401);
}

#[test]
fn review_decisions_survive_reindexing_and_dedup_honours_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (photos, index) = sample_library(tmp.path());
    let server = Server::start(&index, &[]);
    let list = groups(&server, "");
    let total = list["total"].as_u64().unwrap();
    assert!(total >= 2, "{list}");
    let coffee = group_with(&list, "coffee-small.jpg").expect("the coffee pair is a group");
    let coffee_id = coffee["id"].as_str().unwrap().to_string();

    // "Not duplicates" hides the group.
    let r = server.post_json(
        "/api/decisions",
        &json!({"group": coffee_id, "verdict": "not-duplicates"}),
    );
    assert_eq!(r.status, 200, "{}", r.error());
    assert_eq!(r.json()["group"], Value::Null);
    let list = groups(&server, "");
    assert_eq!(list["total"].as_u64().unwrap(), total - 1);
    assert!(group_with(&list, "coffee-small.jpg").is_none());
    assert_eq!(list["counts"]["hidden"], 1);
    let shown = groups(&server, "decided=show");
    let g = group_with(&shown, "coffee-small.jpg").unwrap();
    assert_eq!(g["decision"]["verdict"], "not-duplicates");

    // A keeper chosen for the rocket group.
    let rockets = group_with(&list, "rocket.jpg").unwrap();
    let copy = photos.join("copies/rocket.jpg");
    let r = server
        .post_json(
            "/api/decisions",
            &json!({"group": rockets["id"], "verdict": "keeper", "keeper": copy.to_str().unwrap()}),
        )
        .json();
    assert_eq!(
        r["group"]["members"][0]["path"],
        copy.to_str().unwrap(),
        "{r}"
    );
    assert_eq!(r["group"]["decision"]["verdict"], "keeper");
    // A keeper must be a file of the group; a verdict must be known.
    let bad = server.post_json(
        "/api/decisions",
        &json!({"group": rockets["id"], "verdict": "keeper", "keeper": "/etc/passwd"}),
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.error().contains("not a file of group"),
        "{}",
        bad.error()
    );
    let bad = server.post_json(
        "/api/decisions",
        &json!({"group": rockets["id"], "verdict": "maybe"}),
    );
    assert_eq!(bad.status, 400);
    let bad = server.post_json(
        "/api/decisions",
        &json!({"group": "00".repeat(32), "verdict": "accepted"}),
    );
    assert_eq!(bad.status, 404);

    // Re-indexing (a new photo appears) keeps the decisions.
    std::fs::copy(
        sample_photos().join("gravel.png"),
        photos.join("gravel-2.png"),
    )
    .unwrap();
    let started = server.post_json("/api/reindex", &json!({}));
    assert_eq!(started.status, 202, "{}", started.error());
    let status = server.wait_for("/api/status", 120, |v| {
        v["reindex"]["running"] == false && !v["reindex"]["last_report"].is_null()
    });
    assert_eq!(status["reindex"]["last_report"]["copies"], 1, "{status}");
    assert_eq!(status["index"]["files"], 11, "{status}");
    let list = groups(&server, "");
    assert!(group_with(&list, "coffee-small.jpg").is_none(), "{list}");
    assert!(group_with(&list, "gravel-2.png").is_some(), "{list}");
    let rockets = group_with(&list, "rocket.jpg").unwrap();
    assert_eq!(rockets["members"][0]["path"], copy.to_str().unwrap());

    // While served, other commands are told who holds the index.
    let busy = run(&index, &["dedup"]);
    assert_eq!(busy.status.code(), Some(75));
    assert!(stderr(&busy).contains("serve"), "{}", stderr(&busy));

    // The command line honours the decisions once the server is gone.
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
    let out = run(&index, &["dedup", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert!(group_with(&v, "coffee-small.jpg").is_none(), "{v}");
    let rockets = group_with(&v, "rocket.jpg").unwrap();
    assert_eq!(rockets["members"][0]["path"], copy.to_str().unwrap());
    assert_eq!(rockets["decision"]["verdict"], "keeper");
    let out = run(&index, &["dedup", "--json", "--include-decided"]);
    let v = stdout_json(&out);
    let hidden = group_with(&v, "coffee-small.jpg").expect("shown again");
    assert_eq!(hidden["decision"]["verdict"], "not-duplicates");
    // A dry run never plans a file of a hidden group.
    let out = run(&index, &["dedup", "--trash", "--json", "--include-decided"]);
    let v = stdout_json(&out);
    let planned: Vec<String> = v["dry_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| file_name(s["path"].as_str().unwrap()))
        .collect();
    assert!(
        !planned.contains(&"coffee-small.jpg".to_string()),
        "{planned:?}"
    );
    assert!(!planned.contains(&"coffee.png".to_string()), "{planned:?}");
    // The chosen keeper stays; the other rocket is the copy.
    assert!(planned.contains(&"rocket.jpg".to_string()), "{planned:?}");
    let out = run(&index, &["dedup", "--json", "--accepted"]);
    assert_eq!(stdout_json(&out)["groups"], json!([]));
}

#[test]
fn accepted_groups_are_moved_after_a_dry_run_and_the_move_is_undone() {
    let tmp = tempfile::tempdir().unwrap();
    let (photos, index) = sample_library(tmp.path());
    let server = Server::start(&index, &[]);
    groups(&server, "");
    let r = server
        .post_json(
            "/api/decisions/bulk",
            &json!({"verdict": "accepted", "tier": ["exact"], "undecided_only": true}),
        )
        .json();
    assert_eq!(r["decided"], 1, "{r}");
    let accepted = groups(&server, "accepted=yes");
    assert_eq!(accepted["total"], 1, "{accepted}");
    assert_eq!(accepted["groups"][0]["decision"]["verdict"], "accepted");

    let to = tmp.path().join("moved");
    let body = json!({"action": "move", "to": to.to_str().unwrap()});
    let plan = server.post_json("/api/actions/plan", &body).json();
    assert_eq!(plan["groups"], 1, "{plan}");
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{plan}");
    let moved_from = PathBuf::from(steps[0]["path"].as_str().unwrap());
    assert!(moved_from.exists(), "a plan changes nothing");
    // Carrying out needs confirmation; the web app never deletes.
    let r = server.post_json("/api/actions/run", &body);
    assert_eq!(r.status, 400);
    assert!(r.error().contains("confirm"), "{}", r.error());
    let r = server.post_json("/api/actions/plan", &json!({"action": "delete"}));
    assert_eq!(r.status, 400);
    let r = server.post_json("/api/actions/plan", &json!({"action": "move", "to": "rel"}));
    assert_eq!(r.status, 400);

    let mut confirmed = body.clone();
    confirmed["confirm"] = json!(true);
    let done = server.post_json("/api/actions/run", &confirmed).json();
    assert_eq!(done["done"], 1, "{done}");
    assert!(!moved_from.exists());
    let target = PathBuf::from(steps[0]["target"].as_str().unwrap());
    assert!(target.starts_with(&to) && target.exists());
    // The group is gone from the list.
    let list = groups(&server, "");
    let rockets = group_with(&list, "rocket.jpg");
    assert!(rockets.is_none(), "{list}");

    let journals = server.get("/api/journals").json();
    let name = journals["journals"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(Some(name.as_str()), done["journal"].as_str());
    assert_eq!(journals["journals"][0]["steps"], 1);
    // Only journals by name, in the index's journal folder.
    let r = server.post_json("/api/undo", &json!({"journal": "../../etc/passwd"}));
    assert_eq!(r.status, 400);
    let r = server.post_json("/api/undo", &json!({"journal": "none.jsonl"}));
    assert_eq!(r.status, 404);
    let undone = server
        .post_json("/api/undo", &json!({"journal": name}))
        .json();
    assert_eq!(undone["restored"], 1, "{undone}");
    assert!(moved_from.exists() && !target.exists());
    // Listed as undone, and not undone twice.
    let journals = server.get("/api/journals").json();
    assert_eq!(journals["journals"][0]["undone"], true, "{journals}");
    assert_eq!(journals["journals"].as_array().unwrap().len(), 1);
    let again = server.post_json("/api/undo", &json!({"journal": name}));
    assert_eq!(again.status, 409);
    assert!(
        again.error().contains("already undone"),
        "{}",
        again.error()
    );
    let list = groups(&server, "");
    assert!(group_with(&list, "rocket.jpg").is_some(), "{list}");
    assert!(photos.join("rocket.jpg").exists());
}

#[test]
fn serve_refuses_a_port_in_use_and_bad_options() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = sample_library(tmp.path());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&index, &["serve", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("cannot serve on {addr}")),
        "{}",
        stderr(&out)
    );
    let out = run(&index, &["serve", "--token", "short"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--token"), "{}", stderr(&out));
    let out = run(&tmp.path().join("nothing"), &["serve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no index"), "{}", stderr(&out));
    assert!(!tmp.path().join("nothing").exists());
}

#[test]
fn watching_reindexes_when_photos_change() {
    let tmp = tempfile::tempdir().unwrap();
    let (photos, index) = sample_library(tmp.path());
    let server = Server::start(&index, &["--watch"]);
    assert_eq!(server.get("/api/status").json()["watch"], true);
    std::fs::copy(
        sample_photos().join("camera.png"),
        photos.join("copies/camera-2.png"),
    )
    .unwrap();
    let status = server.wait_for("/api/status", 60, |v| {
        v["index"]["files"] == 11 && v["reindex"]["running"] == false
    });
    assert_eq!(status["reindex"]["error"], Value::Null, "{status}");
    // The new file is searchable (the copy of an indexed photo: found as exact).
    let copies = server
        .get(&format!(
            "/api/query?path={}&mode=copies",
            encode(photos.join("copies/camera-2.png").to_str().unwrap())
        ))
        .json();
    assert_eq!(copies["neighbors"].as_array().unwrap().len(), 2, "{copies}");
    // Reading photos (re-indexing did, and so did that query) is no change: no re-index
    // follows once the watch's quiet time (2 s) has passed. It once did, and queries were
    // refused while it ran.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let later = server.get("/api/status").json();
    assert_eq!(
        later["reindex"]["started_at"], status["reindex"]["started_at"],
        "{later}"
    );
    assert_eq!(later["reindex"]["running"], false, "{later}");
    std::fs::remove_file(photos.join("copies/camera-2.png")).unwrap();
    server.wait_for("/api/status", 60, |v| {
        v["index"]["files"] == 10 && v["reindex"]["running"] == false
    });
}

/// The tier of the group holding `name` in `dedup --json` output, and that member's tier.
fn tier_of(v: &Value, name: &str) -> Option<String> {
    v["groups"].as_array().unwrap().iter().find_map(|g| {
        g["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| file_name(m["path"].as_str().unwrap()) == name)
            .map(|m| m["tier"].as_str().unwrap_or("").to_string())
    })
}

#[test]
fn the_verifier_retrained_on_review_decisions_follows_them_and_can_be_forgotten() {
    let tmp = tempfile::tempdir().unwrap();
    let library = tmp.path().join("library");
    copy_dir(
        &sample_photos().parent().unwrap().join("copies"),
        &library.join("copies"),
    );
    copy_dir(&sample_photos(), &library.join("photos"));
    let index = tmp.path().join("index");
    let out = run(&index, &["index", library.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Without decisions there is nothing to learn from, and it says so.
    let out = run(&index, &["verifier", "adapt"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("decisions of both kinds"),
        "{}",
        stderr(&out)
    );

    // The built-in verifier calls the brightened camera a copy.
    let before = stdout_json(&run(&index, &["dedup", "--json"]));
    assert_eq!(
        tier_of(&before, "camera-brighter.jpg").as_deref(),
        Some("copy"),
        "{before}"
    );
    assert_eq!(
        tier_of(&before, "astronaut-cropped.jpg").as_deref(),
        Some("copy")
    );

    // A reviewer says it is another picture, and accepts the other groups.
    let server = Server::start(&index, &[]);
    let list = groups(&server, "");
    for g in list["groups"].as_array().unwrap() {
        let verdict = if group_paths(g).iter().any(|p| p == "camera-brighter.jpg") {
            "not-duplicates"
        } else {
            "accepted"
        };
        let r = server.post_json(
            "/api/decisions",
            &json!({"group": g["id"], "verdict": verdict}),
        );
        assert_eq!(r.status, 200, "{}", r.error());
    }
    drop(server);

    // A dry run measures and keeps nothing.
    let out = run(&index, &["verifier", "adapt", "--dry-run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["kept"], false);
    let report = &v["report"];
    assert!(report["look_alikes"].as_u64().unwrap() >= 1, "{v}");
    assert!(report["copies"].as_u64().unwrap() >= 1, "{v}");
    // The built-in verifier disagrees with the decision; the retrained one follows it.
    assert!(report["base"]["false_copies"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(report["fitted"]["false_copies"], 0, "{v}");
    assert_eq!(report["fitted"]["missed_copies"], 0, "{v}");
    let listed = stdout_json(&run(&index, &["dedup", "--json", "--include-decided"]));
    assert_eq!(
        tier_of(&listed, "camera-brighter.jpg").as_deref(),
        Some("copy")
    );

    // Kept, it decides for dedup: the camera pair is no copy any more, the others are.
    let out = run(&index, &["verifier", "adapt"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept in the index"));
    let out = run(&index, &["dedup", "--json", "--include-decided"]);
    assert!(
        stderr(&out).contains("retrained on this collection"),
        "{}",
        stderr(&out)
    );
    let after = stdout_json(&out);
    assert_ne!(
        tier_of(&after, "camera-brighter.jpg").as_deref(),
        Some("copy"),
        "{after}"
    );
    assert_eq!(
        tier_of(&after, "astronaut-cropped.jpg").as_deref(),
        Some("copy")
    );
    assert_eq!(
        tier_of(&after, "coffee-quality-25.jpg").as_deref(),
        Some("near_exact")
    );

    // Forgotten, the built-in verifier decides again.
    let out = run(&index, &["verifier", "adapt", "--forget"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again = stdout_json(&run(&index, &["dedup", "--json", "--include-decided"]));
    assert_eq!(
        tier_of(&again, "camera-brighter.jpg").as_deref(),
        Some("copy")
    );
}
