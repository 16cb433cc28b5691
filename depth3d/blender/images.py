"""Photos in Blender: image datablocks ↔ :class:`~depth3d.io.image.Photo`.

Blender decodes the file (no Pillow needed); pixels are read with ``foreach_get`` into a
float32 buffer, converted to (H, W, 3) uint8 sRGB and flipped so that row 0 is the top of the
photo (Blender stores rows bottom-up).  EXIF (orientation, focal length) is read by
:mod:`.exif` with the standard library, so a phone photo is upright and its FOV known.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import bpy
import numpy as np

from ..errors import InputError, quote_path
from ..io.image import Photo, apply_orientation, check_header, not_a_file, to_rgb8
from ..io.image_header import (
    JPEG_CUT,
    ImageHeader,
    jpeg_filled,
    jpeg_scans,
    looks_complete,
)
from .exif import read_exif_info

__all__ = ["load_image", "load_photo", "open_photo", "photo_from_image", "image_pixels", "image_path"]


def image_path(image: bpy.types.Image) -> Path | None:
    """Absolute path of the file behind ``image``, or ``None`` (generated, packed-only, missing)."""
    if image.source not in {"FILE", "SEQUENCE", "TILED"} or not image.filepath:
        return None
    path = Path(bpy.path.abspath(image.filepath, library=image.library))
    return path if path.is_file() else None


def image_pixels(image: bpy.types.Image) -> np.ndarray:
    """(H, W, 3) uint8 sRGB pixels of ``image``, row 0 at the top, as Blender decoded them.

    Byte images hold sRGB-encoded values already; float images (EXR, HDR, 16-bit PNG/TIFF)
    hold scene-linear values, encoded to sRGB by :func:`~depth3d.io.image.to_rgb8` (unless marked
    as non-colour data).  Alpha is composited over black, as the core does.
    """
    width, height = image.size
    channels = image.channels
    if width == 0 or height == 0 or channels == 0:
        raise InputError(f"{image.name}: image has no pixels (missing or unreadable file)")
    buf = np.empty(width * height * channels, dtype=np.float32)
    try:
        image.pixels.foreach_get(buf)
    except (RuntimeError, ValueError) as exc:  # pixels unavailable (e.g. render result)
        raise InputError(f"{image.name}: cannot read pixels ({exc})") from None
    pixels = buf.reshape(height, width, channels)[::-1]
    if channels > 4:
        pixels = pixels[:, :, :4]
    if image.is_float and not image.colorspace_settings.is_data:
        return to_rgb8(pixels)  # scene linear → sRGB
    if channels in (1, 2):
        return to_rgb8(np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8))
    # Byte image: values are k/255.  One multiply-add and a cast, no clip/round passes.
    rgb = (pixels[:, :, :3] * np.float32(255.0) + np.float32(0.5)).astype(np.uint8)
    if channels == 4:
        alpha = pixels[:, :, 3]
        if alpha.min() < 1.0:
            a = (alpha * np.float32(255.0) + np.float32(0.5)).astype(np.uint16)
            rgb = (rgb.astype(np.uint16) * a[:, :, None] // 255).astype(np.uint8)
    return rgb


def _encoded_bytes(image: bpy.types.Image) -> bytes | None:
    """The encoded file behind ``image`` (packed or on disk), or ``None``."""
    if image.packed_file is not None:
        return bytes(image.packed_file.data)
    path = image_path(image)
    if path is not None:
        try:
            return path.read_bytes()
        except OSError:
            return None
    return None


def photo_from_image(image: bpy.types.Image, *, data: bytes | None = None) -> Photo:
    """A :class:`Photo` of an image datablock (pixels as shown in Blender, EXIF applied).

    ``data``: the encoded file bytes if already read; otherwise they are taken from the packed
    file or the file on disk.  ``Photo.data`` is left ``None`` when the pixels had to be
    rotated, or when the image was edited in Blender (the bytes would not match).
    """
    rgb = image_pixels(image)
    path = image_path(image)
    if data is None and not image.is_dirty:
        data = _encoded_bytes(image)
    if image.is_dirty:
        data = None
    orientation, fov = 1, None
    if data is not None:
        info = read_exif_info(data)
        orientation = info.orientation
        rgb = apply_orientation(rgb, orientation)
        fov = info.fov_deg(rgb.shape[1], rgb.shape[0])
    name = Path(path).stem if path is not None else Path(image.name).stem or image.name
    return Photo(
        rgb=rgb, name=name, path=path,
        data=data if orientation == 1 else None,
        fov_deg=fov, orientation=orientation,
    )


def check_image_file(path: Path) -> ImageHeader | None:
    """What the core's reader refuses before decoding, refused here too (Blender's loader
    would decode a 65500² header, pad a cut file with grey, or read any file whole): not a
    regular file, not an image format, over :data:`~depth3d.io.image.MAX_PIXELS`, truncated
    (:func:`~depth3d.io.image_header.looks_complete`, which the core's readers apply too)."""
    where = quote_path(path)
    if not path.is_file():
        raise InputError(f"{where}: {not_a_file(path)}")
    try:
        with open(path, "rb") as f:
            header = check_header(f, where)
            if header is not None and not looks_complete(f, header):
                raise InputError(f"{where}: truncated image file")
    except OSError as exc:
        raise InputError(f"{where}: cannot read ({exc.strerror or exc})") from None
    return header


@contextlib.contextmanager
def c_stderr_kept(kept: list[str]) -> Iterator[None]:
    """What C code (Blender's libjpeg) writes on file descriptor 2 meanwhile, put in ``kept``
    (its lines) instead of the terminal: libjpeg says only there that it padded a cut scan.
    Main thread; another thread's output meanwhile is caught with it."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a GUI without console): nothing to catch
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept.extend(sink.read().decode("utf-8", "replace").splitlines())


def load_image(path: str | os.PathLike, *, check_existing: bool = True) -> bpy.types.Image:
    """Load ``path`` as an image datablock; :class:`InputError` when Blender cannot read it, or
    when libjpeg had to pad a JPEG's scan with grey (a file cut short that keeps its end marker:
    the core's reader refuses it too, :mod:`depth3d.io.jpeg_scan`).  libjpeg says so only in a
    warning on C's stderr, caught here (:func:`c_stderr_kept`) to know when to look."""
    path = Path(path)
    header = check_image_file(path)
    said: list[str] = []
    try:
        with c_stderr_kept(said):
            image = bpy.data.images.load(str(path), check_existing=check_existing)
            size = tuple(image.size)  # decodes the pixels now, while libjpeg's words are caught
    except RuntimeError as exc:
        reason = str(exc).split(":", 1)[-1].strip() or "unsupported format"
        raise InputError(f"{path}: not a readable image ({reason})") from None
    # libjpeg warns when a scan stops early (and shows its first warning only): then the file
    # is judged as the core judges it, by decoding it again with filler after its scans
    cut = bool(header is not None and header.format == "jpeg" and said and size[0] and size[1]
               and not _scans_whole(image, path))
    if cut or size[0] == 0 or size[1] == 0:  # refused: its one line says it all
        if image.users == 0:
            bpy.data.images.remove(image)
        raise InputError(f"{quote_path(path)}: {JPEG_CUT}" if cut else f"{path}: not a readable image")
    if said:  # read all the same: what libjpeg (or Blender) said is shown as before
        print("\n".join(said), file=sys.stderr, flush=True)
    return image


def _scans_whole(image: bpy.types.Image, path: Path) -> bool:
    """Whether ``image`` (a JPEG Blender decoded from ``path``) is what the file decodes to with
    filler after each scan (:func:`~depth3d.io.image_header.jpeg_filled`): the core's criterion
    (:mod:`depth3d.io.jpeg_scan`), asked only when libjpeg printed a warning, as it does when a scan
    needs data the file does not hold."""
    data = path.read_bytes()
    scans = jpeg_scans(data)
    if scans is None:
        return True
    filled = jpeg_filled(data, scans)
    other = bpy.data.images.new(".depth3d scan check", 1, 1)
    try:
        with c_stderr_kept([]):
            other.pack(data=filled, data_len=len(filled))
            other.source = "FILE"
            if tuple(other.size) != tuple(image.size) or other.channels != image.channels:
                return False
        mine = np.empty(image.size[0] * image.size[1] * image.channels, np.float32)
        theirs = np.empty_like(mine)
        image.pixels.foreach_get(mine)
        other.pixels.foreach_get(theirs)
        return bool(np.array_equal(mine, theirs))
    finally:
        bpy.data.images.remove(other)


def open_photo(path: str | os.PathLike) -> tuple[Photo, bpy.types.Image]:
    """Load a photo file as an image datablock (reusing one already loaded) and its :class:`Photo`."""
    path = Path(path)
    image = load_image(path, check_existing=True)
    fresh = image.users == 0
    try:
        photo = photo_from_image(image, data=path.read_bytes())
    except BaseException:
        if fresh:
            bpy.data.images.remove(image)
        raise
    photo.path, photo.name = path, path.stem
    return photo, image


def load_photo(path: str | os.PathLike) -> Photo:
    """Read a photo file through Blender into a :class:`Photo` (``Photo.data`` = file bytes).

    The temporary image datablock is removed again (:func:`open_photo` keeps and returns it).
    """
    path = Path(path)
    image = load_image(path, check_existing=False)
    try:
        photo = photo_from_image(image, data=path.read_bytes())
        photo.path, photo.name = path, path.stem
    finally:
        bpy.data.images.remove(image)
    return photo
