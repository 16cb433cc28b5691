"""Samples along the grid's lines (rows, columns, diagonals) around each vertex, and each side's
continuation of its own surface to the vertex: what sharpening and cutting read.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from .grid_edges import nonzero_2d, shifted
from .params import EdgeParams
from .tiles import TileCache, Window, WindowStats, run_windows, tiling

__all__ = ["LINES", "LineCandidates", "Region", "SidePredictions", "Walk", "WindowEnds", "across_lines", "by_tiles",
           "Settled", "continuation_weight", "farthest_sides", "radii", "reach", "side_predictions", "straddles",
           "straight_sides", "window_ends"]

LINES = ((0, 1), (1, 0), (1, 1), (1, -1))  # rows, columns, diagonals: (dj, di) steps


class SidePredictions(NamedTuple):
    """Both sides' continuations of their surfaces to N vertices along a line; each field holds
    two (N,) arrays, the side behind (−step) and the side ahead (+step)."""

    preds: list[np.ndarray]
    """float32 disparity predicted at the vertex."""
    exact: list[np.ndarray]
    """bool: the prediction came from a nearly straight triple (else: the sample ``radius`` away)."""
    bends: list[np.ndarray]
    """float32 second difference of that triple scaled to the prediction's distance (how far a
    straight continuation would miss: the curvature's share of the prediction); inf without one."""
    slopes: list[np.ndarray]
    """float32 slope per grid step towards the vertex (0 without a triple)."""


class Walk(NamedTuple):
    """How to sample further along a line: ``flat[base + m·step]`` is m steps from each vertex
    (the border value beyond the grid)."""

    flat: np.ndarray
    base: np.ndarray
    step: int


class LineCandidates(NamedTuple):
    """Vertices at (jj, ii) screened along the line (dj, di), with both sides' continuations."""

    dj: int
    di: int
    jj: np.ndarray
    ii: np.ndarray
    sides: SidePredictions
    walk: Walk


class WindowEnds(NamedTuple):
    """The samples ``a`` and ``b`` a window back and ahead of every vertex along the line (dj, di)."""

    dj: int
    di: int
    a: np.ndarray
    b: np.ndarray


def radii(radius: int) -> list[int]:
    """1, 2, 4, … up to ``radius`` (included)."""
    out = [1]
    while out[-1] * 2 < radius:
        out.append(out[-1] * 2)
    if out[-1] < radius:
        out.append(radius)
    return out


def reach(radius: int) -> int:
    """The farthest sample, in grid steps, that :func:`across_lines` reads for ``radius``."""
    return max(r + 2 * max(1, r // 2) for r in radii(radius))


def _triple_radii(radius: int, params: EdgeParams) -> list[int]:
    """The distances r of :func:`side_predictions`' triples, farthest first."""
    return [r for r in reversed(radii(radius)) if r * params.min_reach >= radius]


def side_predictions(flat: np.ndarray, base: np.ndarray, step: int, radius: int, threshold: float,
                     params: EdgeParams) -> SidePredictions:
    """Each side's prediction of the vertices at flat indices ``base`` along a line.

    flat: the padded disparity, raveled; step: the flat offset of one grid step along the line.
    For each side (−step, +step): the parabola through the farthest nearly straight triple of
    samples r, r+k, r+2k steps away (r = radius … 2, 1, no nearer than radius / min_reach;
    k = max(1, r // 2); bending so little that the parabola departs from a straight line at the
    vertex by less than ramp_straight × threshold, relative: the curvature is trusted only as far
    as it cannot make a step of its own — a blurred step's tail, which bends the samples nearest
    to it, must not), continued to the vertex — exact on planes, close on gently curved surfaces,
    such as terrain curving away towards its silhouette; else the sample ``radius`` steps away.
    """
    rs = _triple_radii(radius, params)
    preds, exact, bends, slopes = [], [], [], []
    limit = np.float32(params.ramp_straight * threshold)
    n = len(base)
    for sgn in (-1, 1):
        st = sgn * step
        todo = None  # vertices without a straight triple yet (None: all, before the first triple)
        pred = None
        for r in rs:  # farthest straight triple first
            b = base if todo is None else base[todo]
            if not len(b):
                break
            k = max(1, r // 2)
            s1, s2, s3 = (flat[b + st * (r + m * k)] for m in (0, 1, 2))
            d2 = s1 - 2 * s2 + s3
            bend = np.abs(d2)
            t = r / k  # the vertex is t triple steps beyond s1; a straight line misses by bend·t(t+1)/2
            curve = np.float32(t * (t + 1) / 2)
            miss = bend * curve
            ok = miss < limit * s2
            if todo is None:
                if ok.all():  # every vertex has the farthest triple (a smooth surface): no scattering
                    pred = s1 + (s1 - s2) * np.float32(t) + d2 * curve
                    bend_at, slope = miss, (s1 - s2) / np.float32(k)
                    found = np.ones(n, bool)
                    break
                pred = flat[base + st * radius]
                found = np.zeros(n, bool)
                bend_at = np.full(n, np.inf, np.float32)
                slope = np.zeros(n, np.float32)
                todo = np.arange(n)
            hit = todo[ok]
            s1, s2, d2, miss = s1[ok], s2[ok], d2[ok], miss[ok]
            pred[hit] = s1 + (s1 - s2) * np.float32(t) + d2 * curve
            bend_at[hit] = miss
            slope[hit] = (s1 - s2) / np.float32(k)
            found[hit] = True
            todo = todo[~ok]
        if pred is None:  # no vertex
            pred, found = flat[base + st * radius], np.zeros(n, bool)
            bend_at, slope = np.full(n, np.inf, np.float32), np.zeros(n, np.float32)
        preds.append(pred)
        exact.append(found)
        bends.append(bend_at)
        slopes.append(slope)
    return SidePredictions(preds, exact, bends, slopes)


def straight_sides(flat: np.ndarray, lo: int, n: int, step: int, radius: int, threshold: float,
                   params: EdgeParams) -> tuple[np.ndarray, np.ndarray]:
    """:func:`side_predictions`' ``exact`` (behind, ahead) for the vertices at flat indices
    ``lo`` … ``lo + n`` of ``flat``, every one: the same float32 test on the same samples, on
    slices instead of gathers (cheaper where most vertices are asked)."""
    limit = np.float32(params.ramp_straight * threshold)
    twice = flat + flat  # 2·s2, exactly
    bound = limit * flat
    d = np.empty(n, np.float32)
    less = np.empty(n, bool)
    out = []
    for sgn in (-1, 1):
        st = sgn * step
        found = np.zeros(n, bool)
        for r in _triple_radii(radius, params):
            k = max(1, r // 2)
            t = r / k
            curve = np.float32(t * (t + 1) / 2)
            a, b, c = (lo + st * (r + m * k) for m in (0, 1, 2))
            np.subtract(flat[a:a + n], twice[b:b + n], out=d)
            np.add(d, flat[c:c + n], out=d)
            np.abs(d, out=d)
            np.multiply(d, curve, out=d)
            np.less(d, bound[b:b + n], out=less)
            found |= less
        out.append(found)
    return out[0], out[1]


def farthest_sides(flat: np.ndarray, lo: int, n: int, step: int, radius: int, threshold: float,
                   params: EdgeParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(both, behind, ahead)``, for the vertices at flat indices ``lo`` … ``lo + n`` of
    ``flat``: (n,) bool, whether both sides' farthest triples are straight, and there the two
    predictions of :func:`side_predictions` (float32; elsewhere meaningless) — the same float32
    arithmetic on the same samples, on slices instead of gathers."""
    r = _triple_radii(radius, params)[0]
    k = max(1, r // 2)
    t = r / k
    curve = np.float32(t * (t + 1) / 2)
    limit = np.float32(params.ramp_straight * threshold)
    both = np.ones(n, bool)
    preds = []
    for sgn in (-1, 1):
        st = sgn * step
        a, b, c = (lo + st * (r + m * k) for m in (0, 1, 2))
        s1, s2, s3 = flat[a:a + n], flat[b:b + n], flat[c:c + n]
        d2 = s1 - 2 * s2 + s3
        miss = np.abs(d2)
        miss *= curve
        both &= miss < limit * s2
        pred = s1 - s2
        pred *= np.float32(t)
        pred += s1  # s1 + (s1 − s2)·t
        d2 *= curve
        pred += d2
        preds.append(pred)
    return both, preds[0], preds[1]


def window_ends(pp: np.ndarray, pad: int, radius: int, shape: tuple[int, ...]) -> Iterator[WindowEnds]:
    """Per line (rows, columns, diagonals): the samples ``radius`` steps back and ahead of every
    vertex of the (ny, nx) grid that ``pp`` holds padded by ``pad``."""
    for dj, di in LINES:
        yield WindowEnds(dj, di, shifted(pp, pad, -dj * radius, -di * radius, shape),
                         shifted(pp, pad, dj * radius, di * radius, shape))


def straddles(q: np.ndarray, a: np.ndarray, b: np.ndarray, threshold: float) -> np.ndarray:
    """The vertex lies strictly between the samples ``a`` and ``b``, which differ by more than
    the threshold (relative): it may be on a ramp between two surfaces."""
    d = np.subtract(a, b)
    np.abs(d, out=d)
    m = np.maximum(a, b)
    m *= np.float32(threshold)
    out = d > m
    np.subtract(q, a, out=d)
    np.subtract(q, b, out=m)
    d *= m
    out &= d < 0
    return out


Screen = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


Region = tuple[slice, slice]  # rows and columns of a grid


Settled = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""settled(q, left, right) → bool: vertices that the caller leaves alone, whatever else holds,
where both sides' predictions (:func:`side_predictions`) are ``left`` and ``right``."""

DENSE_SHARE = 0.125  # share of a region that a test must cull for across_lines to run it on slices
SAMPLE = 8  # across_lines estimates that share on every SAMPLE-th row and column


def _dense_tests(mask: np.ndarray, exact: str | None, settled: Settled | None, flat: np.ndarray, lo: int,
                 width: int, step: int, radius: int, threshold: float, params: EdgeParams) -> tuple[bool, bool]:
    """Whether, of the region whose screened vertices are ``mask`` (at flat indices
    lo + j·width + i), more than DENSE_SHARE would be left out by side predictions from a
    straight triple (``exact``: on either / both sides), and by ``settled``; estimated on a
    sample: then testing it on slices (:func:`straight_sides`, :func:`farthest_sides`) costs less
    than the side predictions it saves."""
    sj, si = nonzero_2d(mask[::SAMPLE, ::SAMPLE])
    room = DENSE_SHARE * mask[::SAMPLE, ::SAMPLE].size
    if len(sj) <= room:
        return False, False
    at = lo + SAMPLE * (sj * width + si)
    (left, right), ex, _, _ = side_predictions(flat, at, step, radius, threshold, params)
    culls_exact = culls_settled = False
    if exact is not None:
        culls_exact = len(sj) - np.count_nonzero(ex[0] & ex[1] if exact == "both" else ex[0] | ex[1]) > room
    if settled is not None:
        culls_settled = np.count_nonzero(ex[0] & ex[1] & settled(flat[at], left, right)) > room
    return culls_exact, culls_settled


def across_lines(q: np.ndarray, radius: int, threshold: float, screen: Screen,
                 params: EdgeParams, region: Region = (slice(None), slice(None)),
                 exact: str | None = None, settled: Settled | None = None) -> Iterator[LineCandidates]:
    """Vertices worth a closer look along each line (rows, columns, diagonals), with both sides'
    continuations there (:func:`side_predictions`).

    screen(q, a, b) → bool of q's shape, from the samples ``a``, ``b`` ``radius`` steps either
    side; only the vertices in ``region`` of ``q`` are screened (the rest is read as samples).
    exact: ``"either"`` / ``"both"``: only vertices where either / both sides' predictions came
    from a straight triple (the caller has no use for the others; None: all screened ones).
    settled: vertices the caller leaves alone (:data:`Settled`) are left out too.
    Where the screen passes many vertices (a noisy map; a slanted plane at full resolution),
    those are found first on slices (:func:`straight_sides`, :func:`farthest_sides`), where that pays.
    """
    far = reach(radius)
    # beyond the photo's border a surface continues level (the border value repeated): a step
    # that meets the frame, such as a roof cut by the top edge, is still sharpened across it
    pp = np.pad(q, far, mode="edge")
    flat, width = pp.ravel(), q.shape[1] + 2 * far
    rows, cols = region
    j0, j1 = rows.indices(q.shape[0])[:2]
    i0, i1 = cols.indices(q.shape[1])[:2]
    # the region's vertices in flat indices: lo … lo + n, rows ``width`` apart
    lo, n = (j0 + far) * width + i0 + far, (j1 - j0 - 1) * width + i1 - i0
    with np.errstate(invalid="ignore", divide="ignore"):
        for dj, di, a, b in window_ends(pp, far, radius, q.shape):
            mask = screen(q[region], a[region], b[region])
            step = dj * width + di
            culls_exact, culls_settled = (False, False) if exact is None and settled is None else \
                _dense_tests(mask, exact, settled, flat, lo, width, step, radius, threshold, params)
            keep = np.zeros((j1 - j0) * width, bool)  # flat lo … lo + n, rows width apart
            if culls_exact:
                behind, ahead = straight_sides(flat, lo, n, step, radius, threshold, params)
                (np.logical_and if exact == "both" else np.logical_or)(behind, ahead, out=keep[:n])
                mask &= keep.reshape(j1 - j0, width)[:, :i1 - i0]
            if culls_settled and settled is not None:
                both, left, right = farthest_sides(flat, lo, n, step, radius, threshold, params)
                both &= settled(flat[lo:lo + n], left, right)
                np.logical_not(both, out=keep[:n])
                mask &= keep.reshape(j1 - j0, width)[:, :i1 - i0]
            jj, ii = nonzero_2d(mask)
            if len(jj) == 0:
                continue
            jj += j0
            ii += i0
            base = (jj + far) * width + (ii + far)
            yield LineCandidates(dj, di, jj, ii, side_predictions(flat, base, step, radius, threshold, params),
                                 Walk(flat, base, step))


def continuation_weight(radius: int, params: EdgeParams) -> float:
    """S: the largest sum of |coefficients| with which :func:`side_predictions` weighs its samples,
    plus 1 for the vertex itself.  A parabola through samples r, r+k, r+2k continued t = r/k
    triple steps is s1·(1 + t + T) − s2·(t + 2T) + s3·T with T = t(t+1)/2; on samples within
    rho of a plane (exact for it) it misses the vertex by at most S·rho (:mod:`depth3d.geometry.edges.tiles`)."""
    s = 4.0  # 2·q_v − q_v′ against q_u, and the chord of a window against its middle
    for r in radii(radius):
        k = max(1, r // 2)
        t = r / k
        tt = t * (t + 1) / 2
        s = max(s, abs(1 + t + tt) + abs(t + 2 * tt) + abs(tt) + 1)
    return s


def by_tiles(local: Callable[[np.ndarray, Region], np.ndarray], q: np.ndarray, halo: int,
             quiet: Callable[[WindowStats], np.ndarray], cache: TileCache | None = None) -> np.ndarray:
    """``local(q, region)`` → float32 of q's shape, right in ``region`` and where it may differ
    from ``q``: computed on the tiles that are not ``quiet(stats)`` (:mod:`depth3d.geometry.edges.tiles`),
    ``q`` itself elsewhere.  Identical to ``local(q, everywhere)``, as its row j, column i depends
    on ``q`` within ``halo`` of (j, i) only, and equals ``q`` on the quiet tiles.  cache: the
    tile statistics shared with the stages before (:class:`~depth3d.geometry.edges.tiles.TileCache`)."""
    t, still = tiling(q, halo, quiet, cache)
    out = np.array(q, np.float32, order="C")  # row-major whatever q's order (as the stages after expect)

    def work(w: Window) -> None:
        own = (slice(w.lo - w.a, w.hi - w.a), slice(w.left - w.c, w.right - w.c))
        out[w.lo:w.hi, w.left:w.right] = local(q[w.a:w.b, w.c:w.d], own)[own]

    run_windows(q.shape, halo, t, still, work)
    return out
