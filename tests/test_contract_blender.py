"""The input contract in Blender's headless batch (issue 10): the bpy module, in this process
and as the user's own process (``depth3d/blender/batch_script.py``)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, assert_valid_gltf, box_depth, random_photo
from hypothesis import given, settings
from hypothesis import strategies as st
from test_contract import hashes, interrupt_mid_batch, photos_without_their_model, temp_files

W, H = 64, 48
BATCH = REPO / "depth3d" / "blender" / "batch_script.py"


@pytest.fixture
def main():
    from depth3d.blender.cli import main

    return main


def _errors(err: str) -> list[str]:
    return [line.strip() for line in err.splitlines() if "error: " in line]


@pytest.mark.parametrize("out_name, extra", [
    ("v.jpg", ["--format", "glb"]),   # the photo itself: once left at 0 bytes, the .glb hidden
    ("v.npy", ["--format", "glb"]),   # the depth map
    ("model.bin", ["--format", "glb"]),  # a name Blender's exporter would add .glb to
])
def test_output_onto_an_input_or_a_foreign_suffix_is_refused(tmp_path, capfd, main, out_name, extra):
    photo = random_photo(tmp_path / "v.jpg", (W, H))
    depth = box_depth(tmp_path / "v.npy", (W, H))
    before = hashes(tmp_path)
    code = main(["convert", str(photo), "-o", str(tmp_path / out_name), "--depth", str(depth), *extra])
    err = capfd.readouterr().err
    assert code == 2
    assert len(_errors(err)) == 1 and out_name in _errors(err)[0], err
    assert hashes(tmp_path) == before and temp_files(tmp_path) == []


def test_export_to_a_name_without_glb_suffix_is_atomic(tmp_path):
    """Blender's exporter appends .glb to a name without it; the temporary file must have it."""
    import bpy

    from depth3d.blender.build import export_gltf

    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.active_object
    try:
        out = export_gltf(tmp_path / "scene.model", [cube])
    finally:
        bpy.data.objects.remove(cube)
    assert [p.name for p in tmp_path.iterdir()] == ["scene.model"]
    assert out.stat().st_size > 0 and out.read_bytes()[:4] == b"glTF"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tiny_models import save_tiny_depth_anything

    return save_tiny_depth_anything(tmp_path_factory.mktemp("models") / "da")


def test_batch_script_with_an_in_process_model_exits(tmp_path, tiny_model):
    """The model runs in the batch's own process; the bpy module once hung in its exit
    handlers after that, forever, with the .glb written."""
    photo = random_photo(tmp_path / "photo.jpg", (W, H))
    out = tmp_path / "out.glb"
    try:
        run = subprocess.run([sys.executable, str(BATCH), "convert", str(photo), "-o", str(out),
                              "--model", str(tiny_model)],
                             capture_output=True, text=True, timeout=150, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("the batch did not exit")
    assert run.returncode == 0, run.stderr[-3000:]
    assert_valid_gltf(out)


def test_blender_properties_take_their_limits_from_the_options():
    """The panel's, the object's and the operator's limits are the ranges declared on Options."""
    import math

    from depth3d.blender import operators, props
    from depth3d.geometry.reconstruct import Options
    from depth3d.schema import range_of

    for cls in (props.Depth3DSettings, props.Depth3DObject, operators.DEPTH3D_OT_generate_mesh):
        kw = {name: p.keywords for name, p in cls.__annotations__.items() if hasattr(p, "keywords")}
        assert kw["resolution"]["min"] == range_of(Options, "resolution").min
        assert kw["resolution"]["max"] == range_of(Options, "resolution").max
        assert kw["edge_threshold"]["min"] == range_of(Options, "edge_threshold").min
        fov = range_of(Options, "fov")
        hi = kw["fov"]["max"]
        assert hi < (math.radians(fov.max) if kw["fov"].get("subtype") == "ANGLE" else fov.max)
        if "near" in kw:
            assert kw["near"]["min"] > range_of(Options, "near").min


def test_missing_weights_in_blender_words_once_per_batch(tmp_path, capfd, main, monkeypatch):
    """The model is missing: one line for the whole batch, telling the artist about the Model
    preference and the hub cache by its right name."""
    photos = photos_without_their_model(tmp_path, monkeypatch)
    code = main(["convert", str(photos), "-o", str(tmp_path / "out"), "--model", "nobody/no-such-model"])
    errors = _errors(capfd.readouterr().err)
    assert code == 1 and len(errors) == 1, errors
    assert "Depth3D preferences" in errors[0] and "HF_HUB_CACHE" in errors[0], errors
    assert "HF_HOME" not in errors[0]
    assert not (tmp_path / "out").exists()


def test_usage_error_shows_the_subcommands_usage(tmp_path, capfd, main):
    photo = random_photo(tmp_path / "p.png", (W, H))
    assert main(["convert", str(photo), "-o", str(tmp_path / "o.glb"), "--fov", "nan"]) == 2
    err = capfd.readouterr().err
    assert "usage: blender -b -c depth3d convert" in err and "--fov" in err, err


@pytest.mark.parametrize("sig, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_signal_mid_batch_stops_the_blender_batch(tmp_path, sig, status):
    """SIGINT or SIGTERM while the bpy batch runs: exit 130/143 with one line, no temporary file,
    every .glb written complete (the photo in progress no longer fails with a traceback while the
    batch carries on)."""
    run = interrupt_mid_batch(tmp_path, [sys.executable, str(BATCH)], sig, count=12, size=(320, 240),
                              suffix=".glb", extra=["--resolution", "0"])
    assert run.status == status, run.lines
    assert _errors("\n".join(run.lines)) == [f"error: interrupted ({sig})"], run.lines
    assert_valid_gltf(*run.written)


def test_bombs_and_cut_files_refused_by_blender_as_by_the_core(tmp_path, capfd, main):
    """What the core refuses before decoding, Blender's loader refuses too: a header declaring
    65500², a PNG and a WebP cut short (Blender would pad them), a palette PNG as depth."""
    import io

    from PIL import Image
    from test_contract import jpeg_declaring

    photos, depth = tmp_path / "photos", tmp_path / "depth"
    photos.mkdir(), depth.mkdir()
    jpeg_declaring(photos / "bomb.jpg", 65500, 65500)
    good = random_photo(tmp_path / "good.png", (W, H))
    (photos / "cut.png").write_bytes(good.read_bytes()[:-200])
    webp = io.BytesIO()
    Image.open(good).save(webp, "WEBP")
    (photos / "cutw.webp").write_bytes(webp.getvalue()[:60])
    random_photo(photos / "pal.png", (W, H), 3)
    for stem in ("bomb", "cut", "cutw", "pal"):
        box_depth(depth / f"{stem}.npy", (W, H))
    Image.fromarray(np.zeros((H, W), np.uint8)).convert("P").save(depth / "pal.png")
    (depth / "pal.npy").unlink()
    from depth3d.blender import depth_source

    real = depth_source._needs_blender_reader
    depth_source._needs_blender_reader = lambda path: path.suffix == ".png"  # as in Blender: no Pillow
    try:
        code = main(["convert", str(photos), "--depth", str(depth), "-o", str(tmp_path / "out")])
    finally:
        depth_source._needs_blender_reader = real
    errors = _errors(capfd.readouterr().err)
    assert code == 1 and len(errors) == 4, errors
    by_name = {Path(e.split(": ")[1]).name: e for e in errors}
    assert "exceeds the limit" in by_name["bomb.jpg"]
    assert "truncated" in by_name["cut.png"] and "truncated" in by_name["cutw.webp"]
    assert "P image is not a depth map" in by_name["pal.png"], errors
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_points_with_scale_zero_is_one_line(tmp_path, capfd, main):
    """Once ``KeyError: 'position'`` from Blender: now the core's reason, before Blender builds."""
    photo = random_photo(tmp_path / "p.png", (W, H))
    depth = box_depth(tmp_path / "p.npy", (W, H))
    code = main(["convert", str(photo), "--depth", str(depth), "-o", str(tmp_path / "o.glb"),
                 "--geometry", "points", "--scale", "0"])
    errors = _errors(capfd.readouterr().err)
    assert code == 1 and len(errors) == 1 and "in front of the camera" in errors[0], errors


def test_a_latin1_file_name_is_one_line_and_the_batch_goes_on(tmp_path, capfd, main):
    """A name that is not UTF-8 (bytes of Latin-1): its own line, escaped; the others written."""
    import os

    photos = tmp_path / "photos"
    photos.mkdir()
    for stem in ("a", "b"):
        random_photo(photos / f"{stem}.png", (W, H))
        box_depth(photos / f"{stem}.npy", (W, H))
    latin = os.fsdecode(b"caf\xe9.png")
    (photos / latin).write_bytes((photos / "a.png").read_bytes())
    box_depth(photos / (os.fsdecode(b"caf\xe9") + ".npy"), (W, H))
    code = main(["convert", str(photos), "--depth", str(photos), "-o", str(tmp_path / "out")])
    err = capfd.readouterr().err
    written = sorted(os.fsencode(p.name) for p in (tmp_path / "out").iterdir())
    assert b"a.glb" in written and b"b.glb" in written, (written, err)
    assert code in (0, 1) and "Traceback" not in err
    if code == 1:  # Blender could not open it: one line naming it, escaped
        (line,) = _errors(err)
        assert "caf\\udce9.png" in line, line


def test_blend_on_a_full_disk_is_one_line(tmp_path, capfd, main):
    """``--blend`` onto a full 64 KiB tmpfs: one line, exit 1, no partial .blend."""
    import os
    import shutil

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        photo = random_photo(tmp_path / "p.png", (320, 240))
        depth = box_depth(tmp_path / "p.npy", (320, 240))
        code = main(["convert", str(photo), "--depth", str(depth), "-o", str(tmp_path / "o.glb"),
                     "--blend", str(small / "scene.blend")])
        errors = _errors(capfd.readouterr().err)
        assert code == 1 and len(errors) == 1 and "scene.blend" in errors[0], errors
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], capture_output=True, check=False)


def test_single_photo_batch_says_what_it_wrote(tmp_path, capfd, main):
    photo = random_photo(tmp_path / "p.png", (W, H))
    depth = box_depth(tmp_path / "p.npy", (W, H))
    out = tmp_path / "o.glb"
    assert main(["convert", str(photo), "--depth", str(depth), "-o", str(out), "--fov", "60"]) == 0
    lines = [line for line in capfd.readouterr().out.splitlines() if line.startswith("wrote ")]
    assert len(lines) == 1 and lines[0].startswith(f"wrote {out} (") and "FOV 60.0°" in lines[0], lines
    assert main(["convert", str(photo), "--depth", str(depth), "-o", str(out), "--quiet"]) == 0
    assert "wrote " not in capfd.readouterr().out


def test_orientation_written_as_text_is_read_alike(tmp_path):
    """An EXIF orientation stored as ASCII "6" (some tools write it so): the core (Pillow) turns
    the photo; Blender's own EXIF reader now does too."""
    import io
    import struct

    from PIL import Image

    from depth3d.blender.images import load_photo
    from depth3d.io.image import read_photo

    tiff = (b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHI", 0x0112, 2, 2) + b"6\x00\x00\x00"
            + struct.pack("<I", 0))
    buf = io.BytesIO()
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(buf, "JPEG", exif=b"Exif\x00\x00" + tiff)
    (tmp_path / "text6.jpg").write_bytes(buf.getvalue())
    core, blender = read_photo(tmp_path / "text6.jpg"), load_photo(tmp_path / "text6.jpg")
    assert core.orientation == blender.orientation == 6
    assert core.rgb.shape == blender.rgb.shape == (W, H, 3)


# --------------------------------------------------------------------------- two readers, one answer


def _verdict(read, path: Path) -> str:
    """What a reader says of ``path``: "ok", or its error line's reason."""
    from depth3d.errors import InputError

    try:
        read(path)
    except InputError as exc:
        return str(exc).split(": ", 1)[1]
    return "ok"


def _jpegs() -> dict[str, bytes]:
    """Good JPEGs of the kinds the readers must tell apart from cut ones."""
    import io

    from PIL import Image

    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:H, 0:W]
    smooth = np.stack([xx * 255 // W, yy * 255 // H, (xx + yy) * 127 // (W + H)], axis=2).astype(np.uint8)
    noise = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    out = {}
    for name, rgb, options in [("baseline", smooth, {}), ("progressive", noise, {"progressive": True}),
                               ("restarts", noise, {"restart_marker_blocks": 2}),
                               ("optimized", smooth, {"optimize": True, "subsampling": 0})]:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", **options)
        out[name] = buf.getvalue()
    return out


def test_a_jpeg_cut_keeping_its_end_marker_is_refused_by_both_readers(tmp_path):
    """A JPEG cut anywhere in its scan data, its end marker kept (libjpeg pads it with grey and
    only warns): the core (Pillow) and Blender refuse it in the same words — both once took
    it — and agree wherever else it is cut; every whole file is read by both."""
    from test_contract_corpus import cut_keeping_eoi

    from depth3d.blender.images import load_photo
    from depth3d.io.image import read_photo
    from depth3d.io.image_header import JPEG_CUT

    path = tmp_path / "photo.jpg"
    cut_seen = 0
    for name, data in _jpegs().items():
        path.write_bytes(data)
        assert _verdict(read_photo, path) == _verdict(load_photo, path) == "ok", name
        path.write_bytes(cut_keeping_eoi(data))
        assert _verdict(read_photo, path) == _verdict(load_photo, path) == JPEG_CUT, name
        first_scan = data.index(b"\xff\xda")
        for end in range(first_scan, len(data) - 2, 5):
            path.write_bytes(data[:end] + b"\xff\xd9")
            core, blender = _verdict(read_photo, path), _verdict(load_photo, path)
            assert (core == "ok") == (blender == "ok"), (name, end, core, blender)
            if JPEG_CUT in (core, blender):
                assert core == blender == JPEG_CUT, (name, end, core, blender)
                cut_seen += 1
    assert cut_seen > 300


def test_a_cut_flat_jpeg_is_read_alike(tmp_path):
    """A flat grey progressive JPEG cut mid-scan: its scans' Huffman tables have one code, so
    whatever is missing decodes the same — both readers read it (Blender once refused it on
    libjpeg's warning alone while the core read it)."""
    import io

    from PIL import Image

    from depth3d.blender.images import load_photo
    from depth3d.io.image import read_photo

    buf = io.BytesIO()
    Image.fromarray(np.full((H, W, 3), 128, np.uint8)).save(buf, "JPEG", progressive=True)
    data, path = buf.getvalue(), tmp_path / "flat.jpg"
    for end in range(data.index(b"\xff\xda"), len(data) - 2, 3):
        path.write_bytes(data[:end] + b"\xff\xd9")
        core, blender = _verdict(read_photo, path), _verdict(load_photo, path)
        assert (core == "ok") == (blender == "ok"), (end, core, blender)


@settings(max_examples=60, deadline=None)
@given(progressive=st.booleans(), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=3),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_damaged_jpeg_scans_get_one_answer(progressive, flips, cut):
    """Bytes changed anywhere after the first scan's header, the file maybe cut there too with
    its end marker put back: the core and Blender accept it or refuse it alike (libjpeg shows
    only its first warning; Blender then judges the scans as the core does)."""
    import tempfile

    from depth3d.blender.images import load_photo
    from depth3d.io.image import read_photo

    data = bytearray(_jpegs()["progressive" if progressive else "baseline"])
    start = data.index(b"\xff\xda") + 14
    for where, value in flips:
        data[start + int(where * (len(data) - 2 - start - 1))] = value
    if cut is not None:
        data = data[: start + int(cut * (len(data) - 2 - start))] + b"\xff\xd9"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "damaged.jpg"
        path.write_bytes(bytes(data))
        core, blender = _verdict(read_photo, path), _verdict(load_photo, path)
    assert (core == "ok") == (blender == "ok"), (core, blender)


def test_good_jpegs_are_never_refused(tmp_path):
    """Baseline, progressive, grey, CMYK, restart markers, 4:4:4, odd sizes, a flat grey picture
    (all of it libjpeg's padding grey), a phone's motion photo (a video after the end marker):
    both readers read them all."""
    import io

    from PIL import Image

    from depth3d.blender.images import load_photo
    from depth3d.io.image import read_photo

    rng = np.random.default_rng(9)
    for w, h in ((W, H), (33, 17)):
        pictures = {"noise": rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
                    "grey": np.full((h, w, 3), 128, np.uint8)}
        for label, rgb in pictures.items():
            for mode in ("RGB", "L", "CMYK"):
                for options in ({}, {"progressive": True}, {"optimize": True, "subsampling": 0},
                                {"restart_marker_rows": 1, "progressive": True}, {"quality": 5}):
                    buf = io.BytesIO()
                    Image.fromarray(rgb).convert(mode).save(buf, "JPEG", **options)
                    path = tmp_path / f"{label}_{mode}_{w}.jpg"
                    path.write_bytes(buf.getvalue())
                    assert _verdict(read_photo, path) == _verdict(load_photo, path) == "ok", (path, options)
    motion = tmp_path / "motion.jpg"
    motion.write_bytes(_jpegs()["baseline"] + bytes(rng.integers(0, 254, 100_000, dtype=np.uint8)))
    assert _verdict(read_photo, motion) == _verdict(load_photo, motion) == "ok"


def test_cut_jpegs_through_the_cli_and_the_bpy_batch(tmp_path):
    """The user's processes, ``depth3d convert`` and ``batch_script.py convert``: the cut JPEGs
    (end marker kept) are one line each in the same words — no libjpeg warning beside them —
    and the whole ones are converted."""
    from test_contract import is_bar
    from test_contract_corpus import cut_keeping_eoi

    from depth3d.io.image_header import JPEG_CUT

    photos = tmp_path / "photos"
    photos.mkdir()
    jpegs = _jpegs()
    for name in ("baseline", "progressive"):
        (photos / f"{name}.jpg").write_bytes(jpegs[name])
        (photos / f"cut_{name}.jpg").write_bytes(cut_keeping_eoi(jpegs[name]))
    for p in list(photos.iterdir()):
        box_depth(p.with_suffix(".npy"), (W, H))
    before = hashes(photos)
    exe = Path(sys.executable).with_name("depth3d")
    for run_as, out in (([str(exe)], tmp_path / "cli"), ([sys.executable, str(BATCH)], tmp_path / "bpy")):
        run = subprocess.run([*run_as, "convert", str(photos), "--depth", str(photos), "-o", str(out),
                              "--resolution", "16"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
        lines = [line for line in run.stderr.replace("\r", "\n").splitlines() if line.strip() and not is_bar(line)]
        assert run.returncode == 1, run.stderr[-3000:]
        expected = [f"error: {photos / f'cut_{n}.jpg'}: {JPEG_CUT}" for n in ("baseline", "progressive")]
        assert sorted(lines) == expected, (run_as, run.stderr[-3000:])
        assert sorted(p.name for p in out.iterdir()) == ["baseline.glb", "progressive.glb"]
    assert hashes(photos) == before
