"""Headless batch in Blender (``blender -b -c depth3d convert …``), driven through the bpy module.

``depth3d.blender.cli.main`` runs in this process (real Blender: images decoded by Blender,
objects built with bpy, ``.glb`` written by Blender's glTF exporter).  What it wrote is checked
by independent readers: the Khronos glTF-Validator, and a fresh Blender process that re-imports
each ``.glb`` and reopens the ``.blend``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, assert_valid_gltf, box_depth, random_photo, same_point_set
from PIL import Image

# name → (width, height): different sizes so that every output has its own vertex count
PHOTOS = {"a.png": (64, 48), "b.jpg": (80, 60), "c.png": (48, 64)}


@pytest.fixture
def batch(tmp_path):
    """photos/ with three good photos and one that is not an image; depth/ with a map for each."""
    photos, depth = tmp_path / "photos", tmp_path / "depth"
    photos.mkdir(), depth.mkdir()
    for seed, (name, size) in enumerate(PHOTOS.items()):
        random_photo(photos / name, size, seed)
        box_depth(depth / f"{Path(name).stem}.npy", size)
    # Not decodable by Blender.  (A merely truncated JPEG is not enough: Blender's libjpeg
    # decodes what is there and fills the rest with grey.)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    box_depth(depth / "broken.npy", (64, 48))
    return photos, depth


@pytest.fixture
def main():
    """``depth3d.blender.cli.main`` (bpy is imported only once conftest has set Blender's user folder)."""
    from depth3d.blender.cli import main

    return main


def _expected(photos: Path, depth: Path, **options) -> dict[str, np.ndarray]:
    """Camera-frame vertices per photo stem, computed by the core (photos read by Pillow)."""
    from depth3d.backends import get_backend
    from depth3d.geometry.reconstruct import Options
    from depth3d.io.image import read_photo
    from depth3d.pipeline import photo_to_geometry

    return {
        Path(name).stem: photo_to_geometry(
            read_photo(photos / name), get_backend("file", path=depth / f"{Path(name).stem}.npy"),
            Options(**options),
        ).vertices
        for name in PHOTOS
    }


READER = r"""
import json, sys
import bpy
import numpy as np

blend, out, glbs = sys.argv[1], sys.argv[2], sys.argv[3:]
report = {}
if blend:
    bpy.ops.wm.open_mainfile(filepath=blend)
    report["blend"] = {
        "scenes": [s.name for s in bpy.data.scenes],
        "collections": {c.name: [o.name for o in c.objects] for c in bpy.data.collections},
        "vertices": {o.name: len(o.data.vertices) for o in bpy.context.scene.objects if o.type == "MESH"},
        "packed": {i.name: i.packed_file is not None for i in bpy.data.images if i.source == "FILE"},
    }
for glb in glbs:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=glb)
    objects = [o for o in bpy.data.objects if o.type == "MESH"]
    (obj,) = objects
    n = len(obj.data.vertices)
    co = np.empty(3 * n, np.float32)
    obj.data.vertices.foreach_get("co", co)
    m = np.array(obj.matrix_world, np.float64)
    world = co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]
    stem = glb.rsplit("/", 1)[-1][:-4]
    np.save(f"{out}/{stem}.npy", world)
    report[stem] = {"faces": len(obj.data.polygons), "uv": len(obj.data.uv_layers)}
print("REPORT" + json.dumps(report))
"""


def _read_back(tmp_path: Path, glbs=(), blend: Path | None = None) -> tuple[dict, Path]:
    """Re-import ``glbs`` and reopen ``blend`` in a fresh Blender (the bpy module, a new process)."""
    where = tmp_path / "read_back"
    where.mkdir(exist_ok=True)
    run = subprocess.run(
        [sys.executable, "-c", READER, str(blend or ""), str(where), *map(str, glbs)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(l for l in run.stdout.splitlines() if l.startswith("REPORT"))
    return json.loads(line[len("REPORT"):]), where


def _same_points(world: np.ndarray, camera_frame: np.ndarray) -> bool:
    """Blender's glTF importer maps glTF (x, y, z) to Blender (x, −z, y); compare as sets."""
    expected = camera_frame.astype(np.float64)[:, [0, 2, 1]] * np.array([1.0, -1.0, 1.0])
    return same_point_set(world, expected)


def _error_lines(err: str) -> list[str]:
    return [line.strip() for line in err.splitlines() if line.strip().startswith("error:")]


def test_batch_with_a_corrupt_photo(batch, tmp_path, capfd, main):
    photos, depth = batch
    out = tmp_path / "out"
    code = main(["convert", str(photos), "-o", str(out), "--depth", str(depth)])
    err = capfd.readouterr().err  # fd level: Blender's own C code prints there too
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.glb", "b.glb", "c.glb"]  # no temp files
    errors = _error_lines(err)
    assert len(errors) == 1 and f"{photos / 'broken.jpg'}:" in errors[0], err
    assert "Traceback" not in err
    assert_valid_gltf(*sorted(out.iterdir()))

    expected = _expected(photos, depth)
    report, where = _read_back(tmp_path, sorted(out.iterdir()))
    for stem, vertices in expected.items():
        world = np.load(where / f"{stem}.npy")
        assert len(world) == len(vertices), stem
        assert _same_points(world, vertices), stem
        assert report[stem]["faces"] > 0 and report[stem]["uv"] == 1
    import bpy

    assert not any(o.name in expected for o in bpy.data.objects)  # removed after export
    assert not any(c.name in expected for c in bpy.data.collections)


def test_blend_keeps_every_object_in_its_collection(batch, tmp_path, capfd, main):
    photos, depth = batch
    (photos / "broken.jpg").unlink()
    out, blend = tmp_path / "out", tmp_path / "scenes" / "all.blend"
    code = main(["convert", str(photos), "-o", str(out), "--depth", str(depth),
                 "--blend", str(blend), "--material", "lit"])
    assert code == 0, capfd.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["a.glb", "b.glb", "c.glb"]
    assert [p.name for p in blend.parent.iterdir()] == ["all.blend"]
    assert_valid_gltf(*out.iterdir())

    report, _ = _read_back(tmp_path, blend=blend)
    saved = report["blend"]
    assert saved["scenes"] == ["depth3d"]
    assert saved["collections"] == {"a": ["a"], "b": ["b"], "c": ["c"]}
    expected = _expected(photos, depth)
    assert saved["vertices"] == {stem: len(v) for stem, v in expected.items()}
    assert saved["packed"] == {"a.png": True, "b.jpg": True, "c.png": True}


def test_points_single_output_file(batch, tmp_path, main):
    photos, depth = batch
    out = tmp_path / "cloud.glb"
    code = main(["convert", str(photos / "b.jpg"), "-o", str(out), "--depth",
                 str(depth / "b.npy"), "--geometry", "points"])
    assert code == 0
    assert_valid_gltf(out)
    report, where = _read_back(tmp_path, [out])
    expected = _expected(photos, depth, geometry="points")["b"]
    assert report["cloud"]["faces"] == 0
    assert _same_points(np.load(where / "cloud.npy"), expected)


def _glb_image_bytes(path: Path) -> list[bytes]:
    """The image files embedded in a .glb, as stored."""
    import struct

    data = path.read_bytes()
    n = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20:20 + n])
    binary = data[20 + n + 8:]
    views = [doc["bufferViews"][image["bufferView"]] for image in doc.get("images", [])]
    return [binary[v.get("byteOffset", 0):v.get("byteOffset", 0) + v["byteLength"]] for v in views]


def _glb_images(path: Path) -> list:
    """The images embedded in a .glb, decoded by Pillow."""
    import io

    return [Image.open(io.BytesIO(data)).convert("RGB") for data in _glb_image_bytes(path)]


@pytest.mark.parametrize("suffix", ["jpg", "png"])
def test_the_photos_metadata_stays_out_of_the_glb_and_the_blend(tmp_path, main, suffix):
    """A phone's photo (EXIF with a GPS position, XMP, ICC, a comment or text): the .glb's texture
    and the .blend's packed image are its own file without them, every pixel as it was."""
    import io

    from PIL import PngImagePlugin
    from test_texture_file import picture, with_metadata

    from depth3d.io.texture_file import texture_file

    photo = tmp_path / f"phone.{suffix}"
    if suffix == "jpg":
        photo.write_bytes(with_metadata(picture(96, 72)))
    else:
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "holiday")
        info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret</x:xmpmeta>")
        exif = Image.Exif()
        exif[0x010F] = "PhoneMaker"
        out = io.BytesIO()
        picture(96, 72).save(out, "PNG", pnginfo=info, exif=exif)
        photo.write_bytes(out.getvalue())
    depth = box_depth(tmp_path / "phone.npy", (96, 72))
    out, blend = tmp_path / "phone.glb", tmp_path / "phone.blend"
    assert main(["convert", str(photo), "-o", str(out), "--depth", str(depth), "--blend", str(blend)]) == 0
    assert_valid_gltf(out)
    assert _glb_image_bytes(out) == [texture_file(photo.read_bytes())]
    for written in (out, blend):
        data = written.read_bytes()
        assert b"PhoneMaker" not in data and b"holiday" not in data and b"secret" not in data, written.name
    assert b"PhoneMaker" in photo.read_bytes()  # the photo itself is untouched


def test_exif_rotated_photo_is_textured_upright(tmp_path, main):
    """A JPEG stored sideways with EXIF orientation 6: the texture is the upright photo."""
    stored = np.zeros((48, 64, 3), np.uint8)  # as stored: 64 wide, 48 high
    stored[:, :32] = (255, 0, 0)  # left half red → top half once turned 90° clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = tmp_path / "side.jpg"
    Image.fromarray(stored).save(photo, exif=exif, quality=95)
    depth = box_depth(tmp_path / "side.npy", (48, 64))  # upright: 48 wide, 64 high
    out = tmp_path / "side.glb"
    assert main(["convert", str(photo), "-o", str(out), "--depth", str(depth)]) == 0
    assert_valid_gltf(out)
    (texture,) = _glb_images(out)
    assert texture.size == (48, 64)
    rgb = np.asarray(texture, dtype=np.int16)
    assert (np.abs(rgb[:24] - (255, 0, 0)).max(axis=2) < 40).mean() > 0.95  # top half red
    assert (rgb[40:].max(axis=2) < 40).mean() > 0.95  # bottom half black


def test_failures_leave_no_file(batch, tmp_path, capfd, main):
    """A depth map of the wrong shape and a missing one: one line each, nothing written."""
    photos, depth = batch
    (photos / "broken.jpg").unlink()
    np.save(depth / "a.npy", np.ones((10, 40), np.float32))  # aspect 4:1, photo is 4:3
    (depth / "c.npy").unlink()
    out = tmp_path / "out"
    assert main(["convert", str(photos), "-o", str(out), "--depth", str(depth)]) == 1
    errors = _error_lines(capfd.readouterr().err)
    assert len(errors) == 2
    assert f"{photos / 'a.png'}: " in errors[0] and "40" in errors[0], errors  # "depth is 40x10 …"
    assert f"{photos / 'c.png'}: " in errors[1] and "no depth file" in errors[1], errors
    assert [p.name for p in out.iterdir()] == ["b.glb"]


@pytest.mark.parametrize("extra", [
    ["--format", "ply"],                # Blender's batch writes .glb only
    ["--near", "1"],                    # --near without --far
    ["--depth", "DEPTH/a.npy"],         # several photos need a depth folder
    ["--backend", "remote"],            # without --server
    ["--blend", "OUT/scene.txt"],
    ["--resolution", "-1"],
    ["--max-triangles", "0"],
    ["--texture-size", "-4"],
    ["--compression", "draco", "--geometry", "points"],
])
def test_usage_errors_exit_2_and_write_nothing(batch, tmp_path, capfd, main, extra):
    photos, depth = batch
    out = tmp_path / "out"
    extra = [a.replace("DEPTH", str(depth)).replace("OUT", str(out)) for a in extra]
    argv = ["convert", str(photos), "-o", str(out), *extra]
    if "--depth" not in extra and "--backend" not in extra:
        argv += ["--depth", str(depth)]
    assert main(argv) == 2
    assert "usage:" in capfd.readouterr().err
    assert not out.exists()


def test_target_ar_writes_through_the_core_writer(batch, tmp_path, main):
    """``--target ar``: each .glb is decoded by glTF-Transform with the meshopt decoder, validates,
    and carries what the core builds for the same photo (quantized within its bound)."""
    from test_targets import decode, read_glb

    from depth3d.exchange.gltf.quantize import POSITION_ERROR

    photos, depth = batch
    (photos / "broken.jpg").unlink()
    out = tmp_path / "out"
    assert main(["convert", str(photos), "-o", str(out), "--depth", str(depth), "--target", "ar"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.glb", "b.glb", "c.glb"]
    expected = _expected(photos, depth, max_triangles=100_000)
    for stem, vertices in expected.items():
        summary = decode(out / f"{stem}.glb", tmp_path / f"{stem}.decoded.glb")
        assert "EXT_meshopt_compression" in summary["extensionsUsed"]
        assert_valid_gltf(tmp_path / f"{stem}.decoded.glb")
        decoded = read_glb(tmp_path / f"{stem}.decoded.glb")["position"]
        extent = (vertices.max(axis=0) - vertices.min(axis=0)).max()
        assert same_point_set(decoded, vertices, atol=extent * POSITION_ERROR * 1.001 + 1e-6), stem


def test_usage_no_photos_and_help(tmp_path, capfd, main):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["convert", str(empty), "-o", str(tmp_path / "out")]) == 2
    assert "no input photos" in capfd.readouterr().err
    assert main(["convert", "--help"]) == 0
    assert "--blend" in capfd.readouterr().out
    assert main([]) == 2


def test_extension_registers_the_command(batch, tmp_path, capfd, monkeypatch):
    """register() of the extension adds ``depth3d`` to Blender's ``-c`` commands; its handler
    is the batch; unregister() removes it."""
    import bpy

    import depth3d.blender as extension

    register = bpy.utils.register_cli_command
    handlers = {}

    def recording(name, handler):  # passes through to Blender, remembering the handler
        handlers[name] = handler
        return register(name, handler)

    monkeypatch.setattr(bpy.utils, "register_cli_command", recording)
    photos, depth = batch
    out = tmp_path / "out"
    extension.register()
    try:
        capfd.readouterr()
        probe = register("depth3d", lambda argv: 0)  # Blender knows the id already
        bpy.utils.unregister_cli_command(probe)
        assert 'duplicate command "depth3d"' in capfd.readouterr().err
        code = handlers["depth3d"](["convert", str(photos), "-o", str(out), "--depth", str(depth)])
    finally:
        extension.unregister()
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.glb", "b.glb", "c.glb"]
    assert len(_error_lines(capfd.readouterr().err)) == 1
    probe = register("depth3d", lambda argv: 0)  # free again: no warning
    bpy.utils.unregister_cli_command(probe)
    assert "duplicate" not in capfd.readouterr().err


def test_batch_script_without_the_extension(batch, tmp_path):
    """``python depth3d/blender/batch_script.py convert …`` (as in ``blender -b --python … --``)."""
    photos, depth = batch
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, str(REPO / "depth3d" / "blender" / "batch_script.py"), "--",
         "convert", str(photos), "-o", str(out), "--depth", str(depth)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert run.returncode == 1, run.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["a.glb", "b.glb", "c.glb"]
    errors = _error_lines(run.stderr)
    assert len(errors) == 1 and "broken.jpg" in errors[0]
    assert "Traceback" not in run.stderr
