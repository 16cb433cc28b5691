"""glTF 2.0 (.glb binary, .gltf with embedded buffers): Y-up, metres, sRGB photo texture."""
from __future__ import annotations

import json
from pathlib import Path

from ..atomic import write_bytes_atomic
from ..reconstruct import Geometry
from .trimesh_bridge import to_trimesh


def _scene(geometry: Geometry):
    import trimesh

    scene = trimesh.Scene()
    scene.add_geometry(to_trimesh(geometry), node_name=geometry.name, geom_name=geometry.name)
    return scene


def export_glb(geometry: Geometry, path: str | Path) -> Path:
    """Write ``geometry`` as a binary glTF file (atomic)."""
    from trimesh.exchange.gltf import export_glb as _export_glb

    return write_bytes_atomic(path, _export_glb(_scene(geometry), include_normals=False))


def export_gltf(geometry: Geometry, path: str | Path) -> Path:
    """Write ``geometry`` as a single self-contained .gltf (buffers as data URIs, atomic)."""
    from trimesh.exchange.gltf import export_gltf as _export_gltf

    files = _export_gltf(_scene(geometry), include_normals=False, embed_buffers=True)
    return write_bytes_atomic(path, files["model.gltf"])
