#!/usr/bin/env python3
"""Writes the HEIC and camera RAW fixtures of tests/fixtures/photo-formats/ (run by hand).

    python3 scripts/make-format-fixtures.py

Needs Pillow and pillow-heif (pip; it bundles libheif 1.23 with libde265, which makes the
HEIC reference decodes), libheif's heif-enc and heif-convert (Debian: libheif-examples; its
AOM decoder makes the AVIF reference decodes) and libavif's avifenc (Debian: libavif-bin). Sources: the public-domain and CC0 photos of
samples/photos (samples/LICENSES.txt); the fixtures carry their terms.

RAW files: no permissively licensed RAW samples small enough to commit could be found, so
the RAWs are written here, each in its maker's container layout (byte order, signature,
IFDs or boxes where cameras put the previews and the orientation), around real JPEG
previews of a sample photo and a block of zero "sensor data". Previews are stored as the
sensor saw them (landscape); the container's orientation says how to turn them.
Deterministic: same inputs, same bytes.
"""
import io
import pathlib
import struct
import subprocess

from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "photo-formats"
PHOTOS = ROOT / "samples" / "photos"
SENSOR = bytes(4096)


def photo(name, size):
    """A sample photo at `size`, without its ICC profile (one of them is malformed)."""
    img = Image.open(PHOTOS / name).convert("RGB").resize(size, Image.Resampling.LANCZOS)
    return Image.frombytes("RGB", img.size, img.tobytes())


def jpeg(img, quality=90, exif=None):
    buf = io.BytesIO()
    if exif is None:
        img.save(buf, "JPEG", quality=quality)
    else:
        img.save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()


def exif_block(orientation=None, taken=None, subsec=None):
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if taken:
        ifd = exif.get_ifd(0x8769)
        ifd[0x9003] = taken
        if subsec:
            ifd[0x9291] = subsec
    return exif.tobytes()


# --- TIFF containers -------------------------------------------------------------------
TYPES = {"byte": (1, "B"), "ascii": (2, "s"), "short": (3, "H"), "long": (4, "I"), "undef": (7, "s")}


class Tiff:
    """A TIFF laid out as: header, IFDs (each followed by its out-of-line values), blobs.
    Entry values: int or list of ints, bytes (ascii/undef), or ("ifd", name) /
    ("blob", name) / ("len", name) references, resolved once the layout is known."""

    def __init__(self, little_endian, magic=42, header=b""):
        self.e = "<" if little_endian else ">"
        self.order = b"II" if little_endian else b"MM"
        self.magic, self.header = magic, header
        self.ifds, self.blobs = [], []

    def ifd(self, name, entries, next_ifd=None):
        self.ifds.append((name, entries, next_ifd))

    def blob(self, name, data):
        self.blobs.append((name, data))

    @staticmethod
    def _values(kind, value):
        return value if isinstance(value, (list, bytes)) else [value]

    def _size(self, entries):
        extra = 0
        for _, kind, value in entries:
            n = len(self._values(kind, value)) * struct.calcsize(TYPES[kind][1]) if kind not in ("ascii", "undef") else len(value)
            if n > 4:
                extra += n + (n & 1)
        return 2 + 12 * len(entries) + 4 + extra

    def build(self):
        at = 8 + len(self.header)
        where = {}
        for name, entries, _ in self.ifds:
            where[("ifd", name)] = at
            at += self._size(entries)
        for name, data in self.blobs:
            where[("blob", name)] = at
            where[("len", name)] = len(data)
            at += len(data) + (len(data) & 1)
        e = self.e
        out = bytearray(self.order + struct.pack(e + "H", self.magic) + struct.pack(e + "I", 8 + len(self.header)) + self.header)
        for name, entries, next_ifd in self.ifds:
            start = where[("ifd", name)]
            assert len(out) == start, (name, len(out), start)
            extra_at = start + 2 + 12 * len(entries) + 4
            body, extra = struct.pack(e + "H", len(entries)), b""
            for tag, kind, value in sorted(entries, key=lambda x: x[0]):
                code, fmt = TYPES[kind]
                if isinstance(value, tuple):
                    value = where[value]
                if isinstance(value, list):
                    value = [where[v] if isinstance(v, tuple) else v for v in value]
                if kind in ("ascii", "undef"):
                    raw, count = value, len(value)
                else:
                    vals = self._values(kind, value)
                    raw, count = struct.pack(e + fmt * len(vals), *vals), len(vals)
                if len(raw) <= 4:
                    body += struct.pack(e + "HHI", tag, code, count) + raw.ljust(4, b"\0")
                else:
                    body += struct.pack(e + "HHII", tag, code, count, extra_at + len(extra))
                    extra += raw + (b"\0" if len(raw) & 1 else b"")
            body += struct.pack(e + "I", where[("ifd", next_ifd)] if next_ifd else 0)
            out += body + extra
        for name, data in self.blobs:
            assert len(out) == where[("blob", name)]
            out += data + (b"\0" if len(data) & 1 else b"")
        return bytes(out)


def cfa(width=64, height=48):
    """The entries of an IFD of (zero) sensor data: CFA, uncompressed."""
    return [(0x00FE, "long", 0), (0x0100, "long", width), (0x0101, "long", height),
            (0x0103, "short", 1), (0x0106, "short", 32803),
            (0x0111, "long", ("blob", "sensor")), (0x0117, "long", ("len", "sensor"))]


def nef(large, thumb, orientation):
    t = Tiff(little_endian=False)
    t.ifd("ifd0", [(0x00FE, "long", 1), (0x010F, "ascii", b"NIKON CORPORATION\0"),
                   (0x0112, "short", orientation),
                   (0x0201, "long", ("blob", "thumb")), (0x0202, "long", ("len", "thumb")),
                   (0x014A, "long", [("ifd", "preview"), ("ifd", "raw")])])
    t.ifd("preview", [(0x00FE, "long", 1), (0x0103, "short", 6),
                      (0x0201, "long", ("blob", "large")), (0x0202, "long", ("len", "large"))])
    t.ifd("raw", cfa())
    t.blob("thumb", thumb)
    t.blob("large", large)
    t.blob("sensor", SENSOR)
    return t.build()


def cr2(large, thumb, orientation, taken, subsec):
    # "CR", version 2.0, then the offset of the raw IFD (IFD3).
    t = Tiff(little_endian=True, header=b"CR\x02\x00" + b"\0\0\0\0")
    t.ifd("ifd0", [(0x010F, "ascii", b"Canon\0"), (0x0103, "short", 6),
                   (0x0111, "long", ("blob", "large")), (0x0117, "long", ("len", "large")),
                   (0x0112, "short", orientation), (0x8769, "long", ("ifd", "exif"))], "ifd1")
    t.ifd("exif", [(0x9003, "ascii", taken.encode() + b"\0"), (0x9291, "ascii", subsec.encode() + b"\0")])
    t.ifd("ifd1", [(0x0201, "long", ("blob", "thumb")), (0x0202, "long", ("len", "thumb"))], "ifd3")
    # The raw data: lossless JPEG (SOF3), never a preview.
    t.ifd("ifd3", [(0x0103, "short", 6), (0x0111, "long", ("blob", "lossless")),
                   (0x0117, "long", ("len", "lossless"))])
    t.blob("thumb", thumb)
    t.blob("large", large)
    t.blob("lossless", b"\xff\xd8\xff\xc3\x00\x0e\x0e\x00\x30\x00\x40\x02\x01\x11\x00\x02\x11\x00" + SENSOR)
    data = bytearray(t.build())
    data[12:16] = struct.pack("<I", t_offset(t, "ifd3"))
    return bytes(data)


def t_offset(t, name):
    at = 8 + len(t.header)
    for n, entries, _ in t.ifds:
        if n == name:
            return at
        at += t._size(entries)
    raise KeyError(name)


def dng(large, orientation, with_preview=True):
    rgb = Image.open(io.BytesIO(large)).convert("RGB").resize((64, 43)).tobytes()
    t = Tiff(little_endian=True)
    subs = [("ifd", "raw")] + ([("ifd", "preview")] if with_preview else [])
    t.ifd("ifd0", [(0x00FE, "long", 1), (0xC612, "byte", [1, 4, 0, 0]), (0x010F, "ascii", b"Adobe\0"),
                   (0x0100, "long", 64), (0x0101, "long", 43), (0x0102, "short", [8, 8, 8]),
                   (0x0103, "short", 1), (0x0106, "short", 2), (0x0115, "short", 3),
                   (0x0111, "long", ("blob", "thumb")), (0x0117, "long", ("len", "thumb")),
                   (0x0112, "short", orientation), (0x014A, "long", subs)])
    t.ifd("raw", cfa())
    if with_preview:
        w, h = Image.open(io.BytesIO(large)).size
        t.ifd("preview", [(0x00FE, "long", 1), (0x0100, "long", w), (0x0101, "long", h),
                          (0x0103, "short", 7), (0x0106, "short", 6),
                          (0x0111, "long", ("blob", "large")), (0x0117, "long", ("len", "large"))])
        t.blob("large", large)
    t.blob("thumb", rgb)
    t.blob("sensor", SENSOR)
    return t.build()


def rw2(large):
    t = Tiff(little_endian=True, magic=0x55)
    t.ifd("ifd0", [(0x010F, "ascii", b"Panasonic\0"), (0x0112, "short", 1), (0x002E, "undef", large)])
    return t.build()


def orf(large, thumb):
    # The maker note: "OLYMPUS\0II\3\0", then an IFD whose offsets count from the note's
    # start; 0x2020 CameraSettings points to an IFD with the preview's start and length.
    head = b"OLYMPUS\0II\x03\x00"
    ifd_at = len(head)
    main_len = 2 + 12 + 4
    settings_at = ifd_at + main_len
    settings_len = 2 + 24 + 4
    preview_at = settings_at + settings_len
    note = head + struct.pack("<HHHII", 1, 0x2020, 13, 1, settings_at) + struct.pack("<I", 0)
    note += struct.pack("<H", 2) + struct.pack("<HHII", 0x0101, 4, 1, preview_at)
    note += struct.pack("<HHII", 0x0102, 4, 1, len(large)) + struct.pack("<I", 0)
    note += large
    t = Tiff(little_endian=True, magic=0x4F52)
    t.ifd("ifd0", [(0x010F, "ascii", b"OLYMPUS CORPORATION\0"), (0x0112, "short", 1),
                   (0x8769, "long", ("ifd", "exif"))], "ifd1")
    t.ifd("exif", [(0x927C, "undef", note)])
    t.ifd("ifd1", [(0x0201, "long", ("blob", "thumb")), (0x0202, "long", ("len", "thumb"))])
    t.blob("thumb", thumb)
    return t.build()


def raf(large_with_exif):
    header = b"FUJIFILMCCD-RAW 0201FF129502" + b"X-T30".ljust(32, b"\0") + b"0100"
    header = header.ljust(108, b"\0")
    jpeg_at = 160
    cfa_header_at = jpeg_at + len(large_with_exif)
    cfa_at = cfa_header_at + 64
    fields = struct.pack(">IIIIII", jpeg_at, len(large_with_exif), cfa_header_at, 64, cfa_at, len(SENSOR))
    data = bytearray(header[:84] + fields + header[108:])
    data = data.ljust(jpeg_at, b"\0")
    return bytes(data) + large_with_exif + bytes(64) + SENSOR


def box(kind, payload):
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def cr3(large, medium, thumb, orientation, taken, subsec):
    canon = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
    prvw = bytes.fromhex("eaf42b5e1c984b88b9fbb7dc406e4d16")
    cmt1 = Tiff(little_endian=True)
    cmt1.ifd("ifd0", [(0x010F, "ascii", b"Canon\0"), (0x0112, "short", orientation)])
    cmt2 = Tiff(little_endian=True)
    cmt2.ifd("ifd0", [(0x9003, "ascii", taken.encode() + b"\0"), (0x9291, "ascii", subsec.encode() + b"\0")])
    tw, th = Image.open(io.BytesIO(thumb)).size
    thmb = struct.pack(">IHHIHH", 0, tw, th, len(thumb), 0, 0) + thumb
    meta = box(b"uuid", canon + box(b"CNCV", b"CanonCR3_001/00.09.00/00.00.00")
               + box(b"CMT1", cmt1.build()) + box(b"CMT2", cmt2.build()) + box(b"THMB", thmb))
    lw, lh = Image.open(io.BytesIO(large)).size
    ftyp = box(b"ftyp", b"crx " + struct.pack(">I", 1) + b"crx isom")
    mw, mh = Image.open(io.BytesIO(medium)).size
    preview = box(b"uuid", prvw + struct.pack(">II", 0, 1)
                  + box(b"PRVW", struct.pack(">IHHHHI", 0, 1, mw, mh, 1, len(medium)) + medium))

    def moov(jpeg_at):
        craw = bytes(6) + struct.pack(">H", 1) + bytes(16) + struct.pack(">HH", lw, lh) + bytes(50)
        stsd = box(b"stsd", struct.pack(">II", 0, 1) + box(b"CRAW", craw))
        stsz = box(b"stsz", struct.pack(">IIII", 0, 0, 1, len(large)))
        co64 = box(b"co64", struct.pack(">IIQ", 0, 1, jpeg_at))
        trak = box(b"trak", box(b"mdia", box(b"minf", box(b"stbl", stsd + stsz + co64))))
        return box(b"moov", meta + trak)

    size = len(ftyp) + len(moov(0)) + len(preview) + 8
    return ftyp + moov(size) + preview + box(b"mdat", large + SENSOR)


# --- AVIF ------------------------------------------------------------------------------
def avif(img, out, *args):
    tmp = OUT / "_tmp.png"
    img.save(tmp)
    subprocess.run(["avifenc", "--min", "8", "--max", "12", "-s", "6", *args, str(tmp), str(out)],
                   check=True, capture_output=True)
    tmp.unlink()
    ref = out.with_name(out.name + ".ref.png")
    subprocess.run(["heif-convert", str(out), str(ref)], check=True, capture_output=True)


# --- HEIC ------------------------------------------------------------------------------
def png16(img, path):
    """A 16-bit RGB PNG of an 8-bit picture (heif-enc writes 10 bits only from 16-bit input)."""
    import zlib
    w, h = img.size
    px = img.tobytes()
    rows = b"".join(b"\0" + b"".join(bytes([v, v]) for v in px[y * w * 3:(y + 1) * w * 3]) for y in range(h))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def heif_enc(src_img, out, *args, suffix=".png", save_args=None):
    tmp = OUT / ("_tmp" + suffix)
    if suffix == ".png16":
        tmp = OUT / "_tmp.png"
        png16(src_img, tmp)
    else:
        src_img.save(tmp, **(save_args or {}))
    subprocess.run(["heif-enc", *args, str(tmp), "-o", str(out)], check=True, capture_output=True)
    tmp.unlink()


def reference(heic):
    """libheif's decode (through pillow-heif), 8 bits per channel, as the PSNR reference."""
    import pillow_heif

    ref = heic.with_name(heic.name + ".ref.png")
    decoded = pillow_heif.open_heif(str(heic), convert_hdr_to_8bit=True)
    Image.frombytes("RGB", decoded.size, bytes(decoded.data), "raw", "RGB", decoded.stride).save(ref)


def grid_heic(img, out):
    """A HEIC of 128-px tiles in a grid (as phones write 512-px ones), by pillow-heif's
    libheif: heif-enc 1.15 writes single pictures only."""
    import pillow_heif

    before = pillow_heif.options.GRID_TILE_SIZE
    pillow_heif.options.GRID_TILE_SIZE = 128
    try:
        pillow_heif.from_pillow(img).save(str(out), quality=90)
    finally:
        pillow_heif.options.GRID_TILE_SIZE = before
    assert b"grid" in out.read_bytes(), "pillow-heif wrote no grid"


def top_boxes(b, start, end):
    p = start
    while p + 8 <= end:
        size, kind = struct.unpack(">I4s", b[p:p + 8])
        yield kind, p, size
        p += size


def add_rotation(data, quarter_turns):
    """Adds an `irot` property (counter-clockwise quarter turns) to the primary item of a
    HEIF file written by heif-enc: a new property in ipco, associated in ipma; every iloc
    offset behind the meta box moves by the bytes added."""
    b = bytearray(data)
    (_, mp, ms), = [(k, p, s) for k, p, s in top_boxes(b, 0, len(b)) if k == b"meta"]
    children = {k: (p, s) for k, p, s in top_boxes(b, mp + 12, mp + ms)}
    ip, isz = children[b"iprp"]
    iprp = {k: (p, s) for k, p, s in top_boxes(b, ip + 8, ip + isz)}
    cp, cs = iprp[b"ipco"]
    count = sum(1 for _ in top_boxes(b, cp + 8, cp + cs))
    irot = box(b"irot", bytes([quarter_turns & 3]))
    ap, asz = iprp[b"ipma"]
    version_flags = struct.unpack(">I", b[ap + 8:ap + 12])[0]
    assert version_flags == 0, "ipma with 8-bit indices expected"
    entries = struct.unpack(">I", b[ap + 12:ap + 16])[0]
    q = ap + 16
    primary = struct.unpack(">H", b[children[b"pitm"][0] + 12:children[b"pitm"][0] + 14])[0]
    new_ipma = bytearray(b[ap:ap + 16])
    for _ in range(entries):
        item, n = struct.unpack(">HB", b[q:q + 3])
        assoc = b[q + 3:q + 3 + n]
        if item == primary:
            assoc = assoc + bytes([0x80 | (count + 1)])  # essential, 1-based index
        new_ipma += struct.pack(">HB", item, len(assoc)) + assoc
        q += 3 + n
    new_ipma[0:4] = struct.pack(">I", len(new_ipma))
    new_ipco = b[cp:cp + cs] + irot
    new_ipco[0:4] = struct.pack(">I", len(new_ipco))
    new_iprp = box(b"iprp", bytes(new_ipco) + bytes(new_ipma))
    grow = len(new_iprp) - isz
    b[ip:ip + isz] = new_iprp
    struct.pack_into(">I", b, mp, ms + grow)
    # iloc (version 0/1, offset_size 4): every extent offset past the meta box moves.
    children = {k: (p, s) for k, p, s in top_boxes(b, mp + 12, mp + ms + grow)}
    lp, _ = children[b"iloc"]
    version = b[lp + 8]
    sizes = b[lp + 12], b[lp + 13]
    off_size, len_size, base_size = sizes[0] >> 4, sizes[0] & 15, sizes[1] >> 4
    index_size = sizes[1] & 15 if version in (1, 2) else 0
    q = lp + 14
    items = struct.unpack(">H", b[q:q + 2])[0]
    q += 2
    for _ in range(items):
        q += 2 + (2 if version in (1, 2) else 0) + 2
        if base_size:
            base = int.from_bytes(b[q:q + base_size], "big")
            b[q:q + base_size] = (base + grow).to_bytes(base_size, "big") if base > mp else b[q:q + base_size]
        q += base_size
        extents = struct.unpack(">H", b[q:q + 2])[0]
        q += 2
        for _ in range(extents):
            q += index_size
            if off_size:
                off = int.from_bytes(b[q:q + off_size], "big")
                if off > mp:
                    b[q:q + off_size] = (off + grow).to_bytes(off_size, "big")
            q += off_size + len_size
    return bytes(b)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "shot").mkdir(exist_ok=True)
    # HEIC: 8-bit, 10-bit, a grid of tiles, and turned by irot with an EXIF orientation an
    # iPhone also writes.
    heif_enc(photo("chelsea.png", (360, 240)), OUT / "chelsea.heic", "-q", "90")
    img16 = photo("astronaut.png", (160, 160))
    heif_enc(img16, OUT / "astronaut-10bit.heic", "-q", "90", "-b", "10", suffix=".png16")
    landscape = photo("rocket.jpg", (320, 192))
    heif_enc(landscape, OUT / "_plain.heic", "-q", "90", suffix=".jpg",
             save_args={"exif": exif_block(orientation=6), "quality": 95})
    (OUT / "rotated.heic").write_bytes(add_rotation((OUT / "_plain.heic").read_bytes(), 3))
    (OUT / "_plain.heic").unlink()
    grid_heic(photo("coffee.png", (300, 200)), OUT / "grid.heic")
    # With an alpha plane: the left half transparent.
    rgba = photo("rocket.jpg", (96, 64)).convert("RGBA")
    rgba.putalpha(Image.frombytes("L", (96, 64), bytes(0 if x < 48 else 255 for _ in range(64) for x in range(96))))
    heif_enc(rgba, OUT / "alpha.heic", "-q", "90")
    for name in ["chelsea.heic", "astronaut-10bit.heic", "rotated.heic", "grid.heic"]:
        reference(OUT / name)
    chelsea = (OUT / "chelsea.heic").read_bytes()
    (OUT / "truncated.heic").write_bytes(chelsea[: len(chelsea) * 6 // 10])
    corrupt = bytearray(chelsea)
    corrupt[len(corrupt) // 2:len(corrupt) // 2 + 64] = b"\xff" * 64
    (OUT / "corrupt.heic").write_bytes(bytes(corrupt))

    # AVIF: 8-bit 4:2:0, 10-bit 4:4:4, limited range, a 2x2 grid, turned and mirrored.
    coffee_small = photo("coffee.png", (240, 160))
    avif(coffee_small, OUT / "coffee.avif")
    avif(photo("astronaut.png", (128, 128)), OUT / "astronaut-10bit-444.avif", "-d", "10", "-y", "444")
    avif(coffee_small, OUT / "limited.avif", "-r", "limited")
    avif(coffee_small, OUT / "grid.avif", "--grid", "2x2")
    avif(coffee_small, OUT / "rotated.avif", "--irot", "1", "--imir", "0")
    # With an alpha plane: the left half transparent.
    rgba = coffee_small.convert("RGBA")
    rgba.putalpha(Image.frombytes("L", (240, 160), bytes(0 if x < 120 else 255 for _ in range(160) for x in range(240))))
    tmp = OUT / "_alpha.png"
    rgba.save(tmp)
    subprocess.run(["avifenc", "--min", "8", "--max", "12", "-s", "6", str(tmp), str(OUT / "alpha.avif")],
                   check=True, capture_output=True)
    tmp.unlink()
    small = (OUT / "coffee.avif").read_bytes()
    (OUT / "truncated.avif").write_bytes(small[: len(small) * 7 // 10])

    # RAW: previews stored as the sensor saw them.
    coffee = photo("coffee.png", (480, 320))
    large, thumb = jpeg(coffee, 85), jpeg(coffee.resize((160, 107)), 80)
    (OUT / "nikon.nef").write_bytes(nef(large, thumb, 6))
    (OUT / "canon.cr2").write_bytes(cr2(large, thumb, 8, "2026:03:01 10:15:30", "12"))
    (OUT / "adobe.dng").write_bytes(dng(large, 3))
    (OUT / "no-preview.dng").write_bytes(dng(large, 1, with_preview=False))
    (OUT / "panasonic.rw2").write_bytes(rw2(large))
    (OUT / "olympus.orf").write_bytes(orf(large, thumb))
    (OUT / "fujifilm.raf").write_bytes(raf(jpeg(coffee, 85, exif_block(6, "2026:03:01 10:15:31"))))
    (OUT / "canon.cr3").write_bytes(cr3(large, jpeg(coffee.resize((320, 213)), 85), thumb, 6,
                                        "2026:03:01 11:00:00", "50"))
    nikon = (OUT / "nikon.nef").read_bytes()
    (OUT / "truncated.nef").write_bytes(nikon[: len(nikon) * 4 // 10])  # inside the preview

    # One shot in two formats, twice, beside a Live Photo's video and another photo.
    camera = photo("camera.png", (400, 400))
    taken = "2026:04:02 09:30:00"
    (OUT / "shot" / "IMG_0001.CR2").write_bytes(
        cr2(jpeg(camera.resize((360, 360))), jpeg(camera.resize((120, 120)), 80), 1, taken, "40"))
    (OUT / "shot" / "IMG_0001.JPG").write_bytes(jpeg(camera, 92, exif_block(None, taken, "40")))
    cat = photo("chelsea.png", (360, 240))
    heif_enc(cat, OUT / "shot" / "IMG_0002.HEIC", "-q", "85", suffix=".jpg",
             save_args={"exif": exif_block(None, "2026:04:02 09:31:00", "10"), "quality": 95})
    (OUT / "shot" / "IMG_0002.jpg").write_bytes(jpeg(cat, 90, exif_block(None, "2026:04:02 09:31:00", "10")))
    mov = box(b"ftyp", b"qt  " + struct.pack(">I", 0x200) + b"qt  ") + box(b"wide", b"") + box(b"mdat", bytes(512))
    (OUT / "shot" / "IMG_0002.MOV").write_bytes(mov)
    (OUT / "shot" / "rocket.jpg").write_bytes(jpeg(photo("rocket.jpg", (360, 240)), 85))


if __name__ == "__main__":
    main()
