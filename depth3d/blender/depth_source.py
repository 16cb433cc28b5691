"""Where the add-on gets depth: a file, the model in Blender's Python, a local service, a server.

:func:`backend_for` is called on Blender's main thread (it reads settings and may read a depth
file through ``bpy``); the backend it returns is then used from a worker thread, so nothing
in a backend's ``estimate`` touches ``bpy``.  Heavy things are created once and reused:
the in-process model (per model/device/cache folder/dtype) and the local backend service (one
process, stopped by :func:`shutdown` when the add-on is disabled or Blender quits).
"""
from __future__ import annotations

import importlib.util
import ipaddress
import struct
import threading
import urllib.parse
from dataclasses import dataclass, fields, replace
from pathlib import Path

import bpy
import numpy as np

from ..backends import BackendError, BackendSpec, DepthResult, get_backend
from ..backends.file import in_metres
from ..errors import InputError
from ..geometry.depth import check_aspect
from ..io.depth_io import PNG16_MAX_KEY, PNG16_MIN_KEY
from ..io.image import Photo
from ..io.image_header import TIFF_INT32_LIMIT, TIFF_INT32_TOO_LARGE, tiff_depth_scale

MODES = ("AUTO", "TRANSFORMERS", "SERVICE", "REMOTE")
"""Backend choices in the preferences (a depth file always wins)."""
BLENDER_MODEL_HINT = ("set Model in the Depth3D preferences (Edit → Preferences → Add-ons → Depth3D) "
                      "to a local model folder")
SERVICE_TIMEOUT = 900.0
"""Seconds one photo may take in the local service (a big photo on a CPU is slow)."""

_lock = threading.Lock()
_models: dict[tuple, object] = {}
_service = None  # depth3d.service.manager.LocalService


def torch_available() -> bool:
    """Whether ``torch`` and ``transformers`` can be imported here (nothing is imported)."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers"))
    except (ImportError, ValueError):
        return False


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    text = url.strip()
    host = urllib.parse.urlsplit(text if "://" in text else f"http://{text}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_online_access(url: str) -> None:
    """Refuse a non-loopback ``url`` while Blender's "Allow Online Access" is off."""
    if not is_loopback(url) and not bpy.app.online_access:
        raise BackendError(
            f"{url}: online access is disabled (Preferences → System → Network → Allow Online Access)"
        )


@dataclass(frozen=True)
class BackendSettings:
    """What chooses a backend in Blender: the preferences' fields (:mod:`.prefs`), with the
    operator's or the batch's choices put over them.  ``backend`` is one of :data:`MODES`."""

    backend: str = "AUTO"
    model: str | None = None
    device: str | None = None
    dtype: str | None = None
    backend_python: str | None = None
    server_url: str | None = None
    token: str | None = None
    remote_model: str | None = None
    cache_dir: str | None = None

    @classmethod
    def from_prefs(cls, prefs, **overrides) -> BackendSettings:
        """``prefs``' values (a missing one counts as unset), then ``overrides``."""
        values = {f.name: getattr(prefs, f.name, None) for f in fields(cls)}
        values["backend"] = values["backend"] or "AUTO"
        return replace(cls(**values), **overrides)

    @classmethod
    def from_spec(cls, spec: BackendSpec, prefs=None) -> BackendSettings:
        """The core's choice (:func:`depth3d.backends.resolve_backend`, not ``file``) in Blender's
        terms; the model cache folder stays the preferences'."""
        options = spec.kwargs
        if spec.name == "remote":
            return cls("REMOTE", server_url=options["server"], token=options.get("token"),
                       remote_model=options.get("model"))
        return cls("TRANSFORMERS", model=options.get("model"), device=options.get("device"),
                   dtype=options.get("dtype"), cache_dir=getattr(prefs, "cache_dir", None))


def backend_from_spec(spec: BackendSpec, prefs=None):
    """The backend of the core's ``spec`` built the Blender way: depth files read by Blender when
    its Python lacks the readers, a server only with online access, the model in-process."""
    if spec.name == "file":
        options = spec.kwargs
        return backend_for(None, str(options["path"]), options["kind"], options.get("unit", "m"))
    return backend_for(BackendSettings.from_spec(spec, prefs))


def _setting(settings, name: str, default=None):
    value = getattr(settings, name, default)
    return default if value in (None, "") else value


# --------------------------------------------------------------------------- depth files


def _needs_blender_reader(path: Path) -> bool:
    """An image-format depth file (PNG, TIFF) where Pillow is missing (Blender's Python).

    EXR needs nothing: :mod:`depth3d.io.depth_io` falls back to :mod:`depth3d.io.exr` on its own.
    """
    return path.suffix.lower() in (".png", ".tif", ".tiff") and importlib.util.find_spec("PIL") is None


def _png_text(data: bytes) -> dict[str, str]:
    """A PNG's ``tEXt`` chunks (keyword → text)."""
    text, pos = {}, 8
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"tEXt":
            key, _, value = data[pos + 8:pos + 8 + size].partition(b"\0")
            text[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"IDAT":
            break
        pos += 12 + size
    return text


def read_depth_with_blender(path: str | Path) -> np.ndarray:
    """(H, W) float32 depth read by Blender's image loader (main thread only; PNG, TIFF).

    The grey value in the file's integer units (16-bit: 0–65535; a TIFF's signed or 32-bit
    integers too, :func:`depth3d.io.image_header.tiff_depth_scale`), or, for a PNG written by
    ``depth3d depth``, in its original units (range kept in its text chunks) — as
    :func:`depth3d.io.depth_io.read_depth` gives with Pillow.
    """
    from .images import check_image_file

    path = Path(path)
    header = check_image_file(path)
    if header is not None and header.format == "png" and header.mode[1] == 3:
        raise InputError(f"{path}: a P image is not a depth map (need one grey channel)")
    scale = None  # what Blender divided the stored integers by (None: PNG, by its bit depth)
    if header is not None and header.format == "tiff":
        try:
            scale = tiff_depth_scale(header)
        except ValueError as exc:
            raise InputError(f"{path}: {exc}") from None
    try:
        image = bpy.data.images.load(str(path), check_existing=False)
    except RuntimeError:
        raise InputError(f"{path}: unreadable depth map") from None
    try:
        image.colorspace_settings.is_data = True
        width, height = image.size
        if width == 0 or height == 0:
            raise InputError(f"{path}: unreadable depth map")
        buf = np.empty(width * height * image.channels, dtype=np.float32)
        image.pixels.foreach_get(buf)
        pixels = buf.reshape(height, width, image.channels)[::-1]
        colour = pixels[:, :, :3] if image.channels >= 3 else pixels[:, :, :1]
        if any(not np.array_equal(colour[:, :, 0], colour[:, :, c]) for c in range(1, colour.shape[2])):
            mode = "RGBA" if image.channels == 4 else "RGB"
            raise InputError(f"{path}: a {mode} image with differing colour channels is not a depth map")
        depth = pixels[:, :, 0].astype(np.float64)
        high_bit = image.is_float or image.depth in (16, 48, 64)
    finally:
        bpy.data.images.remove(image)
    if scale is None:  # PNG integers: Blender gave them scaled to [0, 1]
        depth = np.round(depth * (65535.0 if high_bit else 255.0))
    elif scale:  # TIFF integers: divided by their type's largest value (float TIFF: as stored)
        depth = np.round(depth * scale)
        if scale > 65535 and depth.size and np.abs(depth).max() >= TIFF_INT32_LIMIT:
            raise InputError(f"{path}: {TIFF_INT32_TOO_LARGE.format(peak=np.abs(depth).max())}")
    if path.suffix.lower() == ".png":
        text = _png_text(path.read_bytes())
        if PNG16_MIN_KEY in text and PNG16_MAX_KEY in text:
            lo, hi = float(text[PNG16_MIN_KEY]), float(text[PNG16_MAX_KEY])
            depth = lo + depth * ((hi - lo) / 65535.0)
    return np.ascontiguousarray(depth, dtype=np.float32)


class PreloadedDepth:
    """The ``file`` backend for a depth map already read on the main thread."""

    name = "file"

    def __init__(self, depth: np.ndarray, kind: str, path: Path):
        self.depth, self.kind, self.path = depth, kind, path

    def estimate(self, photo: Photo) -> DepthResult:
        check_aspect(self.depth, photo.width, photo.height, str(self.path))
        return DepthResult(depth=self.depth, kind=self.kind, model=str(self.path))


# --------------------------------------------------------------------------- model backends


def _in_process(model: str | None, device: str, cache_dir: str | None, dtype: str = "auto"):
    key = (model, device, cache_dir, dtype)
    with _lock:
        backend = _models.get(key)
        if backend is None:
            _models.clear()  # one model in memory at a time
            backend = _models[key] = get_backend(
                "transformers", model=model, device=device, cache_dir=cache_dir, dtype=dtype
            )
            backend.model_hint = BLENDER_MODEL_HINT
        return backend


class ServiceBackend:
    """Depth from the local backend service, started (or reused) on first use.

    ``estimate`` may take minutes the first time (the service loads the model); it runs in the
    operator's worker thread, never on Blender's main thread.
    """

    name = "service"

    def __init__(self, python: str, model: str | None, device: str, dtype: str = "auto"):
        self.python, self.model, self.device, self.dtype = python, model, device, dtype

    def estimate(self, photo: Photo) -> DepthResult:
        url = local_service(self.python, self.model, self.device, self.dtype).start()
        return get_backend("remote", server=url, timeout=SERVICE_TIMEOUT).estimate(photo)


def local_service(python: str, model: str | None, device: str, dtype: str = "auto"):
    """The shared :class:`~depth3d.service.manager.LocalService` for these settings."""
    from ..service.manager import LocalService

    global _service
    with _lock:
        s = _service
        if s is not None and (s.python, s.model, s.device, s.dtype) == (python, model, device, dtype):
            return s
        if s is not None:
            s.stop()
        _service = LocalService(python, model=model, device=device, dtype=dtype)
        return _service


def shutdown() -> None:
    """Stop the local service this add-on started and drop the in-process model."""
    global _service
    with _lock:
        s, _service = _service, None
        _models.clear()
    if s is not None:
        s.stop()


def backend_for(prefs_or_settings, depth_filepath: str | None = None, depth_kind: str = "depth",
                depth_unit: str = "m"):
    """The depth backend for a run (call on the main thread).

    ``prefs_or_settings``: anything with the preference attributes ``backend`` (one of
    :data:`MODES`), ``model``, ``device``, ``dtype``, ``backend_python``, ``server_url``, ``token``,
    ``cache_dir`` (missing ones count as unset).  A ``depth_filepath`` selects the file backend.
    ``AUTO``: in-process when torch and transformers import here, else the service when a
    backend Python is set, else the server URL.
    """
    if depth_filepath:
        path = Path(bpy.path.abspath(depth_filepath))
        if _needs_blender_reader(path):
            depth = read_depth_with_blender(path)
            return PreloadedDepth(in_metres(depth, depth_unit) if depth_kind == "depth" else depth,
                                  depth_kind, path)
        return get_backend("file", path=path, kind=depth_kind, unit=depth_unit)

    s = prefs_or_settings
    mode = _setting(s, "backend", "AUTO")
    model = _setting(s, "model")
    device = (_setting(s, "device", "auto") or "auto").lower()
    dtype = _setting(s, "dtype", "auto")
    python = _setting(s, "backend_python")
    server = _setting(s, "server_url")
    cache_dir = _setting(s, "cache_dir")
    if cache_dir:
        cache_dir = bpy.path.abspath(cache_dir)

    if mode == "AUTO":
        if torch_available():
            mode = "TRANSFORMERS"
        elif python:
            mode = "SERVICE"
        elif server:
            mode = "REMOTE"
        else:
            raise BackendError(
                "no depth backend: torch is not available in Blender's Python; set a Backend Python "
                "or a server URL in the Depth3D preferences (or use a depth file)"
            )
    if mode == "TRANSFORMERS":
        if not torch_available():
            raise BackendError("torch and transformers are not installed in Blender's Python; "
                               "use the backend service instead (Depth3D preferences)")
        return _in_process(model, device, cache_dir, dtype)
    if mode == "SERVICE":
        if not python:
            raise BackendError("set the Backend Python in the Depth3D preferences (or press Set up backend)")
        python = bpy.path.abspath(python)
        if not Path(python).is_file():
            raise BackendError(f"{python}: backend Python not found")
        return ServiceBackend(python, model, device, dtype)
    if mode == "REMOTE":
        if not server:
            raise BackendError("set the server URL in the Depth3D preferences")
        check_online_access(server)
        return get_backend("remote", server=server, token=_setting(s, "token"),
                           model=_setting(s, "remote_model"))
    raise BackendError(f"unknown backend mode {mode!r}; choose one of {', '.join(MODES)}")
