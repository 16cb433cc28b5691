"""Whether a JPEG decoded by Pillow held all of its scan data.

libjpeg pads a scan that stops early (a file cut short, its end-of-image marker kept or added)
with grey and says so only in a warning, which Pillow drops.  Blender prints that warning, and
its reader refuses the file on it (:mod:`depth3d.blender.images`); this module gives the core
the same answer without the warning: the file is decoded a second time with bytes put where its
last scan's data ends (:func:`depth3d.image_header.jpeg_scans`).  A whole scan never reads
them (libjpeg skips anything between a finished scan and the next marker), so a complete file
decodes to the same pixels; a scan that stops early decodes them instead of grey.

That second decode is the price of knowing (about as long as the first; JPEG only).
"""
from __future__ import annotations

import io
import random

from .image_header import jpeg_scans

__all__ = ["scan_complete"]

_FILLER = b"\xaa" + random.Random(0x1D3).randbytes(2047).replace(b"\xff", b"\x5a")
"""Bytes a scan that stops early decodes instead of the zero bits libjpeg gives it: no 0xFF (no
marker among them), and a first bit of 1, so that the very first missing bit differs."""


def scan_complete(data: bytes, im) -> bool:
    """Whether every scan of the JPEG ``data`` was whole when Pillow decoded it into ``im``
    (loaded, as decoded: mode L, RGB or CMYK).  ``True`` when ``data`` says nothing
    (no JPEG, or no end-of-image marker: Pillow itself refuses those)."""
    scans = jpeg_scans(data)
    if scans is None:
        return True
    from PIL import Image, ImageChops

    filled = data[:scans.end] + _FILLER + data[scans.end:]
    try:
        with Image.open(io.BytesIO(filled)) as other:
            if other.size != im.size:
                other.draft(im.mode, im.size)
            other.load()
            if other.mode != im.mode or other.size != im.size:
                return False
            return ImageChops.difference(other, im).getbbox(alpha_only=False) is None
    except Exception:  # the filler broke the decoder: it was read, so the scan was cut
        return False
