"""Grid triangulation: faces of a vertex grid, with cut triangles left out; dropping unused vertices."""
from __future__ import annotations

import numpy as np

__all__ = ["CHUNK", "compact", "grid_faces", "kept_grid_index"]


def grid_faces(keep_first: np.ndarray, keep_second: np.ndarray, *more: np.ndarray) -> np.ndarray:
    """Triangles of an (ny, nx) vertex grid, counter-clockwise seen from the camera.

    keep_first, keep_second: (ny−1, nx−1) bool, which of the quads' triangles
    (a, c, b) and (b, c, d) to keep (a top-left, b top-right, c bottom-left, d bottom-right).
    more: (k, 3) faces to append after them (one allocation for all).
    Returns (F, 3) int32 indices into the row-major flattened grid: the kept first triangles,
    row-major, then the kept second ones, then ``more``.
    """
    ny, nx = keep_first.shape[0] + 1, keep_first.shape[1] + 1
    a = np.arange(ny * nx, dtype=np.int32).reshape(ny, nx)[:-1, :-1]
    n1, n2 = int(np.count_nonzero(keep_first)), int(np.count_nonzero(keep_second))
    out = np.empty((n1 + n2 + sum(len(m) for m in more), 3), np.int32)
    first, second = out[:n1], out[n1:n1 + n2]
    first[:, 0] = a[keep_first]  # (a, a + nx, a + 1)
    np.add(first[:, 0], np.int32(nx), out=first[:, 1])
    np.add(first[:, 0], np.int32(1), out=first[:, 2])
    second[:, 1] = a[keep_second]  # (a + 1, a + nx, a + nx + 1)
    np.add(second[:, 1], np.int32(1), out=second[:, 0])
    np.add(second[:, 1], np.int32(nx + 1), out=second[:, 2])
    np.add(second[:, 1], np.int32(nx), out=second[:, 1])
    if more:
        out[n1 + n2:] = np.concatenate(more)
    return out


def kept_grid_index(used: np.ndarray, n_grid: int) -> np.ndarray:
    """(K,) int32 grid position of each vertex :func:`compact` keeps (``used``: its mask over
    ``n_grid`` grid vertices, row-major, then other vertices, which get −1)."""
    grid = np.flatnonzero(used[:n_grid]).astype(np.int32)
    out = np.full(len(grid) + int(np.count_nonzero(used[n_grid:])), -1, np.int32)
    out[:len(grid)] = grid
    return out


CHUNK = 1 << 20  # indices per pass: numpy widens index arrays to intp, so they go a chunk at a time


def compact(faces: np.ndarray, n_vertices: int, in_place: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Drop vertices no face uses.

    Returns ``(used, faces)``: (n_vertices,) bool mask of kept vertices and the (F, 3) int32
    faces renumbered to index the kept vertices only (``faces`` itself, renumbered, with
    ``in_place``).
    """
    used = np.zeros(n_vertices, dtype=bool)
    flat = faces.reshape(-1)
    for start in range(0, len(flat), CHUNK):
        used[flat[start:start + CHUNK]] = True
    if not in_place:
        faces = faces.copy()
    if not used.all():
        new_index = np.cumsum(used, dtype=np.int32) - 1
        flat = faces.reshape(-1)
        for start in range(0, len(flat), CHUNK):
            part = flat[start:start + CHUNK]
            np.take(new_index, part, out=part, mode="wrap")  # in range: nothing wraps
    return used, faces
