"""Reading photos: pixels in display orientation plus what EXIF says about the lens.

Formats: JPEG, PNG (8/16-bit, grey, grey+alpha, RGB(A), palette with transparency), TIFF
(8/16-bit, float), WebP, HEIC/HEIF (pillow-heif), BMP, and OpenEXR (linear float, e.g. a
Blender render).  Every pixel is decoded before a photo is returned: a truncated or corrupt
file raises :class:`~depth3d.errors.InputError` with one line naming it, never half a picture.

Pillow (and pillow-heif, OpenEXR) are imported lazily so the Blender side, which reads images
through ``bpy``, never needs them.
"""
from __future__ import annotations

import contextlib
import functools
import io
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, quote_path
from ..geometry.camera import exif_orientation, fov_from_exif
from .depth_io import EXR_MAGIC, exr_size, read_exr
from .image_header import JPEG_CUT, ImageHeader, looks_complete, read_header
from .jpeg_scan import ScanCheck

PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif", ".bmp", ".exr"}
)
MAX_PIXELS = 50_000_000
"""The one pixel budget of a photo or depth map (width × height as its header declares),
judged before decoding: by the CLI, the Blender batch and operator, and the service."""
MAX_ASPECT = 64
"""Longest side over shortest: a 1×65535 strip is no photo."""
# A photo's malformed EXIF (or TIFF tags) is never a reason to refuse it, nor to print Pillow's
# warning about it beside the one line a user reads (a module-level filter: thread-safe, unlike
# catch_warnings).
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"BM", b"\x76\x2f\x31\x01")


@dataclass
class Photo:
    """A photo ready for depth estimation and texturing.

    rgb:      (H, W, 3) uint8, sRGB, row 0 at the top, EXIF orientation applied.
    name:     stem used to name outputs and Blender objects.
    path:     the file it came from, if any.
    data:     the file's encoded bytes when they can be sent as-is: no EXIF rotation needed and
              not EXR (``None`` otherwise: encode ``rgb`` instead).
    fov_deg:  horizontal field of view from EXIF, degrees, or ``None``.
    orientation: the file's EXIF orientation (1–8), already applied to ``rgb``; 1 when none.
    small:    the same picture decoded at a reduced scale for a depth model, or ``None``
              (:func:`depth3d.overlap.decode_small`).
    """

    rgb: np.ndarray
    name: str = "photo"
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)
    fov_deg: float | None = None
    orientation: int = 1
    small: np.ndarray | None = field(default=None, repr=False)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


class ImageTooLarge(InputError):
    """The image has more pixels than allowed; refused from its header, never decoded."""


@functools.cache
def _register_heif() -> None:
    try:
        import pillow_heif
    except ImportError:  # HEIC then reads as "not an image"
        return
    pillow_heif.register_heif_opener()


def to_rgb8(pixels: np.ndarray) -> np.ndarray:
    """Any (H, W), (H, W, 1|2|3|4) uint8/uint16/float array → (H, W, 3) uint8 sRGB.

    Alpha is composited over black; 16-bit is reduced by rounding; float is taken as linear
    (EXR convention), clipped to [0, 1] and encoded to sRGB.
    """
    a = np.asarray(pixels)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"unsupported pixel layout {a.shape}")
    if a.dtype == np.uint8:
        f = None
    elif a.dtype == np.uint16:
        f = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        lin = np.clip(np.nan_to_num(a.astype(np.float32)), 0.0, 1.0)
        f = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.power(lin, 1 / 2.4) - 0.055)
        if a.shape[2] in (2, 4):  # alpha stays linear
            f[:, :, -1] = lin[:, :, -1]
    else:
        raise InputError(f"unsupported pixel type {a.dtype}")
    if f is not None:
        a = np.round(f * 255.0).astype(np.uint8)
    channels = a.shape[2]
    if channels in (2, 4):
        alpha = a[:, :, -1:].astype(np.uint16)
        a = ((a[:, :, :-1].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a)


def read_photo(path: str | Path) -> Photo:
    """Read a photo file (JPEG, PNG, TIFF, WebP, HEIC, BMP; float EXR) into a :class:`Photo`."""
    path = Path(path)
    where = quote_path(path)
    if path.is_dir():
        raise InputError(f"{where}: is a folder, not a photo")
    if not path.is_file():
        raise InputError(f"{where}: {not_a_file(path)}")
    try:
        with open(path, "rb") as f:
            check_header(f, where)  # type and size first: a 3 GB non-image is never read whole
            f.seek(0)
            data = f.read()
    except OSError as exc:
        raise InputError(f"{where}: cannot read ({exc.strerror or exc})") from None
    return read_photo_bytes(data, name=path.stem, path=path, max_pixels=MAX_PIXELS)


def not_a_file(path: Path) -> str:
    """Why ``path``, which is no regular file, cannot be read: in the user's words."""
    if path.is_symlink() and not path.exists():
        return "broken link (its target is missing, or links loop)"
    if path.exists():
        return "not a regular file (a FIFO, socket or device)"
    return "no such file"


def check_header(f, where: str, max_pixels: int = MAX_PIXELS) -> ImageHeader | None:
    """Refuse an open photo file from its first bytes: not an image format depth3d reads, or a
    header declaring more than ``max_pixels`` (:class:`ImageTooLarge`) or no photo's shape."""
    head = f.read(16)
    if not head:
        raise InputError(f"{where}: empty file")
    header = read_header(f)
    if header is None:
        if not (head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
                or head[4:8] == b"ftyp"):
            raise InputError(f"{where}: not an image, or in a format depth3d cannot read")
        return None
    check_size(header.width, header.height, where, max_pixels)
    return header


def check_size(width: int, height: int, where: str, max_pixels: int | None = MAX_PIXELS) -> None:
    """Refuse a ``width`` × ``height`` picture over the pixel budget or of no photo's shape."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(f"{where}: {width}x{height} image exceeds the limit of {max_pixels} pixels")
    if min(width, height) < 1 or max(width, height) > MAX_ASPECT * min(width, height):
        raise InputError(f"{where}: a {width}x{height} image is no photo (sides at most {MAX_ASPECT}:1)")


def read_photo_bytes(
    data: bytes, name: str = "photo", *, path: Path | None = None, max_pixels: int | None = None
) -> Photo:
    """Decode an encoded photo held in memory (any format :func:`read_photo` reads).

    ``name`` becomes :attr:`Photo.name` and, without ``path``, names the photo in errors.
    ``max_pixels``: refuse (:class:`ImageTooLarge`) an image whose header declares more pixels,
    before any pixel is decoded.  Pillow's own decompression-bomb limit
    (``PIL.Image.MAX_IMAGE_PIXELS``) also raises :class:`ImageTooLarge`.
    """
    where = quote_path(path) if path is not None else name
    data = bytes(data)
    if not data:
        raise InputError(f"{where}: empty file")
    header = read_header(io.BytesIO(data))
    if header is not None and not looks_complete(io.BytesIO(data), header):
        raise InputError(f"{where}: truncated image file")  # as Blender's reader says it
    if data[:4] == EXR_MAGIC:
        return Photo(rgb=_decode_exr(data, where, max_pixels), name=name, path=path)
    rgb, exif = _decode_pillow(data, where, max_pixels)
    orientation = exif_orientation(exif)
    rgb = apply_orientation(rgb, orientation)
    return Photo(
        rgb=rgb,
        name=name,
        path=path,
        data=data if orientation == 1 else None,
        fov_deg=fov_from_exif(exif, rgb.shape[1], rgb.shape[0]),
        orientation=orientation,
    )


def _decode_exr(data: bytes, where: str, max_pixels: int | None) -> np.ndarray:
    """EXR bytes → (H, W, 3) uint8 sRGB; alpha is dropped (EXR colour is premultiplied)."""
    if max_pixels is not None:
        try:
            w, h = exr_size(data)
        except (RuntimeError, ValueError, OSError, KeyError):
            w = h = 0  # unreadable header: read_exr below says why
        if w > 0 and h > 0:
            check_size(w, h, where, max_pixels)
    a = read_exr(data, channels="RGBA", name=where)
    return to_rgb8(a[:, :, :3] if a.ndim == 3 else a)


def _decode_pillow(data: bytes, where: str, max_pixels: int | None):
    """Encoded bytes → ((H, W, 3) uint8 as stored, Pillow Exif or None); every pixel decoded."""
    from PIL import Image, UnidentifiedImageError

    _register_heif()
    try:
        with _truncated_images_refused(), Image.open(io.BytesIO(data)) as im:
            check_size(im.width, im.height, where, max_pixels)
            scans = ScanCheck(data) if im.format in ("JPEG", "MPO") else None  # decodes beside
            try:
                im.load()  # the full decode happens here: a truncated file raises now
            except BaseException:
                if scans is not None:
                    scans.wait()
                raise
            if scans is not None and not scans.complete(im):
                raise InputError(f"{where}: {JPEG_CUT}")  # cut, end marker kept: libjpeg padded it
            exif = _exif(im)
            rgb = _pil_to_rgb8(im)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"{where}: {exc}") from None
    except UnidentifiedImageError:
        raise InputError(f"{where}: not an image, or in a format depth3d cannot read") from None
    except MemoryError:
        raise
    except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, struct.error...
        raise InputError(f"{where}: {_decode_failure(exc)}") from None
    return rgb, exif


def _decode_failure(exc: Exception) -> str:
    text = " ".join(str(exc).split())[:200] or type(exc).__name__
    if text.startswith("image file is truncated"):  # Pillow's words
        return "truncated image file" + text[len("image file is truncated"):]
    if "truncated" in text.lower() or "end of file" in text.lower():
        return f"truncated image file ({text})"
    return f"corrupt or truncated image ({text})"


_TRUNCATION_FLAG_LOCK = threading.Lock()


@contextlib.contextmanager
def _truncated_images_refused() -> Iterator[None]:
    """Make sure Pillow raises on truncated data even if someone set LOAD_TRUNCATED_IMAGES."""
    from PIL import ImageFile

    if not ImageFile.LOAD_TRUNCATED_IMAGES:
        yield
        return
    with _TRUNCATION_FLAG_LOCK:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = True


def _exif(im):
    """The image's EXIF, or ``None`` when it is malformed (never a reason to refuse a photo)."""
    try:
        return im.getexif()
    except Exception:
        return None


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """(H, W, ...) pixels as stored → as displayed, for EXIF orientation 1..8.

    The EXIF definitions: where stored row 0 / column 0 sit in the displayed picture —
    1 top/left, 2 top/right, 3 bottom/right, 4 bottom/left, 5 left/top, 6 right/top,
    7 right/bottom, 8 left/bottom.  5..8 swap width and height.
    """
    a = pixels
    if orientation in (5, 6, 7, 8):
        a = a.swapaxes(0, 1)
    flip_rows, flip_cols = {
        2: (False, True), 3: (True, True), 4: (True, False),
        6: (False, True), 7: (True, True), 8: (True, False),
    }.get(orientation, (False, False))
    if flip_rows:
        a = a[::-1]
    if flip_cols:
        a = a[:, ::-1]
    return np.ascontiguousarray(a)


def _pil_to_rgb8(im) -> np.ndarray:
    """A Pillow image of any mode → (H, W, 3) uint8 (16-bit grey and float kept precise)."""
    mode = im.mode
    if mode in ("L", "RGB") and "transparency" in im.info:  # tRNS colour key
        im, mode = im.convert("RGBA"), "RGBA"
    if mode.startswith("I;16") or mode == "I":
        return to_rgb8(np.clip(np.asarray(im), 0, 65535).astype(np.uint16))
    if mode == "F":
        return to_rgb8(np.asarray(im))
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in mode or "a" in mode else "RGB")
    return to_rgb8(np.asarray(im))
