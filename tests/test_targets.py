"""VR/AR targets through the real ``depth3d convert``: every compressed file is decoded by an
independent decoder (glTF-Transform with the meshoptimizer and Draco projects' own decoders
from npm, ``tests/tools/decode_gltf.cjs``), the decoded file passes glTF-Validator with no
error and no warning, and the budgets (triangles, texture size) and positions are checked on
what the decoder gave back.

The decoded .glb is read by a few lines of numpy that follow the glTF 2.0 specification
(:func:`read_glb`: normalized integers, byte strides, the mesh node's translation and scale),
not by our writer's code.
"""
from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import TOOLS, assert_valid_gltf, box_depth, random_photo

from depth3d.backends.file import FileBackend
from depth3d.cli import main
from depth3d.exchange.gltf.meshopt import optimize
from depth3d.exchange.gltf.quantize import POSITION_ERROR
from depth3d.geometry.reconstruct import Options
from depth3d.io.image import read_photo
from depth3d.pipeline import photo_to_geometry
from depth3d.targets import TARGETS

W, H = 640, 480  # the default grid on this depth: ~615k triangles, over both budgets
FOV = 60.0


# --------------------------------------------------------------------------- readers


def decode(path: Path, out: Path) -> dict:
    """Decode ``path`` with glTF-Transform + the meshopt/Draco decoders into ``out`` (no
    compression extensions left); the decoder's summary."""
    node = shutil.which("node")
    if node is None or not (TOOLS / "node_modules" / "@gltf-transform" / "core").is_dir():
        pytest.fail("glTF-Transform missing: run `npm ci --prefix tests/tools` (the README's test command does)")
    run = subprocess.run([node, str(TOOLS / "decode_gltf.cjs"), str(path), str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


_DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
_NORMALIZE = {np.int8: 127.0, np.uint8: 255.0, np.int16: 32767.0, np.uint16: 65535.0}


def read_json(path: Path) -> dict:
    """The JSON chunk of a .glb."""
    data = path.read_bytes()
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert data[:4] == b"glTF" and kind == b"JSON"
    return json.loads(data[20:20 + length])


def read_glb(path: Path) -> dict:
    """JSON, and the first mesh's first primitive: ``position`` (N, 3) float64 in the scene frame
    (mesh node's translation·scale applied), ``uv`` (N, 2), ``indices`` (F, 3) or ``None``,
    ``mode``, ``images`` (bytes of each image), and the accessors' raw component types."""
    data = path.read_bytes()
    magic, version, total = struct.unpack_from("<4sII", data, 0)
    assert magic == b"glTF" and version == 2 and total == len(data)
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert kind == b"JSON"
    doc = json.loads(data[20:20 + length])
    bin_start = 20 + length + 8

    def view_bytes(index: int) -> tuple[memoryview, int | None]:
        view = doc["bufferViews"][index]
        assert view["buffer"] == 0
        start = bin_start + view.get("byteOffset", 0)
        return memoryview(data)[start:start + view["byteLength"]], view.get("byteStride")

    def accessor(index: int) -> np.ndarray:
        acc = doc["accessors"][index]
        raw, stride = view_bytes(acc["bufferView"])
        dtype = np.dtype(_DTYPES[acc["componentType"]])
        n = _SIZES[acc["type"]]
        stride = stride or dtype.itemsize * n
        rows = np.frombuffer(raw, np.uint8, count=stride * (acc["count"] - 1) + dtype.itemsize * n,
                             offset=acc.get("byteOffset", 0))
        rows = np.lib.stride_tricks.as_strided(rows, (acc["count"], dtype.itemsize * n), (stride, 1))
        values = np.ascontiguousarray(rows).view(dtype).reshape(acc["count"], n).astype(np.float64)
        if acc.get("normalized"):
            values = np.maximum(values / _NORMALIZE[dtype.type], -1.0)
        return values

    prim = doc["meshes"][0]["primitives"][0]
    node = next(n for n in doc["nodes"] if n.get("mesh") == 0)
    position = accessor(prim["attributes"]["POSITION"])
    position = position * np.asarray(node.get("scale", [1, 1, 1])) + np.asarray(node.get("translation", [0, 0, 0]))
    return {
        "json": doc,
        "position": position,
        "uv": accessor(prim["attributes"]["TEXCOORD_0"]) if "TEXCOORD_0" in prim["attributes"] else None,
        "color": accessor(prim["attributes"]["COLOR_0"]) if "COLOR_0" in prim["attributes"] else None,
        "indices": accessor(prim["indices"]).astype(np.int64).reshape(-1, 3) if "indices" in prim else None,
        "mode": prim.get("mode", 4),
        "images": [bytes(view_bytes(img["bufferView"])[0]) for img in doc.get("images", [])],
        "types": {k: doc["accessors"][v]["componentType"] for k, v in
                  [*prim["attributes"].items(), *([("indices", prim["indices"])] if "indices" in prim else [])]},
    }


def image_size(data: bytes) -> tuple[int, int]:
    import io

    from PIL import Image

    return Image.open(io.BytesIO(data)).size


def canonical(faces: np.ndarray) -> np.ndarray:
    """(F, 3) triangles rotated so that each starts at its smallest index (winding kept)."""
    faces = np.asarray(faces, np.int64)
    k = np.argmin(faces, axis=1)[:, None]
    return np.take_along_axis(faces, (k + np.arange(3)) % 3, axis=1)


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A 640×480 photo and a depth map with a box (the default grid: ~615k triangles)."""
    folder = tmp_path_factory.mktemp("targets")
    return random_photo(folder / "photo.png", (W, H)), box_depth(folder / "depth.npy", (W, H))


def convert(inputs, out: Path, *args: str) -> Path:
    photo, depth = inputs
    assert main(["convert", str(photo), "--depth", str(depth), "--fov", str(FOV), "-o", str(out), *args]) == 0
    return out


def our_geometry(inputs, **options):
    photo, depth = inputs
    return photo_to_geometry(read_photo(photo), FileBackend(str(depth)), Options(fov=FOV, **options))


# --------------------------------------------------------------------------- targets


@pytest.mark.parametrize("target", ["vr", "ar"])
def test_target_decodes_validates_and_keeps_its_budget(inputs, tmp_path, target):
    budget = TARGETS[target]
    out = convert(inputs, tmp_path / f"{target}.glb", "--target", target)
    raw = read_json(out)
    assert {"EXT_meshopt_compression", "KHR_mesh_quantization", "KHR_materials_unlit"} <= set(raw["extensionsUsed"])
    assert raw["buffers"][1]["extensions"]["EXT_meshopt_compression"]["fallback"] is True
    assert "uri" not in raw["buffers"][1]

    summary = decode(out, tmp_path / "decoded.glb")
    assert "EXT_meshopt_compression" in summary["extensionsUsed"]
    assert_valid_gltf(tmp_path / "decoded.glb")
    decoded = read_glb(tmp_path / "decoded.glb")
    assert "EXT_meshopt_compression" not in decoded["json"].get("extensionsUsed", [])

    # budgets, on what the decoder gave back
    faces = decoded["indices"]
    assert 0 < len(faces) <= budget.max_triangles
    assert summary["primitives"][0]["indices"] == 3 * len(faces)
    (tex,) = decoded["images"]
    w, h = image_size(tex)
    assert max(w, h) <= budget.texture_size
    if budget.power_of_two:
        assert (w, h) == (512, 512)
    else:  # the photo's own size, or with in-fill (vr) the atlas: the photo above its in-fill canvas
        atlas = our_geometry(inputs, infill=budget.infill).texture
        assert (w, h) == (atlas.shape[1], atlas.shape[0]) and w == W and h >= H
    # only what the unlit material uses: positions and texture coordinates, quantized
    assert set(decoded["types"]) == {"POSITION", "TEXCOORD_0", "indices"}
    assert decoded["types"]["POSITION"] == 5122 and decoded["types"]["TEXCOORD_0"] == 5123

    # positions and triangles equal ours (in the meshopt order we wrote), within the bound
    geometry = our_geometry(inputs, max_triangles=budget.max_triangles, infill=budget.infill)
    order = optimize(geometry.faces, len(geometry.vertices))
    expected = geometry.vertices[order.order].astype(np.float64)
    extent = expected.max(axis=0) - expected.min(axis=0)
    assert decoded["position"].shape == expected.shape
    error = np.abs(decoded["position"] - expected).max(axis=0)
    assert np.all(error <= extent * POSITION_ERROR * 1.001 + 1e-6), (error, extent * POSITION_ERROR)
    # the index codec may rotate a triangle's corners (winding kept)
    np.testing.assert_array_equal(canonical(decoded["indices"]), canonical(order.faces))
    uv = geometry.uv[order.order]
    np.testing.assert_allclose(decoded["uv"][:, 0], uv[:, 0], atol=1 / 65535)
    np.testing.assert_allclose(decoded["uv"][:, 1], 1 - uv[:, 1], atol=1 / 65535)


def test_draco_decodes_and_validates(inputs, tmp_path):
    out = convert(inputs, tmp_path / "draco.glb", "--compression", "draco", "--resolution", "48")
    raw = read_json(out)
    assert "KHR_draco_mesh_compression" in raw["extensionsRequired"]
    assert "KHR_mesh_quantization" not in raw["extensionsUsed"]  # Draco quantizes by itself
    decode(out, tmp_path / "decoded.glb")
    assert_valid_gltf(tmp_path / "decoded.glb")
    decoded = read_glb(tmp_path / "decoded.glb")
    geometry = our_geometry(inputs, resolution=48)
    assert len(decoded["indices"]) == len(geometry.faces)
    # Draco splits vertices along attribute seams and reorders them: compare as point sets,
    # within Draco's 14-bit quantization of the largest extent
    ours, theirs = geometry.vertices.astype(np.float64), decoded["position"]
    tol = (ours.max(axis=0) - ours.min(axis=0)).max() / (2 ** 14 - 1)
    for a, b in ((ours, theirs), (theirs, ours)):
        nearest = np.min(np.abs(a[:, None, :] - b[None, :, :]).max(axis=2), axis=1)
        assert nearest.max() <= tol


def test_full_is_plain_with_a_camera_at_the_photos_viewpoint(inputs, tmp_path):
    out = convert(inputs, tmp_path / "full.glb", "--resolution", "64")
    glb = read_glb(out)
    doc = glb["json"]
    assert doc.get("extensionsUsed") == ["KHR_materials_unlit"] and "extensionsRequired" not in doc
    assert glb["types"] == {"POSITION": 5126, "TEXCOORD_0": 5126, "indices": 5123}  # uint16: fits
    assert image_size(glb["images"][0]) == (W, H)  # the photo's own size
    (scene,) = doc["scenes"]
    mesh_node, camera_node = (doc["nodes"][i] for i in scene["nodes"])
    assert mesh_node["mesh"] == 0 and "translation" not in mesh_node and "scale" not in mesh_node
    assert "translation" not in camera_node and "rotation" not in camera_node  # origin, looking down −Z
    camera = doc["cameras"][camera_node["camera"]]["perspective"]
    assert camera["aspectRatio"] == pytest.approx(W / H)
    yfov = 2 * math.atan(math.tan(math.radians(FOV) / 2) / (W / H))
    assert camera["yfov"] == pytest.approx(yfov)
    # the camera sees the photo's frame: the mesh's corners project to the image corners
    p = glb["position"]
    s = -p[:, 0] / p[:, 2] / math.tan(math.radians(FOV) / 2)
    t = -p[:, 1] / p[:, 2] / math.tan(yfov / 2)
    assert s.min() > -1 and s.max() < 1 and t.min() > -1 and t.max() < 1
    assert s.min() < -0.95 and s.max() > 0.95 and t.min() < -0.95 and t.max() > 0.95
    assert_valid_gltf(out)


def test_gltf_container_with_meshopt_and_a_relief_camera(inputs, tmp_path):
    """A .gltf: the compressed buffer as a data URI, the fallback without data; a relief's camera
    stands where the plane of width 1 fills the horizontal FOV."""
    out = convert(inputs, tmp_path / "relief.gltf", "--compression", "meshopt", "--resolution", "64",
                  "--projection", "relief")
    doc = json.loads(out.read_text())
    assert doc["buffers"][0]["uri"].startswith("data:application/octet-stream;base64,")
    assert "uri" not in doc["buffers"][1] and doc["buffers"][1]["extensions"]["EXT_meshopt_compression"]["fallback"]
    (camera_node,) = [n for n in doc["nodes"] if "camera" in n]
    assert camera_node["translation"] == pytest.approx([0, 0, 0.5 / math.tan(math.radians(FOV) / 2)])
    decode(out, tmp_path / "decoded.glb")
    assert_valid_gltf(tmp_path / "decoded.glb")
    decoded = read_glb(tmp_path / "decoded.glb")
    plane = decoded["position"]
    assert plane[:, 0].max() - plane[:, 0].min() == pytest.approx(1.0, abs=0.01)  # the plane of width 1


def test_texture_size_knob(inputs, tmp_path):
    out = convert(inputs, tmp_path / "small.glb", "--texture-size", "300", "--resolution", "32")
    assert image_size(read_glb(out)["images"][0]) == (300, 225)
    out = convert(inputs, tmp_path / "small_ar.glb", "--target", "ar", "--texture-size", "300", "--resolution", "32")
    decode(out, tmp_path / "small_ar_decoded.glb")
    assert image_size(read_glb(tmp_path / "small_ar_decoded.glb")["images"][0]) == (256, 256)  # 225 → 256
    assert_valid_gltf(out)


def test_points_for_vr(inputs, tmp_path):
    """A point cloud: quantized, meshopt-compressed POSITION and COLOR_0, mode POINTS."""
    out = convert(inputs, tmp_path / "points.glb", "--geometry", "points", "--target", "vr", "--resolution", "64")
    decode(out, tmp_path / "points_decoded.glb")
    assert_valid_gltf(tmp_path / "points_decoded.glb")
    decoded = read_glb(tmp_path / "points_decoded.glb")
    assert decoded["mode"] == 0 and decoded["indices"] is None
    cloud = our_geometry(inputs, geometry="points", resolution=64)
    points = cloud.vertices.astype(np.float64)
    extent = points.max(axis=0) - points.min(axis=0)
    assert np.all(np.abs(decoded["position"] - points).max(axis=0) <= extent * POSITION_ERROR * 1.001 + 1e-6)
    # COLOR_0 is linear (glTF): the photo's sRGB colours decoded by the sRGB transfer function
    c = cloud.colors / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    assert decoded["types"]["COLOR_0"] == 5123
    np.testing.assert_allclose(decoded["color"][:, :3], linear, atol=1 / 65535)
    np.testing.assert_array_equal(decoded["color"][:, 3], 1.0)


@pytest.mark.parametrize("args", [
    ["--max-triangles", "0"],
    ["--max-triangles", "-5"],
    ["--texture-size", "0"],
    ["--texture-size", "-1"],
    ["--target", "ar", "--format", "ply"],
    ["--target", "vr", "--format", "obj"],
    ["--compression", "meshopt", "--format", "ply"],
    ["--texture-size", "512", "--format", "obj"],
    ["--compression", "draco", "--geometry", "points"],
    ["--target", "xr"],
])
def test_bad_target_arguments_exit_2_with_one_line_and_nothing_written(inputs, tmp_path, capsys, args):
    photo, depth = inputs
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["convert", str(photo), "--depth", str(depth), "-o", str(out / "o.glb"), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.splitlines()
    errors = [line for line in err if "error" in line]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    assert not out.exists()
