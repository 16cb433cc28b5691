"""Shared fixtures: independent readers (glTF-Validator), temp Blender user folders."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TOOLS = Path(__file__).parent / "tools"
REPO = Path(__file__).resolve().parent.parent


def random_photo(path: Path, size: tuple[int, int] = (64, 48), seed: int = 0) -> Path:
    """A photo of random pixels, (width, height) ``size``, saved to ``path`` (format by suffix)."""
    from PIL import Image

    w, h = size
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def box_depth(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """A .npy planar depth of 3 m with a box at 1.5 m (a discontinuity the edge rule cuts)."""
    w, h = size
    z = np.full((h, w), 3.0, np.float32)
    z[h // 5: h // 2, w // 3: 2 * w // 3] = 1.5
    np.save(path, z)
    return path


def validate_gltf(*files: str | os.PathLike) -> list[dict]:
    """Run Khronos glTF-Validator on ``files``; one report dict per file."""
    node = shutil.which("node")
    if node is None or not (TOOLS / "node_modules" / "gltf-validator").is_dir():
        pytest.fail("glTF-Validator missing: run `npm ci --prefix tests/tools` (the README's test command does)")
    out = subprocess.run(
        [node, str(TOOLS / "validate_gltf.cjs"), *map(str, files)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def same_point_set(a: np.ndarray, b: np.ndarray, atol: float = 1e-5, rtol: float = 0.0) -> bool:
    """(N, 3) ``a`` and ``b`` hold the same points in any order: every point of each has one of
    the other within ``atol + rtol·|x|`` per coordinate (brute force in blocks; sorting rounded
    rows is not robust, as float noise carries a coordinate across a rounding boundary)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False
    block = max(1, (1 << 22) // max(1, a.size))

    def covered(p, q):
        for start in range(0, len(p), block):
            d = np.abs(p[start:start + block, None, :] - q[None, :, :]) - rtol * np.abs(q[None, :, :])
            if not (d.max(axis=2).min(axis=1) <= atol).all():
                return False
        return True

    return covered(a, b) and covered(b, a)


def assert_valid_gltf(*files: str | os.PathLike) -> None:
    """Every file validates with 0 errors and 0 warnings."""
    for report in validate_gltf(*files):
        assert report["errors"] == 0 and report["warnings"] == 0, report


@pytest.fixture(autouse=True, scope="session")
def _blender_user_resources(tmp_path_factory):
    """Keep Blender (the bpy module) away from ~/.config/blender in every test."""
    os.environ.setdefault("BLENDER_USER_RESOURCES", str(tmp_path_factory.mktemp("blender_user")))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    yield


# The bpy 4.5 module can deadlock at interpreter exit: its GlobalState destructor waits on a
# condition variable that its own "delayed close" thread still holds (seen with gdb after a
# full, all-green run).  Once pytest has printed its summary, leave without running C++
# static destructors when bpy was loaded, with pytest's own exit status.
_exit_status = 0


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if "bpy" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
