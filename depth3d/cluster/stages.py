"""The Ray batch's stages, run on Ray workers: one row per photo, plain functions on dicts.

Each Ray stage runs stages of the one pipeline (:mod:`depth3d.pipeline`) on a row: ``read``,
``depth`` (in an actor pool for a model: batched, then checked as the pipeline checks one
photo's), ``geometry`` and ``write``.

Rows carry ``index``, ``input``, ``output`` (place strings, :mod:`.storage`) and ``error``
("" while the photo is fine).  A stage that fails for a photo writes the one-line reason into
``error`` and later stages pass the row through, so one bad photo never fails a task; only a
worker that dies costs a retry (Ray re-runs the task, or restarts the actor and re-sends it).

1. :func:`read_photo_row` (CPU task): read the file's bytes, decode → ``rgb`` (H, W, 3) uint8,
   ``name`` (stem), ``exif_fov`` (degrees, NaN when unknown).
2. depth: :class:`DepthActor` (an actor pool, one model per actor, batched) for the
   ``transformers`` backend, :func:`depth_row` (CPU task) for ``file`` and ``remote``.
   Adds ``depth`` (h, w) float32, ``kind``, ``model_fov`` (degrees, NaN when unknown).
3. :func:`geometry_row` (CPU task): :func:`~depth3d.pipeline.depth_to_geometry`, export, atomic
   write; returns only ``index``, ``input``, ``output``, ``error``.

This module never imports ``ray``: Ray Data calls these functions and the actor class.
"""
from __future__ import annotations

import functools
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..backends import BackendError, BackendSpec, DepthResult, get_backend
from ..errors import Depth3DError
from ..geometry.reconstruct import Options
from ..io.image import Photo
from ..memory import huge_page_hint_off
from ..pipeline import check_result, depth_to_geometry, estimate_depth, find_depth_file, read_input, write_geometry
from .storage import Place, read_bytes, write_bytes

if TYPE_CHECKING:
    from ..exchange.gltf import GltfSettings

__all__ = ["BackendSpec", "DepthActor", "Job", "depth_row", "estimate_photos", "geometry_row",
           "read_photo_row"]

#: What a stage turns into an ``error`` line (as the local batch does), not a failed task.
PHOTO_ERRORS = (Depth3DError, BackendError, OSError, ValueError)


@dataclass(frozen=True)
class Job:
    """What every photo of a run is turned into."""

    options: Options
    fmt: str
    unlit: bool = True
    settings: GltfSettings | None = None  # the target's encoding (glTF, USDZ)


def _message(exc: BaseException, label: str) -> str:
    """The local batch's error wording: the exception's message, prefixed by the file when it
    does not already name it."""
    msg = str(exc) if not isinstance(exc, MemoryError) else "out of memory"
    return msg if label in msg else f"{label}: {msg}"


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _none_if_nan(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


_NO_RGB = np.zeros((0, 0, 3), np.uint8)
_NO_DEPTH = np.zeros((0, 0), np.float32)


@huge_page_hint_off()
def read_photo_row(row: dict[str, Any]) -> dict[str, Any]:
    """Stage 1: the photo's bytes, decoded (every pixel; EXIF orientation applied), and the bytes
    themselves where they can serve as they are (``data``: :attr:`Photo.data`, else empty)."""
    place = Place.parse(row["input"])
    row.update(rgb=_NO_RGB, name=place.stem, exif_fov=math.nan, data=b"")
    try:
        photo = read_input(place.base if place.is_local else read_bytes(place), name=str(place))
        row.update(rgb=photo.rgb, exif_fov=_nan_if_none(photo.fov_deg), data=photo.data or b"")
    except (*PHOTO_ERRORS, MemoryError) as exc:
        row["error"] = _message(exc, str(place))
    return row


def _photo(row: dict[str, Any]) -> Photo:
    place = Place.parse(row["input"])
    return Photo(rgb=np.asarray(row["rgb"]), name=str(row["name"]),
                 path=Path(place.base) if place.is_local else None, data=bytes(row["data"]) or None)


def _with_depth(row: dict[str, Any], depth=_NO_DEPTH, kind: str = "", fov=math.nan) -> dict[str, Any]:
    row.update(depth=depth, kind=kind, model_fov=fov)
    return row


@functools.lru_cache(maxsize=4)
def _backend(name: str, options: tuple[tuple[str, Any], ...]):
    return get_backend(name, **dict(options))


def _file_backend_for(spec: BackendSpec, stem: str):
    depth = Path(spec.depth)
    path = find_depth_file(depth, stem) if depth.is_dir() else depth
    return get_backend("file", path=path, **dict(spec.options))


@huge_page_hint_off()
def depth_row(row: dict[str, Any], spec: BackendSpec) -> dict[str, Any]:
    """Stage 2 for the ``file`` and ``remote`` backends (no model on the worker): a CPU task."""
    if row["error"]:
        return _with_depth(row)
    try:
        photo = _photo(row)
        backend = (_file_backend_for(spec, photo.name) if spec.name == "file"
                   else _backend(spec.name, spec.options))
        result = estimate_depth(photo, backend)
        return _with_depth(row, result.depth, result.kind, _nan_if_none(result.fov_deg))
    except (*PHOTO_ERRORS, MemoryError) as exc:
        row["error"] = _message(exc, str(Place.parse(row["input"])))
        return _with_depth(row)


def estimate_photos(backend, photos: list[Photo]) -> list:
    """One :class:`~depth3d.backends.DepthResult` or :class:`BackendError` per photo (a seam for
    tests): ``backend.estimate_batch`` (one forward pass per group of same-shape inputs), and
    when a batch fails, each photo alone, so that one photo's error stays its own."""
    try:
        return list(backend.estimate_batch(photos))
    except BackendError:
        if len(photos) == 1:
            raise
    results: list = []
    for photo in photos:
        try:
            results.append(backend.estimate(photo))
        except BackendError as exc:
            results.append(exc)
    return results


class DepthActor:
    """Stage 2 for the ``transformers`` backend: one model per actor, loaded once, fed batches.

    Ray Data calls it with a batch (dict of numpy columns; ragged ones are object arrays).
    A model that cannot be loaded fails each photo with its one-line reason.
    """

    def __init__(self, spec: BackendSpec):
        # the transformers backend, whose load() is not part of the DepthBackend protocol
        self.backend: Any = cast(Any, get_backend(spec.name, **dict(spec.options)))
        self.setup_error: str | None = None
        try:
            self.backend.load()
        except (BackendError, Depth3DError, OSError) as exc:
            self.setup_error = str(exc)

    @huge_page_hint_off()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["index"])
        errors = [str(e) for e in batch["error"]]
        labels = [str(Place.parse(str(u))) for u in batch["input"]]
        depth = np.empty(n, dtype=object)
        depth[:] = [_NO_DEPTH] * n
        kinds, fovs = [""] * n, [math.nan] * n
        todo = [i for i in range(n) if not errors[i]]
        if self.setup_error:
            for i in todo:
                errors[i] = _message(BackendError(self.setup_error), labels[i])
            todo = []
        rows = [{k: batch[k][i] for k in ("input", "rgb", "name", "data")} for i in todo]
        photos = [_photo(r) for r in rows]
        try:
            results = estimate_photos(self.backend, photos) if photos else []
        except (*PHOTO_ERRORS, MemoryError) as exc:
            results = [exc] * len(photos)
        for i, photo, result in zip(todo, photos, results):
            try:
                if isinstance(result, BaseException):
                    raise result
                result = check_result(photo, result, labels[i])
                depth[i], kinds[i], fovs[i] = result.depth, result.kind, _nan_if_none(result.fov_deg)
            except (*PHOTO_ERRORS, MemoryError) as exc:
                errors[i] = _message(exc, labels[i])
        batch = dict(batch)
        batch.update(depth=depth, kind=np.array(kinds, dtype=object),
                     model_fov=np.array(fovs, np.float64), error=np.array(errors, dtype=object))
        return batch


def write_place(geometry, out: Place, job: Job) -> None:
    """Stage ``write`` (:func:`~depth3d.pipeline.write_geometry`) to ``out``, atomically:
    straight to the file on a local (or shared) path; through a local temporary file and
    :func:`.storage.write_bytes` elsewhere."""
    if out.is_local:
        write_geometry(geometry, out.base, job.fmt, unlit=job.unlit, settings=job.settings)
        return
    with tempfile.TemporaryDirectory(prefix="depth3d-") as tmp:
        local = os.path.join(tmp, out.name)
        write_geometry(geometry, local, job.fmt, unlit=job.unlit, settings=job.settings)
        with open(local, "rb") as f:
            data = f.read()
    write_bytes(out, data)


@huge_page_hint_off()
def geometry_row(row: dict[str, Any], job: Job) -> dict[str, Any]:
    """Stage 3: geometry, export, write.  Returns the row without its arrays."""
    result = {k: row[k] for k in ("index", "input", "output", "error")}
    if row["error"]:
        return result
    try:
        photo = Photo(rgb=np.asarray(row["rgb"]), name=str(row["name"]), data=bytes(row["data"]) or None,
                      fov_deg=_none_if_nan(row["exif_fov"]))
        depth = DepthResult(np.asarray(row["depth"], np.float32), cast(Any, str(row["kind"])),
                            fov_deg=_none_if_nan(row["model_fov"]))
        geometry = depth_to_geometry(photo, depth, job.options)
        write_place(geometry, Place.parse(row["output"]), job)
    except (*PHOTO_ERRORS, MemoryError) as exc:
        result["error"] = _message(exc, str(Place.parse(row["input"])))
    return result
