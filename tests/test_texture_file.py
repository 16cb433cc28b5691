"""The photo's own JPEG as the glTF texture (depth3d.io.texture_file, exchange.gltf.material.photo_image).

A texture at the photo's size is the photo's file with its metadata left out: the same pixels
for every decoder, no EXIF/GPS/XMP/ICC/comment, nothing after the end-of-image marker.  Files a
glTF viewer may not decode, rotated photos, resized textures and budgeted targets are encoded
from the pixels as before.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps, PngImagePlugin

sys.path.insert(0, str(Path(__file__).parent))
from conftest import assert_valid_gltf, box_depth  # noqa: E402
from test_targets import read_glb  # noqa: E402

from depth3d.cli import main  # noqa: E402
from depth3d.io.texture_file import texture_jpeg  # noqa: E402

GPS_LATITUDE = b"GPSLatitudeRef"


def pixels(data: bytes, mode: str = "RGB") -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert(mode))


def picture(w: int = 160, h: int = 120, seed: int = 0) -> Image.Image:
    """Smooth colour gradients with noise: what a photo's JPEG codes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], axis=-1)
    return Image.fromarray(np.clip(rgb + rng.normal(0, 12, rgb.shape), 0, 255).astype(np.uint8))


def with_metadata(im: Image.Image, **save) -> bytes:
    """``im`` as a JPEG carrying EXIF with a GPS position, an ICC profile, XMP and a comment."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 24.0)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90, exif=exif, icc_profile=b"\x00" * 400, comment=b"holiday",
            xmp=b"<x:xmpmeta>secret</x:xmpmeta>", **save)
    return out.getvalue()


def segments(data: bytes) -> list[int]:
    """The markers of ``data``'s segments up to its first scan."""
    found, pos = [], 2
    while data[pos + 1] != 0xDA:
        found.append(data[pos + 1])
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return found


@pytest.mark.parametrize("kind", ["baseline", "progressive", "4:2:0", "grey"])
def test_metadata_is_dropped_and_every_pixel_kept(kind):
    im = picture()
    save = {"progressive": {"progressive": True}, "4:2:0": {"subsampling": 2}}.get(kind, {})
    data = with_metadata(im.convert("L") if kind == "grey" else im, **save)
    assert {0xE1, 0xE2, 0xFE} <= set(segments(data))  # EXIF/XMP, ICC, comment are there
    jpeg = texture_jpeg(data)
    assert jpeg is not None and len(jpeg) < len(data)
    assert not {0xE1, 0xE2, 0xFE} & set(segments(jpeg))
    assert b"Exif" not in jpeg and b"PhoneMaker" not in jpeg and b"secret" not in jpeg
    mode = "L" if kind == "grey" else "RGB"
    assert np.array_equal(pixels(jpeg, mode), pixels(data, mode))
    assert texture_jpeg(jpeg) == jpeg  # nothing left to drop


def test_data_after_the_end_marker_is_dropped():
    data = with_metadata(picture())
    motion = data + b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40  # a motion photo's video
    assert texture_jpeg(motion) == texture_jpeg(data)


def test_files_a_viewer_may_not_decode_are_not_taken():
    data = with_metadata(picture())
    sof = data.index(b"\xff\xc0")
    out = io.BytesIO()
    picture().convert("CMYK").save(out, "JPEG")
    refused = {
        "cmyk": out.getvalue(),
        "arithmetic": data[:sof + 1] + b"\xc9" + data[sof + 2:],  # SOF9: arithmetic coding
        "12-bit": data[:sof + 4] + b"\x0c" + data[sof + 5:],
        "lossless": data[:sof + 1] + b"\xc3" + data[sof + 2:],
        "no end marker": data[:-2],
        "cut in its frame header": data[:sof + 6],
        "png": b"\x89PNG\r\n\x1a\n" + data[2:],
        "no frame": data[:2] + data[data.index(b"\xff\xda"):],
    }
    for why, bad in refused.items():
        assert texture_jpeg(bad) is None, why


def convert(tmp_path: Path, photo: Path, *extra: str) -> dict:
    out = tmp_path / f"{photo.stem}{len(extra)}.glb"
    depth = box_depth(tmp_path / f"{photo.stem}.npy", ImageOps.exif_transpose(Image.open(photo)).size)
    assert main(["convert", str(photo), "--depth", str(depth), "-o", str(out), "--quiet", *extra]) == 0
    assert_valid_gltf(out)
    return read_glb(out)


def test_the_glb_texture_is_the_photos_jpeg_without_its_metadata(tmp_path):
    photo = tmp_path / "phone.jpg"
    photo.write_bytes(with_metadata(picture(320, 240), progressive=True) + b"trailing video")
    before = photo.read_bytes()
    (image,) = convert(tmp_path, photo)["images"]
    assert image == texture_jpeg(before)
    assert GPS_LATITUDE not in image and b"Exif" not in image
    assert np.array_equal(pixels(image), pixels(before))  # no generation loss
    assert photo.read_bytes() == before


def test_encoded_from_the_pixels_where_the_file_cannot_serve(tmp_path):
    im = picture(320, 240)
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter: the file's pixels are not the texture's
    im.save(rotated, quality=90, exif=exif)
    (image,) = convert(tmp_path, rotated)["images"]
    assert Image.open(io.BytesIO(image)).size == (240, 320)

    plain = tmp_path / "plain.jpg"
    plain.write_bytes(with_metadata(im))
    own = texture_jpeg(plain.read_bytes())
    for extra in (("--texture-size", "160"), ("--target", "vr", "--compression", "none"), ("--infill",)):
        (image,) = convert(tmp_path, plain, *extra)["images"]
        assert image != own, extra
        assert b"Exif" not in image and GPS_LATITUDE not in image


def test_a_png_keeps_its_image_chunks_only():
    from depth3d.io.texture_file import texture_file, texture_png

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "holiday")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret</x:xmpmeta>")
    for mode in ("RGB", "RGBA", "P", "L"):
        out = io.BytesIO()
        exif = Image.Exif()
        exif[0x010F] = "PhoneMaker"
        picture().convert(mode).save(out, "PNG", pnginfo=info, exif=exif, icc_profile=b"\x00" * 300)
        data = out.getvalue()
        png = texture_png(data)
        assert png is not None and texture_file(data) == png, mode
        for secret in (b"holiday", b"secret", b"PhoneMaker", b"eXIf", b"iCCP", b"tEXt", b"iTXt"):
            assert secret not in png, (mode, secret)
        with Image.open(io.BytesIO(png)) as im, Image.open(io.BytesIO(data)) as original:
            assert im.mode == original.mode
            assert np.array_equal(np.asarray(im), np.asarray(original)), mode
            if mode == "P":
                assert im.getpalette() == original.getpalette()
    assert texture_png(data[:-12]) is None  # no IEND
    assert texture_png(data[:40]) is None  # a chunk past the end
    assert texture_file(b"GIF89a" + data[6:]) is None
