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

# EXIF tag numbers (the Exif IFD, 0x8769)
_EXIF_IFD = 0x8769
_FOCAL_LENGTH = 0x920A
_FOCAL_35MM = 0xA405
_FOCAL_PLANE_X_RES = 0xA20E
_FOCAL_PLANE_RES_UNIT = 0xA210
_PIXEL_X_DIMENSION = 0xA002


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
    try:
        v = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def fov_from_exif(exif, width: int, height: int) -> float | None:
    """Horizontal FOV in degrees from a Pillow ``Image.Exif`` of a ``width`` × ``height`` image.

    ``FocalLengthIn35mmFilm`` first; else ``FocalLength`` with the sensor width derived from
    ``FocalPlaneXResolution`` (and the pixel width it refers to).  ``None`` when unknown.
    """
    if exif is None:
        return None
    try:
        ifd = dict(exif.get_ifd(_EXIF_IFD))
    except Exception:  # malformed EXIF must never stop a conversion
        return None
    ifd.update({k: v for k, v in dict(exif).items() if k not in ifd})
    f35 = _positive(ifd.get(_FOCAL_35MM))
    if f35 is not None:
        return fov_from_35mm_equivalent(f35, width, height)
    focal = _positive(ifd.get(_FOCAL_LENGTH))
    x_res = _positive(ifd.get(_FOCAL_PLANE_X_RES))
    if focal is None or x_res is None:
        return None
    unit_mm = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}.get(int(ifd.get(_FOCAL_PLANE_RES_UNIT, 2) or 2))
    if unit_mm is None:
        return None
    # FocalPlaneXResolution counts pixels of the full sensor readout (PixelXDimension).
    sensor_px = _positive(ifd.get(_PIXEL_X_DIMENSION)) or float(max(width, height))
    sensor_w = sensor_px / x_res * unit_mm
    if width < height:  # portrait photo: the sensor's long side is vertical
        sensor_w *= width / height
    return fov_from_focal(focal, sensor_w)


def resolve_fov(
    flag: float | None = None, model: float | None = None, exif: float | None = None
) -> float:
    """The FOV to use: the user's flag, else the model's estimate, else EXIF, else 55°."""
    for v in (flag, model, exif):
        if v is not None and 0.0 < v < 180.0:
            return float(v)
    return DEFAULT_FOV_DEG
