"""The edge rule on analytic cases (depth3d.edges, through depth3d.reconstruct)."""
from __future__ import annotations

import numpy as np
import pytest

from depth3d.edges import KEEP, SPLIT, TEAR, coarsen_cuts
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
