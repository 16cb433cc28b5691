"""VR/AR targets from the Blender headless batch, with and without the compression bindings.

    .venv/bin/python bench/bench_blender_targets.py [--mp 12] [--repeat 1]

Inputs: :mod:`bench_convert`'s synthetic room (photo JPEG + planar depth .npy, file backend).
Each run is ``python depth3d/blender/batch_script.py convert photo --depth depth --fov 60 -o
out.glb [--target T]`` in a fresh process (the bpy module), timed from its start to the file
written (best of ``--repeat``):

* ``full``: today's batch output (Blender's glTF exporter), the reference of the ratios;
* ``vr``, ``ar`` with ``meshoptimizer`` importable: the core writer (meshopt);
* ``vr``, ``ar`` "stock": ``meshoptimizer``, ``DracoPy`` and Pillow made unimportable (a
  stock Blender's Python), so Draco by Blender's own exporter
  (:mod:`depth3d.blender.draco_fallback`).

Printed: seconds, ratio to ``full``, MB, triangles.  Budgets from the issue: vr ≤ 4 MB,
ar ≤ 1.5 MB, each in ≤ 1.5× the time of the default conversion.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_convert import FOV_DEG, SIZES  # noqa: E402
from bench_targets import budget_verdict, make_inputs, parse_args, triangles  # noqa: E402

BLOCKED = ("meshoptimizer", "DracoPy", "PIL")


def run(args: list[str], env: dict) -> float:
    """Wall seconds of the batch with ``args`` (raises on a non-zero exit)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "depth3d" / "blender" / "batch_script.py"), *args],
                   check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    args = parse_args(__doc__, repeat=1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photo, depth = make_inputs(tmp, args.mp)
        shim = tmp / "shim"
        shim.mkdir()
        for name in BLOCKED:
            (shim / f"{name}.py").write_text('raise ImportError("not in a stock Blender")\n')
        plain = {**os.environ, "PYTHONPATH": str(REPO)}
        stock = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), str(REPO)])}
        w, h = SIZES[args.mp]
        print(f"{args.mp} MP {w}x{h}, Blender batch (bpy module, child process, best of {args.repeat})")
        print(f"{'run':>9} {'s':>6} {'/full':>6} {'MB':>7} {'triangles':>10}   budget")
        reference = None
        for label, target, env in (("full", None, plain), ("vr", "vr", plain), ("ar", "ar", plain),
                                   ("vr stock", "vr", stock), ("ar stock", "ar", stock)):
            out = tmp / f"{label.replace(' ', '_')}.glb"
            cmd = ["convert", str(photo), "--depth", str(depth), "--fov", str(FOV_DEG), "-o", str(out),
                   *(["--target", target] if target else [])]
            seconds = min(run(cmd, env) for _ in range(args.repeat))
            reference = reference or seconds
            size = out.stat().st_size / 1e6
            ratio = seconds / reference
            budget = budget_verdict(target, size, ratio)
            print(f"{label:>9} {seconds:6.2f} {ratio:6.2f} {size:7.2f} {triangles(out):>10}   {budget}",
                  flush=True)


if __name__ == "__main__":
    main()
