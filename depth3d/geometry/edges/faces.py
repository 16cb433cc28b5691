"""Stage 4: the faces of the vertex grid, with triangles across cut edges split where the step is.

Triangles without cut edges are kept; a triangle across a step is split at its cut edges'
midpoints and every corner keeps the part nearest to it, extended half a step along its own
surface (continued linearly where the surface is a plane, level where it curves — it may be
curving away at its silhouette), so the two surfaces meet halfway instead of leaving a whole
cell uncovered.  Where the two sides' surfaces would cross (a crease too coarse to resolve, or a
steep surface ending in front of another) the triangles are dropped.  A coarse grid whose edges
a finer one found (:func:`~depth3d.geometry.edges.locate.locate_cuts`) is split where the fine grid placed
the step instead of at the middle, and its TEARs leave a gap one fine step wide instead of
dropping whole cells.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..mesh import grid_faces
from .grid_edges import EDGE_KINDS, SPLIT, TEAR, Cuts
from .locate import LocatedCuts, half_steps
from .params import EdgeParams

__all__ = ["Triangulation", "triangulate"]


class Triangulation(NamedTuple):
    """Faces of a vertex grid and the split vertices they add (:func:`triangulate`)."""

    faces: np.ndarray
    """(F, 3) int32, counter-clockwise seen from the camera, indexing the ny·nx grid vertices
    (row-major) followed by the M split vertices: ``faces[:first]`` are grid cells' first
    triangles (a, a+nx, a+1), ``faces[first:first + second]`` their second triangles
    (a+1, a+nx, a+nx+1), cells row-major (:func:`~depth3d.geometry.mesh.grid_faces`), then the
    split ones (:class:`~depth3d.geometry.types.GridLayout`)."""
    mid_own: np.ndarray
    """(M,) int32 flat grid index of the corner on whose surface each split vertex lies."""
    mid_other: np.ndarray
    """(M,) int32 flat grid index of the other end of its edge."""
    mid_q: np.ndarray
    """(M,) float32 disparity of each split vertex."""
    mid_t: np.ndarray
    """(M,) float32 place on its edge: the fraction of the way from its own corner to the other
    end (one that falls on its corner, 0, is not used by any face)."""
    first: int
    """How many faces, at the start, are grid cells' whole first triangles."""
    second: int
    """How many faces, after those, are grid cells' whole second triangles."""


class _MidIds:
    """Ids of the two midpoint vertices of every cut edge of one kind, numbered from ``base`` in
    row-major order of the edges (two each): ``at(j, i, which)`` for cut edges at (j, i)."""

    def __init__(self, cut: np.ndarray, base: int) -> None:
        self.flat = np.flatnonzero(cut)
        self.width = cut.shape[1]
        self.base = base
        self.next = base + 2 * len(self.flat)

    def at(self, j: np.ndarray, i: np.ndarray, which: int) -> np.ndarray:
        rank = np.searchsorted(self.flat, j * self.width + i)
        return (self.base + 2 * rank + which).astype(np.int32)


def _split(corners: tuple[np.ndarray, ...], cut: tuple[np.ndarray, ...],
           mids: tuple[tuple[np.ndarray, np.ndarray], ...]) -> list[np.ndarray]:
    """Faces of triangles (P0, P1, P2) with edges e01, e12, e20 split at cut-edge midpoints.

    corners: three (T,) vertex ids; cut: three (T,) bool for e01, e12, e20; mids: for each
    edge, two (T,) ids — the midpoint on the surface of its first and of its second corner
    (edge e01 runs P0→P1, e12 P1→P2, e20 P2→P0).
    """
    p0, p1, p2 = corners
    k01, k12, k20 = cut
    (a01, b01), (a12, b12), (a20, b20) = mids  # a: on the edge's first corner, b: second
    faces: list[np.ndarray] = []

    def add(mask: np.ndarray, *tri: np.ndarray) -> None:
        if mask.any():
            faces.append(np.stack([t[mask] for t in tri], axis=1))

    lone0 = k01 & k20 & ~k12
    add(lone0, p0, a01, b20)
    add(lone0, b01, p1, p2)
    add(lone0, b01, p2, a20)
    lone1 = k01 & k12 & ~k20
    add(lone1, p1, a12, b01)
    add(lone1, b12, p2, p0)
    add(lone1, b12, p0, a01)
    lone2 = k12 & k20 & ~k01
    add(lone2, p2, a20, b12)
    add(lone2, b20, p0, p1)
    add(lone2, b20, p1, a12)
    three = k01 & k12 & k20
    add(three, p0, a01, b20)
    add(three, p1, a12, b01)
    add(three, p2, a20, b12)
    return faces


def _triangle_edges(e: dict[str, np.ndarray]) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Per-edge arrays → the edges of each grid cell's two triangles, (ny−1, nx−1) each:
    ``((ab, ac, bc), (bc, cd, bd))`` for the cell a = (j, i), b = (j, i+1), c = (j+1, i),
    d = (j+1, i+1), whose first triangle is (a, c, b) and second (b, c, d)."""
    return ((e["h"][:-1], e["v"][:, :-1], e["d"]), (e["d"], e["h"][1:], e["v"][:, 1:]))


def triangulate(q: np.ndarray, cuts: Cuts | None, located: dict[str, LocatedCuts] | None = None,
                params: EdgeParams | None = None) -> Triangulation:
    """Faces of the vertex grid, with triangles across cut edges split where the step is.

    q:    (ny, nx) disparity, NaN where there is no point (triangles touching it are dropped).
    cuts: :func:`~depth3d.geometry.edges.cut.cut_edges`, or ``None`` to keep every triangle whole.
    located: :func:`~depth3d.geometry.edges.locate.locate_cuts` for a grid whose steps a finer one
          placed: a cut edge it locates is split there, its TEARs included (each side up to its
          fine cut, the gap a fine step wide); ``None``: every cut edge is split at its middle
          (:func:`~depth3d.geometry.edges.locate.half_steps`) and triangles with a TEAR are dropped.
    params: the tuning constants (:class:`~depth3d.geometry.edges.params.EdgeParams`; None: the defaults).
    Returns a :class:`Triangulation`.
    """
    ny, nx = q.shape
    valid = ~np.isnan(q)
    first_ok = valid[:-1, :-1] & valid[1:, :-1] & valid[:-1, 1:]
    second_ok = valid[:-1, 1:] & valid[1:, :-1] & valid[1:, 1:]
    if cuts is None:
        empty = np.zeros((0,), np.int32)
        return Triangulation(grid_faces(first_ok, second_ok), empty, empty,
                             np.zeros((0,), np.float32), np.zeros((0,), np.float32),
                             int(np.count_nonzero(first_ok)), int(np.count_nonzero(second_ok)))
    tear = {kind: c == TEAR for kind, c in cuts.items()}
    if located:
        cut = {kind: (c == SPLIT) | located[kind].located for kind, c in cuts.items()}
        unplaced = _triangle_edges({kind: tear[kind] & ~located[kind].located for kind in cuts})
    else:  # every TEAR is unplaced
        cut = {kind: c == SPLIT for kind, c in cuts.items()}
        unplaced = None
    ch, cv, cd = cut["h"], cut["v"], cut["d"]
    (ab, ac, bc), (_, cdd, bd) = _triangle_edges(cut)
    # a step crosses a triangle through two of its edges; one cut edge alone (the step passes
    # a corner, or a coarse cell's neighbour saw it) leaves the triangle whole — or drops it,
    # when that edge is a TEAR; so does a TEAR whose place is not known
    first_n = ab.astype(np.int8) + ac + bc
    second_n = bc.astype(np.int8) + cdd + bd
    tears = _triangle_edges(tear)
    for side, (ok, n) in enumerate(((first_ok, first_n), (second_ok, second_n))):
        t = tears[side]
        if unplaced is None:
            ok &= ~(t[0] | t[1] | t[2])
        else:
            lost = unplaced[side]
            ok &= ~(lost[0] | lost[1] | lost[2] | ((t[0] | t[1] | t[2]) & (n < 2)))
    first_cut = first_n >= 2
    second_cut = second_n >= 2

    ids_h = _MidIds(ch, ny * nx)
    ids_v = _MidIds(cv, ids_h.next)
    ids_d = _MidIds(cd, ids_v.next)
    base = ids_d.next
    split: list[np.ndarray] = []
    for second, s in enumerate((first_ok & first_cut, second_ok & second_cut)):
        j, i = np.nonzero(s)
        a = (j * nx + i).astype(np.int32)
        b, c, d = a + np.int32(1), a + np.int32(nx), a + np.int32(nx + 1)
        # mids: h edge (j, i) is a–b ([0] on a, [1] on b), h (j+1, i) c–d; v (j, i) a–c,
        # v (j, i+1) b–d; d (j, i) b–c ([0] on b, [1] on c)
        if not second:  # first triangle (a, c, b): edges a→c, c→b, b→a
            split += _split(
                (a, c, b), (ac[s], bc[s], ab[s]),
                ((ids_v.at(j, i, 0), ids_v.at(j, i, 1)), (ids_d.at(j, i, 1), ids_d.at(j, i, 0)),
                 (ids_h.at(j, i, 1), ids_h.at(j, i, 0))),
            )
        else:  # second triangle (b, c, d): edges b→c, c→d, d→b
            split += _split(
                (b, c, d), (bc[s], cdd[s], bd[s]),
                ((ids_d.at(j, i, 0), ids_d.at(j, i, 1)), (ids_h.at(j + 1, i, 0), ids_h.at(j + 1, i, 1)),
                 (ids_v.at(j, i + 1, 1), ids_v.at(j, i + 1, 0))),
            )
    first_whole, second_whole = first_ok & ~first_cut, second_ok & ~second_cut
    n_first, n_second = int(np.count_nonzero(first_whole)), int(np.count_nonzero(second_whole))
    faces = grid_faces(first_whole, second_whole, *split)
    del first_whole, second_whole

    # split vertices, in id order: per edge kind, per cut edge, (first end, second end)
    parts: tuple[list[np.ndarray], ...] = ([], [], [], [])
    own_, other_, mq_, mt_ = parts
    for kind, sel in (("h", ch), ("v", cv), ("d", cd)):
        (oj, oi), (sj, si) = EDGE_KINDS[kind]
        ej, ei = np.nonzero(sel)
        gv = ((ej + oj) * nx + (ei + oi)).astype(np.int32)
        gu = ((ej + oj + sj) * nx + (ei + oi + si)).astype(np.int32)
        qv, qu = half_steps(q, cuts, kind, ej, ei, params)
        tv, tu = np.full(len(qv), 0.5, np.float32), np.full(len(qv), 0.5, np.float32)
        if located:
            here, t_v, q_v, t_u, q_u = (x[sel] for x in located[kind])
            qv, qu = np.where(here, q_v, qv), np.where(here, q_u, qu)
            tv, tu = np.where(here, t_v, tv), np.where(here, np.float32(1.0) - t_u, tu)
        own_.append(np.stack([gv, gu], axis=1).ravel())
        other_.append(np.stack([gu, gv], axis=1).ravel())
        mq_.append(np.stack([qv, qu], axis=1).ravel())
        mt_.append(np.stack([tv, tu], axis=1).ravel())
    own, other = np.concatenate(own_), np.concatenate(other_)
    mq = np.concatenate(mq_).astype(np.float32, copy=False)
    mt = np.concatenate(mt_).astype(np.float32, copy=False)
    if located:
        # a side that ends at its own corner is that corner: its slivers are no triangles (the
        # grid's own triangles have no split vertex: they keep their places)
        at_corner = np.flatnonzero(mt <= 0)
        if len(at_corner):
            remap = np.arange(base, dtype=np.int32)
            remap[ny * nx + at_corner] = own[at_corner]
            faces = remap[faces]
            faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])]
    return Triangulation(faces, own, other, mq, mt, n_first, n_second)
