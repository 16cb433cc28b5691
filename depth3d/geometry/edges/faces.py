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
from .grid_edges import EDGE_KINDS, KEEP, SPLIT, TEAR, Cuts, nonzero_2d
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
    cells: tuple[np.ndarray, np.ndarray]
    """(ny−1, nx−1) bool each: the cells whose whole first / second triangle those are (the masks
    :func:`~depth3d.geometry.mesh.grid_faces` made them of: ``compact``'s ``cells``)."""


class _MidIds:
    """Ids of the two midpoint vertices of every cut edge of one kind (at the sorted flat
    indices ``flat`` of its array, ``width`` wide), numbered from ``base`` in row-major order of
    the edges (two each): ``at(j, i, which)`` for cut edges at (j, i)."""

    def __init__(self, flat: np.ndarray, width: int, base: int) -> None:
        self.flat = flat
        self.width = width
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


def _edge_flags(code: np.ndarray, located: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(cut, tear, lost)`` bool of edges with ``code`` (and ``located``, or None): split at a
    midpoint (a SPLIT or a located edge), a TEAR, and a TEAR whose place is not known."""
    tear = code == TEAR
    if located is None:
        return code == SPLIT, tear, tear
    return (code == SPLIT) | located, tear, tear & ~located


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
    missing = np.isnan(q)
    if missing.any():
        valid = ~missing
        first_ok = valid[:-1, :-1] & valid[1:, :-1] & valid[:-1, 1:]
        second_ok = valid[:-1, 1:] & valid[1:, :-1] & valid[1:, 1:]
        del valid
    else:
        first_ok, second_ok = np.ones((2, ny - 1, nx - 1), bool)
    del missing
    if cuts is None:
        empty = np.zeros((0,), np.int32)
        return Triangulation(grid_faces(first_ok, second_ok), empty, empty,
                             np.zeros((0,), np.float32), np.zeros((0,), np.float32),
                             int(np.count_nonzero(first_ok)), int(np.count_nonzero(second_ok)),
                             (first_ok, second_ok))
    # per kind: marked (not KEEP, or located) and cut (split at a midpoint: a SPLIT, or located)
    placed = {kind: located[kind].located for kind in cuts} if located else None
    marked = {kind: c != KEEP if placed is None else (c != KEEP) | placed[kind] for kind, c in cuts.items()}
    cut_at = {kind: np.flatnonzero(c == SPLIT if placed is None else (c == SPLIT) | placed[kind])
              for kind, c in cuts.items()}  # flat indices of the cut edges, sorted
    ids_h = _MidIds(cut_at["h"], cuts["h"].shape[1], ny * nx)
    ids_v = _MidIds(cut_at["v"], cuts["v"].shape[1], ids_h.next)
    ids_d = _MidIds(cut_at["d"], cuts["d"].shape[1], ids_v.next)
    base = ids_d.next
    split: list[np.ndarray] = []
    counts = []
    cells = nx - 1
    for second, ok in enumerate((first_ok, second_ok)):
        # the triangle's edges as (kind, row offset, column offset) from its cell (j, i): the first
        # (a, c, b) has a→c v (j, i), c→b d (j, i), b→a h (j, i); the second (b, c, d) b→c d (j, i),
        # c→d h (j+1, i), d→b v (j, i+1)
        edges = ((("v", 0, 0), ("d", 0, 0), ("h", 0, 0)) if not second else
                 (("d", 0, 0), ("h", 1, 0), ("v", 0, 1)))
        # the cells with a marked edge: few (a sharp map) are worked on through their indices,
        # many (a noisy map) on the whole grid, the same way
        views = [marked[kind][dj:dj + ny - 1, di:di + cells] for kind, dj, di in edges]
        touched = views[0] | views[1] | views[2]
        dense = 4 * np.count_nonzero(touched) > touched.size
        if not dense:
            j, i = nonzero_2d(touched)
        per_edge = []
        for kind, dj, di in edges:
            if dense:
                at: tuple[slice, slice] | np.ndarray = (slice(dj, dj + ny - 1), slice(di, di + cells))
                code, here = cuts[kind][at], None if placed is None else placed[kind][at]
            else:
                at = (j + dj) * cuts[kind].shape[1] + (i + di)  # flat index of that edge of each touched cell
                code, here = cuts[kind].reshape(-1)[at], None if placed is None else placed[kind].reshape(-1)[at]
            per_edge.append(_edge_flags(code, here))
        del views, touched
        k = [f[0] for f in per_edge]  # cut
        n = k[0].astype(np.int8) + k[1] + k[2]
        torn = per_edge[0][1] | per_edge[1][1] | per_edge[2][1]
        if not located:  # every TEAR is unplaced
            bad = torn
        else:
            bad = per_edge[0][2] | per_edge[1][2] | per_edge[2][2] | (torn & (n < 2))
        good = (ok if dense else ok[j, i]) & ~bad
        s = good & (n >= 2)  # split
        if dense:
            np.logical_and(good, n < 2, out=ok)  # now: the whole triangles
            j, i = nonzero_2d(s)
        else:
            ok[j, i] = good & (n < 2)
            j, i = j[s], i[s]
        counts.append(int(np.count_nonzero(ok)))
        a = (j * nx + i).astype(np.int32)
        b, c, d = a + np.int32(1), a + np.int32(nx), a + np.int32(nx + 1)
        # mids: h edge (j, i) is a–b ([0] on a, [1] on b), h (j+1, i) c–d; v (j, i) a–c,
        # v (j, i+1) b–d; d (j, i) b–c ([0] on b, [1] on c)
        if not second:  # first triangle (a, c, b): edges a→c, c→b, b→a
            split += _split(
                (a, c, b), (k[0][s], k[1][s], k[2][s]),
                ((ids_v.at(j, i, 0), ids_v.at(j, i, 1)), (ids_d.at(j, i, 1), ids_d.at(j, i, 0)),
                 (ids_h.at(j, i, 1), ids_h.at(j, i, 0))),
            )
        else:  # second triangle (b, c, d): edges b→c, c→d, d→b
            split += _split(
                (b, c, d), (k[0][s], k[1][s], k[2][s]),
                ((ids_d.at(j, i, 0), ids_d.at(j, i, 1)), (ids_h.at(j + 1, i, 0), ids_h.at(j + 1, i, 1)),
                 (ids_v.at(j, i + 1, 1), ids_v.at(j, i + 1, 0))),
            )
    n_first, n_second = counts
    faces = grid_faces(first_ok, second_ok, *split)

    # split vertices, in id order: per edge kind, per cut edge, (first end, second end)
    parts: tuple[list[np.ndarray], ...] = ([], [], [], [])
    own_, other_, mq_, mt_ = parts
    for kind in ("h", "v", "d"):
        (oj, oi), (sj, si) = EDGE_KINDS[kind]
        ej, ei = np.divmod(cut_at[kind], cuts[kind].shape[1])
        gv = ((ej + oj) * nx + (ei + oi)).astype(np.int32)
        gu = ((ej + oj + sj) * nx + (ei + oi + si)).astype(np.int32)
        qv, qu = half_steps(q, cuts, kind, ej, ei, params)
        tv, tu = np.full(len(qv), 0.5, np.float32), np.full(len(qv), 0.5, np.float32)
        if located:
            here, t_v, q_v, t_u, q_u = (x.reshape(-1)[cut_at[kind]] for x in located[kind])
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
    return Triangulation(faces, own, other, mq, mt, n_first, n_second, (first_ok, second_ok))
