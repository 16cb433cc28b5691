"""Row bands (depth3d.geometry.bands): geometry computed band by band, in threads, is the same geometry."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from test_flying import model_blur

from depth3d.geometry import bands
from depth3d.geometry.bands import row_bands
from depth3d.geometry.reconstruct import Options, reconstruct


def test_bands_cover_every_row_once_with_their_halo():
    for ny, nx, halo, vertices in ((100, 10, 3, 200), (7, 5, 2, 10), (1000, 1, 40, 64), (50, 50, 0, 1)):
        got = row_bands(ny, nx, halo, vertices)
        assert got[0].lo == 0 and got[-1].hi == ny
        for band, after in itertools.pairwise(got):
            assert band.hi == after.lo  # adjacent, no row twice
        for a, b, lo, hi in got:
            assert a == max(0, lo - halo) and b == min(ny, hi + halo) and lo < hi


def _scene(seed: int, h: int = 240, w: int = 320) -> np.ndarray:
    """Boxes at random depths, blurred as a model blurs them, with holes and a region behind
    the camera."""
    rng = np.random.default_rng(seed)
    depth = np.full((h, w), 4.0, np.float32)
    for _ in range(12):
        y, x = rng.integers(0, h), rng.integers(0, w)
        depth[y:y + rng.integers(4, 80), x:x + rng.integers(4, 80)] = rng.uniform(0.7, 12)
    depth = model_blur(depth)
    depth[rng.random((h, w)) < 0.003] = np.nan
    depth[rng.integers(h // 2, h):, :rng.integers(1, w // 5)] = -1.0
    return depth


@pytest.mark.parametrize("seed", range(3))
def test_geometry_in_small_bands_and_threads_is_identical(monkeypatch, seed):
    depth = _scene(seed)
    rgb = np.zeros(depth.shape + (3,), np.uint8)
    cases = [Options(fov=55, resolution=0), Options(fov=55, resolution=0, projection="relief"),
             Options(fov=55, resolution=100)]
    whole = [reconstruct(rgb, depth, "depth", o) for o in cases]
    monkeypatch.setattr(bands, "BAND_VERTICES", 3 * depth.shape[1])  # bands of a few rows
    monkeypatch.setattr(bands, "workers", lambda: 3)
    assert len(row_bands(*depth.shape, 2)) > 10
    for options, expected in zip(cases, whole):
        got = reconstruct(rgb, depth, "depth", options)
        for key in ("vertices", "faces", "uv"):
            np.testing.assert_array_equal(getattr(got, key), getattr(expected, key), err_msg=key)
