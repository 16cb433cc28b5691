"""The edge rule on analytic cases (depth3d.geometry.edges, through depth3d.geometry.reconstruct)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from depth3d.geometry.edges import KEEP, SPLIT, TEAR, coarsen_cuts, locate_cuts, triangulate
from depth3d.geometry.reconstruct import Options, reconstruct


def test_coarsen_cuts_takes_the_strongest_fine_edge_along_each_coarse_edge():
    k, ny, nx = 3, 4, 5
    fy, fx = k * (ny - 1) + 1, k * (nx - 1) + 1
    fine = {"h": np.zeros((fy, fx - 1), np.uint8), "v": np.zeros((fy - 1, fx), np.uint8),
            "d": np.zeros((fy - 1, fx - 1), np.uint8)}
    fine["h"][3, 7] = TEAR  # on coarse row 1, between coarse columns 2 and 3 (fine 6 … 9)
    fine["v"][8, 3] = SPLIT  # on coarse column 1, between coarse rows 2 and 3 (fine 6 … 9)
    # coarse diagonal (1, 2): from coarse (1, 3) to (2, 2), i.e. fine (3, 9) → (6, 6); its
    # second fine step runs (4, 8) → (5, 7), the fine diagonal at (4, 7)
    fine["d"][4, 7] = TEAR
    fine["h"][4, 7] = TEAR  # inside a coarse cell, on no coarse edge
    coarse = coarsen_cuts(fine, k, ny, nx)
    assert {key: c.shape for key, c in coarse.items()} == {"h": (ny, nx - 1), "v": (ny - 1, nx), "d": (ny - 1, nx - 1)}
    assert list(zip(*np.nonzero(coarse["h"]))) == [(1, 2)] and coarse["h"][1, 2] == TEAR
    assert list(zip(*np.nonzero(coarse["v"]))) == [(2, 1)] and coarse["v"][2, 1] == SPLIT
    assert list(zip(*np.nonzero(coarse["d"]))) == [(1, 2)] and coarse["d"][1, 2] == TEAR
    assert KEEP == 0


def _one_cell(code: int, column: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """One coarse cell (2 × 2 vertices) over a fine grid 3 times finer (4 × 4) with a vertical step
    between fine columns ``column`` and ``column`` + 1, coded ``code`` on the fine edges it
    crosses: → (fine cuts, fine q, coarse q)."""
    k = 3
    qf = np.where(np.arange(4) <= column, np.float32(0.5), np.float32(0.25))[None, :].repeat(4, 0)
    fine = {"h": np.zeros((4, 3), np.uint8), "v": np.zeros((3, 4), np.uint8), "d": np.zeros((3, 3), np.uint8)}
    fine["h"][:, column] = code
    # the coarse diagonal runs fine (0, 3) → (3, 0) through fine columns 3 − m: it crosses the
    # step at its m = 2 − column-th fine step, the fine diagonal (m, 3 − m − 1)
    m = 2 - column
    fine["d"][m, 2 - m] = code
    return fine, qf, np.ascontiguousarray(qf[::k, ::k])


def _image_area(faces, own, other, mid_t, nx: int):
    """Area of ``triangulate``'s faces in grid units, and each face's x extent (min, max)."""
    n = len(own)
    grid = np.arange(2 * nx)
    pos = np.stack([grid % nx, grid // nx], axis=1).astype(np.float64)
    mids = pos[own] + mid_t[:, None] * (pos[other] - pos[own]) if n else np.zeros((0, 2))
    pos = np.concatenate([pos, mids])
    t = pos[faces]
    area = 0.5 * np.abs((t[:, 1, 0] - t[:, 0, 0]) * (t[:, 2, 1] - t[:, 0, 1])
                        - (t[:, 2, 0] - t[:, 0, 0]) * (t[:, 1, 1] - t[:, 0, 1]))
    return area, t[:, :, 0].min(axis=1), t[:, :, 0].max(axis=1)


@pytest.mark.parametrize("code, column, left, right", [
    (TEAR, 1, 1 / 3, 1 / 3),  # each side up to its end of the torn fine edge: a gap 1/3 wide
    (SPLIT, 0, 1 / 6, 5 / 6),  # the sides meet halfway along the cut fine edge
    (SPLIT, 2, 5 / 6, 1 / 6),
])
def test_a_coarse_cell_is_split_where_the_fine_grid_cut_it(code, column, left, right):
    fine, qf, qc = _one_cell(code, column)
    coarse = coarsen_cuts(fine, 3, 2, 2)
    faces, own, other, _, mid_t = triangulate(qc, coarse, locate_cuts(qf, fine, 3, coarse))[:5]
    area, x0, x1 = _image_area(faces, own, other, mid_t, 2)
    on_left, on_right = x1 <= 1 - right + 1e-6, x0 >= left - 1e-6
    assert (on_left | on_right).all()  # no face spans the step
    assert area[on_left].sum() == pytest.approx(left) and area[on_right].sum() == pytest.approx(right)
    # not placed: a TEAR drops the cell's triangles, a SPLIT meets in the middle
    faces, own, other, _, mid_t = triangulate(qc, coarse)[:5]
    area, x0, x1 = _image_area(faces, own, other, mid_t, 2)
    assert area.sum() == pytest.approx(0 if code == TEAR else 1)


def test_a_coarse_mesh_meets_at_a_sharp_step_where_it_is():
    """A step between planes at 2 m and 3 m at pixel edge 638 of a 1280-wide map, 1.5 pixels
    from a vertex of the 256 grid (cells 5 pixels wide): the surfaces meet within a fine step
    (1.67 pixels) of it, not at the middle of the cell (640), and cover every pixel between."""
    h, w = 960, 1280
    depth = np.full((h, w), 2.0, np.float32)
    depth[:, 638:] = 3.0
    geo = reconstruct(np.zeros((h, w, 3), np.uint8), depth, "depth", Options(fov=60, resolution=256))
    p, f = geo.vertices.astype(np.float64), geo.faces
    z = -p[f][:, :, 2]
    near, far = np.isclose(z, 2.0, rtol=1e-5).all(axis=1), np.isclose(z, 3.0, rtol=1e-5).all(axis=1)
    assert (near | far).all()
    col = p[:, 0] / -p[:, 2] / np.tan(np.radians(30)) * (w / 2) + w / 2  # image x, pixels
    fine_step = (w - 1) / (3 * 255)
    assert abs(col[f[near]].max() - 638) < 0.5 * fine_step
    assert col[f[near]].max() == pytest.approx(col[f[far]].min(), abs=1e-3)


def _wall_and_box(h: int = 960, w: int = 1280) -> np.ndarray:
    """A wall at 5 m and a box at 4 m, the step between them blurred into a ramp 8 pixels wide
    and straight in disparity (a model's output upsampled bilinearly), across the whole frame."""
    ramp = np.clip((np.arange(w) - 640) / 8.0, 0, 1)  # 0 → 1 over columns 640 … 648
    q = 1 / 5 + (1 / 4 - 1 / 5) * ramp
    return np.broadcast_to(1 / q, (h, w)).astype(np.float32)


def _off_surface(geo, threshold_m: float = 0.01) -> tuple[float, np.ndarray, np.ndarray]:
    """(area share of triangles on neither surface, on-wall mask, on-box mask)."""
    tri = geo.vertices[geo.faces].astype(np.float64)
    z = -tri[:, :, 2]
    on_wall = (np.abs(z / 5 - 1) <= threshold_m).all(axis=1)
    on_box = (np.abs(z / 4 - 1) <= threshold_m).all(axis=1)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    return float(area[~(on_wall | on_box)].sum() / area.sum()), on_wall, on_box


@pytest.mark.parametrize("resolution", [0, 1024, 256])
def test_a_blurred_step_wider_than_the_window_is_cut_cleanly(resolution):
    """At full size the ramp is wider than the window, so it predicts itself and sharpening
    cannot move all of it; what it leaves is torn.  The ramp also meets the top and bottom of
    the frame, where the samples beyond the border repeat the border."""
    depth = _wall_and_box()
    geo = reconstruct(np.zeros(depth.shape + (3,), np.uint8), depth, "depth",
                      Options(fov=60, resolution=resolution))
    off, on_wall, on_box = _off_surface(geo)
    assert off <= 0.005, f"{off:.3%} of the area spans the step"  # the flying target
    # both surfaces reach the step: the gap between them is at most a couple of cells
    x = geo.vertices[:, 0] / -geo.vertices[:, 2]  # tan-angle
    cell = 2 * np.tan(np.radians(30)) / (max(geo.grid) - 1)
    assert x[geo.faces[on_box]].min() - x[geo.faces[on_wall]].max() <= 3 * cell
    # without the edge rule the ramp is a skin of triangles between the two
    keep_all = reconstruct(np.zeros(depth.shape + (3,), np.uint8), depth, "depth",
                           Options(fov=60, resolution=resolution, edge_threshold=0))
    assert _off_surface(keep_all)[0] > 0.02


def _sphere_before_wall(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Planar depth along the rays (x/z, y/z) = (u, v): a ball of radius 1 m at 5 m, a bit to the
    right, in front of a wall at 20 m."""
    c, r = np.array([0.3, 0.0, -5.0]), 1.0
    d = np.stack([u, v, -np.ones_like(u)], axis=-1)  # the ray, at unit planar depth
    a, b, cc = (d * d).sum(-1), -2 * (d * c).sum(-1), (c * c).sum() - r * r
    disc = b * b - 4 * a * cc
    t = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), np.inf)
    return np.minimum(t, 20.0)


def test_a_ball_curving_away_at_its_silhouette_is_left_out_not_guessed(monkeypatch):
    """Blur replaces a ball's last pixels before its silhouette with a mix of ball and wall; no
    continuation from inside follows the ball as it turns away.  Those vertices are dropped,
    which leaves a fraction of the triangles off the true surface that continuing them does."""
    from test_flying import model_blur

    import depth3d.geometry.edges.params as edge_params

    h, w, fov = 960, 1280, 60.0
    tan_x = np.tan(np.radians(fov / 2))
    cols = ((np.arange(w) + 0.5) / w * 2 - 1) * tan_x
    rows = (1 - (np.arange(h) + 0.5) / h * 2) * tan_x * h / w
    depth = model_blur(_sphere_before_wall(*np.meshgrid(cols, rows)).astype(np.float32))

    def flying(resolution: int) -> float:
        geo = reconstruct(np.zeros((h, w, 3), np.uint8), depth, "depth", Options(fov=fov, resolution=resolution))
        tri = geo.vertices[geo.faces].astype(np.float64)
        centroid = tri.mean(axis=1)
        z = -centroid[:, 2]
        off = np.abs(z / _sphere_before_wall(centroid[:, 0] / z, centroid[:, 1] / z) - 1) > 0.01
        area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        return float(area[off].sum() / area.sum())

    dropped = {res: flying(res) for res in (1024, 0)}
    monkeypatch.setattr(edge_params, "DEFAULT_PARAMS", replace(edge_params.DEFAULT_PARAMS, curving_away=np.inf))
    continued = {res: flying(res) for res in (1024, 0)}
    for res in dropped:
        assert dropped[res] <= 0.005
        assert dropped[res] < 0.5 * continued[res], (res, dropped[res], continued[res])


@pytest.mark.parametrize("seed", range(6))
def test_random_steps_and_holes_give_valid_meshes_at_every_grid(seed):
    """Boxes at random depths, holes (NaN, behind the camera), any map and grid size, both
    projections: finite vertices, and no face that is degenerate or flipped in the image."""
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(20, 200, 2))
    depth = np.full((h, w), 3.0, np.float32)
    for _ in range(int(rng.integers(1, 6))):
        y, x = rng.integers(0, h), rng.integers(0, w)
        depth[y:y + rng.integers(1, 40), x:x + rng.integers(1, 40)] = rng.uniform(0.5, 20)
    if seed % 2:
        depth[rng.random((h, w)) < 0.02] = np.nan
        depth[rng.integers(0, h):, :rng.integers(0, w)] = -1.0
    for resolution in (8, 12, 30, max(h, w) // 3, 0):
        for projection in ("perspective", "relief"):
            geo = reconstruct(np.zeros((h, w, 3), np.uint8), depth, "depth",
                              Options(fov=50, resolution=resolution, projection=projection))
            assert np.isfinite(geo.vertices).all()
            uv = geo.uv.astype(np.float64)[geo.faces]
            area = ((uv[:, 1, 0] - uv[:, 0, 0]) * (uv[:, 2, 1] - uv[:, 0, 1])
                    - (uv[:, 2, 0] - uv[:, 0, 0]) * (uv[:, 1, 1] - uv[:, 0, 1]))
            assert (area > 1e-12).all(), (resolution, projection)  # counter-clockwise, not flat


# --- each stage on its own (depth3d.geometry.edges.params, .sharpen, .cut, .faces) ---------------------

def test_params_are_one_frozen_dataclass_and_set_the_window():
    from dataclasses import FrozenInstanceError

    from depth3d.geometry.edges import DEFAULT_PARAMS, EdgeParams, edge_window_radius

    with pytest.raises(FrozenInstanceError):
        DEFAULT_PARAMS.ramp_margin = 0.5  # type: ignore[misc]
    assert edge_window_radius(4000, 3000) == 20  # 0.5 % of the long side
    assert edge_window_radius(100, 300) == 2  # never below min_window
    assert EdgeParams(edge_window=0.01).window_radius(3000, 4000) == 40


def _rows(values, ny: int = 30) -> np.ndarray:
    """(ny, len(values)) float32 grid whose every row is ``values`` (disparity along x)."""
    return np.repeat(np.asarray(values, np.float32)[None, :], ny, axis=0)


def _plane(ny: int = 30, nx: int = 40) -> np.ndarray:
    j, i = np.mgrid[0:ny, 0:nx].astype(np.float32)
    return np.float32(0.25) + np.float32(1 / 256) * i + np.float32(1 / 512) * j


def _ramp(nx: int = 40, at: int = 20, width: int = 4) -> np.ndarray:
    """0.5 up to column ``at``, 0.25 from ``at`` + ``width``, straight between (exact in float32)."""
    t = np.clip((np.arange(nx) - at) / width, 0, 1)
    return _rows(0.5 - 0.25 * t)


@pytest.mark.parametrize("grid", [_plane(), _ramp(width=12), _rows(np.where(np.arange(40) < 20, 0.5, 0.25))],
                         ids=["plane", "wide ramp", "sharp step"])
def test_sharpening_leaves_planes_wide_ramps_and_sharp_steps_alone(grid):
    from depth3d.geometry.edges import restore_creases, sharpen_steps

    # the wide ramp is three windows wide: each vertex on it is predicted by the ramp itself.
    # Beyond the frame a surface continues level, so a slope meeting it is a crease there: only
    # vertices farther from the border than the samples reach (8 steps for a window of 4) count
    m = 8
    for out in (sharpen_steps(grid, 4, 0.02), restore_creases(grid, 4, 0.02)):
        assert np.array_equal(out[m:-m, m:-m], grid[m:-m, m:-m])


def test_a_blurred_step_becomes_a_clean_one_where_the_blur_crossed_the_middle():
    from depth3d.geometry.edges import sharpen_steps

    q = _ramp()  # 0.5, 0.4375, 0.375, 0.3125, 0.25 at columns 20 … 24: a step blurred over a window
    out = sharpen_steps(q, 4, 0.02)
    # each ramp vertex takes its nearer side's continuation; the middle one (a tie) the first side
    expect = _rows(np.where(np.arange(40) <= 22, 0.5, 0.25))
    assert np.array_equal(out, expect)


def test_a_rounded_crease_is_sharp_again():
    from depth3d.geometry.edges import restore_creases

    ridge = _rows((52 - np.abs(np.arange(40) - 20)) / 128)  # two planes meeting at column 20
    rounded = ridge.copy()
    rounded[:, 20] = (51 + 52 + 51) / 3 / 128  # a 3-tap blur rounds the kink, and only it
    assert np.array_equal(restore_creases(rounded, 4, 0.02), ridge)


def _no_cuts(cuts) -> bool:
    return all(not c.any() for c in cuts.values())


@pytest.mark.parametrize("radius", [0, 4])
def test_cut_edges_of_a_single_step_are_exactly_the_edges_across_it(radius):
    from depth3d.geometry.edges import KEEP, SPLIT, cut_edges, edges_apart

    ny, nx, c = 12, 10, 4  # 0.5 up to column c, 0.25 beyond it
    q = _rows(np.where(np.arange(nx) <= c, 0.5, 0.25), ny)
    cuts = cut_edges(q, 0.02, radius, (0.01, 0.01), q if radius else None)
    assert {k: v.shape for k, v in cuts.items()} == {"h": (ny, nx - 1), "v": (ny - 1, nx), "d": (ny - 1, nx - 1)}
    expect_h = np.full((ny, nx - 1), KEEP, np.uint8)
    expect_h[:, c] = SPLIT  # (j, c)–(j, c+1)
    expect_d = np.full((ny - 1, nx - 1), KEEP, np.uint8)
    expect_d[:, c] = SPLIT  # (j, c+1)–(j+1, c)
    assert np.array_equal(cuts["h"], expect_h) and np.array_equal(cuts["d"], expect_d)
    assert not cuts["v"].any()
    apart = edges_apart(q, 0.02)
    assert np.array_equal(apart["h"], expect_h > 0) and np.array_equal(apart["d"], expect_d > 0)
    assert not apart["v"].any()


@pytest.mark.parametrize("grid", [_plane(), _ramp(), _ramp(width=2)], ids=["plane", "ramp", "steep ramp"])
def test_cut_edges_finds_nothing_on_a_plane_or_a_ramp_between_planes(grid):
    from depth3d.geometry.edges import cut_edges

    # a ramp's ends are creases: each side's continuation misses the other end, but not both ways
    assert _no_cuts(cut_edges(grid, 0.02))
    assert _no_cuts(cut_edges(grid, 0.02, 4, (0.01, 0.01)))


def _step_2x3(code: int):
    """A 2 × 3 grid, 0.5 on columns 0 and 1, 0.25 on column 2; the edges across coded ``code``."""
    q = np.array([[0.5, 0.5, 0.25], [0.5, 0.5, 0.25]], np.float32)
    cuts = {"h": np.full((2, 2), KEEP, np.uint8), "v": np.full((1, 3), KEEP, np.uint8),
            "d": np.full((1, 2), KEEP, np.uint8)}
    cuts["h"][:, 1] = code
    cuts["d"][0, 1] = code
    return q, cuts


def test_triangulate_splits_a_tiny_grid_at_its_one_step_exactly():
    from depth3d.geometry.edges import Triangulation

    q, cuts = _step_2x3(SPLIT)
    tri = triangulate(q, cuts)
    assert isinstance(tri, Triangulation)
    # grid vertices 0 1 2 / 3 4 5; split vertices: h (0, 1) → 6 on 1, 7 on 2; h (1, 1) → 8 on 4,
    # 9 on 5; d (0, 1) → 10 on 2, 11 on 4
    assert tri.faces.dtype == np.int32
    assert tri.faces.tolist() == [
        [0, 3, 1], [1, 3, 4],  # cell (0, 0), whole
        [2, 7, 10], [6, 1, 4], [6, 4, 11],  # its first triangle (1, 4, 2): corner 2 cut off
        [4, 8, 11], [9, 5, 2], [9, 2, 10],  # its second (2, 4, 5): corner 4 cut off
    ]
    assert tri.mid_own.tolist() == [1, 2, 4, 5, 2, 4]
    assert tri.mid_other.tolist() == [2, 1, 5, 4, 4, 2]
    # each side extended half a step: the planes are level, so at their own disparity
    assert tri.mid_q.tolist() == [0.5, 0.25, 0.5, 0.25, 0.25, 0.5]
    assert tri.mid_t.tolist() == [0.5] * 6
    assert (tri.first, tri.second) == (1, 1)
    assert [c.tolist() for c in tri.cells] == [[[True, False]], [[True, False]]]  # cell (0, 0)'s, whole


def test_triangulate_drops_torn_triangles_and_keeps_all_without_cuts():
    q, cuts = _step_2x3(TEAR)
    tri = triangulate(q, cuts)
    assert tri.faces.tolist() == [[0, 3, 1], [1, 3, 4]] and len(tri.mid_q) == 0
    whole = triangulate(q, None)
    assert whole.faces.tolist() == [[0, 3, 1], [1, 4, 2], [1, 3, 4], [2, 4, 5]]
    q[0, 0] = np.nan  # a vertex without a point takes its triangles with it
    assert triangulate(q, None).faces.tolist() == [[1, 4, 2], [1, 3, 4], [2, 4, 5]]


# --- quiet tiles (depth3d.geometry.edges.tiles): skipped work, identical results ------------------------

def test_window_stats_bound_a_plane_and_single_out_the_tiles_near_a_step():
    from depth3d.geometry.edges.tiles import quiet_tiles, window_stats

    n, t = 160, 16  # 10 × 10 tiles; a halo of one tile
    q = _plane(n, n)
    stats = window_stats(q, t, t)
    inner = (slice(1, -1), slice(1, -1))
    assert (stats.rho[inner] < 1e-4 * stats.qmin[inner]).all()  # within float32 rounding of a plane
    for j in range(1, 9):  # qmin, qmax bound q over each window (the tile and those beside it)
        for i in range(1, 9):
            win = q[(j - 1) * t:(j + 2) * t, (i - 1) * t:(i + 2) * t]
            assert stats.qmin[j, i] <= win.min() and stats.qmax[j, i] >= win.max()
    ok = quiet_tiles(stats, 18.0, lambda lo, hi: 0.005 * lo)
    # beyond the border the plane continues level (the border value repeated), a crease that
    # sharpening acts on: the border tiles are not quiet, unless the surface is level
    assert ok[inner].all() and not ok[0].any() and not ok[:, -1].any()
    assert quiet_tiles(window_stats(np.full((n + 5, n + 7), 0.3, np.float32), t, t), 18.0,
                       lambda lo, hi: 0.005 * lo).all()
    q[:, 80:] *= np.float32(0.5)  # a step between columns 79 and 80: tiles 4 | 5
    ok = quiet_tiles(window_stats(q, t, t), 18.0, lambda lo, hi: 0.005 * lo)
    # a tile is quiet when its window (the tiles beside it) is all on one side of the step
    assert ok[1:-1].tolist() == [[False, True, True, True, False, False, True, True, True, False]] * 8


def _tiled_and_whole(monkeypatch, run):
    """``run()`` with every grid tiled, and with none: both results."""
    import depth3d.geometry.edges.tiles as tiles

    monkeypatch.setattr(tiles, "MIN_TILED", 0)
    tiled = run()
    monkeypatch.setattr(tiles, "MIN_TILED", 1 << 62)
    return tiled, run()


@pytest.mark.parametrize("seed", range(3))
def test_stages_skip_quiet_tiles_with_identical_results(monkeypatch, seed):
    """Boxes on a slanted floor and a wall (planes: many quiet tiles), blurred as a model blurs
    them, with holes: each stage gives the same arrays tiled as on the whole grid."""
    import sys
    from pathlib import Path

    from test_flying import model_blur

    import depth3d.geometry.edges.tiles as tiles
    from depth3d.geometry.edges import cut_edges, edge_window_radius, restore_creases, sharpen_steps

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from bench_convert import scene

    rng = np.random.default_rng(seed)
    h, w = 480, 640
    depth = scene(w, h)[1]
    for _ in range(3):
        y, x = rng.integers(0, h - 60), rng.integers(0, w - 60)
        depth[y:y + rng.integers(8, 60), x:x + rng.integers(8, 60)] = rng.uniform(1, 5)
    depth = model_blur(depth) if seed % 2 else depth
    q = (1 / depth).astype(np.float32)
    if seed == 2:
        q[rng.random(q.shape) < 0.0005] = np.nan
    q = q[: h - seed, : w - 2 * seed]  # odd sizes too
    r = edge_window_radius(q.shape[1], q.shape[0])
    monkeypatch.setattr(tiles, "MIN_TILED", 0)  # work is skipped on many tiles (holes leave fewer)
    assert tiles.tiling(q, 2 * r + 4, lambda s: tiles.quiet_tiles(s, 4.0, lambda lo, hi: 0.01 * lo))[1].mean() > 0.1

    def run():
        s = sharpen_steps(q, r, 0.02, drop_curving=True)
        c = restore_creases(s, r, 0.02)
        return s, c, cut_edges(c, 0.02, r, (0.002, 0.002), q), cut_edges(c, 0.02)

    (s1, c1, k1, z1), (s2, c2, k2, z2) = _tiled_and_whole(monkeypatch, run)
    assert np.array_equal(s1, s2, equal_nan=True) and np.array_equal(c1, c2, equal_nan=True)
    for kind in k1:
        assert np.array_equal(k1[kind], k2[kind]) and np.array_equal(z1[kind], z2[kind])
    assert any(k1[kind].any() for kind in k1)  # there are steps to find
