"""VR/AR targets on a 12 MP photo, and the glTF export itself: ratios in one run.

    .venv/bin/python bench/bench_targets.py [--mp 12] [--repeat 2]

Inputs: :mod:`bench_convert`'s synthetic room (photo JPEG + planar depth .npy, file backend).

1. ``depth3d convert photo.jpg --depth depth.npy --fov 60 -o out.glb --target T`` for
   T = full (today's default conversion), vr, ar: each a fresh child process, timed from its
   start to the file written (best of ``--repeat``); file size and triangle count (read from
   the file's JSON).  Ratios: time of T / time of full.  Budgets: vr ≤ 4 MB, ar ≤ 1.5 MB, each
   in ≤ 1.5× the time of full.
2. The .glb export of the full-resolution mesh (``--resolution 0``: every pixel a vertex),
   in-process on the same geometry: trimesh's exporter as depth3d used it before (scene,
   ``export_glb`` with the unlit post-processor, then the atomic write) vs our writer
   (:mod:`depth3d.exchange.gltf`); best of ``--repeat``.
"""
from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_convert import FOV_DEG, SIZES, run_child

CONVERT = """
from depth3d.cli import main
raise SystemExit(main(["convert", {photo!r}, "--depth", {depth!r}, "--fov", str({fov!r}), "-o", {out!r},
                       "--target", {target!r}]))
"""


def triangles(path: Path) -> int:
    """Triangle count of a .glb's first primitive, from its JSON (compressed or not)."""
    data = path.read_bytes()
    length = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20:20 + length])
    prim = doc["meshes"][0]["primitives"][0]
    return doc["accessors"][prim["indices"]]["count"] // 3


def export_before_after(photo: Path, depth: Path, out: Path, repeat: int) -> tuple[float, float, int]:
    """(trimesh s, ours s, triangles) for the full-resolution .glb export of one geometry."""
    from trimesh.exchange.gltf import export_glb as trimesh_glb

    from depth3d.backends.file import FileBackend
    from depth3d.exchange.gltf import export_glb
    from depth3d.exchange.trimesh_bridge import to_trimesh
    from depth3d.geometry.reconstruct import Options
    from depth3d.io.atomic import write_bytes_atomic
    from depth3d.io.image import read_photo
    from depth3d.pipeline import photo_to_geometry

    geometry = photo_to_geometry(read_photo(photo), FileBackend(str(depth)), Options(fov=FOV_DEG, resolution=0))

    def before() -> None:  # depth3d's export before this writer (git show d587481^:depth3d/exchange/gltf.py)
        import trimesh

        scene = trimesh.Scene()
        scene.add_geometry(to_trimesh(geometry), node_name=geometry.name, geom_name=geometry.name)

        def unlit(tree):
            for material in tree.get("materials") or []:
                material.setdefault("extensions", {})["KHR_materials_unlit"] = {}
            tree["extensionsUsed"] = ["KHR_materials_unlit"]

        write_bytes_atomic(out, trimesh_glb(scene, include_normals=False, tree_postprocessor=unlit))

    def after() -> None:
        export_glb(geometry, out)

    def best(fn) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    return best(before), best(after), len(geometry.faces)


BUDGETS_MB = {"vr": 4.0, "ar": 1.5}  # the file sizes; each in ≤ 1.5× the time of full


def parse_args(doc: str, repeat: int) -> argparse.Namespace:
    """``--mp`` (a :data:`SIZES` key, default 12) and ``--repeat`` (default ``repeat``)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--mp", type=int, default=12, choices=sorted(SIZES))
    ap.add_argument("--repeat", type=int, default=repeat)
    return ap.parse_args()


def make_inputs(folder: Path, mp: int) -> tuple[Path, Path]:
    """:mod:`bench_convert`'s synthetic room at ``mp`` MP in ``folder``: (photo JPEG, depth .npy)."""
    subprocess.run([sys.executable, str(REPO / "bench" / "bench_convert.py"), "--make", str(folder),
                    str(mp)], check=True)
    return folder / f"photo{mp}.jpg", folder / f"depth{mp}.npy"


def budget_verdict(target: str | None, size_mb: float, ratio: float) -> str:
    """Whether a ``target``'s file and time keep the budgets; empty for a target without one."""
    if target not in BUDGETS_MB:
        return ""
    return (f"≤ {BUDGETS_MB[target]} MB: {'yes' if size_mb <= BUDGETS_MB[target] else 'NO'}, "
            f"≤ 1.5× full: {'yes' if ratio <= 1.5 else 'NO'}")


def main() -> None:
    args = parse_args(__doc__, repeat=2)
    w, h = SIZES[args.mp]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photo, depth = make_inputs(tmp, args.mp)
        print(f"{args.mp} MP {w}x{h}, convert --target T (child process, best of {args.repeat})")
        print(f"{'target':>7} {'s':>6} {'/full':>6} {'MB':>7} {'triangles':>10}   budget")
        results = {}
        for target in ("full", "vr", "ar"):
            out = tmp / f"{target}.glb"
            code = CONVERT.format(photo=str(photo), depth=str(depth), fov=FOV_DEG, out=str(out), target=target)
            seconds = min(run_child(code)[0] for _ in range(args.repeat))
            results[target] = seconds
            size = out.stat().st_size / 1e6
            ratio = seconds / results["full"]
            budget = budget_verdict(target, size, ratio)
            print(f"{target:>7} {seconds:6.2f} {ratio:6.2f} {size:7.2f} {triangles(out):>10}   {budget}")
        before, after, n = export_before_after(photo, depth, tmp / "export.glb", args.repeat)
        print(f"full-resolution .glb export ({n} triangles, in-process, best of {args.repeat}): "
              f"trimesh {before:.2f} s, ours {after:.2f} s, ratio ours/trimesh {after / before:.2f}")


if __name__ == "__main__":
    main()
