"""Writers, one format per module (``gltf``, ``ply``, ``obj``), chosen by :func:`export`."""
from __future__ import annotations

from pathlib import Path

from ..reconstruct import Geometry

FORMATS = ("glb", "gltf", "ply", "obj")


def export(geometry: Geometry, path: str | Path, fmt: str | None = None, unlit: bool = True,
           settings=None) -> Path:
    """Write ``geometry`` to ``path`` in ``fmt`` (default: from the suffix).  Atomic.

    ``unlit``: glTF only — show the photo as it is (KHR_materials_unlit) rather than lit PBR.
    ``settings``: glTF only — a :class:`~.gltf.GltfSettings` (quantization, compression,
    texture size); it carries its own ``unlit``.
    """
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt in ("glb", "gltf"):
        from .gltf import export_glb, export_gltf

        return (export_glb if fmt == "glb" else export_gltf)(geometry, path, unlit=unlit, settings=settings)
    if settings is not None:
        raise ValueError(f"glTF settings (quantization, compression, texture size) do not apply to {fmt}")
    if fmt == "ply":
        from .ply import export_ply as writer
    elif fmt == "obj":
        from .obj import export_obj as writer
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return writer(geometry, path)
