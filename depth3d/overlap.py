"""Several photos at once: decoding, depth, geometry and export of different photos overlap.

``depth3d convert`` on a folder runs each photo through stages — decode, depth, then geometry
and export — which numpy, Pillow and torch run with the GIL released.  :class:`Ahead` runs the
early stages of the next photos in background threads (one thread per stage, photos in order)
while the caller finishes the current one, so the model works on photo n + 1 while photo n is
meshed and written.  Its ``work(path)`` keeps the one-input-at-a-time contract of the CLI's
batch loop: it returns photo ``path``'s result or raises photo ``path``'s error, never another's.

Nothing is imported in a background thread: :func:`prepare_imports` imports what decoding
imports lazily — so decoding starts in a thread at once, while the calling thread loads the
model — and each later stage runs for the first time in the calling (main) thread before any
photo's stage is handed to a thread.
"""
from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .backends import DepthBackend, DepthResult
from .geometry.grid import grid_shape
from .geometry.reconstruct import FINE_BELOW, FINE_FACTOR, Geometry, Options
from .io.image import Photo, _register_heif, apply_orientation
from .pipeline import depth_to_geometry, estimate_depth, read_input

__all__ = ["Ahead", "add_small", "convert_work", "decode_small", "depth_size", "prepare_imports"]

LOOKAHEAD = 2  # photos whose early stages may run ahead of the current one
DECODE_AHEAD = 4
"""Photos that may be decoded ahead of the current one: more than LOOKAHEAD, so that the core
left idle while the model loads (imports and weights: seconds of one core) decodes the photos
that would otherwise be decoded later beside the model and the geometry (≈ 40 MB each at 12 MP)."""


def prepare_imports() -> None:
    """Import, in the calling thread, the modules that decoding photos and depth files imports
    on first use (Pillow's format plugins, HEIF support, OpenEXR, the file backend)."""
    from PIL import Image, ImageFile, PngImagePlugin  # noqa: F401

    from .backends import file, remote  # noqa: F401

    Image.init()
    _register_heif()
    try:
        import OpenEXR  # noqa: F401
    except ImportError:
        pass


def depth_size(width: int, height: int, options: Options) -> tuple[int, int] | None:
    """(width, height) of the depth map the geometry of a ``width`` × ``height`` photo needs:
    its vertex grid, or the finer grid that finds a coarse grid's edges
    (:func:`~depth3d.geometry.reconstruct.grid_disparity`); ``None`` for the photo's own size."""
    nx, ny = grid_shape(width, height, options.resolution)
    if options.edge_threshold > 0 and max(nx, ny) < FINE_BELOW:
        nx, ny = FINE_FACTOR * (nx - 1) + 1, FINE_FACTOR * (ny - 1) + 1
    if nx >= width or ny >= height:
        return None
    return nx, ny


def decode_small(photo: Photo, short_side: int) -> np.ndarray | None:
    """``photo`` decoded again at the smallest JPEG scale (1/2, 1/4, 1/8: the decoder's own DCT
    scaling, Pillow's ``draft``) whose short side is still ``short_side`` or more, in display
    orientation: (h, w, 3) uint8.  ``None`` when it is no JPEG, or no such scale is smaller."""
    from PIL import Image

    if photo.data is not None:
        data = photo.data
    elif photo.path is not None:
        data = photo.path.read_bytes()
    else:
        return None
    if data[:2] != b"\xff\xd8":
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            scale = 1
            while scale < 8 and min(im.size) // (2 * scale) >= short_side:
                scale *= 2
            if scale == 1:
                return None
            im.draft("RGB", (im.width // scale, im.height // scale))
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError):  # it decoded in full before: keep that one
        return None
    return apply_orientation(rgb, photo.orientation)


def add_small(photo: Photo, backend: DepthBackend, size: tuple[int, int] | None) -> None:
    """Set ``photo.small`` to the reduced decode a model (``backend.small_side``) takes when
    its depth is wanted at ``size`` (width, height), below the photo's size both ways; else
    leave it as it is."""
    if size is None or size[0] >= photo.width or size[1] >= photo.height:
        return
    side = getattr(backend, "small_side", lambda: None)()
    if side:
        photo.small = decode_small(photo, side)


class Ahead:
    """``work(path)`` for a batch loop over ``inputs`` (in their order) that runs ``stages[k]``
    (each takes the previous stage's result, the first the path) for the next LOOKAHEAD inputs
    in background threads, and ``finish(path, result)`` for ``path`` in the calling thread.

    A stage runs in a thread only once it has succeeded in the calling thread for some input,
    except the first ``threaded`` stages (whose lazy imports the caller has made): those start
    at once, for the first ``lookahead`` inputs, while the caller goes on (e.g. loading a model).
    ``first_lookahead`` (at least ``lookahead``): how many inputs the first stage alone may run
    ahead.  Use as a context manager, or call :meth:`close`, to stop the threads.
    """

    def __init__(self, inputs: Sequence[Path], stages: Sequence[Callable[[Any], Any]],
                 finish: Callable[[Path, Any], Any], lookahead: int = LOOKAHEAD, threaded: int = 0,
                 first_lookahead: int | None = None) -> None:
        self.inputs = list(inputs)
        self.stages, self.finish, self.lookahead = list(stages), finish, lookahead
        self.first_lookahead = max(lookahead, first_lookahead or lookahead)
        self._order = {path: n for n, path in enumerate(self.inputs)}
        self._pools = [ThreadPoolExecutor(1, thread_name_prefix=f"depth3d-stage{k}") for k in range(len(stages))]
        self._futures: dict[int, list[Future]] = {}  # input → futures of its first stages
        self._warm = [k < threaded for k in range(len(stages))]  # stage k may run in a thread
        self._submit(-1)

    def __call__(self, path: Path) -> Any:
        n = self._order[path]
        futures = self._futures.pop(n, [])
        value: Any = path
        if futures:
            value = futures[-1].result()  # raises this input's error from any stage so far
        for k in range(len(futures), len(self.stages)):
            value = self.stages[k](value)
            self._warm[k] = True
            self._submit(n)  # the next inputs' stage k may start now
        self._submit(n)
        held = [value]
        del value  # finish holds the only reference: it may drop what it is done with
        return self.finish(path, held.pop())

    def _submit(self, n: int) -> None:
        """Hand the warm stages of inputs n + 1 … n + lookahead to the threads, and the first
        stage of those up to n + first_lookahead."""
        for m in range(n + 1, min(len(self.inputs), n + 1 + self.first_lookahead)):
            futures = self._futures.setdefault(m, [])
            count = len(self.stages) if m <= n + self.lookahead else 1
            while len(futures) < count and self._warm[len(futures)]:
                k = len(futures)
                if k == 0:
                    futures.append(self._pools[0].submit(self.stages[0], self.inputs[m]))
                else:
                    futures.append(self._pools[k].submit(_after, futures[-1], self.stages[k]))

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _after(previous: Future, stage: Callable[[Any], Any]) -> Any:
    return stage(previous.result())


def convert_work(inputs: Sequence[Path], make_backends: Callable[[], Callable[[Path], DepthBackend]],
                 options: Options, write: Callable[[Path, Geometry], Any]) -> Ahead:
    """The CLI's ``convert`` as an :class:`Ahead`: decode (in a thread from the start) → depth
    at the size the geometry needs (for a model, from a reduced decode of the photo) → geometry
    and ``write(path, geometry)`` in the calling thread.

    ``make_backends()`` gives the function ``photo path → backend``; it runs in the calling
    thread while the first photos decode: loading a model (torch's and transformers' imports,
    seconds of one core) leaves the other cores to them."""
    backend_for: Callable[[Path], DepthBackend] | None = None

    def decode(path: Path) -> Photo:
        photo = read_input(path)
        if backend_for is not None:  # the model is there: its input too, off the model's thread
            add_small(photo, backend_for(path), depth_size(photo.width, photo.height, options))
        return photo

    def depth(photo: Photo) -> tuple[Photo, DepthResult]:
        assert backend_for is not None and photo.path is not None  # made before the first call
        backend = backend_for(photo.path)
        size = depth_size(photo.width, photo.height, options)
        if photo.small is None:  # decoded before the model was there
            add_small(photo, backend, size)
        if hasattr(backend, "spare_cores"):  # a model on the CPU: all cores unless it shares them
            backend.spare_cores = spare_cores()
        result = estimate_depth(photo, backend, size)
        photo.small = None  # done with it
        return photo, result

    def finish(path: Path, value: tuple[Photo, DepthResult]) -> Any:
        photo, result = value
        del value
        geometry = depth_to_geometry(photo, result, options)
        del photo, result  # the depth map is not written: freed before the export
        return write(path, geometry)

    def spare_cores() -> int:
        """In a stage thread the model runs beside the calling thread's geometry and export of
        the photo before: one core is theirs.  In the calling thread (the first photo, or one
        whose stage has not yet succeeded) nothing of ours but decoding runs beside it."""
        return int(threading.current_thread() is not caller)

    caller = threading.current_thread()
    prepare_imports()  # what decoding imports, so that it may start in a thread
    # one photo: no thread (nothing to overlap it with but the model's loading)
    ahead = Ahead(inputs, [decode, depth], finish, threaded=int(len(inputs) > 1), first_lookahead=DECODE_AHEAD)
    try:
        backend_for = make_backends()
    except BaseException:
        ahead.close()
        raise
    return ahead
