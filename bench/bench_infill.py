"""In-fill (``--infill``): what a moving head sees, and what it costs, against in-fill off.

    .venv/bin/python bench/bench_infill.py [--scenes room,stage] [--sizes 2,12] [--repeat 3]

**Moved eyes.**  The Cycles scenes of tests/test_infill.py (room 640×480, portrait stage
360×640; rendered once into pytest's cache, ``.pytest_cache/d/depth3d``) seen from the photo's
eye and from eyes moved 10/30 cm right, forward and back.  The mesh converted from the
photo-eye render's depth (exact planar depth, default settings) is rasterised from the same
eyes in numpy (tests/moved_eyes.py: perspective-correct, nearest triangle, bilinear texture).
Per eye: the share of the view where the true render has a surface and the mesh shows nothing
(*empty*), and PSNR of the colour against the true render (empty pixels black), for the cut
mesh (in-fill off, today), the rubber sheet (``--edge-threshold 0``) and in-fill on.

**Cost.**  ``depth3d convert photo.jpg --depth depth.npy --fov 60 -o out.glb`` with and without
``--infill`` at the default resolution (grid 1024) on bench/bench_convert.py's synthetic room
(2 MP and 12 MP), each run a fresh process timed from start to file written, best of
``--repeat``, interleaved; plus triangles and file size.  Budget: ≤ +50 % time, ≤ +50 % triangles.

**Fidelity** (``--fidelity``): tests/test_flying.py's flying area and coverage from the photo's
eye, in-fill off and on, at the default grid (its 1280×960 renders).
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
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))


def moved_eyes(scenes: list[str]) -> None:
    from moved_eyes import EYES, ORIGIN, cached_eye_renders, rasterize, score

    from depth3d.geometry.reconstruct import Options, reconstruct

    cache = REPO / ".pytest_cache" / "d" / "depth3d"
    print("| scene | eye | cut (today): empty / PSNR | rubber sheet | in-fill | ")
    print("|---|---|---|---|---|")
    for scene in scenes:
        renders = cached_eye_renders(cache, scene)
        photo = renders[ORIGIN]
        fov = float(photo["fov"])
        d = photo["depth"]
        finite = np.isfinite(d)
        depth = np.where(finite, d, np.float32(10 * d[finite].max())).astype(np.float32)
        meshes, times = {}, {}
        for name, kw in (("cut", {}), ("rubber", {"edge_threshold": 0}), ("infill", {"infill": True})):
            t = time.perf_counter()
            meshes[name] = reconstruct(photo["rgb"], depth, "depth", Options(fov=fov, **kw))
            times[name] = time.perf_counter() - t
        for label, eye in (("photo's eye", ORIGIN), *EYES.items()):
            truth = renders[eye]
            h, w = truth["depth"].shape
            cells = []
            for name in ("cut", "rubber", "infill"):
                g = meshes[name]
                s = score(rasterize(g.vertices, g.faces, g.uv, g.texture, fov, w, h, eye), truth)
                cells.append(f"{s.empty:.2%} / {s.psnr:.2f} dB")
            print(f"| {scene} {w}×{h} | {label} | " + " | ".join(cells) + " |", flush=True)
        nf = {k: len(g.faces) for k, g in meshes.items()}
        print(f"| {scene} | triangles | {nf['cut']} | {nf['rubber']} | {nf['infill']} "
              f"(×{nf['infill'] / nf['cut']:.2f}) |")
        print(f"| {scene} | reconstruct, s (in-process) | {times['cut']:.2f} | {times['rubber']:.2f} | "
              f"{times['infill']:.2f} |", flush=True)


def fidelity() -> None:
    """tests/test_flying.py's table at the default grid, scale 1, with in-fill off and on: flying
    area of the mesh's own triangles (the layer is hidden behind them: from the photo's eye it
    shows only through holes) and coverage by all triangles (the layer included)."""
    from test_flying import (
        SCENES,
        backdrop,
        cached_renders,
        coverage,
        flying_area,
        model_blur,
    )

    from depth3d.geometry.reconstruct import Options, reconstruct

    renders = cached_renders(REPO / ".pytest_cache" / "d" / "depth3d")
    print("\n| scene | depth | flying off / on | coverage off / on | layer triangles |")
    print("|---|---|---|---|---|")
    for scene in SCENES:
        r = renders[scene, 1.0]
        truth, fov = r["depth"], float(r["fov"])
        for blur in ("sharp", "model"):
            depth = backdrop(truth)
            depth = model_blur(depth) if blur == "model" else depth
            off = reconstruct(r["rgb"], depth, "depth", Options(fov=fov))
            on = reconstruct(r["rgb"], depth, "depth", Options(fov=fov, infill=True))
            main = on.faces[:len(on.faces) - on.meta["infill"]["layer_faces"]]
            cell = max(truth.shape) / max(off.grid)
            f_off = flying_area(off.vertices, off.faces, fov, truth, cell)
            f_on = flying_area(on.vertices, main, fov, truth, cell)
            c_off = coverage(off.vertices, off.faces, fov, truth)
            c_on = coverage(on.vertices, on.faces, fov, truth)
            print(f"| {scene} | {blur} | {f_off:.2%} / {f_on:.2%} | {c_off:.2%} / {c_on:.2%} | "
                  f"{on.meta['infill']['layer_faces']} |", flush=True)


def run_child(args: list[str]) -> tuple[float, float]:
    """``depth3d convert ARGS`` in a fresh process → (wall seconds, CPU seconds: user + system,
    from ``os.wait4``; on a shared machine the CPU time is the steadier of the two)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "depth3d", "convert", *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"depth3d convert {' '.join(args)} failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def cost(sizes: list[int], repeat: int) -> None:
    import trimesh
    from bench_convert import SIZES, make_inputs

    print("\n| photo | off: wall / CPU s | --infill: wall / CPU s | ratio wall / CPU | off: triangles "
          "| --infill | ratio | off: MB | --infill: MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for mp in sizes:
            make_inputs(tmp, mp)
            base = [str(tmp / f"photo{mp}.jpg"), "--depth", str(tmp / f"depth{mp}.npy"), "--fov", "60"]
            off, on = tmp / "off.glb", tmp / "on.glb"
            t_off, t_on = [], []
            for _ in range(repeat):  # interleaved, so a busy machine slows both alike
                t_off.append(run_child([*base, "-o", str(off)]))
                t_on.append(run_child([*base, "-o", str(on), "--infill"]))
            f_off = sum(len(g.faces) for g in trimesh.load(off).geometry.values())
            f_on = sum(len(g.faces) for g in trimesh.load(on).geometry.values())
            w, h = SIZES[mp]
            (w_off, c_off), (w_on, c_on) = (tuple(min(v) for v in zip(*t)) for t in (t_off, t_on))
            print(f"| {mp} MP {w}×{h} | {w_off:.2f} / {c_off:.2f} | {w_on:.2f} / {c_on:.2f} | "
                  f"{w_on / w_off:.2f} / {c_on / c_off:.2f} | "
                  f"{f_off} | {f_on} | {f_on / f_off:.2f} | {off.stat().st_size / 1e6:.1f} | "
                  f"{on.stat().st_size / 1e6:.1f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", default="room,stage")
    ap.add_argument("--sizes", default="2,12", help="megapixels, from 2 and 12 (empty: skip)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fidelity", action="store_true",
                    help="also tests/test_flying.py's measures with in-fill on (renders 1280×960)")
    args = ap.parse_args()
    if args.scenes:
        moved_eyes(args.scenes.split(","))
    if args.fidelity:
        fidelity()
    if args.sizes:
        cost([int(v) for v in args.sizes.split(",")], args.repeat)


if __name__ == "__main__":
    main()
