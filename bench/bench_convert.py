"""Conversion time and peak memory: ``depth3d convert`` vs the common approach, same inputs.

    .venv/bin/python bench/bench_convert.py [--sizes 2,12] [--repeat 2]
    .venv/bin/python bench/bench_convert.py --profile 12 [--resolution 0]

Inputs (made once, in a temp folder): a synthetic photo of a room (floor, walls, boxes, a ball;
textured, JPEG quality 90) of 2 MP (1632×1224) and 12 MP (4000×3000), and its planar depth in
metres at full size (.npy) — the ``file`` backend, so no model runs.

* **ours**: ``depth3d convert photo.jpg --depth depth.npy --fov 60 -o out.glb``, otherwise
  default settings (grid 1024 on the long side, edge rule on, JPEG texture).
* **reference** — the common approach: a vertex for every pixel (pinhole, same FOV), two
  triangles per pixel quad, those whose corners differ by more than an absolute depth step
  (|∇z| > 0.1 m) dropped, the photo as texture, ``trimesh`` export to .glb.

Every run is a fresh child process (``python -c``), timed from its start to the file written
(reading the photo and depth, building, encoding, writing — imports included, as a user of the
command sees it) and measured for peak resident memory (``ru_maxrss`` from ``os.wait4``).
Printed for the default grid and ``--resolution 0`` (a vertex per pixel), each against the
reference of the same run: the speed-up reference / ours and how many times less peak memory
ours takes (best of ``--repeat``), and both runs' CPU seconds (user + system, steadier than
the wall where other work shares the cores); then the issue's goals at 12 MP: ``--resolution 0``
≥ 4× faster and ≥ 2× less memory, the default grid ≥ 10× faster and under 1.5 GB.
After each, one more child runs the stages by hand, as the CLI does (NumPy's huge-page hint off:
:mod:`depth3d.memory`): each stage's wall time, then its user and system CPU seconds and minor
page faults (``getrusage``: a fault is a fresh 4 KB page, and on these virtual machines fresh
memory costs system time).

``--profile MP``: instead, ``reconstruct`` on that input at ``--resolution`` (default 0) under
cProfile (CPU time), once warm: its wall and CPU time, then the 30 entries of most cumulative time.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SIZES = {2: (1632, 1224), 12: (4000, 3000)}
FOV_DEG = 60.0
REFERENCE_STEP_M = 0.1
RESOLUTIONS = (1024, 0)  # the default grid, and a vertex per pixel
# resolution → (speed-up ≥, memory ratio ≥ or None, peak MB <): the issue's goals at 12 MP
GOALS = {0: (4.0, 2.0, None), 1024: (10.0, None, 1500)}


def scene(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A room seen by a pinhole camera: (H, W, 3) uint8 photo and (H, W) float32 depth (m)."""
    tan_x = np.tan(np.radians(FOV_DEG) / 2)
    s = ((np.arange(width, dtype=np.float32) + 0.5) / width * 2 - 1) * tan_x
    t = (1 - (np.arange(height, dtype=np.float32) + 0.5) / height * 2) * tan_x * height / width
    sx, ty = np.meshgrid(s, t)
    cam_h = 1.5
    depth = np.full((height, width), 6.0, np.float32)  # back wall
    floor = np.where(ty < 0, cam_h / np.maximum(-ty, 1e-6), np.inf)
    depth = np.minimum(depth, floor)
    label = np.where(floor < 6.0, 1, 0)
    for x0, x1, top, z in ((-1.6, -0.6, 0.8, 3.0), (0.4, 1.5, 1.6, 4.5)):  # boxes: face-on fronts
        px, py = sx * z, ty * z + cam_h
        box = (px > x0) & (px < x1) & (py > 0) & (py < top) & (z < depth)
        depth = np.where(box, z, depth)
        label = np.where(box, 2, label)
    dx, dy, dz, r = sx - 0.1, ty + 0.15, 1.0, 0.12  # a ball: disc at 2.2 m, domed
    d2 = (dx ** 2 + dy ** 2) / r ** 2
    ball = (d2 < 1) & (2.2 < depth)
    depth = np.where(ball, 2.2 - 0.26 * np.sqrt(np.clip(1 - d2, 0, 1)) * dz, depth)
    label = np.where(ball, 3, label)
    checker = ((np.floor(sx * 12) + np.floor(ty * 12)) % 2).astype(np.float32)
    palette = np.array([[200, 190, 170], [150, 100, 60], [180, 40, 30], [40, 80, 200]], np.float32)
    rgb = palette[label] * (0.75 + 0.25 * checker[..., None])
    rgb *= (1.2 - 0.08 * depth)[..., None]
    rgb += np.random.default_rng(0).normal(0, 6, rgb.shape).astype(np.float32)
    return np.clip(rgb, 0, 255).astype(np.uint8), depth.astype(np.float32)


OURS = """
from depth3d.cli import main
raise SystemExit(main(["convert", {photo!r}, "--depth", {depth!r}, "--fov", str({fov!r}), "-o", {out!r},
                       "--resolution", str({resolution!r})]))
"""

REFERENCE = """
import numpy as np, trimesh
from PIL import Image
photo = Image.open({photo!r}).convert("RGB")
z = np.load({depth!r}).astype(np.float64)
h, w = z.shape
f = w / (2 * np.tan(np.radians({fov!r}) / 2))
u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
vertices = np.stack([(u - w / 2) / f * z, -(v - h / 2) / f * z, -z], axis=-1).reshape(-1, 3)
idx = np.arange(h * w).reshape(h, w)
a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
zs = [z[:-1, :-1], z[:-1, 1:], z[1:, :-1], z[1:, 1:]]
keep = (np.maximum.reduce(zs) - np.minimum.reduce(zs)) <= {step!r}
faces = np.concatenate([np.stack([a, c, b], -1)[keep], np.stack([b, c, d], -1)[keep]])
uv = np.stack([u.ravel() / w, 1 - v.ravel() / h], axis=-1)
mesh = trimesh.Trimesh(vertices, faces, process=False,
                       visual=trimesh.visual.TextureVisuals(uv=uv, image=photo))
mesh.export({out!r})
"""


def run_child(code: str) -> tuple[float, float, float]:
    """Run ``code`` in a fresh interpreter → (wall seconds, peak RSS in MB, CPU seconds: user +
    system, all threads)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{code}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # Linux: kB


STAGES = """
import resource, time
def now():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), r.ru_utime, r.ru_stime, r.ru_minflt
t = [now()]
from depth3d.backends.file import FileBackend
from depth3d.exchange import export
from depth3d.exchange.gltf import export_glb
from depth3d.io.image import read_photo
from depth3d.memory import huge_page_hint_off
from depth3d.pipeline import estimate_depth
from depth3d.geometry.reconstruct import Options, reconstruct
import trimesh.exchange.gltf
t.append(now())
with huge_page_hint_off():  # as the CLI runs
    p = read_photo({photo!r})
    t.append(now())
    result = estimate_depth(p, FileBackend({depth!r}))
    t.append(now())
    geometry = reconstruct(p.rgb, result.depth, result.kind, Options(fov=60.0, resolution={resolution!r}),
                           name=p.name)
    t.append(now())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    export(geometry, {out!r})
    t.append(now())
names = ("imports", "read photo", "read depth", "reconstruct", "export .glb")
print("    ours by stage: " + ", ".join(f"{{n}} {{b[0] - a[0]:.2f}} s" for n, a, b in zip(names, t, t[1:]))
      + f"; peak RSS before export {{peak:.0f}} MB")
print("      CPU user/system s, thousands of minor page faults: " + ", ".join(
    f"{{n}} {{b[1] - a[1]:.2f}}/{{b[2] - a[2]:.2f}}, {{(b[3] - a[3]) / 1000:.0f}}k"
    for n, a, b in zip(names, t, t[1:])))
"""


def make_inputs(folder: Path, mp: int) -> None:
    """photo<mp>.jpg and depth<mp>.npy in ``folder``."""
    from PIL import Image

    rgb, depth = scene(*SIZES[mp])
    Image.fromarray(rgb).save(folder / f"photo{mp}.jpg", quality=90)
    np.save(folder / f"depth{mp}.npy", depth)


def profile(mp: int, resolution: int) -> None:
    """``reconstruct`` of the ``mp`` input at ``resolution`` under cProfile (after one warm run)."""
    import cProfile
    import pstats

    from depth3d.backends.file import FileBackend
    from depth3d.geometry.reconstruct import Options, reconstruct
    from depth3d.io.image import read_photo
    from depth3d.pipeline import estimate_depth

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, __file__, "--make", tmp, str(mp)], check=True)
        photo = read_photo(str(Path(tmp) / f"photo{mp}.jpg"))
        depth = estimate_depth(photo, FileBackend(str(Path(tmp) / f"depth{mp}.npy")))
    options = Options(fov=FOV_DEG, resolution=resolution)
    reconstruct(photo.rgb, depth.depth, depth.kind, options)
    start, cpu = time.perf_counter(), time.process_time()
    reconstruct(photo.rgb, depth.depth, depth.kind, options)
    print(f"reconstruct, {mp} MP, --resolution {resolution}: {time.perf_counter() - start:.2f} s wall, "
          f"{time.process_time() - cpu:.2f} s CPU, unprofiled; the profile counts CPU time (steadier when busy)")
    prof = cProfile.Profile(time.process_time)
    prof.runcall(reconstruct, photo.rgb, depth.depth, depth.kind, options)
    pstats.Stats(prof).strip_dirs().sort_stats("cumulative").print_stats(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2,12", help="megapixels, from 2 and 12")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--profile", type=int, metavar="MP", help="profile reconstruct on the MP input instead")
    ap.add_argument("--resolution", type=int, default=0, help="the grid for --profile")
    ap.add_argument("--make", nargs=2, metavar=("DIR", "MP"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make:
        return make_inputs(Path(args.make[0]), int(args.make[1]))
    if args.profile:
        return profile(args.profile, args.resolution)

    print(f"{'photo':>14} {'grid':>7}  {'ours s':>7} {'ref s':>7} {'faster':>7}   {'ours MB':>8} {'ref MB':>8} "
          f"{'smaller':>7}   {'CPU s: ours':>11} {'ref':>6} {'less':>6}")
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for mp in (int(v) for v in args.sizes.split(",")):
            w, h = SIZES[mp]
            # made in a child: a forked child's peak RSS starts at the parent's, so this
            # process stays small
            subprocess.run([sys.executable, __file__, "--make", str(tmp), str(mp)], check=True)
            photo, depth_file = tmp / f"photo{mp}.jpg", tmp / f"depth{mp}.npy"
            kw = dict(photo=str(photo), depth=str(depth_file), fov=FOV_DEG, step=REFERENCE_STEP_M)
            ref_code = REFERENCE.format(**kw, out=str(tmp / "ref.glb"))
            ref = min(run_child(ref_code) for _ in range(args.repeat))
            for resolution in RESOLUTIONS:  # each against the reference of the same run
                ours_code = OURS.format(**kw, out=str(tmp / "ours.glb"), resolution=resolution)  # same FOV
                ours = min(run_child(ours_code) for _ in range(args.repeat))
                speed, memory = ref[0] / ours[0], ref[1] / ours[1]
                grid = "full" if resolution == 0 else "default"
                print(f"{f'{mp} MP {w}x{h}':>14} {grid:>7}  {ours[0]:7.2f} {ref[0]:7.2f} {speed:6.2f}x   "
                      f"{ours[1]:8.0f} {ref[1]:8.0f} {memory:6.2f}x   {ours[2]:11.2f} {ref[2]:6.2f} "
                      f"{ref[2] / ours[2]:5.2f}x")
                print(f"    files: ours {(tmp / 'ours.glb').stat().st_size / 1e6:.1f} MB, "
                      f"reference {(tmp / 'ref.glb').stat().st_size / 1e6:.1f} MB")
                subprocess.run([sys.executable, "-c", STAGES.format(
                    photo=str(photo), depth=str(depth_file), out=str(tmp / "stages.glb"), resolution=resolution)],
                    check=True)
                if mp == 12:
                    goal = GOALS[resolution]
                    ok = speed >= goal[0] and (memory >= goal[1] if goal[1] else ours[1] < goal[2])
                    verdicts.append(f"  12 MP {grid}: {speed:.2f}x faster (goal {goal[0]}x), "
                                    + (f"{memory:.2f}x less memory (goal {goal[1]}x)" if goal[1] else
                                       f"{ours[1]:.0f} MB (goal < {goal[2]} MB)") + ("" if ok else "  MISSED"))
    if verdicts:
        print("goals (the issue's table, against the reference of the same run):")
        print("\n".join(verdicts))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
