"""Stage 1: blurred steps and creases of disparity made sharp again.

Models blur a step over a few pixels into a ramp.  Along rows, columns and diagonals each side
predicts a vertex by continuing its own surface from samples beyond the ramp
(:func:`~depth3d.geometry.edges.lines.side_predictions`); a vertex strictly between two predictions that
differ by more than the threshold is on a ramp and moves onto the nearer one
(:func:`sharpen_steps`).  The ramp becomes a clean step between two correctly continued
surfaces, where the blurred value crossed the middle — where the step was.
:func:`restore_creases` does the same for creases: blur lifts a convex kink of disparity above
both sides' continuations (and lowers a concave one below both); the vertex takes the nearer
one, and the kink is sharp again.
"""
from __future__ import annotations

import numpy as np

from .lines import Region, across_lines, by_tiles, continuation_weight, reach, straddles
from .params import EdgeParams, resolve
from .tiles import TileCache, WindowStats, quiet_tiles

__all__ = ["restore_creases", "sharpen_steps"]


def sharpen_steps(q: np.ndarray, radius: int, threshold: float, drop_curving: bool = False,
                  params: EdgeParams | None = None, tiles: TileCache | None = None) -> np.ndarray:
    """Turn blurred steps of disparity back into clean ones.

    q:         (ny, nx) float32 disparity (1/depth), NaN where there is no point.
    radius:    window in grid steps (:func:`~depth3d.geometry.edges.params.edge_window_radius`), about a
               blurred step's width.
    threshold: relative difference of the two sides that marks a step.
    drop_curving: ramp vertices on the front surface whose continuation bends by more than
               ``curving_away`` (relative, either way: beside a silhouette it is curving away)
               become NaN: see below.
    params:    the tuning constants (:class:`~depth3d.geometry.edges.params.EdgeParams`; None: the defaults).
    tiles:     tile statistics shared with the stages after (:class:`~depth3d.geometry.edges.tiles.TileCache`).
    Returns a new (ny, nx) float32 array; vertices off ramps keep their value.

    Along rows, columns and diagonals, each side of a vertex predicts it by continuing that
    side's surface (from samples clear of the ramp).  On a plane, a crease or a curved surface
    the vertex is not strictly between the two predictions; on a ramp it is.  A ramp vertex must
    also be off the nearer prediction by a margin (``ramp_margin``; smaller beside a blurred step,
    where no single grid step makes most of the gap, and smaller still when the nearer side is
    the surface behind: a sharp silhouette of a surface curving away must not be flattened), the
    two must differ by more than the threshold, and the vertex must be near one of them (a ramp's
    tail) or on a slope (both neighbours differ from it in the same direction: a thin flat
    surface between two others is no ramp).  It belongs to the nearer side (a symmetric blur
    crosses the middle where the step was) and takes that side's prediction, if it came from a
    triple.  Where that is the front surface and its continuation bends strongly (a surface
    curving away at its silhouette: a hill against the sky, a rock against the ground behind),
    its last few pixels turn towards the line of sight faster than any continuation from beyond
    the ramp can follow, and blur has replaced them; with ``drop_curving`` such a vertex is left
    out rather than guessed.
    """
    p = resolve(params)
    # a ramp vertex is off its nearer side's continuation, which came from a triple, by more than
    # ramp_margin_behind (the least margin) × that continuation: not where it is within half of that
    margin = 0.5 * min(p.ramp_margin_behind, p.ramp_margin_blurred, p.ramp_margin)

    def quiet(stats: WindowStats) -> np.ndarray:  # miss ≤ margin·(qmin − miss)
        return quiet_tiles(stats, continuation_weight(radius, p), lambda lo, hi: margin * lo / (1 + margin))

    return by_tiles(lambda part, own: _sharpen_steps(part, radius, threshold, drop_curving, p, own), q,
                    reach(radius) + 1, quiet, tiles)


def _sharpen_steps(q: np.ndarray, radius: int, threshold: float, drop_curving: bool, p: EdgeParams,
                   region: Region) -> np.ndarray:
    """:func:`sharpen_steps` on ``q``, right in ``region`` (outside it, ``q``'s vertices are only read)."""
    out = q.copy()
    best_gap = np.zeros(q.shape, np.float32)

    def screen(q: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return straddles(q, a, b, threshold)  # the samples differ, and the vertex is between them

    def settled(q: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return ~(np.abs(left - right) > threshold * np.maximum(left, right))  # the sides agree: no step

    with np.errstate(invalid="ignore", divide="ignore"):
        # a ramp vertex takes its nearer side's prediction, one from a straight triple
        lines = across_lines(q, radius, threshold, screen, p, region, exact="either", settled=settled)
        for _, _, jj, ii, sides, (flat, base, st) in lines:
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
            ramp &= ((qv - left) * (qv - right) < 0) & (off > np.float32(p.ramp_margin_behind) * nearer)
            # in front, the margin depends on the step: the largest single step within the
            # window — a sharp step has one that makes most of the gap, a blurred one not
            ask = np.flatnonzero(ramp & ~behind & (off <= np.float32(p.ramp_margin) * nearer))
            b_ask = base[ask]
            jump = np.zeros(len(ask), np.float32)
            for m in range(-radius, radius):
                jump = np.fmax(jump, np.abs(flat[b_ask + (m + 1) * st] - flat[b_ask + m * st]))
            sharp = jump > np.float32(p.ramp_sharp) * gap[ask]
            ramp[ask] = ~sharp & (off[ask] > np.float32(p.ramp_margin_blurred) * nearer[ask])
            ramp &= (left > 0) & (right > 0)
            ramp &= np.where(near_left, exact[0], exact[1])
            back = qv - flat[base - st]  # the neighbours along the line (the border value beyond)
            ahead = flat[base + st] - qv
            least = np.minimum(gap * np.float32(p.ramp_slope / (2 * radius)),
                               qv * np.float32(p.ramp_relative_slope))
            sloped = (back * ahead > 0) & (np.abs(back) > least) & (np.abs(ahead) > least)
            close = np.abs(qv - nearer) < np.float32(p.ramp_tail) * nearer
            ramp &= sloped | close
            # close to its side and beside a sharp step (one step makes most of the gap): a
            # surface curving away at its silhouette, not a blurred step
            ramp &= ~close | (np.fmax(np.abs(back), np.abs(ahead)) < np.float32(p.ramp_sharp) * gap)
            value = nearer
            if drop_curving:
                bend = np.where(near_left, bends[0], bends[1])
                curving = ~behind & (bend > np.float32(p.curving_away) * nearer)
                value = np.where(curving, np.float32(np.nan), nearer)
            jj, ii = jj[ramp], ii[ramp]
            out[jj, ii] = value[ramp]
            best_gap[jj, ii] = gap[ramp]
    return out.astype(np.float32, copy=False)


def restore_creases(q: np.ndarray, radius: int, threshold: float, params: EdgeParams | None = None,
                    tiles: TileCache | None = None) -> np.ndarray:
    """Sharpen creases that blur has rounded: where two surfaces meet at an angle.

    q: (ny, nx) float32 disparity, NaN where there is no point; radius, threshold, params and
    tiles as for :func:`sharpen_steps`.  Returns a new (ny, nx) float32 array.

    Disparity is linear on planes, so a crease is a kink: the surface is the larger (convex)
    or the smaller (concave) of the two planes continued.  Blur lifts a convex kink above both
    continuations and lowers a concave one below both; on a line across it, a vertex off both
    sides' continuations in the same direction, by more than ``crease_min`` and more than
    the sides' own curvature explains (``crease_bend``), takes the nearer prediction — the kink
    restored.  Of the lines that qualify, the one that moves the vertex most wins.
    """
    p = resolve(params)

    def quiet(stats: WindowStats) -> np.ndarray:  # a crease moves a vertex by more than crease_min
        return quiet_tiles(stats, continuation_weight(radius, p), lambda lo, hi: 0.5 * p.crease_min * lo)

    return by_tiles(lambda part, own: _restore_creases(part, radius, threshold, p, own), q, reach(radius) + 1, quiet,
                    tiles)


def _restore_creases(q: np.ndarray, radius: int, threshold: float, p: EdgeParams, region: Region) -> np.ndarray:
    """:func:`restore_creases` on ``q``, right in ``region`` (outside it, ``q``'s vertices are only read)."""
    out = q.copy()
    best = np.zeros(q.shape, np.float32)

    def screen(q: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.abs(q - np.float32(0.5) * (a + b)) > np.float32(p.crease_min) * q  # off the chord

    def settled(q: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:  # on a continuation
        return ~(np.fmin(np.abs(q - left), np.abs(q - right)) > np.float32(p.crease_min) * q)

    with np.errstate(invalid="ignore", divide="ignore"):
        # a kink needs both sides' predictions from straight triples
        for _, _, jj, ii, sides, _ in across_lines(q, radius, threshold, screen, p, region, exact="both",
                                                   settled=settled):
            qv = q[jj, ii]
            (left, right), (el, er), (bl, br), (sl, sr) = sides
            # off both continuations by crease_min (on a smooth surface they meet the vertex):
            # the rest is worked out for those only
            off = np.fmin(np.abs(qv - left), np.abs(qv - right))
            sel = np.flatnonzero(off > np.float32(p.crease_min) * qv)
            jj, ii, qv, left, right = jj[sel], ii[sel], qv[sel], left[sel], right[sel]
            el, er, bl, br, sl, sr = (x[sel] for x in (el, er, bl, br, sl, sr))
            dl, dr = qv - left, qv - right
            # a kink: the two sides' planes differ in slope and cross within the window, and the
            # rounding is no more than their slope difference over the window explains
            kink = np.abs(sl + sr) * np.float32(radius)
            nearer = np.where(np.abs(dl) <= np.abs(dr), left, right)
            move = np.abs(qv - nearer)
            ok = el & er & (dl * dr > 0) & (nearer > 0)
            ok &= (move > np.float32(p.crease_min) * qv) & (move > np.float32(p.crease_bend) * np.maximum(bl, br))
            ok &= (move <= kink) & (np.abs(left - right) <= kink)
            ok &= move > best[jj, ii]
            jj, ii = jj[ok], ii[ok]
            out[jj, ii] = nearer[ok]
            best[jj, ii] = move[ok]
    return out
