"""Depth discontinuities: where a surface ends and another, farther one begins.

The rule is stated on log-depth per unit of image-plane angle, so it does not change when
the scene is scaled (log) or resampled (per angle):

* slope of a triangle = max over its edges of |Δ log depth| / (edge length in tan-space).
  A real surface seen at incidence θ has a slope of about tan θ; a step has one that grows
  with resolution.  Triangles steeper than ``threshold`` are cut.
* Models blur steps over a few pixels.  Inside an *edge zone* — where log-depth spans more
  than ``threshold`` times the width of a small window (a fixed fraction of the image) — each
  vertex is snapped to the nearer of the window's min and max depth, turning the blurred
  ramp back into a clean step that the triangle rule then cuts between the two surfaces.
"""
from __future__ import annotations

import math

import numpy as np

DEFAULT_EDGE_THRESHOLD = 8.0  # ≈ cut surfaces seen at more than 83° from face-on
EDGE_WINDOW = 0.004  # edge-zone half width, as a fraction of the grid's long side


def _window_extreme(a: np.ndarray, radius: int, axis: int, op) -> np.ndarray:
    """Running ``op`` (np.maximum/np.minimum) over a window of 2·radius + 1 along ``axis``.

    Doubling shifts: O(log radius) passes, each vectorised over the whole array.
    """
    n = a.shape[axis]
    width = 2 * radius + 1
    out = a.copy()
    span = 1
    while span * 2 <= width:  # out[k] = op over a[k : k + 2·span]
        shifted = np.take(out, np.arange(span, n + span).clip(max=n - 1), axis=axis)
        op(out, shifted, out=out)
        span *= 2
    if span < width:  # cover the rest with a second, overlapping power-of-two window
        rest = width - span
        shifted = np.take(out, np.arange(rest, n + rest).clip(max=n - 1), axis=axis)
        op(out, shifted, out=out)
    # out[k] now covers a[k : k + width]; centre it
    return np.take(out, (np.arange(n) - radius).clip(min=0), axis=axis)


def window_min_max(z: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(ny, nx) → per-vertex min and max over the (2r+1)² window; NaNs are ignored."""
    lo = np.where(np.isnan(z), np.float32(np.inf), z)
    hi = np.where(np.isnan(z), np.float32(-np.inf), z)
    for axis in (0, 1):
        lo = _window_extreme(lo, radius, axis, np.minimum)
        hi = _window_extreme(hi, radius, axis, np.maximum)
    return lo, hi


def edge_window_radius(nx: int, ny: int) -> int:
    """Half width in vertices of the edge-zone window for an ``nx`` × ``ny`` grid."""
    return max(1, round(EDGE_WINDOW * max(nx, ny)))


def sharpen_steps(z: np.ndarray, pitch: float, threshold: float) -> np.ndarray:
    """Snap blurred steps back to clean ones.

    z:         (ny, nx) float32 positive depth (NaN = none).
    pitch:     grid spacing in tan-space (2·tan(fov_x/2) / nx).
    threshold: slope above which log-depth counts as a discontinuity.
    Returns a new (ny, nx) float32 depth; vertices outside edge zones are unchanged.
    """
    ny, nx = z.shape
    radius = edge_window_radius(nx, ny)
    lo, hi = window_min_max(z, radius)
    with np.errstate(divide="ignore", invalid="ignore"):
        zone = np.log(hi / lo) > threshold * 2 * radius * pitch
        zone &= np.isfinite(z)
        nearer_lo = z * z < lo * hi
    return np.where(zone, np.where(nearer_lo, lo, hi), z).astype(np.float32, copy=False)


def triangle_slopes(z: np.ndarray, pitch_x: float, pitch_y: float) -> tuple[np.ndarray, np.ndarray]:
    """Slopes of the two triangles of every grid quad.

    z: (ny, nx) positive depth.  Quad (j, i) has corners a = (j, i), b = (j, i+1),
    c = (j+1, i), d = (j+1, i+1) and triangles (a, c, b) and (b, c, d).
    Returns two (ny−1, nx−1) float32 arrays (NaN where a corner is missing).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_z = np.log(z)
    d_h = np.abs(np.diff(log_z, axis=1)) * np.float32(1.0 / pitch_x)  # (ny, nx-1)
    d_v = np.abs(np.diff(log_z, axis=0)) * np.float32(1.0 / pitch_y)  # (ny-1, nx)
    d_d = np.abs(log_z[1:, :-1] - log_z[:-1, 1:]) * np.float32(1.0 / math.hypot(pitch_x, pitch_y))
    first = np.fmax(np.fmax(d_h[:-1], d_v[:, :-1]), d_d)
    second = np.fmax(np.fmax(d_h[1:], d_v[:, 1:]), d_d)
    missing = np.isnan(log_z)
    gap = missing[:-1, :-1] | missing[:-1, 1:] | missing[1:, :-1]
    first[gap] = np.nan
    gap = missing[:-1, 1:] | missing[1:, :-1] | missing[1:, 1:]
    second[gap] = np.nan
    return first, second
