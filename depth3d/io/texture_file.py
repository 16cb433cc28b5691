"""A photo's own file as a texture: what decoding needs kept byte for byte, its metadata dropped.

Re-encoding a 12 MP photo for a glTF file costs ~0.15 s and a generation of JPEG loss; the file
already holds exactly the pixels the texture shows (when no EXIF rotation was applied to them).
:func:`texture_jpeg` copies its segments that decoding reads — quantisation and Huffman
tables, the frame, restart interval, the scans with their entropy-coded data, the JFIF and Adobe
headers — and leaves out the rest: EXIF (camera, GPS position, time), XMP, ICC profiles (the
re-encoded texture had none either: both show the stored values as sRGB), comments, and
anything after the end-of-image marker (a phone's motion-photo video, MPO's second picture).
The pixels a decoder makes are those of the original file.

Only a JPEG every glTF viewer decodes is taken: Huffman-coded baseline, extended or progressive,
8-bit, grey or three components; arithmetic coding, lossless, hierarchical, 12-bit, CMYK/YCCK
give ``None`` (encode the pixels instead).

:func:`texture_png` does the same for a PNG (the Blender batch embeds 8-bit PNG photos as they
are): its image chunks kept, its text, EXIF, time, colour and private chunks left out.
:func:`texture_file` takes either.  Standard library only.
"""
from __future__ import annotations

from .image_header import jpeg_scan_end

__all__ = ["texture_file", "texture_jpeg", "texture_png"]

SOF_TAKEN = frozenset({0xC0, 0xC1, 0xC2})  # Huffman: baseline, extended sequential, progressive
KEPT = frozenset({0xDB, 0xC4, 0xDD, 0xE0, 0xEE})  # DQT, DHT, DRI, APP0 (JFIF), APP14 (Adobe)
DROPPED = frozenset({*range(0xE1, 0xEE), 0xEF, 0xFE})  # APP1–APP13, APP15, COM
SOS, EOI = 0xDA, 0xD9


def texture_jpeg(data: bytes) -> bytes | None:
    """The JPEG ``data`` reduced to what decoding reads (module docstring), or ``None`` when it is
    no whole JPEG of a kind every glTF viewer decodes."""
    if not data.startswith(b"\xff\xd8"):
        return None
    size, pos = len(data), 2
    parts = [b"\xff\xd8"]
    frame = scanned = False
    while pos + 1 < size:
        if data[pos] != 0xFF:
            return None  # stray bytes between segments
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == EOI:
            return b"".join((*parts, b"\xff\xd9")) if frame and scanned else None
        if pos + 4 > size or not (0xC0 <= marker <= 0xFE) or marker in (0xD8, 0x01):
            return None  # a standalone marker (or a restart) outside a scan
        end = pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if end > size:
            return None
        if marker in SOF_TAKEN:
            if frame or end - pos < 12 or data[pos + 4] != 8 or data[pos + 9] not in (1, 3):
                return None  # a second frame, 12-bit samples, CMYK
            frame = True
        elif marker == 0xEE and end - pos >= 16 and data[pos + 15] == 2:
            return None  # Adobe YCCK
        elif marker == SOS:
            if not frame:
                return None
            end = jpeg_scan_end(data, end)
            if end < 0:
                return None
            scanned = True
        elif marker in DROPPED:
            pos = end
            continue
        elif marker not in KEPT:
            return None  # arithmetic coding tables, lossless or hierarchical frames, DNL, JPGn
        parts.append(data[pos:end])
        pos = end
    return None  # no end-of-image marker


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEPT = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"})
"""The chunks decoding reads.  Every ancillary chunk is left out: text (tEXt/zTXt/iTXt), eXIf,
tIME, private ones, and the colour chunks (gAMA, cHRM, sRGB, iCCP) — as for a JPEG's ICC profile,
the texture's stored values are its sRGB colours, as the core reads and re-encodes them."""


def texture_png(data: bytes) -> bytes | None:
    """The PNG ``data`` with only its :data:`PNG_KEPT` chunks (each copied whole, its CRC with
    it), or ``None`` when it is no whole PNG (chunks past the end, no IEND) or an APNG."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    parts, pos, size = [PNG_SIGNATURE], len(PNG_SIGNATURE), len(data)
    while pos + 12 <= size:
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > size:
            return None
        if kind == b"acTL":
            return None  # an animated PNG: its frames are more than one texture
        if kind in PNG_KEPT:
            parts.append(data[pos:end])
        if kind == b"IEND":
            return b"".join(parts)
        pos = end
    return None


def texture_file(data: bytes) -> bytes | None:
    """:func:`texture_jpeg` or :func:`texture_png` of ``data``, by its signature; ``None`` for
    anything else."""
    if data.startswith(PNG_SIGNATURE):
        return texture_png(data)
    return texture_jpeg(data)
