"""Error-bounded adaptive decimation of a grid mesh: a quadtree of merged blocks on the depth grid.

The mesh of :func:`~depth3d.geometry.reconstruct.reconstruct` is a vertex grid whose cells carry two
triangles each, except where a cut (a silhouette) split or dropped them
(:func:`~depth3d.geometry.edges.triangulate`).  A cell is **whole** when its four corners have depth and
none of its five edges (sides and diagonal) is cut: both triangles are there, unsplit.  Only
whole cells are ever merged; every other face stays exactly as it was.

Blocks are the aligned squares of 2^L × 2^L cells (L = 1 … MAX_LEVEL), the nodes of a quadtree
over the cell grid.  A merged block is drawn as a fan from its centre grid vertex through every
**active** vertex of its perimeter, in order: its four corners, and each vertex on its sides
that a neighbouring piece uses (the corner of a smaller merged block, of a cell left as it was,
or a vertex on the border of the whole cells — beside a cut, a hole or the frame).  So no
T-junction opens between pieces of different sizes, and every border of the whole cells keeps
all its vertices where they were: silhouettes, holes and the frame are unchanged, vertex for
vertex.  Merged faces use existing grid vertices only (positions and UVs exact), counter-
clockwise seen from the camera like the grid's own triangles.

**Error.**  In perspective, disparity q = 1/depth over a planar triangle is affine in the image,
so a block's fan (centre + 4 corners) predicts every grid vertex inside it and on its sides
exactly by piecewise-linear interpolation of q; its error is the largest relative miss
|q − q̂| / q of those vertices (relief: the same on 1 + height, affine there).  A block may merge
at tolerance ε when it and every block inside it miss by at most ε (errors are saturated up the
tree, so the merged blocks at any ε form a tree and the triangle count falls monotonically with
ε).  The extra perimeter vertices of a fan lie within ε of the fan, so its faces are within
about 2ε of every vertex they replace.  :func:`decimate` picks the smallest ε (up to
``max_error``) that meets a triangle budget.

**Texture.**  GPUs interpolate texture coordinates perspective-correctly; ours are the vertices'
image positions, so seen from the photo's camera the photo lands exactly where it belongs only
at the vertices: inside a triangle whose ends lie at depths z and k·z it is displaced by up to
about its screen length × (k − 1)/4 (the midpoint of an edge: L·(k − 1)/(2(k + 1))).  Given the
photo pixels per grid cell, a block may merge only if each of its four fan triangles (centre and
two corners) keeps that within :data:`MAX_SHIFT` pixels, with L the block's side on screen and
k the triangle's largest disparity ratio; other blocks get an infinite error (so do the blocks
holding them, which are larger and at least as deep).  The grid's own cells are not bounded.
Relief gets no such bound: its camera stands back and heights move its vertices on screen, so
it is not registered to the photo pixel for pixel from any camera.

All of it is vectorised per quadtree level (reshape-based reductions over blocks), numpy only
(it runs inside Blender).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .edges import KEEP
from .mesh import grid_faces

__all__ = [
    "MAX_ERROR",
    "MAX_LEVEL",
    "MAX_SHIFT",
    "BlockErrors",
    "Decimation",
    "block_errors",
    "decimate",
    "whole_cells",
]

MAX_ERROR = 0.004  # the largest relative error decimation may spend (the fan: about twice that)
MAX_LEVEL = 8  # blocks of up to 2^8 = 256 cells a side
MAX_SHIFT = 0.5  # photo pixels a merged triangle may displace the texture by (perspective-correct UVs)
DENSE = 8  # blocks up to this size are measured offset by offset over strided views


class BlockErrors(NamedTuple):
    """Saturated errors of the quadtree's blocks.

    levels: per level L = 1, 2, …: (⌊(ny−1)/2^L⌋, ⌊(nx−1)/2^L⌋) float32, the largest relative
            error of block (J, I) — cells [J·2^L, (J+1)·2^L) × [I·2^L, (I+1)·2^L) — and of every
            block inside it; inf where a cell in it is not whole.
    shape:  (ny, nx) of the vertex grid.
    """

    levels: list[np.ndarray]
    shape: tuple[int, int]


class Decimation(NamedTuple):
    """Result of :func:`decimate`.

    faces: (F′, 3) int32 faces into the same vertices: the grid's triangles kept, in the grid's
           layout ([first (a, a+nx, a+1)…][second (a+1, a+nx, a+nx+1)…]), then the other faces
           as they were, then the merged blocks' fans.
    error: the tolerance ε used (relative; 0 when nothing was merged).
    met:   whether ``len(faces)`` is within the budget (False: even ``max_error`` did not reach
           it; ``faces`` are then those at ``max_error``).
    first, second: how many of ``faces``, at their start, are the grid's first and second
           triangles (:class:`~depth3d.geometry.types.GridLayout`).
    """

    faces: np.ndarray
    error: float
    met: bool
    first: int
    second: int


def whole_cells(value: np.ndarray, cuts: dict[str, np.ndarray] | None) -> np.ndarray:
    """(ny−1, nx−1) bool: cells with depth at all four corners and none of their five edges cut.

    value: (ny, nx) float32 grid values (NaN = no point); cuts: :func:`~depth3d.geometry.edges.cut_edges`
    codes ``{"h": (ny, nx−1), "v": (ny−1, nx), "d": (ny−1, nx−1)}`` or ``None`` (nothing cut).
    """
    valid = np.isfinite(value)
    whole = valid[:-1, :-1] & valid[1:, :-1] & valid[:-1, 1:] & valid[1:, 1:]
    if cuts is not None:
        h, v, d = cuts["h"] == KEEP, cuts["v"] == KEEP, cuts["d"] == KEEP
        whole &= h[:-1] & h[1:] & v[:, :-1] & v[:, 1:] & d
    return whole


def _fan_weights(s: int) -> tuple[np.ndarray, ...]:
    """Weights of the fan surface at a block's interior vertices, offsets 1 … s−1 each way.

    With u, v the offsets from the centre in block widths (−½ … ½) and m = 2·max(|u|, |v|), the
    fan through the centre c and corners is q̂ = c + m·(a0 − c) + a1·u + a2·v + a3·uv/m, where
    a0 + a1·u + a2·v + a3·uv is the bilinear interpolation of the corners (linear on every side,
    so the fan is linear on each of its four triangles).  Returns (m, u, v, uv/m), (s−1, s−1)
    float32 each.
    """
    t = (np.arange(1, s, dtype=np.float64) / s) - 0.5
    v, u = np.meshgrid(t, t, indexing="ij")
    m = 2 * np.maximum(np.abs(u), np.abs(v))
    w = np.divide(u * v, m, out=np.zeros_like(m), where=m > 0)
    return tuple(a.astype(np.float32) for a in (m, u, v, w))


def _side_errors(line: np.ndarray, s: int) -> np.ndarray:
    """Relative error of the vertices along block sides against the line between their corners.

    line: (n, k·s + 1) values along n grid lines through block corners (every s-th one is a
    corner).  Returns (n, k) float32: the largest error between corners i·s and (i+1)·s.
    """
    n, length = line.shape
    k = (length - 1) // s
    a, b = line[:, 0:k * s:s], line[:, s:k * s + 1:s]
    with np.errstate(invalid="ignore"):
        if s <= DENSE:  # offset by offset: strided views, no small inner axes
            d = b - a
            err = None
            for o in range(1, s):
                seg = line[:, o:k * s:s]
                e = d * np.float32(o / s)
                e += a
                e -= seg
                np.abs(e, out=e)
                e /= seg
                err = e if err is None else np.maximum(err, e, out=err)
            return err
        seg = line[:, :k * s].reshape(n, k, s)[:, :, 1:]
        t = (np.arange(1, s, dtype=np.float32) / np.float32(s))
        err = np.abs(seg - (a[:, :, None] + (b - a)[:, :, None] * t)) / seg
    return err.max(axis=2)


def _texture_shift(value: np.ndarray, s: int, nby: int, nbx: int, pixel: float) -> np.ndarray:
    """(nby, nbx) float32: the largest texture displacement, in photo pixels, of a block's four
    fan triangles (module notes): s·pixel × (k − 1)/4, k the largest disparity ratio among the
    centre and the two corners of a triangle.  ``value``: disparity; ``pixel``: photo pixels
    per grid cell (the larger axis)."""
    corners = value[0:nby * s + 1:s, 0:nbx * s + 1:s]
    c = value[s // 2:nby * s:s, s // 2:nbx * s:s]
    q00, q01 = corners[:-1, :-1], corners[:-1, 1:]
    q10, q11 = corners[1:, :-1], corners[1:, 1:]
    ratio = None
    with np.errstate(invalid="ignore", divide="ignore"):
        for a, b in ((q00, q01), (q01, q11), (q11, q10), (q10, q00)):
            hi = np.maximum(np.maximum(a, b), c)
            lo = np.minimum(np.minimum(a, b), c)
            r = hi / lo
            ratio = r if ratio is None else np.maximum(ratio, r, out=ratio)
        return (ratio - np.float32(1)) * np.float32(s * pixel / 4)


def block_errors(value: np.ndarray, whole: np.ndarray, max_level: int = MAX_LEVEL,
                 pixel: float = 0.0) -> BlockErrors:
    """Saturated error of every quadtree block (see the module notes).

    value: (ny, nx) float32 positive grid values, affine over the image on a planar triangle
           (perspective: disparity; relief: 1 + height), NaN = no point.
    whole: (ny−1, nx−1) bool, :func:`whole_cells`.
    pixel: photo pixels per grid cell (the larger axis) when ``value`` is disparity: blocks whose
           fan would displace the texture by more than :data:`MAX_SHIFT` pixels never merge
           (module notes); 0: no such bound.
    Each level costs about one pass over the grid: blocks of up to DENSE cells offset by offset
    over strided views, larger ones gathered (only those whose four children merge at all).
    """
    ny, nx = value.shape
    value = np.asarray(value, np.float32)
    prev = np.where(whole, np.float32(0), np.float32(np.inf))
    levels = []
    for level in range(1, max_level + 1):
        s = 1 << level
        nby, nbx = (ny - 1) // s, (nx - 1) // s
        if nby == 0 or nbx == 0:
            break
        h, w = 2 * nby, 2 * nbx
        err = np.maximum(np.maximum(prev[0:h:2, 0:w:2], prev[0:h:2, 1:w:2]),
                         np.maximum(prev[1:h:2, 0:w:2], prev[1:h:2, 1:w:2]))
        ok = np.isfinite(err)
        if ok.any():
            rows = _side_errors(value[0:nby * s + 1:s, :nbx * s + 1], s)  # (nby+1, nbx)
            cols = _side_errors(value[:nby * s + 1, 0:nbx * s + 1:s].T, s).T  # (nby, nbx+1)
            np.maximum(err, rows[:-1], out=err)
            np.maximum(err, rows[1:], out=err)
            np.maximum(err, cols[:, :-1], out=err)
            np.maximum(err, cols[:, 1:], out=err)
            if s > 2:  # level 1's only interior vertex is the centre, exact
                err = (_interior_dense if s <= DENSE else _interior_errors)(value, err, s)
            if pixel > 0:
                err[~(_texture_shift(value, s, nby, nbx, pixel) <= MAX_SHIFT)] = np.inf
            err[~ok] = np.inf  # (NaN beside cells without points)
        levels.append(err.astype(np.float32, copy=False))
        prev = err
    return BlockErrors(levels, (ny, nx))


def _fan_corners(dy: int, dx: int, s: int) -> tuple[tuple[int, int], tuple[int, int], float, float, float]:
    """The fan triangle holding interior offset (dy, dx) of a block of s cells: its two corners
    ((row, column) in {0, 1}) and the barycentric weights of the centre and of those corners."""
    u, v = dx / s - 0.5, dy / s - 0.5  # from the centre, in block widths, rows down
    if -v >= abs(u):
        p, q, m, tau = (0, 0), (0, 1), -2 * v, u  # top: along it from the left
    elif v >= abs(u):
        p, q, m, tau = (1, 0), (1, 1), 2 * v, u  # bottom
    elif -u >= abs(v):
        p, q, m, tau = (0, 0), (1, 0), -2 * u, v  # left: along it from the top
    else:
        p, q, m, tau = (0, 1), (1, 1), 2 * u, v  # right
    return p, q, 1 - m, m / 2 - tau, m / 2 + tau


def _interior_dense(value: np.ndarray, err: np.ndarray, s: int) -> np.ndarray:
    """``err`` raised by the fan's error at the interior vertices of every block, offset by
    offset over strided views (each interior vertex lies in one fan triangle: three terms)."""
    nby, nbx = err.shape
    corners = value[0:nby * s + 1:s, 0:nbx * s + 1:s]
    q = {(r, c): corners[r:r + nby, c:c + nbx] for r in (0, 1) for c in (0, 1)}
    qc = value[s // 2:nby * s:s, s // 2:nbx * s:s]
    with np.errstate(invalid="ignore"):
        for dy in range(1, s):
            for dx in range(1, s):
                p, r, wc, wp, wr = _fan_corners(dy, dx, s)
                sub = value[dy:nby * s:s, dx:nbx * s:s]
                fit = qc * np.float32(wc)
                fit += q[p] * np.float32(wp)
                fit += q[r] * np.float32(wr)
                fit -= sub
                np.abs(fit, out=fit)
                fit /= sub
                np.maximum(err, fit, out=err)
    return err


def _interior_errors(value: np.ndarray, err: np.ndarray, s: int) -> np.ndarray:
    """``err`` raised by the fan's error at the interior vertices of its finite blocks,
    gathered a few blocks at a time (for large blocks)."""
    nby, nbx = err.shape
    jb, ib = np.nonzero(np.isfinite(err))
    if len(jb) == 0:
        return err
    corners = value[0:nby * s + 1:s, 0:nbx * s + 1:s]
    q00, q01 = corners[jb, ib], corners[jb, ib + 1]
    q10, q11 = corners[jb + 1, ib], corners[jb + 1, ib + 1]
    qc = value[jb * s + s // 2, ib * s + s // 2]
    a0 = (q00 + q01 + q10 + q11) * np.float32(0.25)
    a1 = (q01 + q11 - q00 - q10) * np.float32(0.5)
    a2 = (q10 + q11 - q00 - q01) * np.float32(0.5)
    a3 = q00 + q11 - q01 - q10
    m, u, v, w = _fan_weights(s)
    blocks = value[:nby * s, :nbx * s].reshape(nby, s, nbx, s)
    out = err.copy()
    chunk = max(1, (1 << 18) // (s * s))  # blocks per pass: temporaries of ~1 MB
    for c0 in range(0, len(jb), chunk):
        sl = slice(c0, c0 + chunk)
        sub = blocks[jb[sl], 1:, ib[sl], 1:]  # (n, s−1, s−1), a copy
        fit = m * (a0[sl] - qc[sl])[:, None, None]
        fit += qc[sl][:, None, None]
        fit += u * a1[sl][:, None, None]
        fit += v * a2[sl][:, None, None]
        fit += w * a3[sl][:, None, None]
        fit -= sub
        np.abs(fit, out=fit)
        fit /= sub
        e = fit.reshape(len(sub), -1).max(axis=1)
        out[jb[sl], ib[sl]] = np.maximum(out[jb[sl], ib[sl]], e)
    return out


class _Layout(NamedTuple):
    """The grid faces of a triangulation: which cells have their first/second triangle, and the rest."""

    first: np.ndarray  # (ny−1, nx−1) bool: (a, a+nx, a+1) present
    second: np.ndarray  # (ny−1, nx−1) bool: (a+1, a+nx, a+nx+1) present
    rest: np.ndarray  # (R, 3) int32: every other face, in order


def _layout(faces: np.ndarray, ny: int, nx: int, blocks: tuple[int, int]) -> _Layout:
    """Split ``faces`` into the grid cells' own triangles and the rest.

    ``blocks``: ``(first, second)`` as :func:`~depth3d.geometry.edges.triangulate` lists the grid
    triangles: a run of ``first`` first triangles (a, a+nx, a+1), then a run of ``second``
    second ones (a+1, a+nx, a+nx+1); the rest is a view of the tail (split faces, one of which
    may look like a grid triangle: it stays where it is).
    """
    n1, n2 = blocks
    cells = np.zeros((2, ny, nx), bool)  # by the cell's top-left vertex a
    cells[0].reshape(-1)[faces[:n1, 0]] = True
    cells[1].reshape(-1)[faces[n1:n1 + n2, 0] - 1] = True
    return _Layout(cells[0, :-1, :-1], cells[1, :-1, :-1], faces[n1 + n2:])


def _up(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A block mask at one level → the next finer level's blocks (each to its 2 × 2), cropped/padded to ``shape``."""
    out = np.zeros(shape, bool)
    h, w = mask.shape
    out[:2 * h, :2 * w].reshape(h, 2, w, 2)[...] = mask[:, None, :, None]
    return out


class _Plan(NamedTuple):
    """The merged blocks at one tolerance."""

    leaves: list[np.ndarray]  # per level: (nby, nbx) bool, merged blocks not inside a larger one
    covered: np.ndarray  # (ny−1, nx−1) bool: cells inside a merged block
    active: np.ndarray  # (ny, nx) bool: vertices some piece has as a corner (or on a border)
    count: int  # type: ignore[assignment]  # faces after decimation (shadows tuple.count)


def _between(line: np.ndarray, s: int) -> np.ndarray:
    """(n, k·s + 1) bool along grid lines → (n, k) int32: how many are set strictly between
    every s-th one and the next (offset by offset for small s, else prefix sums)."""
    k = (line.shape[1] - 1) // s
    if s <= DENSE:
        out = line[:, 1:k * s:s].astype(np.int32)
        for o in range(2, s):
            out += line[:, o:k * s:s]
        return out
    c = np.cumsum(line, axis=1, dtype=np.int32)
    return c[:, s - 1:-1:s] - c[:, 0:-1:s]


def _plan(errors: BlockErrors, eps: float, n_faces: int) -> _Plan:
    """Which blocks merge at tolerance ``eps``, which vertices stay, and how many faces result."""
    ny, nx = errors.shape
    merge = [e <= eps for e in errors.levels]
    leaves = []
    for level, m in enumerate(merge):
        above = merge[level + 1] if level + 1 < len(merge) else None
        leaves.append(m if above is None else m & ~_up(above, m.shape))
    covered = _up(merge[0], (ny - 1, nx - 1)) if merge else np.zeros((ny - 1, nx - 1), bool)
    # every vertex of a cell left as it is (cut, holed or whole) stays
    fine = np.pad(~covered, 1, constant_values=False)
    active = fine[:-1, :-1] | fine[1:, :-1] | fine[:-1, 1:] | fine[1:, 1:]
    for level, leaf in enumerate(leaves):
        s = 1 << (level + 1)
        nby, nbx = leaf.shape
        corners = active[0:nby * s + 1:s, 0:nbx * s + 1:s]
        corners[:-1, :-1] |= leaf
        corners[1:, :-1] |= leaf
        corners[:-1, 1:] |= leaf
        corners[1:, 1:] |= leaf
    count = n_faces - 8 * int(np.count_nonzero(merge[0])) if merge else n_faces
    for level, leaf in enumerate(leaves):
        if not leaf.any():
            continue
        s = 1 << (level + 1)
        nby, nbx = leaf.shape
        rows = _between(active[0:nby * s + 1:s, :nbx * s + 1], s)  # (nby+1, nbx)
        cols = _between(active[:nby * s + 1, 0:nbx * s + 1:s].T, s).T  # (nby, nbx+1)
        extra = rows[:-1] + rows[1:] + cols[:, :-1] + cols[:, 1:]
        count += int(4 * np.count_nonzero(leaf) + extra[leaf].sum())
    return _Plan(leaves, covered, active, count)


def _base_counts(errors: BlockErrors, n_faces: int):
    """Sorted finite errors per level and a function ε → faces, not counting the fans' extra
    perimeter vertices (a lower bound on the count, exact in counting blocks)."""
    sorted_levels = [np.sort(e[np.isfinite(e)]) for e in errors.levels]

    def base(eps: float) -> int:
        m = [int(np.searchsorted(e, np.float32(eps), side="right")) for e in sorted_levels] + [0]
        if not sorted_levels:
            return n_faces
        leaves = sum(m[k] - 4 * m[k + 1] for k in range(len(sorted_levels)))
        return n_faces - 8 * m[0] + 4 * leaves

    return sorted_levels, base


def _fans(plan: _Plan, nx: int) -> np.ndarray:
    """(F, 3) int32 fans of the merged blocks: centre, then each pair of consecutive active
    perimeter vertices, counter-clockwise seen from the camera (down the left side first)."""
    out = []
    active = plan.active.ravel()
    for level, leaf in enumerate(plan.leaves):
        jb, ib = np.nonzero(leaf)
        if len(jb) == 0:
            continue
        s = 1 << (level + 1)
        r = np.arange(s)
        dy = np.concatenate([r, np.full(s, s), s - r, np.zeros(s, int)])
        dx = np.concatenate([np.zeros(s, int), r, np.full(s, s), s - r])
        offsets = (dy * nx + dx).astype(np.int64)
        base = (jb.astype(np.int64) * s) * nx + ib.astype(np.int64) * s
        ids = base[:, None] + offsets[None, :]  # (n, 4s): the perimeter, from the top-left corner
        flat = np.flatnonzero(active[ids])
        leaf_of = flat // (4 * s)
        v = ids.ravel()[flat]
        nxt = np.empty_like(v)
        nxt[:-1] = v[1:]
        last = np.ones(len(v), bool)
        last[:-1] = leaf_of[1:] != leaf_of[:-1]
        nxt[last] = base[leaf_of[last]]  # back to the top-left corner, always active
        centre = base + (s // 2) * nx + s // 2
        out.append(np.stack([centre[leaf_of], v, nxt], axis=1))
    if not out:
        return np.zeros((0, 3), np.int32)
    return np.concatenate(out).astype(np.int32)


def decimate(faces: np.ndarray, value: np.ndarray, whole: np.ndarray, max_triangles: int,
             max_error: float = MAX_ERROR, errors: BlockErrors | None = None,
             pixel: float = 0.0, *, blocks: tuple[int, int]) -> Decimation:
    """Merge whole cells into error-bounded blocks until at most ``max_triangles`` faces remain.

    faces: (F, 3) int32 faces of :func:`~depth3d.geometry.edges.triangulate`, indexing the (ny, nx) grid
           vertices (row-major) followed by any split vertices.
    value: (ny, nx) float32 grid values affine over the image on a planar triangle
           (:func:`block_errors`); whole: (ny−1, nx−1) bool, :func:`whole_cells`.
    max_triangles: the budget (> 0); max_error: the largest tolerance ε (relative) to spend.
    pixel: photo pixels per grid cell for the texture bound (:func:`block_errors`; 0: none).
    blocks: ``(first, second)``, how many of ``faces``, at their start, are the grid cells' first
           and second triangles (:class:`~depth3d.geometry.edges.Triangulation`).
    Picks the smallest ε among the blocks' own errors (≤ ``max_error``) whose result fits
    the budget.  Faces within the budget already are returned as they are.
    """
    faces = np.asarray(faces, np.int32)
    n_faces = len(faces)
    ny, nx = value.shape

    def as_they_are(met: bool) -> Decimation:
        return Decimation(faces, 0.0, met, *blocks)

    if n_faces <= max_triangles:
        return as_they_are(True)
    if errors is None:
        errors = block_errors(value, whole, pixel=pixel)
    sorted_levels, base = _base_counts(errors, n_faces)
    cands = np.unique(np.concatenate(sorted_levels)) if sorted_levels else np.zeros(0, np.float32)
    cands = cands[cands <= max_error]
    if len(cands) == 0:
        return as_they_are(False)

    def smallest(target: int) -> int:
        """Index of the smallest candidate ε whose base count is within ``target`` (or the last)."""
        lo, hi = 0, len(cands) - 1
        if base(float(cands[hi])) > target:
            return hi
        while lo < hi:
            mid = (lo + hi) // 2
            if base(float(cands[mid])) <= target:
                hi = mid
            else:
                lo = mid + 1
        return lo

    target = max_triangles
    k = smallest(target)
    plan = _plan(errors, float(cands[k]), n_faces)
    while plan.count > max_triangles and k < len(cands) - 1:
        # the fans' extra perimeter vertices: ask the blocks for that much less
        extra = plan.count - base(float(cands[k]))
        target = min(target - 1, max_triangles - extra)
        k2 = smallest(target)
        k = max(k2, k + 1)
        plan = _plan(errors, float(cands[k]), n_faces)
    layout = _layout(faces, ny, nx, blocks)
    first, second = layout.first & ~plan.covered, layout.second & ~plan.covered
    out = np.concatenate([grid_faces(first, second), layout.rest, _fans(plan, nx)]).astype(np.int32, copy=False)
    assert len(out) == plan.count, (len(out), plan.count)
    return Decimation(out, float(cands[k]), plan.count <= max_triangles,
                      int(np.count_nonzero(first)), int(np.count_nonzero(second)))
