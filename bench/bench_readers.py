"""What refusing a cut JPEG costs the core's photo reader: ``read_photo_bytes`` against Pillow's
decode alone, on the 12 MP photo of bench/bench_convert.py.

    .venv/bin/python bench/bench_readers.py [--repeat 5]

In process, best of ``--repeat``, the runs interleaved.  Reference: ``Image.open`` + ``load`` +
``np.asarray`` of the same bytes (what any Pillow reader pays).  Ours: ``read_photo_bytes``
(header, end of file, the full decode, then :func:`depth3d.io.jpeg_scan.scan_complete`'s second
decode with filler after the last scan, EXIF, conversion).  The check alone is timed apart.
Baseline (quality 90, as bench_convert writes it) and progressive.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    import numpy as np
    from bench_convert import SIZES, scene
    from PIL import Image

    from depth3d.io.image import read_photo_bytes
    from depth3d.io.jpeg_scan import scan_complete

    rgb, _ = scene(*SIZES[12])
    print(f"12 MP photo ({SIZES[12][0]}×{SIZES[12][1]}), best of {args.repeat}")
    print(f"{'JPEG':12} {'Pillow':>8} {'ours':>8} {'ratio':>6} {'check':>8} {'ratio':>6}")
    for kind, options in (("baseline", {}), ("progressive", {"progressive": True})):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=90, **options)
        data = buf.getvalue()
        best = {"pillow": float("inf"), "ours": float("inf"), "check": float("inf")}
        for _ in range(args.repeat):
            t = time.perf_counter()
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                np.asarray(im)
            best["pillow"] = min(best["pillow"], time.perf_counter() - t)
            t = time.perf_counter()
            read_photo_bytes(data)
            best["ours"] = min(best["ours"], time.perf_counter() - t)
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                t = time.perf_counter()
                assert scan_complete(data, im)
                best["check"] = min(best["check"], time.perf_counter() - t)
        ref = best["pillow"]
        print(f"{kind:12} {ref:7.3f}s {best['ours']:7.3f}s {best['ours'] / ref:6.2f} "
              f"{best['check']:7.3f}s {best['check'] / ref:6.2f}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    main()
