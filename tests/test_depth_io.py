"""Depth files: real files from numpy / Pillow / OpenEXR / hand-written PFM, read back exactly."""
from __future__ import annotations

import sys

import numpy as np
import OpenEXR
import pytest
from PIL import Image

from depth3d.backends import BackendError, DepthResult, get_backend
from depth3d.backends.file import FileBackend
from depth3d.errors import InputError
from depth3d.io.depth_io import (
    colormap,
    exr_size,
    pick_depth_channel,
    read_depth,
    write_depth_exr,
    write_depth_npy,
    write_depth_outputs,
    write_depth_png16,
    write_depth_preview,
    write_pfm,
)
from depth3d.io.image import Photo

RNG = np.random.default_rng(3)


def depth_map(h: int = 12, w: int = 16) -> np.ndarray:
    return RNG.uniform(0.5, 20.0, (h, w)).astype(np.float32)


def only_files(folder) -> list[str]:
    """Names in ``folder``: a leftover temporary file would show up here."""
    return sorted(p.name for p in folder.iterdir())


def assert_input_error(path, *patterns):
    with pytest.raises(InputError) as info:
        read_depth(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg, msg
    for p in patterns:
        assert p in msg, msg


# --------------------------------------------------------------------------- .npy


def test_npy_round_trip_is_exact(tmp_path):
    d = depth_map()
    write_depth_npy(tmp_path / "d.npy", d)
    got = read_depth(tmp_path / "d.npy")
    assert got.dtype == np.float32 and got.shape == d.shape
    np.testing.assert_array_equal(got, d)
    np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), d)  # a plain numpy reader agrees
    assert only_files(tmp_path) == ["d.npy"]


@pytest.mark.parametrize("shape", [(12, 16, 1), (1, 12, 16)])
def test_npy_single_channel_layouts(tmp_path, shape):
    d = RNG.integers(0, 5000, shape).astype(np.uint16)
    np.save(tmp_path / "d.npy", d)
    np.testing.assert_array_equal(read_depth(tmp_path / "d.npy"), d.reshape(12, 16).astype(np.float32))


def test_npy_bad_contents(tmp_path):
    np.save(tmp_path / "rgb.npy", np.zeros((4, 5, 3), np.float32))
    assert_input_error(tmp_path / "rgb.npy", "one channel", "(4, 5, 3)")
    np.save(tmp_path / "flag.npy", np.zeros((4, 5), bool))
    assert_input_error(tmp_path / "flag.npy", "numbers", "bool")
    np.save(tmp_path / "none.npy", np.zeros((0, 5), np.float32))
    assert_input_error(tmp_path / "none.npy", "empty")
    np.save(tmp_path / "obj.npy", np.array([[None, 1]], dtype=object), allow_pickle=True)
    assert_input_error(tmp_path / "obj.npy", "unreadable npy")
    data = (tmp_path / "rgb.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) - 7])
    assert_input_error(tmp_path / "cut.npy", "unreadable npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    assert_input_error(tmp_path / "junk.npy", "unreadable npy")


def test_missing_empty_and_unknown_suffix(tmp_path):
    assert_input_error(tmp_path / "d.npy", "no such file")
    (tmp_path / "e.exr").write_bytes(b"")
    assert_input_error(tmp_path / "e.exr", "empty file")
    (tmp_path / "d.jpg").write_bytes(b"x")
    assert_input_error(tmp_path / "d.jpg", "unsupported depth format '.jpg'")


# --------------------------------------------------------------------------- .exr


def exr(path, channels: dict[str, np.ndarray]):
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {k: np.ascontiguousarray(v) for k, v in channels.items()}).write(str(path))
    return path


@pytest.mark.parametrize(
    "names, depth_name",
    [
        (["ViewLayer.Combined.R", "ViewLayer.Combined.G", "ViewLayer.Combined.B",
          "ViewLayer.Combined.A", "ViewLayer.Depth.Z"], "ViewLayer.Depth.Z"),
        (["Depth.V"], "Depth.V"),
        (["R", "G", "B", "Z"], "Z"),
        (["Image.R", "Image.G", "Image.B", "Depth.V"], "Depth.V"),
        (["ViewLayer.Depth.R", "ViewLayer.Depth.G", "ViewLayer.Depth.B"], "ViewLayer.Depth.R"),
        (["V"], "V"),
        (["distance"], "distance"),
        (["R", "G", "B"], "R"),
        (["Y", "A"], "Y"),
    ],
)
def test_exr_depth_channel_rule(tmp_path, names, depth_name):
    d = depth_map()
    planes = {n: (d if n == depth_name else np.full_like(d, -1.0)) for n in names}
    got = read_depth(exr(tmp_path / "d.exr", planes))
    np.testing.assert_array_equal(got, d)
    assert pick_depth_channel(names) == depth_name


def test_exr_half_float_and_writer_round_trip(tmp_path):
    h = depth_map().astype(np.float16)
    np.testing.assert_array_equal(read_depth(exr(tmp_path / "h.exr", {"Z": h})), h.astype(np.float32))
    d = depth_map(30, 40)
    write_depth_exr(tmp_path / "w.exr", d)
    np.testing.assert_array_equal(read_depth(tmp_path / "w.exr"), d)
    f = OpenEXR.File(str(tmp_path / "w.exr"), separate_channels=True)  # the library's own reader
    np.testing.assert_array_equal(f.channels()["Z"].pixels, d)
    assert only_files(tmp_path) == ["h.exr", "w.exr"]


def test_exr_without_depth_and_broken_exr(tmp_path):
    path = exr(tmp_path / "c.exr", {f"ViewLayer.Combined.{c}": depth_map() for c in "RGB"})
    assert_input_error(path, "no depth channel among ViewLayer.Combined.B, ViewLayer.Combined.G")
    data = path.read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[: len(data) - 10])
    assert_input_error(tmp_path / "cut.exr", "EXR")
    (tmp_path / "junk.exr").write_bytes(b"\x76\x2f\x31\x01" + bytes(64))
    assert_input_error(tmp_path / "junk.exr", "EXR")


# --------------------------------------------------------------------------- .pfm


def pfm_bytes(a: np.ndarray, big_endian: bool, colour: bool = False) -> bytes:
    """A PFM written by hand: header, then rows from the bottom of the picture up."""
    h, w = a.shape[:2]
    magic, scale, fmt = ("PF" if colour else "Pf"), (1.0 if big_endian else -1.0), (">f4" if big_endian else "<f4")
    return f"{magic}\n{w} {h}\n{scale}\n".encode() + np.ascontiguousarray(a[::-1]).astype(fmt).tobytes()


@pytest.mark.parametrize("big_endian", [False, True])
def test_pfm_both_endians_bottom_up(tmp_path, big_endian):
    d = depth_map()
    (tmp_path / "d.pfm").write_bytes(pfm_bytes(d, big_endian))
    got = read_depth(tmp_path / "d.pfm")
    np.testing.assert_array_equal(got, d)  # row 0 of the result is the top of the picture
    assert got.dtype == np.float32 and got.dtype.isnative


def test_pfm_colour_takes_the_first_channel_and_writer_round_trip(tmp_path):
    rgb = np.stack([depth_map(), np.zeros((12, 16), np.float32), np.ones((12, 16), np.float32)], -1)
    (tmp_path / "c.pfm").write_bytes(pfm_bytes(rgb, big_endian=False, colour=True))
    np.testing.assert_array_equal(read_depth(tmp_path / "c.pfm"), rgb[..., 0])
    d = depth_map(7, 9)
    write_pfm(tmp_path / "w.pfm", d)
    raw = (tmp_path / "w.pfm").read_bytes()
    assert raw.startswith(b"Pf\n9 7\n-1.0\n")
    first_stored_row = np.frombuffer(raw, "<f4", 9, len(b"Pf\n9 7\n-1.0\n"))
    np.testing.assert_array_equal(first_stored_row, d[-1])  # the format stores the bottom row first
    np.testing.assert_array_equal(read_depth(tmp_path / "w.pfm"), d)


def test_broken_pfm(tmp_path):
    data = pfm_bytes(depth_map(), big_endian=False)
    (tmp_path / "cut.pfm").write_bytes(data[:-8])
    assert_input_error(tmp_path / "cut.pfm", "truncated PFM", "16x12")
    (tmp_path / "bad.pfm").write_bytes(b"P6\n16 12\n255\n" + bytes(16 * 12 * 3))
    assert_input_error(tmp_path / "bad.pfm", "not a PFM")
    (tmp_path / "zero.pfm").write_bytes(b"Pf\n16 12\n0.0\n" + bytes(16 * 12 * 4))
    assert_input_error(tmp_path / "zero.pfm", "invalid PFM header")


# --------------------------------------------------------------------------- PNG / TIFF


def test_16_bit_png_raw_values(tmp_path):
    mm = RNG.integers(0, 65536, (12, 16)).astype(np.uint16)  # e.g. a phone's millimetres
    Image.fromarray(mm).save(tmp_path / "d.png")
    got = read_depth(tmp_path / "d.png")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, mm.astype(np.float32))


def test_8_bit_grey_and_grey_as_rgb_png(tmp_path):
    g = RNG.integers(0, 256, (12, 16)).astype(np.uint8)
    Image.fromarray(g).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_depth(tmp_path / "g.png"), g)
    Image.fromarray(np.repeat(g[:, :, None], 3, 2)).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_depth(tmp_path / "rgb.png"), g)
    Image.fromarray(RNG.integers(0, 256, (12, 16, 3)).astype(np.uint8)).save(tmp_path / "photo.png")
    assert_input_error(tmp_path / "photo.png", "RGB image with differing colour channels")
    Image.new("P", (16, 12)).save(tmp_path / "p.png")
    assert_input_error(tmp_path / "p.png", "P image is not a depth map")


def test_truncated_png_and_tiff(tmp_path):
    Image.fromarray(RNG.integers(0, 65536, (64, 80)).astype(np.uint16)).save(tmp_path / "d.png")
    data = (tmp_path / "d.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert_input_error(tmp_path / "cut.png", "unreadable png", "truncated")
    Image.fromarray(depth_map(64, 80)).save(tmp_path / "d.tif")
    data = (tmp_path / "d.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    assert_input_error(tmp_path / "cut.tif", "unreadable tif")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG junk")
    assert_input_error(tmp_path / "junk.png", "unreadable png")


@pytest.mark.parametrize("suffix", [".tif", ".tiff"])
def test_float_and_16_bit_tiff(tmp_path, suffix):
    d = depth_map()
    Image.fromarray(d).save(tmp_path / f"f{suffix}")
    assert Image.open(tmp_path / f"f{suffix}").mode == "F"
    np.testing.assert_array_equal(read_depth(tmp_path / f"f{suffix}"), d)
    mm = RNG.integers(0, 65536, (12, 16)).astype(np.uint16)
    Image.fromarray(mm).save(tmp_path / f"i{suffix}")
    np.testing.assert_array_equal(read_depth(tmp_path / f"i{suffix}"), mm)


def test_png16_writer(tmp_path):
    d = depth_map(30, 40)
    d[0, 0], d[1, 1] = 0.25, 80.0
    lo, hi = write_depth_png16(tmp_path / "d.png", d, kind="depth")
    assert (lo, hi) == (0.25, 80.0)
    with Image.open(tmp_path / "d.png") as im:  # an independent reader sees a 16-bit grey PNG
        assert im.mode == "I;16" and im.size == (40, 30)
        assert float(im.text["depth3d.min"]) == lo and float(im.text["depth3d.max"]) == hi
        assert im.text["depth3d.kind"] == "depth"
        raw = np.asarray(im).astype(np.int64)
    assert raw[0, 0] == 0 and raw[1, 1] == 65535
    np.testing.assert_array_equal(raw, np.round((d.astype(np.float64) - lo) / (hi - lo) * 65535))
    back = read_depth(tmp_path / "d.png")  # restored to metres from the text chunks
    assert np.abs(back - d).max() <= (hi - lo) / 131070 * 1.001
    assert only_files(tmp_path) == ["d.png"]


def test_png16_writer_constant_and_non_finite(tmp_path):
    assert write_depth_png16(tmp_path / "c.png", np.full((4, 5), 3.0, np.float32)) == (3.0, 3.0)
    np.testing.assert_array_equal(read_depth(tmp_path / "c.png"), np.full((4, 5), 3.0, np.float32))
    d = np.array([[1.0, np.nan], [np.inf, 5.0]], np.float32)
    assert write_depth_png16(tmp_path / "n.png", d) == (1.0, 5.0)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "n.png")), [[0, 0], [0, 65535]])


# --------------------------------------------------------------------------- preview


def test_colormap_ends_and_invalid():
    rgb = colormap(np.array([[0.0, 1.0, np.nan, 2.0, -1.0]]))
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 5, 3)
    np.testing.assert_array_equal(rgb[0], [[0, 0, 4], [252, 255, 164], [0, 0, 0], [252, 255, 164], [0, 0, 4]])
    luminance = colormap(np.linspace(0, 1, 50)[None]).astype(float) @ [0.2126, 0.7152, 0.0722]
    assert np.all(np.diff(luminance[0]) > 0)  # perceptually ordered: brighter all the way


@pytest.mark.parametrize("kind", ["depth", "disparity"])
def test_preview_near_is_bright(tmp_path, kind):
    z = np.tile(np.linspace(1.0, 10.0, 64, dtype=np.float32), (24, 1))  # near left, far right
    values = z if kind == "depth" else 1.0 / z
    values[5, 5] = np.nan
    path = write_depth_preview(tmp_path / "p.png", values, kind)
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.size == (64, 24)
        rgb = np.asarray(im).astype(float)
    lum = (rgb @ [0.2126, 0.7152, 0.0722])[10]
    assert lum[0] > 200 and lum[-1] < 20
    assert np.all(np.diff(lum) <= 0.5)  # never brighter further away (up to rounding)
    assert tuple(rgb[5, 5]) == (0, 0, 0)
    assert only_files(tmp_path) == ["p.png"]


def test_preview_of_depth_with_no_data_zeros_and_constant(tmp_path):
    d = np.full((8, 8), 2.0, np.float32)
    d[0] = 0.0  # a phone's "no depth here"
    rgb = np.asarray(Image.open(write_depth_preview(tmp_path / "p.png", d, "depth")))
    assert (rgb[0] == 0).all() and (rgb[1:] == rgb[1, 0]).all() and rgb[1, 0].sum() > 0


# --------------------------------------------------------------------------- depth3d depth outputs


def test_write_depth_outputs(tmp_path):
    d = depth_map(30, 40)
    out = tmp_path / "out" / "nested"
    paths = write_depth_outputs(out, "room", d, "depth")
    assert [p.name for p in paths] == ["room.npy", "room_depth16.png", "room_preview.png"]
    assert only_files(out) == ["room.npy", "room_depth16.png", "room_preview.png"]
    np.testing.assert_array_equal(np.load(out / "room.npy"), d)
    with Image.open(out / "room_depth16.png") as im:
        assert im.mode == "I;16" and im.size == (40, 30)
    with Image.open(out / "room_preview.png") as im:
        assert im.mode == "RGB" and im.size == (40, 30)


def test_write_depth_outputs_all_or_nothing(tmp_path):
    with pytest.raises(ValueError, match="no finite values"):
        write_depth_outputs(tmp_path, "bad", np.full((4, 4), np.nan, np.float32), "depth")
    assert only_files(tmp_path) == []


# --------------------------------------------------------------------------- the file backend


def photo(w: int, h: int) -> Photo:
    return Photo(rgb=np.zeros((h, w, 3), np.uint8), name="p")


def test_file_backend_returns_the_map_as_stored(tmp_path):
    d = depth_map(150, 200)
    write_depth_npy(tmp_path / "d.npy", d)
    backend = get_backend("file", path=tmp_path / "d.npy", kind="disparity")
    assert isinstance(backend, FileBackend) and backend.name == "file"
    result = backend.estimate(photo(400, 300))  # half resolution, same aspect: fine
    assert isinstance(result, DepthResult)
    assert result.kind == "disparity" and result.fov_deg is None and result.model == str(tmp_path / "d.npy")
    np.testing.assert_array_equal(result.depth, d)
    assert FileBackend(tmp_path / "d.npy").estimate(photo(400, 300)).kind == "depth"


def test_file_backend_aspect_check(tmp_path):
    write_depth_npy(tmp_path / "d.npy", depth_map(150, 201))  # 0.5 % wider than 4:3: accepted
    assert FileBackend(tmp_path / "d.npy").estimate(photo(400, 300)).depth.shape == (150, 201)
    write_depth_npy(tmp_path / "e.npy", depth_map(150, 203))  # 1.5 % off
    with pytest.raises(InputError, match=r"e\.npy: depth is 203x150 but photo is 400x300$"):
        FileBackend(tmp_path / "e.npy").estimate(photo(400, 300))
    with pytest.raises(InputError, match=r"depth is 300x400 but photo is 400x300"):
        write_depth_npy(tmp_path / "t.npy", depth_map(400, 300))
        FileBackend(tmp_path / "t.npy").estimate(photo(400, 300))


def test_file_backend_errors(tmp_path):
    with pytest.raises(BackendError, match="depth kind"):
        FileBackend(tmp_path / "d.npy", kind="metric")
    with pytest.raises(InputError, match="no such file"):
        FileBackend(tmp_path / "d.npy").estimate(photo(4, 3))


def test_file_backend_reads_every_format(tmp_path):
    d = depth_map(30, 40)
    write_depth_exr(tmp_path / "d.exr", d)
    write_pfm(tmp_path / "d.pfm", d)
    Image.fromarray(d).save(tmp_path / "d.tiff")
    for name in ("d.exr", "d.pfm", "d.tiff"):
        np.testing.assert_array_equal(FileBackend(tmp_path / name).estimate(photo(80, 60)).depth, d)


def test_exr_depth_without_the_openexr_module(tmp_path, monkeypatch):
    """Blender's Python has no OpenEXR: read_depth falls back to depth3d.io.exr (numpy + zlib)."""
    depth = np.random.default_rng(3).uniform(0.5, 20.0, (21, 34)).astype(np.float32)
    write_depth_exr(tmp_path / "z.exr", depth)
    monkeypatch.setitem(sys.modules, "OpenEXR", None)  # makes `import OpenEXR` fail
    np.testing.assert_array_equal(read_depth(tmp_path / "z.exr"), depth)
    assert exr_size(tmp_path / "z.exr") == (34, 21)
    (tmp_path / "cut.exr").write_bytes((tmp_path / "z.exr").read_bytes()[:200])
    with pytest.raises(InputError, match="cut.exr"):
        read_depth(tmp_path / "cut.exr")
