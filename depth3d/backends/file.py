"""The ``file`` backend: a precomputed depth map from a phone, a renderer or another tool.

Formats and channel rules: :mod:`depth3d.io.depth_io`.  Values are returned as stored; their
units (metres, millimetres, arbitrary disparity) are for the caller's ``--scale``/``--shift``.
"""
from __future__ import annotations

from pathlib import Path

from ..geometry.depth import check_aspect
from ..io.depth_io import read_depth
from ..io.image import Photo
from .base import BackendError, DepthKind, DepthResult

DEPTH_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}
"""Units a depth file's values may be in, and their size in metres."""


def in_metres(depth, unit: str):
    """``depth`` values in ``unit`` (:data:`DEPTH_UNITS`) → metres (float32)."""
    factor = DEPTH_UNITS[unit]
    return depth if factor == 1.0 else depth * depth.dtype.type(factor)


class FileBackend:
    """Depth read from ``path``; ``kind`` says whether it holds depth or disparity, ``unit``
    what one unit of stored depth is (m, cm, mm: :data:`DEPTH_UNITS`); results are in metres."""

    name = "file"

    def __init__(self, path: str | Path, kind: DepthKind = "depth", unit: str = "m"):
        if kind not in ("depth", "disparity"):
            raise BackendError(f"depth kind must be 'depth' or 'disparity', not {kind!r}")
        if unit not in DEPTH_UNITS:
            raise BackendError(f"depth unit must be one of {', '.join(DEPTH_UNITS)}, not {unit!r}")
        self.path = Path(path)
        self.kind: DepthKind = kind
        self.unit = unit

    def estimate(self, photo: Photo) -> DepthResult:
        """(H', W') float32 depth as stored, any resolution with the photo's aspect ratio (±1 %).

        Raises InputError for an unreadable file or a mismatched shape; finiteness and
        constancy are checked centrally by :func:`depth3d.geometry.depth.check_depth`.
        """
        depth = read_depth(self.path)
        if self.kind == "depth":
            depth = in_metres(depth, self.unit)
        check_aspect(depth, photo.width, photo.height, str(self.path))
        return DepthResult(depth=depth, kind=self.kind, fov_deg=None, model=str(self.path))
