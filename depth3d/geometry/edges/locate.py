"""Stage 3: a coarse grid's cuts from a finer one — which of its edges are cut, and where.

A vertex grid coarser than the map's detail finds its edges on a grid k times finer: each
coarse edge takes the strongest verdict of the fine edges along it (:func:`coarsen_cuts`), and
is split where the fine grid placed the step, not at its middle (:func:`locate_cuts`).  Each
side's surface is extended half a step towards the other (:func:`half_steps`), so the two
surfaces meet halfway instead of leaving a whole step uncovered.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .grid_edges import EDGE_KINDS, KEEP, SPLIT, Cuts, edge_shape
from .params import EdgeParams, resolve

__all__ = ["LocatedCuts", "coarsen_cuts", "half_steps", "locate_cuts"]


class LocatedCuts(NamedTuple):
    """Where a fine grid placed the step on each cut edge of one kind of a coarse grid; arrays of
    that kind's edge shape (:func:`locate_cuts`).  Fractions run from the edge's first end v
    towards its second end u."""

    located: np.ndarray
    """bool: the coarse edge is cut and has fine cuts along it (the other fields hold there)."""
    t_v: np.ndarray
    """float32 fraction of the edge where v's surface ends."""
    q_v: np.ndarray
    """float32 disparity of v's surface there."""
    t_u: np.ndarray
    """float32 fraction of the edge where u's surface begins."""
    q_u: np.ndarray
    """float32 disparity of u's surface there."""


def _along_coarse(a: np.ndarray, kind: str, k: int, ny: int, nx: int, ends: bool = False) -> np.ndarray:
    """The fine grid's ``kind`` edges (``ends``: its vertices) along each ``kind`` edge of the
    (ny, nx) grid of every k-th fine vertex, first end to second: (k, *edge shape), or
    (k + 1, *edge shape) for the vertices."""
    shape = edge_shape(kind, ny, nx)
    n = k + 1 if ends else k
    # the m-th fine edge (vertex) of coarse edge (J, I) sits at fine (J·k + oj·k + m·sj, ...)
    (oj, oi), (sj, si) = EDGE_KINDS[kind]
    lift = -1 if (kind == "d" and not ends) else 0  # a fine "d" edge is named by its (j, i+1) end
    return np.stack([a[oj * k + m * sj::k, oi * k + m * si + lift::k][:shape[0], :shape[1]]
                     for m in range(n)])


def coarsen_cuts(cuts: Cuts, k: int, ny: int, nx: int) -> Cuts:
    """:func:`~depth3d.geometry.edges.cut.cut_edges` codes of a grid ``k`` times finer → those of the
    (ny, nx) grid of every k-th vertex: each coarse edge takes the strongest code
    (KEEP < SPLIT < TEAR) of the k fine edges along it (a diagonal runs through the fine
    diagonals of its k cells)."""
    return {kind: _along_coarse(c, kind, k, ny, nx).max(axis=0) for kind, c in cuts.items()}


def locate_cuts(q: np.ndarray, cuts: Cuts, k: int, coarse_cuts: Cuts,
                params: EdgeParams | None = None) -> dict[str, LocatedCuts]:
    """Where each side's surface ends on the cut edges of a coarse grid, from a grid ``k`` times
    finer: the coarse cell is split where the fine grid found the step, not at its middle.

    q:    (k·(ny−1)+1, k·(nx−1)+1) float32 fine disparity (sharpened); ``cuts`` its
          :func:`~depth3d.geometry.edges.cut.cut_edges`; coarse_cuts: those of the (ny, nx) grid of every
          k-th vertex.
    Returns ``{kind: LocatedCuts}``.  A side runs up to the fine cut nearest to it: to its
    middle, extended half a fine step (:func:`half_steps`), at a SPLIT; to its near end at a TEAR.
    """
    ny, nx = coarse_cuts["h"].shape[0], coarse_cuts["v"].shape[1]
    assert q.shape == (k * (ny - 1) + 1, k * (nx - 1) + 1), (q.shape, k, ny, nx)
    out = {}
    for kind, code in cuts.items():
        c = _along_coarse(code, kind, k, ny, nx)
        located = (coarse_cuts[kind] != KEEP) & (c != KEEP).any(axis=0)
        jj, ii = np.nonzero(located)
        c = c[:, jj, ii]
        n = np.arange(len(jj))
        m1 = np.argmax(c != KEEP, axis=0)  # the fine cut nearest to v, and to u
        m2 = k - 1 - np.argmax(c[::-1] != KEEP, axis=0)
        split1, split2 = c[m1, n] == SPLIT, c[m2, n] == SPLIT
        (oj, oi), (sj, si) = EDGE_KINDS[kind]
        # fine vertex m along coarse edge (j, i), which starts at coarse vertex (j + oj, i + oi);
        # the fine edge from it is named by its own first end less (oj, oi)
        fj, fi = (jj + oj) * k, (ii + oi) * k
        # the fine edges m1 (v's side ends there) and m2 (u's begins), extended in one pass
        fine_j = np.concatenate([fj + m1 * sj, fj + m2 * sj]) - oj
        fine_i = np.concatenate([fi + m1 * si, fi + m2 * si]) - oi
        ext_v, ext_u = half_steps(q, cuts, kind, fine_j, fine_i, params)
        ext_v, ext_u = ext_v[:len(jj)], ext_u[len(jj):]
        q_v = np.where(split1, ext_v, q[fj + m1 * sj, fi + m1 * si])
        q_u = np.where(split2, ext_u, q[fj + (m2 + 1) * sj, fi + (m2 + 1) * si])
        ok = np.isfinite(q_v) & np.isfinite(q_u)  # a fine vertex with no point is no end
        located[jj[~ok], ii[~ok]] = False
        fields = [np.zeros(located.shape, np.float32) for _ in range(4)]
        for field, value in zip(fields, ((m1 + np.where(split1, 0.5, 0.0)) / k, q_v,
                                         (m2 + np.where(split2, 0.5, 1.0)) / k, q_u)):
            field[jj[ok], ii[ok]] = value[ok]
        out[kind] = LocatedCuts(located, *fields)
    return out


def half_steps(q: np.ndarray, cuts: Cuts, kind: str, jj: np.ndarray, ii: np.ndarray,
               params: EdgeParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each end's surface extended half a step along the ``kind`` edges at (jj, ii) towards
    the other end: ``(q_v, q_u)``, (E,) disparities.  Linearly, where the edge behind the end
    is uncut and the three samples up to the end lie on a line within ``extend_straight`` (a
    plane); else level (a curved surface may be curving away at its silhouette).
    """
    straight = np.float32(resolve(params).extend_straight)
    (oj, oi), (sj, si) = EDGE_KINDS[kind]
    ny, nx = q.shape
    # samples along the line, the border value repeated beyond it
    vbb, vb, v, u, ub, ubb = (q[np.clip(oj + m * sj + jj, 0, ny - 1), np.clip(oi + m * si + ii, 0, nx - 1)]
                              for m in range(-2, 4))
    # is the edge behind each end (v′–v, u–u′) uncut?  Beyond the border counts as cut.
    behind_v = ~_cut_at(cuts[kind], jj - sj, ii - si)
    behind_u = ~_cut_at(cuts[kind], jj + sj, ii + si)
    with np.errstate(invalid="ignore"):
        flat_v = behind_v & (np.abs(vbb - 2 * vb + v) < straight * v)
        flat_u = behind_u & (np.abs(ubb - 2 * ub + u) < straight * u)
        q_v = np.where(flat_v & (1.5 * v - 0.5 * vb > 0), 1.5 * v - 0.5 * vb, v)
        q_u = np.where(flat_u & (1.5 * u - 0.5 * ub > 0), 1.5 * u - 0.5 * ub, u)
    return q_v, q_u


def _cut_at(code: np.ndarray, j: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Whether the edges of ``code`` (cut_edges' codes of one kind) at (j, i) are cut; True off the grid."""
    h, w = code.shape
    inside = (j >= 0) & (j < h) & (i >= 0) & (i < w)
    return ~inside | (code[np.clip(j, 0, h - 1), np.clip(i, 0, w - 1)] != KEEP)
