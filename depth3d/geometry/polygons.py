"""Geometry → the arrays of a polygon mesh as Blender stores it: polygons, corners, edges, corner UVs.

Blender stores a mesh as polygons (a start offset into the face corners each), face corners
(a vertex and an edge each, Blender's ``.corner_vert`` / ``.corner_edge``), unique edges
(``.edge_verts``) and a UV per corner.  :func:`mesh_arrays` makes all of them, with NumPy only
(:mod:`depth3d.blender.build` writes them into a mesh).

A mesh with a :class:`~depth3d.geometry.types.GridLayout` (the one :func:`~depth3d.geometry.reconstruct.reconstruct`
makes: each vertex's grid position, and faces as [the cells' first triangles (a, a+nx, a+1)]
[their second ones (a+1, a+nx, a+nx+1)][other triangles]) becomes **quads** wherever both
triangles of a grid cell are kept, and triangles elsewhere.  A quad (a+nx, a+nx+1, a+1, a) is
counter-clockwise seen from the camera, like the triangles, and Blender triangulates it along
its 0–2 diagonal (a+nx, a+1): the same two triangles, so the surface is unchanged — except
where Blender would take the other diagonal: it does when the two triangles fold by more
than 90°, or (with face normals cached) when the quad is concave in its plane.  Cells near
either case (:func:`_quad_cells`, with a margin for float32 rounding) stay two triangles.
All of it is linear in the grid size: boolean masks over the grid cells, edges named by their
grid position (no sorting); only the other triangles go corner by corner.  A mesh without a
layout takes a general path: triangles as they are, edges by sorting.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .types import Geometry

__all__ = ["Destinations", "MeshArrays", "MeshCounts", "gather_uv", "loop_starts", "mesh_arrays", "sorted_edges"]

# Margins of the quad test (:func:`_quad_cells`), relative to the cell's size: float32 rounding
# is 6e-8 (the bounds need ~10× that; these keep a safety factor of ~15); TINY keeps the
# quad's normal well above Blender's 1e-35 "zero length".
FOLD = 1e-5
ROUNDING = 1e-5
TINY = 1e-30
_CHUNK_CELLS = 1 << 15  # grid cells per block of the fold test (its temporaries stay in cache)
_BLOCK = 1 << 14  # polygons per block of corner writes
_STARTS_BLOCK = 1 << 16  # polygons per block of loop_starts


class MeshArrays(NamedTuple):
    """What a Blender mesh stores per polygon, corner and edge (all C-contiguous).

    loop_start:  (P,) int32 first corner of each polygon; quads first, then triangles.
    corner_vert: (C,) int32 vertex of each corner (C = 4·n_quads + 3·n_triangles).
    edges:       (E, 2) int32 unique vertex pairs.
    corner_edge: (C,) int32 edge from each corner's vertex to the next corner's.
    corner_uv:   (C, 2) float32 texture coordinates of each corner.
    n_quads:     number of quads (the first ``n_quads`` polygons).
    """

    loop_start: np.ndarray
    corner_vert: np.ndarray
    edges: np.ndarray
    corner_edge: np.ndarray
    corner_uv: np.ndarray
    n_quads: int


class MeshCounts(NamedTuple):
    """How many quads, triangles and edges :func:`mesh_arrays` makes (known before its corners)."""

    n_quads: int
    n_triangles: int
    n_edges: int

    @property
    def n_polygons(self) -> int:
        return self.n_quads + self.n_triangles

    @property
    def n_corners(self) -> int:
        return 4 * self.n_quads + 3 * self.n_triangles


def loop_starts(n_quads: int, n_triangles: int, out: np.ndarray | None = None) -> np.ndarray:
    """(P,) int32 first corner of each polygon, quads first: 4·p, then 4·n_quads + 3·(p − n_quads);
    written into ``out`` ((P,) int32) when given, a block at a time (no polygon-sized temporary)."""
    loop_start = np.empty(n_quads + n_triangles, dtype=np.int32) if out is None else out
    if len(loop_start) != n_quads + n_triangles:
        raise ValueError(f"out holds {len(loop_start)} starts, not {n_quads + n_triangles}")
    ranks = np.arange(min(_STARTS_BLOCK, len(loop_start)), dtype=np.int32)
    for starts, first, size in ((loop_start[:n_quads], 0, 4), (loop_start[n_quads:], 4 * n_quads, 3)):
        steps = ranks * np.int32(size)
        for b0 in range(0, len(starts), _STARTS_BLOCK):
            block = starts[b0:b0 + _STARTS_BLOCK]
            np.add(steps[:len(block)], np.int32(first + size * b0), out=block)
    return loop_start


Destinations = Callable[[MeshCounts], "dict[str, np.ndarray] | Callable[[], dict[str, np.ndarray] | None] | None"]


def _destinations(reported: dict[str, np.ndarray] | Callable[[], dict[str, np.ndarray] | None] | None,
                  ) -> dict[str, np.ndarray] | None:
    """What a :data:`Destinations` callback returned: the arrays to write into (or ``None``),
    asked for now when it returned a function that gives them."""
    return reported() if callable(reported) else reported


def mesh_arrays(geometry: Geometry, quads: bool = True, counts: Destinations | None = None) -> MeshArrays:
    """Polygons, corners, edges and corner UVs of ``geometry``'s mesh (see the module notes).

    quads: read ``geometry.layout`` for quads (``False``, or no layout: triangles as they are).
    counts: called with the :class:`MeshCounts` as soon as they are known, before the corners are
    written; it may return the arrays to write them into, ``corner_vert`` and ``corner_edge``
    (C,) int32, ``corner_uv`` (C, 2) float32 and ``edges`` (E, 2) int32, and optionally
    ``loop_start`` (P,) int32 (C-contiguous: a mesh's own arrays, say), which the result then
    holds — or a function that gives them (or ``None``), called only once they are needed: what
    the writes need besides is made first, while the caller makes them.
    """
    faces = np.ascontiguousarray(geometry.faces, dtype=np.int32)
    uv = np.ascontiguousarray(geometry.uv, dtype=np.float32)
    layout, (nx, ny) = geometry.layout, geometry.grid
    if quads and layout is not None and layout.grid_faces and nx >= 3 and ny >= 2 \
            and len(uv) == len(geometry.vertices) and 8 * nx * ny < 2**31:
        return _grid_arrays(geometry.vertices, faces, uv, layout, nx, ny, counts)
    edges, corner_edge = sorted_edges(faces, len(geometry.vertices))
    corner_vert = faces.reshape(-1)
    corner_uv = gather_uv(uv, corner_vert)
    into = _destinations(counts(MeshCounts(0, len(faces), len(edges)))) if counts is not None else None
    if into is not None:
        for name, a in (("corner_vert", corner_vert), ("corner_edge", corner_edge), ("corner_uv", corner_uv),
                        ("edges", edges)):
            into[name][...] = a
        corner_vert, corner_edge, corner_uv, edges = (
            into[name] for name in ("corner_vert", "corner_edge", "corner_uv", "edges"))
    return MeshArrays(
        loop_start=loop_starts(0, len(faces), out=(into or {}).get("loop_start")), corner_vert=corner_vert,
        edges=edges, corner_edge=corner_edge, corner_uv=corner_uv, n_quads=0,
    )


def gather_uv(uv: np.ndarray, corner_vert: np.ndarray) -> np.ndarray:
    """(C, 2) float32 UVs of the corners: one 8-byte gather per corner."""
    return uv.view(np.int64).reshape(-1)[corner_vert].view(np.float32).reshape(-1, 2)


def sorted_edges(faces: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique edges of any triangle list and each corner's edge, by sorting (O(F log F))."""
    a = faces.astype(np.int64)
    b = np.roll(a, -1, axis=1)
    keys = (np.minimum(a, b) * n_vertices + np.maximum(a, b)).ravel()
    unique, inverse = np.unique(keys, return_inverse=True)
    edges = np.stack([unique // n_vertices, unique % n_vertices], axis=1).astype(np.int32)
    return edges, inverse.reshape(-1).astype(np.int32)


def _mark_cells(faces: np.ndarray, shift: int, cells: np.ndarray, gx: np.ndarray | None) -> None:
    """``cells[p + shift] = True`` for the grid position p of each face's first corner
    (``gx``: vertex → grid position, ``None`` for the identity), in blocks (no face-sized
    temporaries)."""
    for b0 in range(0, len(faces), _BLOCK):
        c = faces[b0:b0 + _BLOCK, 0]
        if gx is not None:
            c = gx.take(c)
        cells[c + np.int32(shift)] = True


def _grid_arrays(vertices, faces, uv, layout, nx: int, ny: int, report: Destinations | None = None) -> MeshArrays:
    """:func:`mesh_arrays` for a mesh with a :class:`~depth3d.geometry.types.GridLayout`.

    Grid arrays are indexed by grid position p = j·nx + i; a cell is named by its top-left
    corner a (the first triangle (a, a+nx, a+1), the second (a+1, a+nx, a+nx+1)).  A grid edge
    is named by its type — right (a, a+1), diagonal (a, a+nx−1), down (a, a+nx) — and its
    lower vertex a: id = type·n_grid + a.  Edges: the grid edges in id order, then those
    touching extra vertices.  Work on face- or grid-sized data goes in blocks, so that
    temporaries stay small (and in cache).
    """
    n_grid = nx * ny
    n_vertices = len(vertices)
    g = layout.grid_index
    on = g >= 0
    # every grid vertex kept, first and in order: grid position = vertex index
    full = int(np.count_nonzero(on)) == n_grid and all(
        np.array_equal(g[p0:min(p0 + _BLOCK, n_grid)], np.arange(p0, min(p0 + _BLOCK, n_grid), dtype=np.int32))
        for p0 in range(0, n_grid, _BLOCK))
    gx = None
    if not full:
        gx = np.where(on, g, np.int32(-4 * n_grid)).astype(np.int32)  # extra vertices: never a grid step
        g_on, v_on = g[on], np.flatnonzero(on)

    # -- the layout: [first (a, a+nx, a+1) × n1][second (a+1, a+nx, a+nx+1) × n2][others]
    first = np.zeros(n_grid, dtype=bool)
    second = np.zeros(n_grid, dtype=bool)
    k = layout.grid_faces
    _mark_cells(faces[:layout.first], 0, first, gx)
    _mark_cells(faces[layout.first:k], -1, second, gx)

    # -- which cells become quads
    uv64 = uv.view(np.int64).reshape(-1)
    if full:
        positions = vertices[:n_grid]
        uv_grid = uv64[:n_grid]
    else:
        positions = np.zeros((n_grid, 3), dtype=np.float32)
        positions[g_on] = vertices[v_on]
        uv_grid = np.zeros(n_grid, dtype=np.int64)
        uv_grid[g_on] = uv64[v_on]
    quad = first & second
    if quad.any():
        flat_enough = _quad_cells(np.asarray(positions, dtype=np.float32).reshape(ny, nx, 3))
        quad.reshape(ny, nx)[:-1, :-1] &= flat_enough
    tri1 = first & ~quad
    tri2 = second & ~quad

    # -- edges present, by shifted masks: quad (a+nx, a+nx+1, a+1, a); first (a, a+nx, a+1);
    #    second (a+1, a+nx, a+nx+1)
    present = np.zeros((3, n_grid), dtype=bool)
    right, diag, down = present
    right |= quad
    right[nx:] |= quad[:-nx]
    down |= quad
    down[1:] |= quad[:-1]
    right |= tri1
    down |= tri1
    diag[1:] |= tri1[:-1]
    right[nx:] |= tri2[:-nx]
    down[1:] |= tri2[:-1]
    diag[1:] |= tri2[:-1]
    others = faces[k:]
    if len(others):  # split triangles, corner by corner: grid–grid edges by type, others sorted
        if gx is None:
            gx = np.arange(n_vertices, dtype=np.int32)
            gx[n_grid:] = -4 * n_grid
        va = others.reshape(-1)
        vb = others[:, [1, 2, 0]].reshape(-1)
        ga, gb = gx[va], gx[vb]
        lo = np.minimum(ga, gb)
        step = np.abs(ga - gb)
        kind = np.where(step == 1, 0, np.where(step == nx - 1, 1, np.where(step == nx, 2, -1)))
        on_grid = (lo >= 0) & (kind >= 0)
        odd_ids = (kind * np.int32(n_grid) + lo).astype(np.int32)[on_grid]
        present.reshape(-1)[odd_ids] = True
        keys = np.minimum(va, vb).astype(np.int64) * n_vertices + np.maximum(va, vb)
        extra, extra_inverse = np.unique(keys[~on_grid], return_inverse=True)
    n_grid_edges = int(np.count_nonzero(present))

    # -- polygons: quads, then the first and second triangles left, then the split ones
    kinds = (  # cells, corners (offsets from a), corner edges (edge ids − a)
        (quad, (nx, nx + 1, 1, 0), (nx, 2 * n_grid + 1, 0, 2 * n_grid)),
        (tri1, (0, nx, 1), (2 * n_grid, n_grid + 1, 0)),
        (tri2, (1, nx, nx + 1), (n_grid + 1, nx, 2 * n_grid + 1)),
    )
    counts = [int(np.count_nonzero(cells)) for cells, _, _ in kinds]
    n_quads = counts[0]
    n_tris = counts[1] + counts[2] + len(others)
    n_corners = 4 * n_quads + 3 * n_tris
    n_edges = n_grid_edges + (len(extra) if len(others) else 0)
    reported = report(MeshCounts(n_quads, n_tris, n_edges)) if report is not None else None
    # made after the report, before the arrays are asked for (the caller may be making them):
    # rank[id] = how many grid edges come before edge id: its index in the edge list
    rank = np.empty(3 * n_grid + 1, dtype=np.int32)
    rank[0] = 0
    rank[1:] = present.reshape(-1)
    np.cumsum(rank[1:], out=rank[1:])  # in int32 throughout (a bool → int32 cumsum casts block by block)
    to_vertex = None
    if not full:
        to_vertex = np.zeros(n_grid, dtype=np.int32)
        to_vertex[g_on] = v_on
    # the vertex at each grid position (= the position when all are kept)
    vertex_grid = (np.arange(n_grid, dtype=np.int32) if full else to_vertex).reshape(ny, nx)
    if len(others):  # the split triangles' corner edges
        other_edges = np.empty(len(on_grid), dtype=np.int32)
        other_edges[on_grid] = rank[odd_ids]
        other_edges[~on_grid] = n_grid_edges + extra_inverse.reshape(-1).astype(np.int32)
    into = _destinations(reported)
    if into is None:
        corner_vert = np.empty(n_corners, dtype=np.int32)
        corner_edge = np.empty(n_corners, dtype=np.int32)
        corner_uv = np.empty(n_corners, dtype=np.int64)
        edges = np.empty(n_edges, dtype=np.int64)
    else:  # the int32 pairs and float32 UVs as one int64 each, as below
        corner_vert, corner_edge = into["corner_vert"], into["corner_edge"]
        corner_uv = into["corner_uv"].view(np.int64).reshape(-1)
        edges = into["edges"].view(np.int64).reshape(-1)
    # corners are interleaved per polygon: written in blocks of grid rows, from slices of the
    # grid arrays (compressed to the block's cells unless it has them all)
    uv_grid = uv_grid.reshape(ny, nx)
    rank_grids = [rank[t * n_grid:(t + 1) * n_grid].reshape(ny, nx) for t in range(3)]
    rows = max(1, _BLOCK // nx)
    at = 0
    for (cells, vert_offsets, edge_offsets), count in zip(kinds, counts):
        size = len(vert_offsets)
        cells = cells.reshape(ny, nx)[:, :-1]
        for r0 in range(0, ny - 1 if count else 0, rows):
            r1 = min(r0 + rows, ny - 1)
            sel = cells[r0:r1]
            n = int(np.count_nonzero(sel))
            if not n:
                continue
            whole = n == sel.size
            b1 = at + size * n
            shape = (r1 - r0, nx - 1, size) if whole else (n, size)
            cv, ce, cu = (x[at:b1].reshape(shape) for x in (corner_vert, corner_edge, corner_uv))
            vertices_here = vertex_grid[r0:r1 + 1]
            for column, (v_off, e_off) in enumerate(zip(vert_offsets, edge_offsets)):
                j, i = divmod(v_off, nx)
                vert = vertices_here[j:j + r1 - r0, i:i + nx - 1]
                t, e = divmod(e_off, n_grid)
                je, ie = divmod(e, nx)
                for out, grid in ((cv, vert), (cu, uv_grid[r0 + j:r1 + j, i:i + nx - 1]),
                                  (ce, rank_grids[t][r0 + je:r1 + je, ie:ie + nx - 1])):
                    out[..., column] = grid if whole else grid[sel]
            at = b1

    # -- edges: (lower, lower + step) of each present grid edge, then the ones split triangles add
    for t, delta in enumerate((1, nx - 1, nx)):
        for p0 in range(0, n_grid, _BLOCK):
            lower = np.flatnonzero(present[t, p0:p0 + _BLOCK])
            lower += p0
            e0 = int(rank[t * n_grid + p0])
            pair = edges[e0:e0 + len(lower)]
            if full:  # the int32 pair (lower, lower + delta) as one int64 (little-endian)
                np.multiply(lower, (1 << 32) + 1, out=pair)
                pair += delta << 32
            else:
                ends = pair.view(np.int32).reshape(-1, 2)
                ends[:, 0] = to_vertex.take(lower)
                lower += delta
                ends[:, 1] = to_vertex.take(lower)
    edge_verts = edges.view(np.int32).reshape(-1, 2)
    if len(others):
        corner_vert[at:] = others.reshape(-1)
        corner_edge[at:] = other_edges
        corner_uv[at:] = uv64[others.reshape(-1)]
        edge_verts[n_grid_edges:, 0] = extra // n_vertices
        edge_verts[n_grid_edges:, 1] = extra % n_vertices
    return MeshArrays(
        loop_start=loop_starts(n_quads, n_tris, out=(into or {}).get("loop_start")), corner_vert=corner_vert,
        edges=edge_verts, corner_edge=corner_edge,
        corner_uv=corner_uv.view(np.float32).reshape(-1, 2), n_quads=n_quads,
    )


def _quad_cells(positions: np.ndarray) -> np.ndarray:
    """(ny−1, nx−1) bool: cells that Blender triangulates into our two triangles as a quad.

    positions: (ny, nx, 3) float32 grid positions.  Blender splits quad (P0, P1, P2, P3) =
    (a+nx, a+nx+1, a+1, a) into (P0, P1, P2) and (P0, P2, P3) — our second and first
    triangles — unless (``mesh_tessellate.cc``) ``is_quad_flip_v3_first_third_fast``: the
    triangles' normals n2 = V×D and n1 = D×U point apart (U = P3−P0, V = P1−P0, D = P2−P0),
    or, with face normals cached, ``…_with_normal``: P1 or P3 is not strictly on its side of D
    in the quad's plane.  Neither happens when s = n1·n2 > 0 (then N·n1, N·n2 > 0 for the quad
    normal N = n1 + n2), given a margin for float32 rounding — ours and Blender's, whose second
    test compares dot products of absolute positions:
    s = (D·V)(D·U) − (D·D)(U·V) > (D·D)·M·(FOLD·M + ROUNDING·R) + TINY, with M² = max(U·U, V·V)
    and R = |P0|₁ + M ≥ |P0|, |P1|, |P3|.  So a cell folded by 90° or more stays two triangles,
    as does one too thin or too small for its normal to be sure.
    """
    ny, nx = positions.shape[:2]
    out = np.empty((ny - 1, nx - 1), dtype=bool)
    rows = max(1, _CHUNK_CELLS // nx)
    with np.errstate(invalid="ignore", over="ignore"):
        for r0 in range(0, ny - 1, rows):
            r1 = min(r0 + rows, ny - 1)
            band = positions[r0:r1 + 1]  # the chunk's rows and the row below, x y z apart
            uu = None
            for c in range(3):
                p = np.ascontiguousarray(band[:, :, c])
                p0 = p[1:, :-1]       # a+nx
                u = p[:-1, :-1] - p0  # a      − (a+nx)
                v = p[1:, 1:] - p0    # a+nx+1 − (a+nx)
                d = p[:-1, 1:] - p0   # a+1    − (a+nx)
                if uu is None:
                    uu, vv, dd, uv, du, dv, r = u * u, v * v, d * d, u * v, d * u, d * v, np.abs(p0)
                else:
                    uu += u * u
                    vv += v * v
                    dd += d * d
                    uv += u * v
                    du += d * u
                    dv += d * v
                    r += np.abs(p0)
            s = du * dv
            s -= dd * uv                          # n1·n2
            m = np.sqrt(np.maximum(uu, vv, out=uu), out=vv)
            limit = r * np.float32(ROUNDING)
            limit += m * np.float32(ROUNDING + FOLD)  # ROUNDING·R + FOLD·M
            limit *= m
            limit *= dd
            limit += np.float32(TINY)
            np.greater(s, limit, out=out[r0:r1])
    return out
