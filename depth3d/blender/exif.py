"""EXIF orientation and lens tags with the standard library (Blender's Python has no Pillow).

Finds the TIFF-structured EXIF block in JPEG (APP1), PNG (``eXIf``), WebP (``EXIF`` chunk)
and TIFF files, reads IFD0 and the Exif sub-IFD, and hands the tags to the core's
:func:`~depth3d.geometry.camera.fov_from_exif` through a Pillow-``Exif``-like mapping.  Anything
malformed yields "no EXIF", never an exception.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..geometry.camera import EXIF_IFD, exif_orientation, fov_from_exif

# type id → (struct code, size)
_TYPES = {1: ("B", 1), 3: ("H", 2), 4: ("L", 4), 5: ("LL", 8), 7: ("B", 1), 9: ("l", 4), 10: ("ll", 8)}
_MAX_ENTRIES = 512


class ExifTags(dict):
    """IFD0 tags as a dict, with ``get_ifd(tag)`` for sub-IFDs like Pillow's ``Image.Exif``."""

    def __init__(self, ifd0: dict, sub: dict[int, dict]):
        super().__init__(ifd0)
        self._sub = sub

    def get_ifd(self, tag: int) -> dict:
        return self._sub.get(tag, {})


@dataclass
class ExifInfo:
    """What depth3d needs from EXIF: orientation (1–8) and the tags behind the FOV."""

    orientation: int = 1
    tags: ExifTags | None = field(default=None, repr=False)

    def fov_deg(self, width: int, height: int) -> float | None:
        """Horizontal FOV of the upright ``width`` × ``height`` image, or ``None``."""
        return fov_from_exif(self.tags, width, height) if self.tags is not None else None


def find_exif_block(data: bytes) -> bytes | None:
    """The TIFF-structured EXIF bytes ("II*\\0…" / "MM\\0*…") inside an image file, or ``None``."""
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return data
    if data[:2] == b"\xff\xd8":  # JPEG: walk the markers up to start-of-scan
        pos = 2
        while pos + 4 <= len(data):
            if data[pos] != 0xFF:
                return None
            marker = data[pos + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                pos += 2
                continue
            if marker == 0xDA:
                return None
            (size,) = struct.unpack(">H", data[pos + 2:pos + 4])
            segment = data[pos + 4:pos + 2 + size]
            if marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
                return segment[6:]
            pos += 2 + size
        return None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        pos = 8
        while pos + 8 <= len(data):
            size, kind = struct.unpack(">I4s", data[pos:pos + 8])
            if kind == b"eXIf":
                return data[pos + 8:pos + 8 + size]
            if kind == b"IDAT":
                return None
            pos += 12 + size
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        pos = 12
        while pos + 8 <= len(data):
            kind, size = struct.unpack("<4sI", data[pos:pos + 8])
            if kind == b"EXIF":
                block = data[pos + 8:pos + 8 + size]
                return block[6:] if block[:6] == b"Exif\x00\x00" else block
            pos += 8 + size + (size & 1)
    return None


def _read_ifd(tiff: bytes, offset: int, endian: str) -> tuple[dict, int]:
    """Tags of the IFD at ``offset`` → ({tag: value}, offset of the next IFD)."""
    (count,) = struct.unpack(endian + "H", tiff[offset:offset + 2])
    if count > _MAX_ENTRIES:
        raise ValueError("implausible IFD")
    tags: dict[int, object] = {}
    for i in range(count):
        entry = tiff[offset + 2 + 12 * i: offset + 14 + 12 * i]
        tag, typ, n = struct.unpack(endian + "HHI", entry[:8])
        if typ == 2 and 0 < n <= 64:  # ASCII, e.g. an orientation written as "6": as Pillow reads it
            raw = entry[8:12] if n <= 4 else tiff[struct.unpack(endian + "I", entry[8:12])[0]:][:n]
            tags[tag] = raw[:n].split(b"\0", 1)[0].decode("latin-1").strip()
            continue
        if typ not in _TYPES or n == 0 or n > 64:
            continue
        code, size = _TYPES[typ]
        raw = entry[8:12]
        if size * n > 4:
            (ptr,) = struct.unpack(endian + "I", raw)
            raw = tiff[ptr:ptr + size * n]
        values = struct.unpack(endian + code * n, raw[:size * n])
        if typ in (5, 10):
            values = tuple(a / b if b else 0.0 for a, b in zip(values[::2], values[1::2]))
        tags[tag] = values[0] if n == 1 or typ in (5, 10) else values
    next_ifd = struct.unpack(endian + "I", tiff[offset + 2 + 12 * count: offset + 6 + 12 * count])[0]
    return tags, next_ifd


def parse_exif(block: bytes) -> ExifTags:
    """A TIFF-structured EXIF block → :class:`ExifTags` (IFD0 + Exif sub-IFD)."""
    endian = {b"II": "<", b"MM": ">"}[block[:2]]
    (ifd0_offset,) = struct.unpack(endian + "I", block[4:8])
    ifd0, _ = _read_ifd(block, ifd0_offset, endian)
    sub = {}
    pointer = ifd0.get(EXIF_IFD)
    if isinstance(pointer, int) and 0 < pointer < len(block):
        sub[EXIF_IFD], _ = _read_ifd(block, pointer, endian)
    return ExifTags(ifd0, sub)


def read_exif_info(data: bytes) -> ExifInfo:
    """Orientation and lens tags of an encoded image (any failure → defaults)."""
    try:
        block = find_exif_block(data)
        if block is None:
            return ExifInfo()
        tags = parse_exif(block)
    except (struct.error, KeyError, ValueError, IndexError):
        return ExifInfo()
    return ExifInfo(orientation=exif_orientation(tags), tags=tags)
