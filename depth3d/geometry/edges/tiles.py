"""Quiet tiles: where a stage provably changes nothing, so its work is skipped there.

The edge rule acts only where a surface departs from a plane: every continuation it makes
(:func:`~depth3d.geometry.edges.lines.side_predictions`, ``2·q_v − q_v′`` across an edge, the chord of a
window) is exact on a plane.  The grid is cut into square tiles; each gets its least-squares
plane and the largest departure from it (``rho``).  A tile's window — the tile and every tile
within ``halo`` grid steps, all the samples the stage reads for the tile's vertices — lies
within ``rho`` of the centre tile's plane, where ``rho`` is each tile's own departure plus how
far its plane strays from the centre's over it.  A continuation that weighs the samples with
coefficients whose magnitudes sum to S then misses the vertex by at most S·rho (plus float32
rounding, bounded generously); when that is a fraction of the stage's own tolerance, nothing
in the tile can pass the stage's test, and its output there is known without computing it:
the input itself (sharpening) or KEEP (cuts).  Beyond the grid's border the windows hold the
border value repeated, as every stage reads it there; a window holding a sample without a
point is always computed.  The stage runs on the other tiles only,
in row bands (:mod:`depth3d.geometry.bands`) of windows that are runs of such tiles with their halo:
identical to running it on the whole grid, as each output depends on inputs within ``halo``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np

from ..bands import BAND_VERTICES, Band, run_bands

__all__ = ["MIN_TILED", "TILE", "TileCache", "Window", "WindowStats", "quiet_tiles", "run_windows", "tile_size",
           "tiling", "window_stats"]

MIN_TILED = 1 << 20  # grid vertices: smaller grids are computed whole (the statistics would cost more than they save)
TILE = 16  # grid steps: a tile's side, at least (tile_size)
RING = 3  # a window reaches this many tiles around its centre tile, at most
STATS_SLACK = 2.0 ** -16  # float32 rounding of the tile statistics, relative to the largest disparity
ROUNDING = 2.0 ** -18  # float32 rounding of a continuation, per unit of S, relative to the largest disparity


def tile_size(halo: int) -> int:
    """Tile side for a stage reading ``halo`` grid steps around each vertex: a multiple of TILE,
    large enough that the halo spans at most RING tiles."""
    return TILE * max(1, -(-halo // (RING * TILE)))


class WindowStats(NamedTuple):
    """Per tile, (ty, tx) float64, over its window (the tile and the tiles within the halo):
    ``rho`` the largest departure from the centre tile's plane (NaN: no bound — a sample
    without a point), and bounds of the smallest and largest disparity."""

    rho: np.ndarray
    qmin: np.ndarray
    qmax: np.ndarray


def _tile_planes(q: np.ndarray, t: int, pad: int, shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """A plane through each t × t tile of ``q`` padded by ``pad`` (the border value repeated)
    before and to ``shape`` tiles, in the tile's centred coordinates:
    ``(alpha, beta, gamma, rho, qmin, qmax)``, ``shape`` float64: the plane
    alpha + beta·x + gamma·y (least squares, in float32: any plane will do, the bound is
    computed for the plane as rounded), the largest |q − plane| over the tile (evaluated in
    float32, plus STATS_SLACK × the magnitudes involved: more than its rounding), and bounds
    of q there from those (NaN where the tile holds a NaN)."""
    fits = tuple(np.empty(shape, np.float32) for _ in range(4))
    _fit_rows(q, t, pad, range(shape[0]), fits)
    return _planes(fits, t)


def _fit_rows(q: np.ndarray, t: int, pad: int, rows_of_tiles: Iterable[int],
              fits: tuple[np.ndarray, ...]) -> None:
    """Rows ``rows_of_tiles`` of :func:`_tile_planes`' float32 fits ``(alpha, beta, gamma, far)``,
    (ty, tx) each, computed in place, a row of tiles at a time (its values depend on that row
    of tiles only)."""
    a32, b32, g32, far32 = fits
    tx = a32.shape[1]
    ny, nx = q.shape
    x = np.arange(t, dtype=np.float32) - np.float32((t - 1) / 2)
    xx = np.float32((x * x).sum() * t)
    width = tx * t
    for j in rows_of_tiles:  # a row of tiles at a time (reductions over rows first: contiguous)
        first = j * t - pad
        rows = q[first:first + t] if 0 <= first <= ny - t else q[np.clip(np.arange(first, first + t), 0, ny - 1)]
        block = np.pad(rows, ((0, 0), (pad, width - pad - nx)), mode="edge")  # (y, tile · x)
        col = block.sum(axis=0).reshape(tx, t)
        a = col.sum(axis=1) / np.float32(t * t)
        # einsum's own loops, not BLAS (whose threads would only compete with the bands)
        b = np.einsum("ix,x->i", col, x) / xx
        g = np.einsum("y,yw->w", x, block).reshape(tx, t).sum(axis=1) / xx
        dev = block - (b[:, None] * x).reshape(1, width)
        dev -= np.repeat(a, t)[None, :] + x[:, None] * np.repeat(g, t)[None, :]
        top = dev.max(axis=0).reshape(tx, t).max(axis=1)  # NaN propagates
        bottom = dev.min(axis=0).reshape(tx, t).min(axis=1)
        a32[j], b32[j], g32[j] = a, b, g
        far32[j] = np.maximum(top, -bottom)


def _planes(fits: tuple[np.ndarray, ...], t: int) -> tuple[np.ndarray, ...]:
    """:func:`_tile_planes`' result from its float32 fits (:func:`_fit_rows`)."""
    alpha, beta, gamma, far = (v.astype(np.float64) for v in fits)
    size = np.abs(alpha) + (np.abs(beta) + np.abs(gamma)) * t  # the plane's terms
    rho = far + STATS_SLACK * (2 * size + far)
    h = (t - 1) / 2
    spread = (np.abs(beta) + np.abs(gamma)) * h + rho
    return alpha, beta, gamma, rho, alpha - spread, alpha + spread


class TileCache:
    """Tile statistics shared by the stages of one run of the edge rule (sharpen, creases, cut:
    :func:`tiling`'s ``cache``).  Each stage's grid differs from the one before it only where
    that stage changed it: only the rows of tiles holding a change are fitted again (by the
    same computation, so the statistics are identical to fitting them all), and statistics
    over windows of the same size are reused as they are where nothing changed.  A grid given
    to it must not change in place while it holds it."""

    def __init__(self) -> None:
        self._q: np.ndarray | None = None
        self._key: tuple[int, ...] = ()
        self._fits: tuple[np.ndarray, ...] = ()
        self._stats: dict[int, WindowStats] = {}

    def planes(self, q: np.ndarray, t: int, pad: int,
               shape: tuple[int, int]) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]:
        """``(planes, redone)``: :func:`_tile_planes` of ``q``, and the rows of tiles fitted again
        since the grid before (None: all of them, there was none of this layout)."""
        key = (t, pad, *shape, *q.shape)
        before = self._q
        redo: np.ndarray | None
        if before is None or key != self._key:
            fits = tuple(np.empty(shape, np.float32) for _ in range(4))
            _fit_rows(q, t, pad, range(shape[0]), fits)
            redo = None
            self._stats = {}
        elif q is before:
            fits, redo = self._fits, np.zeros(0, np.intp)
        else:
            changed = (q != before).any(axis=1)  # NaN counts as changed: fitted again, the same
            # rows of q each row of tiles reads (clipped at the border, as _fit_rows does)
            first = np.clip(np.arange(shape[0]) * t - pad, 0, q.shape[0] - 1)
            last = np.clip(np.arange(shape[0]) * t - pad + t - 1, 0, q.shape[0] - 1)
            upto = np.concatenate([[0], np.cumsum(changed)])
            redo = np.flatnonzero(upto[last + 1] > upto[first])
            fits = tuple(f.copy() for f in self._fits) if len(redo) else self._fits
            _fit_rows(q, t, pad, redo.tolist(), fits)
        self._q, self._key, self._fits = q, key, fits
        return _planes(fits, t), redo

    def stats(self, ring: int) -> WindowStats | None:
        """Window statistics over ``ring`` tiles of the grid last given, if already computed."""
        return self._stats.get(ring)

    def keep(self, ring: int, stats: WindowStats) -> None:
        self._stats[ring] = stats


def window_stats(q: np.ndarray, halo: int, t: int, cache: TileCache | None = None) -> WindowStats:
    """:class:`WindowStats` of the ``t`` × ``t`` tiles of ``q`` (the last ones partial), over windows
    of ``halo`` grid steps around them (rounded up to whole tiles); shape (⌈ny/t⌉, ⌈nx/t⌉).
    Beyond the grid's border every stage repeats the border value: so do the windows.
    cache: a :class:`TileCache` shared with the stages before, or None."""
    if q.flags.f_contiguous and not q.flags.c_contiguous:  # a transposed grid: the same, transposed
        return WindowStats(*(v.T for v in window_stats(q.T, halo, t)))
    ny, nx = q.shape
    shape = (-(-ny // t), -(-nx // t))
    ring = -(-halo // t)
    planes_shape = (shape[0] + 2 * ring, shape[1] + 2 * ring)
    known: WindowStats | None = None
    if cache is None:
        planes = _tile_planes(q, t, ring * t, planes_shape)
    else:
        planes, redone = cache.planes(q, t, ring * t, planes_shape)
        known = cache.stats(ring) if redone is not None else None
        if known is not None and redone is not None:
            if not len(redone):
                return known
            # a centre tile's window reads the rows of tiles within the ring: only those are new
            new = np.zeros(shape[0] + 1, bool)
            for p in redone.tolist():
                new[max(0, p - 2 * ring):min(shape[0], p + 1)] = True
    if known is None:
        stats = WindowStats(*_window_rows(planes, ring, t, 0, shape[0]))
    else:
        stats = WindowStats(*(v.copy() for v in known))
        edges = np.flatnonzero(np.diff(np.concatenate([[False], new])))  # runs of new rows: starts, ends
        for y0, y1 in zip(edges[0::2].tolist(), edges[1::2].tolist()):
            for field, value in zip(stats, _window_rows(planes, ring, t, y0, y1)):
                field[y0:y1] = value
    if cache is not None:
        cache.keep(ring, stats)
    return stats


def _window_rows(planes: tuple[np.ndarray, ...], ring: int, t: int, y0: int, y1: int) -> tuple[np.ndarray, ...]:
    """:class:`WindowStats` fields of rows y0 … y1 of tiles, from :func:`_tile_planes`' ``planes``
    (padded by ``ring`` tiles): each tile's by the same float64 operations, whichever rows."""
    alpha, beta, gamma, rho, qmin, qmax = planes
    ty, tx = rho.shape  # shape + 2·ring: every tile of q is a centre, its window on whole tiles
    h = (t - 1) / 2  # the largest |x|, |y| of a tile's centred coordinates
    cy, cx = slice(ring + y0, ring + y1), slice(ring, tx - ring)
    ac, bc, gc = alpha[cy, cx], beta[cy, cx], gamma[cy, cx]
    r = np.zeros(ac.shape)
    lo, hi = np.full(ac.shape, np.inf), np.full(ac.shape, -np.inf)
    with np.errstate(invalid="ignore"):
        for dy in range(-ring, ring + 1):
            for dx in range(-ring, ring + 1):
                ny_, nx_ = slice(ring + y0 + dy, ring + y1 + dy), slice(ring + dx, tx - ring + dx)
                # the neighbour's plane less the centre's, over the neighbour (in its coordinates)
                stray = (np.abs(alpha[ny_, nx_] - ac - bc * (dx * t) - gc * (dy * t))
                         + (np.abs(beta[ny_, nx_] - bc) + np.abs(gamma[ny_, nx_] - gc)) * h)
                r = np.maximum(r, rho[ny_, nx_] + stray)  # NaN (no bound) propagates
                lo = np.minimum(lo, qmin[ny_, nx_])
                hi = np.maximum(hi, qmax[ny_, nx_])
    # float64 rounding of the above: far below the slack already counted
    return r * (1 + 1e-9), lo, hi


def quiet_tiles(stats: WindowStats, s: float, tolerance: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """(ty, tx) bool: tiles where a continuation weighing samples with coefficients of total
    magnitude ``s`` misses each vertex by at most ``tolerance(qmin, qmax)`` (an absolute
    disparity; the stage's test needs more)."""
    with np.errstate(invalid="ignore"):
        miss = s * stats.rho + ROUNDING * s * np.abs(stats.qmax)
        return (stats.qmin > 0) & np.isfinite(stats.qmax) & (miss <= tolerance(stats.qmin, stats.qmax))


def tiling(q: np.ndarray, halo: int, decide: Callable[[WindowStats], np.ndarray],
           cache: TileCache | None = None) -> tuple[int, np.ndarray]:
    """``(t, quiet)``: the tile side for ``halo`` and ``decide(window_stats(…))``, the quiet tiles
    of ``q`` — none on a grid smaller than MIN_TILED (cache: :func:`window_stats`)."""
    t = tile_size(halo)
    if q.size < MIN_TILED:
        return t, np.zeros((-(-q.shape[0] // t), -(-q.shape[1] // t)), bool)
    return t, decide(window_stats(q, halo, t, cache))


class Window(NamedTuple):
    """Rows ``a`` … ``b`` and columns ``c`` … ``d`` of the grid, read to compute rows ``lo`` …
    ``hi`` and columns ``left`` … ``right`` (exclusive)."""

    a: int
    b: int
    c: int
    d: int
    lo: int
    hi: int
    left: int
    right: int


def _runs(busy: np.ndarray, t: int, halo: int) -> list[tuple[int, int]]:
    """Runs ``(first, end)`` of True in the 1-d ``busy``, a run joined to the next when the gap
    between them (in tiles of ``t``) is narrower than two halos: computing it costs less than a
    window's halo both sides."""
    runs: list[tuple[int, int]] = []
    for i in np.flatnonzero(busy).tolist():
        if runs and (i - runs[-1][1]) * t < 2 * halo:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


WINDOW_COST = 4096  # a window's fixed cost, in grid vertices' worth of work (Python, padding)


def _plan(busy: np.ndarray, shape: tuple[int, ...], halo: int, t: int,
          per: int) -> tuple[list[Band], dict[int, list[tuple[int, int]]], int]:
    """Bands of ``per`` tile rows over the runs of rows holding busy tiles, the runs of busy
    columns in each, and the cost: the grid vertices the windows hold, plus WINDOW_COST each."""
    ny, nx = shape[0], shape[1]
    bands: list[Band] = []
    columns: dict[int, list[tuple[int, int]]] = {}
    cost = 0
    for first, end in _runs(busy.any(axis=1), t, halo):
        for tj in range(first, end, per):
            tj_end = min(end, tj + per)
            lo, hi = tj * t, min(ny, tj_end * t)
            band = Band(max(0, lo - halo), min(ny, hi + halo), lo, hi)
            runs = _runs(busy[tj:tj_end].any(axis=0), t, halo)
            bands.append(band)
            columns[lo] = runs
            for i0, i1 in runs:
                cols = min(nx, i1 * t + halo) - max(0, i0 * t - halo)
                cost += (band.b - band.a) * cols + WINDOW_COST
    return bands, columns, cost


def run_windows(shape: tuple[int, ...], halo: int, t: int, quiet: np.ndarray,
                work: Callable[[Window], None]) -> None:
    """``work(window)`` for windows covering every tile of an (ny, nx) grid of ``t`` × ``t`` tiles
    that is not ``quiet`` ((ty, tx) bool), each with ``halo`` grid steps around it (clipped at the
    border): runs of rows holding such tiles, in bands of whole tile rows, and in each band runs
    of columns holding such tiles.  The band height is the one whose windows hold the fewest
    vertices (tall bands share halos, short ones follow busy tiles more closely), up to about
    BAND_VERTICES (or two halos' worth of rows).  Bands may run in threads
    (:func:`depth3d.geometry.bands.run_bands`): ``work`` writes only its window's own part and imports
    nothing."""
    nx = shape[1]
    busy = ~quiet
    most = max(1, max(2 * halo, BAND_VERTICES // max(nx, 1)) // t)  # tile rows per band, at most
    plans = [_plan(busy, shape, halo, t, per) for per in sorted({min(most, 1 << k) for k in range(7)} | {most})]
    bands, columns, _ = min(plans, key=lambda plan: plan[2])

    def band_work(band: Band) -> None:
        for i0, i1 in columns[band.lo]:
            left, right = i0 * t, min(nx, i1 * t)
            work(Window(band.a, band.b, max(0, left - halo), min(nx, right + halo), band.lo, band.hi, left, right))

    run_bands(band_work, bands)
