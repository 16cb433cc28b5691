"""Photo input: every format written by a real encoder and read back, orientation, bad files."""
from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from PIL import Image, ImageFile

from depth3d.errors import InputError
from depth3d.io.image import ImageTooLarge, read_photo, read_photo_bytes

RNG = np.random.default_rng(7)


def srgb8(linear: np.ndarray) -> np.ndarray:
    """Reference sRGB encoding (IEC 61966-2-1) of linear values → uint8."""
    x = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    s = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    return np.round(s * 255).astype(np.uint8)


def smooth_rgb(h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth (H, W, 3) uint8 picture that lossy codecs keep close."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], -1).astype(
        np.uint8
    )


def save(tmp_path, name: str, im: Image.Image, **kw) -> Path:
    path = tmp_path / name
    im.save(path, **kw)
    return path


def png16(a: np.ndarray) -> bytes:
    """A 16-bit PNG of (H, W, C) uint16 written by hand (Pillow cannot write 16-bit colour)."""
    h, w, c = a.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + a[r].astype(">u2").tobytes() for r in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def tiff16_rgb(a: np.ndarray) -> bytes:
    """An uncompressed little-endian 16-bit RGB baseline TIFF of (H, W, 3) uint16, by hand."""
    h, w, _ = a.shape
    pixels = a.astype("<u2").tobytes()
    n = 10
    bps_offset = 8 + 2 + 12 * n + 4
    pix_offset = bps_offset + 6

    def short(tag, value):
        return struct.pack("<HHIHH", tag, 3, 1, value, 0)

    def long(tag, value):
        return struct.pack("<HHII", tag, 4, 1, value)

    entries = [
        long(256, w), long(257, h), struct.pack("<HHII", 258, 3, 3, bps_offset), short(259, 1),
        short(262, 2), long(273, pix_offset), short(277, 3), long(278, h), long(279, len(pixels)),
        short(284, 1),
    ]
    ifd = struct.pack("<H", n) + b"".join(entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<HHH", 16, 16, 16) + pixels


# --------------------------------------------------------------------------- module hygiene


def test_import_pulls_in_neither_pillow_nor_torch_nor_bpy():
    code = (
        "import sys, depth3d.io.image, depth3d.io.depth_io, depth3d.geometry.camera, depth3d.io.atomic, "
        "depth3d.backends.file\n"
        "bad = [m for m in ('PIL', 'torch', 'bpy', 'OpenEXR', 'pillow_heif') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    "name, kw",
    [("p.png", {}), ("p.bmp", {}), ("p.tif", {}), ("p.tiff", {"compression": "tiff_deflate"}),
     ("p.webp", {"lossless": True})],
)
def test_lossless_rgb_formats_are_exact(tmp_path, name, kw):
    rgb = RNG.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    photo = read_photo(save(tmp_path, name, Image.fromarray(rgb), **kw))
    assert photo.rgb.dtype == np.uint8 and photo.rgb.shape == (30, 40, 3)
    np.testing.assert_array_equal(photo.rgb, rgb)
    assert photo.name == "p" and photo.path == tmp_path / name


@pytest.mark.parametrize("name, kw", [("p.jpg", {"quality": 95}), ("p.webp", {"quality": 95})])
def test_lossy_formats_are_close(tmp_path, name, kw):
    rgb = smooth_rgb()
    photo = read_photo(save(tmp_path, name, Image.fromarray(rgb), **kw))
    assert photo.rgb.shape == rgb.shape
    assert np.abs(photo.rgb.astype(int) - rgb).mean() < 2.0


def test_heic_from_pillow_heif_encoder(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("HEIF"):
        pytest.skip("this pillow-heif build has no HEVC encoder")
    pillow_heif.register_heif_opener()
    rgb = smooth_rgb()
    path = save(tmp_path, "p.heic", Image.fromarray(rgb), quality=95)
    photo = read_photo(path)
    assert photo.rgb.shape == rgb.shape
    assert np.abs(photo.rgb.astype(int) - rgb).mean() < 4.0
    assert photo.data == path.read_bytes()


def test_png_grey_8_and_16_bit(tmp_path):
    grey = RNG.integers(0, 256, (20, 30), dtype=np.uint8)
    photo = read_photo(save(tmp_path, "g8.png", Image.fromarray(grey)))
    np.testing.assert_array_equal(photo.rgb, np.repeat(grey[:, :, None], 3, axis=2))

    g16 = RNG.integers(0, 65536, (20, 30), dtype=np.uint16)
    path = save(tmp_path, "g16.png", Image.fromarray(g16))
    assert Image.open(path).mode == "I;16"
    expected = np.round(g16 / 65535.0 * 255).astype(np.uint8)
    np.testing.assert_array_equal(read_photo(path).rgb[:, :, 1], expected)


def test_tiff_16_bit_grey_and_float(tmp_path):
    g16 = RNG.integers(0, 65536, (20, 30), dtype=np.uint16)
    expected = np.round(g16 / 65535.0 * 255).astype(np.uint8)
    np.testing.assert_array_equal(read_photo(save(tmp_path, "g16.tif", Image.fromarray(g16))).rgb[:, :, 0], expected)

    lin = RNG.uniform(-0.2, 1.3, (20, 30)).astype(np.float32)  # linear light, clipped to [0, 1]
    path = save(tmp_path, "f.tif", Image.fromarray(lin))
    assert Image.open(path).mode == "F"
    got = read_photo(path).rgb
    assert np.abs(got[:, :, 2].astype(int) - srgb8(lin)).max() <= 1


@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_png_written_by_hand(tmp_path, channels):
    a = RNG.integers(0, 65536, (10, 12, channels), dtype=np.uint16)
    a[..., 3:] = 65535  # opaque
    path = tmp_path / "c16.png"
    path.write_bytes(png16(a))
    got = read_photo(path).rgb.astype(int)
    assert np.abs(got - np.round(a[..., :3] / 257.0)).max() <= 1


def test_16_bit_rgb_tiff_written_by_hand(tmp_path):
    a = RNG.integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    path = tmp_path / "c16.tif"
    path.write_bytes(tiff16_rgb(a))
    got = read_photo(path).rgb.astype(int)
    assert np.abs(got - np.round(a / 257.0)).max() <= 1


def test_alpha_is_composited_over_black(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., :3] = [[[200, 100, 50]]]
    rgba[..., 3] = [[255, 128, 0], [1, 254, 255]]
    got = read_photo(save(tmp_path, "a.png", Image.fromarray(rgba, "RGBA"))).rgb
    expected = np.round(rgba[..., :3] * (rgba[..., 3:] / 255.0)).astype(np.uint8)
    np.testing.assert_array_equal(got, expected)
    assert tuple(got[0, 0]) == (200, 100, 50) and tuple(got[0, 2]) == (0, 0, 0)

    la = np.stack([np.full((2, 2), 180, np.uint8), np.array([[255, 0], [64, 255]], np.uint8)], -1)
    got = read_photo(save(tmp_path, "la.png", Image.fromarray(la, "LA"))).rgb
    np.testing.assert_array_equal(got[..., 0], [[180, 0], [45, 180]])


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (3, 2))
    im.putpalette([255, 0, 0, 0, 255, 0, 10, 20, 30])
    im.putdata([0, 1, 2, 2, 1, 0])
    path = save(tmp_path, "p.png", im, transparency=1)
    assert Image.open(path).mode == "P" and "transparency" in Image.open(path).info
    got = read_photo(path).rgb
    np.testing.assert_array_equal(got.reshape(-1, 3), [[255, 0, 0], [0, 0, 0], [10, 20, 30],
                                                      [10, 20, 30], [0, 0, 0], [255, 0, 0]])
    opaque = read_photo(save(tmp_path, "q.png", im)).rgb  # no tRNS: the palette colours
    assert tuple(opaque[0, 1]) == (0, 255, 0)


def exr_file(path, channels: dict[str, np.ndarray]):
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    # OpenEXR's binding ignores numpy strides: hand it contiguous planes
    channels = {k: np.ascontiguousarray(v) for k, v in channels.items()}
    OpenEXR.File(header, channels).write(str(path))
    return path


def test_blender_style_multilayer_exr_is_linear_to_srgb(tmp_path):
    lin = RNG.uniform(0.0, 1.5, (16, 20, 3)).astype(np.float32)
    alpha = np.ones((16, 20), np.float32)
    alpha[0, 0] = 0.0  # premultiplied: colour is not multiplied again
    channels = {f"ViewLayer.Combined.{c}": lin[..., i] for i, c in enumerate("RGB")}
    channels["ViewLayer.Combined.A"] = alpha
    channels["ViewLayer.Depth.Z"] = np.full((16, 20), 3.0, np.float32)
    channels["ViewLayer.Normal.X"] = np.zeros((16, 20), np.float32)
    path = exr_file(tmp_path / "render.exr", channels)
    photo = read_photo(path)
    assert photo.rgb.shape == (16, 20, 3) and photo.data is None and photo.fov_deg is None
    assert np.abs(photo.rgb.astype(int) - srgb8(lin)).max() <= 1
    lin128 = ((128 / 255 + 0.055) / 1.055) ** 2.4  # linear light of sRGB code 128
    known = exr_file(tmp_path / "known.exr", {c: np.array([[0.0, 1.0, lin128, 2.0]], np.float32) for c in "RGB"})
    np.testing.assert_array_equal(read_photo(known).rgb[0, :, 0], [0, 255, 128, 255])


def test_half_float_rgba_and_grey_exr(tmp_path):
    lin = RNG.uniform(0.0, 1.0, (8, 10, 3)).astype(np.float16)
    path = exr_file(tmp_path / "h.exr", {"R": lin[..., 0], "G": lin[..., 1], "B": lin[..., 2]})
    assert np.abs(read_photo(path).rgb.astype(int) - srgb8(lin.astype(np.float32))).max() <= 1
    y = RNG.uniform(0.0, 1.0, (8, 10)).astype(np.float32)
    got = read_photo(exr_file(tmp_path / "y.exr", {"Y": y})).rgb
    np.testing.assert_array_equal(got[..., 0], got[..., 2])
    assert np.abs(got[..., 1].astype(int) - srgb8(y)).max() <= 1


def test_exr_without_colour_is_refused(tmp_path):
    path = exr_file(tmp_path / "z.exr", {"Z": np.ones((4, 4), np.float32), "Q": np.ones((4, 4), np.float32)})
    with pytest.raises(InputError, match=r"z\.exr.*no colour channels"):
        read_photo(path)


# --------------------------------------------------------------------------- orientation

# (H, W) = (4, 6) picture as displayed, every pixel different
DISPLAY = (np.arange(24, dtype=np.uint8).reshape(4, 6) * 10 + 5)


def stored_for(orientation: int, d: np.ndarray = DISPLAY) -> np.ndarray:
    """What a camera stores for display ``d`` under EXIF ``orientation``, from the EXIF table:
    where stored row 0 / column 0 lie in the displayed picture."""
    h, w = d.shape
    if orientation <= 4:
        r, c = np.mgrid[0:h, 0:w]
    else:
        r, c = np.mgrid[0:w, 0:h]
    y, x = {
        1: (r, c), 2: (r, w - 1 - c), 3: (h - 1 - r, w - 1 - c), 4: (h - 1 - r, c),
        5: (c, r), 6: (c, w - 1 - r), 7: (h - 1 - c, w - 1 - r), 8: (h - 1 - c, r),
    }[orientation]
    return d[y, x]


def with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_eight_exif_orientations(tmp_path, orientation):
    stored = stored_for(orientation)
    path = save(tmp_path, "o.png", Image.fromarray(stored), exif=with_orientation(orientation))
    photo = read_photo(path)
    assert photo.rgb.shape == (4, 6, 3)
    np.testing.assert_array_equal(photo.rgb[:, :, 0], DISPLAY)
    # bytes are passed on only when no rotation is needed
    assert (photo.data == path.read_bytes()) if orientation == 1 else photo.data is None


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_of_a_jpeg(tmp_path, orientation):
    big = np.kron(DISPLAY, np.ones((16, 16), np.uint8))  # 64 × 96, blocks survive JPEG
    path = save(tmp_path, "o.jpg", Image.fromarray(stored_for(orientation, big)), quality=95,
                exif=with_orientation(orientation))
    photo = read_photo(path)
    assert photo.rgb.shape == (64, 96, 3) and photo.data is None
    assert np.abs(photo.rgb[:, :, 0].astype(int) - big).mean() < 2.0


def test_bytes_are_kept_for_an_upright_photo_and_reading_bytes_matches(tmp_path):
    path = save(tmp_path, "up.jpg", Image.fromarray(smooth_rgb()), exif=with_orientation(1))
    photo = read_photo(path)
    assert photo.data == path.read_bytes()
    again = read_photo_bytes(path.read_bytes(), name="upload")
    np.testing.assert_array_equal(again.rgb, photo.rgb)
    assert again.name == "upload" and again.path is None and again.data == photo.data


def test_invalid_orientation_values_are_ignored(tmp_path):
    for value in (0, 9, 65535):
        path = save(tmp_path, f"o{value}.png", Image.fromarray(DISPLAY), exif=with_orientation(value))
        photo = read_photo(path)
        np.testing.assert_array_equal(photo.rgb[:, :, 0], DISPLAY)
        assert photo.data is not None


# --------------------------------------------------------------------------- bad input


def encoded(fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(buf, fmt, **kw)
    return buf.getvalue()


def assert_one_line_error(path, *patterns):
    with pytest.raises(InputError) as info:
        read_photo(path)
    msg = str(info.value)
    assert msg.startswith(str(path) + ": ") and "\n" not in msg, msg
    for p in patterns:
        assert p in msg, msg
    return msg


def test_missing_empty_folder_and_not_an_image(tmp_path):
    assert_one_line_error(tmp_path / "nope.jpg", "no such file")
    assert_one_line_error(tmp_path, "folder")
    (tmp_path / "empty.png").write_bytes(b"")
    assert_one_line_error(tmp_path / "empty.png", "empty file")
    (tmp_path / "notes.jpg").write_text("this is not a picture\n" * 10)
    assert_one_line_error(tmp_path / "notes.jpg", "not an image")


@pytest.mark.parametrize("keep", [0.5, 0.9, -2])
@pytest.mark.parametrize("fmt, kw", [("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {}),
                                     ("TIFF", {}), ("BMP", {}), ("WEBP", {})])
def test_truncated_files_never_give_half_a_picture(tmp_path, fmt, kw, keep):
    data = encoded(fmt, **kw)
    cut = int(len(data) * keep) if keep > 0 else len(data) + keep
    if fmt == "PNG" and keep == -2:
        cut = len(data) - 40  # into the deflate data (the tail is IEND, a CRC and the Adler-32)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[:cut])
    assert_one_line_error(path)


def test_truncated_heic(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("HEIF"):
        pytest.skip("this pillow-heif build has no HEVC encoder")
    pillow_heif.register_heif_opener()
    data = encoded("HEIF")
    path = tmp_path / "cut.heic"
    path.write_bytes(data[: len(data) - 100])
    assert_one_line_error(path, "truncated")


def test_truncated_jpeg_is_refused_even_if_pillow_was_told_to_allow_it(tmp_path, monkeypatch):
    data = encoded("JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert_one_line_error(path, "truncated")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored for whoever set it


def test_corrupt_files(tmp_path):
    data = bytearray(encoded("PNG"))
    data[40:60] = b"\xff" * 20  # breaks a chunk checksum / the compressed stream
    (tmp_path / "bad.png").write_bytes(bytes(data))
    assert_one_line_error(tmp_path / "bad.png", "corrupt")
    jpeg = encoded("JPEG")
    (tmp_path / "bad.jpg").write_bytes(jpeg[:2] + b"\x00" * 200 + jpeg[202:])
    assert_one_line_error(tmp_path / "bad.jpg")
    (tmp_path / "bad.exr").write_bytes(b"\x76\x2f\x31\x01" + b"\x00" * 100)
    assert_one_line_error(tmp_path / "bad.exr", "EXR")


def test_truncated_exr(tmp_path):
    path = exr_file(tmp_path / "t.exr", {c: RNG.random((32, 40)).astype(np.float32) for c in "RGB"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    assert_one_line_error(path, "EXR")


def test_garbage_exif_block_does_not_stop_a_photo(tmp_path):
    path = save(tmp_path, "g.jpg", Image.fromarray(smooth_rgb()), exif=b"Exif\x00\x00" + b"\x13" * 64)
    photo = read_photo(path)
    assert photo.rgb.shape == (48, 64, 3) and photo.fov_deg is None


def test_pillow_decompression_bomb_limit_is_image_too_large(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses 2x this: 80x64 > 2000
    with pytest.raises(ImageTooLarge, match=r"^upload: "):
        read_photo_bytes(encoded("PNG"), name="upload")


def test_exr_from_bytes_and_its_pixel_limit(tmp_path):
    lin = RNG.uniform(0.0, 1.0, (8, 10)).astype(np.float32)
    data = exr_file(tmp_path / "p.exr", {"R": lin, "G": lin, "B": lin}).read_bytes()
    photo = read_photo_bytes(data, name="upload")
    assert photo.rgb.shape == (8, 10, 3) and photo.data is None
    with pytest.raises(ImageTooLarge, match=r"^upload: 10x8 image exceeds the limit of 79 pixels$"):
        read_photo_bytes(data, name="upload", max_pixels=79)


def test_read_photo_bytes_errors_and_pixel_limit():
    with pytest.raises(InputError, match=r"^upload: empty file$"):
        read_photo_bytes(b"", name="upload")
    data = encoded("PNG")
    with pytest.raises(InputError, match=r"^upload: truncated"):
        read_photo_bytes(data[: len(data) // 2], name="upload")
    with pytest.raises(ImageTooLarge, match=r"^upload: 80x64 image exceeds the limit of 5000 pixels$"):
        read_photo_bytes(data, name="upload", max_pixels=5000)
    assert read_photo_bytes(data, max_pixels=80 * 64).rgb.shape == (64, 80, 3)
