"""Depth service throughput and latency vs the same model in-process.

    .venv/bin/python bench/bench_service.py [--requests 40] [--clients 4] [--model DIR]

640×480 JPEGs; the tiny random Depth Anything of the tests unless ``--model`` names another.
Reference: ``TransformersBackend.estimate`` on the same decoded photos in this process.
Service: a ``python -m depth3d.service`` child on loopback, driven by ``RemoteBackend``
(sequentially, then from ``--clients`` threads at once).  Figures are printed as ratios to the
reference; both sides share this machine's cores, so they are comparable only with each other.
Both use ``--threads`` torch threads (default 1): on a small shared machine, OpenMP's spinning
workers make multi-threaded CPU timings swing by 10-50x whenever another process wakes up.

``--photo 4000x3000 --size 1024x768``: instead, one client's requests for photos of that size,
the depth asked at the photo's size (the reference) and at ``--size`` (``?size=``: what
``depth3d convert`` asks for its vertex grid), interleaved: median seconds per request, the
ratio and the answer's size.
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from depth3d.backends.hf import TransformersBackend  # noqa: E402
from depth3d.backends.protocol import decode_npy, format_size, parse_size  # noqa: E402
from depth3d.backends.remote import RemoteBackend  # noqa: E402
from depth3d.io.image import read_photo_bytes  # noqa: E402


def jpegs(count: int, size=(640, 480)) -> list[bytes]:
    """Smooth random pictures, JPEG-encoded at quality 90."""
    out = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        coarse = rng.integers(0, 256, (size[1] // 16 + 1, size[0] // 16 + 1, 3), dtype=np.uint8)
        rgb = np.repeat(np.repeat(coarse, 16, 0), 16, 1)[: size[1], : size[0]]
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def timed(fn, items) -> tuple[list[float], float]:
    """Run ``fn`` on each item → (per-call seconds, wall seconds)."""
    latencies = []
    start = time.perf_counter()
    for item in items:
        t = time.perf_counter()
        fn(item)
        latencies.append(time.perf_counter() - t)
    return latencies, time.perf_counter() - start


def concurrent(make_fn, items, clients: int) -> tuple[list[float], float]:
    """``clients`` threads, each with its own ``make_fn()`` callable, share ``items``."""
    chunks = [items[i::clients] for i in range(clients)]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        parts = list(pool.map(lambda chunk: timed(make_fn(), chunk)[0], chunks))
    return [t for part in parts for t in part], time.perf_counter() - start


def breakdown(url: str, data: list[bytes], count: int) -> dict[str, float]:
    """Median ms per step of single requests, from the server's ``Server-Timing`` header."""
    parts = urllib.parse.urlsplit(url)
    steps: dict[str, list[float]] = {}
    for i in range(count):
        start = time.perf_counter()
        connection = http.client.HTTPConnection(parts.hostname, parts.port)
        connection.request("POST", "/v1/depth", data[i % len(data)], {"Content-Type": "image/jpeg"})
        response = connection.getresponse()
        decode_npy(response.read())
        total = (time.perf_counter() - start) * 1e3
        connection.close()
        server = {}
        for item in response.getheader("Server-Timing").split(","):
            name, _, dur = item.strip().partition(";dur=")
            server[name] = float(dur)
        server["HTTP, .npy and the rest"] = total - sum(server.values())
        server["total"] = total
        for name, ms in server.items():
            steps.setdefault(name, []).append(ms)
    return {name: float(np.median(values)) for name, values in steps.items()}


def median_run(runs: list[tuple[list[float], float]]) -> tuple[list[float], float]:
    return sorted(runs, key=lambda run: run[1])[len(runs) // 2]


def start_service(model: str, *extra: str) -> tuple[subprocess.Popen, str]:
    """A ``python -m depth3d.service`` child on a free port (``extra``: more of its options),
    once its model is loaded → (the process, its URL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "depth3d.service", "--port", "0", "--model", model, "--device", "cpu", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    url = process.stdout.readline().decode().split(" on ", 1)[1].strip()
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=2) as response:
                if json.loads(response.read())["status"] == "ok":
                    return process, url
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("service did not start")


def row(name: str, latencies: list[float], wall: float, ref: tuple[float, float] | None) -> tuple[float, float]:
    rate, p50 = len(latencies) / wall, float(np.percentile(latencies, 50)) * 1e3
    p95 = float(np.percentile(latencies, 95)) * 1e3
    ratios = "" if ref is None else f"   {rate / ref[0]:5.2f}x        {p50 / ref[1]:5.2f}x"
    print(f"{name:<34}{rate:8.1f}{p50:10.1f}{p95:10.1f}{ratios}")
    return rate, p50


def sized(url: str, photo_size: tuple[int, int], size: tuple[int, int], count: int, rounds: int) -> None:
    """One client, photos of ``photo_size``: depth at their size (reference) vs at ``size``."""
    photos = [read_photo_bytes(d, name=f"p{i}") for i, d in enumerate(jpegs(4, photo_size))]
    remote = RemoteBackend(url, timeout=600)
    modes = {"at the photo's size (reference)": None, f"at {format_size(size)} (?size=)": size}
    for photo in photos[:2]:
        for wanted in modes.values():
            remote.estimate(photo, wanted)  # warm-up
    latencies: dict[str, list[float]] = {name: [] for name in modes}
    shapes = {}
    for _ in range(rounds):  # interleaved: load from elsewhere hits both alike
        for name, wanted in modes.items():
            for i in range(count):
                start = time.perf_counter()
                shapes[name] = remote.estimate(photos[i % len(photos)], wanted).depth.shape
                latencies[name].append(time.perf_counter() - start)
    print(f"{rounds} rounds of {count} requests, one client: {format_size(photo_size)} JPEG "
          f"(~{np.mean([len(p.data or b'') for p in photos]) / 1e6:.1f} MB) in")
    ref = float(np.median(latencies[next(iter(modes))]))
    for name, values in latencies.items():
        h, w = shapes[name]
        median = float(np.median(values))
        print(f"  depth {name:<34} {median:7.3f} s per request   {ref / median:5.2f}x faster   "
              f"answer {4 * w * h / 1e6:5.1f} MB ({w}x{h})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both sides (default 1)")
    parser.add_argument("--model", help="model folder (default: the tests' tiny Depth Anything)")
    parser.add_argument("--photo", type=parse_size, help="WxH: time ?size= on photos of this size instead")
    parser.add_argument("--size", type=parse_size, default=(1024, 768), help="WxH the depth is asked at (--photo)")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch loads, here and in the server
    import torch

    torch.set_num_threads(args.threads)

    label = args.model or "tiny random Depth Anything (tests/tiny_models.py)"
    with tempfile.TemporaryDirectory() as tmp:
        if args.model is None:
            from tiny_models import save_tiny_depth_anything

            args.model = str(save_tiny_depth_anything(Path(tmp) / "tiny"))
        data = jpegs(8)
        photos = [read_photo_bytes(d, name=f"p{i}") for i, d in enumerate(data)]
        items = [photos[i % len(photos)] for i in range(args.requests)]

        if args.photo:
            process, url = start_service(args.model)
            try:
                return sized(url, args.photo, args.size, count=4, rounds=args.rounds)
            finally:
                process.terminate()
                process.wait()
        local = TransformersBackend(model=args.model, device="cpu")
        process, url = start_service(args.model)
        try:
            remote = RemoteBackend(url)
            for photo in photos * 2:  # load, and warm up: the first few dozen calls run slow
                local.estimate(photo)
                remote.estimate(photo)
            runs: dict[str, list] = {"ref": [], "decode": [], "seq": [], "par": []}
            for _ in range(args.rounds):  # interleaved, so load from elsewhere hits all alike
                runs["ref"].append(timed(local.estimate, items))
                runs["decode"].append(timed(lambda p: read_photo_bytes(p.data), items))
                runs["seq"].append(timed(remote.estimate, items))
                runs["par"].append(concurrent(lambda: RemoteBackend(url).estimate, items, args.clients))
            steps = breakdown(url, data, args.requests)
        finally:
            process.terminate()
            process.wait()
    # per mode, the round of median wall time
    ref_lat, ref_wall = median_run(runs["ref"])
    decode_lat, decode_wall = median_run(runs["decode"])
    seq_lat, seq_wall = median_run(runs["seq"])
    par_lat, par_wall = median_run(runs["par"])

    print(f"model: {label}, cpu, {args.threads} torch thread(s) per process")
    print(f"{args.rounds} rounds (median shown) of {args.requests} requests: 640x480 JPEG "
          f"(~{np.mean([len(d) for d in data]) / 1024:.0f} KiB) in, {640 * 480 * 4 / 1024:.0f} KiB .npy out")
    print(f"{'':<34}{'req/s':>8}{'p50 ms':>10}{'p95 ms':>10}   {'req/s ratio':>11}  {'p50 ratio':>9}")
    ref = row("in-process estimate (reference)", ref_lat, ref_wall, None)
    row("JPEG decode alone (a server step)", decode_lat, decode_wall, ref)
    row("service, 1 client", seq_lat, seq_wall, ref)
    row(f"service, {args.clients} concurrent clients", par_lat, par_wall, ref)
    overhead = (np.percentile(seq_lat, 50) - np.percentile(ref_lat, 50)) * 1e3
    print(f"service overhead per request (p50, 1 client): {overhead:.1f} ms "
          f"= {np.percentile(seq_lat, 50) / np.percentile(ref_lat, 50):.2f}x in-process")
    print("one request, median ms per step: " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))


if __name__ == "__main__":
    main()
