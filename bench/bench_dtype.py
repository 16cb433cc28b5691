"""Half precision on the CPU: one forward pass of a depth model in float32, under bfloat16
autocast, and with its weights in bfloat16 (and float16) — time and error against float32.

    .venv/bin/python bench/bench_dtype.py [--model DIR] [--threads 1,2] [--repeat 5]

The model: Depth Anything V2 Small's architecture with random weights (as bench_model.py
builds it) unless ``--model`` names a folder.  The input: the room of bench_convert.py at
1400×1050, through the model's own processor (518×686 for Depth Anything).  Each way runs
``--repeat`` times per thread count, the ways in turn (so that other work on the machine
slows them alike); printed per way: the median wall and thread-CPU seconds of a pass, the
ratio to float32's, and the error of its ``predicted_depth`` against float32's as a fraction
of float32's largest value (max and mean of the absolute difference).
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

WAYS = ("float32", "autocast-bfloat16", "weights-bfloat16", "weights-float16")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a model folder (default: Depth Anything V2 Small, random weights)")
    ap.add_argument("--threads", default="1,2", help="torch thread counts to time (default 1,2)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--ways", default=",".join(WAYS), help=f"default {','.join(WAYS)}")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            model = str(Path(tmp) / "model")
            code = "import sys; sys.path.insert(0, 'tests'); from tiny_models import save_depth_anything_v2_small; " \
                   "save_depth_anything_v2_small(sys.argv[1])"
            subprocess.run([sys.executable, "-c", code, model], check=True, cwd=REPO)
        run(model, [int(t) for t in args.threads.split(",")], args.repeat, args.ways.split(","))


def run(model: str, threads: list[int], repeat: int, ways: list[str]) -> None:
    import torch
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    sys.path.insert(0, str(REPO / "bench"))
    from bench_convert import scene

    rgb, _ = scene(1400, 1050)
    processor = AutoImageProcessor.from_pretrained(model)
    pixels = processor(images=rgb, return_tensors="pt")["pixel_values"]
    nets = {"float32": AutoModelForDepthEstimation.from_pretrained(model).eval()}
    for name in ways:
        if name.startswith("weights-"):
            dtype = getattr(torch, name.split("-")[1])
            nets[name] = AutoModelForDepthEstimation.from_pretrained(model, dtype=dtype).eval()

    def forward(name: str) -> np.ndarray:
        net = nets.get(name, nets["float32"])
        x = pixels.to(next(net.parameters()).dtype)
        auto = torch.autocast("cpu", dtype=torch.bfloat16) if name.startswith("autocast") else contextlib.nullcontext()
        with torch.inference_mode(), auto:
            return net(pixel_values=x).predicted_depth.float().numpy()

    print(f"input {tuple(pixels.shape)}, torch {torch.__version__}", flush=True)
    reference = forward("float32")
    scale = float(np.abs(reference).max())
    errors = {}
    for name in ways:
        diff = np.abs(forward(name) - reference)
        errors[name] = (float(diff.max()) / scale, float(diff.mean()) / scale)
    for n in threads:
        torch.set_num_threads(n)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for _ in range(repeat):
            for name in ways:
                start, cpu = time.perf_counter(), time.thread_time()
                forward(name)
                times[name].append((time.perf_counter() - start, time.thread_time() - cpu))
        base = statistics.median(t[0] for t in times["float32"]) if "float32" in times else None
        for name in ways:
            wall = statistics.median(t[0] for t in times[name])
            cpu = statistics.median(t[1] for t in times[name])
            ratio = f"{base / wall:5.2f}x" if base else "   - "
            print(f"{n} thread{'s' if n > 1 else ' '} {name:18} wall {wall:6.3f} s  thread CPU {cpu:6.3f} s  "
                  f"speed {ratio}  error max {100 * errors[name][0]:5.2f} %  mean {100 * errors[name][1]:6.3f} % "
                  "of float32's max", flush=True)


if __name__ == "__main__":
    main()
