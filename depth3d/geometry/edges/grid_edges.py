"""The grid's edges, their codes, and sampling helpers that every stage shares.

A (ny, nx) vertex grid has three kinds of edges: ``"h"`` (j, i)–(j, i+1), ``"v"`` (j, i)–(j+1, i)
and ``"d"`` (j, i+1)–(j+1, i) (the diagonal of cell (j, i) that its two triangles share).  Each
kind is an array of the edge shape (:func:`edge_shape`) indexed by (j, i) of the cell or edge.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["EDGE_KINDS", "KEEP", "SPLIT", "TEAR", "Cuts", "along", "edge_ends", "edge_shape", "nonzero_2d",
           "relative", "shifted", "window_extreme"]

KEEP, SPLIT, TEAR = 0, 1, 2  # edge codes of cut_edges

Cuts = dict[str, np.ndarray]
"""``{"h": (ny, nx−1), "v": (ny−1, nx), "d": (ny−1, nx−1)}`` uint8 edge codes (KEEP, SPLIT, TEAR)."""

# Grid edges: "h" (j, i)–(j, i+1), "v" (j, i)–(j+1, i), "d" (j, i+1)–(j+1, i); each as its first
# end's offset from (j, i) and the step to its second end.
EDGE_KINDS = {"h": ((0, 0), (0, 1)), "v": ((0, 0), (1, 0)), "d": ((0, 1), (1, -1))}


def edge_shape(kind: str, ny: int, nx: int) -> tuple[int, int]:
    """Shape of the ``kind`` edge array of an (ny, nx) grid."""
    return {"h": (ny, nx - 1), "v": (ny - 1, nx), "d": (ny - 1, nx - 1)}[kind]


def shifted(p: np.ndarray, pad: int, dj: int, di: int, shape: tuple[int, ...]) -> np.ndarray:
    """View of padded ``p`` (padded by ``pad``) displaced by (dj, di) grid steps."""
    ny, nx = shape
    return p[pad + dj: pad + dj + ny, pad + di: pad + di + nx]


def nonzero_2d(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-d bool array (rows, columns; row-major), through the flat indices:
    several times faster where few are set."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a − b| / max(a, b): 0 for equal disparities, towards 1 for very different ones."""
    out = np.subtract(a, b)
    np.abs(out, out=out)
    out /= np.maximum(a, b)
    return out


def edge_ends(p: np.ndarray, kind: str, ny: int, nx: int, pad: int) -> list[np.ndarray]:
    """Disparity at v′, v, u, u′ along every edge v–u of ``kind`` (v′ = v − step, u′ = u + step)
    of the (ny, nx) grid that ``p`` holds padded by ``pad``: four views of the edge shape."""
    (oj, oi), (sj, si) = EDGE_KINDS[kind]
    shape = edge_shape(kind, ny, nx)
    return [shifted(p, pad, oj + k * sj, oi + k * si, shape) for k in (-1, 0, 1, 2)]


def along(q: np.ndarray, j: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``q[j, i]`` for index arrays, NaN where (j, i) is off the grid."""
    ny, nx = q.shape
    inside = (j >= 0) & (j < ny) & (i >= 0) & (i < nx)
    return np.where(inside, q[np.clip(j, 0, ny - 1), np.clip(i, 0, nx - 1)], np.float32(np.nan))


def window_extreme(a: np.ndarray, radius: int, axis: int,
                   op: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
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
        head: list[slice] = [slice(None)] * 2
        tail: list[slice] = [slice(None)] * 2
        head[axis] = slice(0, out.shape[axis] - step)
        tail[axis] = slice(step, None)
        out = op(out[tuple(head)], out[tuple(tail)])
        span += step
    keep: list[slice] = [slice(None)] * 2
    keep[axis] = slice(0, n)
    return out[tuple(keep)]
