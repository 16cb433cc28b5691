"""glTF 2.0 (.glb binary, .gltf with embedded buffers): Y-up, metres, sRGB photo texture.

The photo material is unlit by default (``KHR_materials_unlit``), so viewers show the photo
as it is; loaders without the extension fall back to its PBR values (metallic 0,
roughness 1), as the extension's spec recommends.
"""
from __future__ import annotations

from pathlib import Path

from ..atomic import write_bytes_atomic
from ..reconstruct import Geometry
from .trimesh_bridge import to_trimesh

UNLIT = "KHR_materials_unlit"


def _scene(geometry: Geometry):
    import trimesh

    scene = trimesh.Scene()
    scene.add_geometry(to_trimesh(geometry), node_name=geometry.name, geom_name=geometry.name)
    return scene


def _mark_unlit(tree: dict) -> None:
    """trimesh ``tree_postprocessor``: flag every material with KHR_materials_unlit."""
    materials = tree.get("materials") or []
    for material in materials:
        material.setdefault("extensions", {})[UNLIT] = {}
    if materials:
        tree["extensionsUsed"] = sorted(set(tree.get("extensionsUsed", [])) | {UNLIT})


def export_glb(geometry: Geometry, path: str | Path, unlit: bool = True) -> Path:
    """Write ``geometry`` as a binary glTF file (atomic)."""
    from trimesh.exchange.gltf import export_glb as _export_glb

    data = _export_glb(
        _scene(geometry), include_normals=False, tree_postprocessor=_mark_unlit if unlit else None
    )
    return write_bytes_atomic(path, data)


def export_gltf(geometry: Geometry, path: str | Path, unlit: bool = True) -> Path:
    """Write ``geometry`` as a single self-contained .gltf (buffers as data URIs, atomic)."""
    from trimesh.exchange.gltf import export_gltf as _export_gltf

    files = _export_gltf(
        _scene(geometry), include_normals=False, embed_buffers=True,
        tree_postprocessor=_mark_unlit if unlit else None,
    )
    return write_bytes_atomic(path, files["model.gltf"])
