//! The HTML report of `dedup --html`: one self-contained page (thumbnails embedded as JPEG
//! data URIs, no external files or network), each group side by side with its keeper marked
//! and every member's tier, similarity, pixel size and file size. Built for a thousand groups:
//! thumbnails are small, those past the first groups load as they scroll into view,
//! off-screen groups are not laid out (`content-visibility`), and tiers can be hidden.

use crate::dedup::{DedupOptions, Group, Member};
use crate::error::Result;
use crate::ingest::decode::{self, DecodeOptions};
use base64::Engine;
use image::codecs::jpeg::JpegEncoder;
use rayon::prelude::*;
use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 240;

/// A JPEG thumbnail of `path` as a data URI, or `None` if it cannot be read now.
fn thumbnail(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let opts = DecodeOptions::new(THUMBNAIL_SIDE);
    let img = decode::decode_upright(&bytes, THUMBNAIL_SIDE, &opts).ok()?;
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&img)
        .ok()?;
    Some(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(jpeg)
    ))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A byte count for people: `240.5 KB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

const STYLE: &str = r#"
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f4f4f4; color: #222; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ccc;
  padding: 8px 16px; z-index: 1; }
header h1 { font-size: 18px; margin: 0 0 4px; }
header label { margin-right: 12px; }
main { padding: 8px 16px; }
section.group { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: 10px 0;
  padding: 8px 12px; content-visibility: auto; contain-intrinsic-size: auto 340px; }
section.group h2 { font-size: 14px; margin: 0 0 6px; }
.members { display: flex; flex-wrap: wrap; gap: 10px; }
figure.member { margin: 0; width: 250px; border: 3px solid transparent; border-radius: 4px;
  padding: 4px; }
figure.keeper { border-color: #2a8a2a; background: #eef8ee; }
figure.reference { border-style: dashed; }
figure img, figure .missing { width: 240px; height: 240px; object-fit: contain;
  background: #eee; display: block; }
figure .missing { display: flex; align-items: center; justify-content: center; color: #888; }
figcaption { font-size: 12px; margin-top: 4px; }
figcaption .path { word-break: break-all; color: #555; }
.badge { display: inline-block; padding: 0 5px; border-radius: 3px; font-weight: 600;
  font-size: 11px; }
.keep { background: #2a8a2a; color: #fff; }
.tier-exact { background: #d7e9ff; }
.tier-same_shot { background: #d9f2dc; }
.tier-near_exact { background: #ffe9c2; }
.tier-copy { background: #f3d6f0; }
.tier-similar_shot { background: #e4e4e4; }
.why { margin: 2px 0 6px; color: #555; font-size: 12px; }
body.hide-exact section[data-tier="exact"],
body.hide-same_shot section[data-tier="same_shot"],
body.hide-near_exact section[data-tier="near_exact"],
body.hide-copy section[data-tier="copy"],
body.hide-similar_shot section[data-tier="similar_shot"] { display: none; }
"#;

/// Thumbnails of the first groups load with the page; the rest load as they scroll into view.
const EAGER_THUMBNAILS: usize = 60;

/// Wires the tier filters and, once the page has loaded, counts the thumbnails the browser
/// decoded and those it could not (`data-images-ok` / `data-images-failed` on the body, for
/// automated checks; lazy ones not yet shown are in neither).
const SCRIPT: &str = r#"
for (const box of document.querySelectorAll('input[data-tier]')) {
  box.addEventListener('change', () =>
    document.body.classList.toggle('hide-' + box.dataset.tier, !box.checked));
}
window.addEventListener('load', () => {
  const images = [...document.querySelectorAll('figure img')].filter(i => i.complete);
  document.body.dataset.imagesOk = images.filter(i => i.naturalWidth > 0).length;
  document.body.dataset.imagesFailed = images.filter(i => i.naturalWidth === 0).length;
});
"#;

/// One member's figure; `normalised`: show the normalised similarity the threshold applied to.
fn member_html(out: &mut String, m: &Member, thumb: Option<&String>, lazy: bool, normalised: bool) {
    let mut classes = String::from("member");
    if m.keeper {
        classes.push_str(" keeper");
    }
    if m.reference {
        classes.push_str(" reference");
    }
    let path = m.path.display().to_string();
    let tier = m.tier.key();
    let _ = write!(
        out,
        r#"<figure class="{classes}" data-tier="{tier}" data-similarity="{sim:.4}">"#,
        sim = m.similarity
    );
    match thumb {
        Some(uri) => {
            let loading = if lazy { "lazy" } else { "eager" };
            let _ = write!(
                out,
                r#"<img loading="{loading}" src="{uri}" alt="{}">"#,
                escape(&path)
            );
        }
        None => out.push_str(r#"<div class="missing">no preview</div>"#),
    }
    out.push_str("<figcaption>");
    if m.keeper {
        out.push_str(r#"<span class="badge keep">KEEP</span> "#);
    } else {
        let _ = write!(
            out,
            r#"<span class="badge tier-{tier}">{}</span> "#,
            m.tier.name()
        );
    }
    if m.reference {
        out.push_str(r#"<span class="badge">reference</span> "#);
    }
    if normalised && !m.keeper {
        let _ = write!(out, "score {:+.3} · ", m.score);
    }
    // Why a different picture is in the group: its corners and patches agree with the keeper's.
    if let Some(a) = &m.agreement {
        let _ = write!(
            out,
            r#"<span class="why" title="matched corners that agree on one geometric map with the keeper, and the share of detailed patches that agree once it is applied">{} corners agree{} · {:.0} % of patches</span><br>"#,
            a.inliers,
            if a.mirrored { " (mirrored)" } else { "" },
            100.0 * a.patches
        );
    }
    // The pair verifier's verdict: why a copy is a copy, or another shot is not.
    if let Some(v) = &m.verifier {
        let reasons: Vec<String> = v
            .reasons
            .iter()
            .map(|r| format!("{} {:+.1}", r.feature.replace('_', " "), r.effect))
            .collect();
        let _ = write!(
            out,
            r#"<span class="why" title="the pair verifier's probability that this file and the keeper are one picture, and the measurements that moved it most (log-odds)">one picture: {:.0} % ({})</span><br>"#,
            100.0 * v.probability,
            escape(&reasons.join(", "))
        );
    }
    let _ = write!(
        out,
        "similarity {:.4} · {}×{} · {}<br><span class=\"path\">{}</span></figcaption></figure>",
        m.similarity,
        m.width,
        m.height,
        human_bytes(m.size),
        escape(&path)
    );
}

/// The report page for `groups`.
pub fn html(groups: &[Group], opts: &DedupOptions) -> Result<String> {
    let paths: Vec<&PathBuf> = groups
        .iter()
        .flat_map(|g| g.members.iter().map(|m| &m.path))
        .collect();
    let thumbs: HashMap<&PathBuf, String> = paths
        .par_iter()
        .filter_map(|p| thumbnail(p).map(|t| (*p, t)))
        .collect();
    let (copies, bytes) = crate::dedup::totals(groups);

    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>lookalike: {n} duplicate groups</title><style>{STYLE}</style></head>\n\
         <body data-groups=\"{n}\"><header><h1>lookalike: {n} duplicate groups</h1>\
         <p>{copies} files ({size}) duplicate a keeper. Threshold {t} on the {scoring} similarity; near-exact: same picture within {ne} levels. \
         The keeper of each group has a green frame.</p>\
         <label><input type=\"checkbox\" data-tier=\"exact\" checked> exact</label>\
         <label><input type=\"checkbox\" data-tier=\"same_shot\" checked> same shot</label>\
         <label><input type=\"checkbox\" data-tier=\"near_exact\" checked> near-exact</label>\
         <label><input type=\"checkbox\" data-tier=\"copy\" checked> copy</label>\
         <label><input type=\"checkbox\" data-tier=\"similar_shot\" checked> similar shot (not acted on)</label>\
         </header>\n<main>\n",
        n = groups.len(),
        size = human_bytes(bytes),
        t = opts.threshold,
        scoring = opts.scoring(),
        ne = opts.near_exact,
    );
    let mut shown = 0;
    for (i, g) in groups.iter().enumerate() {
        let tier = g.tier.key();
        let _ = write!(
            out,
            "<section class=\"group\" id=\"g{n}\" data-tier=\"{tier}\"><h2>Group {n} · {} · {} files</h2>{why}<div class=\"members\">",
            g.tier.name(),
            g.members.len(),
            n = i + 1,
            why = match g.kept_because.text() {
                t if t.is_empty() => String::new(),
                t => format!("<p class=\"why\">Kept: {}</p>", escape(&t)),
            }
        );
        for m in &g.members {
            member_html(
                &mut out,
                m,
                thumbs.get(&m.path),
                shown >= EAGER_THUMBNAILS,
                opts.background.is_some(),
            );
            shown += 1;
        }
        out.push_str("</div></section>\n");
    }
    let _ = writeln!(out, "</main><script>{SCRIPT}</script></body></html>");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::Tier;

    #[test]
    fn the_page_escapes_paths_and_embeds_thumbnails() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("<b>&.png");
        image::RgbImage::from_pixel(400, 300, image::Rgb([200, 10, 10]))
            .save(&path)
            .unwrap();
        let member = |keeper| Member {
            path: path.clone(),
            similarity: 1.0,
            score: 1.0,
            tier: Tier::Exact,
            keeper,
            reference: false,
            width: 400,
            height: 300,
            size: 1000,
            mtime_ns: 0,
            agreement: None,
            verifier: None,
            format: crate::dedup::Family::Other,
            shot: None,
            content: 0,
        };
        let mut copy = member(false);
        copy.agreement = Some(crate::dedup::matching::Agreement {
            matches: 60,
            inliers: 42,
            coverage: 0.5,
            mirrored: true,
            patches: 0.93,
            detail: Default::default(),
        });
        let groups = vec![Group {
            tier: Tier::Exact,
            members: vec![member(true), copy],
            kept_because: Default::default(),
        }];
        let page = html(&groups, &DedupOptions::default()).unwrap();
        assert!(page.contains("42 corners agree (mirrored) · 93 % of patches"));
        assert!(page.contains("&lt;b&gt;&amp;.png"));
        assert!(!page.contains("<b>&.png"));
        assert_eq!(page.matches("data:image/jpeg;base64,").count(), 2);
        assert_eq!(page.matches("class=\"member keeper\"").count(), 1);
        assert_eq!(page.matches("<section class=\"group\"").count(), 1);
    }
}
