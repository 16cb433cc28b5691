"""The edge rule on analytic cases (depth3d.edges, through depth3d.reconstruct)."""
from __future__ import annotations

import numpy as np
import pytest

from depth3d.edges import KEEP, SPLIT, TEAR, coarsen_cuts, locate_cuts, triangulate
from depth3d.reconstruct import Options, reconstruct


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
    faces, own, other, _, mid_t = triangulate(qc, coarse, locate_cuts(qf, fine, 3, coarse))
    area, x0, x1 = _image_area(faces, own, other, mid_t, 2)
    on_left, on_right = x1 <= 1 - right + 1e-6, x0 >= left - 1e-6
    assert (on_left | on_right).all()  # no face spans the step
    assert area[on_left].sum() == pytest.approx(left) and area[on_right].sum() == pytest.approx(right)
    # not placed: a TEAR drops the cell's triangles, a SPLIT meets in the middle
    faces, own, other, _, mid_t = triangulate(qc, coarse)
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

    import depth3d.edges as edges

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
    monkeypatch.setattr(edges, "CURVING_AWAY", np.inf)
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
