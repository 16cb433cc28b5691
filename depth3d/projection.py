"""Grids of depth → 3-D points, in the camera frame (−Z forward, +Y up, +X right, metres)."""
from __future__ import annotations

import numpy as np

from .camera import Camera
from .grid import grid_positions


def perspective_points(depth: np.ndarray, camera: Camera, span: tuple[int, int] | None = None) -> np.ndarray:
    """Pinhole unprojection of planar depth.

    depth:  (ny, nx) float32 planar depth along the camera axis (NaN = no point), sampled at
            the grid positions of :mod:`depth3d.grid` spanning a map of ``span`` (width, height)
            pixels (default: the grid's own size, a vertex per pixel centre).
    camera: the photo's camera (its aspect and horizontal FOV; the grid size may differ).
    Returns (ny, nx, 3) float32 points with z = −depth.
    """
    ny, nx = depth.shape
    span_w, span_h = span or (nx, ny)
    tx = (grid_positions(nx, span_w) * 2.0 - 1.0) * camera.tan_half_x
    ty = (1.0 - grid_positions(ny, span_h) * 2.0) * camera.tan_half_y
    pts = np.empty((ny, nx, 3), dtype=np.float32)
    pts[:, :, 0] = depth * tx.astype(np.float32)[None, :]
    pts[:, :, 1] = depth * ty.astype(np.float32)[:, None]
    np.negative(depth, out=pts[:, :, 2])
    return pts


def relief_points(height: np.ndarray, aspect: float, span: tuple[int, int] | None = None) -> np.ndarray:
    """The photo as a plane of width 1 and height 1/aspect in z = 0, displaced along +Z.

    height: (ny, nx) float32 displacement (NaN = no point), at the grid positions spanning
            ``span`` as for :func:`perspective_points`.
    Returns (ny, nx, 3) float32 points centred on the origin, +Y up.
    """
    ny, nx = height.shape
    span_w, span_h = span or (nx, ny)
    x = (grid_positions(nx, span_w) - 0.5).astype(np.float32)
    y = ((0.5 - grid_positions(ny, span_h)) / aspect).astype(np.float32)
    pts = np.empty((ny, nx, 3), dtype=np.float32)
    pts[:, :, 0] = x[None, :]
    pts[:, :, 1] = y[:, None]
    pts[:, :, 2] = height
    return pts
