//! The web app of `lookalike serve` in headless Chromium, driven over the DevTools protocol
//! against the real server on loopback (nothing is fetched from the internet): search by
//! upload shows the copy first; a group marked "not duplicates" stays hidden after a
//! re-index; an approved move is carried out and undone; 10,000 groups open and scroll with
//! a bounded DOM (the figures are printed; `bench/serve-page.sh` collects them).
//! Screenshots of every page go to `target/serve-screenshots/`.
//! Without Chromium installed, each test says so and passes.

mod common;

use common::server::Server;
use common::*;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// A headless browser and a tab, or `None` (with a note) when no Chromium is installed.
fn browser() -> Option<(Browser, Arc<Tab>)> {
    let Some(path) = chromium() else {
        eprintln!("chromium not installed: the web app was not checked in a browser");
        return None;
    };
    let options = LaunchOptions::default_builder()
        .path(Some(path))
        .headless(true)
        .sandbox(false)
        .window_size(Some((1280, 900)))
        .idle_browser_timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let browser = Browser::new(options).expect("chromium starts");
    let tab = browser.new_tab().unwrap();
    tab.set_default_timeout(WAIT);
    Some((browser, tab))
}

/// A browser on a page of the app, served over the sample library (two duplicate groups).
struct Session {
    _browser: Browser,
    tab: Arc<Tab>,
    server: Server,
    photos: PathBuf,
    tmp: tempfile::TempDir,
}

/// The session, or `None` (with a note) without Chromium.
fn session(page: &str) -> Option<Session> {
    let (browser, tab) = browser()?;
    let tmp = tempfile::tempdir().unwrap();
    let (photos, index) = sample_library(tmp.path());
    let server = Server::start(&index, &[]);
    open(&tab, &server, page);
    Some(Session {
        _browser: browser,
        tab,
        server,
        photos,
        tmp,
    })
}

/// Opens a page of the app (a new document, or within the open one: only the hash changes).
fn open(tab: &Tab, server: &Server, page: &str) {
    tab.navigate_to(&format!("{}/#/{page}", server.base))
        .unwrap();
    wait_until(
        tab,
        "the page",
        &format!("document.readyState === 'complete' && location.hash === '#/{page}'"),
    );
}

/// Evaluates JavaScript (awaiting a promise) and returns its value.
fn eval(tab: &Tab, js: &str) -> Value {
    tab.evaluate(js, true)
        .unwrap_or_else(|e| panic!("{js}: {e}"))
        .value
        .unwrap_or(Value::Null)
}

/// Waits until the JavaScript expression is true.
fn wait_until(tab: &Tab, what: &str, js: &str) {
    let start = Instant::now();
    while eval(tab, js) != Value::Bool(true) {
        assert!(start.elapsed() < WAIT, "waited {WAIT:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn screenshot(tab: &Tab, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/serve-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

/// The `data-` attribute of every element matching `selector`.
fn data_of(tab: &Tab, selector: &str, attr: &str) -> Vec<String> {
    let v = eval(
        tab,
        &format!(
            "JSON.stringify([...document.querySelectorAll('{selector}')].map(e => e.dataset.{attr}))"
        ),
    );
    serde_json::from_str(v.as_str().unwrap()).unwrap()
}

/// The count the duplicates page shows next to a tier's filter (`near-exact`).
fn tier_count(tab: &Tab, tier: &str) -> String {
    let js = format!(
        "document.querySelector('#tier-{tier}').parentElement.querySelector('.count').textContent"
    );
    eval(tab, &js).as_str().unwrap_or_default().to_string()
}

#[test]
fn search_by_upload_shows_the_copy_first() {
    // Every field bound: a field left out of the pattern would be dropped (the browser or
    // the server stopped) at the end of the statement.
    let Some(Session {
        _browser,
        tab,
        server: _server,
        photos,
        tmp,
    }) = session("search")
    else {
        return;
    };
    let edited = tmp.path().join("chelsea-edited.jpg");
    write_resized_copy(&photos.join("chelsea.png"), &edited, 70);
    tab.wait_for_element("#file-input")
        .unwrap()
        .set_input_files(&[edited.to_str().unwrap()])
        .unwrap();
    tab.wait_for_element(".result").unwrap();
    let paths = data_of(&tab, ".result", "path");
    assert_eq!(
        paths[0],
        photos.join("chelsea.png").to_str().unwrap(),
        "{paths:?}"
    );
    assert!(paths.len() >= 8, "{paths:?}");
    screenshot(&tab, "search.png");

    tab.wait_for_element("#mode-copies")
        .unwrap()
        .click()
        .unwrap();
    wait_until(
        &tab,
        "the copies only",
        "document.querySelectorAll('.result').length === 1",
    );
    let paths = data_of(&tab, ".result", "path");
    assert_eq!(paths, [photos.join("chelsea.png").to_str().unwrap()]);
    screenshot(&tab, "search-copies.png");
}

#[test]
fn a_group_marked_not_duplicates_stays_hidden_after_reindexing() {
    let Some(Session {
        _browser,
        tab,
        server,
        photos,
        tmp: _tmp,
    }) = session("duplicates")
    else {
        return;
    };
    tab.wait_for_element(".group[data-id]").unwrap();
    screenshot(&tab, "duplicates.png");
    let ids = data_of(&tab, ".group[data-id]", "id");
    assert_eq!(ids.len(), 2, "the rockets and the coffees: {ids:?}");
    // The filters count the groups of each tier (the API keys them near_exact).
    let counts: Vec<String> = ["exact", "same-shot", "near-exact", "copy", "similar-shot"]
        .iter()
        .map(|t| tier_count(&tab, t))
        .collect();
    assert_eq!(
        counts,
        ["1", "0", "1", "0", "0"],
        "exact, same-shot, near-exact, copy, similar-shot"
    );
    // Review with the keyboard: the second group, not duplicates.
    let hidden = ids[1].clone();
    tab.press_key("j").unwrap().press_key("j").unwrap();
    wait_until(
        &tab,
        "the second group selected",
        &format!("document.querySelector('.group.selected')?.dataset.id === '{hidden}'"),
    );
    tab.press_key("n").unwrap();
    wait_until(
        &tab,
        "the group hidden",
        &format!("!document.querySelector('.group[data-id=\"{hidden}\"]')"),
    );

    // A new photo, then a re-index from the index page.
    std::fs::copy(
        sample_photos().join("gravel.png"),
        photos.join("copies/gravel-2.png"),
    )
    .unwrap();
    open(&tab, &server, "index");
    tab.wait_for_element("#reindex").unwrap().click().unwrap();
    server.wait_for("/api/status", 120, |v| {
        v["reindex"]["running"] == false && !v["reindex"]["last_report"].is_null()
    });
    wait_until(
        &tab,
        "the report",
        "(document.querySelector('#reindex-report')?.textContent || '').length > 0",
    );
    screenshot(&tab, "index.png");

    open(&tab, &server, "duplicates");
    tab.reload(true, None).unwrap();
    wait_until(&tab, "the reload", "document.readyState === 'complete'");
    wait_until(
        &tab,
        "the groups after the re-index",
        &format!(
            "document.querySelectorAll('.group[data-id]').length === {}",
            ids.len()
        ),
    );
    let now = data_of(&tab, ".group[data-id]", "id");
    assert!(!now.contains(&hidden), "{now:?}");
    for id in ids.iter().filter(|id| **id != hidden) {
        assert!(now.contains(id), "{id} lost: {now:?}");
    }
    let names = data_of(&tab, ".member[data-path]", "path");
    assert!(
        names.iter().any(|p| p.ends_with("gravel-2.png")),
        "{names:?}"
    );
    screenshot(&tab, "duplicates-after-reindex.png");
}

#[test]
fn an_approved_move_is_carried_out_and_undone() {
    let Some(Session {
        _browser,
        tab,
        server,
        photos,
        tmp,
    }) = session("duplicates")
    else {
        return;
    };
    tab.wait_for_element(".group[data-id]").unwrap();
    // Accept the exact group (the rockets) with its button.
    let exact = eval(
        &tab,
        "[...document.querySelectorAll('.group[data-id]')].find(g => g.textContent.includes('rocket.jpg') && g.textContent.includes('exact'))?.dataset.id",
    );
    let exact = exact
        .as_str()
        .expect("the exact group is listed")
        .to_string();
    tab.wait_for_element(&format!(".group[data-id=\"{exact}\"] .accept"))
        .unwrap()
        .click()
        .unwrap();
    server.wait_for("/api/groups?accepted=yes", 30, |v| v["total"] == 1);

    // Move (the first action offered, chosen explicitly) to a folder.
    eval(
        &tab,
        "const a = document.querySelector('#action'); a.value = 'move'; a.dispatchEvent(new Event('change')); true",
    );
    let to = tmp.path().join("moved");
    tab.wait_for_element("#move-to")
        .unwrap()
        .click()
        .unwrap()
        .type_into(to.to_str().unwrap())
        .unwrap();
    tab.wait_for_element("#plan").unwrap().click().unwrap();
    wait_until(
        &tab,
        "the dry run",
        "(document.querySelector('#plan-result')?.textContent || '').includes('rocket.jpg')",
    );
    screenshot(&tab, "move-plan.png");
    let copies = [photos.join("rocket.jpg"), photos.join("copies/rocket.jpg")];
    assert!(
        copies.iter().all(|p| p.exists()),
        "the dry run moved a file"
    );

    eval(&tab, "window.confirm = () => true; true");
    tab.wait_for_element("#run").unwrap().click().unwrap();
    let moved = || copies.iter().filter(|p| !p.exists()).count();
    let start = Instant::now();
    while moved() == 0 {
        assert!(start.elapsed() < WAIT, "nothing was moved");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(moved(), 1);
    let moved_files: Vec<_> = walkdir::WalkDir::new(&to)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .collect();
    assert_eq!(moved_files.len(), 1);

    tab.wait_for_element(".undo[data-journal]")
        .unwrap()
        .click()
        .unwrap();
    let start = Instant::now();
    while moved() > 0 {
        assert!(start.elapsed() < WAIT, "the move was not undone");
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_until(
        &tab,
        "the undo report",
        "(document.querySelector('#undo-result')?.textContent || '').includes('Restored 1')",
    );
    // The page finds the groups again (the server redoes them after an undo) and lists the
    // rockets once more.
    wait_until(
        &tab,
        "the rockets listed again",
        &format!(
            "document.querySelector('#groups-progress').hidden && !!document.querySelector('.group[data-id=\"{exact}\"]')"
        ),
    );
    screenshot(&tab, "move-undone.png");
}

/// An index of `groups` exact-copy groups (two byte-identical tiny PNGs each) with random
/// vectors, written through the library without running the encoder.
fn many_groups(dir: &Path, groups: usize) -> PathBuf {
    use lookalike::index::lock::Wait;
    use lookalike::index::store::{ChangeSet, ContentRecord, FileRecord, Hash};
    use rand::{Rng, SeedableRng};
    let model = lookalike::Encoder::default_model().unwrap().info().clone();
    let index_dir = dir.join("index");
    let index = lookalike::Index::open_or_create(&index_dir, &model, Wait::No).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(10_000);
    let mut changes = ChangeSet::default();
    for i in 0..groups {
        let folder = dir.join(format!("photos/{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&folder).unwrap();
        }
        let mut png = Vec::new();
        let pixel = [(i % 251) as u8, (i / 251 % 251) as u8, (i * 7 % 253) as u8];
        image::RgbImage::from_fn(8, 8, |x, y| {
            image::Rgb([pixel[0], pixel[1].wrapping_add((x * y) as u8), pixel[2]])
        })
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
        let hash: Hash = *blake3::hash(&png).as_bytes();
        let mut vector: Vec<f32> = (0..model.dim).map(|_| rng.random::<f32>() - 0.5).collect();
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        vector.iter_mut().for_each(|x| *x /= norm);
        changes.put_content(
            hash,
            ContentRecord {
                id: i as u64,
                width: 8,
                height: 8,
                vector,
            },
        );
        for name in ["a", "b"] {
            let path = folder
                .canonicalize()
                .unwrap()
                .join(format!("{i:05}-{name}.png"));
            std::fs::write(&path, &png).unwrap();
            let meta = std::fs::metadata(&path).unwrap();
            changes.put_file(
                path,
                FileRecord {
                    size: meta.len(),
                    mtime_ns: lookalike::ingest::scan::mtime_ns(&meta),
                    hash,
                },
            );
        }
        if changes.len() >= 6_000 {
            index.store().commit(std::mem::take(&mut changes)).unwrap();
        }
    }
    index.store().commit(changes).unwrap();
    drop(index);
    let mut index = lookalike::Index::open(&index_dir, Wait::No).unwrap();
    index.rebuild_graph().unwrap();
    index_dir
}

#[test]
fn ten_thousand_groups_open_fast_and_scroll_smoothly() {
    let Some((_browser, tab)) = browser() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let built = Instant::now();
    let index = many_groups(tmp.path(), 10_000);
    eprintln!(
        "built 10,000 groups in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    let server = Server::start(&index, &[]);
    // The server finds the groups at start; the page is opened once they are ready (the
    // duplicates page of a library is opened after the server has started).
    let ready = Instant::now();
    let groups = server.wait_for("/api/groups?limit=1", 300, |v| v["state"] == "ready");
    assert_eq!(groups["total"], 10_000, "{groups}");
    eprintln!(
        "groups ready {:.1} s after the server answered",
        ready.elapsed().as_secs_f64()
    );

    open(&tab, &server, "duplicates");
    wait_until(
        &tab,
        "the first page",
        "performance.getEntriesByName('lookalike:groups-first-page').length === 1",
    );
    let first_page = eval(
        &tab,
        "performance.getEntriesByName('lookalike:groups-first-page')[0].startTime",
    );
    screenshot(&tab, "duplicates-10000.png");
    let summary = eval(&tab, "document.querySelector('#dup-summary').textContent");
    assert!(
        summary.as_str().unwrap().contains("10,000") || summary.as_str().unwrap().contains("10000"),
        "{summary}"
    );

    // Scroll by a fixed step every frame, then jump to the end.
    let measured = eval(
        &tab,
        r#"(async () => {
            const box = document.getElementById('groups');
            const frames = [];
            let maxRows = 0;
            let last = performance.now();
            for (let i = 0; i < 240; i++) {
                box.scrollTop += 400;
                await new Promise(r => requestAnimationFrame(r));
                const now = performance.now();
                frames.push(now - last);
                last = now;
                maxRows = Math.max(maxRows, box.querySelectorAll('.group, .group-placeholder').length);
            }
            box.scrollTop = box.scrollHeight;
            let lastPosition = -1;
            for (let i = 0; i < 600 && lastPosition !== 9999; i++) {
                await new Promise(r => setTimeout(r, 50));
                const rows = [...box.querySelectorAll('.group[data-position]')];
                lastPosition = Math.max(-1, ...rows.map(r => Number(r.dataset.position)));
                maxRows = Math.max(maxRows, box.querySelectorAll('.group, .group-placeholder').length);
            }
            frames.sort((a, b) => a - b);
            const at = q => frames[Math.min(frames.length - 1, Math.floor(q * frames.length))];
            return JSON.stringify({frames: frames.length, p50: at(0.5), p95: at(0.95),
                                   max: frames[frames.length - 1], maxRows, lastPosition});
        })()"#,
    );
    let m: Value = serde_json::from_str(measured.as_str().unwrap()).unwrap();
    eprintln!(
        "10,000 groups: first page {:.0} ms after navigation; scrolling {} frames: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; at most {} rows in the DOM",
        first_page.as_f64().unwrap(),
        m["frames"],
        m["p50"].as_f64().unwrap(),
        m["p95"].as_f64().unwrap(),
        m["max"].as_f64().unwrap(),
        m["maxRows"]
    );
    assert!(m["maxRows"].as_u64().unwrap() <= 100, "{m}");
    assert_eq!(m["lastPosition"], 9999, "{m}");
    screenshot(&tab, "duplicates-10000-end.png");
}
