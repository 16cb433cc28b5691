"""OpenEXR reading with NumPy and zlib only, for where the ``OpenEXR`` module is missing.

:mod:`depth3d.io.depth_io` falls back to it, which is how EXR depth maps load in Blender's Python
(Blender's own image loader reads a lone ``Z`` channel as garbage and a multilayer file —
``ViewLayer.Depth.Z``, what Cycles writes — not at all).  It covers what renderers and depth3d
write: single-part scanline images, compression NONE, ZIPS or ZIP, channels HALF / FLOAT /
UINT.  Anything else raises ``ValueError`` saying so.
"""
from __future__ import annotations

import struct
import zlib
from os import PathLike
from pathlib import Path

import numpy as np

EXR_MAGIC = b"\x76\x2f\x31\x01"

_PIXEL_TYPES: dict[int, np.dtype] = {0: np.dtype("<u4"), 1: np.dtype("<f2"), 2: np.dtype("<f4")}
_LINES_PER_BLOCK = {0: 1, 2: 1, 3: 16}  # NONE, ZIPS, ZIP
_COMPRESSION_NAMES = {1: "RLE", 4: "PIZ", 5: "PXR24", 6: "B44", 7: "B44A", 8: "DWAA", 9: "DWAB"}


def _header(data: bytes) -> tuple[dict[str, tuple[str, bytes]], int]:
    """Attributes {name: (type, raw value)} and the offset just past the header."""
    pos = 8
    attributes: dict[str, tuple[str, bytes]] = {}
    while True:
        end = data.index(b"\0", pos)
        name = data[pos:end].decode("latin-1")
        pos = end + 1
        if not name:
            return attributes, pos
        end = data.index(b"\0", pos)
        kind = data[pos:end].decode("latin-1")
        (size,) = struct.unpack_from("<i", data, end + 1)
        pos = end + 5
        attributes[name] = (kind, data[pos:pos + size])
        pos += size


def _channels(raw: bytes) -> list[tuple[str, np.dtype]]:
    channels: list[tuple[str, np.dtype]] = []
    pos = 0
    while raw[pos:pos + 1] not in (b"\0", b""):
        end = raw.index(b"\0", pos)
        name = raw[pos:end].decode("utf-8")
        pixel_type, _, x_sampling, y_sampling = struct.unpack_from("<iB3xii", raw, end + 1)
        if pixel_type not in _PIXEL_TYPES:
            raise ValueError(f"channel {name!r} has unknown pixel type {pixel_type}")
        if x_sampling != 1 or y_sampling != 1:
            raise ValueError(f"channel {name!r} is subsampled")
        channels.append((name, _PIXEL_TYPES[pixel_type]))
        pos = end + 1 + 16
    return channels


def _unzip(block: bytes, expected: int) -> bytes:
    """ZIP/ZIPS block → raw bytes: inflate, undo the byte predictor, de-interleave halves."""
    if len(block) >= expected:  # stored uncompressed when compression did not help
        return block
    t = np.frombuffer(zlib.decompress(block), dtype=np.uint8).copy()
    if len(t) != expected:
        raise ValueError(f"block inflates to {len(t)} bytes, expected {expected}")
    t[1:] -= np.uint8(128)
    t = np.cumsum(t, dtype=np.uint8)
    out = np.empty_like(t)
    half = (len(t) + 1) // 2
    out[0::2] = t[:half]
    out[1::2] = t[half:]
    return out.tobytes()


def read_exr_planes(source: str | PathLike[str] | bytes) -> dict[str, np.ndarray]:
    """Every channel of a scanline EXR (path or bytes) → {name: (H, W) float32}, row 0 at the top.

    Raises ``ValueError`` (also for truncated data) on anything it cannot read.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        return _read_planes(data)
    except (KeyError, IndexError, struct.error, zlib.error) as exc:
        raise ValueError(f"truncated or corrupt EXR ({exc!r})") from None


def exr_header_size(data: bytes) -> tuple[int, int]:
    """(width, height) of the data window, from the header alone."""
    if data[:4] != EXR_MAGIC:
        raise ValueError("not an OpenEXR file")
    try:
        attributes, _ = _header(data)
        x0, y0, x1, y1 = struct.unpack("<4i", attributes["dataWindow"][1])
    except (KeyError, IndexError, ValueError, struct.error) as exc:
        raise ValueError(f"truncated or corrupt EXR header ({exc!r})") from None
    return x1 - x0 + 1, y1 - y0 + 1


def _read_planes(data: bytes) -> dict[str, np.ndarray]:
    if data[:4] != EXR_MAGIC:
        raise ValueError("not an OpenEXR file")
    (version,) = struct.unpack_from("<i", data, 4)
    if version & 0x200:
        raise ValueError("tiled EXR is not supported without the OpenEXR module")
    if version & 0x1800:
        raise ValueError("multi-part or deep EXR is not supported without the OpenEXR module")
    attributes, pos = _header(data)
    compression = attributes["compression"][1][0]
    if compression not in _LINES_PER_BLOCK:
        name = _COMPRESSION_NAMES.get(compression, str(compression))
        raise ValueError(f"{name} compression is not supported without the OpenEXR module")
    x0, y0, x1, y1 = struct.unpack("<4i", attributes["dataWindow"][1])
    width, height = x1 - x0 + 1, y1 - y0 + 1
    channels = _channels(attributes["channels"][1])
    lines = _LINES_PER_BLOCK[compression]
    n_blocks = -(-height // lines)
    offsets = struct.unpack_from(f"<{n_blocks}Q", data, pos)
    line_bytes = sum(dt.itemsize for _, dt in channels) * width
    planes = {name: np.empty((height, width), np.float32) for name, _ in channels}
    for offset in offsets:
        y, size = struct.unpack_from("<ii", data, offset)
        row = y - y0
        count = min(lines, height - row)
        raw = data[offset + 8:offset + 8 + size]
        if compression != 0:
            raw = _unzip(raw, count * line_bytes)
        if len(raw) != count * line_bytes:
            raise ValueError("truncated scanline block")
        at = 0
        block = np.frombuffer(raw, dtype=np.uint8).reshape(count, line_bytes)
        for name, dt in channels:
            span = width * dt.itemsize
            values = np.ascontiguousarray(block[:, at:at + span]).view(dt)
            planes[name][row:row + count] = values.astype(np.float32)
            at += span
    return planes
