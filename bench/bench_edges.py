"""CPU seconds of the edge rule, in process: ``reconstruct`` and its stages, run after run.

    .venv/bin/python bench/bench_edges.py [--repeat N] [--depth MAP.npy [--kind disparity|depth]]

Inputs: bench_convert's 12 MP room at ``--resolution 0`` (a vertex per pixel: the tiled
stages), and a noisy disparity like an untrained model's (geometry_outputs.noisy_disparity,
768×1024) at the default grid — or, with ``--depth``, a saved map (e.g. a backend's disparity)
at the default grid.  Each run prints the CPU seconds (``time.process_time``) of
``reconstruct`` and of the stages it calls: ``sharpen_steps``, ``restore_creases``,
``cut_edges``, ``triangulate``.  Run with one checkout on PYTHONPATH, then another, back to
back (the machine is shared: compare CPU seconds, and say the load average, printed too).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STAGES = ("sharpen_steps", "restore_creases", "cut_edges", "triangulate")


def timed(module, spent: dict[str, float]) -> None:
    """Wrap ``module``'s STAGES so that each call adds its CPU seconds to ``spent``."""
    def wrap(name: str, f: Callable) -> Callable:
        def run(*args, **kwargs):
            start = time.process_time()
            try:
                return f(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.process_time() - start
        return run

    for name in STAGES:
        setattr(module, name, wrap(name, getattr(module, name)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each input (after one warm run)")
    ap.add_argument("--depth", help="a saved (h, w) map instead of the two built-in inputs")
    ap.add_argument("--kind", default="disparity", choices=("disparity", "depth"))
    args = ap.parse_args()
    sys.path[:0] = [str(HERE)]
    from bench_convert import scene
    from geometry_outputs import noisy_disparity

    import depth3d.geometry.reconstruct as rec

    if args.depth:
        inputs = {Path(args.depth).name: (np.load(args.depth).astype(np.float32), args.kind, rec.Options())}
    else:
        inputs = {"room 12 MP, --resolution 0": (scene(4000, 3000)[1], "depth", rec.Options(fov=60.0, resolution=0)),
                  "noisy disparity 768×1024, default grid": (noisy_disparity(4, 768, 1024), "disparity", rec.Options())}
    spent: dict[str, float] = {}
    timed(rec, spent)
    for label, (depth, kind, options) in inputs.items():
        rgb = np.zeros(depth.shape + (3,), np.uint8)
        rec.reconstruct(rgb, depth, kind, options)
        print(f"{label}:")
        for _ in range(args.repeat):
            spent.clear()
            start = time.process_time()
            rec.reconstruct(rgb, depth, kind, options)
            total = time.process_time() - start
            stages = ", ".join(f"{name} {spent.get(name, 0.0):.3f}" for name in STAGES)
            print(f"  reconstruct {total:.3f} CPU s ({stages}); load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
