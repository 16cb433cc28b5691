"""VR/AR export in a stock Blender: Draco through Blender's own glTF exporter.

The core writer compresses through Python bindings (PyPI ``meshoptimizer``, ``DracoPy``) that
stock Blender's Python does not have and cannot install without pip (``meshoptimizer`` ships
no wheels to bundle).  Blender does ship Google's Draco encoder: its glTF exporter
(io_scene_gltf2) writes ``KHR_draco_mesh_compression`` through the library it bundles.  So,
when the binding a target's compression needs cannot be imported (:func:`missing_binding`), a
mesh is written by :func:`export_draco`: the target's geometry (already within its triangle
budget) as a temporary triangle mesh, its texture (already resized and encoded for the
target) as a packed JPEG that the exporter copies unchanged, the photo material (unlit: the
exporter's "lightpath" detection writes ``KHR_materials_unlit``) and the photo's camera, all
exported without normals or any other attribute the material does not use, and removed again.

Frames: the temporary objects have identity transforms and the data stay in the camera frame
(+Y up), exported with ``export_yup=False`` so that nothing is converted: the file's positions
are the geometry's, the camera looks down −Z from the origin (a relief's stands back on +Z),
and no node carries a rotation.  Quantization: Draco's own, the core writer's bits
(:mod:`depth3d.exchange.gltf.draco`).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import bpy
import numpy as np

from ..errors import Depth3DError
from ..exchange.gltf.camera import camera_translation
from ..exchange.gltf.container import glb_to_gltf
from ..exchange.gltf.draco import COMPRESSION_LEVEL, POSITION_BITS, UV_BITS
from ..exchange.gltf.material import EncodedImage
from ..geometry.polygons import MeshArrays, gather_uv, sorted_edges
from ..geometry.reconstruct import Geometry
from . import build

__all__ = ["BINDINGS", "draco_available", "export_draco", "missing_binding", "note"]

BINDINGS = {"meshopt": "meshoptimizer", "draco": "DracoPy"}  # compression → Python package


def missing_binding(compression: str) -> str | None:
    """The Python package ``compression`` needs when it cannot be imported here, else ``None``."""
    package = BINDINGS.get(compression)
    if package is None:
        return None
    try:
        __import__(package)
    except ImportError:
        return package
    return None


def note(package: str, is_mesh: bool = True) -> str:
    """The info line that says what was written instead, and why."""
    if is_mesh:
        return (f"Draco compression (KHR_draco_mesh_compression) by Blender's glTF exporter: "
                f"{package} isn't available in Blender's Python")
    return f"points quantized without compression: {package} isn't available in Blender's Python"


def draco_available() -> bool:
    """Whether Blender's glTF exporter finds its Draco library (it ships with Blender)."""
    try:
        from io_scene_gltf2 import is_draco_available
    except ImportError:
        try:
            from io_scene_gltf2.io.com.draco import dll_exists as is_draco_available
        except ImportError:
            return False
    return bool(is_draco_available())


def _triangle_arrays(geometry: Geometry) -> MeshArrays:
    """Blender mesh arrays with one triangle polygon per face, so that the exporter writes
    exactly the geometry's triangles (no quads for it to split)."""
    faces = np.ascontiguousarray(geometry.faces, dtype=np.int32)
    uv = np.ascontiguousarray(geometry.uv, dtype=np.float32)
    edges, corner_edge = sorted_edges(faces, len(geometry.vertices))
    corner_vert = faces.reshape(-1)
    return MeshArrays(
        loop_start=np.arange(0, len(corner_vert), 3, dtype=np.int32), corner_vert=corner_vert,
        edges=edges, corner_edge=corner_edge, corner_uv=gather_uv(uv, corner_vert), n_quads=0,
    )


def _packed_image(image: EncodedImage, name: str) -> bpy.types.Image:
    """An image datablock holding ``image``'s file bytes, packed and unmodified, which the glTF
    exporter copies into the file as they are (no decode, no second JPEG pass)."""
    blender_image = bpy.data.images.new(name, image.width, image.height, alpha=False)
    blender_image.pack(data=image.data, data_len=len(image.data))
    blender_image.source = "FILE"
    return blender_image


@contextlib.contextmanager
def _render_size(scene: bpy.types.Scene):
    """Restore the scene's render size afterwards (the exporter reads the camera's aspect from
    it, and :func:`.build.update_camera` sets it to the photo's)."""
    render = scene.render
    keys = ("resolution_x", "resolution_y", "resolution_percentage", "pixel_aspect_x", "pixel_aspect_y")
    saved = {key: getattr(render, key) for key in keys}
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(render, key, value)


_COLLECTIONS = {"OBJECT": "objects", "MESH": "meshes", "MATERIAL": "materials", "CAMERA": "cameras",
                "IMAGE": "images"}


@contextlib.contextmanager
def _named(pairs):
    """Give each new datablock of ``pairs`` ((wanted name, datablock), …) its wanted name, so
    that the file's nodes, mesh and material are named as the core writer names them; a
    datablock of the session already called so (the generated object itself) is renamed for
    the duration."""
    moved = []
    try:
        for wanted, block in pairs:
            other = getattr(bpy.data, _COLLECTIONS[block.id_type]).get(wanted)
            if block.name != wanted and other is not None:  # (a name Blender cut to 63 bytes: as it is)
                other.name = f"{wanted} (exporting)"
                moved.append((other, wanted, block))
                block.name = wanted
        yield
    finally:
        for other, wanted, block in reversed(moved):
            block.name = f"{wanted} (exported)"
            other.name = wanted


def _exporter_settings(**wanted) -> dict:
    """``wanted`` for ``bpy.ops.export_scene.gltf``, less what this Blender's exporter lacks."""
    known = set(bpy.ops.export_scene.gltf.get_rna_type().properties.keys())
    return {key: value for key, value in wanted.items() if key in known}


def _export(path: Path, objects, settings: dict) -> Path:
    """Blender's .glb at ``path``; for a .gltf, that .glb rewritten with its buffer embedded
    (Blender offers embedded .gltf only behind a preference)."""
    if path.suffix.lower() != ".gltf":
        return build.export_gltf(path, objects, **settings)
    with tempfile.TemporaryDirectory(prefix="depth3d-") as folder:
        glb = build.export_gltf(Path(folder) / "export.glb", objects, **settings)
        return glb_to_gltf(glb.read_bytes(), path)


def export_draco(geometry: Geometry, path: str | os.PathLike, image: EncodedImage,
                 unlit: bool = True) -> Path:
    """Write mesh ``geometry`` to ``path`` (.glb/.gltf, atomic) with Blender's glTF exporter and
    its Draco encoder; ``image``: the texture as the target wants it (size, JPEG)."""
    path = Path(path)
    if not geometry.is_mesh:
        raise ValueError("Blender's Draco export is for meshes")
    if not draco_available():
        raise Depth3DError("this Blender's glTF exporter has no Draco library; install the "
                           "meshoptimizer package in Blender's Python, or export with --compression none")
    scene = bpy.context.scene
    name = geometry.name
    made: list = []
    try:
        mesh = bpy.data.meshes.new(name)
        made.append(mesh)
        build.fill_mesh(mesh, geometry, _triangle_arrays(geometry))
        texture = _packed_image(image, name)
        made.append(texture)
        material = build.photo_material(name, texture, "emission" if unlit else "principled")
        made.append(material)
        mesh.materials.append(material)
        obj = bpy.data.objects.new(name, mesh)
        made.append(obj)
        camera = bpy.data.objects.new(f"{name} camera", bpy.data.cameras.new(f"{name} camera"))
        made.extend([camera, camera.data])
        camera.location = camera_translation(geometry.camera, geometry.meta.get("projection", "perspective"))
        for o in (obj, camera):
            scene.collection.objects.link(o)
        with _render_size(scene), _named(
                [(name, obj), (name, mesh), (name, material), (name, texture),
                 (f"{name} camera", camera), (f"{name} camera", camera.data)]):
            build.update_camera(camera, geometry, scene)
            _export(path, [obj, camera], _exporter_settings(
                export_format="GLB", export_yup=False, export_apply=False, export_cameras=True,
                export_normals=False, export_tangents=False, export_texcoords=True,
                export_attributes=False, export_vertex_color="NONE", export_materials="EXPORT",
                export_image_format="AUTO", export_animations=False, export_skins=False,
                export_morph=False,
                export_draco_mesh_compression_enable=True,
                export_draco_mesh_compression_level=COMPRESSION_LEVEL,
                export_draco_position_quantization=POSITION_BITS,
                export_draco_texcoord_quantization=UV_BITS,
            ))
    finally:
        bpy.data.batch_remove([i for i in made if i is not None])
    return path
