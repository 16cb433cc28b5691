"""Reconstruct's output arrays on several maps, saved to compare two versions bit for bit.

    .venv/bin/python bench/geometry_outputs.py save OUT.npz [--quick]
    .venv/bin/python bench/geometry_outputs.py compare BEFORE.npz AFTER.npz

Maps: random boxes (900×1200), random boxes with holes and a region behind the camera
(700×1000), random boxes blurred as a model blurs them (960×1280, tests/test_flying.py's
``model_blur``), bench_convert's room blurred at 2 MP, a noisy disparity like an untrained model's
(768×1024, :func:`noisy_disparity`), and — without ``--quick`` — the room at 12 MP, sharp.  Each
at ``--resolution`` 0, 1024 and 256, perspective and relief (the 12 MP room: perspective only).
Run ``save`` with one version's checkout on PYTHONPATH, then the other's, then ``compare``:
vertices, faces, UVs and the grid layout must be identical, array for array.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def boxes(seed: int, h: int, w: int, holes: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    depth = np.full((h, w), 3.0, np.float32)
    for _ in range(40):
        y, x = rng.integers(0, h), rng.integers(0, w)
        depth[y:y + rng.integers(1, 200), x:x + rng.integers(1, 200)] = rng.uniform(0.5, 20)
    if holes:
        depth[rng.random((h, w)) < 0.01] = np.nan
        depth[rng.integers(0, h):, :rng.integers(0, w // 4)] = -1.0
    return depth


def _upsample(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """``a`` interpolated linearly to (h, w), float64 (corner-aligned)."""
    def weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.linspace(0, n_in - 1, n_out)
        i0 = np.minimum(x.astype(np.int64), n_in - 2)
        return i0, i0 + 1, x - i0
    j0, j1, fy = weights(a.shape[0], h)
    i0, i1, fx = weights(a.shape[1], w)
    rows = a[j0] * (1 - fy)[:, None] + a[j1] * fy[:, None]
    return rows[:, i0] * (1 - fx) + rows[:, i1] * fx


def noisy_disparity(seed: int, h: int, w: int) -> np.ndarray:
    """(h, w) float32 relative disparity with the character of a random-weight model's output
    (bench_model.py's workload): a smooth field (mean 5e-5, spread 2.5e-5) plus noise of about 40 % of
    the mean correlated over ~4 pixels, some values ≤ 0 (no point there)."""
    rng = np.random.default_rng(seed)
    smooth = _upsample(rng.normal(5e-5, 2.5e-5, (6, 8)), h, w)
    noise = _upsample(rng.normal(0, 3.5e-5, (h // 4, w // 4)), h, w)
    return (smooth + noise).astype(np.float32)


def save(out: str, quick: bool) -> None:
    sys.path[:0] = [str(REPO / "tests"), str(REPO / "bench")]
    from bench_convert import scene
    from test_flying import model_blur

    from depth3d.geometry.reconstruct import Options, reconstruct

    maps = {
        "boxes": boxes(1, 900, 1200, False),
        "boxes_holes": boxes(2, 700, 1000, True),
        "blurred": model_blur(boxes(3, 960, 1280, False)),
        "room2": model_blur(scene(1632, 1224)[1]),
        "noisy": noisy_disparity(4, 768, 1024),
    }
    kinds = {"noisy": "disparity"}
    if not quick:
        maps["room12"] = scene(4000, 3000)[1]
    arrays = {}
    for name, depth in maps.items():
        rgb = np.zeros(depth.shape + (3,), np.uint8)
        for resolution in (0, 1024, 256):
            for projection in ("perspective", "relief"):
                if projection == "relief" and name == "room12":
                    continue
                start = time.perf_counter()
                g = reconstruct(rgb, depth, kinds.get(name, "depth"),
                                Options(fov=60, resolution=resolution, projection=projection))
                print(f"{name} {resolution} {projection}: {time.perf_counter() - start:.2f} s, "
                      f"{len(g.faces)} faces", flush=True)
                for key in ("vertices", "faces", "uv"):
                    arrays[f"{name}/{resolution}/{projection}/{key}"] = getattr(g, key)
                layout = g.layout  # how the faces sit on the grid (Blender's quads are read from it)
                arrays[f"{name}/{resolution}/{projection}/layout"] = np.concatenate(
                    [[layout.first, layout.second], layout.grid_index]).astype(np.int64)
    np.savez(out, **arrays)


def compare(before: str, after: str) -> int:
    a, b = np.load(before), np.load(after)
    differ = [k for k in a.files if k not in b.files or a[k].dtype != b[k].dtype
              or not np.array_equal(a[k], b[k], equal_nan=True)]
    differ += [k for k in b.files if k not in a.files]
    for key in differ:
        print("differs:", key)
    print(f"{len(a.files) - len(differ)} of {len(a.files)} arrays identical")
    return 1 if differ else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["save"]:
        save(sys.argv[2], "--quick" in sys.argv)
    elif sys.argv[1:2] == ["compare"]:
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
