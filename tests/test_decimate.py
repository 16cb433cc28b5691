"""Error-bounded decimation (depth3d/geometry/decimate.py) on analytic scenes.

Every decimated mesh is compared with the undecimated one of the same options: its vertices are
some of the latter's, bit for bit (positions and UVs); its faces are counter-clockwise and
non-degenerate in the image, each directed edge used once (no overlaps, no flips); its border is
the same — every edge that only one face uses lies on the undecimated mesh's border (cuts and
holes: the very same edges; the frame: the same lines, fewer vertices) and the image area covered
is the same (no hole, no crack); and every vertex it dropped lies on it within twice the error it
reports (relative disparity, or 1 + height in relief).
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from depth3d.geometry.decimate import MAX_ERROR, MAX_SHIFT, block_errors, whole_cells
from depth3d.geometry.grid import grid_index_at
from depth3d.geometry.reconstruct import Options, reconstruct

FOV = 60.0


def _tan_grid(nx: int, ny: int) -> tuple[np.ndarray, np.ndarray]:
    """(ny, nx) image-plane tangents of the pixel centres (x right, y up)."""
    tan_x = math.tan(math.radians(FOV) / 2)
    tan_y = tan_x * ny / nx
    s = (np.arange(nx) + 0.5) / nx
    t = (np.arange(ny) + 0.5) / ny
    return np.meshgrid((2 * s - 1) * tan_x, (1 - 2 * t) * tan_y)


def tilted_plane(nx: int, ny: int) -> np.ndarray:
    """Planar depth (m) of a plane receding to the top right, 1.9–2.8 m away."""
    tx, ty = _tan_grid(nx, ny)
    return (1.0 / (0.45 - 0.08 * tx - 0.10 * ty)).astype(np.float32)


def box_scene(nx: int = 97, ny: int = 73) -> np.ndarray:
    """A tilted wall with a box in front of it (a step all round), a dome on the wall (curved,
    so merging has errors to weigh) and a hole (depth behind the camera: no points)."""
    tx, ty = _tan_grid(nx, ny)
    depth = tilted_plane(nx, ny).astype(np.float64)
    dome = (tx + 0.25) ** 2 + (ty + 0.1) ** 2
    depth = np.where(dome < 0.04, depth - 0.5 * np.sqrt(np.clip(0.04 - dome, 0, None)) * 5, depth)
    box = (tx > 0.05) & (tx < 0.35) & (ty > -0.05) & (ty < 0.2)
    depth = np.where(box, 1.2 + 0.3 * tx, depth)
    depth[5:12, 60:70] = -1.0
    return depth.astype(np.float32)


def build(depth: np.ndarray, **kw):
    rgb = np.zeros(depth.shape + (3,), np.uint8)
    return reconstruct(rgb, depth, "depth", Options(fov=FOV, resolution=kw.pop("resolution", 0), **kw))


def _vertex_map(full, dec) -> np.ndarray:
    """Index into ``full``'s vertices of each of ``dec``'s (same position and UV, bit for bit)."""
    key = lambda g, i: g.vertices[i].tobytes() + g.uv[i].tobytes()
    where = {key(full, i): i for i in range(len(full.vertices))}
    idx = np.array([where.get(key(dec, i), -1) for i in range(len(dec.vertices))])
    assert (idx >= 0).all(), "a decimated vertex is not a vertex of the full mesh"
    return idx


def _uv_area(uv: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a, b, c = (uv[faces[:, k]].astype(np.float64) for k in range(3))
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))


def _border(faces: np.ndarray) -> set[tuple[int, int]]:
    """Undirected edges used by one face."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    count = Counter(map(tuple, np.sort(e, axis=1).tolist()))
    return {k for k, n in count.items() if n == 1}


def check_decimated(full, dec, value=lambda g: -1.0 / g.vertices[:, 2]) -> float:
    """Assert everything the module notes promise; returns the largest relative miss of the
    dropped vertices (``value``: disparity, or 1 + height in relief)."""
    assert dec.grid == full.grid
    idx = _vertex_map(full, dec)
    faces = idx[dec.faces]  # in full's vertex ids
    area = _uv_area(full.uv, faces)
    assert (area > 1e-12).all(), "a face is clockwise or degenerate in the image"
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    assert len({tuple(e) for e in directed.tolist()}) == len(directed), "an edge used twice one way"
    assert area.sum() == pytest.approx(_uv_area(full.uv, full.faces).sum(), rel=1e-9)

    # the border: cut and hole edges exactly, the frame along the same lines
    uv = full.uv.astype(np.float64)
    lo, hi = uv.min(axis=0), uv.max(axis=0)

    def frame_side(e):  # which side of the frame both ends lie on, or None
        a, b = uv[e[0]], uv[e[1]]
        for axis in (0, 1):
            for edge in (lo[axis], hi[axis]):
                if a[axis] == edge and b[axis] == edge:
                    return axis, edge
        return None

    full_border, dec_border = _border(full.faces), _border(faces)
    assert {e for e in dec_border if frame_side(e) is None} == {e for e in full_border if frame_side(e) is None}
    def frame_length(border, side):
        return sum(np.linalg.norm(uv[a] - uv[b]) for a, b in border if frame_side((a, b)) == side)

    for side in {frame_side(e) for e in full_border} - {None}:
        assert frame_length(dec_border, side) == pytest.approx(frame_length(full_border, side), rel=1e-9)

    # every vertex dropped (a grid vertex) lies on the decimated surface within 2ε: faces
    # spanning more than a cell looked up in the grid of dropped values
    nx, ny = full.grid
    gi = grid_index_at(full.uv[:, 0], nx, full.span[0]).astype(np.float64)
    gj = grid_index_at(1 - full.uv[:, 1], ny, full.span[1]).astype(np.float64)
    q = value(full).astype(np.float64)
    dropped = np.setdiff1d(np.unique(full.faces), idx)
    grid_q = np.full((ny, nx), np.nan)
    grid_q[np.rint(gj[dropped]).astype(int), np.rint(gi[dropped]).astype(int)] = q[dropped]
    worst = 0.0
    for f in faces:
        ci, cj = gi[f], gj[f]
        i0, i1 = int(np.floor(ci.min() + 1e-4)), int(np.ceil(ci.max() - 1e-4))
        j0, j1 = int(np.floor(cj.min() + 1e-4)), int(np.ceil(cj.max() - 1e-4))
        if (i1 - i0) * (j1 - j0) <= 1:
            continue  # a grid triangle: no vertex of the grid inside
        jj, ii = np.mgrid[j0:j1 + 1, i0:i1 + 1]
        sub = grid_q[j0:j1 + 1, i0:i1 + 1]
        (a0, a1, a2), (b0, b1, b2) = ci, cj
        den = (b1 - b2) * (a0 - a2) + (a2 - a1) * (b0 - b2)
        w0 = ((b1 - b2) * (ii - a2) + (a2 - a1) * (jj - b2)) / den
        w1 = ((b2 - b0) * (ii - a2) + (a0 - a2) * (jj - b2)) / den
        w2 = 1 - w0 - w1
        on = (w0 > -1e-6) & (w1 > -1e-6) & (w2 > -1e-6) & np.isfinite(sub)
        fit = w0 * q[f[0]] + w1 * q[f[1]] + w2 * q[f[2]]
        worst = max(worst, float((np.abs(fit - sub) / sub)[on].max(initial=0.0)))
    assert worst <= 2 * dec.meta.get("max_error", 0.0) + 1e-5, worst
    return worst


def test_a_tilted_plane_collapses_to_a_few_exact_triangles():
    tx, ty = _tan_grid(65, 49)  # 64 × 48 cells; tilted a little: its 32-cell blocks displace
    depth = (1.0 / (0.45 - 0.004 * tx - 0.005 * ty)).astype(np.float32)  # the photo < ½ px
    full = build(depth)
    dec = build(depth, max_triangles=30)
    assert len(full.faces) == 2 * 64 * 48
    assert dec.grid == full.grid and len(dec.faces) <= 30  # blocks of 32 and 16 cells: 26
    assert dec.meta["max_error"] < 1e-5  # planes are exact (float32 rounding)
    assert check_decimated(full, dec) < 1e-5
    assert len(dec.vertices) <= 40


def test_a_box_keeps_its_cut_borders_and_opens_no_cracks():
    depth = box_scene()
    full = build(depth)
    assert len(_border(full.faces)) > 200  # the box's and the hole's cuts
    for budget in (len(full.faces) // 2, 6000, 4000):
        dec = build(depth, max_triangles=budget)
        assert len(dec.faces) <= budget
        assert len(dec.faces) > 0.9 * budget  # the budget is spent, not wasted
        check_decimated(full, dec)


def test_relief_decimates_on_height():
    depth = box_scene()
    full = build(depth, projection="relief")
    dec = build(depth, projection="relief", max_triangles=3000)
    assert len(dec.faces) <= 3000
    check_decimated(full, dec, value=lambda g: 1.0 + g.vertices[:, 2])


@pytest.mark.parametrize("budget", [20000, 8000, 6000, 3000, 800, 100, 2])
def test_budgets_are_respected(budget):
    """Within MAX_ERROR on the full grid where it can be, else on a coarser grid."""
    depth = box_scene(161, 121)
    dec = build(depth, max_triangles=budget)
    assert 0 < len(dec.faces) <= budget
    if budget >= 6000:
        assert dec.grid == (161, 121) and dec.meta["max_error"] <= MAX_ERROR
        assert len(dec.faces) > 0.95 * budget
    else:
        assert max(dec.grid) < 161
    full = build(depth, resolution=max(dec.grid))  # the undecimated mesh of the same grid
    assert full.grid == dec.grid
    if len(full.faces) > budget and max(dec.grid) == 2:
        return  # a 2 × 2 grid with more faces than the budget: the first ones are kept
    check_decimated(full, dec)


def test_no_budget_is_todays_mesh_bit_for_bit():
    depth = box_scene()
    today = build(depth)
    for budget in (0, len(today.faces), 10 ** 9):
        same = build(depth, max_triangles=budget)
        for name in ("vertices", "faces", "uv"):
            np.testing.assert_array_equal(getattr(same, name), getattr(today, name))
            assert getattr(same, name).dtype == getattr(today, name).dtype
        assert "max_error" not in same.meta


def test_points_ignore_the_budget_and_negatives_are_refused():
    depth = box_scene()
    points = build(depth, geometry="points")
    capped = build(depth, geometry="points", max_triangles=10)
    np.testing.assert_array_equal(capped.vertices, points.vertices)
    with pytest.raises(ValueError, match="max.triangles"):
        Options(max_triangles=-1)


def test_block_errors_are_saturated_and_infinite_over_cuts():
    depth = box_scene(129, 97)
    q = (1.0 / depth).astype(np.float32)
    q[depth <= 0] = np.nan
    whole = whole_cells(q, None)
    errors = block_errors(q, whole)
    assert len(errors.levels) == 6  # 128 × 96 cells: blocks of 2 … 64 (64 fits once down)
    for finer, coarser in zip(errors.levels, errors.levels[1:]):
        ny, nx = coarser.shape
        kids = finer[:2 * ny, :2 * nx].reshape(ny, 2, nx, 2).max(axis=(1, 3))
        assert (coarser >= kids).all()
    # a block over the hole never merges; the plane's blocks far from everything are exact
    assert np.isinf(errors.levels[0][2:6, 30:35]).all()
    assert errors.levels[2][-1, 0] < 1e-5


def test_what_only_the_blocks_interiors_see_is_bounded_too():
    """An egg-crate of bumps that vanish on every 16th grid line: blocks of 16 cells see none on
    their sides and the peak at their centre, so only their interiors tell the fan is off."""
    j, i = np.mgrid[0:97, 0:129]
    q = 0.45 + 0.002 * np.sin(np.pi * i / 16) * np.sin(np.pi * j / 16)
    depth = (1.0 / q).astype(np.float32)
    full = build(depth)
    for budget in (8000, 3000):
        dec = build(depth, max_triangles=budget)
        assert dec.grid == full.grid and len(dec.faces) <= budget
        assert check_decimated(full, dec) > 0.2 * dec.meta["max_error"]


def _fan_miss(q: np.ndarray, j0: int, i0: int, s: int) -> float:
    """Largest relative miss of the fan of block (j0, i0, size s) at its vertices, point by point."""
    c = (j0 + s / 2, i0 + s / 2)
    corners = [(j0, i0), (j0 + s, i0), (j0 + s, i0 + s), (j0, i0 + s)]  # counter-clockwise on screen
    worst = 0.0
    for j in range(j0, j0 + s + 1):
        for i in range(i0, i0 + s + 1):
            for k in range(4):  # the fan triangle (centre, corner k, corner k+1) holding (j, i)
                (aj, ai), (bj, bi) = corners[k], corners[(k + 1) % 4]
                m = np.array([[aj - c[0], bj - c[0]], [ai - c[1], bi - c[1]]], float)
                wa, wb = np.linalg.solve(m, [j - c[0], i - c[1]])
                if wa >= -1e-9 and wb >= -1e-9:
                    fit = (1 - wa - wb) * q[int(c[0]), int(c[1])] + wa * q[aj, ai] + wb * q[bj, bi]
                    worst = max(worst, abs(fit - q[j, i]) / q[j, i])
                    break
    return worst


def test_block_errors_are_each_fans_own_miss_saturated():
    rng = np.random.default_rng(5)
    q = (1.0 + 0.05 * rng.random((34, 41))).astype(np.float32)  # 33 × 40 cells: 1 block of 32
    whole = np.ones((33, 40), bool)
    whole[20, 3] = False
    errors = block_errors(q, whole)
    assert [e.shape for e in errors.levels] == [(16, 20), (8, 10), (4, 5), (2, 2), (1, 1)]
    below = None
    for level, e in enumerate(errors.levels, start=1):
        s = 2 ** level
        own = np.array([[_fan_miss(q.astype(np.float64), J * s, I * s, s) for I in range(e.shape[1])]
                        for J in range(e.shape[0])])
        holed = np.array([[not whole[J * s:(J + 1) * s, I * s:(I + 1) * s].all() for I in range(e.shape[1])]
                          for J in range(e.shape[0])])
        expect = own if below is None else np.maximum(own, below[:2 * e.shape[0], :2 * e.shape[1]]
                                                      .reshape(e.shape[0], 2, e.shape[1], 2).max(axis=(1, 3)))
        expect[holed] = np.inf
        np.testing.assert_allclose(e, expect, rtol=1e-4, atol=1e-7)
        below = expect


@pytest.mark.parametrize("options", [
    {"resolution": 80},  # coarser than the map: cuts found and placed on a finer grid
    {"resolution": 0, "edge_threshold": 0},  # no edge rule: nothing cut
    {"resolution": 120, "projection": "relief"},
], ids=["coarse-grid", "no-edge-rule", "relief-coarse"])
def test_other_grids_decimate_alike(options):
    depth = box_scene(241, 181)
    full = build(depth, **options)
    dec = build(depth, max_triangles=len(full.faces) // 2, **options)
    assert dec.grid == full.grid and len(dec.faces) <= len(full.faces) // 2
    relief = options.get("projection") == "relief"
    check_decimated(full, dec, (lambda g: 1.0 + g.vertices[:, 2]) if relief else (lambda g: -1.0 / g.vertices[:, 2]))


def _texture_shifts(geo) -> np.ndarray:
    """Per face: its longest side on screen (photo pixels, from the UVs: perspective vertices
    project onto their own pixel) × (largest depth ratio − 1)/4, the displacement of the photo
    that perspective-correct interpolation brings inside it."""
    h, w = geo.texture.shape[:2]
    xy = geo.uv * np.array([w, h], np.float64)
    p = xy[geo.faces]
    side = np.linalg.norm(p - np.roll(p, 1, axis=1), axis=2).max(axis=1)
    z = -geo.vertices[:, 2].astype(np.float64)[geo.faces]
    return side * (z.max(axis=1) / z.min(axis=1) - 1) / 4


def test_merged_triangles_keep_the_photo_within_half_a_pixel():
    """A receding floor: the large blocks that fit the error would displace the photo by
    pixels; every merged face now keeps it within MAX_SHIFT (the grid's own cells may not)."""
    nx, ny = 129, 97
    _, ty = _tan_grid(nx, ny)
    floor = (1.0 / np.clip(-0.6 * ty + 0.05, 0.02, None)).astype(np.float32)  # to the horizon
    full = build(floor)
    dec = build(floor, max_triangles=len(full.faces) // 4)
    assert dec.grid == full.grid and len(dec.faces) <= len(full.faces) // 4
    check_decimated(full, dec)
    cell = _texture_shifts(full).max()
    shift = _texture_shifts(dec)
    assert shift.max() <= max(MAX_SHIFT, cell) + 1e-6
    # without the bound the same budget is spent on blocks that move it more
    q = (1.0 / floor).astype(np.float32)
    errors = block_errors(q, whole_cells(q, None))
    bounded = block_errors(q, whole_cells(q, None), pixel=1.0)
    big = errors.levels[3] <= MAX_ERROR  # 16-cell blocks the error alone would merge
    assert big.any() and not (bounded.levels[3][big] <= MAX_ERROR).all()
