"""Photo file → depth → geometry → file, for one input at a time (the CLI batches it)."""
from __future__ import annotations

from pathlib import Path

from .backends import DepthBackend, DepthResult
from .depth import check_aspect, check_depth
from .depth_io import DEPTH_SUFFIXES
from .errors import InputError
from .image import PHOTO_SUFFIXES, Photo, read_photo
from .reconstruct import Geometry, Options, reconstruct


def estimate_depth(photo: Photo, backend: DepthBackend, size: tuple[int, int] | None = None) -> DepthResult:
    """Run ``backend`` on ``photo`` and validate the result (finite, not constant, same aspect).

    size: (width, height) the depth is wanted at, for a backend that can give it (``takes_size``:
    a model resamples its output there instead of to the photo's size); others ignore it.
    """
    if size is not None and getattr(backend, "takes_size", False):
        result = backend.estimate(photo, size)
    else:
        result = backend.estimate(photo)
    label = str(photo.path or photo.name)
    result.depth = check_depth(result.depth, label)
    check_aspect(result.depth, photo.width, photo.height, label)
    return result


def photo_to_geometry(photo: Photo, backend: DepthBackend, options: Options) -> Geometry:
    """Depth for ``photo`` from ``backend``, then :func:`reconstruct`."""
    result = estimate_depth(photo, backend)
    return reconstruct(
        photo.rgb, result.depth, result.kind, options,
        model_fov=result.fov_deg, exif_fov=photo.fov_deg, name=photo.name,
    )


def convert_file(
    photo_path: str | Path, out_path: str | Path, backend: DepthBackend, options: Options,
    fmt: str | None = None, unlit: bool = True,
) -> Path:
    """Read ``photo_path``, reconstruct, write ``out_path`` atomically; return the written path."""
    from .exchange import export

    geometry = photo_to_geometry(read_photo(photo_path), backend, options)
    return export(geometry, out_path, fmt, unlit=unlit)


def expand_inputs(inputs: list[str | Path], suffixes=PHOTO_SUFFIXES) -> list[Path]:
    """Files as given, folders replaced by their files with a matching suffix (sorted)."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend(sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in suffixes))
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
