"""Writers, one format per module (``gltf``, ``ply``, ``obj``, ``usdz``), chosen by :func:`export`."""
from __future__ import annotations

from pathlib import Path

from ..geometry.reconstruct import Geometry

FORMATS = ("glb", "gltf", "ply", "obj", "usdz")


def export(geometry: Geometry, path: str | Path, fmt: str | None = None, unlit: bool = True,
           settings=None) -> Path:
    """Write ``geometry`` to ``path`` in ``fmt`` (default: from the suffix).  Atomic.

    ``unlit``: glTF and USDZ — show the photo as it is (KHR_materials_unlit; USDZ: emissive)
    rather than lit PBR.
    ``settings``: glTF — a :class:`~.gltf.GltfSettings` (quantization, compression, texture
    size); it carries its own ``unlit``.  USDZ takes its ``unlit``, ``texture_size`` and
    ``power_of_two`` (without settings: 2048 px, AR Quick Look's budget).
    """
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt in ("glb", "gltf"):
        from .gltf import export_glb, export_gltf

        return (export_glb if fmt == "glb" else export_gltf)(geometry, path, unlit=unlit, settings=settings)
    if fmt == "usdz":
        from .usdz import DEFAULT_TEXTURE_SIZE, export_usdz

        if settings is None:
            return export_usdz(geometry, path, DEFAULT_TEXTURE_SIZE, unlit=unlit)
        return export_usdz(geometry, path, settings.texture_size, settings.unlit, settings.power_of_two)
    if settings is not None:
        raise ValueError(f"glTF settings (quantization, compression, texture size) do not apply to {fmt}")
    if fmt == "ply":
        from .ply import export_ply as writer
    elif fmt == "obj":
        from .obj import export_obj as writer
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return writer(geometry, path)
