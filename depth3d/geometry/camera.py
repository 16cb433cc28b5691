"""The pinhole camera model and where its field of view comes from.

Frame (glTF camera frame): camera at the origin looking down −Z, +Y up, +X right, metres.
Pixel (col, row) has its centre at (col + 0.5, row + 0.5); row 0 is the top of the photo.
Square pixels; the FOV is horizontal.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_FOV_DEG = 55.0
FULL_FRAME_WIDTH_MM = 36.0
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)  # 43.27 mm

# EXIF tag numbers: Orientation in IFD0; the rest in the Exif IFD (0x8769), or IFD0 in TIFF/EP
_ORIENTATION = 0x0112
EXIF_IFD = 0x8769
_FOCAL_LENGTH = 0x920A
_FOCAL_35MM = 0xA405
_FOCAL_PLANE_X_RES = 0xA20E
_FOCAL_PLANE_Y_RES = 0xA20F
_FOCAL_PLANE_RES_UNIT = 0xA210
_PIXEL_X_DIMENSION = 0xA002
_PIXEL_Y_DIMENSION = 0xA003
_RES_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # inch (the EXIF default), cm, mm, µm


@dataclass(frozen=True)
class Camera:
    """A pinhole camera for a ``width`` × ``height`` image with horizontal FOV ``fov_deg``."""

    width: int
    height: int
    fov_deg: float = DEFAULT_FOV_DEG

    @property
    def aspect(self) -> float:
        """width / height."""
        return self.width / self.height

    @property
    def tan_half_x(self) -> float:
        return math.tan(math.radians(self.fov_deg) / 2.0)

    @property
    def tan_half_y(self) -> float:
        return self.tan_half_x / self.aspect

    @property
    def fov_y_deg(self) -> float:
        return math.degrees(2.0 * math.atan(self.tan_half_y))

    @property
    def focal_px(self) -> float:
        """Focal length in pixels (fx = fy)."""
        return self.width / (2.0 * self.tan_half_x)

    def lens_mm(self, sensor_width_mm: float = FULL_FRAME_WIDTH_MM) -> float:
        """Focal length in mm for a sensor ``sensor_width_mm`` wide (Blender's sensor fit)."""
        return sensor_width_mm / (2.0 * self.tan_half_x)


def fov_from_focal(focal_mm: float, sensor_width_mm: float) -> float:
    """Horizontal FOV in degrees of a lens ``focal_mm`` on a sensor ``sensor_width_mm`` wide."""
    return math.degrees(2.0 * math.atan(sensor_width_mm / (2.0 * focal_mm)))


def fov_from_35mm_equivalent(focal35_mm: float, width: int, height: int) -> float:
    """Horizontal FOV from a 35 mm-equivalent focal length.

    The equivalence is defined on the diagonal: the image diagonal spans 43.27 mm at
    ``focal35_mm``, whatever the aspect ratio; the horizontal extent is its share of it.
    """
    sensor_w = FULL_FRAME_DIAGONAL_MM * width / math.hypot(width, height)
    return fov_from_focal(focal35_mm, sensor_w)


def _positive(value) -> float | None:
    """A finite positive number, or ``None`` for anything else (EXIF values can be garbage)."""
    try:
        v = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def exif_orientation(exif) -> int:
    """EXIF Orientation 1..8 of a Pillow ``Image.Exif`` (or mapping); 1 when absent or invalid."""
    try:
        v = int(exif.get(_ORIENTATION, 1))
    except Exception:  # None, strings, rationals with a zero denominator...
        return 1
    return v if 1 <= v <= 8 else 1


def _exif_tags(exif) -> dict:
    """IFD0 and the Exif IFD merged into one {tag: value}; the Exif IFD wins."""
    tags = dict(exif)
    get_ifd = getattr(exif, "get_ifd", None)
    if get_ifd is not None:
        tags.update(get_ifd(EXIF_IFD))
    return tags


def fov_from_exif(exif, width: int, height: int) -> float | None:
    """Horizontal FOV in degrees from a Pillow ``Image.Exif`` of a photo shown ``width`` × ``height``.

    ``width``/``height`` are the displayed size (EXIF orientation applied).
    1. ``FocalLengthIn35mmFilm`` (defined on the diagonal, :func:`fov_from_35mm_equivalent`);
    2. else ``FocalLength`` on the sensor extent ``pixels / FocalPlaneX|YResolution`` (unit from
       ``FocalPlaneResolutionUnit``, inch by default).  The pixels are those the resolution
       refers to: ``PixelX|YDimension`` when present (the recorded image, not a resized copy),
       else the stored image.  The displayed horizontal is the sensor's Y for orientations 5..8,
       and also when the stored pixels are portrait but PixelX/YDimension landscape (or the
       reverse: an editor baked the rotation into the pixels).
    ``None`` when unknown, malformed or implausible (outside 0.1°..179°): EXIF never stops a
    conversion.
    """
    if exif is None:
        return None
    try:
        fov = _fov_from_tags(_exif_tags(exif), exif_orientation(exif), width, height)
    except Exception:  # malformed EXIF must never stop a conversion
        return None
    return fov if fov is not None and 0.1 < fov < 179.0 else None


def _fov_from_tags(tags: dict, orientation: int, width: int, height: int) -> float | None:
    f35 = _positive(tags.get(_FOCAL_35MM))
    if f35 is not None:
        return fov_from_35mm_equivalent(f35, width, height)
    focal = _positive(tags.get(_FOCAL_LENGTH))
    x_res = _positive(tags.get(_FOCAL_PLANE_X_RES))
    unit = _positive(tags.get(_FOCAL_PLANE_RES_UNIT, 2))
    unit_mm = _RES_UNIT_MM.get(int(unit)) if unit is not None else None
    if focal is None or x_res is None or unit_mm is None:
        return None
    y_res = _positive(tags.get(_FOCAL_PLANE_Y_RES)) or x_res
    swapped = orientation in (5, 6, 7, 8)
    stored_w, stored_h = (height, width) if swapped else (width, height)
    px_x = _positive(tags.get(_PIXEL_X_DIMENSION))
    px_y = _positive(tags.get(_PIXEL_Y_DIMENSION))
    if px_x is None or px_y is None:
        px_x, px_y = float(stored_w), float(stored_h)
    elif (px_x - px_y) * (stored_w - stored_h) < 0:  # rotation baked into the stored pixels
        px_x, px_y, x_res, y_res = px_y, px_x, y_res, x_res
    # sensor extent along the stored image's X and Y, in mm
    sensor_x, sensor_y = px_x / x_res * unit_mm, px_y / y_res * unit_mm
    return fov_from_focal(focal, sensor_y if swapped else sensor_x)


def resolve_fov(
    flag: float | None = None, model: float | None = None, exif: float | None = None
) -> float:
    """The FOV to use: the user's flag, else the model's estimate, else EXIF, else 55°."""
    for v in (flag, model, exif):
        if v is not None and 0.0 < v < 180.0:
            return float(v)
    return DEFAULT_FOV_DEG
