"""VR/AR export in Blender: a generated object (or a batch photo's geometry) written by the
core glTF writer for a :class:`~depth3d.targets.Target`.

The geometry is rebuilt from the object's cached depth (:mod:`.cache`) with the target's
triangle budget; the texture is the photo's pixels resized and encoded by Pillow when
Blender's Python has it, else by Blender itself (:func:`encode_texture_bpy`: Blender's own
scaling, its JPEG writer).

Stock Blender has neither compression binding (PyPI ``meshoptimizer``, ``DracoPy``): there a
mesh goes out with Draco through Blender's own glTF exporter (:mod:`.draco_fallback`), and
:func:`fallback_note` gives the info line that says so.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

import bpy
import numpy as np

from ..errors import Depth3DError
from ..exchange.gltf import EncodedImage, export_glb, export_gltf
from ..exchange.gltf.material import texture_size
from ..geometry.reconstruct import Geometry, reconstruct
from ..targets import GLTF_FORMATS, Target, check_format
from . import cache
from .draco_fallback import export_draco, missing_binding, note

__all__ = ["encode_texture", "encode_texture_bpy", "export_object", "fallback_note", "write_target"]


def encode_texture_bpy(rgb: np.ndarray, target: Target) -> EncodedImage:
    """(H, W, 3) uint8 sRGB → a JPEG of the target's size, made by Blender (no Pillow)."""
    h, w = rgb.shape[:2]
    size = texture_size(w, h, target.texture_size, target.power_of_two)
    image = bpy.data.images.new("depth3d texture", w, h, alpha=False)
    try:
        rgba = np.ones((h, w, 4), np.float32)
        rgba[:, :, :3] = rgb[::-1] / np.float32(255.0)  # Blender's rows run bottom-up
        image.pixels.foreach_set(rgba.ravel())
        if size != (w, h):
            image.scale(*size)
        with tempfile.TemporaryDirectory(prefix="depth3d-") as folder:
            path = os.path.join(folder, "texture.jpg")
            image.file_format = "JPEG"
            image.save(filepath=path, quality=target.jpeg_quality)
            data = Path(path).read_bytes()
    finally:
        bpy.data.images.remove(image)
    return EncodedImage(data, "image/jpeg", *size)


def encode_texture(rgb: np.ndarray, target: Target) -> EncodedImage:
    """The texture for ``target``: Pillow's Lanczos when installed, else Blender's."""
    try:
        from ..exchange.gltf.material import encode_image

        return encode_image(rgb, target.texture_size, target.power_of_two, quality=target.jpeg_quality)
    except ImportError:
        return encode_texture_bpy(rgb, target)


def fallback_note(target: Target, is_mesh: bool = True) -> str | None:
    """The info line when this Blender's Python lacks the binding ``target``'s compression
    needs (a mesh then goes out with Blender's Draco, points quantized but uncompressed);
    ``None`` when the core writer honours the target as it is."""
    package = missing_binding(target.compression)
    return None if package is None else note(package, is_mesh)


def write_target(geometry: Geometry, path: str | os.PathLike, target: Target, unlit: bool = True,
                 rgb: np.ndarray | None = None) -> Path:
    """Write ``geometry`` to ``path`` (.glb/.gltf) for ``target``; ``rgb`` the photo's pixels
    (default ``geometry.texture``).  Without the compression's Python binding
    (:func:`fallback_note`), a mesh is written by Blender's glTF exporter with Draco, points
    by the core writer without compression."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    check_format(target, fmt if fmt in GLTF_FORMATS else fmt or "none",
                 "mesh" if geometry.is_mesh else "points")
    if fmt not in GLTF_FORMATS:
        raise ValueError(f"{path}: export for VR/AR writes .glb or .gltf")
    image = encode_texture(geometry.texture if rgb is None else rgb, target) if geometry.is_mesh else None
    if missing_binding(target.compression) is not None:
        if geometry.is_mesh:
            return export_draco(geometry, path, image, unlit)
        target = replace(target, compression="none")
    writer = export_glb if fmt == "glb" else export_gltf
    return writer(geometry, path, settings=target.gltf_settings(unlit), image=image)


def export_object(obj: bpy.types.Object, path: str | os.PathLike, target: Target) -> Path:
    """Write generated object ``obj`` for ``target``, rebuilt from its cached depth."""
    if not cache.has_cache(obj):
        raise Depth3DError(f"{obj.name} has no cached depth to export from")
    s = obj.depth3d
    options = cache.options_of(obj)
    if s.geometry == "mesh":
        budgets = [b for b in (options.max_triangles, target.max_triangles) if b]  # the tighter
        options = replace(options, max_triangles=min(budgets, default=0))
    rgb = cache._photo_pixels(obj, need_colours=True)
    geometry = reconstruct(
        rgb, cache.cached_depth(obj, copy=False), s.kind, options,
        model_fov=s.model_fov or None, exif_fov=s.exif_fov or None, name=obj.name,
    )
    return write_target(geometry, path, target, unlit=s.material == "emission")
