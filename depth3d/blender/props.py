"""Settings stored in the .blend: the panel's (``Scene.depth3d``) and each generated object's
(``Object.depth3d``).

An object's settings are live: changing scale, shift, resolution, edge threshold, projection
or FOV re-meshes it from its cached depth (:mod:`.cache`) without running the model.
"""
import math

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ..camera import DEFAULT_FOV_DEG
from ..edges import DEFAULT_EDGE_THRESHOLD
from ..ranges import blender_bounds
from ..reconstruct import DEFAULT_RESOLUTION, Options

GEOMETRY_ITEMS = [
    ("mesh", "Mesh", "A textured triangle mesh, cut at depth discontinuities"),
    ("points", "Points", "A point cloud with the photo's colours"),
]
PROJECTION_ITEMS = [
    ("perspective", "Perspective", "Unproject through the camera: a true 3D scene in metres"),
    ("relief", "Relief", "Displace a flat plane of width 1 towards the viewer (bas-relief)"),
]
MATERIAL_ITEMS = [
    ("emission", "Unlit", "Show the photo exactly as it is (emission, glTF KHR_materials_unlit)"),
    ("principled", "Lit", "The photo as base colour of a Principled BSDF, shaded by lights"),
]
KIND_ITEMS = [
    ("depth", "Depth", "The file holds planar depth (metres or any linear unit)"),
    ("disparity", "Disparity", "The file holds relative inverse depth (larger is nearer)"),
]
RANGE_ITEMS = [
    ("AUTO", "Auto", "Near 1 m / far 10 m for relative models, as-is for metric depth"),
    ("SCALE_SHIFT", "Scale/Shift", "depth = 1/(scale·d + shift) for disparity; scale·z + shift for depth"),
    ("NEAR_FAR", "Near/Far", "Relative depth spread between a near and a far distance"),
]

TARGET_ITEMS = [
    ("full", "Full", "The geometry as built, the photo as texture, no compression"),
    ("vr", "VR", "At most 300k triangles, texture ≤ 4096 px, quantized and meshopt-compressed"),
    ("ar", "AR", "At most 100k triangles, texture ≤ 2048 px, quantized and meshopt-compressed"),
]
COMPRESSION_ITEMS = [
    ("TARGET", "Target's", "The target's compression (meshopt for VR and AR, none for Full)"),
    ("none", "None", "No geometry compression"),
    ("meshopt", "Meshopt", "EXT_meshopt_compression: small, decodes fast (three.js, Babylon, model-viewer)"),
    ("draco", "Draco", "KHR_draco_mesh_compression, for viewers that read only Draco (Android Scene Viewer)"),
]

_ARGS = dict(options=set())  # no animation of settings
# Limits from the ranges declared on Options (depth3d.ranges); FOV is an angle property (radians)
_FOV_BOUNDS = blender_bounds(Options, "fov", factor=math.radians(1.0), open_margin=math.radians(1.0))
_RESOLUTION_BOUNDS = blender_bounds(Options, "resolution")
_SCALE_BOUNDS = blender_bounds(Options, "scale")
EDGE_HELP = ("Relative jump in disparity that cuts the surface at a depth discontinuity "
             "(0 keeps every triangle)")


BUDGET_HELP = ("Most triangles the mesh may have (0 = no limit): whole cells merge into larger "
               "triangles where the depth is flat enough; cut edges stay as they are")

INFILL_HELP = ("Perspective meshes: a hidden background layer behind every cut and a margin past "
               "the frame edge, in-painted from the background, so a moving viewer (VR) sees no holes")


def _remesh(self, context) -> None:
    from . import cache

    cache.on_setting_changed(self.id_data)


def _projection_changed(self, context) -> None:
    from . import cache

    cache.on_projection_changed(self.id_data)


class Depth3DSettings(bpy.types.PropertyGroup):
    """What the panel's Generate Depth Mesh button uses (one set per scene)."""

    source: EnumProperty(
        name="Source", items=[("IMAGE", "Image", "An image already in Blender (the Image Editor's by default)"),
                              ("FILE", "File", "A photo file on disk")],
        default="IMAGE", **_ARGS)
    image: PointerProperty(name="Image", type=bpy.types.Image,
                           description="Photo to convert (empty: the Image Editor's active image)")
    filepath: StringProperty(name="Photo", subtype="FILE_PATH", description="Photo file to convert", **_ARGS)
    use_depth_file: BoolProperty(name="Depth from File", default=False,
                                 description="Use a precomputed depth map instead of a model", **_ARGS)
    depth_filepath: StringProperty(name="Depth File", subtype="FILE_PATH",
                                   description=".npy, .exr, .pfm, 16-bit .png or float .tiff", **_ARGS)
    depth_kind: EnumProperty(name="Holds", items=KIND_ITEMS, default="depth", **_ARGS)
    geometry: EnumProperty(name="Geometry", items=GEOMETRY_ITEMS, default="mesh", **_ARGS)
    projection: EnumProperty(name="Projection", items=PROJECTION_ITEMS, default="perspective", **_ARGS)
    use_auto_fov: BoolProperty(name="Auto FOV", default=True,
                               description="Field of view from the model, else EXIF, else 55°", **_ARGS)
    fov: FloatProperty(name="FOV", subtype="ANGLE", default=math.radians(DEFAULT_FOV_DEG), **_FOV_BOUNDS,
                       description="Horizontal field of view", **_ARGS)
    range_mode: EnumProperty(name="Depth Range", items=RANGE_ITEMS, default="AUTO", **_ARGS)
    scale: FloatProperty(name="Scale", default=1.0, **_SCALE_BOUNDS, precision=4, **_ARGS)
    shift: FloatProperty(name="Shift", default=0.0, precision=4, **_ARGS)
    near: FloatProperty(name="Near", default=1.0, **blender_bounds(Options, "near"), subtype="DISTANCE", **_ARGS)
    far: FloatProperty(name="Far", default=10.0, **blender_bounds(Options, "far"), subtype="DISTANCE", **_ARGS)
    resolution: IntProperty(name="Resolution", default=DEFAULT_RESOLUTION, **_RESOLUTION_BOUNDS, soft_max=4096,
                            description="Long side of the vertex grid (0 = one vertex per depth pixel)", **_ARGS)
    edge_threshold: FloatProperty(
        name="Edge Threshold", default=DEFAULT_EDGE_THRESHOLD, **blender_bounds(Options, "edge_threshold"),
        soft_max=0.5, precision=3, step=1, description=EDGE_HELP, **_ARGS)
    infill: BoolProperty(name="Fill Behind", default=False, description=INFILL_HELP, **_ARGS)
    material: EnumProperty(name="Material", items=MATERIAL_ITEMS, default="emission", **_ARGS)
    add_camera: BoolProperty(name="Add Camera", default=True,
                             description="A camera that reproduces the photo, with the photo as background", **_ARGS)
    pack_image: BoolProperty(name="Pack Photo", default=False,
                             description="Pack a photo file into the .blend", **_ARGS)
    target: EnumProperty(name="Target", items=TARGET_ITEMS, default="vr",
                         description="What Export for VR/AR writes", **_ARGS)
    compression: EnumProperty(name="Compression", items=COMPRESSION_ITEMS, default="TARGET", **_ARGS)


class Depth3DObject(bpy.types.PropertyGroup):
    """A generated object's recipe; its depth itself is cached by :mod:`.cache`."""

    is_generated: BoolProperty(default=False, **_ARGS)
    live: BoolProperty(name="Live Update", default=True,
                       description="Rebuild the geometry as soon as a setting changes", **_ARGS)
    geometry: EnumProperty(name="Geometry", items=GEOMETRY_ITEMS, default="mesh", **_ARGS)
    projection: EnumProperty(name="Projection", items=PROJECTION_ITEMS, default="perspective",
                             update=_projection_changed, **_ARGS)
    fov: FloatProperty(name="FOV", subtype="ANGLE", default=math.radians(DEFAULT_FOV_DEG), **_FOV_BOUNDS,
                       update=_remesh, **_ARGS)
    scale: FloatProperty(name="Scale", default=1.0, **_SCALE_BOUNDS, precision=4, step=1, update=_remesh, **_ARGS)
    shift: FloatProperty(name="Shift", default=0.0, precision=4, step=1, update=_remesh, **_ARGS)
    resolution: IntProperty(name="Resolution", default=DEFAULT_RESOLUTION, **_RESOLUTION_BOUNDS, soft_max=4096,
                            update=_remesh, **_ARGS)
    edge_threshold: FloatProperty(name="Edge Threshold", default=DEFAULT_EDGE_THRESHOLD,
                                  **blender_bounds(Options, "edge_threshold"),
                                  soft_max=0.5, precision=3, step=1, description=EDGE_HELP,
                                  update=_remesh, **_ARGS)
    infill: BoolProperty(name="Fill Behind", default=False, description=INFILL_HELP, update=_remesh, **_ARGS)
    max_triangles: IntProperty(name="Max Triangles", default=0, **blender_bounds(Options, "max_triangles"),
                               description=BUDGET_HELP, update=_remesh, **_ARGS)
    kind: EnumProperty(name="Kind", items=KIND_ITEMS, default="depth", **_ARGS)
    model_fov: FloatProperty(name="Model FOV", default=0.0, description="Degrees; 0 = none", **_ARGS)
    exif_fov: FloatProperty(name="EXIF FOV", default=0.0, description="Degrees; 0 = none", **_ARGS)
    photo_width: IntProperty(default=0, **_ARGS)
    photo_height: IntProperty(default=0, **_ARGS)
    image: PointerProperty(name="Photo", type=bpy.types.Image)
    camera: PointerProperty(name="Camera", type=bpy.types.Object)
    source: StringProperty(name="Photo File", subtype="FILE_PATH", **_ARGS)
    model: StringProperty(name="Depth From", description="Model or file the depth came from", **_ARGS)
    material: EnumProperty(name="Material", items=MATERIAL_ITEMS, default="emission", **_ARGS)


CLASSES = (Depth3DSettings, Depth3DObject)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.depth3d = PointerProperty(type=Depth3DSettings)
    bpy.types.Object.depth3d = PointerProperty(type=Depth3DObject)


def unregister() -> None:
    del bpy.types.Object.depth3d
    del bpy.types.Scene.depth3d
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
