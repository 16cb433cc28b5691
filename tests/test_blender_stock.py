"""Export for VR/AR in a stock Blender: no ``meshoptimizer``, no ``DracoPy`` (and no Pillow)
in its Python.

The operator and the headless batch run in a fresh process (the bpy module) whose
``sys.path`` starts with a folder where these packages raise ``ImportError``, as they would in
a Blender without pip.  Meshes then go out with Draco through Blender's own glTF exporter
(:mod:`depth3d.blender.draco_fallback`).  The files are decoded by glTF-Transform with the
Draco project's decoder, validated by glTF-Validator, and compared with what the core builds
for the same photo and target: the triangle budget, the texture (the target's size, the
photo's pixels as Pillow resizes them), and every position within Draco's quantization.
"""
from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, assert_valid_gltf
from PIL import Image
from test_targets import canonical, decode, image_size, read_glb, read_json

from depth3d.backends.file import FileBackend
from depth3d.exchange.gltf.draco import POSITION_BITS
from depth3d.exchange.gltf.material import texture_size
from depth3d.geometry.reconstruct import Options
from depth3d.io.image import read_photo
from depth3d.pipeline import photo_to_geometry
from depth3d.targets import resolve_target

W, H = 320, 240  # every pixel a vertex: ~154k triangles, over the AR budget
FOV = 60.0
BLOCKED = ("meshoptimizer", "DracoPy", "PIL")

OPERATOR = r"""
import json, math, os, sys
for name in sys.argv[4:]:  # the shim works: neither binding is importable here
    try:
        __import__(name)
        raise SystemExit(f"{name} is importable")
    except ImportError:
        pass
import bpy
import depth3d.blender as addon

photo, depth, out = sys.argv[1:4]
bpy.ops.wm.read_factory_settings(use_empty=True)
addon.register()
assert bpy.ops.depth3d.generate_mesh(filepath=photo, depth_filepath=depth, fov=math.radians(60.0), resolution=0,
                                     add_camera=True) == {"FINISHED"}
obj = next(o for o in bpy.data.objects if o.type == "MESH")
bpy.context.view_layer.objects.active = obj
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y = 1000, 500  # the user's, left alone


def session():
    return {kind: sorted(i.name for i in getattr(bpy.data, kind))
            for kind in ("objects", "meshes", "materials", "images", "cameras", "collections")}


before = session()
result = bpy.ops.depth3d.export_target(filepath=out, target="ar")
report = {"result": sorted(result), "before": before, "after": session(),
          "render": [scene.render.resolution_x, scene.render.resolution_y]}
print("REPORT" + json.dumps(report), flush=True)
sys.stderr.flush()
os._exit(0)
"""


@pytest.fixture(scope="module")
def stock_env(tmp_path_factory):
    """Environment of a Python where the packages of ``BLOCKED`` raise ImportError (a stock Blender)."""
    shim = tmp_path_factory.mktemp("stock_blender")
    for name in BLOCKED:
        (shim / f"{name}.py").write_text('raise ImportError("not in a stock Blender\'s Python")\n')
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(shim), str(REPO)])
    return env


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """A photo with smooth colours and a box depth (as tests/test_blender_export.py)."""
    folder = tmp_path_factory.mktemp("room")
    yy, xx = np.mgrid[0:H, 0:W]
    rgb = np.stack([xx * 255 // W, yy * 255 // H, (xx + yy) * 255 // (W + H)], -1).astype(np.uint8)
    depth = np.full((H, W), 4.0, np.float32)
    depth[60:160, 100:220] = 2.5
    Image.fromarray(rgb).save(folder / "room.png")
    np.save(folder / "room.npy", depth)
    return folder / "room.png", folder / "room.npy"


def _run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return run


def _match(ours: np.ndarray, theirs: np.ndarray, tol: float) -> np.ndarray:
    """For each row of ``theirs`` the index of the row of ``ours`` within ``tol`` per
    coordinate (asserted to exist, and to be one-to-one).  Rows are sorted along a generic
    direction and each is compared with the window of rows whose projection lies within reach."""
    direction = np.array([1.0, 0.6180339887, 0.3819660113])
    reach = tol * direction.sum()
    order = np.argsort(ours @ direction)
    key = (ours @ direction)[order]
    probe = theirs @ direction
    lo, hi = np.searchsorted(key, probe - reach), np.searchsorted(key, probe + reach, side="right")
    best = np.full(len(theirs), -1)
    best_d = np.full(len(theirs), np.inf)
    for k in range(int((hi - lo).max(initial=0))):
        rows = np.minimum(lo + k, len(ours) - 1)
        d = np.abs(ours[order[rows]] - theirs).max(axis=1)
        better = (lo + k < hi) & (d < best_d)
        best[better], best_d[better] = order[rows][better], d[better]
    assert np.all(best_d <= tol), best_d.max()
    assert len(np.unique(best)) == len(best)
    return best


def _check_file(out: Path, tmp_path: Path, geometry, target, name: str, unlit: bool = True) -> dict:
    """``out`` is Draco by Blender, decodes, validates and holds ``geometry`` within ``target``."""
    raw = read_json(out) if out.suffix == ".glb" else json.loads(out.read_text())
    assert raw["asset"]["generator"].startswith("Khronos glTF Blender I/O")
    assert raw["extensionsRequired"] == ["KHR_draco_mesh_compression"]
    # unlit: the emission + light-path material; lit: Blender writes our specular 0 as such
    material = "KHR_materials_unlit" if unlit else "KHR_materials_specular"
    assert set(raw["extensionsUsed"]) == {"KHR_draco_mesh_compression", material}
    summary = decode(out, tmp_path / "decoded.glb")
    assert "KHR_draco_mesh_compression" in summary["extensionsUsed"]
    assert_valid_gltf(tmp_path / "decoded.glb")
    decoded = read_glb(tmp_path / "decoded.glb")
    doc = decoded["json"]
    assert "KHR_draco_mesh_compression" not in doc.get("extensionsUsed", [])
    # only what the unlit material uses: no normals
    assert set(decoded["types"]) == {"POSITION", "TEXCOORD_0", "indices"}
    # budgets, on what the decoder gave back: the core's decimated triangles, its very texture
    assert 0 < len(decoded["indices"]) == len(geometry.faces) <= target.max_triangles
    (texture,) = decoded["images"]
    tex_h, tex_w = geometry.texture.shape[:2]  # the photo, or with in-fill its atlas
    size = texture_size(tex_w, tex_h, target.texture_size, target.power_of_two)
    assert image_size(texture) == size and max(size) <= target.texture_size
    theirs = np.asarray(Image.open(io.BytesIO(texture)).convert("RGB"), np.float64)
    pillow = np.asarray(Image.fromarray(geometry.texture).resize(size, Image.LANCZOS), np.float64)
    psnr = 10 * np.log10(255.0 ** 2 / np.mean((theirs - pillow) ** 2))
    assert psnr > 30, psnr  # the photo, resized (Blender's scaling and JPEG writer), not flipped
    # positions: the core's within Draco's quantization (POSITION_BITS of the largest extent);
    # triangles: the core's, through that matching
    ours = geometry.vertices.astype(np.float64)
    tol = (ours.max(axis=0) - ours.min(axis=0)).max() / (2 ** POSITION_BITS - 1)
    assert decoded["position"].shape == ours.shape
    index = _match(ours, decoded["position"], tol)
    faces = index[decoded["indices"]]
    np.testing.assert_array_equal(np.unique(canonical(faces), axis=0), np.unique(canonical(geometry.faces), axis=0))
    # the nodes: the mesh and the photo's camera, as the core names and places them
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert set(nodes) == {name, f"{name} camera"}
    assert not ({"rotation", "translation", "scale", "matrix"} & set(nodes[name]))
    camera_node = nodes[f"{name} camera"]
    assert not ({"rotation", "scale", "matrix"} & set(camera_node))  # looking down −Z
    # at the origin; a relief's where its plane of width 1 fills the horizontal FOV
    relief = geometry.meta.get("projection") == "relief"
    assert camera_node.get("translation", [0, 0, 0]) == pytest.approx(
        [0, 0, 0.5 / math.tan(math.radians(FOV) / 2) if relief else 0])
    camera = doc["cameras"][camera_node["camera"]]["perspective"]
    assert camera["aspectRatio"] == pytest.approx(W / H)
    assert camera["yfov"] == pytest.approx(2 * math.atan(math.tan(math.radians(FOV) / 2) / (W / H)))
    return decoded


def test_export_for_vr_ar_operator_in_stock_blender(room, stock_env, tmp_path):
    photo, depth = room
    out = tmp_path / "room_ar.gltf"
    run = _run(["-c", OPERATOR, str(photo), str(depth), str(out), *BLOCKED], stock_env)
    report = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("REPORT"))[6:])
    assert report["result"] == ["FINISHED"]
    assert report["after"] == report["before"]  # nothing left behind, every name as it was
    assert report["render"] == [1000, 500]
    infos = [line for line in run.stdout.splitlines() if line.startswith("Info: room: room_ar.gltf")]
    assert len(infos) == 1 and "Draco" in infos[0] and "meshoptimizer isn't available" in infos[0], run.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["room_ar.gltf"]

    target = resolve_target("ar")
    geometry = photo_to_geometry(read_photo(photo), FileBackend(str(depth)),
                                 Options(fov=FOV, resolution=0, max_triangles=target.max_triangles))
    assert len(geometry.faces) < 2 * W * (H - 1)  # decimated: the budget was needed
    _check_file(out, tmp_path, geometry, target, "room")


@pytest.mark.parametrize("args, missing", [
    (["--target", "vr", "--max-triangles", "20000"], "meshoptimizer"),
    (["--target", "ar", "--compression", "draco"], "DracoPy"),
    (["--target", "ar", "--material", "lit", "--projection", "relief"], "meshoptimizer"),
])
def test_batch_with_a_target_in_stock_blender(room, stock_env, tmp_path, args, missing):
    photo, depth = room
    out = tmp_path / "out" / "room.glb"
    run = _run([str(REPO / "depth3d" / "blender" / "batch_script.py"), "convert", str(photo),
                "--depth", str(depth), "--fov", str(FOV), "--resolution", "0", "-o", str(out), *args],
               stock_env)
    infos = [line for line in run.stderr.splitlines() if line.startswith("info:")]
    assert len(infos) == 1 and "Draco" in infos[0] and f"{missing} isn't available" in infos[0], run.stderr
    assert not [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert [p.name for p in out.parent.iterdir()] == ["room.glb"]

    knobs = dict(zip(args[2::2], args[3::2]))
    target = resolve_target(args[1], int(knobs.get("--max-triangles", 0)) or None, None,
                            knobs.get("--compression"))
    projection = knobs.get("--projection", "perspective")
    geometry = photo_to_geometry(read_photo(photo), FileBackend(str(depth)),
                                 Options(fov=FOV, resolution=0, max_triangles=target.max_triangles,
                                         projection=projection, infill=target.infill and projection == "perspective"))
    _check_file(out, tmp_path, geometry, target, "room", unlit=knobs.get("--material") != "lit")


def test_batch_points_in_stock_blender_are_quantized_uncompressed(room, stock_env, tmp_path):
    photo, depth = room
    out = tmp_path / "cloud.glb"
    run = _run([str(REPO / "depth3d" / "blender" / "batch_script.py"), "convert", str(photo),
                "--depth", str(depth), "--fov", str(FOV), "--resolution", "64", "--geometry", "points",
                "--target", "vr", "-o", str(out)], stock_env)
    infos = [line for line in run.stderr.splitlines() if line.startswith("info:")]
    assert len(infos) == 1 and "without compression" in infos[0] and "meshoptimizer" in infos[0], run.stderr
    raw = read_json(out)
    assert set(raw["extensionsUsed"]) == {"KHR_materials_unlit", "KHR_mesh_quantization"}
    assert_valid_gltf(out)
    decoded = read_glb(out)
    geometry = photo_to_geometry(read_photo(photo), FileBackend(str(depth)),
                                 Options(fov=FOV, resolution=64, geometry="points"))
    extent = geometry.vertices.max(axis=0) - geometry.vertices.min(axis=0)
    assert decoded["position"].shape == geometry.vertices.shape
    assert np.all(np.abs(decoded["position"] - geometry.vertices).max(axis=0) <= extent / 65534 * 1.001 + 1e-6)
