"""The one small interface every depth backend implements.

A backend turns a photo into a depth map.  It never touches geometry or files of
its own making: the pipeline decides what to do with the result.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from ..errors import Depth3DError
from ..io.image import Photo

DepthKind = Literal["depth", "disparity"]


class BackendError(Depth3DError, RuntimeError):
    """A backend could not produce depth; the message is meant for the user.

    A :class:`~depth3d.errors.Depth3DError` (and, as before, a RuntimeError)."""


@dataclass
class DepthResult:
    """Depth for one photo.

    depth:   (H, W) float32, finite.  ``kind == "depth"``: planar metric depth along the
             camera axis in metres.  ``kind == "disparity"``: relative inverse depth, larger is
             nearer, arbitrary affine scale (normalised later by :mod:`depth3d.geometry.depth`).
    kind:    which of the two the values are.
    fov_deg: the model's own horizontal FOV estimate in degrees, or ``None``.
    model:   identifier of what produced it (hub id, folder, file path, server URL).
    """

    depth: np.ndarray
    kind: DepthKind
    fov_deg: float | None = None
    model: str = ""


@runtime_checkable
class DepthBackend(Protocol):
    """Anything with ``name`` and ``estimate(photo) -> DepthResult``."""

    name: str

    def estimate(self, photo: Photo) -> DepthResult:
        ...
