"""Depth at image positions → 3-D points, in the camera frame (−Z forward, +Y up, +X right, metres).

Image positions are normalised: s = 0 … 1 left to right, t = 0 … 1 top to bottom (a UV is
(s, 1 − t)).  The ``*_at`` functions take any broadcastable s, t and depth; the ``*_points``
functions take a grid of depth sampled at :mod:`depth3d.geometry.grid`'s positions.
"""
from __future__ import annotations

import numpy as np

from .camera import Camera
from .grid import grid_positions


def _points_out(shape: tuple[int, ...], out: np.ndarray | None) -> np.ndarray:
    """``out`` (a float32 array of ``shape`` + (3,) to fill) or a new one."""
    if out is None:
        return np.empty(shape + (3,), dtype=np.float32)
    if out.shape != shape + (3,) or out.dtype != np.float32:
        raise ValueError(f"out must be {shape + (3,)} float32, got {out.shape} {out.dtype}")
    return out


def perspective_at(s: np.ndarray, t: np.ndarray, depth: np.ndarray, camera: Camera,
                   out: np.ndarray | None = None) -> np.ndarray:
    """Pinhole unprojection of planar depth (NaN = no point) at image positions (s, t).

    Returns (..., 3) float32 points, the broadcast shape of s, t and depth, with z = −depth
    (written into ``out`` when given: of that shape, float32).
    """
    depth = np.asarray(depth, np.float32)
    tx = ((np.asarray(s, np.float64) * 2.0 - 1.0) * camera.tan_half_x).astype(np.float32)
    ty = ((1.0 - np.asarray(t, np.float64) * 2.0) * camera.tan_half_y).astype(np.float32)
    pts = _points_out(np.broadcast_shapes(tx.shape, ty.shape, depth.shape), out)
    np.multiply(depth, tx, out=pts[..., 0])
    np.multiply(depth, ty, out=pts[..., 1])
    np.negative(depth, out=pts[..., 2])
    return pts


def relief_at(s: np.ndarray, t: np.ndarray, height: np.ndarray, aspect: float,
              out: np.ndarray | None = None) -> np.ndarray:
    """The photo as a plane of width 1 and height 1/aspect in z = 0, centred on the origin, +Y
    up, displaced along +Z by ``height`` (NaN = no point) at image positions (s, t).

    Returns (..., 3) float32 points, the broadcast shape of s, t and height (written into
    ``out`` when given: of that shape, float32).
    """
    height = np.asarray(height, np.float32)
    x = (np.asarray(s, np.float64) - 0.5).astype(np.float32)
    y = ((0.5 - np.asarray(t, np.float64)) / aspect).astype(np.float32)
    pts = _points_out(np.broadcast_shapes(x.shape, y.shape, height.shape), out)
    pts[..., 0] = x
    pts[..., 1] = y
    pts[..., 2] = height
    return pts


def _grid_st(shape: tuple[int, ...], span: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """(1, nx) s and (ny, 1) t of a (ny, nx) grid spanning ``span`` (default: its own size)."""
    ny, nx = shape
    span_w, span_h = span or (nx, ny)
    return grid_positions(nx, span_w)[None, :], grid_positions(ny, span_h)[:, None]


def perspective_points(depth: np.ndarray, camera: Camera, span: tuple[int, int] | None = None) -> np.ndarray:
    """Pinhole unprojection of a (ny, nx) grid of planar depth.

    depth:  (ny, nx) float32 planar depth along the camera axis (NaN = no point), sampled at
            the grid positions of :mod:`depth3d.geometry.grid` spanning a map of ``span`` (width, height)
            pixels (default: the grid's own size, a vertex per pixel centre).
    camera: the photo's camera (its aspect and horizontal FOV; the grid size may differ).
    Returns (ny, nx, 3) float32 points with z = −depth.
    """
    return perspective_at(*_grid_st(depth.shape, span), depth, camera)


def relief_points(height: np.ndarray, aspect: float, span: tuple[int, int] | None = None) -> np.ndarray:
    """:func:`relief_at` on a (ny, nx) grid of displacement at the grid positions spanning
    ``span`` as for :func:`perspective_points`.  Returns (ny, nx, 3) float32 points."""
    return relief_at(*_grid_st(height.shape, span), height, aspect)
