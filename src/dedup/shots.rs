//! The files of one shot in several formats: a RAW and the camera's JPEG, a HEIC and its
//! JPEG export. Within a group, two files of different format families are one shot when
//! they have the same name in the same folder (`IMG_0001.CR2`, `IMG_0001.JPG`), or the same
//! capture time and the keeper's picture unedited (exact or near-exact). The keeper is the shot's most preferred format (a user's `--prefer`), the
//! other files of the keeper's shot are in the same-shot tier, and every shot is numbered
//! so that actions take its files together or not at all.

use super::{Family, Group, KeptBecause, Member, PictureRule, Tier};
use crate::ingest::capture_time::CaptureTime;
use std::path::Path;

/// Finds the shots of a group, makes the most preferred file of the keeper's shot the keeper
/// and puts the other files of that shot in [`Tier::SameShot`]. Reads capture times only
/// when the group has files of two families, and only of unedited files.
pub(super) fn arrange(group: &mut Group, prefer: &[Family]) {
    let first = group.members[0].format;
    if group.members.iter().all(|m| m.format == first) {
        return;
    }
    // Only unedited files can be one shot by their capture time: the others are not read.
    let taken: Vec<Option<CaptureTime>> = group
        .members
        .iter()
        .map(|m| {
            unedited(m)
                .then(|| std::fs::read(&m.path).ok())
                .flatten()
                .and_then(|b| CaptureTime::of(&b))
        })
        .collect();
    let shot_of = shots(&group.members, &taken);
    for (m, shot) in group.members.iter_mut().zip(&shot_of) {
        m.shot = *shot;
    }
    if shot_of[0].is_some() {
        choose_keeper(group, prefer);
    }
    group.tier = group.loosest_tier().unwrap_or(Tier::Exact);
}

/// Whether two files are one shot: different families, and the same name in one folder, or
/// the same capture time and both the keeper's picture unedited (exact or near-exact: an
/// edited copy keeps its original's capture time too, and is a copy, not another file of
/// the shot).
fn one_shot(a: &Member, b: &Member, ta: Option<&CaptureTime>, tb: Option<&CaptureTime>) -> bool {
    if a.format == b.format {
        return false;
    }
    let same_name = a.path.parent() == b.path.parent() && stem(&a.path) == stem(&b.path);
    let same_time = unedited(a)
        && unedited(b)
        && matches!((ta, tb), (Some(x), Some(y)) if !x.distinct_shots(y));
    same_name || same_time
}

/// Whether a member is its keeper's picture unedited (exact or near-exact).
fn unedited(m: &Member) -> bool {
    matches!(m.tier, Tier::Exact | Tier::NearExact)
}

fn stem(path: &Path) -> Option<String> {
    path.file_stem().map(|s| s.to_string_lossy().to_lowercase())
}

/// Each member's shot: the position of the shot's first file, `None` for a file alone.
fn shots(members: &[Member], taken: &[Option<CaptureTime>]) -> Vec<Option<usize>> {
    let n = members.len();
    let mut root: Vec<usize> = (0..n).collect();
    fn find(root: &mut [usize], mut i: usize) -> usize {
        while root[i] != i {
            root[i] = root[root[i]];
            i = root[i];
        }
        i
    }
    for i in 0..n {
        for j in i + 1..n {
            if one_shot(
                &members[i],
                &members[j],
                taken[i].as_ref(),
                taken[j].as_ref(),
            ) {
                let (a, b) = (find(&mut root, i), find(&mut root, j));
                // The smaller position is the shot's number.
                root[a.max(b)] = a.min(b);
            }
        }
    }
    let roots: Vec<usize> = (0..n).map(|i| find(&mut root, i)).collect();
    (0..n)
        .map(|i| (roots.iter().filter(|&&r| r == roots[i]).count() > 1).then_some(roots[i]))
        .collect()
}

/// The rank of a family in a preference (unlisted families after all listed ones).
fn rank(prefer: &[Family], family: Family) -> usize {
    prefer
        .iter()
        .position(|&f| f == family)
        .unwrap_or(prefer.len())
}

/// Makes the most preferred file of the keeper's shot (shot 0) the keeper: a reference file
/// first, then by format preference, then the current order. The keeper's content's files
/// are exact copies, the rest of the shot and exact copies of its files same-shot; other
/// members keep their tiers (they were compared with a file of this shot).
fn choose_keeper(group: &mut Group, prefer: &[Family]) {
    let members = &mut group.members;
    let best = (0..members.len())
        .filter(|&i| members[i].shot == Some(0))
        .min_by_key(|&i| (!members[i].reference, rank(prefer, members[i].format), i))
        .unwrap_or(0);
    if members[best].content != members[0].content {
        let (similarity, score) = (members[best].similarity, members[best].score);
        let old = &mut members[0];
        (old.keeper, old.similarity, old.score) = (false, similarity, score);
        members[best].keeper = true;
        // The new keeper's content first, the new keeper at its head; the rest in order.
        let content = members[best].content;
        let keeper = members.remove(best);
        let (mut front, rest): (Vec<Member>, Vec<Member>) =
            members.drain(..).partition(|m| m.content == content);
        front.insert(0, keeper);
        front.extend(rest);
        *members = front;
        renumber(members);
        members[0].similarity = 1.0;
        members[0].score = 1.0;
        group.kept_because = KeptBecause {
            picture: Some(PictureRule::Format),
            file: None,
        };
    }
    let content = members[0].content;
    for m in members.iter_mut().skip(1) {
        if m.content == content {
            // An exact copy of the keeper, not another file of its shot.
            m.tier = Tier::Exact;
            (m.similarity, m.score, m.shot) = (1.0, 1.0, None);
        } else if m.shot == Some(0) || m.tier == Tier::Exact {
            // A file of the shot, or an exact copy of one (not of the keeper: never a hard
            // link to it).
            m.tier = Tier::SameShot;
            m.shot = Some(0);
        }
    }
    members[0].tier = Tier::Exact;
}

/// Numbers the shots again after a reorder: each by the position of its first file.
fn renumber(members: &mut [Member]) {
    let old: Vec<Option<usize>> = members.iter().map(|m| m.shot).collect();
    for (i, m) in members.iter_mut().enumerate() {
        if let Some(s) = old[i] {
            if s != 0 {
                let first = old.iter().position(|&o| o == Some(s)).unwrap_or(i);
                m.shot = Some(first);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::actions::{plan, Action};
    use crate::dedup::{restrict_to_tiers, DEFAULT_FORMAT_PREFERENCE};
    use std::path::PathBuf;

    /// A member of content `content`; the files need not exist (no capture times then).
    fn member(path: &str, content: u64, tier: Tier, width: u32) -> Member {
        Member {
            path: PathBuf::from(path),
            similarity: 0.97,
            score: 0.97,
            tier,
            keeper: false,
            reference: false,
            width,
            height: 100,
            size: 1000,
            mtime_ns: 0,
            agreement: None,
            verifier: None,
            format: Family::of_path(Path::new(path)),
            shot: None,
            content,
        }
    }

    /// A group as `groups::group` makes it: the first member is the keeper.
    fn group(mut members: Vec<Member>) -> Group {
        members[0].keeper = true;
        members[0].tier = Tier::Exact;
        let mut g = Group {
            tier: Tier::Exact,
            members,
            kept_because: Default::default(),
        };
        g.tier = g.loosest_tier().unwrap();
        g
    }

    fn names(g: &Group) -> Vec<(&str, Tier, Option<usize>)> {
        g.members
            .iter()
            .map(|m| (m.path.to_str().unwrap(), m.tier, m.shot))
            .collect()
    }

    #[test]
    fn the_raw_of_a_shot_is_kept_and_its_jpeg_is_same_shot() {
        // The camera's JPEG has more pixels than the RAW's preview: it was chosen first.
        let mut g = group(vec![
            member("/p/IMG_1.JPG", 1, Tier::Exact, 600),
            member("/backup/IMG_1.JPG", 1, Tier::Exact, 600),
            member("/p/IMG_1.CR2", 2, Tier::NearExact, 300),
            member("/backup/IMG_1.CR2", 2, Tier::NearExact, 300),
            member("/p/edited.jpg", 3, Tier::Copy, 600),
        ]);
        arrange(&mut g, &DEFAULT_FORMAT_PREFERENCE);
        assert_eq!(
            names(&g),
            [
                ("/p/IMG_1.CR2", Tier::Exact, Some(0)),
                // An exact copy of the keeper, not another file of its shot.
                ("/backup/IMG_1.CR2", Tier::Exact, None),
                ("/p/IMG_1.JPG", Tier::SameShot, Some(0)),
                // An exact copy of the shot's JPEG is never hard-linked to the RAW.
                ("/backup/IMG_1.JPG", Tier::SameShot, Some(0)),
                ("/p/edited.jpg", Tier::Copy, None),
            ]
        );
        assert!(g.members[0].keeper && !g.members[2].keeper);
        assert_eq!(g.members[0].similarity, 1.0);
        assert_eq!(g.tier, Tier::Copy);
        // An action leaves the shot together and takes the rest.
        let p = plan(std::slice::from_ref(&g), &Action::Trash, &[]);
        let acted: Vec<&str> = p.steps.iter().map(|s| s.path.to_str().unwrap()).collect();
        assert_eq!(acted, ["/backup/IMG_1.CR2", "/p/edited.jpg"]);
        assert_eq!(
            p.kept_with_shot,
            [
                PathBuf::from("/p/IMG_1.JPG"),
                PathBuf::from("/backup/IMG_1.JPG")
            ]
        );
        // Asked for by name, the shot is split.
        let p = plan(std::slice::from_ref(&g), &Action::Trash, &[Tier::SameShot]);
        assert_eq!(p.steps.len(), 4);
        assert!(p.kept_with_shot.is_empty());
    }

    #[test]
    fn the_preference_decides_which_file_of_a_shot_is_kept() {
        let members = || {
            vec![
                member("/p/IMG_2.HEIC", 1, Tier::Exact, 400),
                member("/p/IMG_2.jpg", 2, Tier::NearExact, 400),
            ]
        };
        let mut g = group(members());
        arrange(&mut g, &DEFAULT_FORMAT_PREFERENCE);
        assert_eq!(
            names(&g),
            [
                ("/p/IMG_2.HEIC", Tier::Exact, Some(0)),
                ("/p/IMG_2.jpg", Tier::SameShot, Some(0)),
            ]
        );
        assert_eq!(g.tier, Tier::SameShot);
        let mut g = group(members());
        arrange(&mut g, &[Family::Jpeg]);
        assert_eq!(
            names(&g),
            [
                ("/p/IMG_2.jpg", Tier::Exact, Some(0)),
                ("/p/IMG_2.HEIC", Tier::SameShot, Some(0)),
            ]
        );
    }

    #[test]
    fn files_of_one_format_or_of_other_names_are_not_one_shot() {
        let mut g = group(vec![
            member("/p/IMG_3.jpg", 1, Tier::Exact, 400),
            member("/q/IMG_3.jpg", 2, Tier::NearExact, 400),
            member("/q/IMG_4.cr2", 3, Tier::Copy, 400),
        ]);
        let before = names(&g)
            .into_iter()
            .map(|(p, t, s)| (p.to_string(), t, s))
            .collect::<Vec<_>>();
        arrange(&mut g, &DEFAULT_FORMAT_PREFERENCE);
        let after = names(&g)
            .into_iter()
            .map(|(p, t, s)| (p.to_string(), t, s))
            .collect::<Vec<_>>();
        assert_eq!(before, after);
    }

    /// A JPEG whose EXIF says it was taken at `when` ("YYYY:MM:DD HH:MM:SS").
    fn jpeg_taken(path: &Path, when: &str) {
        // Little-endian TIFF: IFD0 with one entry (the Exif IFD at 26), the Exif IFD with
        // DateTimeOriginal (20 ASCII bytes at 44).
        let mut tiff = b"II*\0\x08\0\0\0\x01\0\x69\x87\x04\0\x01\0\0\0\x1a\0\0\0\0\0\0\0".to_vec();
        tiff.extend_from_slice(b"\x01\0\x03\x90\x02\0\x14\0\0\0\x2c\0\0\0\0\0\0\0");
        tiff.extend_from_slice(when.as_bytes());
        tiff.push(0);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut bytes = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 90);
        encoder.add_app_segment(1, &app1).unwrap();
        let pixels = vec![128u8; 16 * 16 * 3];
        encoder
            .encode(&pixels, 16, 16, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn one_capture_time_makes_one_shot_of_unedited_files_only() {
        let tmp = tempfile::tempdir().unwrap();
        let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
        for name in [
            "phone/IMG_7.jpg",
            "export/holiday.avif",
            "edits/holiday-crop.avif",
        ] {
            std::fs::create_dir_all(tmp.path().join(name).parent().unwrap()).unwrap();
            jpeg_taken(&tmp.path().join(name), "2026:05:01 12:00:00");
        }
        assert!(CaptureTime::of(&std::fs::read(p("phone/IMG_7.jpg")).unwrap()).is_some());
        let mut g = group(vec![
            member(&p("phone/IMG_7.jpg"), 1, Tier::Exact, 400),
            member(&p("export/holiday.avif"), 2, Tier::NearExact, 400),
            member(&p("edits/holiday-crop.avif"), 3, Tier::Copy, 300),
        ]);
        arrange(&mut g, &DEFAULT_FORMAT_PREFERENCE);
        let tiers: Vec<(Tier, Option<usize>)> =
            g.members.iter().map(|m| (m.tier, m.shot)).collect();
        // The export is the shot in another format and becomes the keeper (AVIF before
        // JPEG); the cropped copy is an edit: a copy, whatever its capture time.
        assert_eq!(g.members[0].path, PathBuf::from(p("export/holiday.avif")));
        assert_eq!(
            tiers,
            [
                (Tier::Exact, Some(0)),
                (Tier::SameShot, Some(0)),
                (Tier::Copy, None)
            ]
        );
    }

    #[test]
    fn a_shot_among_the_copies_is_acted_on_whole_or_not_at_all() {
        let mut keeper = member("/ref/original.png", 1, Tier::Exact, 800);
        keeper.reference = true;
        let mut g = group(vec![
            keeper,
            member("/p/IMG_5.NEF", 2, Tier::Copy, 400),
            member("/p/IMG_5.JPG", 3, Tier::NearExact, 800),
        ]);
        arrange(&mut g, &DEFAULT_FORMAT_PREFERENCE);
        assert_eq!(
            names(&g),
            [
                ("/ref/original.png", Tier::Exact, None),
                ("/p/IMG_5.NEF", Tier::Copy, Some(1)),
                ("/p/IMG_5.JPG", Tier::NearExact, Some(1)),
            ]
        );
        // Both go, or neither: near-exact copies alone would take the JPEG from its RAW.
        let p = plan(std::slice::from_ref(&g), &Action::Trash, &[]);
        assert_eq!(p.steps.len(), 2);
        let near = restrict_to_tiers(vec![g.clone()], &[Tier::NearExact]);
        assert!(near.is_empty(), "{near:?}");
        let p = plan(std::slice::from_ref(&g), &Action::Hardlink, &[]);
        assert!(p.steps.is_empty());
    }
}
