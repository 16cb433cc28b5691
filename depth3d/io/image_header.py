"""What an image file says about itself before a pixel is decoded: format and size.

Used where a decoder would otherwise allocate whatever a header claims (a 1 KB JPEG can
declare 65500×65500): the photo and depth readers judge :data:`depth3d.io.image.MAX_PIXELS`
from here, in Blender too, whose Python has no Pillow.  Standard library only; reads the
header's few bytes (seeking past JPEG segments and to a TIFF's first directory), never the
pixel data.  Formats: PNG, JPEG, WebP, BMP, TIFF, OpenEXR; anything else is ``None`` (the
decoder then decides).
"""
from __future__ import annotations

import random
import struct
from typing import BinaryIO, NamedTuple

__all__ = [
    "JPEG_CUT", "JPEG_FILLER", "TIFF_INT32_LIMIT", "TIFF_INT32_TOO_LARGE", "ImageHeader", "JpegScans",
    "jpeg_filled", "jpeg_scan_end", "jpeg_scans", "looks_complete", "read_header", "tiff_depth_scale", "web_ready",
]


class ImageHeader(NamedTuple):
    """``format``: "png", "jpeg", "webp", "bmp", "tiff" or "exr"; ``width`` × ``height`` in
    pixels as declared; ``mode``: format-specific detail (PNG: (bit depth, colour type); JPEG:
    (bits, components); TIFF: (samples per pixel, bits per sample, sample format); else ``None``);
    ``data_end``: a TIFF's end of pixel data, by its strip or tile offsets and byte counts."""

    format: str
    width: int
    height: int
    mode: tuple | None = None
    data_end: int | None = None  # TIFF: where its last strip or tile ends


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def read_header(f: BinaryIO) -> ImageHeader | None:
    """The header of the image file open in ``f`` (binary, seekable), or ``None`` when the
    format is not one of those above or the header is cut short or says no size (the decoder
    then says what is wrong).  ``f``'s position moves."""
    header = _read_header(f)
    if header is None or header.width <= 0 or header.height <= 0:
        return None
    return header


def _read_header(f: BinaryIO) -> ImageHeader | None:
    try:
        f.seek(0)
        head = f.read(32)
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" and len(head) >= 26:
            w, h, bits, colour = struct.unpack(">IIBB", head[16:26])
            return ImageHeader("png", w, h, (bits, colour))
        if head.startswith(b"\xff\xd8"):
            return _jpeg(f)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return _webp(head, f)
        if head[:2] == b"BM" and len(head) >= 26:
            w, h = struct.unpack("<ii", head[18:26])
            return ImageHeader("bmp", abs(w), abs(h))
        if head[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff(head, f)
        if head[:4] == b"\x76\x2f\x31\x01":
            from .exr import exr_header_size

            f.seek(0)
            w, h = exr_header_size(f.read(1 << 20))
            return ImageHeader("exr", w, h)
    except (struct.error, ValueError, OSError, KeyError, IndexError):
        return None
    return None


def _jpeg(f: BinaryIO) -> ImageHeader | None:
    f.seek(2)
    while True:
        byte = f.read(1)
        while byte == b"\xff":  # fill bytes
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # no length
        if marker == 0xD9 or marker == 0xDA:  # end, or scan data before any frame header
            return None
        size = struct.unpack(">H", f.read(2))[0]
        if marker in _JPEG_SOF:
            bits, h, w, components = struct.unpack(">BHHB", f.read(6))
            return ImageHeader("jpeg", w, h, (bits, components))
        f.seek(size - 2, 1)


def _webp(head: bytes, f: BinaryIO) -> ImageHeader | None:
    chunk = head[12:16]
    f.seek(20)
    data = f.read(10)
    if chunk == b"VP8X":
        w = 1 + int.from_bytes(data[4:7], "little")
        h = 1 + int.from_bytes(data[7:10], "little")
        return ImageHeader("webp", w, h)
    if chunk == b"VP8L" and data[0] == 0x2F:
        bits = int.from_bytes(data[1:5], "little")
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8 " and data[3:6] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[6:10]) if len(data) >= 10 else (0, 0)
        return ImageHeader("webp", w & 0x3FFF, h & 0x3FFF)
    return None


_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4), 1: ("B", 1)}
_TIFF_ARRAYS = {258, 273, 279, 324, 325}  # bits per sample, strip/tile offsets and byte counts


def _tiff(head: bytes, f: BinaryIO) -> ImageHeader | None:
    order = "<" if head[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", head[4:8])
    f.seek(ifd)
    (count,) = struct.unpack(order + "H", f.read(2))
    tags: dict[int, tuple[int, ...]] = {}
    entries = f.read(12 * min(count, 4096))
    for i in range(len(entries) // 12):
        tag, typ, n = struct.unpack(order + "HHI", entries[12 * i: 12 * i + 8])
        if typ not in _TIFF_TYPES or n < 1:
            continue
        code, size = _TIFF_TYPES[typ]
        raw = entries[12 * i + 8: 12 * i + 12]
        if n * size > 4:
            if tag not in _TIFF_ARRAYS or n > 1 << 20:
                continue
            here = f.tell()
            f.seek(struct.unpack(order + "I", raw)[0])
            raw = f.read(n * size)
            f.seek(here)
        tags[tag] = struct.unpack(order + code * n, raw[: n * size])
    if 256 not in tags or 257 not in tags:
        return None
    offsets, counts = tags.get(273, tags.get(324, ())), tags.get(279, tags.get(325, ()))
    end = max((o + c for o, c in zip(offsets, counts)), default=None)

    def first(tag: int, default: int) -> int:
        return tags[tag][0] if tag in tags else default

    return ImageHeader("tiff", first(256, 0), first(257, 0), (first(277, 1), first(258, 1), first(339, 1)),
                       data_end=end)


def web_ready(header: ImageHeader | None) -> bool:
    """Whether a file with ``header`` can go into a glTF as it is (8-bit grey or RGB JPEG,
    8-bit PNG): glTF viewers need not read CMYK JPEG or 16-bit PNG."""
    if header is None or header.mode is None:
        return False
    if header.format == "jpeg":
        return header.mode == (8, 1) or header.mode == (8, 3)
    return header.format == "png" and header.mode[0] == 8


def looks_complete(f: BinaryIO, header: ImageHeader) -> bool:
    """Whether the file in ``f`` reaches the end its format promises (PNG's IEND chunk, a JPEG's
    end-of-image marker after its scans, the length a WebP's RIFF header states, a TIFF's last
    strip) — what a decoder that pads a cut file with grey (Blender's) does not tell, and what
    both readers refuse alike.  Data after that end is allowed (a phone's motion-photo video
    after its JPEG).  Other formats: ``True``."""
    f.seek(0, 2)
    size = f.tell()
    if header.format == "png":
        pos = 8
        while pos + 8 <= size:  # chunk by chunk, by their lengths: no pixel data is read
            f.seek(pos)
            length, kind = struct.unpack(">I4s", f.read(8))
            if kind == b"IEND":
                return True
            pos += 12 + length
        return False
    if header.format == "jpeg":
        f.seek(0)
        return jpeg_scans(f.read()) is not None
    if header.format == "webp":
        f.seek(4)
        (riff,) = struct.unpack("<I", f.read(4))
        return size >= riff + 8
    if header.format == "tiff" and header.data_end is not None:
        return size >= header.data_end
    return True


# --------------------------------------------------------------------------- cut JPEG scans

JPEG_CUT = "truncated image file (its JPEG scan data ends early)"
"""The reason given, by every reader, for a JPEG whose scan data ends before its last block:
a file cut short that still ends in (or was given) an end-of-image marker."""


class JpegScans(NamedTuple):
    """Where a JPEG's (first picture's) scans end: for each scan, the offset of the marker after
    its entropy-coded data (the last one's often the EOI)."""

    ends: tuple[int, ...]


def jpeg_scans(data: bytes) -> JpegScans | None:
    """The scans of the JPEG in ``data``, from its markers alone (no Huffman decoding), up to its
    first end-of-image marker; ``None`` when ``data`` is no JPEG or that marker is missing."""
    if not data.startswith(b"\xff\xd8"):
        return None
    pos, size = 2, len(data)
    ends: list[int] = []
    while pos + 1 < size:
        if data[pos] != 0xFF:
            pos = data.find(b"\xff", pos)  # stray bytes between segments: libjpeg skips them too
            if pos < 0:
                return None
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return JpegScans(tuple(ends)) if ends else None
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if pos + 4 > size:
            return None
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        pos += 2 + length
        if marker != 0xDA:
            continue
        pos = jpeg_scan_end(data, pos)
        if pos < 0:
            return None
        ends.append(pos)
    return None


def jpeg_scan_end(data: bytes, pos: int) -> int:
    """Offset of the marker that ends the entropy-coded data starting at ``pos`` — the first
    0xFF that is no stuffed byte (0xFF00) or restart marker (RSTn), before any fill bytes — or
    -1 when ``data`` ends first."""
    size = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= size:
            return -1
        marker_at = pos
        while pos + 1 < size and data[pos + 1] == 0xFF:  # fill bytes before a marker
            pos += 1
        following = data[pos + 1] if pos + 1 < size else 0xD9
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
            continue
        return marker_at


JPEG_FILLER = b"\xaa" + random.Random(0x1D3).randbytes(2047).replace(b"\xff", b"\x5a")
"""Bytes put where each scan's data ends (:func:`jpeg_filled`): no 0xFF (no marker among them), a
first bit of 1 (the first missing bit then differs from the zero bit libjpeg would give it),
no long run of 1 bits (an invalid Huffman code, which libjpeg reads as a zero)."""


def jpeg_filled(data: bytes, scans: JpegScans) -> bytes:
    """``data`` with :data:`JPEG_FILLER` after each scan's data.  libjpeg skips anything between a
    finished scan and the next marker, so a whole file decodes to the same pixels; a scan that
    stops early decodes the filler instead of the zeros it pads with, and its pixels differ."""
    cuts = (0, *scans.ends, len(data))
    return JPEG_FILLER.join(data[a:b] for a, b in zip(cuts, cuts[1:]))


# --------------------------------------------------------------------------- integer TIFF depth

TIFF_INT32_LIMIT = 1 << 23
"""32-bit integer TIFF depth is read alike by Pillow and by Blender (which gives its samples as
float32 fractions of the type's range) only for magnitudes below this; larger ones are refused."""
TIFF_INT32_TOO_LARGE = ("32-bit integer depth reaches {peak:.0f}; only magnitudes below 8388608 "
                        "read exactly everywhere (save it as .npy, .exr or float TIFF)")
"""Why (``str.format(peak=...)``) a 32-bit integer TIFF beyond :data:`TIFF_INT32_LIMIT` is refused."""


def tiff_depth_scale(header: ImageHeader) -> float:
    """What Blender divides a TIFF's integer samples by (their type's largest value), or 0.0 for
    float samples; :class:`ValueError` naming what neither reader takes as depth alike."""
    _, bits, sample_format = header.mode or (1, 1, 1)
    if sample_format == 3:
        if bits == 32:
            return 0.0
        raise ValueError(f"a {bits}-bit float TIFF is not a depth map depth3d reads (need 32-bit float)")
    signed = sample_format == 2
    if bits in (16, 32) or (bits == 8 and not signed):
        return float((1 << (bits - 1 if signed else bits)) - 1)
    kind = "signed" if signed else "unsigned"
    raise ValueError(f"a {bits}-bit {kind} integer TIFF is not a depth map depth3d reads "
                     "(need 8/16/32-bit integers or 32-bit float)")
