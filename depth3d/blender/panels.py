"""Sidebar panels (tab "Depth3D") in the 3D Viewport and the Image Editor.

"Generate": the source photo, depth source, geometry options and the Generate Depth Mesh
button (settings in ``Scene.depth3d``).  "Depth Object" (3D Viewport): the active generated
object's live settings — changing them re-meshes it from its cached depth.
"""
from __future__ import annotations

import math

import bpy

from ..geometry.depth import scale_shift_to_near_far
from . import cache
from .prefs import get_prefs
from .props import OBJECT_OPTIONS, SCENE_OPTIONS

CATEGORY = "Depth3D"
LAID_OUT = ("geometry", "projection", "fov", "scale", "shift", "near", "far", "resolution", "edge_threshold",
            "infill", "max_triangles")  # the options the panels place themselves


def _draw_others(layout, settings, names) -> None:
    """Any other option (a new field of Options) in the panels' order: after the laid-out ones."""
    for name in names:
        if name not in LAID_OUT:
            layout.prop(settings, name)


def draw_generate(layout, context) -> None:
    s = context.scene.depth3d
    layout.use_property_split = True
    layout.use_property_decorate = False

    col = layout.column(heading="Photo")
    col.prop(s, "source", expand=True)
    if s.source == "FILE":
        col.prop(s, "filepath", text="")
        col.prop(s, "pack_image")
    else:
        col.template_ID(s, "image", open="image.open")
        if s.image is None:
            space = context.space_data
            shown = space.image if space is not None and space.type == "IMAGE_EDITOR" else None
            col.label(text=f"Using: {shown.name}" if shown else "Using the Image Editor's image",
                      icon="IMAGE_DATA")

    col = layout.column(heading="Depth")
    col.prop(s, "use_depth_file")
    if s.use_depth_file:
        col.prop(s, "depth_filepath", text="")
        col.prop(s, "depth_kind")
    else:
        prefs = get_prefs(context)
        if prefs is not None:
            col.prop(prefs, "backend")
            col.prop(prefs, "model")
        else:
            col.label(text="Backend: automatic (enable the add-on for preferences)")

    col = layout.column(heading="Geometry")
    col.prop(s, "geometry", expand=True)
    col.prop(s, "projection", expand=True)
    col.prop(s, "use_auto_fov")
    sub = col.column()
    sub.active = not s.use_auto_fov
    sub.prop(s, "fov")
    col.prop(s, "range_mode")
    if s.range_mode == "SCALE_SHIFT":
        col.prop(s, "scale")
        col.prop(s, "shift")
    elif s.range_mode == "NEAR_FAR":
        col.prop(s, "near")
        col.prop(s, "far")
    col.prop(s, "resolution")
    if s.geometry == "mesh":
        col.prop(s, "edge_threshold")
        if s.projection == "perspective":
            col.prop(s, "infill")
    _draw_others(col, s, SCENE_OPTIONS)
    col.prop(s, "material")
    col.prop(s, "add_camera")

    row = layout.row()
    row.scale_y = 1.5
    row.operator("depth3d.generate_mesh", icon="MESH_GRID")


class _GeneratePanel:
    """The Generate panel; Blender needs one Panel class per editor it appears in."""

    bl_label = "Depth3D"
    bl_region_type = "UI"
    bl_category = CATEGORY

    def draw(self, context):
        draw_generate(self.layout, context)


class DEPTH3D_PT_generate_view3d(_GeneratePanel, bpy.types.Panel):
    bl_idname = "DEPTH3D_PT_generate_view3d"
    bl_space_type = "VIEW_3D"


class DEPTH3D_PT_generate_image(_GeneratePanel, bpy.types.Panel):
    bl_idname = "DEPTH3D_PT_generate_image"
    bl_space_type = "IMAGE_EDITOR"


class DEPTH3D_PT_object(bpy.types.Panel):
    bl_label = "Depth Object"
    bl_idname = "DEPTH3D_PT_object"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY

    @classmethod
    def poll(cls, context):
        return cache.has_cache(context.active_object)

    def draw(self, context):
        obj = context.active_object
        s = obj.depth3d
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        col = layout.column()
        col.label(text=f"{s.geometry.title()} from {s.model or 'depth'} ({s.kind})", icon="INFO")
        col.prop(s, "projection")
        col.prop(s, "fov")
        col.prop(s, "scale")
        col.prop(s, "shift")
        if s.kind == "disparity" and s.projection == "perspective" and s.scale + s.shift > 0:
            near, far = scale_shift_to_near_far(s.scale, s.shift)
            col.label(text=f"Near {near:.3g} m, far {'∞' if math.isinf(far) else f'{far:.3g} m'}")
        col.prop(s, "resolution")
        if s.geometry == "mesh":
            col.prop(s, "edge_threshold")
            if s.projection == "perspective":
                col.prop(s, "infill")
            col.prop(s, "max_triangles")
        _draw_others(col, s, OBJECT_OPTIONS)
        col.prop(s, "live")
        layout.operator("depth3d.remesh", icon="FILE_REFRESH")

        settings = context.scene.depth3d
        col = layout.column(heading="Export")
        col.prop(settings, "target")
        col.prop(settings, "compression")
        op = layout.operator("depth3d.export_target", icon="EXPORT")
        op.target, op.compression = settings.target, settings.compression


CLASSES = (DEPTH3D_PT_generate_view3d, DEPTH3D_PT_generate_image, DEPTH3D_PT_object)
