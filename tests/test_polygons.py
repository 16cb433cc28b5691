"""The mesh's grid layout (depth3d.geometry.types) and the polygon arrays read from it (depth3d.geometry.polygons).

Plain NumPy, no Blender: small grids whose quads, corners and edges are written out by hand,
then the layout reconstruct, decimation and in-fill hand on, checked face by face.  Blender's
own triangulation of these arrays is checked in tests/test_blender_generate.py.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from depth3d.geometry.camera import Camera
from depth3d.geometry.edges import KEEP, SPLIT, TEAR, coarsen_cuts, locate_cuts, triangulate
from depth3d.geometry.grid import grid_uv
from depth3d.geometry.mesh import compact, grid_faces, kept_grid_index
from depth3d.geometry.polygons import mesh_arrays
from depth3d.geometry.reconstruct import Options, reconstruct
from depth3d.geometry.types import Geometry, GridLayout, check_layout


def plane_geometry(nx: int, ny: int, faces: np.ndarray, layout: GridLayout | None,
                   vertices: np.ndarray | None = None, uv: np.ndarray | None = None) -> Geometry:
    """A flat grid 2 m in front of the camera, x right and y down with the grid position."""
    if vertices is None:
        j, i = np.divmod(np.arange(nx * ny), nx)
        vertices = np.stack([i, -j, np.full(nx * ny, -2)], axis=1).astype(np.float32)
        uv = grid_uv(nx, ny, (nx, ny))
    return Geometry(vertices=vertices, faces=faces, uv=uv, texture=np.zeros((ny, nx, 3), np.uint8),
                    camera=Camera(nx, ny, 60.0), grid=(nx, ny), span=(nx, ny), layout=layout)


def edge_of_corners(arrays) -> None:
    """Each corner's edge joins it to the next corner of its polygon; every edge is used."""
    starts = list(arrays.loop_start) + [len(arrays.corner_vert)]
    index = {tuple(sorted(e)): k for k, e in enumerate(arrays.edges.tolist())}
    assert len(index) == len(arrays.edges)  # unique
    for s, e in zip(starts[:-1], starts[1:]):
        corners = arrays.corner_vert[s:e].tolist()
        for c in range(len(corners)):
            pair = tuple(sorted((corners[c], corners[(c + 1) % len(corners)])))
            assert arrays.corner_edge[s + c] == index[pair]
    assert set(arrays.corner_edge.tolist()) == set(range(len(arrays.edges)))


def triangles(arrays) -> np.ndarray:
    """The polygons as triangles, quads split along their 0–2 diagonal (as Blender does here)."""
    starts = list(arrays.loop_start) + [len(arrays.corner_vert)]
    out = []
    for s, e in zip(starts[:-1], starts[1:]):
        c = arrays.corner_vert[s:e].tolist()
        out += [c] if len(c) == 3 else [[c[0], c[1], c[2]], [c[0], c[2], c[3]]]
    return np.asarray(out, np.int32).reshape(-1, 3)


def oriented(t: np.ndarray) -> np.ndarray:
    """Triangles rotated to start at their smallest vertex (orientation kept), sorted."""
    t = np.take_along_axis(t, (np.argmin(t, axis=1)[:, None] + np.arange(3)) % 3, axis=1)
    return t[np.lexsort(t.T[::-1])]


def test_a_full_3x3_grid_is_four_quads():
    keep = np.ones((2, 2), bool)
    faces = grid_faces(keep, keep)
    whole = triangulate(np.ones((3, 3), np.float32), None)  # no cuts: the same faces, counted
    assert (whole.first, whole.second) == (4, 4)
    np.testing.assert_array_equal(whole.faces, faces)
    g = plane_geometry(3, 3, faces, GridLayout(np.arange(9, dtype=np.int32), 4, 4))
    check_layout(g)
    a = mesh_arrays(g)
    assert a.n_quads == 4
    assert a.loop_start.tolist() == [0, 4, 8, 12]
    # quad (a+nx, a+nx+1, a+1, a) for cells a = 0, 1, 3, 4
    assert a.corner_vert.tolist() == [3, 4, 1, 0, 4, 5, 2, 1, 6, 7, 4, 3, 7, 8, 5, 4]
    # right edges (a, a+1), then down edges (a, a+nx), each by their lower vertex
    assert a.edges.tolist() == [[0, 1], [1, 2], [3, 4], [4, 5], [6, 7], [7, 8],
                                [0, 3], [1, 4], [2, 5], [3, 6], [4, 7], [5, 8]]
    edge_of_corners(a)
    np.testing.assert_array_equal(a.corner_uv, g.uv[a.corner_vert])
    assert all(x.dtype == np.int32 for x in (a.loop_start, a.corner_vert, a.edges, a.corner_edge))
    assert a.corner_uv.dtype == np.float32
    # without the layout: the same faces as triangles
    plain = mesh_arrays(replace(g, layout=None))
    assert plain.n_quads == 0 and plain.corner_vert.tolist() == faces.reshape(-1).tolist()
    assert len(plain.edges) == 16  # 12 sides + 4 diagonals
    edge_of_corners(plain)


def test_a_cut_cell_keeps_its_one_triangle():
    first = np.ones((2, 2), bool)
    second = first.copy()
    second[0, 1] = False  # cell a = 1 keeps only (1, 4, 2)
    faces = grid_faces(first, second)
    g = plane_geometry(3, 3, faces, GridLayout(np.arange(9, dtype=np.int32), 4, 3))
    check_layout(g)
    a = mesh_arrays(g)
    assert a.n_quads == 3
    assert a.loop_start.tolist() == [0, 4, 8, 12]
    assert a.corner_vert.tolist() == [3, 4, 1, 0, 6, 7, 4, 3, 7, 8, 5, 4, 1, 4, 2]
    # right (0,1) (1,2) (3,4) (4,5) (6,7) (7,8), the diagonal (2, 4), down (0,3) (1,4) (3,6) (4,7) (5,8)
    assert a.edges.tolist() == [[0, 1], [1, 2], [3, 4], [4, 5], [6, 7], [7, 8], [2, 4],
                                [0, 3], [1, 4], [3, 6], [4, 7], [5, 8]]
    edge_of_corners(a)
    np.testing.assert_array_equal(oriented(triangles(a)), oriented(faces))


def test_dropped_grid_vertices_and_a_split_vertex():
    """A 3 × 2 grid: cell 0 whole, cell 1 cut down to (1, 4, m) with a split vertex m; grid
    vertices 2 and 5 go unused: kept vertices 0 1 3 4 then m."""
    first = np.array([[True, False]])
    faces = grid_faces(first, first, np.array([[1, 4, 6]], np.int32))
    used, faces = compact(faces, 7)
    index = kept_grid_index(used, 6)
    assert index.tolist() == [0, 1, 3, 4, -1] and index.dtype == np.int32
    vertices = np.array([[0, 0, -2], [1, 0, -2], [0, -1, -2], [1, -1, -2], [1.5, -0.5, -2]], np.float32)
    uv = np.array([[0, 1], [0.5, 1], [0, 0], [0.5, 0], [0.75, 0.5]], np.float32)
    g = plane_geometry(3, 2, faces, GridLayout(index, 1, 1), vertices, uv)
    check_layout(g)
    a = mesh_arrays(g)
    assert a.n_quads == 1
    assert a.loop_start.tolist() == [0, 4]
    assert a.corner_vert.tolist() == [2, 3, 1, 0, 1, 3, 4]
    # grid edges by type and lower grid vertex, then the split vertex's, sorted
    assert a.edges.tolist() == [[0, 1], [2, 3], [0, 2], [1, 3], [1, 4], [3, 4]]
    edge_of_corners(a)
    np.testing.assert_array_equal(a.corner_uv, uv[a.corner_vert])


def test_a_decimated_block_and_an_infill_layer_after_the_quads():
    """A 4 × 3 grid: its left 2 × 2 cells merged into a fan around vertex 5 (as decimate draws
    it: down the left side first), its right column of cells left as quads, and an in-fill
    layer's triangle on three vertices at no grid position."""
    first = np.array([[False, False, True], [False, False, True]])
    fan = np.array([[5, 0, 4], [5, 4, 8], [5, 8, 9], [5, 9, 10], [5, 10, 6], [5, 6, 2], [5, 2, 1], [5, 1, 0]],
                   np.int32)
    layer = np.array([[12, 13, 14]], np.int32)
    faces = grid_faces(first, first, fan, layer)
    # (the fan is on grid vertices only: its maker, decimate, counts the blocks before it)
    vertices = np.concatenate([plane_geometry(4, 3, faces[:4], None).vertices,
                               np.array([[0, 0, -3], [1, 0, -3], [0, -1, -3]], np.float32)])
    uv = np.concatenate([grid_uv(4, 3, (4, 3)), np.array([[0, 0], [1, 0], [0, 1]], np.float32)])
    index = np.concatenate([np.arange(12), [-1, -1, -1]]).astype(np.int32)
    g = plane_geometry(4, 3, faces, GridLayout(index, 2, 2), vertices, uv)
    check_layout(g)
    a = mesh_arrays(g)
    assert a.n_quads == 2
    assert a.loop_start.tolist() == [0, 4] + list(range(8, 8 + 3 * 9, 3))
    assert a.corner_vert.tolist() == [6, 7, 3, 2, 10, 11, 7, 6, *fan.reshape(-1), 12, 13, 14]
    # grid-typed edges by type (right, diagonal, down) and lower vertex, then the rest sorted
    assert a.edges.tolist() == [
        [0, 1], [1, 2], [2, 3], [4, 5], [5, 6], [6, 7], [8, 9], [9, 10], [10, 11],
        [2, 5], [5, 8],
        [0, 4], [1, 5], [2, 6], [3, 7], [4, 8], [5, 9], [6, 10], [7, 11],
        [0, 5], [5, 10], [12, 13], [12, 14], [13, 14]]
    assert len(a.edges) - 3 == 12 + 10 - 1  # Euler: the grid part is a disk
    edge_of_corners(a)
    np.testing.assert_array_equal(a.corner_uv, uv[a.corner_vert])
    np.testing.assert_array_equal(oriented(triangles(a)), oriented(faces))


def test_triangulate_lists_the_grid_triangles_first():
    """The split vertex beside the last grid vertex (a fine SPLIT a sixth of a cell from it):
    the layout from triangulate and compact names exactly the grid's vertices and faces."""
    k, (ny, nx), span = 3, (2, 3), (30, 20)
    fine_q = np.full((4, 7), 0.5, np.float32)
    fine_q[2:, 6] = 0.25
    fine = {"h": np.full((4, 6), KEEP, np.uint8), "v": np.full((3, 7), KEEP, np.uint8),
            "d": np.full((3, 6), KEEP, np.uint8)}
    fine["h"][3, 5] = SPLIT  # the last fine step of coarse edge (1, 1)–(1, 2)
    fine["v"][2, 6] = TEAR  # the last fine step of coarse edge (0, 2)–(1, 2)
    coarse = coarsen_cuts(fine, k, ny, nx)
    tri = triangulate(np.ascontiguousarray(fine_q[::k, ::k]), coarse, locate_cuts(fine_q, fine, k, coarse))
    faces, own, other, frac, blocks = tri.faces, tri.mid_own, tri.mid_other, tri.mid_t, (tri.first, tri.second)
    assert blocks == (2, 1)  # cells 0 and 1 first, cell 0 second
    assert [c.tolist() for c in tri.cells] == [[[True, True]], [[True, False]]]
    uv = grid_uv(nx, ny, span)
    uv = np.concatenate([uv, uv[own] + frac[:, None] * (uv[other] - uv[own])])
    from_cells = compact(faces.copy(), len(uv), cells=tri.cells)
    used, faces = compact(faces, len(uv))
    for a, b in zip(from_cells, (used, faces)):
        np.testing.assert_array_equal(a, b)
    assert used[:nx * ny].tolist() == [True] * 5 + [False]
    index = kept_grid_index(used, nx * ny)
    assert index[:5].tolist() == [0, 1, 2, 3, 4] and (index[5:] == -1).all() and len(index) == used.sum()
    check_layout(Geometry(vertices=np.zeros((len(index), 3), np.float32), faces=faces, uv=uv[used],
                          texture=np.zeros((20, 30, 3), np.uint8), camera=Camera(30, 20, 50.0),
                          grid=(nx, ny), span=span, layout=GridLayout(index, *blocks)))


def scene(h: int = 49, w: int = 65) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.random.default_rng(6).integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = np.full((h, w), 4.0, np.float32)
    depth[12:30, 20:45] = 2.5  # a box: cut, split triangles
    depth[40:, :8] = -1.0  # behind the camera: grid vertices dropped
    return rgb, depth


@pytest.mark.parametrize("options", [
    Options(resolution=0), Options(resolution=20), Options(resolution=0, edge_threshold=0),
    Options(resolution=0, projection="relief"), Options(resolution=0, max_triangles=1500),
    Options(resolution=0, infill=True), Options(resolution=0, infill=True, max_triangles=3000),
    Options(resolution=12, max_triangles=100),
], ids=["full", "coarse", "uncut", "relief", "decimated", "infill", "infill-decimated", "coarse-decimated"])
def test_reconstruct_hands_on_its_layout(options):
    rgb, depth = scene()
    g = reconstruct(rgb, depth, "depth", options)
    check_layout(g)
    layout, (nx, ny) = g.layout, g.grid
    assert layout.first and layout.second
    if options.projection == "perspective":
        assert (layout.grid_index >= 0).sum() < nx * ny  # those behind the camera dropped
    a = mesh_arrays(g)
    # every face is there, each once: the quads are pairs of the grid's own triangles
    np.testing.assert_array_equal(oriented(triangles(a)), oriented(g.faces))
    edge_of_corners(a)
    np.testing.assert_array_equal(a.corner_uv, g.uv[a.corner_vert])
    # the cells with both triangles (a plane and a box: none folded) are the quads
    first, second = (np.zeros(nx * ny, bool) for _ in range(2))
    first[layout.grid_index[g.faces[:layout.first, 0]]] = True
    second[layout.grid_index[g.faces[layout.first:layout.grid_faces, 0]] - 1] = True
    assert a.n_quads == int(np.count_nonzero(first & second)) > 0
    assert a.loop_start[:a.n_quads].tolist() == list(range(0, 4 * a.n_quads, 4))
    if options.infill:
        n_layer = g.meta["infill"]["layer_vertices"]
        assert n_layer and (layout.grid_index[-n_layer:] == -1).all()


def test_points_carry_their_grid_positions():
    rgb, depth = scene()
    g = reconstruct(rgb, depth, "depth", Options(resolution=0, geometry="points"))
    check_layout(g)
    valid = depth > 0
    np.testing.assert_array_equal(g.layout.grid_index, np.flatnonzero(valid))


def test_a_layout_must_fit_its_geometry():
    rgb, depth = scene()
    g = reconstruct(rgb, depth, "depth", Options(resolution=20))
    with pytest.raises(ValueError, match="layout"):
        replace(g, faces=g.faces[:10])
    with pytest.raises(ValueError, match="layout"):
        replace(g, vertices=g.vertices[:-1])
    assert replace(g, faces=g.faces[:10], layout=None).layout is None
