"""Geometry → trimesh objects, the one place where trimesh meets our arrays."""
from __future__ import annotations

import functools

import numpy as np

from ..geometry.reconstruct import Geometry

MAX_TEXTURE_SIZE = 8192  # long side; larger photos are downscaled for GPU compatibility
JPEG_QUALITY = 92


def texture_image(rgb: np.ndarray, prefer_jpeg: bool = True):
    """(H, W, 3) uint8 → a Pillow image that trimesh embeds as JPEG (photos) or PNG.

    trimesh re-encodes textures with ``img.save(format=img.format)``; Pillow merges an image's
    own ``encoderinfo`` into the save parameters, which is how the JPEG quality is set.
    """
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgb), mode="RGB")
    long_side = max(img.size)
    if long_side > MAX_TEXTURE_SIZE:
        k = MAX_TEXTURE_SIZE / long_side
        size = (max(1, round(img.width * k)), max(1, round(img.height * k)))
        img = img.resize(size, Image.Resampling.LANCZOS)
    if prefer_jpeg:
        img.format = "JPEG"
        img.encoderinfo = {"quality": JPEG_QUALITY, "subsampling": 0}
    return img


@functools.cache
def _photo_material_class():
    """trimesh's PBR material, hashed by identity.

    trimesh hashes a material to find duplicates in a scene, which hashes every pixel of its
    texture: 0.16 s for a 12 MP photo.  A photo's material is made once per mesh and never
    shared, so identity is the same answer.
    """
    import trimesh

    class PhotoMaterial(trimesh.visual.material.PBRMaterial):
        def __hash__(self) -> int:
            return id(self)

    PhotoMaterial.__module__, PhotoMaterial.__qualname__ = __name__, "PhotoMaterial"  # pickled by name
    return PhotoMaterial


def __getattr__(name: str):
    if name == "PhotoMaterial":
        return _photo_material_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_trimesh(geometry: Geometry, prefer_jpeg: bool = True):
    """A ``trimesh.Trimesh`` with the photo as baseColor texture, or a coloured ``PointCloud``."""
    import trimesh

    if not geometry.is_mesh:
        colors = np.concatenate(
            [geometry.colors, np.full((len(geometry.colors), 1), 255, np.uint8)], axis=1
        )
        return trimesh.PointCloud(geometry.vertices, colors=colors)
    material = _photo_material_class()(
        name=geometry.name,
        baseColorTexture=texture_image(geometry.texture, prefer_jpeg),
        metallicFactor=0.0,
        roughnessFactor=1.0,
        doubleSided=True,
    )
    visual = trimesh.visual.TextureVisuals(uv=geometry.uv, material=material)
    return trimesh.Trimesh(
        vertices=geometry.vertices, faces=geometry.faces, visual=visual, process=False,
        validate=False,
    )
