"""Depth discontinuities: where a surface ends and another, farther one begins.

Everything is judged on disparity q = 1/depth, in which every plane is linear across the image
(so a grazing floor or open ground is as smooth as a wall seen face-on), only by ratios of q,
so scaling the scene changes nothing, and over distances that are fractions of the grid (or
angles), so resampling changes nothing either.

1. :func:`sharpen_steps` — models blur a step over a few pixels into a ramp.  Along rows,
   columns and diagonals each side predicts a vertex by continuing its own surface from
   samples beyond the ramp; a vertex strictly between two predictions that differ by more
   than the threshold is on a ramp and moves onto the nearer one.  The ramp becomes a clean
   step between two correctly continued surfaces, where the blurred value crossed the middle —
   where the step was.  :func:`restore_creases` does the same for creases: blur lifts a
   convex kink of disparity above both sides' continuations (and lowers a concave one below
   both); the vertex takes the nearer one, and the kink is sharp again.
2. :func:`cut_edges` — a grid edge (horizontal, vertical or diagonal) is a discontinuity when
   each of its ends is predicted badly from the other side: ``|q_u − (2·q_v − q_v′)|`` above
   the threshold relative to q, both ways.  Planes predict exactly, curved surfaces and creases
   almost.  Near a discontinuity (within the window) or on a ramp sharpening left alone, an
   edge steeper than ``ZONE_SLOPE`` (about 83° from face-on) is what is left of a ramp and is
   torn too — unless it lies on a plane (grazing ground, a wall edge-on): one that runs
   straight two windows beyond one of its ends, or, where sharpening moved one of its ends
   onto the surface behind, a window beyond both.
3. :func:`triangulate` — triangles without cut edges are kept; a triangle across a step is
   split at its cut edges' midpoints and every corner keeps the part nearest to it, extended
   half a step along its own surface (continued linearly where the surface is a plane, level
   where it curves — it may be curving away at its silhouette), so the two surfaces meet
   halfway instead of leaving a whole cell uncovered.  Where the two sides' surfaces would
   cross (a crease too coarse to resolve, or a steep surface ending in front of another) the
   triangles are dropped.  A coarse grid whose edges a finer one found (:func:`locate_cuts`)
   is split where the fine grid placed the step instead of at the middle, and its TEARs leave a
   gap one fine step wide instead of dropping whole cells.

Vectorised numpy only (it also runs inside Blender).
"""
from __future__ import annotations

import numpy as np

from .bands import Band, row_bands, run_bands
from .mesh import grid_faces

DEFAULT_EDGE_THRESHOLD = 0.02  # relative disparity mismatch that counts as a discontinuity
EDGE_WINDOW = 0.005  # the window, as a fraction of the grid's long side (≥ a blurred step's width)
MIN_WINDOW = 2  # grid steps
EXTEND_STRAIGHT = 0.0005  # a side continues to a split edge's midpoint only if this straight (relative)
MIN_REACH = 3  # a side is continued from no nearer than radius / MIN_REACH (clear of the ramp)
ZONE_SLOPE = 8.0  # |d log depth| per unit of tan-angle (≈ 83° from face-on), torn near a step
ZONE_PLANE = 0.1  # ... unless on a plane this straight (relative × threshold): a window both ways,
ZONE_PLANE_REACH = 2  # ... or, between vertices sharpening left alone, this many windows one way
RAMP_STRAIGHT = 0.5  # a side's parabola departs from its line by less than this × threshold at the vertex
RAMP_MARGIN = 0.03  # a ramp vertex is off both side predictions by more than this (relative),
RAMP_MARGIN_BLURRED = 0.015  # ... or this, beside a blurred step (no single step makes most of it),
RAMP_MARGIN_BEHIND = 0.01  # ... or this, when the nearer prediction is the surface behind;
RAMP_TAIL = 0.1  # ... and within this of the nearer one (a ramp's tail),
RAMP_SLOPE = 0.25  # ... or on a slope of this share of the mean slope of a ramp 2r wide,
RAMP_RELATIVE_SLOPE = 0.02  # ... or of this share of its own disparity per grid step
RAMP_SHARP = 0.6  # a single step of more than this share of the gap is a sharp step
CURVING_AWAY = 0.004  # a front surface's continuation bending by more than this (relative) onto a ramp


def edge_window_radius(nx: int, ny: int) -> int:
    """Sharpening window in grid steps for an ``nx`` × ``ny`` grid."""
    return max(MIN_WINDOW, round(EDGE_WINDOW * max(nx, ny)))


def _shifted(p: np.ndarray, pad: int, dj: int, di: int, shape: tuple[int, int]) -> np.ndarray:
    """View of padded ``p`` (padded by ``pad``) displaced by (dj, di) grid steps."""
    ny, nx = shape
    return p[pad + dj: pad + dj + ny, pad + di: pad + di + nx]


def _relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a − b| / max(a, b): 0 for equal disparities, towards 1 for very different ones."""
    return np.abs(a - b) / np.maximum(a, b)


def _window_extreme(a: np.ndarray, radius: int, axis: int, op) -> np.ndarray:
    """Running ``op`` (np.minimum / np.maximum) over 2·radius + 1 samples along ``axis``.

    Doubling: O(log radius) vectorised passes.  Borders repeat the edge value.
    """
    width = 2 * radius + 1
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius, radius + width)
    out = np.pad(a, pad, mode="edge")
    n = a.shape[axis]
    span = 1
    while span < width:  # out[k] = op over the padded a[k : k + 2·span]
        step = min(span, width - span)
        head = [slice(None)] * 2
        tail = [slice(None)] * 2
        head[axis] = slice(0, out.shape[axis] - step)
        tail[axis] = slice(step, None)
        out = op(out[tuple(head)], out[tuple(tail)])
        span += step
    keep = [slice(None)] * 2
    keep[axis] = slice(0, n)
    return out[tuple(keep)]


LINES = ((0, 1), (1, 0), (1, 1), (1, -1))  # rows, columns, diagonals: (dj, di) steps


def _radii(radius: int) -> list[int]:
    """1, 2, 4, … up to ``radius`` (included)."""
    out = [1]
    while out[-1] * 2 < radius:
        out.append(out[-1] * 2)
    if out[-1] < radius:
        out.append(radius)
    return out


def _side_predictions(flat, base, step, radius, threshold):
    """Each side's prediction of the vertices at flat indices ``base`` along a line.

    flat: the padded disparity, raveled; step: the flat offset of one grid step along the line.
    For each side (−step, +step): the parabola through the farthest nearly straight triple of
    samples r, r+k, r+2k steps away (r = radius … 2, 1; k = max(1, r // 2); bending so little
    that the parabola departs from a straight line at the vertex by less than RAMP_STRAIGHT ×
    threshold, relative: the curvature is trusted only as far as it cannot make a step of its
    own — a blurred step's tail, which bends the samples nearest to it, must not), continued
    to the vertex — exact on planes, close on gently curved surfaces, such as terrain curving
    away towards its silhouette; else the sample ``radius`` steps away.
    Returns ``(preds, exact, bends, slopes)``: two (N,) predictions, two (N,) bool "from a
    triple", two (N,) second differences of those triples scaled to the prediction's distance
    (how far a straight continuation would miss: the curvature's share of the prediction), and
    two (N,) slopes per grid step towards the vertex (0 without a triple).
    """
    radii = [r for r in reversed(_radii(radius)) if r * MIN_REACH >= radius]
    preds, exact, bends, slopes = [], [], [], []
    limit = np.float32(RAMP_STRAIGHT * threshold)
    for sgn in (-1, 1):
        st = sgn * step
        pred = flat[base + st * radius]
        found = np.zeros(len(base), bool)
        bend_at = np.full(len(base), np.inf, np.float32)
        slope = np.zeros(len(base), np.float32)
        todo = np.arange(len(base))  # vertices without a straight triple yet
        for r in radii:  # farthest straight triple first
            if not len(todo):
                break
            k = max(1, r // 2)
            b = base[todo]
            s1, s2, s3 = (flat[b + st * (r + m * k)] for m in (0, 1, 2))
            d2 = s1 - 2 * s2 + s3
            bend = np.abs(d2)
            t = r / k  # the vertex is t triple steps beyond s1; a straight line misses by bend·t(t+1)/2
            curve = np.float32(t * (t + 1) / 2)
            ok = bend * curve < limit * s2
            hit = todo[ok]
            s1, s2, d2, bend = s1[ok], s2[ok], d2[ok], bend[ok]
            pred[hit] = s1 + (s1 - s2) * np.float32(t) + d2 * curve
            bend_at[hit] = bend * curve
            slope[hit] = (s1 - s2) / np.float32(k)
            found[hit] = True
            todo = todo[~ok]
        preds.append(pred)
        exact.append(found)
        bends.append(bend_at)
        slopes.append(slope)
    return preds, exact, bends, slopes


def _window_ends(pp: np.ndarray, pad: int, radius: int, shape: tuple[int, int]):
    """Per line (rows, columns, diagonals): ``(dj, di, a, b)``, the samples ``radius`` steps back
    and ahead of every vertex of the (ny, nx) grid that ``pp`` holds padded by ``pad``."""
    for dj, di in LINES:
        yield (dj, di, _shifted(pp, pad, -dj * radius, -di * radius, shape),
               _shifted(pp, pad, dj * radius, di * radius, shape))


def _straddles(q: np.ndarray, a: np.ndarray, b: np.ndarray, threshold: float) -> np.ndarray:
    """The vertex lies strictly between the samples ``a`` and ``b``, which differ by more than
    the threshold (relative): it may be on a ramp between two surfaces."""
    return (np.abs(a - b) > threshold * np.maximum(a, b)) & ((q - a) * (q - b) < 0)


def _across_lines(q: np.ndarray, radius: int, threshold: float, screen):
    """Vertices worth a closer look along each line (rows, columns, diagonals), with both sides'
    continuations there (:func:`_side_predictions`).

    screen(q, a, b) → (ny, nx) bool, from the samples ``a``, ``b`` ``radius`` steps either side.
    Yields ``(dj, di, jj, ii, sides, walk)``: the line, the screened vertices' indices, the
    four-tuple of :func:`_side_predictions`, and ``(flat, base, step)`` to sample further along
    the line: ``flat[base + m·step]`` is m steps away (the border value, off the grid).
    """
    reach = _reach(radius)
    # beyond the photo's border a surface continues level (the border value repeated): a step
    # that meets the frame, such as a roof cut by the top edge, is still sharpened across it
    pp = np.pad(q, reach, mode="edge")
    flat, width = pp.ravel(), q.shape[1] + 2 * reach
    with np.errstate(invalid="ignore", divide="ignore"):
        for dj, di, a, b in _window_ends(pp, reach, radius, q.shape):
            jj, ii = np.nonzero(screen(q, a, b))
            if len(jj) == 0:
                continue
            base = (jj + reach) * width + (ii + reach)
            step = dj * width + di
            yield dj, di, jj, ii, _side_predictions(flat, base, step, radius, threshold), (flat, base, step)


def _reach(radius: int) -> int:
    """The farthest sample, in grid steps, that :func:`_across_lines` reads for ``radius``."""
    return max(r + 2 * max(1, r // 2) for r in _radii(radius))


def _by_bands(local, q: np.ndarray, halo: int, *more: np.ndarray) -> np.ndarray:
    """``local(q, *more)`` → (ny, nx) float32, computed in row bands (:mod:`depth3d.bands`):
    identical, as its row j depends on rows j ± ``halo`` of its (ny, nx) inputs only."""
    out = np.empty(q.shape, np.float32)

    def work(band: Band) -> None:
        a, b, lo, hi = band
        out[lo:hi] = local(q[a:b], *(m[a:b] for m in more))[lo - a:hi - a]

    run_bands(work, row_bands(*q.shape, halo))
    return out


def sharpen_steps(q: np.ndarray, radius: int, threshold: float, drop_curving: bool = False) -> np.ndarray:
    """Turn blurred steps of disparity back into clean ones.

    q:         (ny, nx) float32 disparity (1/depth), NaN where there is no point.
    radius:    window in grid steps (:func:`edge_window_radius`), about a blurred step's width.
    threshold: relative difference of the two sides that marks a step.
    drop_curving: ramp vertices on the front surface whose continuation bends by more than
               CURVING_AWAY (relative, either way: beside a silhouette it is curving away)
               become NaN: see below.
    Returns a new (ny, nx) float32 array; vertices off ramps keep their value.

    Along rows, columns and diagonals, each side of a vertex predicts it by continuing that
    side's surface (:func:`_side_predictions`, from samples clear of the ramp).  On a plane, a
    crease or a curved surface the vertex is not strictly between the two predictions; on a
    ramp it is.  A ramp vertex must also be off the nearer prediction by a margin (RAMP_MARGIN;
    smaller beside a blurred step, where no single grid step makes most of the gap, and
    smaller still when the nearer side is the surface behind: a sharp silhouette of a surface
    curving away must not be flattened), the two must differ by more than the threshold, and
    the vertex must be near one of them (a ramp's tail) or on a slope (both neighbours differ
    from it in the same direction: a thin flat surface between two others is no ramp).  It
    belongs to the nearer side (a symmetric blur crosses the middle where the step was) and
    takes that side's prediction, if it came from a triple.  Where that is the front surface and
    its continuation bends strongly (a surface curving away at its silhouette: a hill against
    the sky, a rock against the ground behind), its last few pixels turn towards the line of
    sight faster than any continuation from beyond the ramp can follow, and blur has replaced
    them; with ``drop_curving`` such a vertex is left out rather than guessed.
    """
    return _by_bands(lambda band: _sharpen_steps(band, radius, threshold, drop_curving), q, _reach(radius) + 1)


def _sharpen_steps(q: np.ndarray, radius: int, threshold: float, drop_curving: bool) -> np.ndarray:
    """:func:`sharpen_steps` on the whole of ``q``."""
    p1 = np.pad(q, 1, mode="edge")
    out = q.copy()
    best_gap = np.zeros(q.shape, np.float32)

    def screen(q, a, b):  # the samples themselves differ, and the vertex is between them
        return _straddles(q, a, b, threshold)

    with np.errstate(invalid="ignore", divide="ignore"):
        for dj, di, jj, ii, sides, (flat, base, st) in _across_lines(q, radius, threshold, screen):
            (left, right), exact, bends, _ = sides
            gap = np.abs(left - right)
            # the two sides' continuations must differ (on most screened vertices, a smooth
            # surface, they agree): the rest is worked out for those only
            sel = np.flatnonzero((gap > threshold * np.maximum(left, right)) & (gap > best_gap[jj, ii]))
            jj, ii, base, left, right, gap = jj[sel], ii[sel], base[sel], left[sel], right[sel], gap[sel]
            exact, bends = [e[sel] for e in exact], [b[sel] for b in bends]
            qv = q[jj, ii]
            dl, dr = np.abs(qv - left), np.abs(qv - right)
            ramp = np.ones(len(sel), bool)
            near_left = dl <= dr
            nearer = np.where(near_left, left, right)
            behind = nearer < np.maximum(left, right)
            off = np.fmin(dl, dr)
            ramp &= ((qv - left) * (qv - right) < 0) & (off > np.float32(RAMP_MARGIN_BEHIND) * nearer)
            # in front, the margin depends on the step: the largest single step within the
            # window — a sharp step has one that makes most of the gap, a blurred one not
            ask = np.flatnonzero(ramp & ~behind & (off <= np.float32(RAMP_MARGIN) * nearer))
            b_ask = base[ask]
            jump = np.zeros(len(ask), np.float32)
            for m in range(-radius, radius):
                jump = np.fmax(jump, np.abs(flat[b_ask + (m + 1) * st] - flat[b_ask + m * st]))
            sharp = jump > np.float32(RAMP_SHARP) * gap[ask]
            ramp[ask] = ~sharp & (off[ask] > np.float32(RAMP_MARGIN_BLURRED) * nearer[ask])
            ramp &= (left > 0) & (right > 0)
            ramp &= np.where(near_left, exact[0], exact[1])
            back = qv - p1[jj + 1 - dj, ii + 1 - di]
            ahead = p1[jj + 1 + dj, ii + 1 + di] - qv
            least = np.minimum(gap * np.float32(RAMP_SLOPE / (2 * radius)), qv * np.float32(RAMP_RELATIVE_SLOPE))
            sloped = (back * ahead > 0) & (np.abs(back) > least) & (np.abs(ahead) > least)
            close = np.abs(qv - nearer) < np.float32(RAMP_TAIL) * nearer
            ramp &= sloped | close
            # close to its side and beside a sharp step (one step makes most of the gap): a
            # surface curving away at its silhouette, not a blurred step
            ramp &= ~close | (np.fmax(np.abs(back), np.abs(ahead)) < np.float32(RAMP_SHARP) * gap)
            value = nearer
            if drop_curving:
                bend = np.where(near_left, bends[0], bends[1])
                curving = ~behind & (bend > np.float32(CURVING_AWAY) * nearer)
                value = np.where(curving, np.float32(np.nan), nearer)
            jj, ii = jj[ramp], ii[ramp]
            out[jj, ii] = value[ramp]
            best_gap[jj, ii] = gap[ramp]
    return out.astype(np.float32, copy=False)


CREASE_MIN = 0.004  # a rounded crease: the vertex is off both sides' predictions by this (relative)
CREASE_BEND = 4.0  # ... and by this many times more than the sides' own curvature explains


def restore_creases(q: np.ndarray, radius: int, threshold: float) -> np.ndarray:
    """Sharpen creases that blur has rounded: where two surfaces meet at an angle.

    q: (ny, nx) float32 disparity, NaN where there is no point; radius and threshold as for
    :func:`sharpen_steps`.  Returns a new (ny, nx) float32 array.

    Disparity is linear on planes, so a crease is a kink: the surface is the larger (convex)
    or the smaller (concave) of the two planes continued.  Blur lifts a convex kink above both
    continuations and lowers a concave one below both; on a line across it, a vertex off both
    sides' continuations in the same direction, by more than CREASE_MIN and more than
    the sides' own curvature explains, takes the nearer prediction — the kink restored.  Of the
    lines that qualify, the one that moves the vertex most wins.
    """
    return _by_bands(lambda band: _restore_creases(band, radius, threshold), q, _reach(radius) + 1)


def _restore_creases(q: np.ndarray, radius: int, threshold: float) -> np.ndarray:
    """:func:`restore_creases` on the whole of ``q``."""
    out = q.copy()
    best = np.zeros(q.shape, np.float32)

    def screen(q, a, b):  # the vertex is off the chord between the samples
        return np.abs(q - np.float32(0.5) * (a + b)) > np.float32(CREASE_MIN) * q

    with np.errstate(invalid="ignore", divide="ignore"):
        for _, _, jj, ii, sides, _ in _across_lines(q, radius, threshold, screen):
            qv = q[jj, ii]
            (left, right), (el, er), (bl, br), (sl, sr) = sides
            # off both continuations by CREASE_MIN (on a smooth surface they meet the vertex):
            # the rest is worked out for those only
            off = np.fmin(np.abs(qv - left), np.abs(qv - right))
            sel = np.flatnonzero(off > np.float32(CREASE_MIN) * qv)
            jj, ii, qv, left, right = jj[sel], ii[sel], qv[sel], left[sel], right[sel]
            el, er, bl, br, sl, sr = (x[sel] for x in (el, er, bl, br, sl, sr))
            dl, dr = qv - left, qv - right
            # a kink: the two sides' planes differ in slope and cross within the window, and the
            # rounding is no more than their slope difference over the window explains
            kink = np.abs(sl + sr) * np.float32(radius)
            nearer = np.where(np.abs(dl) <= np.abs(dr), left, right)
            move = np.abs(qv - nearer)
            ok = el & er & (dl * dr > 0) & (nearer > 0)
            ok &= (move > np.float32(CREASE_MIN) * qv) & (move > np.float32(CREASE_BEND) * np.maximum(bl, br))
            ok &= (move <= kink) & (np.abs(left - right) <= kink)
            ok &= move > best[jj, ii]
            jj, ii = jj[ok], ii[ok]
            out[jj, ii] = nearer[ok]
            best[jj, ii] = move[ok]
    return out


# Grid edges: "h" (j, i)–(j, i+1), "v" (j, i)–(j+1, i), "d" (j, i+1)–(j+1, i); each as its first
# end's offset from (j, i), the step to its second end, and its array shape for an (ny, nx) grid.
EDGE_KINDS = {"h": ((0, 0), (0, 1)), "v": ((0, 0), (1, 0)), "d": ((0, 1), (1, -1))}


def _edge_shape(kind: str, ny: int, nx: int) -> tuple[int, int]:
    return {"h": (ny, nx - 1), "v": (ny - 1, nx), "d": (ny - 1, nx - 1)}[kind]


def _edge_ends(p: np.ndarray, kind: str, ny: int, nx: int, pad: int):
    """Disparity at v′, v, u, u′ along every edge v–u of ``kind`` (v′ = v − step, u′ = u + step)."""
    (oj, oi), (sj, si) = EDGE_KINDS[kind]
    shape = _edge_shape(kind, ny, nx)
    return [_shifted(p, pad, oj + k * sj, oi + k * si, shape) for k in (-1, 0, 1, 2)]


def _along(q: np.ndarray, j: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``q[j, i]`` for index arrays, NaN where (j, i) is off the grid."""
    ny, nx = q.shape
    inside = (j >= 0) & (j < ny) & (i >= 0) & (i < nx)
    return np.where(inside, q[np.clip(j, 0, ny - 1), np.clip(i, 0, nx - 1)], np.float32(np.nan))


KEEP, SPLIT, TEAR = 0, 1, 2  # edge codes of cut_edges


def _on_plane(q: np.ndarray, kind: str, ej: np.ndarray, ei: np.ndarray, radius: int,
              threshold: float, guessed: np.ndarray | None) -> np.ndarray:
    """Whether the ``kind`` edges at (ej, ei) lie on a plane: (E,) bool.

    Disparity is linear along a plane, within ZONE_PLANE × threshold (relative).  An edge needs
    the plane to run a window beyond both ends, or ZONE_PLANE_REACH windows beyond one of its
    ends — ground beside a rock, whose far side crosses the rock.  An edge touching a
    ``guessed`` vertex (or any edge, when ``guessed`` is None) needs the first: sharpening
    lowered that vertex (moved it onto the surface behind a step, continued under the front
    one, or pressed a crease back), and a sliver of another surface just behind would prove
    such a guess wrong.
    """
    (oj, oi), (sj, si) = EDGE_KINDS[kind]
    tol = np.float32(ZONE_PLANE * threshold)

    def at(k):  # disparity k steps along the edge's line from its first end (NaN off the grid)
        return _along(q, ej + oj + k * sj, ei + oi + k * si)

    a, v, u, b = at(-radius), at(0), at(1), at(1 + radius)
    w = np.float32(radius / (2 * radius + 1))  # v and u on the line from a to b
    both = (np.abs(v - (a + (b - a) * w)) < tol * v) & (np.abs(u - (b + (a - b) * w)) < tol * u)
    if guessed is None:
        return both
    reach = ZONE_PLANE_REACH * radius
    half = max(1, reach // 2)
    one = np.zeros(len(ej), bool)
    for far, mid, end, nxt in ((-reach, -half, 0, 1), (1 + reach, 1 + half, 1, 0)):
        f, m, e, n = at(far), at(mid), at(end), at(nxt)
        slope = (e - f) / np.float32(reach)  # per grid step, towards the edge
        one |= (np.abs(m - (e - slope * np.float32(half))) < tol * m) & (np.abs(n - (e + slope)) < tol * n)
    unsure = guessed[ej + oj, ei + oi] | guessed[ej + oj + sj, ei + oi + si]
    return both | (one & ~unsure)


def _unsharpened_ramps(q: np.ndarray, measured: np.ndarray, radius: int, threshold: float) -> np.ndarray:
    """(ny, nx) bool: vertices on a ramp that sharpening left alone.

    A ramp as wide as the window, straight in disparity (a model's output upsampled
    bilinearly), predicts its own vertices and is not moved; nor is any of its edges a step.
    Along some line its vertex lies between the samples a window either way, which differ by
    more than the threshold, and off their chord by more than the threshold (a plane between
    them, grazing ground, lies on the chord).
    """
    ramp = np.zeros(q.shape, bool)
    with np.errstate(invalid="ignore"):
        for _, _, a, b in _window_ends(np.pad(q, radius, mode="edge"), radius, radius, q.shape):
            chord = np.float32(0.5) * (a + b)
            ramp |= _straddles(q, a, b, threshold) & (np.abs(q - chord) > threshold * q)
    return ramp & (q == measured)


def cut_edges(q: np.ndarray, threshold: float, radius: int = 0,
              pitch: tuple[float, float] = (0.0, 0.0),
              measured: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Which grid edges cross a discontinuity, and how to mend the triangles there.

    q:      (ny, nx) float32 disparity, NaN where there is no point.
    radius: the window (:func:`edge_window_radius`) around discontinuities in which edges
            steeper than ``ZONE_SLOPE`` are torn; 0 for none.
    pitch:  grid spacing (x, y) in tan-angle units (the relief plane: in units of its width).
    measured: (ny, nx) float32, ``q`` before sharpening (:func:`sharpen_steps`,
            :func:`restore_creases`); ``None`` when not known (every vertex is then in doubt).
    Returns ``{"h": (ny, nx−1), "v": (ny−1, nx), "d": (ny−1, nx−1)}`` uint8 arrays:
    ``KEEP`` (continuous), ``SPLIT`` (a step: split its triangles, each surface extended halfway)
    or ``TEAR`` (a step whose two surfaces, continued, cross within the edge — a crease too
    coarse to tell, or a steep surface ending in front of another: no extension, leave a gap).
    """
    ny, nx = q.shape
    # an edge's code depends on rows up to 2·radius + 3 away (_on_plane's reach beyond an end,
    # and the window around steps): computed in row bands, it is the same
    bands = row_bands(ny, nx, 2 * radius + 4)
    if len(bands) == 1:
        return _cut_edges(q, threshold, radius, pitch, measured)
    cuts = {kind: np.empty(_edge_shape(kind, ny, nx), np.uint8) for kind in EDGE_KINDS}

    def work(band: Band) -> None:
        a, b, lo, hi = band
        part = _cut_edges(q[a:b], threshold, radius, pitch, None if measured is None else measured[a:b])
        for kind, code in part.items():
            # "h" edges lie on rows; "v" and "d" edge row j joins rows j and j + 1
            end = hi if kind == "h" else min(hi, ny - 1)
            cuts[kind][lo:end] = code[lo - a:end - a]

    run_bands(work, bands)
    return cuts


def _cut_edges(q: np.ndarray, threshold: float, radius: int, pitch: tuple[float, float],
               measured: np.ndarray | None) -> dict[str, np.ndarray]:
    """:func:`cut_edges` on the whole of ``q``."""
    ny, nx = q.shape
    p = np.pad(q, 1, mode="edge")
    cuts = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for kind in EDGE_KINDS:
            vb, v, u, ub = _edge_ends(p, kind, ny, nx, 1)
            vb = np.where(np.isnan(vb), v, vb)  # a missing neighbour predicts by copying
            ub = np.where(np.isnan(ub), u, ub)
            pred_u, pred_v = 2 * v - vb, 2 * u - ub
            # Both surfaces continued across the edge must miss the other end; and they must not
            # cross on the way (that is a crease: two surfaces meeting within the edge).
            step = np.fmin(_relative(u, pred_u), _relative(v, pred_v)) > threshold
            code = np.where(step, SPLIT, KEEP).astype(np.uint8)
            tj, ti = np.nonzero(step)
            cross = (u[tj, ti] - pred_u[tj, ti]) * (pred_v[tj, ti] - v[tj, ti]) <= 0
            code[tj[cross], ti[cross]] = TEAR
            cuts[kind] = code
        if not radius:
            return cuts
        # Near a step (within the window), an edge steeper than ZONE_SLOPE is what is left of
        # a blurred ramp: tear it.  Far from steps, steep surfaces (grazing ground) are kept.
        near = np.zeros((ny, nx), np.uint8)
        for kind, code in cuts.items():
            (oj, oi), (sj, si) = EDGE_KINDS[kind]
            hit = (code != KEEP).astype(np.uint8)
            h0, w0 = code.shape
            near[oj:oj + h0, oi:oi + w0] |= hit
            near[oj + sj:oj + sj + h0, oi + si:oi + si + w0] |= hit
        for axis in (0, 1):
            near = _window_extreme(near, radius, axis, np.maximum)
        guessed = None
        if measured is not None:
            guessed = q < measured  # lowered by sharpening (NaN: False)
            near |= _unsharpened_ramps(q, measured, radius, threshold)
        zone = np.pad(near.astype(bool), 1, mode="edge")
        for kind, code in cuts.items():
            _, zv, zu, _ = _edge_ends(zone, kind, ny, nx, 1)
            (oj, oi), (sj, si) = EDGE_KINDS[kind]
            ej, ei = np.nonzero((zv | zu) & (code == KEEP))
            lv, lu = np.log(q[ej + oj, ei + oi]), np.log(q[ej + oj + sj, ei + oi + si])
            length = {"h": pitch[0], "v": pitch[1], "d": float(np.hypot(*pitch))}[kind]
            steep = np.abs(lu - lv) > ZONE_SLOPE * length
            # ... unless it lies on a plane (grazing ground, a wall seen edge-on), not a ramp
            # between two surfaces
            ej, ei = ej[steep], ei[steep]
            plane = _on_plane(q, kind, ej, ei, radius, threshold, guessed)
            code[ej[~plane], ei[~plane]] = TEAR
    return cuts


def edges_apart(q: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """Whether each grid edge's two ends differ by more than ``threshold`` (relative):
    ``{"h": (ny, nx−1), "v": (ny−1, nx), "d": (ny−1, nx−1)}`` bool."""
    ny, nx = q.shape
    p = np.pad(q, 1, mode="edge")
    out = {}
    with np.errstate(invalid="ignore"):
        for kind in EDGE_KINDS:
            _, v, u, _ = _edge_ends(p, kind, ny, nx, 1)
            out[kind] = _relative(v, u) > threshold
    return out


def _along_coarse(a: np.ndarray, kind: str, k: int, ny: int, nx: int, ends: bool = False) -> np.ndarray:
    """The fine grid's ``kind`` edges (``ends``: its vertices) along each ``kind`` edge of the
    (ny, nx) grid of every k-th fine vertex, first end to second: (k, *edge shape), or
    (k + 1, *edge shape) for the vertices."""
    shape = _edge_shape(kind, ny, nx)
    n = k + 1 if ends else k
    # the m-th fine edge (vertex) of coarse edge (J, I) sits at fine (J·k + oj·k + m·sj, ...)
    (oj, oi), (sj, si) = EDGE_KINDS[kind]
    lift = -1 if (kind == "d" and not ends) else 0  # a fine "d" edge is named by its (j, i+1) end
    return np.stack([a[oj * k + m * sj::k, oi * k + m * si + lift::k][:shape[0], :shape[1]]
                     for m in range(n)])


def coarsen_cuts(cuts: dict[str, np.ndarray], k: int, ny: int, nx: int) -> dict[str, np.ndarray]:
    """:func:`cut_edges` codes of a grid ``k`` times finer → those of the (ny, nx) grid of every
    k-th vertex: each coarse edge takes the strongest code (KEEP < SPLIT < TEAR) of the k fine
    edges along it (a diagonal runs through the fine diagonals of its k cells)."""
    return {kind: _along_coarse(c, kind, k, ny, nx).max(axis=0) for kind, c in cuts.items()}


def locate_cuts(q: np.ndarray, cuts: dict[str, np.ndarray], k: int,
                coarse_cuts: dict[str, np.ndarray]) -> dict[str, tuple]:
    """Where each side's surface ends on the cut edges of a coarse grid, from a grid ``k`` times
    finer: the coarse cell is split where the fine grid found the step, not at its middle.

    q:    (k·(ny−1)+1, k·(nx−1)+1) float32 fine disparity (sharpened); ``cuts`` its
          :func:`cut_edges`; coarse_cuts: those of the (ny, nx) grid of every k-th vertex.
    Returns ``{kind: (located, t_v, q_v, t_u, q_u)}``, arrays of the coarse edge shapes: whether
    a cut coarse edge has fine cuts along it; the fraction of the edge (from its first end v
    towards u) where v's surface ends and its disparity there, and the fraction where u's
    begins and its disparity.  A side runs up to the fine cut nearest to it: to its middle,
    extended half a fine step (:func:`half_steps`), at a SPLIT; to its near end at a TEAR.
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
        ext_v, ext_u = half_steps(q, cuts, kind, fine_j, fine_i)
        ext_v, ext_u = ext_v[:len(jj)], ext_u[len(jj):]
        q_v = np.where(split1, ext_v, q[fj + m1 * sj, fi + m1 * si])
        q_u = np.where(split2, ext_u, q[fj + (m2 + 1) * sj, fi + (m2 + 1) * si])
        ok = np.isfinite(q_v) & np.isfinite(q_u)  # a fine vertex with no point is no end
        located[jj[~ok], ii[~ok]] = False
        fields = [np.zeros(located.shape, np.float32) for _ in range(4)]
        for field, value in zip(fields, ((m1 + np.where(split1, 0.5, 0.0)) / k, q_v,
                                         (m2 + np.where(split2, 0.5, 1.0)) / k, q_u)):
            field[jj[ok], ii[ok]] = value[ok]
        out[kind] = (located, *fields)
    return out


def half_steps(q: np.ndarray, cuts: dict[str, np.ndarray], kind: str,
               jj: np.ndarray, ii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each end's surface extended half a step along the ``kind`` edges at (jj, ii) towards
    the other end: ``(q_v, q_u)``, (E,) disparities.  Linearly, where the edge behind the end
    is uncut and the three samples up to the end lie on a line within EXTEND_STRAIGHT (a
    plane); else level (a curved surface may be curving away at its silhouette).
    """
    (oj, oi), (sj, si) = EDGE_KINDS[kind]
    ny, nx = q.shape
    # samples along the line, the border value repeated beyond it
    vbb, vb, v, u, ub, ubb = (q[np.clip(oj + m * sj + jj, 0, ny - 1), np.clip(oi + m * si + ii, 0, nx - 1)]
                              for m in range(-2, 4))
    # is the edge behind each end (v′–v, u–u′) uncut?  Beyond the border counts as cut.
    behind_v = ~_cut_at(cuts[kind], jj - sj, ii - si)
    behind_u = ~_cut_at(cuts[kind], jj + sj, ii + si)
    with np.errstate(invalid="ignore"):
        flat_v = behind_v & (np.abs(vbb - 2 * vb + v) < np.float32(EXTEND_STRAIGHT) * v)
        flat_u = behind_u & (np.abs(ubb - 2 * ub + u) < np.float32(EXTEND_STRAIGHT) * u)
        q_v = np.where(flat_v & (1.5 * v - 0.5 * vb > 0), 1.5 * v - 0.5 * vb, v)
        q_u = np.where(flat_u & (1.5 * u - 0.5 * ub > 0), 1.5 * u - 0.5 * ub, u)
    return q_v, q_u


def _cut_at(code: np.ndarray, j: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Whether the edges of ``code`` (cut_edges' codes of one kind) at (j, i) are cut; True off the grid."""
    h, w = code.shape
    inside = (j >= 0) & (j < h) & (i >= 0) & (i < w)
    return ~inside | (code[np.clip(j, 0, h - 1), np.clip(i, 0, w - 1)] != KEEP)


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


def _split(corners, cut, mids):
    """Faces of triangles (P0, P1, P2) with edges e01, e12, e20 split at cut-edge midpoints.

    corners: three (T,) vertex ids; cut: three (T,) bool for e01, e12, e20; mids: for each
    edge, two (T,) ids — the midpoint on the surface of its first and of its second corner
    (edge e01 runs P0→P1, e12 P1→P2, e20 P2→P0).
    """
    p0, p1, p2 = corners
    k01, k12, k20 = cut
    (a01, b01), (a12, b12), (a20, b20) = mids  # a: on the edge's first corner, b: second
    faces = []

    def add(mask, *tri):
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


def _triangle_edges(e: dict[str, np.ndarray]):
    """Per-edge arrays → the edges of each grid cell's two triangles, (ny−1, nx−1) each:
    ``((ab, ac, bc), (bc, cd, bd))`` for the cell a = (j, i), b = (j, i+1), c = (j+1, i),
    d = (j+1, i+1), whose first triangle is (a, c, b) and second (b, c, d)."""
    return ((e["h"][:-1], e["v"][:, :-1], e["d"]), (e["d"], e["h"][1:], e["v"][:, 1:]))


def triangulate(q: np.ndarray, cuts: dict[str, np.ndarray] | None, located: dict[str, tuple] | None = None):
    """Faces of the vertex grid, with triangles across cut edges split where the step is.

    q:    (ny, nx) disparity, NaN where there is no point (triangles touching it are dropped).
    cuts: :func:`cut_edges`, or ``None`` to keep every triangle whole.
    located: :func:`locate_cuts` for a grid whose steps a finer one placed: a cut edge it
          locates is split there, its TEARs included (each side up to its fine cut, the gap
          a fine step wide); ``None``: every cut edge is split at its middle (:func:`half_steps`)
          and triangles with a TEAR are dropped.
    Returns ``(faces, mid_own, mid_other, mid_q, mid_t)``: (F, 3) int32 faces, counter-clockwise
    seen from the camera, indexing the ny·nx grid vertices followed by M split vertices; for
    each split vertex the flat grid index of the corner whose surface it lies on and of the
    other end of its edge, its (M,) float32 disparity and its (M,) float32 place on the edge
    (the fraction of the way from its own corner; one that falls on its corner is not used).
    """
    ny, nx = q.shape
    valid = ~np.isnan(q)
    first_ok = valid[:-1, :-1] & valid[1:, :-1] & valid[:-1, 1:]
    second_ok = valid[:-1, 1:] & valid[1:, :-1] & valid[1:, 1:]
    if cuts is None:
        empty = np.zeros((0,), np.int32)
        return grid_faces(first_ok, second_ok), empty, empty, np.zeros((0,), np.float32), np.zeros((0,), np.float32)
    tear = {kind: c == TEAR for kind, c in cuts.items()}
    if located:
        cut = {kind: (c == SPLIT) | located[kind][0] for kind, c in cuts.items()}
        unplaced = _triangle_edges({kind: tear[kind] & ~located[kind][0] for kind in cuts})
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
    split = []
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
    faces = grid_faces(first_ok & ~first_cut, second_ok & ~second_cut, *split)

    # split vertices, in id order: per edge kind, per cut edge, (first end, second end)
    own, other, mq, mt = [], [], [], []
    for kind, sel in (("h", ch), ("v", cv), ("d", cd)):
        (oj, oi), (sj, si) = EDGE_KINDS[kind]
        ej, ei = np.nonzero(sel)
        gv = ((ej + oj) * nx + (ei + oi)).astype(np.int32)
        gu = ((ej + oj + sj) * nx + (ei + oi + si)).astype(np.int32)
        qv, qu = half_steps(q, cuts, kind, ej, ei)
        tv, tu = np.full(len(qv), 0.5, np.float32), np.full(len(qv), 0.5, np.float32)
        if located:
            here, t_v, q_v, t_u, q_u = (x[sel] for x in located[kind])
            qv, qu = np.where(here, q_v, qv), np.where(here, q_u, qu)
            tv, tu = np.where(here, t_v, tv), np.where(here, np.float32(1.0) - t_u, tu)
        own.append(np.stack([gv, gu], axis=1).ravel())
        other.append(np.stack([gu, gv], axis=1).ravel())
        mq.append(np.stack([qv, qu], axis=1).ravel())
        mt.append(np.stack([tv, tu], axis=1).ravel())
    own, other = np.concatenate(own), np.concatenate(other)
    mq = np.concatenate(mq).astype(np.float32, copy=False)
    mt = np.concatenate(mt).astype(np.float32, copy=False)
    if located:
        # a side that ends at its own corner is that corner: its slivers are no triangles
        at_corner = np.flatnonzero(mt <= 0)
        if len(at_corner):
            remap = np.arange(base, dtype=np.int32)
            remap[ny * nx + at_corner] = own[at_corner]
            faces = remap[faces]
            faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])]
    return faces, own, other, mq, mt
