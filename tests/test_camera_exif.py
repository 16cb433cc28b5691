"""Field of view from EXIF, written into real files with Pillow and read back through read_photo."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from depth3d.geometry.camera import exif_orientation, fov_from_exif
from depth3d.io.image import read_photo

DIAGONAL_35MM = math.hypot(36.0, 24.0)  # 43.267 mm


def hfov(sensor_width_mm: float, focal_mm: float) -> float:
    return math.degrees(2.0 * math.atan(sensor_width_mm / 2.0 / focal_mm))


def jpeg_with_exif(tmp_path, size: tuple[int, int], orientation: int | None = None, name="p.jpg",
                   **tags) -> Path:
    """A JPEG of ``size`` (w, h) as stored, with Exif-IFD ``tags`` given as {hex name: value}."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    ifd = exif.get_ifd(0x8769)
    for key, value in tags.items():
        ifd[int(key[1:], 16)] = value
    path = tmp_path / name
    Image.new("RGB", size, (90, 120, 150)).save(path, exif=exif)
    return path


def test_35mm_equivalent_on_a_4_3_jpeg(tmp_path):
    photo = read_photo(jpeg_with_exif(tmp_path, (400, 300), xA405=26))
    # the 35 mm diagonal (43.267 mm) spans the image diagonal; a 4:3 width is 4/5 of it
    expected = math.degrees(2.0 * math.atan(DIAGONAL_35MM * 0.8 / 2.0 / 26.0))
    assert photo.fov_deg == pytest.approx(expected, rel=1e-12)
    assert photo.fov_deg == pytest.approx(67.30, abs=0.01)


def test_35mm_equivalent_on_3_2_is_the_full_frame_width(tmp_path):
    photo = read_photo(jpeg_with_exif(tmp_path, (300, 200), xA405=50))
    assert photo.fov_deg == pytest.approx(hfov(36.0, 50.0), rel=1e-12)


def test_35mm_equivalent_on_a_rotated_portrait(tmp_path):
    # stored landscape 400×300, Orientation 6 → displayed 300×400: width is 3/5 of the diagonal
    photo = read_photo(jpeg_with_exif(tmp_path, (400, 300), orientation=6, xA405=26))
    assert (photo.width, photo.height) == (300, 400)
    assert photo.fov_deg == pytest.approx(hfov(DIAGONAL_35MM * 0.6, 26.0), rel=1e-12)


# a phone-like camera: 4.25 mm lens, 5.6 × 4.2 mm sensor recorded at 4000 × 3000
FOCAL = IFDRational(425, 100)
PER_CM = IFDRational(4000 * 100, 56)  # pixels per cm: 4000 across 0.56 cm


def test_focal_length_with_focal_plane_resolution(tmp_path):
    photo = read_photo(jpeg_with_exif(tmp_path, (400, 300), x920A=FOCAL, xA20E=PER_CM, xA210=3,
                                      xA002=4000, xA003=3000))
    # the photo is a resized copy: the resolution refers to PixelXDimension, not 400 px
    assert photo.fov_deg == pytest.approx(hfov(5.6, 4.25), rel=1e-9)


@pytest.mark.parametrize("unit, per_unit", [(2, 4000 * 25.4 / 5.6), (3, 4000 * 10 / 5.6), (4, 4000 / 5.6)])
def test_focal_plane_units_without_pixel_dimensions(tmp_path, unit, per_unit):
    # no PixelX/YDimension: the resolution refers to the stored image (4000 px here, kept small
    # by saying the sensor is 5.6 mm over the 400 px we actually store)
    res = IFDRational(round(per_unit / 10 * 1000), 1000)
    photo = read_photo(jpeg_with_exif(tmp_path, (400, 300), x920A=FOCAL, xA20E=res, xA210=unit))
    assert photo.fov_deg == pytest.approx(hfov(5.6, 4.25), rel=1e-5)


def test_focal_plane_on_a_rotated_portrait(tmp_path):
    # Orientation 6: the displayed horizontal is the sensor's 4.2 mm side
    photo = read_photo(jpeg_with_exif(tmp_path, (400, 300), orientation=6, x920A=FOCAL,
                                      xA20E=PER_CM, xA20F=PER_CM, xA210=3, xA002=4000, xA003=3000))
    assert (photo.width, photo.height) == (300, 400)
    assert photo.fov_deg == pytest.approx(hfov(4.2, 4.25), rel=1e-9)


def test_focal_plane_when_an_editor_baked_the_rotation_in(tmp_path):
    # pixels stored portrait with Orientation 1, but the EXIF still describes the landscape readout
    photo = read_photo(jpeg_with_exif(tmp_path, (300, 400), orientation=1, x920A=FOCAL,
                                      xA20E=PER_CM, xA210=3, xA002=4000, xA003=3000))
    assert photo.fov_deg == pytest.approx(hfov(4.2, 4.25), rel=1e-9)


def test_35mm_tag_wins_over_focal_plane(tmp_path):
    photo = read_photo(jpeg_with_exif(tmp_path, (400, 300), xA405=26, x920A=FOCAL, xA20E=PER_CM, xA210=3))
    assert photo.fov_deg == pytest.approx(hfov(DIAGONAL_35MM * 0.8, 26.0), rel=1e-12)


def test_no_lens_information_gives_none(tmp_path):
    assert read_photo(jpeg_with_exif(tmp_path, (40, 30))).fov_deg is None
    assert read_photo(jpeg_with_exif(tmp_path, (40, 30), name="f.jpg", x920A=FOCAL)).fov_deg is None
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 6)).save(plain)
    assert read_photo(plain).fov_deg is None


@pytest.mark.parametrize(
    "tags",
    [
        {"xA405": 0},
        {"xA405": "26mm"},
        {"xA405": IFDRational(26, 0)},
        {"x920A": IFDRational(0, 0), "xA20E": PER_CM, "xA210": 3},
        {"x920A": FOCAL, "xA20E": IFDRational(1, 0), "xA210": 3},
        {"x920A": FOCAL, "xA20E": PER_CM, "xA210": 7},
        {"x920A": FOCAL, "xA20E": PER_CM, "xA210": "cm"},
        {"x920A": "wide", "xA20E": "many", "xA210": 3},
        {"x920A": IFDRational(1, 1000000), "xA20E": PER_CM, "xA210": 3},  # 179.99°: implausible
    ],
)
def test_garbage_exif_values_give_none_and_never_crash(tmp_path, tags):
    photo = read_photo(jpeg_with_exif(tmp_path, (40, 30), **tags))
    assert photo.fov_deg is None
    assert photo.rgb.shape == (30, 40, 3)


class WeirdExif(dict):
    """An EXIF-like mapping whose sub-IFD access blows up, as corrupt files can make Pillow do."""

    def get_ifd(self, tag):
        raise SyntaxError("corrupt IFD")


@pytest.mark.parametrize(
    "exif",
    [
        None,
        {},
        {0x0112: "six"},
        {0xA405: (26, 1)},
        {0xA405: float("nan")},
        {0xA405: -26},
        {0xA405: float("inf")},
        {0xA405: b"\x00\x01"},
        {0x920A: 4.25, 0xA20E: 10.0, 0xA210: float("inf")},
        WeirdExif({0xA405: 26}),
    ],
)
def test_fov_from_exif_survives_anything(exif):
    assert fov_from_exif(exif, 400, 300) is None


def test_exif_orientation_values():
    assert exif_orientation({}) == 1
    assert [exif_orientation({0x0112: v}) for v in range(1, 9)] == list(range(1, 9))
    for garbage in (0, 9, -1, "x", None, IFDRational(1, 0), (6,)):
        assert exif_orientation({0x0112: garbage}) == 1

