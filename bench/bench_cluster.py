"""Photos per second: the local batch vs ``depth3d convert --ray`` with 1 and 2 inference actors.

    .venv/bin/python bench/bench_cluster.py [--photos 16] [--small-photos 4] [--models tiny,small]

Inputs (made once, in a temp folder): copies of one 640×480 JPEG of bench_convert's synthetic
room.  Models, random weights saved as a hub checkpoint is (no download): ``tiny`` — the tests'
4-layer Depth Anything (56 px input); ``small`` — Depth Anything V2 Small's architecture (DINOv2
ViT-S/14, 12 layers, 384 wide, DPT head; 518 px input, ~25 M parameters).  Default settings
otherwise (.glb, grid 1024).

Each configuration converts the same folder to a fresh output folder, timed around the whole
command (listing, model loading, inference, geometry, export, writes), in this process:

* **local** — ``depth3d convert`` (one photo at a time), torch at 1 thread;
* **ray N** — ``depth3d convert --ray`` on a local Ray instance started once beforehand
  (``ray.init(num_cpus=N + 1)``: N actors of 1 CPU each, one more CPU for the decode and
  geometry tasks; the start is reported, not counted), ``--ray-actors N``, batches of 4.
  Ray gives each actor ``OMP_NUM_THREADS=1``: one torch thread per actor, as locally.

Each configuration runs twice, on N and on 3N photos: the difference gives the steady rate
(photos/s once models are loaded: 2N / (t(3N) − t(N))) and the fixed cost (t(N) − N / rate:
actor start and model load, Ray Data's start).  Printed: both, the end-to-end photos/s on 3N,
and each rate's ratio to the local run of the same model.  Throughput model (docs/cluster.md):
t(n) ≈ fixed + n / (per-actor rate × actors), while the decode/geometry CPUs keep up.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from contextlib import redirect_stderr
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))


def make_photos(folder: Path, count: int) -> Path:
    from bench_convert import scene
    from PIL import Image

    folder.mkdir(parents=True)
    rgb, _ = scene(640, 480)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    for i in range(count):
        (folder / f"photo{i:03d}.jpg").write_bytes(buf.getvalue())
    return folder


def timed(argv: list[str]) -> float:
    from depth3d.cli import main

    log = io.StringIO()
    start = time.perf_counter()
    with redirect_stderr(log):
        code = main(argv)
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"failed ({code}): {' '.join(argv)}\n{log.getvalue()[-3000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=16, help="N for the tiny model")
    ap.add_argument("--small-photos", type=int, default=4, help="N for V2 Small's architecture")
    ap.add_argument("--models", default="file,tiny,small",
                    help="file (no model: --depth, the CPU work alone), tiny, small")
    ap.add_argument("--actors", default="1,2")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import logging

    import numpy as np
    import ray
    import torch
    from bench_convert import scene
    from tiny_models import save_depth_anything_v2_small, save_tiny_depth_anything

    torch.set_num_threads(1)
    actor_counts = [int(n) for n in args.actors.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        ray.init(num_cpus=max(actor_counts) + 1, include_dashboard=False,
                 logging_level=logging.WARNING, object_store_memory=512 * 1024 ** 2)
        address = ray.get_runtime_context().gcs_address
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"ray.init (local instance, {max(actor_counts) + 1} CPUs): "
              f"{time.perf_counter() - start:.1f} s, not counted below")
        makers = {"tiny": (save_tiny_depth_anything, args.photos),
                  "small": (save_depth_anything_v2_small, args.small_photos),
                  "file": (None, args.photos)}
        warm = make_photos(tmp / "warm-up", 2)  # Ray starts its worker processes on first use
        np.save(tmp / "warm.npy", scene(640, 480)[1])
        timed(["convert", str(warm / "photo000.jpg"), "-o", str(tmp / "warm.glb"), "--ray", address,
               "--depth", str(tmp / "warm.npy")])
        print(f"{'model':>6} {'run':>8} {'N':>4} {'t(N)':>7} {'t(3N)':>7} {'e2e/s':>7} "
              f"{'steady/s':>9} {'ratio':>6} {'fixed s':>8}")
        for name in args.models.split(","):
            make, count = makers[name]
            folders = {n: make_photos(tmp / f"photos-{name}-{n}", n) for n in (count, 3 * count)}
            if make is None:  # no model: precomputed depth, the CPU work per photo alone
                depth = tmp / "depth"
                depth.mkdir(exist_ok=True)
                np.save(tmp / "room.npy", scene(640, 480)[1])
                for i in range(3 * count):  # <stem>.npy for every photo: links to one map
                    (depth / f"photo{i:03d}.npy").symlink_to(tmp / "room.npy")
                source = ["--depth", str(depth)]
                runs = [("local", []), ("ray", ["--ray", address])]
            else:
                source = ["--model", str(make(tmp / f"model-{name}"))]
                runs = [("local", [])] + [(f"ray {n}", ["--ray", address, "--ray-actors", str(n)])
                                          for n in actor_counts]
            base = None
            for label, extra in runs:
                t = {}
                for n, photos in folders.items():
                    out = tmp / f"out-{name}-{label.replace(' ', '')}-{n}"
                    t[n] = timed(["convert", str(photos), "-o", str(out), *source, *extra])
                steady = 2 * count / (t[3 * count] - t[count])
                base = base or steady
                print(f"{name:>6} {label:>8} {count:>4} {t[count]:7.2f} {t[3 * count]:7.2f} "
                      f"{3 * count / t[3 * count]:7.2f} {steady:9.2f} {steady / base:6.2f} "
                      f"{t[count] - count / steady:8.1f}", flush=True)
        ray.shutdown()


if __name__ == "__main__":
    main()
