"""Whether a JPEG decoded by Pillow held all of its scan data.

libjpeg pads a scan that stops early (a file cut short, its end-of-image marker kept or added)
with grey and says so only in a warning, which Pillow drops.  Blender prints that warning, and
its reader refuses the file on it (:mod:`depth3d.blender.images`); this module gives the core
the same answer without the warning: the file is decoded a second time with filler put where
each of its scans' data ends (:func:`depth3d.io.image_header.jpeg_filled`).  A whole scan never
reads it, so a complete file decodes to the same pixels; a scan that stops early decodes it
instead of zeros.

That second decode is the price of knowing (about as long as the first; JPEG only).
"""
from __future__ import annotations

import io

from .image_header import jpeg_filled, jpeg_scans

__all__ = ["scan_complete"]


def scan_complete(data: bytes, im) -> bool:
    """Whether every scan of the JPEG ``data`` was whole when Pillow decoded it into ``im``
    (loaded, as decoded: mode L, RGB or CMYK).  ``True`` when ``data`` says nothing
    (no JPEG, or no end-of-image marker: Pillow itself refuses those)."""
    scans = jpeg_scans(data)
    if scans is None:
        return True
    from PIL import Image, ImageChops

    try:
        with Image.open(io.BytesIO(jpeg_filled(data, scans))) as other:
            if other.size != im.size:
                other.draft(im.mode, im.size)
            other.load()
            if other.mode != im.mode or other.size != im.size:
                return False
            return ImageChops.difference(other, im).getbbox(alpha_only=False) is None
    except Exception:  # the filler broke the decoder: it was read, so the scan was cut
        return False
