"""Photo file → depth → geometry → file, for one input at a time (the CLI batches it)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from .backends import DepthBackend, DepthResult
from .depth import check_aspect, check_depth
from .depth_io import DEPTH_SUFFIXES
from .errors import InputError, quote_path
from .image import PHOTO_SUFFIXES, Photo, read_photo
from .reconstruct import Geometry, Options, reconstruct


def estimate_depth(photo: Photo, backend: DepthBackend, size: tuple[int, int] | None = None) -> DepthResult:
    """Run ``backend`` on ``photo`` and validate the result (finite, not constant, same aspect).

    size: (width, height) the depth is wanted at, for a backend that can give it (``takes_size``:
    a model resamples its output there instead of to the photo's size); others ignore it.
    """
    if size is not None and getattr(backend, "takes_size", False):
        result = backend.estimate(photo, size)  # type: ignore[call-arg]  # a takes_size backend
    else:
        result = backend.estimate(photo)
    label = str(photo.path or photo.name)
    result.depth = check_depth(result.depth, label, result.kind)
    check_aspect(result.depth, photo.width, photo.height, label)
    return result


def photo_to_geometry(photo: Photo, backend: DepthBackend, options: Options) -> Geometry:
    """Depth for ``photo`` from ``backend``, then :func:`reconstruct`."""
    result = estimate_depth(photo, backend)
    return reconstruct(
        photo.rgb, result.depth, result.kind, options,
        model_fov=result.fov_deg, exif_fov=photo.fov_deg, name=photo.name,
    )


class Converted(NamedTuple):
    """What :func:`convert_photo_file` wrote: the output ``path`` and the ``geometry`` in it."""

    path: Path
    geometry: Geometry


def convert_photo_file(
    photo_path: str | Path, out_path: str | Path, backend: DepthBackend, options: Options,
    fmt: str | None = None, unlit: bool = True, settings=None,
    warn: Callable[[str], None] | None = None,
) -> Converted:
    """Read ``photo_path``, reconstruct, write ``out_path`` atomically (``settings``: see
    :func:`convert_file`).

    ``warn``: called with one ``warning: <file>: <note>`` line when in-fill was asked for and
    skipped (:mod:`depth3d.infill`)."""
    from .exchange import export

    geometry = photo_to_geometry(read_photo(photo_path), backend, options)
    warning = infill_warning(photo_path, geometry)
    if warn is not None and warning:
        warn(warning)
    return Converted(export(geometry, out_path, fmt, unlit=unlit, settings=settings), geometry)


def convert_file(
    photo_path: str | Path, out_path: str | Path, backend: DepthBackend, options: Options,
    fmt: str | None = None, unlit: bool = True, settings=None,
    warn: Callable[[str], None] | None = None,
) -> Path:
    """Read ``photo_path``, reconstruct, write ``out_path`` atomically; return the written path.

    ``settings``: glTF/USDZ only, a :class:`~depth3d.exchange.gltf.GltfSettings` (target encoding).
    """
    return convert_photo_file(photo_path, out_path, backend, options, fmt, unlit, settings, warn).path


def infill_warning(photo_path: str | Path, geometry: Geometry) -> str | None:
    """``warning: <file>: <note>`` when in-fill was asked for and skipped (:mod:`depth3d.infill`)."""
    infill = geometry.meta.get("infill")
    if infill and not infill.get("layer_faces"):
        return f"warning: {quote_path(Path(photo_path))}: {infill['note']}"
    return None


def summary(path: Path, geometry: Geometry) -> str:
    """One line saying what was written: path, size, vertices/points and faces, FOV, depth range."""
    import numpy as np

    try:
        size = f"{path.stat().st_size / 1e6:.2f} MB"
    except OSError:
        size = "?"
    n = len(geometry.vertices)
    what = f"{n} vertices, {len(geometry.faces)} faces" if geometry.is_mesh else f"{n} points"
    z = -geometry.vertices[:, 2] if n else np.zeros(1, np.float32)
    relief = geometry.meta.get("projection") == "relief"
    extent = (f"heights {float(z.min()):.3g}..{float(z.max()):.3g}" if relief
              else f"depth {float(z.min()):.3g}..{float(z.max()):.3g} m")
    return f"wrote {quote_path(path)} ({size}): {what}, FOV {geometry.camera.fov_deg:.1f}°, {extent}"


def expand_inputs(inputs: list[str | Path], suffixes=PHOTO_SUFFIXES) -> list[Path]:
    """Files as given, folders replaced by their entries with a matching suffix (sorted).

    An entry that is not a readable regular file (a broken link, a link loop, a FIFO) is kept,
    so that the batch says why it is skipped instead of passing over it in silence.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend(sorted(p for p in item.iterdir() if p.suffix.lower() in suffixes and not p.is_dir()))
        else:
            found.append(item)
    return found


def find_depth_file(folder: Path, stem: str) -> Path:
    """The depth map for photo ``stem`` in ``folder`` (``<stem>.npy`` / .exr / .pfm / .png / .tif)."""
    for suffix in DEPTH_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    raise InputError(f"{folder}: no depth file for {stem!r} (looked for {', '.join(DEPTH_SUFFIXES)})")
