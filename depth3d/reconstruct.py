"""Photo + depth → :class:`Geometry` (a textured mesh or a coloured point cloud).

This is the one place the geometry options meet; the CLI, the Blender add-on (live
re-meshing from cached depth) and the benchmarks all call :func:`reconstruct`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .camera import Camera, resolve_fov
from .depth import to_metric_depth, to_relief_height
from .edges import DEFAULT_EDGE_THRESHOLD, sharpen_steps, triangle_slopes
from .grid import grid_shape, grid_uv, resample
from .mesh import compact, grid_faces
from .projection import perspective_points, relief_points

GEOMETRIES = ("mesh", "points")
PROJECTIONS = ("perspective", "relief")
DEFAULT_RESOLUTION = 1024


@dataclass
class Options:
    """What to build.  ``None`` for fov/scale/shift means "decide from the data"."""

    geometry: str = "mesh"
    projection: str = "perspective"
    fov: float | None = None
    scale: float | None = None
    shift: float | None = None
    resolution: int = DEFAULT_RESOLUTION
    edge_threshold: float = DEFAULT_EDGE_THRESHOLD

    def __post_init__(self) -> None:
        if self.geometry not in GEOMETRIES:
            raise ValueError(f"geometry must be one of {GEOMETRIES}, got {self.geometry!r}")
        if self.projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, got {self.projection!r}")
        if self.resolution < 0 or self.edge_threshold < 0:
            raise ValueError("resolution and edge threshold must be >= 0")


@dataclass
class Geometry:
    """A reconstructed surface in the camera frame (metres; relief: plane of width 1).

    vertices: (N, 3) float32.
    faces:    (F, 3) int32 for a mesh, ``None`` for points.
    uv:       (N, 2) float32 texture coordinates (origin bottom-left) into ``texture``.
    colors:   (N, 3) uint8 sRGB per vertex (points), ``None`` for a mesh.
    texture:  (H, W, 3) uint8 sRGB photo.
    camera:   the camera that sees the photo exactly (the FOV in use).
    grid:     (nx, ny) of the vertex grid before unused vertices were dropped.
    """

    vertices: np.ndarray
    faces: np.ndarray | None
    uv: np.ndarray
    texture: np.ndarray
    camera: Camera
    colors: np.ndarray | None = None
    grid: tuple[int, int] = (0, 0)
    name: str = "photo"
    meta: dict = field(default_factory=dict)

    @property
    def is_mesh(self) -> bool:
        return self.faces is not None


def reconstruct(
    rgb: np.ndarray,
    raw_depth: np.ndarray,
    kind: str,
    options: Options | None = None,
    model_fov: float | None = None,
    exif_fov: float | None = None,
    name: str = "photo",
) -> Geometry:
    """Build the geometry for one photo.

    rgb:       (H, W, 3) uint8 photo.
    raw_depth: (h, w) float32 backend output (same aspect as the photo), ``kind`` "depth"
               (metric planar depth) or "disparity" (relative inverse depth).
    """
    options = options or Options()
    height, width = rgb.shape[:2]
    camera = Camera(width, height, resolve_fov(options.fov, model_fov, exif_fov))
    dh, dw = raw_depth.shape
    nx, ny = grid_shape(dw, dh, options.resolution)

    if options.projection == "perspective":
        z = resample(to_metric_depth(raw_depth, kind, options.scale, options.shift), nx, ny)
        pitch_x, pitch_y = 2 * camera.tan_half_x / nx, 2 * camera.tan_half_y / ny
    else:
        # Relief heights are measured from the plane; slope is judged on 1 + height so that
        # the same rule applies (a bas-relief seen from a unit distance).
        z = np.float32(1.0) + resample(to_relief_height(raw_depth, kind, options.scale, options.shift), nx, ny)
        z[~(z > 0)] = np.nan
        pitch_x, pitch_y = 1.0 / nx, 1.0 / (camera.aspect * ny)
    threshold = options.edge_threshold
    if threshold > 0:
        z = sharpen_steps(z, pitch_x, threshold)
    if options.projection == "perspective":
        points = perspective_points(z, camera)
    else:
        points = relief_points(z - np.float32(1.0), camera.aspect)

    vertices = points.reshape(-1, 3)
    uv = grid_uv(nx, ny)
    meta = {"fov_deg": camera.fov_deg, "kind": kind}
    if options.geometry == "points":
        keep = np.isfinite(z).ravel()
        colors = resample(rgb, nx, ny)
        colors = np.asarray(np.round(colors) if colors.dtype != np.uint8 else colors, dtype=np.uint8)
        return Geometry(
            vertices=vertices[keep], faces=None, uv=uv[keep], texture=rgb, camera=camera,
            colors=colors.reshape(-1, 3)[keep], grid=(nx, ny), name=name, meta=meta,
        )
    first, second = triangle_slopes(z, pitch_x, pitch_y)
    if threshold > 0:
        keep_first, keep_second = first <= threshold, second <= threshold
    else:
        keep_first, keep_second = ~np.isnan(first), ~np.isnan(second)
    faces = grid_faces(keep_first, keep_second)
    used, faces = compact(faces, nx * ny)
    return Geometry(
        vertices=vertices[used], faces=faces, uv=uv[used], texture=rgb, camera=camera,
        grid=(nx, ny), name=name, meta=meta,
    )
