"""Settings stored in the .blend: the panel's (``Scene.depth3d``) and each generated object's
(``Object.depth3d``).

Their geometry options are properties made from the options' declarations
(:class:`depth3d.geometry.reconstruct.Options`, :mod:`.option_props`): an option added there is here too.

An object's settings are live: changing scale, shift, resolution, edge threshold, projection
or FOV re-meshes it from its cached depth (:mod:`.cache`) without running the model.
"""
import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ..geometry.reconstruct import Options
from ..schema import field_of
from ..targets import Knobs
from .option_props import blender_properties, enum_items, option_names

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
    *enum_items(field_of(Knobs, "compression")),
]

_ARGS = dict(options=set())  # no animation of settings

# Which options (depth3d.geometry.reconstruct.Options, each a property made from its declaration) each holds:
SCENE_OPTIONS = option_names(Options, leave_out=("max_triangles",))  # the budget is the export target's
OBJECT_OPTIONS = option_names(Options, leave_out=("near", "far"))  # stored resolved, as scale/shift
LIVE_OPTIONS = tuple(n for n in OBJECT_OPTIONS if n not in ("geometry", "projection"))  # re-mesh when changed


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
    use_auto_fov: BoolProperty(name="Auto FOV", default=True,
                               description="Field of view from the model, else EXIF, else 55°", **_ARGS)
    range_mode: EnumProperty(name="Depth Range", items=RANGE_ITEMS, default="AUTO", **_ARGS)
    __annotations__.update(blender_properties(Options, SCENE_OPTIONS))
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
    __annotations__.update(blender_properties(Options, ("geometry",)))
    __annotations__.update(blender_properties(Options, ("projection",), update=_projection_changed))
    __annotations__.update(blender_properties(Options, LIVE_OPTIONS, update=_remesh))
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
