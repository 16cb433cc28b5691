"""Reading photos: pixels in display orientation plus what EXIF says about the lens.

Pillow (and pillow-heif for HEIC) are imported lazily so the Blender side, which reads
images through ``bpy``, never needs them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .camera import fov_from_exif
from .errors import InputError

PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif", ".bmp", ".exr"}
)


@dataclass
class Photo:
    """A photo ready for depth estimation and texturing.

    rgb:      (H, W, 3) uint8, sRGB, row 0 at the top, EXIF orientation applied.
    name:     stem used to name outputs and Blender objects.
    path:     the file it came from, if any.
    data:     the file's encoded bytes when they can be sent as-is (no EXIF rotation needed).
    fov_deg:  horizontal field of view from EXIF, degrees, or ``None``.
    """

    rgb: np.ndarray
    name: str = "photo"
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)
    fov_deg: float | None = None

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def _register_heif() -> None:
    try:
        import pillow_heif
    except ImportError:  # HEIC then reads as "not an image"
        return
    pillow_heif.register_heif_opener()


def to_rgb8(pixels: np.ndarray) -> np.ndarray:
    """Any (H, W), (H, W, 1|2|3|4) uint8/uint16/float array → (H, W, 3) uint8 sRGB.

    Alpha is composited over black; 16-bit is reduced by rounding; float is taken as linear
    (EXR convention) and encoded to sRGB.
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
        a = (a[:, :, :-1].astype(np.uint16) * alpha // 255).astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a)


def read_photo(path: str | Path) -> Photo:
    """Read a photo file (JPEG, PNG, TIFF, WebP, HEIC, BMP; float EXR) into a :class:`Photo`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    if path.suffix.lower() == ".exr":
        from .depth_io import read_exr

        return Photo(rgb=to_rgb8(read_exr(path, channels="RGBA")), name=path.stem, path=path)
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_heif()
    data = path.read_bytes()
    try:
        import io

        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif()
            oriented = ImageOps.exif_transpose(im)
            rgb = _pil_to_rgb8(oriented)
            width, height = oriented.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from None
    rotated = int(exif.get(0x0112, 1) or 1) != 1
    return Photo(
        rgb=rgb,
        name=path.stem,
        path=path,
        data=None if rotated else data,
        fov_deg=fov_from_exif(exif, width, height),
    )


def _pil_to_rgb8(im) -> np.ndarray:
    """A Pillow image of any mode → (H, W, 3) uint8."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im)
        return to_rgb8(a.astype(np.uint16) if a.dtype != np.uint16 else a)
    if im.mode == "F":
        return to_rgb8(np.asarray(im))
    if im.mode == "P":
        im = im.convert("RGBA")
    elif im.mode in ("LA", "RGBA"):
        pass
    elif im.mode not in ("L", "RGB"):
        im = im.convert("RGBA" if "A" in im.mode else "RGB")
    return to_rgb8(np.asarray(im))
