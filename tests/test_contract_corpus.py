"""A generated bad-input corpus, through the CLI and the Blender batch, and property tests of the
loaders and the option checks (Hypothesis).  Nothing here is a committed binary: every file is
made by the fixtures below.

Every case holds the contract: one ``error: <file>: <reason>`` line per bad input (none for a
good one), the right exit status, no partial or temporary file, the inputs untouched (hashed
before and after) and memory bounded.  The case count is recorded in docs/contract.md.
"""
from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_valid_gltf, box_depth, random_photo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from test_contract import hashes, is_bar, jpeg_declaring, temp_files

W, H = 64, 48


def _jpeg(rgb: np.ndarray, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", **save)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header says ``width`` × ``height`` and whose data is a few bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b""))


def tiff_declaring(width: int, height: int) -> bytes:
    """A little-endian TIFF whose first directory says ``width`` × ``height``, 8-bit grey."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 16)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, typ, n, value) if typ == 4 else struct.pack("<HHIHH", tag, typ, n, value, 0)
        for tag, typ, n, value in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 24) + bytes(16) + ifd


def tiff_of(a: np.ndarray) -> bytes:
    """An uncompressed one-strip grey TIFF holding the (H, W) array ``a`` as stored, of any
    integer or float dtype (Pillow writes no signed 16-bit TIFF)."""
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    h, w = a.shape
    data = a.tobytes()
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8 * a.dtype.itemsize), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8 + 2 + 12 * 10 + 4), (277, 3, 1, 1), (278, 4, 1, h),
               (279, 4, 1, len(data)), (339, 3, 1, {"u": 1, "i": 2, "f": 3}[a.dtype.kind])]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, typ, n, value) if typ == 4 else struct.pack("<HHIHH", tag, typ, n, value, 0)
        for tag, typ, n, value in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + data


def cut_keeping_eoi(jpeg: bytes) -> bytes:
    """``jpeg`` cut halfway through its last scan's data, its end-of-image marker put back:
    libjpeg pads the rest with grey and only warns."""
    sos = jpeg.rindex(b"\xff\xda")
    start = sos + 2 + int.from_bytes(jpeg[sos + 2:sos + 4], "big")
    return jpeg[: (start + len(jpeg) - 2) // 2] + b"\xff\xd9"


def exif_orientation_bytes(orientation: int) -> bytes:
    """An EXIF block with only the Orientation tag."""
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"Exif\x00\x00" + tiff + struct.pack("<I", 0)


# name → None (a good photo: converted) or the words its error line must hold
PHOTO_CASES: dict[str, str | None] = {
    "good.png": None,
    "cmyk.jpg": None,
    "palette.png": None,
    "palette_alpha.png": None,
    "grey16.png": None,
    "float.tiff": None,
    "corrupt_exif.jpg": None,
    **{f"exif{o}.jpg": None for o in range(1, 9)},
    "with space.png": None,
    "ünïcødé.png": None,
    "-leading dash.png": None,
    "new\nline.png": None,
    "empty.jpg": "empty file",
    "truncated_jpeg.jpg": "truncated",
    "cut_eoi.jpg": "its JPEG scan data ends early",
    "cut_eoi_progressive.jpg": "its JPEG scan data ends early",
    "truncated_png.png": "truncated",
    "truncated_tiff.tiff": "truncated",
    "truncated_webp.webp": "truncated",
    "no_iend.png": "truncated",
    "text.jpg": "not an image",
    "bomb_jpeg.jpg": "exceeds the limit",
    "bomb_png.png": "exceeds the limit",
    "bomb_tiff.tiff": "exceeds the limit",
    "strip.png": "no photo",
    "loop.png": "broken link",
    "dangling.jpg": "broken link",
    "fifo.png": "not a regular file",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    """photos/ holding every PHOTO_CASES file, depth/ a matching depth map for each stem."""
    root = tmp_path_factory.mktemp("corpus")
    photos, depth = root / "photos", root / "depth"
    photos.mkdir(), depth.mkdir()
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    good_jpeg = _jpeg(rgb)
    good_png = random_photo(root / "src.png", (W, H))
    files = {
        "good.png": good_png.read_bytes(),
        "corrupt_exif.jpg": _jpeg(rgb, exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f garbage"),
        "empty.jpg": b"",
        "truncated_jpeg.jpg": good_jpeg[: len(good_jpeg) // 2],
        "cut_eoi.jpg": cut_keeping_eoi(good_jpeg),
        "no_iend.png": good_png.read_bytes()[:-12],  # all its pixels, not its end chunk
        "cut_eoi_progressive.jpg": cut_keeping_eoi(_jpeg(rgb, progressive=True)),
        "truncated_png.png": good_png.read_bytes()[:-300],
        "text.jpg": b"this is a text file, not a photo\n" * 10,
        "bomb_png.png": png_declaring(9000, 9000),
        "bomb_tiff.tiff": tiff_declaring(60000, 60000),
    }
    for name in ("with space.png", "ünïcødé.png", "-leading dash.png", "new\nline.png"):
        files[name] = files["good.png"]
    for name, data in files.items():
        (photos / name).write_bytes(data)
    Image.fromarray(rgb).convert("CMYK").save(photos / "cmyk.jpg")
    Image.fromarray(rgb).convert("P").save(photos / "palette.png")
    pal = Image.fromarray(rgb).convert("P")
    pal.info["transparency"] = 0
    pal.save(photos / "palette_alpha.png", transparency=0)
    Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257).save(photos / "grey16.png")
    Image.fromarray(rgb[:, :, 0].astype(np.float32) / 255).save(photos / "float.tiff")
    tiff = io.BytesIO()
    Image.fromarray(rgb).save(tiff, "TIFF")
    (photos / "truncated_tiff.tiff").write_bytes(tiff.getvalue()[: len(tiff.getvalue()) * 2 // 3])
    webp = io.BytesIO()
    Image.fromarray(rgb).save(webp, "WEBP")
    (photos / "truncated_webp.webp").write_bytes(webp.getvalue()[: len(webp.getvalue()) // 2])
    from depth3d.io.image import apply_orientation

    yy, xx = np.mgrid[0:H, 0:W]
    smooth = np.stack([xx * 255 // W, yy * 255 // H, (xx + yy) * 127 // (W + H)], axis=2).astype(np.uint8)
    smooth[: H // 3, : W // 3] = (255, 0, 0)  # a red top-left corner: any wrong turn shows
    for o in range(1, 9):  # stored so that, turned as its tag says, it shows ``smooth`` (W×H)
        stored = apply_orientation(smooth, {6: 8, 8: 6}.get(o, o))
        (photos / f"exif{o}.jpg").write_bytes(_jpeg(stored, exif=exif_orientation_bytes(o), quality=95))
    jpeg_declaring(photos / "bomb_jpeg.jpg", 12000, 12000)
    Image.fromarray(np.zeros((1, 200, 3), np.uint8)).save(photos / "strip.png")
    os.symlink(photos / "loop.png", photos / "loop.png")
    os.symlink(root / "missing.jpg", photos / "dangling.jpg")
    os.mkfifo(photos / "fifo.png")
    for name in PHOTO_CASES:
        box_depth(depth / f"{Path(name).stem}.npy", (W, H))
    return photos, depth


def _check_batch(code: int, err: str, photos: Path, out: Path, before: dict, suffix: str) -> None:
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and not is_bar(line)]
    errors = [line for line in lines if line.startswith("error: ")]
    assert code == 1, err[-3000:]
    assert "Traceback" not in err
    bad = {name: words for name, words in PHOTO_CASES.items() if words}
    assert len(errors) == len(bad), "\n".join(errors)
    for name, words in bad.items():
        quoted = str(photos / name).replace("\n", "\\n")
        (line,) = [e for e in errors if e.startswith(f"error: {quoted}: ")]
        assert words in line, line
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(Path(n).stem + suffix for n, w in PHOTO_CASES.items() if w is None)
    assert temp_files(out) == []
    assert hashes(photos) == before


def test_photo_corpus_through_the_cli(corpus, tmp_path, capsys):
    from depth3d.cli import main

    photos, depth = corpus
    before = hashes(photos)
    out = tmp_path / "out"
    code = main(["convert", str(photos), "--depth", str(depth), "-o", str(out), "--format", "ply",
                 "--geometry", "points"])
    _check_batch(code, capsys.readouterr().err, photos, out, before, ".ply")


def test_photo_corpus_through_the_cli_process(corpus, tmp_path):
    """The same as a user's process: stderr holds nothing but the error lines (and the bar) —
    no library warning, no traceback — and memory stays that of a small batch."""
    import sys

    from test_contract import MEASURED_CLI

    photos, depth = corpus
    before = hashes(photos)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-c", MEASURED_CLI, "convert", str(photos), "--depth", str(depth),
                          "-o", str(out), "--format", "ply", "--geometry", "points"],
                         capture_output=True, text=True, timeout=300, check=False)
    lines = [line for line in run.stderr.replace("\r", "\n").splitlines() if line.strip() and not is_bar(line)]
    assert all(line.startswith("error: ") for line in lines), run.stderr[-3000:]
    _check_batch(run.returncode, run.stderr, photos, out, before, ".ply")
    assert int(run.stdout.split()[-1]) < 400  # MiB peak: no bomb was decoded


def test_photo_corpus_through_the_blender_batch(corpus, tmp_path, capfd):
    from depth3d.blender.cli import main

    photos, depth = corpus
    before = hashes(photos)
    out = tmp_path / "out"
    code = main(["convert", str(photos), "--depth", str(depth), "-o", str(out), "--resolution", "16"])
    _check_batch(code, capfd.readouterr().err, photos, out, before, ".glb")
    assert_valid_gltf(*sorted(out.iterdir())[:3])


def test_all_eight_exif_orientations_stand_upright(corpus, tmp_path):
    """Core and Blender read every orientation to the same upright pixels."""
    from depth3d.blender.images import load_photo
    from depth3d.io.image import read_photo

    photos, _ = corpus
    upright = read_photo(photos / "exif1.jpg").rgb.astype(np.int16)
    for o in range(1, 9):
        core = read_photo(photos / f"exif{o}.jpg")
        blender = load_photo(photos / f"exif{o}.jpg")
        assert core.orientation == blender.orientation == o
        assert core.rgb.shape == blender.rgb.shape == upright.shape, o
        assert np.abs(core.rgb.astype(np.int16) - upright).mean() < 12, o  # JPEG noise of the transpose
        assert np.abs(core.rgb.astype(np.int16) - blender.rgb).max() <= 2, o  # same decoder, two readers


# --------------------------------------------------------------------------- depth files

# name → None (read) or the words the error line must hold
DEPTH_CASES: dict[str, str | None] = {
    "float16.npy": None, "int16.npy": None, "hw1.npy": None, "pfm.pfm": None,
    "grey16.png": None, "float.tiff": None, "rgb_grey.png": None,
    **{f"tiff_{t}.tiff": None for t in ("int32", "uint32", "int16", "uint16", "uint8")},
    "tiff_int32_huge.tiff": "only magnitudes below 8388608", "tiff_int8.tiff": "8-bit signed integer TIFF",
    "tiff_float64.tiff": "64-bit float TIFF", "truncated_tiff.tiff": "depth map (truncated file)",
    "empty.npy": "empty file", "truncated.npy": "unreadable npy", "pickled.npy": "unreadable npy",
    "complex.npy": "must be numbers", "rgb3.npy": "one channel", "nan.npy": "NaN/inf",
    "inf.npy": "NaN/inf", "bomb.npy": "exceeds the limit", "truncated_pfm.pfm": "truncated PFM",
    "palette.png": "not a depth map", "colour.png": "not a depth map",
    "truncated_png.png": "depth map (truncated file)", "no_iend.png": "depth map (truncated file)",
    "negative.npy": "positive", "wrong_aspect.npy": "depth is",
}


@pytest.fixture(scope="module")
def depth_corpus(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("depth_corpus")
    photos, depth = root / "photos", root / "depth"
    photos.mkdir(), depth.mkdir()
    z = np.full((H, W), 3.0, np.float32)
    z[10:20, 20:40] = 1.5
    np.save(depth / "float16.npy", z.astype(np.float16))
    np.save(depth / "int16.npy", (z * 1000).astype(np.int16))
    np.save(depth / "hw1.npy", z[:, :, None])
    from depth3d.io.depth_io import write_pfm

    write_pfm(depth / "pfm.pfm", z)
    Image.fromarray((z * 1000).astype(np.uint16)).save(depth / "grey16.png")
    Image.fromarray(z).save(depth / "float.tiff")
    mm = (z * 1000).astype(np.int64)
    for name, a in {"int32": mm - 2000, "uint32": mm, "int16": mm - 2000, "uint16": mm,
                    "uint8": mm // 20, "int32_huge": mm * 3000, "int8": mm // 100 - 40, "float64": z}.items():
        (depth / f"tiff_{name}.tiff").write_bytes(tiff_of(a.astype(name.split("_")[0])))
    (depth / "truncated_tiff.tiff").write_bytes(tiff_of(mm.astype(np.uint16))[:-1000])
    grey = (z * 50).astype(np.uint8)
    Image.fromarray(np.stack([grey] * 3, axis=2)).save(depth / "rgb_grey.png")
    (depth / "empty.npy").write_bytes(b"")
    np.save(depth / "truncated.npy", z)
    (depth / "truncated.npy").write_bytes((depth / "truncated.npy").read_bytes()[:200])
    np.save(depth / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(depth / "complex.npy", z.astype(np.complex64))
    np.save(depth / "rgb3.npy", np.stack([z, z * 2, z * 3], axis=2))
    np.save(depth / "nan.npy", np.where(z > 2, np.nan, z).astype(np.float32))
    np.save(depth / "inf.npy", np.where(z > 2, np.inf, z).astype(np.float32))
    with open(depth / "bomb.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (60000, 60000)})
    (depth / "truncated_pfm.pfm").write_bytes((depth / "pfm.pfm").read_bytes()[:500])
    Image.fromarray(grey).convert("P").save(depth / "palette.png")
    Image.fromarray(np.stack([grey, grey // 2, grey], axis=2)).save(depth / "colour.png")
    Image.fromarray((z * 1000).astype(np.uint16)).save(depth / "full16.png")
    (depth / "truncated_png.png").write_bytes((depth / "full16.png").read_bytes()[:-100])
    (depth / "no_iend.png").write_bytes((depth / "full16.png").read_bytes()[:-12])
    (depth / "full16.png").unlink()
    np.save(depth / "negative.npy", -z)
    np.save(depth / "wrong_aspect.npy", np.ones((10, 40), np.float32))
    for name in DEPTH_CASES:
        random_photo(photos / f"{Path(name).stem}.png", (W, H))
    return photos, depth


@pytest.mark.parametrize("frontend", ["cli", "blender"])
def test_depth_corpus(depth_corpus, tmp_path, capfd, frontend):
    photos, depth = depth_corpus
    before = hashes(depth_corpus[0].parent)
    out = tmp_path / "out"
    argv = ["convert", str(photos), "--depth", str(depth), "-o", str(out), "--resolution", "16"]
    if frontend == "cli":
        from depth3d.cli import main
    else:
        from depth3d.blender.cli import main
    code = main(argv)
    err = capfd.readouterr().err
    errors = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("error: ")]
    assert code == 1 and "Traceback" not in err, err[-3000:]
    bad = {name: words for name, words in DEPTH_CASES.items() if words}
    assert len(errors) == len(bad), "\n".join(errors)
    for name, words in bad.items():
        (line,) = [e for e in errors if e.startswith(f"error: {photos / Path(name).stem}.png: ")]
        assert words in line, line
    assert sorted(p.stem for p in out.iterdir()) == sorted(Path(n).stem for n, w in DEPTH_CASES.items() if w is None)
    assert temp_files(tmp_path) == []
    assert hashes(depth_corpus[0].parent) == before


def test_depth_files_read_by_blender_as_by_the_core(depth_corpus):
    """Blender's own reader (no Pillow there) gives the core's values, or refuses what it refuses
    — the TIFF sample types neither reads alike in the same words (an int32 TIFF was all zeros,
    then refused, in Blender while the CLI read it)."""
    from depth3d.blender.depth_source import read_depth_with_blender
    from depth3d.errors import InputError
    from depth3d.io.depth_io import read_depth

    def verdict(read, path):
        try:
            return read(path), None
        except InputError as exc:
            return None, str(exc)

    _, depth = depth_corpus
    for name in (n for n in DEPTH_CASES if n.endswith((".png", ".tiff"))):
        (core, core_says), (blender, blender_says) = verdict(read_depth, depth / name), \
            verdict(read_depth_with_blender, depth / name)
        assert (core is None) == (blender is None), (name, core_says, blender_says)
        if core is None and ("TIFF" in core_says or "8388608" in core_says):
            assert blender_says == core_says, name
        elif core is not None and name.endswith(".tiff"):
            np.testing.assert_array_equal(blender, core, err_msg=name)
        elif core is not None:
            np.testing.assert_allclose(blender, core, rtol=1e-6, atol=1e-6, err_msg=name)


# --------------------------------------------------------------------------- output folders


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 64 KiB tmpfs (root with mount rights only), unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    where = tmp_path / "small"
    where.mkdir()

    def mount(options: str) -> Path:
        run = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                             capture_output=True, text=True, check=False)
        if run.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()}")
        return where

    yield mount
    subprocess.run(["umount", str(where)], capture_output=True, check=False)


@pytest.mark.parametrize("options, words", [("size=64k", "No space left"), ("ro,size=64k", "Read-only")])
def test_full_and_read_only_output_folders(tiny_tmpfs, tmp_path, capsys, options, words):
    """A full (64 KiB) and a read-only output folder: one line per photo, exit 1, no file left."""
    from depth3d.cli import main

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        random_photo(photos / f"{i}.png", (320, 240), i)
        box_depth(photos / f"{i}.npy", (320, 240))
    out = tiny_tmpfs(options)
    code = main(["convert", str(photos), "--depth", str(photos), "-o", str(out), "--format", "obj"])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert code == 1 and len(errors) == 2, errors
    assert all(words in e and str(out) in e and ".tmp" not in e for e in errors), errors
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- properties

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_images() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    out = {}
    for fmt in ("PNG", "JPEG", "WEBP", "TIFF", "BMP"):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, fmt)
        out[fmt] = buf.getvalue()
    return out


VALID = _valid_images()


@PROPERTY
@given(fmt=st.sampled_from(sorted(VALID)), cut=st.floats(0, 1), flips=st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4))
def test_photo_decoder_gives_a_photo_or_one_input_error(fmt, cut, flips):
    """Any damage to a valid file (cut anywhere, bytes changed): an upright uint8 photo, or an
    InputError whose message is one line — never another exception."""
    from depth3d.errors import InputError
    from depth3d.io.image import read_photo_bytes

    data = bytearray(VALID[fmt][: max(1, int(len(VALID[fmt]) * cut))])
    for where, value in flips:
        data[min(len(data) - 1, int(where * len(data)))] = value
    try:
        photo = read_photo_bytes(bytes(data), max_pixels=50_000_000)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert photo.rgb.dtype == np.uint8 and photo.rgb.ndim == 3 and photo.rgb.shape[2] == 3


@PROPERTY
@given(fmt=st.sampled_from(["PNG", "JPEG", "WEBP", "TIFF", "BMP"]), w=st.integers(1, 300),
       h=st.integers(1, 300), mode=st.sampled_from(["RGB", "L", "RGBA"]))
def test_header_reader_agrees_with_pillow(fmt, w, h, mode):
    """The standard-library header reader (Blender's pixel budget) says what Pillow says."""
    from depth3d.io.image_header import read_header

    if fmt == "JPEG" and mode == "RGBA":
        mode = "RGB"
    buf = io.BytesIO()
    Image.new(mode, (w, h)).save(buf, fmt)
    header = read_header(io.BytesIO(buf.getvalue()))
    assert header is not None and (header.width, header.height) == (w, h), (fmt, header)


@PROPERTY
@given(suffix=st.sampled_from([".npy", ".pfm", ".png", ".tif"]), data=st.binary(max_size=400))
def test_depth_reader_gives_a_map_or_one_input_error(tmp_path, suffix, data):
    from depth3d.errors import InputError
    from depth3d.io.depth_io import read_depth

    path = tmp_path / f"d{suffix}"
    prefix = {".npy": b"\x93NUMPY\x01\x00", ".pfm": b"Pf\n4 3\n-1.0\n", ".png": b"\x89PNG\r\n\x1a\n",
              ".tif": b"II*\x00"}[suffix]
    path.write_bytes(prefix + data)
    try:
        depth = read_depth(path)
    except InputError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert depth.dtype == np.float32 and depth.ndim == 2


NUMBERS = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6))


@PROPERTY
@given(fov=NUMBERS, scale=NUMBERS, shift=NUMBERS, near=NUMBERS, far=NUMBERS,
       resolution=st.integers(-5, 40000), edge=st.floats(allow_nan=True, allow_infinity=True),
       projection=st.sampled_from(["perspective", "relief"]))
def test_options_are_valid_or_one_usage_error(fov, scale, shift, near, far, resolution, edge, projection):
    """Whatever numbers come in, Options holds only finite values inside their declared ranges,
    or the CLI gets a UsageError (exit 2) naming the flag."""
    import argparse
    import math

    from depth3d.cli import options_from_args
    from depth3d.errors import UsageError
    from depth3d.geometry.reconstruct import Options
    from depth3d.schema import range_of

    args = argparse.Namespace(geometry="mesh", projection=projection, fov=fov, scale=scale, shift=shift,
                              near=near, far=far, resolution=resolution, edge_threshold=edge)
    try:
        options = options_from_args(args)
    except UsageError as exc:
        assert str(exc).startswith("--") and "\n" not in str(exc)
        return
    for name in ("fov", "scale", "shift", "near", "far", "resolution", "edge_threshold"):
        value = getattr(options, name)
        assert range_of(Options, name).contains(value), (name, value)
        assert value is None or math.isfinite(value)
    assert (options.near is None) == (options.far is None)
    if options.near is not None:
        assert options.near < options.far and options.scale is None and projection == "perspective"
