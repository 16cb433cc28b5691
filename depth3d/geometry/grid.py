"""The vertex grid: its shape for a requested resolution and sampling maps onto it.

A grid of ``nx`` × ``ny`` vertices spans the pixel centres of the map it samples (the depth
map, its *span*, ``W`` × ``H`` pixels), from the first to the last, evenly: vertex (i, j) sits at
x = i·(W − 1)/(nx − 1), y = j·(H − 1)/(ny − 1) pixels from the first pixel's centre,
i.e. at the normalised image position s = (x + 0.5) / W, t = (y + 0.5) / H (t = 0 at the top).
With one vertex per pixel that is every pixel centre; coarser grids still reach the outermost
pixels, so the mesh covers the photo as far as the full-resolution one does.
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


def _layout(n: int, span: int) -> tuple[float, float]:
    """Normalised position of vertex 0 and spacing of ``n`` grid vertices across ``span`` pixels.

    From the first pixel centre to the last, evenly (the centre, for a single vertex).  A grid
    with more vertices than the span has pixels (a map 1 pixel wide still gets a grid 2 wide)
    puts them at the centres of n equal cells instead."""
    if n < 2:
        return 0.5, 1.0
    if n > span:
        return 0.5 / n, 1.0 / n
    return 0.5 / span, (span - 1) / (span * (n - 1))


def grid_positions(n: int, span: int) -> np.ndarray:
    """(n,) float64 normalised positions (0–1) of ``n`` grid vertices across ``span`` pixels."""
    first, step = _layout(n, span)
    return first + np.arange(n, dtype=np.float64) * step


def grid_step(n: int, span: int) -> float:
    """Normalised spacing of ``n`` grid vertices across a span of ``span`` pixels."""
    return _layout(n, span)[1]


def grid_index_at(position: np.ndarray, n: int, span: int) -> np.ndarray:
    """Fractional grid index (float32) of normalised positions: the inverse of :func:`grid_positions`."""
    first, step = _layout(n, span)
    return (np.asarray(position, np.float32) - np.float32(first)) * np.float32(1.0 / step)


def _axis_weights(n_out: int, n_in: int, span: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left index, right index and right weight for linear resampling of one axis."""
    x = grid_positions(n_out, span) * n_in - 0.5
    x = np.clip(x, 0.0, n_in - 1)
    i0 = np.floor(x).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (x - i0).astype(np.float32)


def resample(values: np.ndarray, nx: int, ny: int, span: tuple[int, int] | None = None,
             convert=None) -> np.ndarray:
    """(H, W[, C]) → (ny, nx[, C]) by bilinear sampling at the grid positions.

    span:    (width, height) of the map the grid spans (:mod:`depth3d.geometry.grid`), when ``values`` is
             another image of the same view (the photo, at its own size); default: ``values``.
    convert: an elementwise function applied to the samples before they are interpolated —
             to the four corners of each vertex only, not to the whole map.
    Identity (a copy-free view, unless converted) when the grid is the map's own size.
    """
    h, w = values.shape[:2]
    span_w, span_h = span or (w, h)
    if (nx, ny) == (w, h) == (span_w, span_h):
        return values if convert is None else convert(values)
    x0, x1, wx = _axis_weights(nx, w, span_w)
    y0, y1, wy = _axis_weights(ny, h, span_h)
    rows0, rows1 = values[y0], values[y1]
    corners = [rows0[:, x0], rows0[:, x1], rows1[:, x0], rows1[:, x1]]
    c00, c01, c10, c11 = (np.asarray(convert(c) if convert else c, np.float32) for c in corners)
    if c00.ndim == 3:
        wx, wy = wx[:, None], wy[:, None]
    top = c00 + (c01 - c00) * wx
    bot = c10 + (c11 - c10) * wx
    wy = wy[:, None] if c00.ndim == 2 else wy[:, None, :]
    return top + (bot - top) * wy


def grid_uv(nx: int, ny: int, span: tuple[int, int]) -> np.ndarray:
    """(ny·nx, 2) float32 texture coordinates of the grid spanning ``span`` (width, height):
    u right, v up, origin bottom-left."""
    u = grid_positions(nx, span[0]).astype(np.float32)
    v = (1.0 - grid_positions(ny, span[1])).astype(np.float32)
    uv = np.empty((ny, nx, 2), dtype=np.float32)
    uv[:, :, 0] = u[None, :]
    uv[:, :, 1] = v[:, None]
    return uv.reshape(-1, 2)
