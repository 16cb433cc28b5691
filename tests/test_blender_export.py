"""Export for VR/AR in real Blender (the ``bpy`` module): the panel's target, the operator on a
generated object, its texture encoded by Blender itself.  Files are decoded by glTF-Transform
with the meshopt/Draco decoders and checked by glTF-Validator (:mod:`test_targets`' readers).
"""
from __future__ import annotations

import io
import math

import bpy  # noqa: E402  (the suite installs it; a broken bpy must fail here, not skip)
import numpy as np
import pytest
from blender_addon import registered  # noqa: E402,F401  (autouse: registered for the module)
from conftest import assert_valid_gltf  # noqa: E402
from PIL import Image  # noqa: E402
from test_targets import canonical, decode, image_size, is_power_of_two, read_glb  # noqa: E402

from depth3d.backends.file import FileBackend  # noqa: E402
from depth3d.exchange.gltf.meshopt import optimize  # noqa: E402
from depth3d.exchange.gltf.quantize import POSITION_ERROR  # noqa: E402
from depth3d.geometry.reconstruct import Options  # noqa: E402
from depth3d.io.image import read_photo  # noqa: E402
from depth3d.pipeline import photo_to_geometry  # noqa: E402
from depth3d.targets import TARGETS  # noqa: E402

W, H = 320, 240  # every pixel a vertex: ~152k triangles, over the AR budget
FOV = 60.0


@pytest.fixture()
def generated(tmp_path):
    """A photo with smooth colours, a box depth, and the object Generate Depth Mesh made of them."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yy, xx = np.mgrid[0:H, 0:W]
    rgb = np.stack([xx * 255 // W, yy * 255 // H, (xx + yy) * 255 // (W + H)], -1).astype(np.uint8)
    depth = np.full((H, W), 4.0, np.float32)
    depth[60:160, 100:220] = 2.5
    photo, depth_file = tmp_path / "room.png", tmp_path / "room.npy"
    Image.fromarray(rgb).save(photo)
    np.save(depth_file, depth)
    before = set(bpy.data.objects)
    assert bpy.ops.depth3d.generate_mesh(filepath=str(photo), depth_filepath=str(depth_file), fov=math.radians(FOV),
                                         resolution=0, add_camera=False) == {"FINISHED"}
    (obj,) = set(bpy.data.objects) - before
    bpy.context.view_layer.objects.active = obj
    return obj, photo, depth_file, rgb


def test_export_for_ar_from_the_panels_target(generated, tmp_path):
    obj, photo, depth_file, rgb = generated
    settings = bpy.context.scene.depth3d
    assert settings.target == "vr"  # the panel's default
    settings.target = "ar"
    out = tmp_path / "room_ar.glb"
    assert bpy.ops.depth3d.export_target(filepath=str(out), target=settings.target) == {"FINISHED"}
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".glb") == ["room_ar.glb"]

    decode(out, tmp_path / "decoded.glb")
    assert_valid_gltf(tmp_path / "decoded.glb")
    decoded = read_glb(tmp_path / "decoded.glb")
    budget = TARGETS["ar"]
    assert 0 < len(decoded["indices"]) <= budget.max_triangles
    w, h = image_size(decoded["images"][0])
    assert (w, h) == (256, 256) and is_power_of_two(w)
    # the object's cached depth rebuilt within the budget: what the core gives for the same photo
    core = photo_to_geometry(read_photo(photo), FileBackend(str(depth_file)),
                             Options(fov=FOV, resolution=0, max_triangles=budget.max_triangles))
    order = optimize(core.faces, len(core.vertices))
    expected = core.vertices[order.order].astype(np.float64)
    extent = expected.max(axis=0) - expected.min(axis=0)
    assert decoded["position"].shape == expected.shape
    assert np.all(np.abs(decoded["position"] - expected).max(axis=0) <= extent * POSITION_ERROR * 1.001 + 1e-6)
    np.testing.assert_array_equal(canonical(decoded["indices"]), canonical(order.faces))
    # the object itself is left as it was, over the budget
    obj.data.calc_loop_triangles()
    assert len(obj.data.loop_triangles) > budget.max_triangles


def test_export_with_draco_and_a_bad_path(generated, tmp_path):
    obj, *_ = generated
    out = tmp_path / "room.glb"
    assert bpy.ops.depth3d.export_target(filepath=str(out), target="vr", compression="draco") == {"FINISHED"}
    decode(out, tmp_path / "decoded.glb")
    assert_valid_gltf(tmp_path / "decoded.glb")
    bad = tmp_path / "room.ply"
    with pytest.raises(RuntimeError) as exc:  # bpy.ops raises the operator's ERROR report
        bpy.ops.depth3d.export_target(filepath=str(bad), target="ar")
    assert "glTF" in str(exc.value) and "Traceback" not in str(exc.value)
    assert not bad.exists()


def test_texture_encoded_by_blender_matches_pillows():
    """Blender's own scaling and JPEG writer (used when Blender's Python has no Pillow)."""
    from depth3d.blender.export import encode_texture_bpy
    from depth3d.targets import resolve_target

    yy, xx = np.mgrid[0:300, 0:400]
    rgb = np.stack([xx * 255 // 400, yy * 255 // 300, np.full_like(xx, 128)], -1).astype(np.uint8)
    image = encode_texture_bpy(rgb, resolve_target("ar", texture_size=128))
    assert image.mime_type == "image/jpeg" and (image.width, image.height) == (128, 128)
    ours = np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB"), np.float64)
    assert ours.shape == (128, 128, 3)
    pillow = np.asarray(Image.fromarray(rgb).resize((128, 128), Image.LANCZOS), np.float64)
    psnr = 10 * np.log10(255.0 ** 2 / np.mean((ours - pillow) ** 2))
    assert psnr > 30, psnr  # same picture, not flipped (a flip of the gradient gives < 10 dB)
    assert not [i for i in bpy.data.images if i.name.startswith("depth3d texture")]
