"""Photo → depth → geometry → file: the one pipeline every frontend runs.

Its stages (:data:`STAGES`), each a plain function here:

1. ``read``: :func:`read_input`, a photo file (or its bytes) decoded → :class:`~depth3d.io.image.Photo`;
2. ``depth``: :func:`estimate_depth`, the backend's depth, checked → :class:`~depth3d.backends.DepthResult`;
3. ``geometry``: :func:`depth_to_geometry`, :func:`~depth3d.geometry.reconstruct.reconstruct` → ``Geometry``;
4. ``write``: :func:`write_geometry`, the file written atomically (:func:`~depth3d.exchange.export`).

:func:`run_photo` (depth and geometry of a decoded photo) and :func:`convert_photo_file` (all
four) chain them with a ``progress(stage, fraction)`` callback and a cancel check (a callable
returning ``True``, or a :class:`threading.Event`), tested before each stage: a cancelled run
raises :class:`Cancelled` and writes nothing.  The frontends take what they need: the CLI's
batch (:mod:`depth3d.overlap` runs the stages of the next photos ahead, :mod:`depth3d.batch`
runs the inputs), the Blender operator and batch (Blender reads the photo and builds the
objects; :func:`run_photo` in between), the Ray batch (:mod:`depth3d.cluster.stages`, one Ray
stage per pipeline stage), the service (``read`` and the backend call of ``depth``).
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from .backends import DepthBackend, DepthResult
from .errors import Depth3DError, InputError, quote_path
from .geometry.depth import check_aspect, check_depth
from .geometry.reconstruct import Geometry, Options, reconstruct
from .geometry.types import TextureFile
from .io.depth_io import DEPTH_SUFFIXES
from .io.image import PHOTO_SUFFIXES, Photo, read_photo, read_photo_bytes

__all__ = [
    "STAGES", "CancelCheck", "Cancelled", "Converted", "ProgressCallback", "Reconstruction", "Stage",
    "StageRun", "check_result", "convert_file", "convert_photo_file", "depth_to_geometry", "estimate_depth",
    "expand_inputs", "find_depth_file", "infill_warning", "photo_to_geometry", "read_input", "run_backend",
    "run_photo", "stage_spans", "summary", "write_geometry",
]


# --------------------------------------------------------------------------- stages, progress, cancel


class Stage(NamedTuple):
    """One step of the pipeline: its ``name``, what a progress display calls it (``label``) and
    its share of a typical run's time (``weight``, for the progress fraction)."""

    name: str
    label: str
    weight: float


STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("read", "reading photo", 0.05),
    Stage("depth", "estimating depth", 0.70),
    Stage("geometry", "building geometry", 0.20),
    Stage("write", "writing", 0.05),
)}
"""The stages in their order, by name."""

ProgressCallback = Callable[[str, float], None]
"""``progress(stage, fraction)``: ``stage`` (a name of :data:`STAGES`) starts, ``fraction`` (0…1)
of the run is done; after the last stage once more with its name and 1.0."""

CancelCheck = Callable[[], bool] | threading.Event
"""Asked before each stage whether to stop: a callable returning ``True``, or an event that is set."""


class Cancelled(Depth3DError):
    """The cancel check asked to stop before ``stage`` began; nothing was written."""

    def __init__(self, stage: str):
        super().__init__(f"cancelled before {STAGES[stage].label}")
        self.stage = stage


def stage_spans(stages: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Stage name → (fraction of a run through ``stages`` done when it starts, when it ends),
    by the stages' weights (``stage_spans(["depth", "geometry"])["geometry"]`` is about (0.78, 1.0))."""
    weights = [STAGES[name].weight for name in stages]
    ends = [w / sum(weights) for w in itertools.accumulate(weights)]
    return {name: (start, end) for name, start, end in zip(stages, [0.0, *ends[:-1]], ends)}


class StageRun:
    """Progress and cancel for one pass through ``stages`` (names of :data:`STAGES`, in order).

    Call :meth:`enter` as each stage starts (it raises :class:`Cancelled` when the cancel check
    says so) and :meth:`done` at the end.
    """

    def __init__(self, stages: Sequence[str], progress: ProgressCallback | None = None,
                 cancel: CancelCheck | None = None):
        self.stages = tuple(stages)
        self.spans = stage_spans(self.stages)
        self.progress = progress
        self.cancelled = cancel.is_set if isinstance(cancel, threading.Event) else cancel

    def enter(self, stage: str) -> None:
        """``stage`` starts: stop here if cancelled, else report its starting fraction."""
        if self.cancelled is not None and self.cancelled():
            raise Cancelled(stage)
        if self.progress is not None:
            self.progress(stage, self.spans[stage][0])

    def done(self) -> None:
        """The last stage finished: report 1.0."""
        if self.progress is not None:
            self.progress(self.stages[-1], 1.0)


# --------------------------------------------------------------------------- the stages


def read_input(source: str | Path | bytes, name: str = "photo", max_pixels: int | None = None) -> Photo:
    """Stage ``read``: a photo file (within :data:`~depth3d.io.image.MAX_PIXELS`), or a photo's
    encoded bytes (named ``name`` in errors; ``max_pixels``: see
    :func:`~depth3d.io.image.read_photo_bytes`) → :class:`Photo`."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return read_photo_bytes(bytes(source), name=name, max_pixels=max_pixels)
    return read_photo(source)


def run_backend(photo: Photo, backend: DepthBackend, size: tuple[int, int] | None = None) -> DepthResult:
    """The backend's depth for ``photo``, as it gives it (unchecked: :func:`check_result`).

    size: (width, height) the depth is wanted at, for a backend that can give it (``takes_size``:
    a model resamples its output there instead of to the photo's size); others ignore it.
    """
    if size is not None and getattr(backend, "takes_size", False):
        return backend.estimate(photo, size)  # type: ignore[call-arg]  # a takes_size backend
    return backend.estimate(photo)


def check_result(photo: Photo, result: DepthResult, label: str | None = None) -> DepthResult:
    """``result`` with its depth checked (finite, 2-D, not a constant relative map: an
    :class:`InputError` naming ``label``, default the photo's file or name) and of ``photo``'s aspect."""
    label = label or str(photo.path or photo.name)
    result.depth = check_depth(result.depth, label, result.kind)
    check_aspect(result.depth, photo.width, photo.height, label)
    return result


def estimate_depth(photo: Photo, backend: DepthBackend, size: tuple[int, int] | None = None) -> DepthResult:
    """Stage ``depth``: run ``backend`` on ``photo`` (:func:`run_backend`, ``size`` there) and
    validate the result (:func:`check_result`: finite, not constant, same aspect)."""
    return check_result(photo, run_backend(photo, backend, size))


def depth_to_geometry(photo: Photo, result: DepthResult, options: Options) -> Geometry:
    """Stage ``geometry``: :func:`~depth3d.geometry.reconstruct.reconstruct` of ``photo`` with its depth
    ``result`` (the FOV: ``options.fov``, else the model's, else the photo's EXIF, else 55°),
    carrying the photo's file as its texture's (:attr:`Geometry.texture_data`) where it has one."""
    geometry = reconstruct(
        photo.rgb, result.depth, result.kind, options,
        model_fov=result.fov_deg, exif_fov=photo.fov_deg, name=photo.name,
    )
    if photo.data is not None:
        geometry.texture_file = TextureFile(photo.rgb, photo.data)
    return geometry


def write_geometry(geometry: Geometry, out_path: str | Path, fmt: str | None = None, unlit: bool = True,
                   settings=None) -> Path:
    """Stage ``write``: ``geometry`` to ``out_path`` in ``fmt`` (default: its suffix), atomically
    (:func:`~depth3d.exchange.export`; ``settings``: a glTF/USDZ target's encoding); the path."""
    from .exchange import export

    return export(geometry, out_path, fmt, unlit=unlit, settings=settings)


# --------------------------------------------------------------------------- the runs


class Reconstruction(NamedTuple):
    """What :func:`run_photo` made: the backend's checked ``depth`` and the ``geometry`` built on it."""

    depth: DepthResult
    geometry: Geometry


def _depth_and_geometry(run: StageRun, photo: Photo, backend: DepthBackend, options: Options,
                        size: tuple[int, int] | None = None) -> Reconstruction:
    run.enter("depth")
    result = estimate_depth(photo, backend, size)
    run.enter("geometry")
    return Reconstruction(result, depth_to_geometry(photo, result, options))


def run_photo(
    photo: Photo, backend: DepthBackend, options: Options, *, size: tuple[int, int] | None = None,
    progress: ProgressCallback | None = None, cancel: CancelCheck | None = None,
) -> Reconstruction:
    """Stages ``depth`` and ``geometry`` for a decoded ``photo`` (``size``: see
    :func:`run_backend`), with ``progress`` reported and ``cancel`` checked before each."""
    run = StageRun(("depth", "geometry"), progress, cancel)
    made = _depth_and_geometry(run, photo, backend, options, size)
    run.done()
    return made


def photo_to_geometry(photo: Photo, backend: DepthBackend, options: Options) -> Geometry:
    """Depth for ``photo`` from ``backend``, then :func:`reconstruct` (:func:`run_photo`'s geometry)."""
    return run_photo(photo, backend, options).geometry


class Converted(NamedTuple):
    """What :func:`convert_photo_file` wrote: the output ``path`` and the ``geometry`` in it."""

    path: Path
    geometry: Geometry


def convert_photo_file(
    photo_path: str | Path, out_path: str | Path, backend: DepthBackend, options: Options,
    fmt: str | None = None, unlit: bool = True, settings=None,
    warn: Callable[[str], None] | None = None, *,
    progress: ProgressCallback | None = None, cancel: CancelCheck | None = None,
) -> Converted:
    """All four stages: read ``photo_path``, depth, geometry, write ``out_path`` atomically
    (``settings``: see :func:`convert_file`), with ``progress`` reported and ``cancel`` checked
    before each stage (:class:`Cancelled`: no file written).

    ``warn``: called with one ``warning: <file>: <note>`` line when in-fill was asked for and
    skipped (:mod:`depth3d.geometry.infill`)."""
    run = StageRun(tuple(STAGES), progress, cancel)
    run.enter("read")
    photo = read_input(photo_path)
    geometry = _depth_and_geometry(run, photo, backend, options).geometry
    del photo  # the photo and its depth are not written: freed before the export
    warning = infill_warning(photo_path, geometry)
    if warn is not None and warning:
        warn(warning)
    run.enter("write")
    path = write_geometry(geometry, out_path, fmt, unlit=unlit, settings=settings)
    run.done()
    return Converted(path, geometry)


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
    """``warning: <file>: <note>`` when in-fill was asked for and skipped (:mod:`depth3d.geometry.infill`)."""
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

    An entry that is not a readable regular file (a broken link, a link loop, a FIFO, one in a
    folder that can be listed but not entered) is kept, so that the batch says why it is
    skipped instead of passing over it in silence.  A folder that cannot be listed is an
    ``OSError`` before the batch starts: which photos it holds is not known.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend(sorted(p for p in item.iterdir() if p.suffix.lower() in suffixes and not _is_folder(p)))
        else:
            found.append(item)
    return found


def _is_folder(path: Path) -> bool:
    """``path.is_dir()``, False where it cannot be told (a folder that may not be entered)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def find_depth_file(folder: Path, stem: str) -> Path:
    """The depth map for photo ``stem`` in ``folder`` (``<stem>.npy`` / .exr / .pfm / .png / .tif)."""
    for suffix in DEPTH_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    raise InputError(f"{folder}: no depth file for {stem!r} (looked for {', '.join(DEPTH_SUFFIXES)})")
