"""The photo's camera as a glTF perspective camera, so a viewer can start at the photo's viewpoint.

glTF cameras look down their node's −Z with +Y up: our camera frame (:mod:`depth3d.geometry.camera`),
so the node needs no rotation.  ``yfov`` is the vertical FOV that the horizontal FOV and the
photo's aspect give; ``aspectRatio`` is width / height.  A perspective geometry is seen from the
origin; a relief (a plane of width 1 in z = 0) from the distance where its width fills the
horizontal FOV.
"""
from __future__ import annotations

import math

from ...geometry.camera import Camera
from .buffer import Document

__all__ = ["ZNEAR", "add_camera", "camera_translation"]

ZNEAR = 0.01  # metres, as the Blender camera's clip start


def camera_translation(camera: Camera, projection: str = "perspective") -> list[float]:
    """Where the camera node sits, in the geometry's frame."""
    if projection == "relief":
        return [0.0, 0.0, 0.5 / camera.tan_half_x]
    return [0.0, 0.0, 0.0]


def add_camera(doc: Document, camera: Camera, name: str, projection: str = "perspective") -> int:
    """A camera and its node; the node's index."""
    index = doc.add("cameras", {"name": name, "type": "perspective", "perspective": {
        "yfov": math.radians(camera.fov_y_deg), "aspectRatio": camera.aspect, "znear": ZNEAR,
    }})
    node = {"name": name, "camera": index}
    translation = camera_translation(camera, projection)
    if any(translation):
        node["translation"] = translation
    return doc.add("nodes", node)
