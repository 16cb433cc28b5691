"""The depth service's wire format, shared by server and client (standard library + numpy).

Here, beside its client (:mod:`.remote`), so that the service depends on the backends and
not the reverse; :mod:`depth3d.service.protocol` re-exports it with the server's options.

``GET /v1/health`` answers JSON; ``POST /v1/depth`` takes an encoded image and answers the
depth map as a ``.npy`` file (float32, (H, W)): at the image's size, or at ``?size=WxH``.  See
``docs/service.md``.
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np

from ..io.image import MAX_PIXELS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_PIXELS = MAX_PIXELS  # the one pixel budget (depth3d.io.image)

HEALTH_PATH = "/v1/health"
DEPTH_PATH = "/v1/depth"

NPY_TYPE = "application/x-npy"
JSON_TYPE = "application/json"
PNG_TYPE = "image/png"

KIND_HEADER = "X-Depth-Kind"
FOV_HEADER = "X-Fov-Deg"
MODEL_HEADER = "X-Model"
TOKEN_ENV = "DEPTH3D_TOKEN"
SIZE_PARAM = "size"  # POST /v1/depth?size=WxH: the depth at W × H pixels instead of the image's size

# (offset, magic, content type): enough to label what Pillow reads; the server sniffs again.
_MAGIC = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", PNG_TYPE),
    (0, b"GIF8", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (8, b"WEBP", "image/webp"),
    (8, b"avif", "image/avif"),
    (8, b"heic", "image/heic"),
    (8, b"heix", "image/heic"),
    (8, b"mif1", "image/heif"),
)


def image_content_type(data: bytes) -> str | None:
    """The ``image/*`` type of encoded image bytes, from their magic number; ``None`` if unknown."""
    for offset, magic, kind in _MAGIC:
        if data[offset:offset + len(magic)] == magic:
            return kind
    return None


def is_image_type(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` header value is ``image/<something>`` (parameters ignored)."""
    main = (content_type or "").split(";", 1)[0].strip().lower()
    return main.startswith("image/") and len(main) > len("image/")


def format_size(size: tuple[int, int]) -> str:
    """(width, height) → ``"WxH"``, :data:`SIZE_PARAM`'s value."""
    width, height = size
    return f"{int(width)}x{int(height)}"


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` (two positive decimal integers) → (width, height); ``ValueError`` otherwise."""
    width, sep, height = text.strip().lower().partition("x")
    if not (sep and all(v.isascii() and v.isdigit() for v in (width, height)) and int(width) > 0
            and int(height) > 0):
        raise ValueError(f"size must look like WIDTHxHEIGHT in pixels, e.g. 1024x768, not {text!r}")
    return int(width), int(height)


def encode_npy(depth: np.ndarray) -> bytes:
    """(H, W) depth → ``.npy`` bytes, float32 little-endian."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(depth, dtype="<f4"), allow_pickle=False)
    return buf.getvalue()


def decode_npy(data: bytes) -> np.ndarray:
    """``.npy`` bytes → (H, W) float32 depth; ``ValueError`` for anything else (never unpickles)."""
    array = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    if array.ndim != 2 or array.dtype.kind != "f":
        raise ValueError(f"expected a 2-D float array, got {array.dtype} {array.shape}")
    return array.astype(np.float32, copy=False)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(
        ">I", zlib.crc32(kind + payload) & 0xFFFFFFFF
    )


def encode_png(rgb: np.ndarray, level: int = 6) -> bytes:
    """(H, W, 3) uint8 RGB → PNG bytes (8-bit truecolour, "Up" filter), no Pillow needed."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    rows = rgb.reshape(height, width * 3)
    up = rows.copy()
    up[1:] -= rows[:-1]  # PNG filter 2: each byte minus the byte above, modulo 256
    scanlines = np.empty((height, 1 + width * 3), np.uint8)
    scanlines[:, 0] = 2
    scanlines[:, 1:] = up
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", header),
        _png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), level)),
        _png_chunk(b"IEND", b""),
    ))


__all__ = [
    "DEFAULT_HOST", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "DEFAULT_PORT", "DEPTH_PATH", "FOV_HEADER",
    "HEALTH_PATH", "JSON_TYPE", "KIND_HEADER", "MODEL_HEADER", "NPY_TYPE", "PNG_TYPE", "SIZE_PARAM", "TOKEN_ENV",
    "decode_npy", "encode_npy", "encode_png", "format_size", "image_content_type", "is_image_type", "parse_size",
]
