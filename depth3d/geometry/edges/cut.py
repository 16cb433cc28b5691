"""Stage 2: which grid edges cross a discontinuity, and how to mend the triangles there.

A grid edge (horizontal, vertical or diagonal) is a discontinuity when each of its ends is
predicted badly from the other side: ``|q_u − (2·q_v − q_v′)|`` above the threshold relative to
q, both ways.  Planes predict exactly, curved surfaces and creases almost.  Near a discontinuity
(within the window) or on a ramp sharpening left alone, an edge steeper than ``zone_slope``
(about 83° from face-on) is what is left of a ramp and is torn too — unless it lies on a plane
(grazing ground, a wall edge-on): one that runs straight two windows beyond one of its ends, or,
where sharpening moved one of its ends onto the surface behind, a window beyond both.
"""
from __future__ import annotations

import numpy as np

from .grid_edges import EDGE_KINDS, KEEP, TEAR, Cuts, edge_ends, edge_shape, nonzero_2d, relative, window_extreme
from .lines import Region, straddles, window_ends
from .params import EdgeParams, resolve
from .tiles import TileCache, Window, quiet_tiles, run_windows, tiling

__all__ = ["cut_edges", "edges_apart"]


def cut_edges(q: np.ndarray, threshold: float, radius: int = 0,
              pitch: tuple[float, float] = (0.0, 0.0),
              measured: np.ndarray | None = None, params: EdgeParams | None = None,
              tiles: TileCache | None = None) -> Cuts:
    """Which grid edges cross a discontinuity, and how to mend the triangles there.

    q:      (ny, nx) float32 disparity, NaN where there is no point.
    radius: the window (:func:`~depth3d.geometry.edges.params.edge_window_radius`) around discontinuities
            in which edges steeper than ``zone_slope`` are torn; 0 for none.
    pitch:  grid spacing (x, y) in tan-angle units (the relief plane: in units of its width).
    measured: (ny, nx) float32, ``q`` before sharpening (:mod:`depth3d.geometry.edges.sharpen`);
            ``None`` when not known (every vertex is then in doubt).
    params: the tuning constants (:class:`~depth3d.geometry.edges.params.EdgeParams`; None: the defaults).
    tiles:  tile statistics shared with the stages before (:class:`~depth3d.geometry.edges.tiles.TileCache`).
    Returns ``{"h": (ny, nx−1), "v": (ny−1, nx), "d": (ny−1, nx−1)}`` uint8 arrays:
    ``KEEP`` (continuous), ``SPLIT`` (a step: split its triangles, each surface extended halfway)
    or ``TEAR`` (a step whose two surfaces, continued, cross within the edge — a crease too
    coarse to tell, or a steep surface ending in front of another: no extension, leave a gap).
    """
    p = resolve(params)
    ny, nx = q.shape
    # an edge's code depends on vertices up to 2·radius + 3 away (_on_plane's reach beyond an
    # end, and the window around steps): computed in windows with that halo, it is the same;
    # and where the grid is within rho of a plane, nothing continued across an edge or a window
    # misses by 4·rho (:mod:`depth3d.geometry.edges.tiles`): far below the threshold, every edge is KEEP
    halo = 2 * radius + 4
    t, quiet = tiling(q, halo, lambda stats: quiet_tiles(stats, 4.0, lambda lo, hi: 0.5 * threshold * lo), tiles)
    cuts = {kind: np.zeros(edge_shape(kind, ny, nx), np.uint8) for kind in EDGE_KINDS}  # KEEP

    def work(w: Window) -> None:
        own = (slice(w.lo - w.a, w.hi - w.a), slice(w.left - w.c, w.right - w.c))
        part = _cut_edges(q[w.a:w.b, w.c:w.d], threshold, radius, pitch,
                          None if measured is None else measured[w.a:w.b, w.c:w.d], p, own)
        for kind, code in part.items():
            # edge (j, i) goes with vertex (j, i): "h" edges stop a column, "v" a row short
            # of the grid's end, "d" both
            rows, cols = edge_shape(kind, ny, nx)
            end, right = min(w.hi, rows), min(w.right, cols)
            cuts[kind][w.lo:end, w.left:right] = code[w.lo - w.a:end - w.a, w.left - w.c:right - w.c]

    run_windows(q.shape, halo, t, quiet, work)
    return cuts


def _cut_edges(q: np.ndarray, threshold: float, radius: int, pitch: tuple[float, float],
               measured: np.ndarray | None, p: EdgeParams, own: Region = (slice(None), slice(None))) -> Cuts:
    """:func:`cut_edges` on ``q``, right for the edges (j, i) with (j, i) in ``own`` (rows and
    columns of ``q``; the rest is read: the steps near them, the planes they may lie on)."""
    ny, nx = q.shape
    r0, r1 = own[0].indices(ny)[:2]
    c0, c1 = own[1].indices(nx)[:2]
    padded = np.pad(q, 1, mode="edge")
    holes = bool(np.isnan(q).any())
    # the steps that matter: own's edges, and those within the window around their ends
    m = radius + 1 if radius else 0
    block = (slice(max(0, r0 - m), min(ny, r1 + m)), slice(max(0, c0 - m), min(nx, c1 + m)))
    cuts = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for kind in EDGE_KINDS:
            vb, v, u, ub = (x[block] for x in edge_ends(padded, kind, ny, nx, 1))
            if holes:
                vb = np.where(np.isnan(vb), v, vb)  # a missing neighbour predicts by copying
                ub = np.where(np.isnan(ub), u, ub)
            pred_u, pred_v = v * 2, u * 2
            pred_u -= vb
            pred_v -= ub
            # Both surfaces continued across the edge must miss the other end; and they must not
            # cross on the way (that is a crease: two surfaces meeting within the edge).
            step = np.fmin(relative(u, pred_u), relative(v, pred_v)) > threshold
            part = step.astype(np.uint8)  # SPLIT where True, else KEEP
            if 8 * np.count_nonzero(step) > step.size:  # many steps (a noisy map): on the whole grid
                cross = (u - pred_u) * (pred_v - v) <= 0
                cross &= step
                part[cross] = TEAR
            else:
                tj, ti = nonzero_2d(step)
                cross = (u[tj, ti] - pred_u[tj, ti]) * (pred_v[tj, ti] - v[tj, ti]) <= 0
                part[tj[cross], ti[cross]] = TEAR
            code = np.zeros(edge_shape(kind, ny, nx), np.uint8)  # KEEP beyond the block
            code[block] = part
            cuts[kind] = code
        if not radius:
            return cuts
        # Near a step (within the window), an edge steeper than zone_slope is what is left of
        # a blurred ramp: tear it.  Far from steps, steep surfaces (grazing ground) are kept.
        near = np.zeros((ny, nx), np.uint8)
        for kind, code in cuts.items():
            (oj, oi), (sj, si) = EDGE_KINDS[kind]
            hit = (code != KEEP).astype(np.uint8)
            h0, w0 = code.shape
            near[oj:oj + h0, oi:oi + w0] |= hit
            near[oj + sj:oj + sj + h0, oi + si:oi + si + w0] |= hit
        for axis in (0, 1):
            near = window_extreme(near, radius, axis, np.maximum)
        guessed = None
        if measured is not None:
            guessed = q < measured  # lowered by sharpening (NaN: False)
            # the ends of the edges in own: a ramp there puts them in the zone
            ends = (slice(r0, min(ny, r1 + 1)), slice(c0, min(nx, c1 + 1)))
            near[ends] |= _unsharpened_ramps(q, measured, radius, threshold, ends)
        zone = np.pad(near.astype(bool), 1, mode="edge")
        padded_nan = None
        for kind, code in cuts.items():
            _, zv, zu, _ = edge_ends(zone, kind, ny, nx, 1)
            (oj, oi), (sj, si) = EDGE_KINDS[kind]
            mine = (slice(r0, r1), slice(c0, c1))  # the edges in own
            ej, ei = nonzero_2d((zv[mine] | zu[mine]) & (code[mine] == KEEP))
            ej += r0
            ei += c0
            lv, lu = np.log(q[ej + oj, ei + oi]), np.log(q[ej + oj + sj, ei + oi + si])
            length = {"h": pitch[0], "v": pitch[1], "d": float(np.hypot(*pitch))}[kind]
            steep = np.abs(lu - lv) > p.zone_slope * length
            # ... unless it lies on a plane (grazing ground, a wall seen edge-on), not a ramp
            # between two surfaces
            ej, ei = ej[steep], ei[steep]
            if padded_nan is None:  # beyond the grid there is no plane: NaN
                padded_nan = np.pad(q, _plane_reach(radius, guessed, p) + 1, constant_values=np.nan)
            plane = _on_plane(padded_nan, kind, ej, ei, radius, threshold, guessed, p)
            code[ej[~plane], ei[~plane]] = TEAR
    return cuts


def _plane_reach(radius: int, guessed: np.ndarray | None, p: EdgeParams) -> int:
    """How far beyond an edge's end :func:`_on_plane` looks, in grid steps (less one)."""
    return p.zone_plane_reach * radius if guessed is not None else radius


def _on_plane(padded: np.ndarray, kind: str, ej: np.ndarray, ei: np.ndarray, radius: int,
              threshold: float, guessed: np.ndarray | None, p: EdgeParams) -> np.ndarray:
    """Whether the ``kind`` edges at (ej, ei) lie on a plane: (E,) bool.

    padded: the disparity q, padded with NaN by :func:`_plane_reach` + 1.

    Disparity is linear along a plane, within zone_plane × threshold (relative).  An edge needs
    the plane to run a window beyond both ends, or zone_plane_reach windows beyond one of its
    ends — ground beside a rock, whose far side crosses the rock.  An edge touching a
    ``guessed`` vertex (or any edge, when ``guessed`` is None) needs the first: sharpening
    lowered that vertex (moved it onto the surface behind a step, continued under the front
    one, or pressed a crease back), and a sliver of another surface just behind would prove
    such a guess wrong.
    """
    (oj, oi), (sj, si) = EDGE_KINDS[kind]
    tol = np.float32(p.zone_plane * threshold)
    far = _plane_reach(radius, guessed, p)
    # the samples along each edge's line, NaN beyond the grid: flat[base + k·step]
    flat, width = padded.ravel(), padded.shape[1]
    step = sj * width + si
    base = (ej + oj + far + 1) * width + (ei + oi + far + 1)

    def at(k: int, which: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Disparity k steps along the edge's line from its first end (NaN off the grid)."""
        return flat[base[which] + k * step]

    a, v, u, b = at(-radius), at(0), at(1), at(1 + radius)
    w = np.float32(radius / (2 * radius + 1))  # v and u on the line from a to b
    both = (np.abs(v - (a + (b - a) * w)) < tol * v) & (np.abs(u - (b + (a - b) * w)) < tol * u)
    if guessed is None:
        return both
    # the rest only where it decides: edges not on a plane both ways, touching no guessed vertex
    unsure = guessed[ej + oj, ei + oi] | guessed[ej + oj + sj, ei + oi + si]
    ask = np.flatnonzero(~both & ~unsure)
    half = max(1, far // 2)
    one = np.zeros(len(ask), bool)
    for far_k, mid, end, nxt in ((-far, -half, 0, 1), (1 + far, 1 + half, 1, 0)):
        f, m, e, n = at(far_k, ask), at(mid, ask), at(end, ask), at(nxt, ask)
        slope = (e - f) / np.float32(far)  # per grid step, towards the edge
        one |= (np.abs(m - (e - slope * np.float32(half))) < tol * m) & (np.abs(n - (e + slope)) < tol * n)
    both[ask] = one
    return both


def _unsharpened_ramps(q: np.ndarray, measured: np.ndarray, radius: int, threshold: float,
                       region: Region = (slice(None), slice(None))) -> np.ndarray:
    """bool of ``q[region]``'s shape: vertices on a ramp that sharpening left alone.

    A ramp as wide as the window, straight in disparity (a model's output upsampled
    bilinearly), predicts its own vertices and is not moved; nor is any of its edges a step.
    Along some line its vertex lies between the samples a window either way, which differ by
    more than the threshold, and off their chord by more than the threshold (a plane between
    them, grazing ground, lies on the chord).
    """
    ends = window_ends(np.pad(q, radius, mode="edge"), radius, radius, q.shape)
    q, measured = q[region], measured[region]
    ramp = np.zeros(q.shape, bool)
    off = threshold * q
    miss = np.empty(q.shape, np.float32)
    with np.errstate(invalid="ignore"):
        for _, _, a, b in ends:
            a, b = a[region], b[region]
            np.add(a, b, out=miss)
            miss *= np.float32(0.5)  # the chord
            np.subtract(q, miss, out=miss)
            np.abs(miss, out=miss)
            between = straddles(q, a, b, threshold)
            between &= miss > off
            ramp |= between
    ramp &= q == measured
    return ramp


def edges_apart(q: np.ndarray, threshold: float) -> Cuts:
    """Whether each grid edge's two ends differ by more than ``threshold`` (relative):
    ``{"h": (ny, nx−1), "v": (ny−1, nx), "d": (ny−1, nx−1)}`` bool."""
    ny, nx = q.shape
    padded = np.pad(q, 1, mode="edge")
    out = {}
    with np.errstate(invalid="ignore"):
        for kind in EDGE_KINDS:
            _, v, u, _ = edge_ends(padded, kind, ny, nx, 1)
            out[kind] = relative(v, u) > threshold
    return out
