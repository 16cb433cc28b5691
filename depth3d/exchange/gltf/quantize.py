"""KHR_mesh_quantization: positions as normalized int16, texture coordinates as normalized uint16.

Positions: per axis, ``p = translation + scale · q / 32767`` with ``q`` int16 in [−32767, 32767],
``translation`` the centre of the bounding box and ``scale`` its half extent; the decoding
transform is the mesh node's ``translation``/``scale`` (the layout gltfpack writes).  Rounding
to the nearest step bounds the error per axis by half a step: ``extent / 65534``
(:data:`POSITION_ERROR`), plus float32 rounding.
Texture coordinates in [0, 1]: ``q = round(uv · 65535)``, error ≤ 1/131070.
Vertex colours (points): the photo's sRGB bytes as linear normalized uint16 (glTF's COLOR_0 is
linear), whether quantizing or not.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .buffer import column_bounds

__all__ = [
    "EXTENSION", "POSITION_ERROR", "QuantizedPositions", "quantize_colors", "quantize_positions",
    "quantize_uv",
]

EXTENSION = "KHR_mesh_quantization"
INT16_MAX = 32767
UINT16_MAX = 65535
POSITION_ERROR = 1.0 / (2 * INT16_MAX)  # of the bounding box extent, per axis


class QuantizedPositions(NamedTuple):
    """``values``: (N, 4) int16 (x, y, z, 0 — padded to the 4-byte vertex alignment);
    ``translation``, ``scale``: (3,) float, the node transform that restores metres."""

    values: np.ndarray
    translation: np.ndarray
    scale: np.ndarray


def quantize_positions(vertices: np.ndarray) -> QuantizedPositions:
    """(N, 3) float32 positions → :class:`QuantizedPositions` (N ≥ 1)."""
    lo, hi = (b.astype(np.float64) for b in column_bounds(vertices))
    translation = (lo + hi) / 2
    scale = np.maximum((hi - lo) / 2, np.finfo(np.float32).tiny)  # a flat axis keeps a valid scale
    # float32 so the node's values, stored as JSON doubles, are exactly what a viewer applies
    translation = translation.astype(np.float32).astype(np.float64)
    scale = scale.astype(np.float32).astype(np.float64)
    values = np.zeros((len(vertices), 4), np.int16)
    q = (vertices - translation.astype(np.float32)) * np.float32(INT16_MAX) / scale.astype(np.float32)
    np.clip(np.rint(q, out=q), -INT16_MAX, INT16_MAX, out=q)
    values[:, :3] = q
    return QuantizedPositions(values, translation, scale)


def quantize_uv(uv: np.ndarray) -> np.ndarray:
    """(N, 2) float texture coordinates in [0, 1] → (N, 2) uint16, normalized."""
    q = np.clip(uv, 0.0, 1.0) * np.float32(UINT16_MAX)
    return np.rint(q).astype(np.uint16)


def _srgb_to_linear_lut() -> np.ndarray:
    c = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return np.rint(linear * UINT16_MAX).astype(np.uint16)


_LINEAR16 = _srgb_to_linear_lut()


def quantize_colors(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 sRGB → (N, 4) uint16 linear RGBA, opaque, for COLOR_0.

    glTF's vertex colours are linear; 16 bits keep the darks that 8-bit linear would merge
    (sRGB 1..12 all fall below linear 1/255), and 4 channels keep the 4-byte vertex alignment.
    """
    out = np.full((len(rgb), 4), UINT16_MAX, np.uint16)
    out[:, :3] = _LINEAR16[rgb]
    return out
