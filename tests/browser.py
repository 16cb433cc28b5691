"""A real viewer for the tests: three.js in headless Chromium, served from the test on loopback.

:func:`render_model` serves ``tests/viewer/`` (the page), three.js from
``tests/viewer/node_modules/three`` and one model file from a ``http.server`` on 127.0.0.1 (an
ephemeral port, in a thread of the test process), runs ``tests/viewer/render.mjs``
(puppeteer-core driving Debian's ``chromium-headless-shell``, WebGL on SwiftShader) and returns
what three.js drew.  Installed by ``make test`` (npm ci of tests/viewer) and ``.ci/run`` (apt).

A browser that cannot start skips the test locally (with the reason) but fails it in CI
(``CI`` set to a true value): there the viewer test must run.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import math
import os
import shutil
import signal
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

__all__ = ["Rendering", "masked_psnr", "render_model"]

VIEWER = Path(__file__).resolve().parent / "viewer"
THREE = VIEWER / "node_modules" / "three"
CHROMIUM = os.environ.get("DEPTH3D_CHROMIUM", "/usr/bin/chromium-headless-shell")
TIMEOUT_S = 300
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
          ".html": "text/html", ".glb": "model/gltf-binary", ".gltf": "model/gltf+json",
          ".bin": "application/octet-stream", ".png": "image/png", ".jpg": "image/jpeg"}


@dataclass
class Rendering:
    """What the viewer drew.

    rgba:   (H, W, 4) uint8 canvas pixels, alpha 0 where no triangle covers the pixel.
    info:   the page's report: ``camera`` ("gltf" when the file's own camera was used, "url"),
            ``fovy`` (deg), ``triangles``, ``materials`` (three.js types), ``extensions``,
            ``renderer`` (the WebGL renderer string).
    """

    rgba: np.ndarray
    info: dict

    @property
    def coverage(self) -> float:
        """Fraction of pixels covered by the model."""
        return float((self.rgba[..., 3] == 255).mean())


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB (peak 255) of (H, W, 3) uint8 ``a`` against ``b`` over the pixels of ``mask``."""
    diff = a[mask].astype(np.float64) - b[mask].astype(np.float64)
    mse = float(np.mean(diff**2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _no_browser(reason: str) -> None:
    """Fail in CI, skip elsewhere: a missing browser is a set-up gap locally, a defect in CI."""
    message = "no browser for the viewer test: " + " ".join(reason.split())
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + " (CI: .ci/run installs chromium-headless-shell)")
    pytest.skip(message + " (apt-get install chromium-headless-shell)")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """GET /three/... from three's package, /model/<name> the one model, anything else from
    tests/viewer; nothing outside those folders."""

    extensions_map = _TYPES
    model: Path

    def translate_path(self, path: str) -> str:
        path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        if path == "/model/" + self.model.name:
            return str(self.model)
        root, rest = (THREE, path[len("/three/"):]) if path.startswith("/three/") else (VIEWER, path[1:])
        target = (root / rest).resolve()
        return str(target) if target.is_relative_to(root.resolve()) else str(root / "missing")

    def log_message(self, format: str, *args) -> None:
        pass


@contextlib.contextmanager
def _serve(model: Path) -> Iterator[str]:
    """The viewer's base URL, served from a thread on 127.0.0.1 while the block runs."""
    handler = type("Handler", (_Handler,), {"model": model})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@functools.cache
def _node() -> str:
    node = shutil.which("node")
    if node is None or not (VIEWER / "node_modules" / "puppeteer-core").is_dir() or not THREE.is_dir():
        pytest.fail("the viewer's npm packages are missing: run `npm ci --prefix tests/viewer` "
                    "(the README's test command does)")
    return node


def _run_node(command: list[str]) -> tuple[str, str, int]:
    """Run ``command`` in its own process group; past TIMEOUT_S the whole group (node and the
    browser it started) is killed and the test fails."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=dict(os.environ, DEPTH3D_CHROMIUM=CHROMIUM))
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the viewer did not finish in {TIMEOUT_S} s")
    return stdout, stderr, proc.returncode


def render_model(model: str | os.PathLike, width: int, height: int, fovy: float | None = None,
                 own_camera: bool = True, out: str | os.PathLike | None = None) -> Rendering:
    """Render the glTF/glb ``model`` with three.js in headless Chromium on a ``width`` × ``height``
    canvas, through the file's camera (unless ``own_camera`` is false), else from the origin down
    −Z with vertical FOV ``fovy`` (degrees).  ``out``: where the PNG goes (default: beside the
    model)."""
    model = Path(model).resolve()
    node = _node()
    if not Path(CHROMIUM).is_file():
        _no_browser(f"{CHROMIUM} is not installed")
    out = Path(out) if out is not None else model.with_suffix(".render.png")
    query = {"model": f"/model/{model.name}", "width": width, "height": height}
    if fovy is not None:
        query["fovy"] = repr(float(fovy))
    if not own_camera:
        query["camera"] = "url"
    with _serve(model) as base:
        url = f"{base}/index.html?{urllib.parse.urlencode(query)}"
        stdout, stderr, code = _run_node([node, str(VIEWER / "render.mjs"), url, str(out)])
    try:
        info = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        pytest.fail(f"render.mjs exited {code} without a result: {stderr[-2000:]}")
    if info.get("launch"):
        _no_browser(info["error"])
    assert info["ok"], f"the viewer failed: {info.get('error')}\n" + "\n".join(info.get("logs", []))
    rgba = np.asarray(Image.open(out).convert("RGBA"))
    assert rgba.shape == (height, width, 4), rgba.shape
    return Rendering(rgba, info)
