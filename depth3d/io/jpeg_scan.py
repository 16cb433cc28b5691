"""Whether a JPEG decoded by Pillow held all of its scan data.

libjpeg pads a scan that stops early (a file cut short, its end-of-image marker kept or added)
with grey and says so only in a warning, which Pillow drops.  Blender prints that warning, and
its reader refuses the file on it (:mod:`depth3d.blender.images`); this module gives the core
the same answer without the warning: the file is decoded a second time with filler put where
each of its scans' data ends (:func:`depth3d.io.image_header.jpeg_filled`).  A whole scan never
reads it, so a complete file decodes to the same pixels; a scan that stops early decodes it
instead of zeros.

That second decode is the price of knowing (about as long as the first; JPEG only); the
photo reader starts it in a thread beside its own decode (:class:`ScanCheck`).
"""
from __future__ import annotations

import io
import threading
from typing import Any

from .image_header import jpeg_filled, jpeg_scans

__all__ = ["ScanCheck", "scan_complete"]


class ScanCheck:
    """:func:`scan_complete`'s second decode of the JPEG ``data``, started at once in a thread of
    its own — Pillow releases the GIL while it decodes, so it runs beside the caller's decode of
    the file itself (a core that would wait meanwhile does it) — and judged by :meth:`complete`.
    Made in the calling thread (the image is opened there: nothing is imported in the thread)."""

    def __init__(self, data: bytes):
        self._other: Any = None  # the filled file, opened; None: data says nothing
        self._failed = False  # the filler broke the decoder
        scans = jpeg_scans(data)
        if scans is None:
            self._thread = None
            return
        from PIL import Image

        try:
            self._other = Image.open(io.BytesIO(jpeg_filled(data, scans)))
        except Exception:  # the filler broke the header's parsing: it was read, so a scan was cut
            self._failed = True
            self._thread = None
            return
        self._thread = threading.Thread(target=self._decode, name="depth3d-jpeg-scan", daemon=True)
        self._thread.start()

    def _decode(self) -> None:
        try:
            self._other.load()
        except Exception:  # the filler broke the decoder: it was read, so the scan was cut
            self._failed = True

    def wait(self) -> None:
        """Wait for the second decode to end (the caller's own decode failed: nothing to judge)."""
        if self._thread is not None:
            self._thread.join()
        if self._other is not None:
            self._other.close()

    def complete(self, im) -> bool:
        """Whether every scan was whole when Pillow decoded the same ``data`` into ``im`` (loaded,
        as decoded: mode L, RGB or CMYK).  ``True`` when ``data`` says nothing (no JPEG, or no
        end-of-image marker: Pillow itself refuses those)."""
        from PIL import ImageChops

        other = self._other
        try:
            if self._thread is not None:
                self._thread.join()
            if self._failed:
                return False
            if other is None:
                return True
            if other.mode != im.mode or other.size != im.size:
                return False
            return ImageChops.difference(other, im).getbbox(alpha_only=False) is None
        except Exception:
            return False
        finally:
            if other is not None:
                other.close()


def scan_complete(data: bytes, im) -> bool:
    """Whether every scan of the JPEG ``data`` was whole when Pillow decoded it into ``im``
    (:meth:`ScanCheck.complete`, the second decode done here)."""
    return ScanCheck(data).complete(im)
