"""In-fill in real Blender (the ``bpy`` module): the panel's checkbox, the atlas texture, live re-meshing.

The scene: a wall 4 m away with a box 2 m away (a metric depth file) and a photo of a grey
wall and a red box.  Generated with "Fill Behind" on, the object's mesh carries the
background layer (as many vertices and triangles as the core's geometry) and its material the
atlas; toggled off and on again on the object, live re-meshing swaps mesh and texture.
"""
from __future__ import annotations

import math

import bpy  # noqa: E402  (the suite installs it; a broken bpy must fail here, not skip)
import numpy as np
import pytest
from blender_addon import registered  # noqa: E402,F401  (autouse: registered for the module)
from PIL import Image  # noqa: E402

from depth3d.blender import build, cache  # noqa: E402
from depth3d.geometry.reconstruct import Options, reconstruct  # noqa: E402

W, H = 64, 48
FOV = 60.0


@pytest.fixture()
def scene_files(tmp_path):
    rgb = np.full((H, W, 3), 120, np.uint8)
    depth = np.full((H, W), 4.0, np.float32)
    rgb[12:36, 20:44] = (220, 20, 20)
    depth[12:36, 20:44] = 2.0
    photo, depth_file = tmp_path / "wall.png", tmp_path / "wall.npy"
    Image.fromarray(rgb).save(photo)
    np.save(depth_file, depth)
    return photo, depth_file, rgb, depth


def _texture(obj) -> bpy.types.Image:
    (node,) = [n for n in obj.data.materials[0].node_tree.nodes if n.type == "TEX_IMAGE"]
    return node.image


def _triangles(obj) -> int:
    return sum(len(p.vertices) - 2 for p in obj.data.polygons)


def test_fill_behind_checkbox_builds_the_layer_and_live_remesh_keeps_it(scene_files):
    photo, depth_file, rgb, depth = scene_files
    s = bpy.context.scene.depth3d
    s.source, s.filepath = "FILE", str(photo)
    s.use_depth_file, s.depth_filepath, s.depth_kind = True, str(depth_file), "depth"
    s.use_auto_fov = False
    s.fov = np.radians(FOV)
    s.infill = True
    before = set(bpy.data.objects)
    assert bpy.ops.depth3d.generate_mesh("INVOKE_DEFAULT") == {"FINISHED"}
    obj = next(o for o in set(bpy.data.objects) - before if o.type == "MESH")
    assert obj.depth3d.infill
    on = reconstruct(rgb, depth, "depth", Options(fov=FOV, infill=True))
    off = reconstruct(rgb, depth, "depth", Options(fov=FOV))
    assert on.meta["infill"]["layer_faces"] > 0
    assert len(obj.data.vertices) == len(on.vertices) and _triangles(obj) == len(on.faces)
    atlas = _texture(obj)
    assert atlas.get(build.ATLAS_KEY) and tuple(atlas.size) == (on.texture.shape[1], on.texture.shape[0])
    photo_image = obj.depth3d.image
    assert photo_image is not None and photo_image is not atlas
    camera = obj.depth3d.camera
    assert camera.data.background_images[0].image is photo_image  # the camera still shows the photo

    obj.depth3d.infill = False  # live: re-meshed without the layer, the photo as texture
    assert len(obj.data.vertices) == len(off.vertices) and _triangles(obj) == len(off.faces)
    assert _texture(obj) is photo_image
    assert not [im for im in bpy.data.images if im.get(build.ATLAS_KEY)]  # the atlas went

    obj.depth3d.infill = True
    assert len(obj.data.vertices) == len(on.vertices) and _texture(obj).get(build.ATLAS_KEY)
    geometry = cache.rebuild_geometry(obj)
    np.testing.assert_array_equal(geometry.texture, on.texture)  # the photo's pixels, read back


def test_live_remesh_and_reload_keep_the_budget_and_the_layer(scene_files, tmp_path):
    """An object generated within a triangle budget and with the layer is rebuilt within that
    budget and with the layer when a setting changes, before and after saving and reopening
    the .blend; its Max Triangles is a live setting of its own."""
    photo, depth_file, rgb, depth = scene_files
    budget = 1500
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.depth3d.generate_mesh(filepath=str(photo), depth_filepath=str(depth_file), fov=math.radians(FOV),
                                         resolution=0, infill=True, max_triangles=budget) == {"FINISHED"}
    obj = bpy.data.objects["wall"]

    def assert_built(**kw):
        want = reconstruct(rgb, depth, "depth", Options(fov=FOV, infill=True, **kw))
        assert want.meta["infill"]["layer_faces"] > 0 and len(want.faces) <= kw["max_triangles"]
        assert len(obj.data.vertices) == len(want.vertices) and _triangles(obj) == len(want.faces)
        assert _texture(obj).get(build.ATLAS_KEY)

    full = reconstruct(rgb, depth, "depth", Options(fov=FOV, infill=True))
    assert len(full.faces) > 2 * budget
    assert (obj.depth3d.max_triangles, obj.depth3d.infill) == (budget, True)
    assert_built(resolution=0, max_triangles=budget)
    obj.depth3d.resolution = 48
    assert_built(resolution=48, max_triangles=budget)

    blend = tmp_path / "wall.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    obj = bpy.data.objects["wall"]
    assert (obj.depth3d.max_triangles, obj.depth3d.infill, obj.depth3d.resolution) == (budget, True, 48)
    obj.depth3d.resolution = 0
    assert_built(resolution=0, max_triangles=budget)
    obj.depth3d.max_triangles = 1000
    assert_built(resolution=0, max_triangles=1000)
