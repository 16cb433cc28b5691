"""The photo's material, texture, sampler and image.

The material is unlit by default (``KHR_materials_unlit``), so viewers show the photo as it
is; loaders without the extension fall back to its PBR values (metallic 0, roughness 1), as the
extension's spec recommends.  Double-sided: a depth surface seen from behind is still there.

Texture size (:func:`texture_size`): the photo's own size, its long side at most ``max_side``
(Lanczos, with Pillow's box pre-reduction for large factors).  With ``power_of_two`` (the AR
target) each side then becomes the power of two nearest to it in
ratio (never more than √2 away: a 4:3 photo's 3072 becomes 4096, 3:2's 1365 becomes 1024),
still at most ``max_side``: WebGL 1 and some mobile GPUs build mipmaps only for power-of-two textures,
and the texture coordinates span [0, 1] whatever the size, so the photo is only resampled.

A texture at the photo's size is the photo's own JPEG file where it has one (:func:`photo_image`:
its pixels exactly, no generation loss, no encoding time; EXIF and the rest of its metadata are
left out), unless the target encodes for a size budget (:class:`~depth3d.exchange.gltf.GltfSettings`
``photo_jpeg``).
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from ...io.texture_file import texture_jpeg
from .buffer import Document

__all__ = [
    "JPEG_QUALITY",
    "MAX_TEXTURE_SIZE",
    "UNLIT",
    "EncodedImage",
    "add_material",
    "encode_image",
    "photo_image",
    "texture_size",
]

UNLIT = "KHR_materials_unlit"
MAX_TEXTURE_SIZE = 8192  # long side; larger photos are downscaled for GPU compatibility
JPEG_QUALITY = 92
LINEAR, LINEAR_MIPMAP_LINEAR, CLAMP_TO_EDGE = 9729, 9987, 33071


@dataclass(frozen=True)
class EncodedImage:
    """An image file's bytes (``mime_type`` image/jpeg or image/png) and its pixel size."""

    data: bytes
    mime_type: str
    width: int
    height: int


def _nearest_power_of_two(n: float, limit: int) -> int:
    """The power of two nearest to ``n`` in ratio (within a factor √2), at most ``limit``."""
    best = 1 << max(0, round(math.log2(max(n, 1.0))))
    return min(best, 1 << math.floor(math.log2(limit)))


def texture_size(width: int, height: int, max_side: int = MAX_TEXTURE_SIZE,
                 power_of_two: bool = False) -> tuple[int, int]:
    """(width, height) of the texture for a ``width`` × ``height`` photo (rule: module docstring)."""
    k = min(1.0, max_side / max(width, height))
    w, h = width * k, height * k
    if power_of_two:
        return _nearest_power_of_two(w, max_side), _nearest_power_of_two(h, max_side)
    return max(1, round(w)), max(1, round(h))


def encode_image(rgb: np.ndarray, max_side: int = MAX_TEXTURE_SIZE, power_of_two: bool = False,
                 mime_type: str = "image/jpeg", quality: int = JPEG_QUALITY) -> EncodedImage:
    """(H, W, 3) uint8 sRGB → :class:`EncodedImage` resized by :func:`texture_size` (Pillow)."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgb), mode="RGB")
    size = texture_size(img.width, img.height, max_side, power_of_two)
    if size != img.size:
        img = img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    if mime_type == "image/jpeg":
        img.save(out, format="JPEG", quality=quality, subsampling=0)
    elif mime_type == "image/png":
        img.save(out, format="PNG", compress_level=6)
    else:
        raise ValueError(f"unsupported texture type {mime_type!r}")
    return EncodedImage(out.getvalue(), mime_type, img.width, img.height)


def photo_image(data: bytes | None, width: int, height: int, max_side: int = MAX_TEXTURE_SIZE,
                power_of_two: bool = False) -> EncodedImage | None:
    """The ``width`` × ``height`` photo's own JPEG file ``data`` as the texture, its metadata
    dropped and nothing re-encoded (:func:`depth3d.io.texture_file.texture_jpeg`), when the
    texture keeps the photo's size; ``None`` otherwise (no file, not such a JPEG, resized)."""
    if data is None or texture_size(width, height, max_side, power_of_two) != (width, height):
        return None
    jpeg = texture_jpeg(data)
    return None if jpeg is None else EncodedImage(jpeg, "image/jpeg", width, height)


def add_material(doc: Document, name: str, image: EncodedImage | None, unlit: bool = True) -> int:
    """A double-sided photo material (textured when ``image`` is given); its index."""
    pbr: dict = {"metallicFactor": 0.0, "roughnessFactor": 1.0}
    if image is not None:
        view = doc.buffer_view(image.data)
        image_index = doc.add("images", {"bufferView": view, "mimeType": image.mime_type, "name": name})
        sampler = doc.add("samplers", {"magFilter": LINEAR, "minFilter": LINEAR_MIPMAP_LINEAR,
                                       "wrapS": CLAMP_TO_EDGE, "wrapT": CLAMP_TO_EDGE})
        texture = doc.add("textures", {"sampler": sampler, "source": image_index})
        pbr["baseColorTexture"] = {"index": texture}
    material = {"name": name, "pbrMetallicRoughness": pbr, "doubleSided": True}
    if unlit:
        material["extensions"] = {UNLIT: {}}
        doc.use_extension(UNLIT)
    return doc.add("materials", material)
