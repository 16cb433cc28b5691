"""The vertex grid: its shape for a requested resolution and sampling maps onto it.

A grid of ``nx`` × ``ny`` vertices covers the photo; vertex (i, j) sits at the normalised
image position s = (i + 0.5) / nx, t = (j + 0.5) / ny (t = 0 at the top), i.e. at pixel
centres when the grid has one vertex per pixel.
"""
from __future__ import annotations

import numpy as np


def grid_shape(width: int, height: int, resolution: int) -> tuple[int, int]:
    """``(nx, ny)`` for a ``width`` × ``height`` map and a long-side ``resolution`` (0 = every pixel).

    The grid never exceeds the map, keeps its aspect ratio and has at least 2 × 2 vertices.
    """
    if resolution < 0:
        raise ValueError("resolution must be >= 0")
    long_side = max(width, height)
    if resolution == 0 or resolution >= long_side:
        return width, height
    k = resolution / long_side
    return max(2, round(width * k)), max(2, round(height * k))


def _axis_weights(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left index, right index and right weight for linear resampling of one axis."""
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    x = np.clip(x, 0.0, n_in - 1)
    i0 = np.floor(x).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (x - i0).astype(np.float32)


def resample(values: np.ndarray, nx: int, ny: int) -> np.ndarray:
    """(H, W[, C]) → (ny, nx[, C]) by bilinear sampling at the grid positions.

    Identity (a copy-free view) when the grid is the map's own size.
    """
    h, w = values.shape[:2]
    if (nx, ny) == (w, h):
        return values
    x0, x1, wx = _axis_weights(nx, w)
    y0, y1, wy = _axis_weights(ny, h)
    v = values.astype(np.float32, copy=False)
    if v.ndim == 3:
        wx, wy = wx[:, None], wy[:, None]
    rows0, rows1 = v[y0], v[y1]
    top = rows0[:, x0] + (rows0[:, x1] - rows0[:, x0]) * wx
    bot = rows1[:, x0] + (rows1[:, x1] - rows1[:, x0]) * wx
    wy = wy[:, None] if v.ndim == 2 else wy[:, None, :]
    return top + (bot - top) * wy


def grid_uv(nx: int, ny: int) -> np.ndarray:
    """(ny·nx, 2) float32 texture coordinates of the grid: u right, v up, origin bottom-left."""
    u = (np.arange(nx, dtype=np.float32) + 0.5) / nx
    v = 1.0 - (np.arange(ny, dtype=np.float32) + 0.5) / ny
    uv = np.empty((ny, nx, 2), dtype=np.float32)
    uv[:, :, 0] = u[None, :]
    uv[:, :, 1] = v[:, None]
    return uv.reshape(-1, 2)
