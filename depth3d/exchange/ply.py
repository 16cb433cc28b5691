"""Binary little-endian PLY with per-vertex colours (points) or faces + colours (mesh)."""
from __future__ import annotations

from pathlib import Path

from ..geometry.reconstruct import Geometry
from ..io.atomic import write_bytes_atomic
from .trimesh_bridge import to_trimesh


def export_ply(geometry: Geometry, path: str | Path) -> Path:
    """Write ``geometry`` as binary PLY (atomic); a mesh carries UVs and vertex colours."""
    from trimesh.exchange.ply import export_ply as _export_ply

    obj = to_trimesh(geometry, prefer_jpeg=False)
    if geometry.is_mesh:
        # PLY has no material: bake the texture into vertex colours so colour survives.
        obj.visual = obj.visual.to_color()
    return write_bytes_atomic(path, _export_ply(obj, encoding="binary"))
