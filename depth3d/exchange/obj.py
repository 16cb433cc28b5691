"""Wavefront OBJ + MTL + texture image (mesh), or coloured vertices (points)."""
from __future__ import annotations

from pathlib import Path

from ..atomic import write_bytes_atomic
from ..reconstruct import Geometry
from .trimesh_bridge import to_trimesh


def export_obj(geometry: Geometry, path: str | Path) -> Path:
    """Write ``path`` (.obj) and, for a mesh, ``<stem>.mtl`` and its texture beside it.

    Every file is written atomically; the .obj goes last, so it never refers to a missing file.
    """
    from trimesh.exchange.obj import export_obj as _export_obj

    path = Path(path)
    obj = to_trimesh(geometry)
    if not geometry.is_mesh:
        text = _export_obj(obj, include_color=True)
        return write_bytes_atomic(path, text.encode())
    text, files = _export_obj(
        obj, include_texture=True, return_texture=True, mtl_name=f"{path.stem}.mtl",
        include_normals=False,
    )
    for name, data in files.items():
        write_bytes_atomic(path.with_name(name), data)
    return write_bytes_atomic(path, text.encode())
