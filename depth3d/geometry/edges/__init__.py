"""Depth discontinuities: where a surface ends and another, farther one begins.

Everything is judged on disparity q = 1/depth, in which every plane is linear across the image
(so a grazing floor or open ground is as smooth as a wall seen face-on), only by ratios of q,
so scaling the scene changes nothing, and over distances that are fractions of the grid (or
angles), so resampling changes nothing either.  Four stages, a module each:

1. :mod:`~depth3d.geometry.edges.sharpen` — blurred steps and rounded creases made sharp again
   (:func:`sharpen_steps`, :func:`restore_creases`), from each side's continuation of its own
   surface along rows, columns and diagonals (:mod:`~depth3d.geometry.edges.lines`).
2. :mod:`~depth3d.geometry.edges.cut` — which grid edges cross a discontinuity (:func:`cut_edges`):
   KEEP, SPLIT (mend the triangles, each surface extended halfway) or TEAR (leave a gap).
3. :mod:`~depth3d.geometry.edges.locate` — a coarse grid's cuts from a finer grid's
   (:func:`coarsen_cuts`), and where on each coarse edge the step lies (:func:`locate_cuts`).
4. :mod:`~depth3d.geometry.edges.faces` — the grid's triangles, split across cut edges where the step is
   (:func:`triangulate`).

The tuning constants are one frozen dataclass (:class:`EdgeParams`, :mod:`~depth3d.geometry.edges.params`);
every stage takes ``params`` (None: :data:`~depth3d.geometry.edges.params.DEFAULT_PARAMS`).  Edge arrays
and codes: :mod:`~depth3d.geometry.edges.grid_edges`.  Vectorised numpy only (it also runs inside Blender).
"""
from __future__ import annotations

from .cut import cut_edges, edges_apart
from .faces import Triangulation, triangulate
from .grid_edges import EDGE_KINDS, KEEP, SPLIT, TEAR, Cuts
from .locate import LocatedCuts, coarsen_cuts, half_steps, locate_cuts
from .params import DEFAULT_EDGE_THRESHOLD, DEFAULT_PARAMS, EdgeParams, edge_window_radius
from .sharpen import restore_creases, sharpen_steps

__all__ = [
    "DEFAULT_EDGE_THRESHOLD", "DEFAULT_PARAMS", "EDGE_KINDS", "KEEP", "SPLIT", "TEAR", "Cuts", "EdgeParams",
    "LocatedCuts", "Triangulation", "coarsen_cuts", "cut_edges", "edge_window_radius", "edges_apart",
    "half_steps", "locate_cuts", "restore_creases", "sharpen_steps", "triangulate",
]
