"""Grid triangulation: faces of a vertex grid, with cut triangles left out."""
from __future__ import annotations

import numpy as np


def grid_faces(keep_first: np.ndarray, keep_second: np.ndarray) -> np.ndarray:
    """Triangles of an (ny, nx) vertex grid, counter-clockwise seen from the camera.

    keep_first, keep_second: (ny−1, nx−1) bool, which of the quads' triangles
    (a, c, b) and (b, c, d) to keep (a top-left, b top-right, c bottom-left, d bottom-right).
    Returns (F, 3) int32 indices into the row-major flattened grid.
    """
    ny, nx = keep_first.shape[0] + 1, keep_first.shape[1] + 1
    a = np.arange(ny * nx, dtype=np.int32).reshape(ny, nx)[:-1, :-1]
    ka, kb = a[keep_first], a[keep_second]
    first = np.stack([ka, ka + nx, ka + 1], axis=1)
    second = np.stack([kb + 1, kb + nx, kb + nx + 1], axis=1)
    return np.concatenate([first, second]).astype(np.int32, copy=False)


def compact(faces: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop vertices no face uses.

    Returns ``(used, faces)``: (n_vertices,) bool mask of kept vertices and the (F, 3) int32
    faces renumbered to index the kept vertices only.
    """
    used = np.zeros(n_vertices, dtype=bool)
    used[faces.ravel()] = True
    new_index = np.cumsum(used, dtype=np.int32) - 1
    return used, new_index[faces]
