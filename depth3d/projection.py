"""Grids of depth → 3-D points, in the camera frame (−Z forward, +Y up, +X right, metres)."""
from __future__ import annotations

import numpy as np

from .camera import Camera


def perspective_points(depth: np.ndarray, camera: Camera) -> np.ndarray:
    """Pinhole unprojection of planar depth.

    depth:  (ny, nx) float32 planar depth along the camera axis (NaN = no point), sampled at
            the grid positions of :mod:`depth3d.grid` over the whole photo.
    camera: the photo's camera (its aspect and horizontal FOV; the grid size may differ).
    Returns (ny, nx, 3) float32 points with z = −depth.
    """
    ny, nx = depth.shape
    tx = ((np.arange(nx, dtype=np.float64) + 0.5) / nx * 2.0 - 1.0) * camera.tan_half_x
    ty = (1.0 - (np.arange(ny, dtype=np.float64) + 0.5) / ny * 2.0) * camera.tan_half_y
    pts = np.empty((ny, nx, 3), dtype=np.float32)
    pts[:, :, 0] = depth * tx.astype(np.float32)[None, :]
    pts[:, :, 1] = depth * ty.astype(np.float32)[:, None]
    np.negative(depth, out=pts[:, :, 2])
    return pts


def relief_points(height: np.ndarray, aspect: float) -> np.ndarray:
    """The photo as a plane of width 1 and height 1/aspect in z = 0, displaced along +Z.

    height: (ny, nx) float32 displacement (NaN = no point).
    Returns (ny, nx, 3) float32 points centred on the origin, +Y up.
    """
    ny, nx = height.shape
    x = (np.arange(nx, dtype=np.float32) + 0.5) / nx - 0.5
    y = (0.5 - (np.arange(ny, dtype=np.float32) + 0.5) / ny) / np.float32(aspect)
    pts = np.empty((ny, nx, 3), dtype=np.float32)
    pts[:, :, 0] = x[None, :]
    pts[:, :, 1] = y[:, None]
    pts[:, :, 2] = height
    return pts
