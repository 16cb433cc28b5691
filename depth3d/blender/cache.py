"""The depth cache of a generated object, and live re-meshing from it.

The backend's raw depth — (h, w) float32, as the model or file gave it — is stored on the
object as an ID property holding a float32 array (``obj["depth3d_depth"]``, with its shape in
``obj["depth3d_shape"]``).  It is written into the .blend and read back through the buffer
protocol without copies.  Everything else needed to rebuild (options, FOVs, the photo's image
and size, the camera) is in the object's :class:`~.props.Depth3DObject`.

:func:`remesh` turns that back into geometry with :func:`~depth3d.geometry.reconstruct.reconstruct`:
no model, no file — just NumPy and ``foreach_set``.
"""
from __future__ import annotations

import contextlib

import bpy
import numpy as np

from ..backends import DepthResult
from ..errors import Depth3DError
from ..geometry.depth import default_scale_shift
from ..geometry.reconstruct import Geometry, Options, reconstruct
from ..io.image import Photo
from . import build
from .images import image_pixels
from .option_props import option_values, set_option_values
from .props import OBJECT_OPTIONS

DEPTH_KEY = "depth3d_depth"
SHAPE_KEY = "depth3d_shape"

_suspended = 0
_pixels: dict[int, tuple[tuple, np.ndarray]] = {}  # image session_uid → (signature, rgb)


@contextlib.contextmanager
def suspended():
    """Setting object properties inside this block does not re-mesh."""
    global _suspended
    _suspended += 1
    try:
        yield
    finally:
        _suspended -= 1


def has_cache(obj: bpy.types.Object | None) -> bool:
    """Whether ``obj`` is a generated object with its depth cached."""
    return (
        obj is not None and getattr(obj, "depth3d", None) is not None and obj.depth3d.is_generated
        and DEPTH_KEY in obj and SHAPE_KEY in obj
    )


def cached_depth(obj: bpy.types.Object, copy: bool = True) -> np.ndarray:
    """(h, w) float32 cached raw depth; ``copy=False``: a read-only view of the ID property,
    valid only until the property or the object changes."""
    h, w = (int(v) for v in obj[SHAPE_KEY])
    view = np.frombuffer(obj[DEPTH_KEY], dtype=np.float32).reshape(h, w)
    if copy:
        return view.copy()
    view.flags.writeable = False
    return view


def options_of(obj: bpy.types.Object) -> Options:
    """The :class:`Options` an object's settings describe (scale/shift always explicit)."""
    return Options(**option_values(obj.depth3d, Options, OBJECT_OPTIONS))


def store(
    obj: bpy.types.Object,
    result: DepthResult,
    photo: Photo,
    geometry: Geometry,
    options: Options,
    *,
    image: bpy.types.Image | None = None,
    camera: bpy.types.Object | None = None,
    material: str = "emission",
) -> None:
    """Cache ``result.depth`` on ``obj`` with everything needed to rebuild ``geometry``."""
    options = options.resolved(result.depth, result.kind)  # near/far → the scale/shift they mean
    depth = np.ascontiguousarray(result.depth, dtype=np.float32)
    obj[DEPTH_KEY] = depth.reshape(-1)
    obj[SHAPE_KEY] = list(depth.shape)
    scale, shift = options.scale, options.shift
    default = default_scale_shift(result.kind, options.projection)
    values = {name: getattr(options, name) for name in OBJECT_OPTIONS}
    values.update(fov=geometry.camera.fov_deg,  # what was decided from the data, made explicit
                  scale=default[0] if scale is None else scale, shift=default[1] if shift is None else shift)
    with suspended():
        s = obj.depth3d
        set_option_values(s, Options, values)
        s.kind = result.kind
        s.model_fov = result.fov_deg or 0.0
        s.exif_fov = photo.fov_deg or 0.0
        s.photo_width, s.photo_height = photo.width, photo.height
        s.image = image
        s.camera = camera
        s.source = str(photo.path or "")
        s.model = result.model or ""
        s.material = material
        s.is_generated = True


def _photo_pixels(obj: bpy.types.Object, need_colours: bool) -> np.ndarray:
    """The photo's (H, W, 3) uint8 pixels for rebuilding.

    A mesh only needs the photo's size (its texture is the image datablock), so a zero-stride
    array of that size stands in; points and in-fill (:mod:`depth3d.geometry.infill`) need the colours,
    read once per image and kept.
    """
    s = obj.depth3d
    if not need_colours:
        return np.broadcast_to(np.zeros(3, np.uint8), (s.photo_height, s.photo_width, 3))
    image = s.image
    if image is None:
        raise Depth3DError(f"{obj.name}: its photo image is gone; cannot colour the points or the in-fill")
    key = image.session_uid
    signature = (image.name, tuple(image.size), image.filepath, image.is_dirty)
    hit = _pixels.get(key)
    if hit is not None and hit[0] == signature:
        return hit[1]
    rgb = image_pixels(image)
    if rgb.shape[:2] != (s.photo_height, s.photo_width):
        from ..geometry.grid import resample

        size = (s.photo_width, s.photo_height)
        rgb = np.round(resample(rgb, *size, span=size)).astype(np.uint8)  # pixel centres to pixel centres
    _pixels.clear()
    _pixels[key] = (signature, rgb)
    return rgb


def rebuild_geometry(obj: bpy.types.Object) -> Geometry:
    """The geometry ``obj``'s cached depth and current settings give."""
    s = obj.depth3d
    options = options_of(obj)
    return reconstruct(
        _photo_pixels(obj, options.geometry == "points" or options.infill), cached_depth(obj, copy=False),
        s.kind, options,
        model_fov=s.model_fov or None, exif_fov=s.exif_fov or None, name=obj.name,
    )


def remesh(obj: bpy.types.Object) -> Geometry:
    """Rebuild ``obj`` (and its camera) from the cache and its current settings."""
    if not has_cache(obj):
        raise Depth3DError(f"{obj.name} has no cached depth to re-mesh from")
    geometry = rebuild_geometry(obj)
    build.update_object_geometry(obj, geometry)
    if geometry.faces is not None:
        build.set_texture(obj, geometry, obj.depth3d.image)
    camera = obj.depth3d.camera
    if camera is not None and camera.type == "CAMERA":
        build.update_camera(camera, geometry)
    obj.update_tag()
    return geometry


def _remesh_quietly(obj: bpy.types.Object) -> None:
    """Re-mesh from a property update, where an exception can only reach the console."""
    try:
        remesh(obj)
    except (Depth3DError, RuntimeError, TypeError, ValueError, MemoryError) as exc:
        print(f"Depth3D: {obj.name}: cannot re-mesh: {exc}")


def on_setting_changed(obj: bpy.types.Object) -> None:
    """Property-update hook: re-mesh unless suspended or live update is off."""
    if _suspended or not isinstance(obj, bpy.types.Object) or not has_cache(obj) or not obj.depth3d.live:
        return
    _remesh_quietly(obj)


def on_projection_changed(obj: bpy.types.Object) -> None:
    """A new projection resets scale/shift to that projection's defaults, then re-meshes."""
    if _suspended or not isinstance(obj, bpy.types.Object) or not has_cache(obj):
        return
    s = obj.depth3d
    with suspended():
        s.scale, s.shift = default_scale_shift(s.kind, s.projection)
    if s.live:
        _remesh_quietly(obj)
