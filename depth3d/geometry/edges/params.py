"""The edge rule's tuning constants, in one frozen dataclass (:class:`EdgeParams`).

Every quantity is dimensionless: disparities are compared as ratios (relative to the disparity
there), distances are grid steps or fractions of the grid, slopes are per unit of tan-angle.
The user's own knob, the threshold (:data:`DEFAULT_EDGE_THRESHOLD`), is passed separately; some
constants are shares of it.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_EDGE_THRESHOLD", "DEFAULT_PARAMS", "EdgeParams", "edge_window_radius", "resolve"]

DEFAULT_EDGE_THRESHOLD = 0.02  # relative disparity mismatch that counts as a discontinuity


@dataclass(frozen=True)
class EdgeParams:
    """Constants of :mod:`depth3d.geometry.edges`, grouped by the stage that reads them."""

    # the window (all stages)
    edge_window: float = 0.005
    """Sharpening window as a fraction of the grid's long side (at least a blurred step's width)."""
    min_window: int = 2
    """Smallest window, grid steps."""

    # sharpen: side predictions (depth3d.geometry.edges.lines)
    min_reach: int = 3
    """A side is continued from samples no nearer than radius / min_reach (clear of the ramp)."""
    ramp_straight: float = 0.5
    """A side's parabola departs from its straight line at the vertex by less than this × threshold
    (relative): its curvature is trusted only as far as it cannot make a step of its own."""

    # sharpen: which vertices are on a ramp (depth3d.geometry.edges.sharpen.sharpen_steps)
    ramp_margin: float = 0.03
    """A ramp vertex is off both side predictions by more than this (relative to the nearer) ..."""
    ramp_margin_blurred: float = 0.015
    """... or by this, beside a blurred step (no single grid step makes most of the gap) ..."""
    ramp_margin_behind: float = 0.01
    """... or by this, when the nearer prediction is the surface behind."""
    ramp_tail: float = 0.1
    """A ramp vertex is within this (relative) of the nearer prediction (a ramp's tail) ..."""
    ramp_slope: float = 0.25
    """... or on a slope of this share of the mean slope of a ramp 2·radius wide ..."""
    ramp_relative_slope: float = 0.02
    """... or of this share of its own disparity per grid step."""
    ramp_sharp: float = 0.6
    """A single grid step of more than this share of the gap makes a sharp step."""
    curving_away: float = 0.004
    """A front surface whose continuation bends by more than this (relative) onto a ramp is curving
    away at its silhouette (dropped with ``drop_curving``)."""

    # sharpen: creases (depth3d.geometry.edges.sharpen.restore_creases)
    crease_min: float = 0.004
    """A rounded crease: the vertex is off both sides' predictions by more than this (relative) ..."""
    crease_bend: float = 4.0
    """... and by this many times more than the sides' own curvature explains."""

    # cut (depth3d.geometry.edges.cut.cut_edges)
    zone_slope: float = 8.0
    """|d log depth| per unit of tan-angle (≈ 83° from face-on) above which an edge near a step is torn ..."""
    zone_plane: float = 0.1
    """... unless it lies on a plane this straight (relative, × threshold): a window beyond both ends ..."""
    zone_plane_reach: int = 2
    """... or, between vertices sharpening left alone, this many windows beyond one end."""

    # split vertices (depth3d.geometry.edges.locate.half_steps)
    extend_straight: float = 0.0005
    """A side is continued linearly to a split edge's midpoint only where its last three samples are
    this straight (second difference relative to the disparity); else it is extended level."""

    def window_radius(self, nx: int, ny: int) -> int:
        """Sharpening window in grid steps for an ``nx`` × ``ny`` grid."""
        return max(self.min_window, round(self.edge_window * max(nx, ny)))


DEFAULT_PARAMS = EdgeParams()


def resolve(params: EdgeParams | None) -> EdgeParams:
    """``params``, or :data:`DEFAULT_PARAMS` (looked up at each call) for ``None``."""
    return DEFAULT_PARAMS if params is None else params


def edge_window_radius(nx: int, ny: int, params: EdgeParams | None = None) -> int:
    """Sharpening window in grid steps for an ``nx`` × ``ny`` grid (:meth:`EdgeParams.window_radius`)."""
    return resolve(params).window_radius(nx, ny)
