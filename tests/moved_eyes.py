"""Rendered scenes seen from moved eyes, and the converted mesh seen from the same eyes.

Ground truth: :mod:`tests.scenes` renders a scene with Cycles from the photo's own eye and from
eyes moved in the camera's frame (a viewer's head moving away from where the photo was taken).
The converted mesh is rasterised from the same eyes here, in numpy (no code shared with
:mod:`depth3d`): perspective-correct at every pixel centre, the nearest triangle wins, its
texture sampled bilinearly at the interpolated UV.  A pixel no triangle covers is *empty*.

Measures, over the pixels where the true render has a surface (not sky):
* empty share: where the mesh shows nothing;
* PSNR of the mesh's colour against the true render (an empty pixel shows black, as a viewer's
  clear colour).
"""
from __future__ import annotations

import hashlib
import itertools
import math
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
SIZES = {"room": (640, 480), "stage": (360, 640)}  # width, height
SAMPLES = 8
# eye offsets in the camera frame, metres: right, forward (−Z) and back (+Z), 10 and 30 cm
EYES = {"right 10 cm": (0.1, 0.0, 0.0), "right 30 cm": (0.3, 0.0, 0.0),
        "forward 10 cm": (0.0, 0.0, -0.1), "forward 30 cm": (0.0, 0.0, -0.3),
        "back 10 cm": (0.0, 0.0, 0.1), "back 30 cm": (0.0, 0.0, 0.3)}
ORIGIN = (0.0, 0.0, 0.0)
ALL_EYES = (ORIGIN, *EYES.values())


def _eye_tag(eye) -> str:
    return ",".join(f"{v:g}" for v in eye)


def _job(scene: str, eye) -> str:
    return f"{scene}:1" + ("" if tuple(eye) == ORIGIN else "@" + _eye_tag(eye))


def cached_eye_renders(cache: Path, scene: str, eyes=ALL_EYES) -> dict:
    """``{eye: npz dict}`` of ``scene`` at scale 1 rendered from every eye, cached in
    ``cache/depth3d_eyes_<key>`` (the key hashes tests/scenes.py, size and samples)."""
    size = SIZES[scene]
    key = hashlib.sha256((HERE / "scenes.py").read_bytes()
                         + repr((size, SAMPLES)).encode()).hexdigest()[:12]
    out = cache / f"depth3d_eyes_{key}"
    out.mkdir(parents=True, exist_ok=True)
    jobs = {tuple(eye): _job(scene, eye) for eye in eyes}
    files = {eye: out / (job.replace(":", "_") + ".npz") for eye, job in jobs.items()}
    missing = [jobs[eye] for eye, f in files.items() if not f.is_file()]
    if missing:
        cmd = [sys.executable, str(HERE / "scenes.py"), str(out), "--size", f"{size[0]}x{size[1]}",
               "--samples", str(SAMPLES), *missing]
        subprocess.run(cmd, check=True, capture_output=True)
    return {eye: dict(np.load(f)) for eye, f in files.items()}


class View(NamedTuple):
    """A mesh rasterised from one eye: (H, W, 3) float64 sRGB 0–255 colour (0 where empty),
    (H, W) inverse planar depth (0 where empty) and (H, W) int64 face index (−1 where empty)."""

    rgb: np.ndarray
    inv_depth: np.ndarray
    face: np.ndarray


def _sample(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear texture lookup (clamped) at (N, 2) UVs, origin bottom-left → (N, 3) float64."""
    th, tw = texture.shape[:2]
    x = np.clip(uv[:, 0] * tw - 0.5, 0, tw - 1)
    y = np.clip((1.0 - uv[:, 1]) * th - 0.5, 0, th - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, tw - 1), np.minimum(y0 + 1, th - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    t = texture.astype(np.float64)
    top = t[y0, x0] * (1 - fx) + t[y0, x1] * fx
    bot = t[y1, x0] * (1 - fx) + t[y1, x1] * fx
    return top * (1 - fy) + bot * fy


def rasterize(vertices, faces, uv, texture, fov_deg: float, width: int, height: int,
              eye=ORIGIN, near: float = 0.05, eps: float = 1e-4) -> View:
    """Render the textured mesh (camera frame, −Z forward) from ``eye`` (same orientation,
    same horizontal FOV) at ``width`` × ``height``: every pixel centre inside a triangle takes
    the nearest one (triangles with a vertex closer than ``near`` are left out)."""
    p = vertices.astype(np.float64) - np.asarray(eye, np.float64)
    d = -p[:, 2]
    tan_x = math.tan(math.radians(fov_deg) / 2)
    tan_y = tan_x * height / width
    with np.errstate(divide="ignore", invalid="ignore"):
        col = (p[:, 0] / d / tan_x + 1.0) * (width / 2)
        row = (1.0 - p[:, 1] / d / tan_y) * (height / 2)
    all_faces = np.asarray(faces, np.int64)
    fid = np.flatnonzero((d[all_faces] > near).all(axis=1))
    c, r = col[all_faces[fid]], row[all_faces[fid]]
    i_lo = np.maximum(np.ceil(c.min(1) - 0.5 - eps), 0).astype(np.int64)
    i_hi = np.minimum(np.floor(c.max(1) - 0.5 + eps), width - 1).astype(np.int64)
    j_lo = np.maximum(np.ceil(r.min(1) - 0.5 - eps), 0).astype(np.int64)
    j_hi = np.minimum(np.floor(r.max(1) - 0.5 + eps), height - 1).astype(np.int64)
    ni, nj = np.maximum(i_hi - i_lo + 1, 0), np.maximum(j_hi - j_lo + 1, 0)
    keep = ni * nj > 0
    fid, c, r, i_lo, j_lo, ni, nj = fid[keep], c[keep], r[keep], i_lo[keep], j_lo[keep], ni[keep], nj[keep]
    count = ni * nj
    ends = np.cumsum(count)
    inv = 1.0 / d
    zbuf = np.zeros(height * width)
    best = np.full(height * width, -1, np.int64)
    bary = np.zeros((height * width, 3))
    bounds = np.unique(np.concatenate([[0], np.searchsorted(ends, np.arange(1, ends[-1] // (1 << 21) + 1) * (1 << 21)),
                                       [len(fid)]])) if len(fid) else [0]
    for lo, hi in itertools.pairwise(bounds):  # each triangle expanded to its bounding box
        n = count[lo:hi]
        k = np.repeat(np.arange(lo, hi), n)
        local = np.arange(len(k)) - np.repeat(np.cumsum(n) - n, n)
        i = i_lo[k] + local % ni[k]
        j = j_lo[k] + local // ni[k]
        px, py = i + 0.5, j + 0.5
        (c0, c1, c2), (r0, r1, r2) = c[k].T, r[k].T
        area = (c1 - c0) * (r2 - r0) - (c2 - c0) * (r1 - r0)
        with np.errstate(divide="ignore", invalid="ignore"):
            b0 = ((c1 - px) * (r2 - py) - (c2 - px) * (r1 - py)) / area
            b1 = ((c2 - px) * (r0 - py) - (c0 - px) * (r2 - py)) / area
        b2 = 1.0 - b0 - b1
        inside = (np.abs(area) > 1e-12) & (b0 >= -eps) & (b1 >= -eps) & (b2 >= -eps)
        w = inv[all_faces[fid[k]]]
        val = b0 * w[:, 0] + b1 * w[:, 1] + b2 * w[:, 2]
        sel = np.flatnonzero(inside)
        sel = sel[np.argsort(val[sel], kind="stable")]
        pix = (j * width + i)[sel]
        upd = val[sel] > zbuf[pix]
        sel, pix = sel[upd], pix[upd]
        zbuf[pix] = val[sel]  # ascending order: the nearest of a pixel's candidates is written last
        best[pix] = fid[k[sel]]
        bary[pix] = np.stack([b0[sel], b1[sel], b2[sel]], axis=1)
    rgb = np.zeros((height * width, 3))
    hit = np.flatnonzero(best >= 0)
    f = all_faces[best[hit]]
    wb = bary[hit] * inv[f]  # perspective-correct: attributes / depth are linear in the image
    wb /= wb.sum(axis=1, keepdims=True)
    uvs = np.asarray(uv, np.float64)
    at = (wb[:, :, None] * uvs[f]).sum(axis=1)
    rgb[hit] = _sample(texture, at)
    return View(rgb.reshape(height, width, 3), zbuf.reshape(height, width), best.reshape(height, width))


class Score(NamedTuple):
    """How a mesh seen from one eye matches the true render there (surface pixels only)."""

    empty: float  # share of the surface pixels where the mesh shows nothing
    psnr: float  # dB, colour against the true render, empty pixels black


def score(view: View, truth: dict) -> Score:
    surface = np.isfinite(truth["depth"])
    empty = surface & (view.face < 0)
    err = (view.rgb[surface] - truth["rgb"][surface].astype(np.float64)) ** 2
    mse = float(err.mean())
    return Score(float(empty.sum() / surface.sum()), 10 * math.log10(255.0 ** 2 / max(mse, 1e-12)))
