"""Analytic geometry through the real ``depth3d convert``: planes, steps, formulas, frames.

Every file is read back by an independent reader: trimesh for PLY, and a few lines of numpy
for GLB (:func:`read_glb`) that follow the glTF 2.0 specification directly (UV origin at the
top-left of the image), so a flip in our writer cannot be cancelled by the same flip in a reader.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from depth3d.cli import main
from depth3d.geometry.grid import grid_shape, grid_uv, resample

W, H = 64, 48  # 4:3
TAN30 = math.tan(math.radians(30.0))


# --------------------------------------------------------------------------- helpers


def quadrant_photo(path: Path, size=(W, H)) -> Path:
    """A photo whose four quadrants are red (top-left), green, blue and white (bottom-right)."""
    w, h = size
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[: h // 2, : w // 2] = (255, 0, 0)
    rgb[: h // 2, w // 2:] = (0, 255, 0)
    rgb[h // 2:, : w // 2] = (0, 0, 255)
    rgb[h // 2:, w // 2:] = (255, 255, 255)
    Image.fromarray(rgb).save(path)
    return path


def save(path: Path, array: np.ndarray) -> Path:
    np.save(path, np.asarray(array, np.float32))
    return path


def convert(tmp_path, depth: np.ndarray, *args: str, out: str = "out.ply", photo=None) -> Path:
    """``depth3d convert`` of the quadrant photo with ``depth``; asserts success, returns the file."""
    photo = photo or quadrant_photo(tmp_path / "photo.png")
    depth_file = save(tmp_path / "depth.npy", depth)
    target = tmp_path / out
    assert main(["convert", str(photo), "--depth", str(depth_file), "-o", str(target), *args]) == 0
    return target


def read_points(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) float64 points and (N, 3) uint8 colours of a point-cloud PLY."""
    cloud = trimesh.load(path)
    assert isinstance(cloud, trimesh.PointCloud)
    return np.asarray(cloud.vertices, np.float64), np.asarray(cloud.colors)[:, :3]


def read_glb(path: Path) -> dict:
    """The first primitive of a GLB: ``position`` (N, 3), ``uv`` (N, 2) as stored, ``indices``."""
    data = path.read_bytes()
    magic, version, _ = struct.unpack_from("<4sII", data, 0)
    assert magic == b"glTF" and version == 2
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert kind == b"JSON"
    doc = json.loads(data[20:20 + length])
    bin_start = 20 + length + 8
    dtypes = {5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
    sizes = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}

    def accessor(index: int) -> np.ndarray:
        acc = doc["accessors"][index]
        view = doc["bufferViews"][acc["bufferView"]]
        dtype = np.dtype(dtypes[acc["componentType"]])
        n = sizes[acc["type"]]
        start = bin_start + view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        stride = view.get("byteStride", dtype.itemsize * n)
        raw = np.frombuffer(data, np.uint8, count=stride * (acc["count"] - 1) + dtype.itemsize * n,
                            offset=start)
        rows = np.lib.stride_tricks.as_strided(raw, (acc["count"], dtype.itemsize * n), (stride, 1))
        return np.ascontiguousarray(rows).view(dtype).reshape(acc["count"], n).squeeze()

    prim = doc["meshes"][0]["primitives"][0]
    return {
        "position": accessor(prim["attributes"]["POSITION"]).astype(np.float64),
        "uv": accessor(prim["attributes"]["TEXCOORD_0"]).astype(np.float64)
        if "TEXCOORD_0" in prim["attributes"] else None,
        "indices": accessor(prim["indices"]).astype(np.int64).reshape(-1, 3)
        if "indices" in prim else None,
        "mode": prim.get("mode", 4),
    }


def pixel_centres(n: int) -> np.ndarray:
    return np.arange(n) + 0.5


def unique_sorted(values: np.ndarray, tol: float) -> np.ndarray:
    """Distinct values of ``values`` (sorted), merging those closer than ``tol``."""
    v = np.sort(values)
    return v[np.concatenate([[True], np.diff(v) > tol])]


def plane_raw() -> np.ndarray:
    """A non-constant raw map (a constant one is rejected as no depth at all)."""
    return np.linspace(1.0, 3.0, W * H, dtype=np.float32).reshape(H, W)


# --------------------------------------------------------------------------- the plane


@pytest.mark.parametrize("fmt", ["ply", "glb"])
def test_fronto_parallel_plane_at_2m_fov_60(tmp_path, fmt):
    # depth = scale·z + shift with scale 0, shift 2: every pixel exactly 2 m.
    out = convert(tmp_path, plane_raw(), "--geometry", "points", "--resolution", "0", "--fov", "60",
                  "--scale", "0", "--shift", "2", out=f"plane.{fmt}")
    if fmt == "ply":
        pts, colors = read_points(out)
    else:
        glb = read_glb(out)
        assert glb["mode"] == 0  # POINTS
        pts, colors = glb["position"], None
    assert len(pts) == W * H
    assert np.all(pts[:, 2] == -2.0)
    fx = W / (2 * TAN30)  # focal length in pixels
    xs = unique_sorted(pts[:, 0], 1e-6)
    ys = unique_sorted(pts[:, 1], 1e-6)
    np.testing.assert_allclose(xs, (pixel_centres(W) - W / 2) / fx * 2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ys, np.sort(-(pixel_centres(H) - H / 2) / fx * 2), rtol=1e-5, atol=1e-7)
    pitch = 2 / fx
    # the outer pixel edges span ±2·tan(30°) horizontally and ±2·tan(30°)·H/W vertically
    np.testing.assert_allclose([xs[0] - pitch / 2, xs[-1] + pitch / 2], [-2 * TAN30, 2 * TAN30], rtol=1e-5)
    np.testing.assert_allclose([ys[0] - pitch / 2, ys[-1] + pitch / 2],
                               [-2 * TAN30 * H / W, 2 * TAN30 * H / W], rtol=1e-5)
    if colors is not None:  # not mirrored, not upside down: red is top-left, white bottom-right
        left, top = pts[:, 0] < 0, pts[:, 1] > 0
        assert np.all(colors[left & top] == (255, 0, 0))
        assert np.all(colors[~left & top] == (0, 255, 0))
        assert np.all(colors[left & ~top] == (0, 0, 255))
        assert np.all(colors[~left & ~top] == (255, 255, 255))


def test_plane_mesh_faces_the_camera_with_the_photo_mapped(tmp_path):
    out = convert(tmp_path, plane_raw(), "--resolution", "0", "--fov", "60", "--scale", "0",
                  "--shift", "2", out="plane.glb")
    glb = read_glb(out)
    p, f, uv = glb["position"], glb["indices"], glb["uv"]
    assert np.all(p[:, 2] == -2.0)
    assert len(f) == 2 * (W - 1) * (H - 1)
    normals = np.cross(p[f[:, 1]] - p[f[:, 0]], p[f[:, 2]] - p[f[:, 0]])
    assert np.all(normals[:, 2] > 0) and np.allclose(normals[:, :2], 0, atol=1e-9)
    # glTF UV: origin top-left, v down.  Vertex at pixel (col, row) centre ↔ ((col+.5)/W, (row+.5)/H).
    fx = W / (2 * TAN30)
    col = p[:, 0] / 2 * fx + W / 2 - 0.5
    row = H / 2 - p[:, 1] / 2 * fx - 0.5
    np.testing.assert_allclose(uv[:, 0], (col + 0.5) / W, atol=1e-6)
    np.testing.assert_allclose(uv[:, 1], (row + 0.5) / H, atol=1e-6)


def test_exif_26mm_on_a_4_3_jpeg_sets_the_field_of_view(tmp_path):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 26  # FocalLengthIn35mmFilm
    photo = tmp_path / "phone.jpg"
    Image.new("RGB", (W, H), (90, 120, 150)).save(photo, exif=exif)
    out = convert(tmp_path, plane_raw(), "--geometry", "points", "--resolution", "0", "--scale", "0",
                  "--shift", "2", photo=photo)
    pts, _ = read_points(out)
    # the 35 mm equivalent is defined on the diagonal: 43.27 mm of the frame's diagonal
    sensor_w = math.hypot(36, 24) * W / math.hypot(W, H)
    tan_half = sensor_w / 2 / 26
    xs = unique_sorted(pts[:, 0], 1e-6)
    pitch = xs[1] - xs[0]
    np.testing.assert_allclose(xs[-1] + pitch / 2, 2 * tan_half, rtol=1e-5)
    assert math.degrees(2 * math.atan(tan_half)) == pytest.approx(67.3, abs=0.05)


# --------------------------------------------------------------------------- depth formulas


def test_disparity_scale_shift_and_near_far(tmp_path):
    d = np.tile(np.linspace(0.0, 1.0, W, dtype=np.float32), (H, 1))
    for args, scale, shift in (
        (["--scale", "0.9", "--shift", "0.1"], 0.9, 0.1),
        (["--near", "0.5", "--far", "4"], 1 / 0.5 - 1 / 4, 1 / 4),
        ([], 1 / 1 - 1 / 10, 1 / 10),  # defaults: near 1 m, far 10 m
    ):
        out = convert(tmp_path, d * 7 + 3, "--depth-kind", "disparity", "--geometry", "points",
                      "--resolution", "0", "--fov", "60", *args)
        pts, _ = read_points(out)
        expected = 1 / (scale * np.linspace(0.0, 1.0, W) + shift)  # per column
        depth = unique_sorted(-pts[:, 2], 1e-6)
        np.testing.assert_allclose(depth, np.sort(expected), rtol=1e-5)
    # near/far: the nearest point at near, the farthest at far
    np.testing.assert_allclose([depth.min(), depth.max()], [1.0, 10.0], rtol=1e-5)


def test_metric_scale_and_shift(tmp_path):
    z = np.tile(np.linspace(1.0, 4.0, W, dtype=np.float32), (H, 1))
    plain, _ = read_points(convert(tmp_path, z, "--geometry", "points", "--resolution", "0", "--fov", "60",
                                   out="a.ply"))
    same, _ = read_points(convert(tmp_path, z, "--geometry", "points", "--resolution", "0", "--fov", "60",
                                  "--scale", "1", "--shift", "0", out="b.ply"))
    assert np.array_equal(plain, same)
    np.testing.assert_allclose(unique_sorted(-plain[:, 2], 1e-6), np.linspace(1.0, 4.0, W), rtol=1e-6)
    moved, _ = read_points(convert(tmp_path, z, "--geometry", "points", "--resolution", "0", "--fov", "60",
                                   "--scale", "2", "--shift", "0.5", out="c.ply"))
    np.testing.assert_allclose(moved, plain * (2 * (-plain[:, 2:]) + 0.5) / -plain[:, 2:], rtol=1e-5)


def test_relief_plane_of_width_1_with_the_aspect(tmp_path):
    z = np.full((H, W), 2.0, np.float32)
    z[:, W // 2:] = 4.0  # right half twice as far: nearness 0 there, 1 on the left
    out = convert(tmp_path, z, "--projection", "relief", "--geometry", "points", "--resolution", "0",
                  "--scale", "0.3", "--shift", "0.05")
    pts, colors = read_points(out)
    xs, ys = unique_sorted(pts[:, 0], 1e-7), unique_sorted(pts[:, 1], 1e-7)
    np.testing.assert_allclose(xs, pixel_centres(W) / W - 0.5, atol=1e-6)
    np.testing.assert_allclose(ys, np.sort(0.5 - pixel_centres(H) / H) * H / W, atol=1e-6)
    left = pts[:, 0] < 0
    np.testing.assert_allclose(pts[left, 2], 0.3 + 0.05, atol=1e-6)  # nearest: full height
    np.testing.assert_allclose(pts[~left, 2], 0.05, atol=1e-6)
    assert np.all(colors[left & (pts[:, 1] > 0)] == (255, 0, 0))


# --------------------------------------------------------------------------- the vertex grid


def test_grid_shape():
    assert grid_shape(4000, 3000, 1024) == (1024, 768)
    assert grid_shape(3000, 4000, 1024) == (768, 1024)
    assert grid_shape(640, 480, 0) == (640, 480)
    assert grid_shape(640, 480, 1024) == (640, 480)  # never beyond the map
    assert grid_shape(1000, 3, 256) == (256, 2)  # at least 2×2


def test_resample_is_exact_on_linear_maps_at_grid_positions():
    h, w, nx, ny = 300, 400, 128, 96
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = resample(3 * xx - 2 * yy + 7, nx, ny)
    # the grid spans the pixel centres: from the first (0) to the last (w − 1), evenly
    x = np.arange(nx) * (w - 1) / (nx - 1)
    y = np.arange(ny) * (h - 1) / (ny - 1)
    np.testing.assert_allclose(out, 3 * x[None, :] - 2 * y[:, None] + 7, rtol=1e-5, atol=1e-3)
    # another image of the same view (a photo at twice the size) is sampled at the same places:
    # each of its pixels holds the x of its centre in the map's pixels
    xx2 = np.mgrid[0:2 * h, 0:2 * w][1].astype(np.float32)
    on_photo = resample((xx2 + 0.5) / 2 - 0.5, nx, ny, span=(w, h))
    np.testing.assert_allclose(on_photo, np.broadcast_to(x[None, :], (ny, nx)), atol=1e-4)
    same = np.random.default_rng(0).random((h, w)).astype(np.float32)
    assert resample(same, w, h) is same


def test_grid_uv():
    uv = grid_uv(4, 3, (4, 3)).reshape(3, 4, 2)  # a vertex per pixel: the pixel centres
    np.testing.assert_allclose(uv[0, :, 0], (np.arange(4) + 0.5) / 4, rtol=1e-6)
    np.testing.assert_allclose(uv[:, 0, 1], 1 - (np.arange(3) + 0.5) / 3, rtol=1e-6)  # v up: top row high
    uv = grid_uv(3, 2, (9, 5)).reshape(2, 3, 2)  # coarser: first to last pixel centre
    np.testing.assert_allclose(uv[0, :, 0], np.array([0.5, 4.5, 8.5]) / 9, rtol=1e-6)
    np.testing.assert_allclose(uv[:, 0, 1], 1 - np.array([0.5, 4.5]) / 5, rtol=1e-6)


def test_coarse_mesh_reaches_the_outermost_pixel_centres(tmp_path):
    """At any resolution the mesh spans the photo from its first to its last pixel centre."""
    z = 2.0 + 0.01 * np.mgrid[0:H, 0:W][0].astype(np.float32)  # a floor-like tilt
    glb = read_glb(convert(tmp_path, z, "--resolution", "17", "--fov", "60", out="coarse.glb"))
    p = glb["position"]
    x = p[:, 0] / -p[:, 2]  # tan-angle
    half = TAN30 * (W - 1) / W  # the outermost pixel centres, at ±(W/2 − 0.5) pixels
    assert x.min() == pytest.approx(-half, rel=1e-5) and x.max() == pytest.approx(half, rel=1e-5)


# --------------------------------------------------------------------------- discontinuities


def test_a_sharp_step_is_cut_exactly_between_the_two_surfaces(tmp_path):
    z = np.full((H, W), 2.0, np.float32)
    z[:, 40:] = 3.0  # a wall 1 m behind, from column 40
    glb = read_glb(convert(tmp_path, z, "--resolution", "0", "--fov", "60", out="step.glb"))
    p, f = glb["position"], glb["indices"]
    depth = -p[f][:, :, 2]
    near = np.all(np.isclose(depth, 2.0), axis=1)
    far = np.all(np.isclose(depth, 3.0), axis=1)
    assert np.all(near | far)  # no triangle spans the step
    # in the image, the surfaces meet at the pixel edge between columns 39 and 40
    fx = W / (2 * TAN30)
    col = p[:, 0] / -p[:, 2] * fx + W / 2  # image x in pixels (0 = left edge)
    assert col[f[near]].max() == pytest.approx(40.0, abs=1e-4)
    assert col[f[far]].min() == pytest.approx(40.0, abs=1e-4)
    # every pixel centre is covered by exactly one of them
    assert col[f[near]].min() == pytest.approx(0.5, abs=1e-4)
    assert col[f[far]].max() == pytest.approx(W - 0.5, abs=1e-4)


def test_edge_threshold_0_keeps_every_triangle(tmp_path):
    z = np.full((H, W), 2.0, np.float32)
    z[:, 40:] = 3.0
    glb = read_glb(convert(tmp_path, z, "--resolution", "0", "--fov", "60", "--edge-threshold", "0",
                           out="all.glb"))
    assert len(glb["indices"]) == 2 * (W - 1) * (H - 1)
    assert len(glb["position"]) == W * H


@pytest.mark.parametrize("value, kind", [(np.nan, "depth"), (np.inf, "depth"), (None, "disparity")])
def test_bad_depth_fails_with_one_line_and_no_file(tmp_path, capsys, value, kind):
    z = np.full((H, W), 0.5, np.float32)
    if value is not None:
        z[5, 7] = value
    depth = save(tmp_path / "bad.npy", z)
    out = tmp_path / "out.glb"
    code = main(["convert", str(quadrant_photo(tmp_path / "p.png")), "--depth", str(depth),
                 "--depth-kind", kind, "-o", str(out)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 1
    assert len(err) == 1 and err[0].startswith("error:") and "p.png" in err[0], err
    assert "Traceback" not in "\n".join(err)
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
