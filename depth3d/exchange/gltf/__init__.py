"""glTF 2.0 writer (.glb binary, .gltf with its buffer embedded): Y-up, metres, sRGB photo texture.

One module per glTF concept, as Blender's io_scene_gltf2 is organised:

* :mod:`.buffer` — the document, bufferViews and accessors (numpy arrays laid straight into
  the binary buffer: no per-element Python);
* :mod:`.primitive` — mesh and point primitives;
* :mod:`.material` — material, texture, sampler, image (resized and encoded);
* :mod:`.camera` — the photo's camera;
* :mod:`.quantize`, :mod:`.meshopt`, :mod:`.draco` — KHR_mesh_quantization,
  EXT_meshopt_compression, KHR_draco_mesh_compression;
* :mod:`.container` — the .glb / .gltf files.

Scene: node 0 is the mesh (named after the geometry; with quantized positions it carries the
dequantising ``translation``/``scale``), node 1 the camera (``"<name> camera"``) at the photo's
viewpoint.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import Depth3DError
from ...geometry.reconstruct import Geometry
from .buffer import Document
from .camera import add_camera
from .container import write_glb, write_gltf
from .material import (
    JPEG_QUALITY,
    MAX_TEXTURE_SIZE,
    EncodedImage,
    add_material,
    encode_image,
    photo_image,
)
from .primitive import COMPRESSIONS, mesh_primitive, points_primitive

__all__ = ["COMPRESSIONS", "EncodedImage", "GltfSettings", "build_document", "export_glb", "export_gltf"]


@dataclass(frozen=True)
class GltfSettings:
    """How to write a geometry.

    unlit:         KHR_materials_unlit (the photo as it is) rather than lit PBR.
    quantize:      KHR_mesh_quantization (int16 positions, uint16 texture coordinates).
    compression:   "none", "meshopt" (EXT_meshopt_compression) or "draco" (meshes only).
    texture_size:  the texture's long side at most this many pixels.
    power_of_two:  texture sides to powers of two (:mod:`.material`).
    jpeg_quality:  of the JPEG texture.
    photo_jpeg:    a texture at the photo's size is the photo's own JPEG file where it has one
                   (:func:`.material.photo_image`), not its pixels encoded at ``jpeg_quality``.
    camera:        add the photo's camera.
    """

    unlit: bool = True
    quantize: bool = False
    compression: str = "none"
    texture_size: int = MAX_TEXTURE_SIZE
    power_of_two: bool = False
    jpeg_quality: int = JPEG_QUALITY
    photo_jpeg: bool = True
    camera: bool = True

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {self.compression!r}")
        if self.texture_size < 1:
            raise ValueError("texture size must be at least 1 pixel")


def build_document(geometry: Geometry, settings: GltfSettings = GltfSettings(),
                   image: EncodedImage | None = None) -> Document:
    """The glTF document of ``geometry``.  ``image``: the texture already encoded (e.g. by
    Blender), else the photo ``geometry.texture`` is resized and encoded here."""
    name = geometry.name
    if len(geometry.vertices) == 0 or (geometry.is_mesh and len(geometry.faces) == 0):
        raise Depth3DError(f"{name}: no geometry left to write")
    doc = Document()
    if geometry.is_mesh:
        if image is None and settings.photo_jpeg:
            height, width = geometry.texture.shape[:2]
            image = photo_image(geometry.texture_data, width, height, settings.texture_size,
                                settings.power_of_two)
        if image is None:
            image = encode_image(geometry.texture, settings.texture_size, settings.power_of_two,
                                 quality=settings.jpeg_quality)
        material = add_material(doc, name, image, settings.unlit)
        # glTF's texture origin is the image's top-left: v flipped as it is written
        primitive = mesh_primitive(doc, geometry.vertices, geometry.faces, geometry.uv, material,
                                   settings.quantize, settings.compression, uv_bottom_left=True)
    else:
        material = add_material(doc, name, None, settings.unlit)
        primitive = points_primitive(doc, geometry.vertices, geometry.colors, material,
                                     settings.quantize, settings.compression)
    mesh = doc.add("meshes", {"name": name, "primitives": [primitive.json]})
    nodes = [doc.add("nodes", {"name": name, "mesh": mesh, **primitive.node})]
    if settings.camera:
        nodes.append(add_camera(doc, geometry.camera, f"{name} camera",
                                geometry.meta.get("projection", "perspective")))
    doc.json["scene"] = doc.add("scenes", {"name": name, "nodes": nodes})
    return doc


def export_glb(geometry: Geometry, path: str | Path, unlit: bool = True,
               settings: GltfSettings | None = None, image: EncodedImage | None = None) -> Path:
    """Write ``geometry`` as a binary glTF file (atomic)."""
    settings = settings or GltfSettings(unlit=unlit)
    return write_glb(build_document(geometry, settings, image), path)


def export_gltf(geometry: Geometry, path: str | Path, unlit: bool = True,
                settings: GltfSettings | None = None, image: EncodedImage | None = None) -> Path:
    """Write ``geometry`` as a single self-contained .gltf (buffers as data URIs, atomic)."""
    settings = settings or GltfSettings(unlit=unlit)
    return write_gltf(build_document(geometry, settings, image), path)
