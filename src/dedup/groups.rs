//! Grouping: keepers in order of preference (references first, then the `--keep` policy),
//! each taking the unassigned contents similar to it, so that groups never chain; then
//! the tiers (exact, near-exact by 32x32 colour thumbnails, similar).

use super::content_check::pair_key;
use super::contents::{path_len, Content};
use super::pairs::ScoredPairs;
use super::{DedupOptions, Group, Keep, KeptBecause, Member, PictureRule, Tier};
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

/// The criteria that order distinct contents as keepers, most important first: references,
/// then as the policy prefers, then the first path.
fn content_criteria(keep: Keep) -> &'static [PictureRule] {
    use PictureRule::*;
    match keep {
        Keep::Best => &[Reference, Resolution, FileSize, Oldest, PathOrder],
        Keep::Largest => &[Reference, FileSize, Resolution, Oldest, PathOrder],
        Keep::Oldest => &[Reference, Oldest, Resolution, FileSize, PathOrder],
        Keep::Newest => &[Reference, Newest, Resolution, FileSize, PathOrder],
        Keep::ShortestPath => &[
            Reference,
            ShortestPath,
            Resolution,
            FileSize,
            Oldest,
            PathOrder,
        ],
    }
}

/// How `a` and `b` compare on one criterion (`Less`: `a` is the better keeper).
fn compare_on(rule: PictureRule, a: &Content, b: &Content) -> Ordering {
    match rule {
        PictureRule::Reference => b.reference().cmp(&a.reference()),
        PictureRule::Resolution => b.pixels().cmp(&a.pixels()),
        PictureRule::FileSize => b.size().cmp(&a.size()),
        PictureRule::Oldest => a.oldest().cmp(&b.oldest()),
        PictureRule::Newest => b.newest().cmp(&a.newest()),
        PictureRule::ShortestPath => path_len(a.first_path()).cmp(&path_len(b.first_path())),
        PictureRule::PathOrder => a.first_path().cmp(b.first_path()),
        PictureRule::Format | PictureRule::Chosen => Ordering::Equal,
    }
}

/// Order of distinct contents as keepers ([`content_criteria`]).
fn content_order(keep: Keep, a: &Content, b: &Content) -> Ordering {
    content_criteria(keep)
        .iter()
        .map(|&r| compare_on(r, a, b))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// The criterion that put keeper `a` before `b`.
fn picture_rule(keep: Keep, a: &Content, b: &Content) -> PictureRule {
    content_criteria(keep)
        .iter()
        .copied()
        .find(|&r| compare_on(r, a, b).is_ne())
        .unwrap_or(PictureRule::PathOrder)
}

/// The duplicate groups of `contents` linked by `scored`, keepers first, tiers set, in no
/// particular order. Copies first: keepers in order of preference each take the unassigned
/// contents that are copies of them. Then other shots: those keepers, then the contents left
/// (in the same order), each take the unassigned contents that are another shot of them
/// (similar-shot). Reference contents are never taken: they keep their own groups.
pub(super) fn group(contents: &[Content], scored: &ScoredPairs, opts: &DedupOptions) -> Vec<Group> {
    let links = |pairs: &[(usize, usize, f32, f32)]| {
        let mut out: Vec<HashMap<usize, (f32, f32)>> = vec![HashMap::new(); contents.len()];
        for &(i, j, s, cos) in pairs {
            out[i].insert(j, (s, cos));
            out[j].insert(i, (s, cos));
        }
        out
    };
    let (copies, shots) = (links(&scored.pairs), links(&scored.shots));
    // An image with one file and nothing linked to it forms no group and needs no place in
    // the order.
    let mut order: Vec<usize> = (0..contents.len())
        .filter(|&i| !copies[i].is_empty() || !shots[i].is_empty() || contents[i].files.len() > 1)
        .collect();
    order.sort_by(|&a, &b| content_order(opts.keep, &contents[a], &contents[b]));
    let mut assigned = vec![false; contents.len()];
    // The unassigned, non-reference contents linked to a keeper, best score first; marks
    // them assigned.
    let take = |linked: &HashMap<usize, (f32, f32)>, assigned: &mut Vec<bool>| {
        let mut others: Vec<(usize, (f32, f32))> = linked
            .iter()
            .filter(|(j, _)| !assigned[**j] && !contents[**j].reference())
            .map(|(j, s)| (*j, *s))
            .collect();
        others.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        for (j, _) in &others {
            assigned[*j] = true;
        }
        others
    };
    // (keeper, its copies, its other shots)
    type Taken = Vec<(usize, (f32, f32))>;
    let mut found: Vec<(usize, Taken, Taken)> = Vec::new();
    for &k in &order {
        if assigned[k] || (copies[k].is_empty() && contents[k].files.len() < 2) {
            continue;
        }
        assigned[k] = true;
        let taken = take(&copies[k], &mut assigned);
        found.push((k, taken, Vec::new()));
    }
    let keepers: HashMap<usize, usize> = found.iter().enumerate().map(|(g, f)| (f.0, g)).collect();
    for &k in &order {
        if shots[k].is_empty() {
            continue;
        }
        if let Some(&g) = keepers.get(&k) {
            found[g].2 = take(&shots[k], &mut assigned);
        } else if !assigned[k] {
            let taken = take(&shots[k], &mut assigned);
            if !taken.is_empty() {
                assigned[k] = true;
                found.push((k, Vec::new(), taken));
            }
        }
    }
    let mut groups: Vec<Group> = found
        .into_iter()
        .filter_map(|(k, copied, other_shots)| {
            group_of(contents, scored, opts, k, &copied, &other_shots)
        })
        .collect();
    classify_near_exact(&mut groups, opts.near_exact);
    groups
        .par_iter_mut()
        .for_each(|g| super::shots::arrange(g, &opts.prefer));
    groups
}

/// The group of keeper `k` with its copies and other shots (`(content, (score, cosine))`);
/// `None` when it has nothing to act on or review (every other file a reference).
fn group_of(
    contents: &[Content],
    scored: &ScoredPairs,
    opts: &DedupOptions,
    k: usize,
    copied: &[(usize, (f32, f32))],
    other_shots: &[(usize, (f32, f32))],
) -> Option<Group> {
    let keeper = &contents[k];
    // The runner-up: the best of the other pictures as a keeper.
    let picture = copied
        .iter()
        .chain(other_shots)
        .map(|&(j, _)| j)
        .min_by(|&a, &b| content_order(opts.keep, &contents[a], &contents[b]))
        .map(|j| picture_rule(opts.keep, keeper, &contents[j]));
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
    let others = copied
        .iter()
        .map(|o| (o, Tier::Copy))
        .chain(other_shots.iter().map(|o| (o, Tier::SimilarShot)));
    for (&(j, (s, cos)), tier) in others {
        let c = &contents[j];
        let key = pair_key(k, j);
        for (path, rec, reference) in &c.files {
            // A copy until the pixels say near-exact (below).
            let sims = (cos.min(1.0), s.min(1.0));
            let mut m = member(c, path, rec, *reference, sims, tier, false);
            m.agreement = scored.agreements.get(&key).copied();
            m.verifier = scored.verdicts.get(&key).cloned();
            members.push(m);
        }
    }
    // Only groups with something to act on or review: a file that is not a reference.
    if !members.iter().skip(1).any(|m| !m.reference) {
        return None;
    }
    let mut group = Group {
        tier: Tier::Exact,
        members,
        kept_because: KeptBecause {
            picture,
            file: keeper.kept_because,
        },
    };
    group.tier = group.loosest_tier().unwrap_or(Tier::Exact);
    Some(group)
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
                g.members[i].tier == Tier::Copy && same_aspect(&g.members[0], &g.members[i])
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
        verifier: None,
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
            tier: Tier::Copy,
            keeper: false,
            reference: false,
            width: img.width(),
            height: img.height(),
            size: 0,
            mtime_ns: 0,
            agreement: None,
            verifier: None,
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
            tier: Tier::Copy,
            members,
            kept_because: Default::default(),
        }];
        classify_near_exact(&mut groups, DEFAULT_NEAR_EXACT);
        let tiers: Vec<Tier> = groups[0].members.iter().map(|m| m.tier).collect();
        assert_eq!(
            tiers,
            vec![
                Tier::Exact,
                Tier::NearExact,
                Tier::Copy,
                Tier::Copy,
                Tier::Copy,
                Tier::Copy
            ]
        );
        assert_eq!(groups[0].tier, Tier::Copy);
    }
}
