"""Grid triangulation: faces of a vertex grid, with cut triangles left out; dropping unused vertices."""
from __future__ import annotations

import numpy as np

__all__ = ["CHUNK", "GRID_BAND_CELLS", "compact", "grid_faces", "kept_grid_index"]


GRID_BAND_CELLS = 1 << 18  # cells per band in grid_faces: its temporaries stay cache-sized


def grid_faces(keep_first: np.ndarray, keep_second: np.ndarray, *more: np.ndarray) -> np.ndarray:
    """Triangles of an (ny, nx) vertex grid, counter-clockwise seen from the camera.

    keep_first, keep_second: (ny−1, nx−1) bool, which of the quads' triangles
    (a, c, b) and (b, c, d) to keep (a top-left, b top-right, c bottom-left, d bottom-right).
    more: (k, 3) faces to append after them (one allocation for all).
    Returns (F, 3) int32 indices into the row-major flattened grid: the kept first triangles,
    row-major, then the kept second ones, then ``more``.  Filled a band of rows at a time, so
    that the only full-size array is the result.
    """
    ny, nx = keep_first.shape[0] + 1, keep_first.shape[1] + 1
    n1, n2 = int(np.count_nonzero(keep_first)), int(np.count_nonzero(keep_second))
    out = np.empty((n1 + n2 + sum(len(m) for m in more), 3), np.int32)
    rows = max(1, GRID_BAND_CELLS // nx)
    # a, the top-left corner of each cell of a band's rows, relative to the band's first vertex
    corner = np.arange(min(rows, ny - 1) * nx, dtype=np.int32).reshape(-1, nx)[:, :-1]
    at1, at2 = 0, n1
    for j in range(0, ny - 1, rows):
        k = min(ny - 1, j + rows) - j
        a = corner[:k][keep_first[j:j + k]]
        a += np.int32(j * nx)
        first = out[at1:at1 + len(a)]  # (a, a + nx, a + 1)
        first[:, 0] = a
        np.add(a, np.int32(nx), out=first[:, 1])
        np.add(a, np.int32(1), out=first[:, 2])
        at1 += len(a)
        a = corner[:k][keep_second[j:j + k]]
        a += np.int32(j * nx)
        second = out[at2:at2 + len(a)]  # (a + 1, a + nx, a + nx + 1)
        np.add(a, np.int32(1), out=second[:, 0])
        np.add(a, np.int32(nx), out=second[:, 1])
        np.add(a, np.int32(nx + 1), out=second[:, 2])
        at2 += len(a)
    if more:
        out[n1 + n2:] = np.concatenate(more)
    return out


CHUNK = 1 << 20  # indices per pass: numpy widens index arrays to intp, so they go a chunk at a time


def kept_grid_index(used: np.ndarray, n_grid: int) -> np.ndarray:
    """(K,) int32 grid position of each vertex :func:`compact` keeps (``used``: its mask over
    ``n_grid`` grid vertices, row-major, then other vertices, which get −1).  Found a chunk
    at a time, straight into the result (no full-size intp positions)."""
    n_kept = int(np.count_nonzero(used[:n_grid]))
    out = np.empty(n_kept + int(np.count_nonzero(used[n_grid:])), np.int32)
    at = 0
    for start in range(0, n_grid, CHUNK):
        found = np.flatnonzero(used[start:min(n_grid, start + CHUNK)])
        np.add(found, start, out=out[at:at + len(found)], casting="unsafe")
        at += len(found)
    out[n_kept:] = -1
    return out


def _running_count(used: np.ndarray) -> np.ndarray:
    """(N,) int32 new index of each vertex ``used`` ((N,) bool) keeps: the running count of kept
    vertices up to it, less one (for one not kept, the kept one before it, or −1).  Counted a
    chunk at a time into the result (a cumulative sum casts its whole input first)."""
    out = np.empty(len(used), np.int32)
    carry = np.int32(-1)
    for start in range(0, len(used), CHUNK):
        part = out[start:start + CHUNK]
        np.cumsum(used[start:start + CHUNK], dtype=np.int32, out=part)
        np.add(part, carry, out=part)
        carry = part[-1]
    return out


def _or_shifted(used: np.ndarray, mark: np.ndarray, shift: int) -> None:
    """``used[i + shift] |= mark[i]`` wherever both are in range."""
    if shift >= 0:
        np.logical_or(used[shift:], mark[:len(mark) - shift], out=used[shift:])
    else:
        np.logical_or(used[:shift], mark[-shift:], out=used[:shift])


def _mark_cells(used: np.ndarray, keep_first: np.ndarray, keep_second: np.ndarray) -> int:
    """Set ``used`` at the corners of the triangles :func:`grid_faces` makes of ``keep_first``,
    ``keep_second`` ((ny−1, nx−1) bool; ``used`` starts with the (ny, nx) grid's vertices,
    row-major): each mask OR-ed onto its triangle's three corners, (a, c, b) and (b, c, d),
    without reading a face.  Returns how many triangles that is."""
    ny, nx = keep_first.shape[0] + 1, keep_first.shape[1] + 1
    grid = used[:ny * nx].reshape(ny, nx)
    for keep, corners in ((keep_first, ((0, 0), (1, 0), (0, 1))), (keep_second, ((0, 1), (1, 0), (1, 1)))):
        for dj, di in corners:
            corner = grid[dj:dj + ny - 1, di:di + nx - 1]
            np.logical_or(corner, keep, out=corner)
    return int(np.count_nonzero(keep_first)) + int(np.count_nonzero(keep_second))


def _mark_used(faces: np.ndarray, used: np.ndarray, blocks: tuple[int, int, int] | None,
               cells: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Set ``used`` at every index of ``faces``.  With ``cells`` (as :func:`compact` takes them)
    the grid's triangles at the start are marked from those masks (:func:`_mark_cells`).  Else
    with ``blocks`` = (nx, first, second) (the :func:`grid_faces` triangles at the start, as
    triangulate counts them), their vertices come from one corner each — a first triangle's a
    marks a, a+nx, a+1; a second one's c = a+nx marks a+1, c, c+1 — as three shifted ORs of that
    mark: one scattered write a face, not three."""
    flat = faces.reshape(-1)
    grid = 0
    if cells is not None:
        grid = _mark_cells(used, *cells)
    elif blocks is not None:
        nx, first, second = blocks
        grid = first + second
        mark = np.zeros_like(used)
        for lo, hi, corner, shifts in ((0, first, 0, (0, nx, 1)), (first, grid, 1, (1 - nx, 0, 1))):
            if hi == lo:
                continue
            mark[:] = False
            for start in range(lo, hi, CHUNK):
                mark[faces[start:min(hi, start + CHUNK), corner]] = True
            for shift in shifts:
                _or_shifted(used, mark, shift)
    for start in range(3 * grid, len(flat), CHUNK):
        used[flat[start:start + CHUNK]] = True


def compact(faces: np.ndarray, n_vertices: int, in_place: bool = False,
            blocks: tuple[int, int, int] | None = None,
            cells: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Drop vertices no face uses.

    blocks: ``(nx, first, second)`` when ``faces`` start with ``first`` first and ``second``
    second triangles of :func:`grid_faces` on a grid ``nx`` vertices wide (as
    :func:`~depth3d.geometry.edges.triangulate` counts them; a faster way to the same result), else ``None``.
    cells:  ``(keep_first, keep_second)``, (ny−1, nx−1) bool, when ``faces`` start with the
            triangles :func:`grid_faces` makes of these masks (the grid's ny·nx vertices first):
            their vertices are read off the masks (faster still; ``blocks`` is then not needed).
    Returns ``(used, faces)``: (n_vertices,) bool mask of kept vertices and the (F, 3) int32
    faces renumbered to index the kept vertices only (``faces`` itself, renumbered, with
    ``in_place``).
    """
    used = np.empty(n_vertices, dtype=bool)
    used.fill(False)  # written before it is read: a fresh page faults once (np.zeros': read as zeros, then copied)
    _mark_used(faces, used, blocks, cells)
    if not in_place:
        faces = faces.copy()
    if not used.all():
        new_index = _running_count(used)
        flat = faces.reshape(-1)
        for start in range(0, len(flat), CHUNK):
            part = flat[start:start + CHUNK]
            np.take(new_index, part, out=part, mode="wrap")  # in range: nothing wraps
    return used, faces
