"""Render the bundled sample photos and their ground-truth depth with Blender (the bpy module).

    python samples/make_samples.py            # → samples/photos/<name>.jpg, samples/depth/<name>.exr

The scenes are the test scenes of ``tests/scenes.py``.  Colour is rendered with 32 samples and
Blender's 1.5 px filter (a photo); depth with one ray through each pixel centre (exact planar
depth, metres).  Sky has no depth: it is set to 1.5 × the farthest surface, a backdrop.  The JPEG
carries EXIF ``FocalLengthIn35mmFilm`` for the render camera, so the FOV is read back from it.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCENES = ("room", "outdoor", "tabletop")
SIZE = (640, 480)


def _render_in_child(scene: str, out: Path) -> None:
    """One scene → out/<scene>.npz with ``rgb`` (filtered), ``depth`` (exact) and ``fov``."""
    code = f"""
import sys, numpy as np
sys.path.insert(0, {str(HERE.parent / 'tests')!r})
from scenes import render
photo = render({scene!r}, 1.0, {SIZE[0]}, {SIZE[1]}, samples=32, pixel_filter=1.5)
exact = render({scene!r}, 1.0, {SIZE[0]}, {SIZE[1]})
np.savez({str(out / (scene + '.npz'))!r}, rgb=photo['rgb'], depth=exact['depth'], fov=photo['fov'])
"""
    env = dict(os.environ, BLENDER_USER_RESOURCES=tempfile.mkdtemp(prefix="blender_user_"))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def focal_35mm(fov_deg: float, width: int, height: int) -> int:
    """The EXIF ``FocalLengthIn35mmFilm`` (whole mm, on the 43.27 mm diagonal) for a horizontal FOV."""
    sensor_w = math.hypot(36.0, 24.0) * width / math.hypot(width, height)
    return round(sensor_w / (2.0 * math.tan(math.radians(fov_deg) / 2.0)))


def main() -> None:
    from PIL import Image

    from depth3d.io.atomic import atomic_path
    from depth3d.io.depth_io import write_depth_exr

    photos, depths = HERE / "photos", HERE / "depth"
    photos.mkdir(exist_ok=True), depths.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for scene in SCENES:
            _render_in_child(scene, Path(tmp))
            data = np.load(Path(tmp) / f"{scene}.npz")
            depth = data["depth"]
            finite = np.isfinite(depth)
            depth = np.where(finite, depth, np.float32(1.5 * depth[finite].max())).astype(np.float32)
            exif = Image.Exif()
            exif.get_ifd(0x8769)[0xA405] = focal_35mm(float(data["fov"]), *SIZE)
            with atomic_path(photos / f"{scene}.jpg") as tmp_jpg:
                Image.fromarray(data["rgb"]).save(tmp_jpg, quality=90, exif=exif)
            write_depth_exr(depths / f"{scene}.exr", depth)  # 32-bit float, ZIP: ~1/3 of .npy
            print(f"{scene}: {SIZE[0]}x{SIZE[1]}, fov {float(data['fov']):.1f}°, "
                  f"depth {depth.min():.2f}–{depth.max():.2f} m")


if __name__ == "__main__":
    main()
