"""Photos through a depth model: whole ``depth3d convert`` vs transformers' pipeline, same run.

    .venv/bin/python bench/bench_model.py [--photos 6] [--size 4000x3000] [--model DIR] [--dtype float32,bfloat16]

The model: Depth Anything V2 Small's architecture (DINOv2-S backbone, DPT head; the
configuration of ``depth-anything/Depth-Anything-V2-Small-hf``) with random weights, built
from its config as the tests build their tiny models — the arithmetic of the real one, no
download.  ``--model DIR`` takes a real model folder instead.  Photos: the room of
bench_convert.py at 12 MP, JPEG quality 90, each with its own noise.

* **ours**: ``depth3d convert PHOTOS/ -o OUT/ --model M`` in a fresh process, timed from its
  start to its exit — imports, model load, decoding, depth, geometry (default grid) and .glb
  files included; with ``--dtype D1,D2`` one such run per number type (``--dtype D``), each
  against the same reference of its turn.
* **reference**: ``transformers.pipeline("depth-estimation", model=M, device="cpu")`` called
  on each photo (already decoded into PIL images before the clock starts), timed around those
  calls only — inference alone, with its usual resizing and output to full size.

Printed: both times and the speed-up reference / ours (goal ≥ 1.3), per ``--dtype``.  Both run with torch's
default threads on the same machine, one after the other, ``--repeat`` times in turn: each
run with the load average before it (other work on the machine slows torch's threads most),
then the medians.  ``--before DIR`` also times ``convert`` from another checkout (e.g. an older
commit's tree) in the same turns; ``--keep DIR`` builds the model and photos there once and
reuses them.  ``--profile`` then runs ``convert`` once more with its stages timed (wall and
the CPU time of the thread running each: a timeline per thread) and prints the table.

``--service``: one more row per number type — a ``depth3d serve`` of the same model, started
and loaded before the runs (as Blender's local service, or a batch machine's, is), and in each
turn a fresh ``depth3d convert PHOTOS/ -o OUT/ --backend remote --server URL`` process timed as
``ours`` is.  Like the reference, it counts no model load; it counts its own imports,
decoding, the requests (the depth at the vertex grid's size, ``?size=``), geometry and files.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
GOAL = 1.3

MAKE_MODEL = """
import sys
sys.path.insert(0, "tests")
from tiny_models import save_depth_anything_v2_small
save_depth_anything_v2_small(sys.argv[1])
"""

REFERENCE = """
import json, sys, time
from pathlib import Path
import transformers
from PIL import Image
from transformers.utils import logging
logging.set_verbosity_error()
pipe = transformers.pipeline("depth-estimation", model=sys.argv[1], device="cpu")
images = []
for path in sorted(Path(sys.argv[2]).glob("*.jpg")):
    im = Image.open(path)
    im.load()
    images.append(im)
start = time.perf_counter()
for im in images:
    pipe(im)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

OURS = """
from depth3d.cli import main
raise SystemExit(main(["convert", {photos!r}, "-o", {out!r}, "--model", {model!r}, *{extra!r}]))
"""

PROFILE = """
import os, sys, threading, time
T0 = time.perf_counter()
EVENTS = []
def timed(owner, name):
    f = getattr(owner, name)
    def run(*a, **k):
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return f(*a, **k)
        finally:
            EVENTS.append((threading.current_thread().name, name, start - T0, time.perf_counter() - T0,
                           time.thread_time() - cpu))
    setattr(owner, name, run)
import depth3d.cli as cli, depth3d.exchange as exchange, depth3d.overlap as overlap
for name in ("read_input", "decode_small", "estimate_depth", "depth_to_geometry"):
    timed(overlap, name)
timed(exchange, "export")
timed(cli, "backend_factory")
status = cli.main(["convert", sys.argv[1], "-o", sys.argv[2], "--model", sys.argv[3], "--quiet", *sys.argv[4:]])
print(f"{'thread':>22} {'stage':15} {'from':>6}   {'to':>6} {'wall':>6} {'cpu':>6}")
for thread, name, start, end, cpu in sorted(EVENTS, key=lambda e: e[2]):
    print(f"{thread:>22} {name:15} {start:6.2f} → {end:6.2f} {end - start:6.2f} {cpu:6.2f}")
print(f"whole: {time.perf_counter() - T0:.2f} s after importing depth3d.cli, process CPU {time.process_time():.2f} s, "
      f"load {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
raise SystemExit(status)
"""


def make_photos(folder: Path, count: int, size: tuple[int, int]) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    from bench_convert import scene
    from PIL import Image

    rgb, _ = scene(*size)
    rng = np.random.default_rng(1)
    for n in range(count):
        noisy = np.clip(rgb.astype(np.int16) + rng.integers(-6, 7, rgb.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(folder / f"photo{n}.jpg", quality=90)


def load() -> str:
    """The 1-, 5- and 15-minute load averages, as uptime prints them."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def run_ours(photos: Path, out: Path, model: str, tree: Path, extra: tuple[str, ...] = ()) -> float:
    """Seconds of a fresh ``depth3d convert`` process whose ``depth3d`` comes from ``tree``
    (``extra``: more of its arguments)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    code = OURS.format(photos=str(photos), out=str(out), model=model, extra=list(extra))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tree, env=env)
    return time.perf_counter() - start


def run_remote(photos: Path, out: Path, url: str) -> float:
    """Seconds of a fresh ``depth3d convert --backend remote --server url`` process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "depth3d", "convert", str(photos), "-o", str(out), "--quiet",
                    "--backend", "remote", "--server", url], check=True, cwd=REPO,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    return time.perf_counter() - start


def turn(n: int, args, photos: Path, out: Path, model: str, dtypes: list, extras: dict, label: dict,
         services: dict) -> tuple[dict, float | None, float, str]:
    """One turn: ours per number type (and through each warm service), before, the reference."""
    at = load()
    ours = {d: run_ours(photos, out, model, REPO, extras[d]) for d in dtypes}
    for d, (_, url) in services.items():
        ours[f"service {d}"] = run_remote(photos, out, url)
    before = run_ours(photos, out, model, args.before.resolve()) if args.before else None
    done = subprocess.run([sys.executable, "-c", REFERENCE, model, str(photos)], check=True,
                          capture_output=True, text=True, cwd=REPO)
    ref = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    was = f", before {before:6.2f} s ({ref / before:.2f}x)" if before is not None else ""
    times = ", ".join(f"{label[d]} {t:6.2f} s ({ref / t:.2f}x)" for d, t in ours.items())
    print(f"run {n + 1}: load {at}: {times}, reference {ref:6.2f} s{was}", flush=True)
    return ours, before, ref, at


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=6)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--model", help="a model folder (default: Depth Anything V2 Small, random weights)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--before", type=Path, help="also time convert from this checkout's depth3d")
    ap.add_argument("--keep", type=Path, help="build the model and photos in this folder once, reuse them")
    ap.add_argument("--profile", action="store_true", help="then time convert's stages once (per --dtype)")
    ap.add_argument("--dtype", help="ours with --dtype D, one row per D of a comma list (default: convert's default)")
    ap.add_argument("--service", action="store_true", help="also convert through a warm `depth3d serve`")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        photos, out = work / f"photos{args.photos}_{args.size}", Path(tmp) / "out"
        model = args.model
        if model is None:
            model = str(work / "model")
            if not (Path(model) / "model.safetensors").is_file():
                subprocess.run([sys.executable, "-c", MAKE_MODEL, model], check=True, cwd=REPO)
        if not photos.is_dir():
            photos.mkdir(parents=True)
            make_photos(photos, args.photos, size)
        dtypes = args.dtype.split(",") if args.dtype else [None]
        extras = {d: ("--dtype", d) if d else () for d in dtypes}
        label = {d: f"ours --dtype {d}" if d else "ours" for d in dtypes}
        services = {}
        if args.service:
            sys.path.insert(0, str(REPO / "bench"))
            from bench_service import start_service

            for d in dtypes:
                services[d] = start_service(model, *extras[d])
                label[f"service {d}"] = f"warm service{f' --dtype {d}' if d else ''} + convert --backend remote"
        runs = []  # ({dtype, or "service dtype": seconds}, before or None, reference, load before the turn)
        try:
            for n in range(args.repeat):
                runs.append(turn(n, args, photos, out, model, dtypes, extras, label, services))
        finally:
            for process, _ in services.values():
                process.terminate()
                process.wait()
        r = statistics.median(x[2] for x in runs)
        name = "Depth Anything V2 Small (random weights)" if args.model is None else model
        print(f"{args.photos} photos {size[0]}x{size[1]} through {name}, medians of {args.repeat}:")
        for d in runs[0][0]:
            o = statistics.median(x[0][d] for x in runs)
            what = (f"{label[d]}, whole convert (imports, model load, decode, depth, geometry, .glb):"
                    if d in extras else f"{label[d]}, whole convert (no model load):")
            print(f"  {what:74}{o:7.2f} s (speed-up {statistics.median(x[2] / x[0][d] for x in runs):.2f}x, "
                  "median of the runs' ratios)")
        if args.before:
            b = statistics.median(x[1] for x in runs)
            print(f"  before ({args.before}), whole convert:{' ' * max(1, 36 - len(str(args.before)))}{b:7.2f} s "
                  f"(speed-up {statistics.median(x[2] / x[1] for x in runs):.2f}x, median of the runs' ratios)")
        print(f"  transformers pipeline('depth-estimation'), inference alone:              {r:7.2f} s")
        print(f"  goal >= {GOAL}x; load now {load()}")
        if args.profile:
            for d in dtypes:
                print(f"\n{label[d]}: convert's stages (wall and CPU seconds of the thread running each):",
                      flush=True)
                subprocess.run([sys.executable, "-c", PROFILE, str(photos), str(out), model, *extras[d]],
                               check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})

if __name__ == "__main__":
    main()
