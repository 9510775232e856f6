//! Camera RAW files: the largest JPEG preview embedded in them, and the orientation the
//! camera recorded. lookalike never develops sensor data; the preview is what the camera
//! itself rendered, and it decodes in milliseconds.
//!
//! Owns the container walks: TIFF-based RAWs (DNG, CR2, NEF, ARW, PEF, SRW, ORF, RW2: the
//! IFD chain, SubIFDs, the Exif IFD and the Olympus and Pentax maker notes), Fujifilm RAF
//! (a fixed header) and Canon CR3 (ISO boxes: the full-size JPEG of track 1, the `PRVW` and
//! `THMB` previews, the orientation in `CMT1`). A candidate counts only if it is a baseline,
//! extended or progressive JPEG (the lossless JPEG of raw sensor data is not a picture).
//! Every read is bounds-checked: hostile bytes give `None`, never a panic.

/// A JPEG stream found inside a RAW file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preview {
    pub offset: usize,
    pub len: usize,
    pub width: u16,
    pub height: u16,
}

/// What a RAW file holds for lookalike: its JPEG previews and its orientation.
#[derive(Debug, Default, Clone)]
pub struct RawInfo {
    /// The camera's EXIF orientation (1-8), from the RAW container, not from a preview.
    pub orientation: Option<u16>,
    pub previews: Vec<Preview>,
    /// A JPEG preview that starts in the file but runs past its end (offset, length): the
    /// file was cut short, and its other previews may not show what the camera saved.
    pub cut_short: Option<(usize, usize)>,
}

impl RawInfo {
    /// The preview with the most pixels (ties: the longer stream).
    pub fn largest(&self) -> Option<Preview> {
        self.previews
            .iter()
            .copied()
            .max_by_key(|p| (p.width as u64 * p.height as u64, p.len))
    }
}

/// Limits of the IFD walk: hostile files may chain IFDs in circles or declare huge ones.
const MAX_IFDS: usize = 64;
const MAX_ENTRIES: u16 = 2000;
const MAX_DEPTH: u8 = 4;

/// TIFF photometric interpretations of sensor data: CFA (mosaic) and LinearRaw.
const PHOTOMETRIC_CFA: u32 = 32803;
const PHOTOMETRIC_LINEAR_RAW: u32 = 34892;
/// DNGVersion: present in every DNG's IFD0.
const TAG_DNG_VERSION: u16 = 0xC612;

/// Whether the bytes are a camera RAW file by their content: a RAF or CR3 signature, the
/// CR2, ORF or RW2 headers, or a TIFF whose IFDs hold a DNG version or sensor data.
pub fn is_raw(d: &[u8]) -> bool {
    if d.starts_with(b"FUJIFILMCCD-RAW") || d.get(4..12) == Some(b"ftypcrx ") {
        return true;
    }
    let Some((t, first)) = tiff_header(d, 0) else {
        return false;
    };
    let magic = t.u16(2).unwrap_or(0);
    if magic != 42 || d.get(8..10) == Some(b"CR") {
        return true; // ORF, RW2 or CR2.
    }
    let mut sensor = false;
    walk_ifds(t, first, |t, entries, _| {
        let get = |tag| entries.iter().find(|e: &&Entry| e.tag == tag);
        let photometric = get(0x0106).and_then(|e| value(t, e, 0));
        sensor |= get(TAG_DNG_VERSION).is_some()
            || matches!(photometric, Some(PHOTOMETRIC_CFA | PHOTOMETRIC_LINEAR_RAW));
    });
    sensor
}

/// The previews and orientation of a RAW file (empty when it has none).
pub fn inspect(d: &[u8]) -> RawInfo {
    let mut info = RawInfo::default();
    if d.starts_with(b"FUJIFILMCCD-RAW") {
        raf(d, &mut info);
    } else if d.get(4..12) == Some(b"ftypcrx ") {
        cr3(d, &mut info);
    } else if let Some((t, first)) = tiff_header(d, 0) {
        info.orientation = orientation_in(t, first);
        walk_ifds(t, first, |t, entries, at| {
            previews_in(t, entries, at, &mut info)
        });
    }
    info
}

/// The EXIF (a TIFF block) of a RAW whose container is not TIFF: the Exif IFD of a CR3
/// (`CMT2`, with IFD0's `CMT1` fields missing) or the preview's own of a RAF. `None` for
/// TIFF-based RAWs, whose EXIF the EXIF reader finds itself.
pub fn exif_block(d: &[u8]) -> Option<&[u8]> {
    if d.starts_with(b"FUJIFILMCCD-RAW") {
        let (offset, len) = (be32(d, 84)? as usize, be32(d, 88)? as usize);
        let jpeg = d.get(offset..offset.checked_add(len)?)?;
        let start = exif_in_jpeg(jpeg)?;
        return jpeg.get(start..);
    }
    if d.get(4..12) == Some(b"ftypcrx ") {
        let (s, e) = canon_metadata(d)?;
        let (_, s, e) = boxes(d, s, e).into_iter().find(|b| &b.0 == b"CMT2")?;
        return d.get(s..e);
    }
    None
}

#[derive(Clone, Copy)]
struct Tiff<'a> {
    d: &'a [u8],
    little_endian: bool,
    /// Offsets in the IFDs count from here.
    base: usize,
}

impl Tiff<'_> {
    /// `N` bytes at `at` (relative to the base).
    fn bytes<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        let at = self.base.checked_add(at)?;
        self.d.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.bytes(at)?;
        Some(if self.little_endian {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.bytes(at)?;
        Some(if self.little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
}

/// One IFD entry; `value_at` is relative to the TIFF's base.
struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    value_at: usize,
}

fn type_size(kind: u16) -> usize {
    match kind {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 => 8,
        _ => 0,
    }
}

/// The entries of the IFD at `at` (relative to the base) and the offset of the next IFD.
fn read_ifd(t: Tiff, at: usize) -> Option<(Vec<Entry>, u32)> {
    let n = t.u16(at)?;
    if n == 0 || n > MAX_ENTRIES {
        return None;
    }
    let mut entries = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let e = at + 2 + 12 * i;
        let (tag, kind, count) = (t.u16(e)?, t.u16(e + 2)?, t.u32(e + 4)?);
        let size = type_size(kind).checked_mul(count as usize)?;
        let value_at = if size <= 4 {
            e + 8
        } else {
            t.u32(e + 8)? as usize
        };
        entries.push(Entry {
            tag,
            kind,
            count,
            value_at,
        });
    }
    let next = t.u32(at + 2 + 12 * n as usize).unwrap_or(0);
    Some((entries, next))
}

/// The `i`th integer value of an entry.
fn value(t: Tiff, e: &Entry, i: usize) -> Option<u32> {
    match e.kind {
        3 | 8 => t.u16(e.value_at.checked_add(2 * i)?).map(u32::from),
        4 | 9 | 13 => t.u32(e.value_at.checked_add(4 * i)?),
        1 | 7 => {
            let at = t.base.checked_add(e.value_at)?.checked_add(i)?;
            t.d.get(at).map(|&b| u32::from(b))
        }
        _ => None,
    }
}

/// A TIFF header at `at` (TIFF, or the ORF and RW2 variants): the TIFF and its IFD0 offset.
fn tiff_header(d: &[u8], at: usize) -> Option<(Tiff<'_>, usize)> {
    let little_endian = match d.get(at..at.checked_add(2)?)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let t = Tiff {
        d,
        little_endian,
        base: at,
    };
    // 42: TIFF; "RO"/"RS": Olympus ORF; 0x55: Panasonic RW2.
    if !matches!(t.u16(2)?, 42 | 0x4F52 | 0x5352 | 0x0055) {
        return None;
    }
    Some((t, t.u32(4)? as usize))
}

/// The orientation in IFD0.
fn orientation_in(t: Tiff, ifd0: usize) -> Option<u16> {
    let (entries, _) = read_ifd(t, ifd0)?;
    let o = value(t, entries.iter().find(|e| e.tag == 0x0112)?, 0)?;
    (1..=8).contains(&o).then_some(o as u16)
}

/// Visits IFD0, the IFDs chained after it, their SubIFDs and Exif IFDs (bounded in count
/// and depth, each once), with each IFD's entries and offset.
fn walk_ifds<'a>(t: Tiff<'a>, first: usize, mut visit: impl FnMut(Tiff<'a>, &[Entry], usize)) {
    let mut queue: Vec<(usize, u8)> = vec![(first, 0)];
    let mut seen: Vec<usize> = Vec::new();
    while let Some((at, depth)) = queue.pop() {
        if seen.len() >= MAX_IFDS || seen.contains(&at) || depth > MAX_DEPTH {
            continue;
        }
        seen.push(at);
        let Some((entries, next)) = read_ifd(t, at) else {
            continue;
        };
        if depth == 0 && next != 0 {
            queue.push((next as usize, 0));
        }
        visit(t, &entries, at);
        for e in entries.iter().filter(|e| e.tag == 0x014A) {
            for i in 0..e.count.min(16) as usize {
                if let Some(o) = value(t, e, i) {
                    queue.push((o as usize, depth + 1));
                }
            }
        }
        if let Some(o) = entries
            .iter()
            .find(|e| e.tag == 0x8769)
            .and_then(|e| value(t, e, 0))
        {
            queue.push((o as usize, depth + 1));
        }
    }
}

/// The JPEG previews one IFD points to.
fn previews_in(t: Tiff, entries: &[Entry], _at: usize, info: &mut RawInfo) {
    let get = |tag: u16| entries.iter().find(|e| e.tag == tag);
    let int = |tag: u16| get(tag).and_then(|e| value(t, e, 0));
    // JPEGInterchangeFormat and its length: thumbnails, ARW/PEF previews, NEF JpgFromRaw.
    if let (Some(o), Some(l)) = (int(0x0201), int(0x0202)) {
        push(info, t.d, t.base + o as usize, l as usize);
    }
    // A JPEG in one strip (CR2's IFD0, DNG previews), unless it is sensor data.
    let photometric = int(0x0106);
    let jpeg_strip = matches!(int(0x0103), Some(6 | 7))
        && !matches!(photometric, Some(PHOTOMETRIC_CFA | PHOTOMETRIC_LINEAR_RAW));
    if let (true, Some(offsets), Some(counts)) = (jpeg_strip, get(0x0111), get(0x0117)) {
        if offsets.count == 1 {
            if let (Some(o), Some(l)) = (value(t, offsets, 0), value(t, counts, 0)) {
                push(info, t.d, t.base + o as usize, l as usize);
            }
        }
    }
    // Panasonic RW2: tag 0x002E is the JPEG itself.
    if let Some(e) = get(0x002E).filter(|e| e.kind == 7) {
        push(info, t.d, t.base + e.value_at, e.count as usize);
    }
    if let Some(e) = get(0x927C) {
        maker_note(t, t.base + e.value_at, e.count as usize, info);
    }
}

/// The previews in Olympus and Pentax maker notes (`at` is absolute).
fn maker_note(t: Tiff, at: usize, len: usize, info: &mut RawInfo) {
    let Some(note) = t.d.get(at..at.saturating_add(len).min(t.d.len())) else {
        return;
    };
    let order = |range: std::ops::Range<usize>| match note.get(range) {
        Some(b"II") => true,
        Some(b"MM") => false,
        _ => t.little_endian,
    };
    if note.starts_with(b"AOC\0") {
        // Pentax: 0x0003 PreviewImageLength, 0x0004 PreviewImageStart (from the TIFF header).
        let mt = Tiff {
            little_endian: order(4..6),
            ..t
        };
        if let Some((entries, _)) = read_ifd(mt, at + 6 - t.base) {
            let int = |tag| {
                entries
                    .iter()
                    .find(|e| e.tag == tag)
                    .and_then(|e| value(mt, e, 0))
            };
            if let (Some(l), Some(o)) = (int(0x0003), int(0x0004)) {
                push(info, t.d, t.base + o as usize, l as usize);
            }
        }
        return;
    }
    // Olympus: offsets from the start of the note; 0x2020 CameraSettings holds the preview.
    let ifd = if note.starts_with(b"OLYMPUS\0") {
        12
    } else if note.starts_with(b"OM SYSTEM\0") {
        16
    } else {
        return;
    };
    let mt = Tiff {
        d: t.d,
        little_endian: order(ifd - 4..ifd - 2),
        base: at,
    };
    let Some((entries, _)) = read_ifd(mt, ifd) else {
        return;
    };
    let settings = entries
        .iter()
        .find(|e| e.tag == 0x2020)
        .and_then(|e| value(mt, e, 0));
    if let Some((entries, _)) = settings.and_then(|s| read_ifd(mt, s as usize)) {
        let int = |tag| {
            entries
                .iter()
                .find(|e| e.tag == tag)
                .and_then(|e| value(mt, e, 0))
        };
        if let (Some(o), Some(l)) = (int(0x0101), int(0x0102)) {
            push(info, t.d, at + o as usize, l as usize);
        }
    }
}

/// Adds `d[offset..offset + len]` if it is a picture JPEG not seen yet; notes a JPEG that
/// starts in the file and ends past it.
fn push(info: &mut RawInfo, d: &[u8], offset: usize, len: usize) {
    let starts = d
        .get(offset..)
        .is_some_and(|j| j.starts_with(&[0xFF, 0xD8]));
    if starts && offset.saturating_add(len) > d.len() {
        info.cut_short = Some((offset, len));
    }
    if let Some((width, height)) = jpeg_size(d, offset, len) {
        let p = Preview {
            offset,
            len,
            width,
            height,
        };
        if !info.previews.contains(&p) {
            info.previews.push(p);
        }
    }
}

/// The size of the JPEG at `d[offset..offset + len]`, if it is baseline, extended or
/// progressive. Lossless (the raw data of CR2 and DNG), hierarchical and arithmetic-coded
/// frames are refused.
pub fn jpeg_size(d: &[u8], offset: usize, len: usize) -> Option<(u16, u16)> {
    let j = d.get(offset..offset.checked_add(len)?)?;
    if j.get(..3)? != [0xFF, 0xD8, 0xFF] {
        return None;
    }
    let mut p = 2;
    while p + 4 <= j.len() {
        if j[p] != 0xFF {
            return None;
        }
        let marker = j[p + 1];
        if marker == 0xFF {
            p += 1;
            continue;
        }
        if (0xD0..=0xD9).contains(&marker) || marker == 0x01 {
            p += 2;
            continue;
        }
        match marker {
            0xC0..=0xC2 => {
                let s = j.get(p + 5..p + 9)?;
                let (h, w) = (
                    u16::from_be_bytes([s[0], s[1]]),
                    u16::from_be_bytes([s[2], s[3]]),
                );
                return (w > 0 && h > 0).then_some((w, h));
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF | 0xDA => return None,
            _ => p += 2 + u16::from_be_bytes([j[p + 2], j[p + 3]]) as usize,
        }
    }
    None
}

/// Offset of the TIFF header of a JPEG's Exif APP1 segment.
fn exif_in_jpeg(j: &[u8]) -> Option<usize> {
    let mut p = 2;
    while p + 4 <= j.len() && j[p] == 0xFF {
        let (marker, len) = (j[p + 1], be16(j, p + 2)? as usize);
        if marker == 0xE1 && j.get(p + 4..p + 10) == Some(b"Exif\0\0") {
            return Some(p + 10);
        }
        if marker == 0xDA {
            return None;
        }
        p += 2 + len;
    }
    None
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        d.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        d.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Fujifilm RAF: the big-endian header holds the JPEG's offset (byte 84) and length (88);
/// the orientation is in that JPEG's EXIF.
fn raf(d: &[u8], info: &mut RawInfo) {
    let (Some(offset), Some(len)) = (be32(d, 84), be32(d, 88)) else {
        return;
    };
    let (offset, len) = (offset as usize, len as usize);
    push(info, d, offset, len);
    let exif = d
        .get(offset..offset.saturating_add(len))
        .and_then(exif_in_jpeg);
    if let Some((t, first)) = exif.and_then(|e| tiff_header(d, offset + e)) {
        info.orientation = orientation_in(t, first);
    }
}

/// ISO boxes in `d[start..end]`: (type, payload start, box end); at most 1,000.
fn boxes(d: &[u8], start: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut found = Vec::new();
    let mut p = start;
    while p + 8 <= end && found.len() < 1000 {
        let (Some(size), Some(kind)) = (be32(d, p), d.get(p + 4..p + 8)) else {
            break;
        };
        let (header, size) = match size {
            0 => (8, (end - p) as u64),
            1 => match d.get(p + 8..p + 16).and_then(|b| b.try_into().ok()) {
                Some(b) => (16, u64::from_be_bytes(b)),
                None => break,
            },
            s => (8, s as u64),
        };
        if size < header as u64 || p as u64 + size > end as u64 {
            break;
        }
        let kind = [kind[0], kind[1], kind[2], kind[3]];
        found.push((kind, p + header, p + size as usize));
        p += size as usize;
    }
    found
}

/// The box at `path` below `d[start..end]`: its payload start and end.
fn child(d: &[u8], start: usize, end: usize, path: &[&[u8; 4]]) -> Option<(usize, usize)> {
    let (first, rest) = path.split_first()?;
    let (_, s, e) = boxes(d, start, end).into_iter().find(|b| &b.0 == *first)?;
    if rest.is_empty() {
        Some((s, e))
    } else {
        child(d, s, e, rest)
    }
}

/// Canon's metadata box inside `moov` (CMT1-4, THMB).
const CANON_UUID: [u8; 16] = [
    0x85, 0xc0, 0xb6, 0x87, 0x82, 0x0f, 0x11, 0xe0, 0x81, 0x11, 0xf4, 0xce, 0x46, 0x2b, 0x6a, 0x48,
];
/// The top-level box holding the PRVW preview.
const PREVIEW_UUID: [u8; 16] = [
    0xea, 0xf4, 0x2b, 0x5e, 0x1c, 0x98, 0x4b, 0x88, 0xb9, 0xfb, 0xb7, 0xdc, 0x40, 0x6e, 0x4d, 0x16,
];

/// The payload (after the UUID) of Canon's metadata box.
fn canon_metadata(d: &[u8]) -> Option<(usize, usize)> {
    let (s, e) = child(d, 0, d.len(), &[b"moov"])?;
    boxes(d, s, e)
        .into_iter()
        .find(|b| &b.0 == b"uuid" && d.get(b.1..b.1 + 16) == Some(&CANON_UUID[..]))
        .map(|(_, s, e)| (s + 16, e))
}

/// Canon CR3: the full-size JPEG of track 1, the PRVW and THMB previews, and the
/// orientation in CMT1 (a TIFF).
fn cr3(d: &[u8], info: &mut RawInfo) {
    if let Some((s, e)) = child(d, 0, d.len(), &[b"moov", b"trak"]) {
        cr3_track_jpeg(d, s, e, info);
    }
    if let Some((s, e)) = canon_metadata(d) {
        for (kind, s, e) in boxes(d, s, e) {
            match &kind {
                b"CMT1" => {
                    let cmt = &d[..e];
                    if let Some((t, first)) = tiff_header(cmt, s) {
                        info.orientation = orientation_in(t, first);
                    }
                }
                // u32 version and flags, u16 width, u16 height, u32 length, u16, u16, JPEG.
                b"THMB" => {
                    if let Some(len) = be32(d, s + 8) {
                        let len = (len as usize).min(e.saturating_sub(s + 16));
                        push(info, d, s + 16, len);
                    }
                }
                _ => {}
            }
        }
    }
    for (kind, s, e) in boxes(d, 0, d.len()) {
        if &kind != b"uuid" || d.get(s..s + 16) != Some(&PREVIEW_UUID[..]) {
            continue;
        }
        // After the UUID, two u32; then PRVW: u32, u16, u16 width, u16 height, u16, u32
        // length, JPEG.
        for (kind, s, e) in boxes(d, s + 24, e) {
            if &kind == b"PRVW" {
                if let Some(len) = be32(d, s + 12) {
                    let len = (len as usize).min(e.saturating_sub(s + 16));
                    push(info, d, s + 16, len);
                }
            }
        }
    }
}

/// The first sample of a CR3 track (track 1 is a full-size JPEG): offset from `co64` or
/// `stco`, size from `stsz`.
fn cr3_track_jpeg(d: &[u8], start: usize, end: usize, info: &mut RawInfo) {
    let Some((s, e)) = child(d, start, end, &[b"mdia", b"minf", b"stbl"]) else {
        return;
    };
    let size = child(d, s, e, &[b"stsz"]).and_then(|(x, _)| match be32(d, x + 4)? {
        0 => be32(d, x + 12),
        fixed => Some(fixed),
    });
    let offset = child(d, s, e, &[b"co64"])
        .and_then(|(x, _)| Some(u64::from_be_bytes(d.get(x + 8..x + 16)?.try_into().ok()?)))
        .or_else(|| child(d, s, e, &[b"stco"]).and_then(|(x, _)| be32(d, x + 8).map(u64::from)));
    if let (Some(offset), Some(size)) = (offset, size) {
        if let Ok(offset) = usize::try_from(offset) {
            push(info, d, offset, size as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG header (SOI, then a frame header of `marker`) for `w x h`.
    fn jpeg_header(marker: u8, w: u16, h: u16) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, marker, 0, 11, 8];
        j.extend_from_slice(&h.to_be_bytes());
        j.extend_from_slice(&w.to_be_bytes());
        j.extend_from_slice(&[1, 1, 0x11, 0, 0xFF, 0xD9]);
        j
    }

    #[test]
    fn only_picture_jpegs_count_as_previews() {
        for marker in [0xC0, 0xC1, 0xC2] {
            let j = jpeg_header(marker, 640, 480);
            assert_eq!(jpeg_size(&j, 0, j.len()), Some((640, 480)));
        }
        // Lossless (raw sensor data), hierarchical, arithmetic-coded: not pictures.
        for marker in [0xC3, 0xC5, 0xC9, 0xCF] {
            let j = jpeg_header(marker, 640, 480);
            assert_eq!(jpeg_size(&j, 0, j.len()), None, "{marker:x}");
        }
        let j = jpeg_header(0xC0, 640, 480);
        assert_eq!(jpeg_size(&j, 0, j.len() + 1), None, "past the end");
        assert_eq!(jpeg_size(&j, usize::MAX, 2), None);
        assert_eq!(jpeg_size(b"\xff\xd8\xff", 0, 3), None);
    }

    #[test]
    fn a_plain_tiff_is_no_raw_and_hostile_ifds_end() {
        // II, 42, IFD0 at 8 with one entry (width 1), no next IFD.
        let mut tiff = b"II*\0\x08\0\0\0\x01\0\x00\x01\x04\0\x01\0\0\0\x01\0\0\0\0\0\0\0".to_vec();
        assert!(!is_raw(&tiff));
        assert!(inspect(&tiff).previews.is_empty());
        // The IFD's next pointer points at itself: visited once.
        let next = tiff.len() - 4;
        tiff[next..].copy_from_slice(&8u32.to_le_bytes());
        assert!(!is_raw(&tiff));
        // A DNGVersion tag makes it a RAW.
        tiff[10..12].copy_from_slice(&TAG_DNG_VERSION.to_le_bytes());
        assert!(is_raw(&tiff));
        assert!(!is_raw(b"II*\0"));
        assert!(is_raw(b"FUJIFILMCCD-RAW 0201"));
    }
}
