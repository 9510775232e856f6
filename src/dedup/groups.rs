//! Grouping: keepers in order of preference (references first, then the `--keep` policy),
//! each taking the unassigned contents similar to it, so that groups never chain; then
//! the tiers (exact, near-exact by 32x32 colour thumbnails, similar).

use super::content_check::pair_key;
use super::contents::{path_len, Content};
use super::pairs::ScoredPairs;
use super::{DedupOptions, Group, Keep, Member, Tier};
use crate::index::store::FileRecord;
use rayon::prelude::*;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::Path;

/// Side of the RGB thumbnails compared for the near-exact tier.
const FINGERPRINT_SIDE: u32 = 32;

/// A near-exact copy's thumbnail pixels (99th percentile) stay within this many times the
/// near-exact limit of the keeper's.
const NEAR_EXACT_PEAK: f32 = 6.0;

/// Order of distinct contents as keepers: references first, then as the policy prefers.
fn content_order(keep: Keep, a: &Content, b: &Content) -> Ordering {
    let best = || {
        b.pixels()
            .cmp(&a.pixels())
            .then(b.size().cmp(&a.size()))
            .then(a.oldest().cmp(&b.oldest()))
    };
    let by_policy = match keep {
        Keep::Best => best(),
        Keep::Largest => b
            .size()
            .cmp(&a.size())
            .then(b.pixels().cmp(&a.pixels()))
            .then(a.oldest().cmp(&b.oldest())),
        Keep::Oldest => a.oldest().cmp(&b.oldest()).then_with(best),
        Keep::Newest => b.newest().cmp(&a.newest()).then_with(best),
        Keep::ShortestPath => path_len(a.first_path())
            .cmp(&path_len(b.first_path()))
            .then_with(best),
    };
    b.reference()
        .cmp(&a.reference())
        .then(by_policy)
        .then(a.first_path().cmp(b.first_path()))
}

/// The duplicate groups of `contents` linked by `scored`, keepers first, tiers set, in no
/// particular order.
pub(super) fn group(contents: &[Content], scored: &ScoredPairs, opts: &DedupOptions) -> Vec<Group> {
    let agreements = &scored.agreements;
    // Per image: the images similar to it, with (score, cosine).
    let mut similar: Vec<HashMap<usize, (f32, f32)>> = vec![HashMap::new(); contents.len()];
    for &(i, j, s, cos) in &scored.pairs {
        similar[i].insert(j, (s, cos));
        similar[j].insert(i, (s, cos));
    }

    // Keepers in order of preference; each takes the unassigned images similar to it
    // (reference images are never taken: they keep their own groups). An image with one file
    // and nothing similar to it forms no group and needs no place in the order.
    let mut order: Vec<usize> = (0..contents.len())
        .filter(|&i| !similar[i].is_empty() || contents[i].files.len() > 1)
        .collect();
    order.sort_by(|&a, &b| content_order(opts.keep, &contents[a], &contents[b]));
    let mut assigned = vec![false; contents.len()];
    let mut groups = Vec::new();
    for &k in &order {
        if assigned[k] {
            continue;
        }
        assigned[k] = true;
        let mut others: Vec<(usize, (f32, f32))> = similar[k]
            .iter()
            .filter(|(j, _)| !assigned[**j] && !contents[**j].reference())
            .map(|(j, s)| (*j, *s))
            .collect();
        others.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        for (j, _) in &others {
            assigned[*j] = true;
        }
        let keeper = &contents[k];
        let mut members = Vec::new();
        for (n, (path, rec, reference)) in keeper.files.iter().enumerate() {
            members.push(member(
                keeper,
                path,
                rec,
                *reference,
                (1.0, scored.self_score(k)),
                Tier::Exact,
                n == 0,
            ));
        }
        for (j, (s, cos)) in others {
            let c = &contents[j];
            let agreement = agreements.get(&pair_key(k, j)).copied();
            for (path, rec, reference) in &c.files {
                // Similar until the pixels say near-exact (below).
                let sims = (cos.min(1.0), s.min(1.0));
                let mut m = member(c, path, rec, *reference, sims, Tier::Similar, false);
                m.agreement = agreement;
                members.push(m);
            }
        }
        // Only groups with something to act on: a copy that is not a reference.
        if !members.iter().skip(1).any(|m| !m.reference) {
            continue;
        }
        let mut group = Group {
            tier: Tier::Exact,
            members,
        };
        group.tier = group.loosest_tier().unwrap_or(Tier::Exact);
        groups.push(group);
    }
    classify_near_exact(&mut groups, opts.near_exact);
    groups
        .par_iter_mut()
        .for_each(|g| super::shots::arrange(g, &opts.prefer));
    groups
}

/// An RGB `FINGERPRINT_SIDE`² thumbnail of the upright picture, or `None` if unreadable now.
fn fingerprint(path: &Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    let opts = crate::ingest::decode::DecodeOptions::new(FINGERPRINT_SIDE);
    let img = crate::ingest::decode::decode_upright(&bytes, 4 * FINGERPRINT_SIDE, &opts).ok()?;
    let small = image::imageops::resize(
        &img,
        FINGERPRINT_SIDE,
        FINGERPRINT_SIDE,
        image::imageops::FilterType::Triangle,
    );
    Some(small.into_raw())
}

/// How two fingerprints differ, in levels (0-255): the mean absolute difference over every
/// value, and the 99th percentile over pixels of their largest channel difference (a
/// local edit, text or a sticker, moves a few pixels far; recompression moves all a little).
fn fingerprint_distance(a: &[u8], b: &[u8]) -> (f32, f32) {
    let sum: u32 = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as u32).sum();
    let mean = sum as f32 / a.len().max(1) as f32;
    let mut peaks: Vec<u8> = a
        .chunks_exact(3)
        .zip(b.chunks_exact(3))
        .map(|(p, q)| (0..3).map(|c| p[c].abs_diff(q[c])).max().unwrap_or(0))
        .collect();
    if peaks.is_empty() {
        return (mean, 0.0);
    }
    let k = (peaks.len() * 99 / 100).min(peaks.len() - 1);
    let (_, p99, _) = peaks.select_nth_unstable(k);
    (mean, *p99 as f32)
}

/// Whether a fingerprint distance is that of the same picture resized or recompressed:
/// mean within `limit`, and no local change beyond `NEAR_EXACT_PEAK x limit` (docs/studies/dedup.md,
/// "near-exact tier": it keeps grayscale, text and sticker edits out).
fn near_exact(distance: (f32, f32), limit: f32) -> bool {
    distance.0 <= limit && distance.1 <= NEAR_EXACT_PEAK * limit
}

fn same_aspect(a: &Member, b: &Member) -> bool {
    let (ra, rb) = (
        a.width as f64 / a.height.max(1) as f64,
        b.width as f64 / b.height.max(1) as f64,
    );
    (ra / rb - 1.0).abs() <= 0.01
}

/// Promotes members that are their keeper's picture resized or recompressed (same aspect
/// ratio, thumbnails within `limit` levels, see [`near_exact`]) from similar to near-exact, and sets each
/// group's tier. Decodes only the keepers and members of groups.
fn classify_near_exact(groups: &mut [Group], limit: f32) {
    groups.par_iter_mut().for_each(|g| {
        let candidates: Vec<usize> = (1..g.members.len())
            .filter(|&i| {
                g.members[i].tier == Tier::Similar && same_aspect(&g.members[0], &g.members[i])
            })
            .collect();
        if !candidates.is_empty() {
            if let Some(keeper) = fingerprint(&g.members[0].path) {
                for i in candidates {
                    let close = fingerprint(&g.members[i].path)
                        .is_some_and(|f| near_exact(fingerprint_distance(&keeper, &f), limit));
                    if close {
                        g.members[i].tier = Tier::NearExact;
                    }
                }
            }
        }
        g.tier = g.loosest_tier().unwrap_or(Tier::Exact);
    });
}

fn member(
    c: &Content,
    path: &Path,
    rec: &FileRecord,
    reference: bool,
    (similarity, score): (f32, f32),
    tier: Tier,
    keeper: bool,
) -> Member {
    Member {
        path: path.to_path_buf(),
        similarity,
        score,
        tier,
        keeper,
        reference,
        width: c.width,
        height: c.height,
        size: rec.size,
        mtime_ns: rec.mtime_ns,
        agreement: None,
        format: crate::ingest::format::Family::of_path(path),
        shot: None,
        content: c.id,
    }
}

#[cfg(test)]
mod tests {
    use super::super::DEFAULT_NEAR_EXACT;
    use super::*;
    use image::{Rgb, RgbImage};

    fn photo() -> RgbImage {
        RgbImage::from_fn(400, 300, |x, y| {
            let v = ((x / 20 + y / 15) % 7) as u8 * 30;
            Rgb([v, 255 - v, ((x + y) / 3 % 256) as u8])
        })
    }

    fn member(path: &Path, img: &RgbImage) -> Member {
        Member {
            path: path.to_path_buf(),
            similarity: 0.95,
            score: 0.95,
            tier: Tier::Similar,
            keeper: false,
            reference: false,
            width: img.width(),
            height: img.height(),
            size: 0,
            mtime_ns: 0,
            agreement: None,
            format: crate::ingest::format::Family::of_path(path),
            shot: None,
            content: 0,
        }
    }

    #[test]
    fn resized_and_recompressed_copies_are_near_exact_edits_are_not() {
        let tmp = tempfile::tempdir().unwrap();
        let original = photo();
        let resized =
            image::imageops::resize(&original, 200, 150, image::imageops::FilterType::Triangle);
        let brighter = RgbImage::from_fn(400, 300, |x, y| {
            Rgb(original.get_pixel(x, y).0.map(|c| c.saturating_add(40)))
        });
        let cropped = image::imageops::crop_imm(&original, 0, 0, 300, 225).to_image();
        // Close in grey on average, far in colour or in one place: edits, not re-encodings.
        let grey = image::DynamicImage::ImageRgb8(original.clone())
            .grayscale()
            .to_rgb8();
        let mut sticker = original.clone();
        for (x, y, p) in sticker.enumerate_pixels_mut() {
            if (300..360).contains(&x) && (200..240).contains(&y) {
                *p = Rgb([255, 0, 0]);
            }
        }
        let files = [
            ("original.png", &original),
            ("resized.jpg", &resized),
            ("brighter.png", &brighter),
            ("cropped.png", &cropped),
            ("grey.png", &grey),
            ("sticker.png", &sticker),
        ];
        let mut members = Vec::new();
        for (name, img) in files {
            let path = tmp.path().join(name);
            img.save(&path).unwrap();
            members.push(member(&path, img));
        }
        members[0].keeper = true;
        members[0].tier = Tier::Exact;
        let mut groups = vec![Group {
            tier: Tier::Similar,
            members,
        }];
        classify_near_exact(&mut groups, DEFAULT_NEAR_EXACT);
        let tiers: Vec<Tier> = groups[0].members.iter().map(|m| m.tier).collect();
        assert_eq!(
            tiers,
            vec![
                Tier::Exact,
                Tier::NearExact,
                Tier::Similar,
                Tier::Similar,
                Tier::Similar,
                Tier::Similar
            ]
        );
        assert_eq!(groups[0].tier, Tier::Similar);
    }
}
