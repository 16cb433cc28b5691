"""From a backend's raw output to metric planar depth (or relief height).

Disparity (relative inverse depth, larger = nearer) is first normalised to [0, 1] by its
min and max, then ``depth = 1 / (scale · d + shift)``.  The same curve written for people:
``near`` is the depth of d = 1 and ``far`` of d = 0 (:func:`near_far_to_scale_shift`).
Metric depth maps as ``depth = scale · z + shift``; scale 1, shift 0 changes nothing.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError

DEFAULT_NEAR = 1.0  # metres, for relative models
DEFAULT_FAR = 10.0
DEFAULT_RELIEF_HEIGHT = 0.2  # relief projection: displacement of the nearest point, plane width 1


def check_depth(depth: np.ndarray, name: str = "depth", kind: str = "disparity") -> np.ndarray:
    """Validate a raw depth map: (H, W), at least 2×2, finite → float32 copy-free.

    Relative disparity must vary (a constant one says nothing about the scene); a constant
    metric depth is a plane facing the camera (a wall), which is fine, but some value must be
    positive (in front of the camera).
    """
    d = np.asarray(depth)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.ndim != 2 or min(d.shape) < 2:
        raise InputError(f"{name}: depth must be a 2-D map of at least 2×2, got shape {d.shape}")
    if not np.issubdtype(d.dtype, np.number):
        raise InputError(f"{name}: depth has non-numeric type {d.dtype}")
    d = d.astype(np.float32, copy=False)
    finite = np.isfinite(d)
    if not finite.all():
        bad = int(d.size - np.count_nonzero(finite))
        raise InputError(f"{name}: depth has {bad} NaN/inf values")
    lo, hi = float(d.min()), float(d.max())
    if kind == "depth":
        if not hi > 0:
            raise InputError(f"{name}: no depth value is positive (max {hi:g}): every point would be "
                             "behind the camera")
    elif not hi > lo:
        raise InputError(f"{name}: relative depth is constant ({lo:g}); nothing to reconstruct")
    return d


ASPECT_TOLERANCE = 0.01
"""Largest relative difference between a depth map's and its photo's width/height ratio."""


def same_aspect(w: int, h: int, width: int, height: int) -> bool:
    """Whether a ``w`` × ``h`` map has the ``width`` × ``height`` photo's aspect, within
    :data:`ASPECT_TOLERANCE`."""
    return abs((w / h) / (width / height) - 1.0) <= ASPECT_TOLERANCE


def check_aspect(depth: np.ndarray, width: int, height: int, label: str) -> None:
    """Raise InputError unless the (h, w) ``depth`` has the ``width`` × ``height`` photo's aspect.

    Any resolution is fine (a half-size phone depth map, a model's output): only the shape
    of the picture must agree, within :data:`ASPECT_TOLERANCE`.
    """
    h, w = depth.shape[:2]
    if not same_aspect(w, h, width, height):
        raise InputError(f"{label}: depth is {w}x{h} but photo is {width}x{height}")


def normalize_disparity(disparity: np.ndarray, limits: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W) disparity → (H, W) float32 in [0, 1]: 0 at the farthest, 1 at the nearest.

    limits: the (min, max) of the whole map, when ``disparity`` holds only some of its samples.
    """
    d = np.asarray(disparity, dtype=np.float32)
    lo, hi = limits if limits is not None else disparity_limits(d, "disparity")
    return (d - np.float32(lo)) * np.float32(1.0 / (hi - lo))


def near_far_to_scale_shift(near: float, far: float) -> tuple[float, float]:
    """The disparity ``(scale, shift)`` that puts normalised d = 1 at ``near`` and d = 0 at ``far``."""
    if not 0.0 < near < far:
        raise ValueError(f"need 0 < near < far, got near={near}, far={far}")
    return 1.0 / near - 1.0 / far, 1.0 / far


def scale_shift_to_near_far(scale: float, shift: float) -> tuple[float, float]:
    """Inverse of :func:`near_far_to_scale_shift` (far is ``inf`` when shift is 0)."""
    far = np.inf if shift == 0 else 1.0 / shift
    return 1.0 / (scale + shift), far


def default_scale_shift(kind: str, projection: str = "perspective") -> tuple[float, float]:
    """Defaults: near 1 m / far 10 m for disparity, identity for metric depth, 0.2 relief."""
    if projection == "relief":
        return DEFAULT_RELIEF_HEIGHT, 0.0
    if kind == "disparity":
        return near_far_to_scale_shift(DEFAULT_NEAR, DEFAULT_FAR)
    return 1.0, 0.0


def _scaled(raw: np.ndarray, kind: str, scale: float | None, shift: float | None,
            limits: tuple[float, float] | None = None) -> np.ndarray:
    """disparity: ``S·d + T`` on normalised d (1/m); depth: ``S·z + T`` (m).  ≤ 0 → NaN."""
    ds, dt = default_scale_shift(kind)
    scale = ds if scale is None else float(scale)
    shift = dt if shift is None else float(shift)
    if kind == "disparity":
        v = normalize_disparity(raw, limits) * np.float32(scale) + np.float32(shift)
    elif kind == "depth":
        v = np.asarray(raw, dtype=np.float32)
        if scale != 1.0 or shift != 0.0:
            v = v * np.float32(scale) + np.float32(shift)
    else:
        raise ValueError(f"unknown depth kind {kind!r}")
    return np.where(v > 0, v, np.float32(np.nan)).astype(np.float32, copy=False)


def to_metric_disparity(
    raw: np.ndarray, kind: str, scale: float | None = None, shift: float | None = None,
    limits: tuple[float, float] | None = None,
) -> np.ndarray:
    """(H, W) raw depth or disparity → (H, W) float32 metric disparity, 1 / planar depth (1/m).

    Points at or behind the camera (depth ≤ 0, or disparity ≤ 0 after scale/shift) are NaN: the
    geometry leaves them out.  The geometry works on disparity: planes are linear in it, so it
    resamples exactly, and a disparity map needs no division at all.  Elementwise, given the
    whole map's ``limits`` (:func:`disparity_limits`) when ``raw`` holds only some of its samples.
    """
    v = _scaled(raw, kind, scale, shift, limits)  # a new array: the reciprocal goes in its place
    return v if kind == "disparity" else np.divide(np.float32(1.0), v, out=v)


def disparity_limits(raw: np.ndarray, kind: str) -> tuple[float, float] | None:
    """The (min, max) a disparity map is normalised by (None for metric depth, which is not)."""
    if kind != "disparity":
        return None
    d = np.asarray(raw, dtype=np.float32)
    return float(d.min()), float(d.max())


def nearness(raw: np.ndarray, kind: str) -> np.ndarray:
    """(H, W) → (H, W) float32 in [0, 1], 1 nearest: normalised disparity (or 1/depth)."""
    if kind == "disparity":
        return normalize_disparity(raw)
    z = np.asarray(raw, dtype=np.float32)
    inv = np.where(z > 0, 1.0 / np.maximum(z, np.float32(1e-30)), np.float32(0.0))
    return normalize_disparity(inv.astype(np.float32))


def to_relief_height(
    raw: np.ndarray, kind: str, scale: float | None = None, shift: float | None = None
) -> np.ndarray:
    """(H, W) → (H, W) float32 displacement along +Z for the relief projection.

    ``height = scale · nearness + shift`` in units of the plane's width (1).
    """
    scale = DEFAULT_RELIEF_HEIGHT if scale is None else float(scale)
    shift = 0.0 if shift is None else float(shift)
    return nearness(raw, kind) * np.float32(scale) + np.float32(shift)
