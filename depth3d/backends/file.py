"""The ``file`` backend: a precomputed depth map from a phone, a renderer or another tool.

Formats and channel rules: :mod:`depth3d.depth_io`.  Values are returned as stored; their
units (metres, millimetres, arbitrary disparity) are for the caller's ``--scale``/``--shift``.
"""
from __future__ import annotations

from pathlib import Path

from ..depth import check_aspect
from ..depth_io import read_depth
from ..image import Photo
from .base import BackendError, DepthKind, DepthResult

class FileBackend:
    """Depth read from ``path``; ``kind`` says whether it holds depth or disparity."""

    name = "file"

    def __init__(self, path: str | Path, kind: DepthKind = "depth"):
        if kind not in ("depth", "disparity"):
            raise BackendError(f"depth kind must be 'depth' or 'disparity', not {kind!r}")
        self.path = Path(path)
        self.kind: DepthKind = kind

    def estimate(self, photo: Photo) -> DepthResult:
        """(H', W') float32 depth as stored, any resolution with the photo's aspect ratio (±1 %).

        Raises InputError for an unreadable file or a mismatched shape; finiteness and
        constancy are checked centrally by :func:`depth3d.depth.check_depth`.
        """
        depth = read_depth(self.path)
        check_aspect(depth, photo.width, photo.height, str(self.path))
        return DepthResult(depth=depth, kind=self.kind, fov_deg=None, model=str(self.path))
