"""Wavefront OBJ + MTL + texture image (mesh), or coloured vertices (points).

The sidecars are named after the output, never after the photo: ``model.obj`` comes with
``model.mtl`` and ``model.jpg`` (:func:`obj_files`), so a conversion never writes a file the
user did not name, and never one named like the photo it read.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from ..geometry.reconstruct import Geometry
from ..io.atomic import write_bytes_atomic
from .trimesh_bridge import to_trimesh

__all__ = ["export_obj", "obj_files"]

TEXTURE_SUFFIX = ".jpg"


def obj_files(path: str | Path, mesh: bool = True) -> list[Path]:
    """Every file :func:`export_obj` writes for ``path``: the .obj, and for a mesh its
    ``<stem>.mtl`` and ``<stem>.jpg`` texture beside it."""
    path = Path(path)
    if not mesh:
        return [path]
    return [path, path.with_suffix(".mtl"), path.with_suffix(TEXTURE_SUFFIX)]


def export_obj(geometry: Geometry, path: str | Path) -> Path:
    """Write ``path`` (.obj) and, for a mesh, ``<stem>.mtl`` and ``<stem>.jpg`` beside it.

    Every file is written atomically; the .obj goes last, so it never refers to a missing file,
    and if any write fails the sidecars already written are removed again.
    """
    from trimesh.exchange.obj import export_obj as _export_obj

    path = Path(path)
    obj = to_trimesh(geometry)
    if not geometry.is_mesh:
        text = _export_obj(obj, include_color=True)
        return write_bytes_atomic(path, text.encode())
    _, mtl_path, texture_path = obj_files(path)
    obj.visual.material.name = path.stem  # trimesh names the texture after the material
    text, files = _export_obj(
        obj, include_texture=True, return_texture=True, mtl_name=mtl_path.name,
        include_normals=False,
    )
    (image_name,) = [name for name in files if name != mtl_path.name]
    mtl = files[mtl_path.name].replace(f"map_Kd {image_name}".encode(), f"map_Kd {texture_path.name}".encode())
    written: list[Path] = []
    try:
        written.append(write_bytes_atomic(texture_path, files[image_name]))
        written.append(write_bytes_atomic(mtl_path, mtl))
        return write_bytes_atomic(path, text.encode())
    except BaseException:
        for p in written:
            with contextlib.suppress(OSError):
                p.unlink()
        raise
