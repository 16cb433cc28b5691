"""Decimation within a triangle budget: its time against the undecimated reconstruct, and fidelity.

    .venv/bin/python bench/bench_decimate.py [--repeat 5] [--fidelity]

Time (in process, best of ``--repeat``, the runs interleaved): the 12 MP room of
bench/bench_convert.py (4000×3000 planar depth, FOV 60°) → ``reconstruct`` at the default grid
(1024) without a budget (the reference), and with ``max_triangles`` 300k (``vr``) and 100k
(``ar``); the decimation's own share (block errors + choosing the tolerance + the new faces,
:mod:`depth3d.geometry.decimate`, on the same grid) is timed apart, so the ratios are decimation /
undecimated reconstruct.

``--fidelity``: tests/test_flying.py's ``measure`` (flying area, coverage) on its Cycles scenes
at scale 1, sharp and with model blur, for no budget, 300k and 100k (the scenes come from
pytest's cache; ``pytest tests/test_flying.py`` renders them first).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUDGETS = (0, 300_000, 100_000)


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def timing(repeat: int) -> None:
    from bench_convert import FOV_DEG, SIZES, scene

    from depth3d.geometry import reconstruct as rec
    from depth3d.geometry.decimate import block_errors, decimate

    rgb, depth = scene(*SIZES[12])
    captured = {}
    real = rec.decimate

    def capture(faces, value, whole, budget, **kw):
        captured.update(faces=faces, value=value, whole=whole, pixel=kw.get("pixel", 0.0), blocks=kw["blocks"])
        return real(faces, value, whole, budget, **kw)

    rec.decimate = capture
    rec.reconstruct(rgb, depth, "depth", rec.Options(fov=FOV_DEG, max_triangles=BUDGETS[1]))
    rec.decimate = real
    faces, value, whole, pixel = captured["faces"], captured["value"], captured["whole"], captured["pixel"]

    times = {b: float("inf") for b in BUDGETS}
    alone = {b: float("inf") for b in BUDGETS[1:]}
    counts = {}
    for _ in range(repeat):  # interleaved, so load on the machine hits all alike
        for b in BUDGETS:
            t, geo = _best(lambda b=b: rec.reconstruct(rgb, depth, "depth",
                                                       rec.Options(fov=FOV_DEG, max_triangles=b)), 1)
            times[b] = min(times[b], t)
            counts[b] = (len(geo.faces), geo.meta.get("max_error", 0.0), geo.grid)
        for b in BUDGETS[1:]:
            t, _ = _best(lambda b=b: decimate(faces, value, whole, b, errors=block_errors(value, whole, pixel=pixel),
                                                  blocks=captured["blocks"]), 1)
            alone[b] = min(alone[b], t)
    ref = times[0]
    print(f"12 MP room ({SIZES[12][0]}×{SIZES[12][1]}), grid {counts[0][2]} (default), best of {repeat}")
    print(f"{'budget':>8} {'faces':>9} {'error':>9} {'reconstruct':>12} {'ratio':>6} {'decimation':>11} {'ratio':>6}")
    for b in BUDGETS:
        n, err, _ = counts[b]
        dec = f"{alone[b]:10.3f}s {alone[b] / ref:6.2f}" if b else f"{'':>11} {'':>6}"
        print(f"{b or 'none':>8} {n:9d} {err:9.2e} {times[b]:11.3f}s {times[b] / ref:6.2f} {dec}")


def fidelity() -> None:
    sys.path.insert(0, str(REPO / "tests"))
    import test_flying as tf

    renders = tf.cached_renders(REPO / ".pytest_cache" / "d" / "depth3d")
    from depth3d.geometry.reconstruct import Options, reconstruct

    print(f"{'scene':8} {'blur':6} {'budget':>8} {'faces':>9} {'flying':>8} {'coverage':>9} {'error':>8}")
    for scene in tf.SCENES:
        for blur in tf.BLURS:
            for b in BUDGETS:
                r = renders[scene, 1.0]
                flying, cov, n = tf.measure(r, tf.RESOLUTIONS[0], blur, b)
                depth = tf.backdrop(r["depth"])  # the tolerance decimation chose, as measure built it
                depth = tf.model_blur(depth) if blur == "model" else depth
                geo = reconstruct(r["rgb"], depth, "depth", Options(fov=float(r["fov"]), max_triangles=b))
                print(f"{scene:8} {blur:6} {b or 'none':>8} {n:9d} {flying:8.3%} {cov:9.2%} "
                      f"{geo.meta.get('max_error', 0.0):8.2e}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--fidelity", action="store_true", help="also flying/coverage on the rendered scenes")
    args = ap.parse_args()
    timing(args.repeat)
    if args.fidelity:
        fidelity()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    main()
