"""Photo + depth → :class:`Geometry` (a textured mesh or a coloured point cloud).

This is the one place the geometry options meet; the CLI, the Blender add-on (live
re-meshing from cached depth) and the benchmarks all call :func:`reconstruct`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import InputError, OptionError
from ..ranges import Range
from ..schema import Choice, check, field_of, fields_of, option
from .bands import BAND_VERTICES
from .camera import DEFAULT_FOV_DEG, Camera, resolve_fov
from .decimate import decimate, whole_cells
from .depth import disparity_limits, near_far_to_scale_shift, to_metric_disparity, to_relief_height
from .edges import (
    DEFAULT_EDGE_THRESHOLD,
    KEEP,
    LocatedCuts,
    coarsen_cuts,
    cut_edges,
    edge_window_radius,
    edges_apart,
    locate_cuts,
    restore_creases,
    sharpen_steps,
    triangulate,
)
from .edges.tiles import TileCache
from .grid import grid_positions, grid_shape, grid_step, grid_uv, resample
from .mesh import compact, kept_grid_index
from .projection import perspective_at, perspective_points, relief_at, relief_points
from .types import Geometry, GridLayout

DEFAULT_RESOLUTION = 1024
FINE_BELOW = 512  # grids coarser than this (long side) find their edges on a finer one,
FINE_FACTOR = 3  # ... this many times finer
INFILL_SHARE = 0.4  # under a triangle budget, the in-fill layer may take up to this share of it
MAX_RESOLUTION = 16384  # long side of the vertex grid


@dataclass
class Options:
    """What to build.  ``None`` for fov/scale/shift/near/far means "decide from the data".

    Each field is an option declared once (:func:`depth3d.schema.option`: default, label,
    help, unit and range or choices): the command line's flags, the Blender properties
    (:mod:`depth3d.blender.option_props`) and :meth:`check` all derive from it.  Adding a
    field here adds the option everywhere.  Angles are in degrees (Blender shows them as
    ``ANGLE`` properties, in radians), distances in metres.

    near/far (metres, together, perspective only) say where the nearest and farthest points
    of the map go: for disparity the curve ``1/(S·d + T)`` through them
    (:func:`~depth3d.geometry.depth.near_far_to_scale_shift`); for metric depth the affine remap of the
    map's range of positive values onto [near, far] (:meth:`resolved`).

    max_triangles: 0 = no limit; else a mesh has at most this many faces — whole cells merged
    into error-bounded blocks (:mod:`depth3d.geometry.decimate`; cut borders, holes and the frame kept
    vertex for vertex), on a coarser grid only if even the largest error allowed
    (:data:`~depth3d.geometry.decimate.MAX_ERROR`) does not reach the budget.  Points ignore it (a point
    cloud has no triangles).
    """

    geometry: str = option("mesh", "Geometry", "what to build", choices=(
        Choice("mesh", "Mesh", "A textured triangle mesh, cut at depth discontinuities"),
        Choice("points", "Points", "A point cloud with the photo's colours")))
    projection: str = option("perspective", "Projection", "how depth becomes 3D", choices=(
        Choice("perspective", "Perspective", "Unproject through the camera: a true 3D scene in metres"),
        Choice("relief", "Relief", "Displace a flat plane of width 1 towards the viewer (bas-relief)")))
    fov: float | None = option(
        None, "FOV", "horizontal field of view (default: the model's estimate, else the photo's EXIF, else 55°)",
        range=Range(min=0.0, max=180.0, min_open=True, max_open=True, unit="degrees"), metavar="DEG",
        placeholder=DEFAULT_FOV_DEG, auto=0.0, margin=1.0)
    scale: float | None = option(  # 0: a plane at shift
        None, "Scale", "disparity: depth = 1/(S·d + T) on d in [0,1]; metric: depth = S·z + T; "
        "relief: height = S·nearness + T", range=Range(min=0.0), metavar="S", placeholder=1.0, precision=4, step=1)
    shift: float | None = option(None, "Shift", "T in the scale's formulas", range=Range(), metavar="T",
                                 placeholder=0.0, precision=4, step=1)
    resolution: int = option(DEFAULT_RESOLUTION, "Resolution", "long side of the vertex grid; 0 = every pixel",
                             range=Range(min=0, max=MAX_RESOLUTION), metavar="N", soft_max=4096)
    edge_threshold: float = option(
        DEFAULT_EDGE_THRESHOLD, "Edge Threshold", "cut the mesh where depth jumps by more than this (relative) "
        "beyond what the surfaces on either side predict; 0 keeps every triangle", range=Range(min=0.0),
        metavar="R", soft_max=0.5, precision=3, step=1)
    near: float | None = option(
        None, "Near", "with far: depth of the nearest point in metres; a metric map's range is remapped "
        "onto [near, far]",
        range=Range(min=0.0, min_open=True, unit="m"), metavar="M", placeholder=1.0)
    far: float | None = option(None, "Far", "with near: depth of the farthest point in metres",
                               range=Range(min=0.0, min_open=True, unit="m"), metavar="M", placeholder=10.0)
    max_triangles: int = option(  # on the command line the target's budget (--target, --max-triangles)
        0, "Max Triangles", "most triangles the mesh may have, 0 = no limit: whole cells merge into larger "
        "triangles where the depth is flat enough; cut edges stay as they are",
        range=Range(min=0, unit="triangles"), cli=False)
    infill: bool = option(  # perspective meshes: a background layer behind cuts, frame margin (depth3d.geometry.infill)
        False, "Fill Behind", "perspective meshes: a hidden background layer behind every cut and a margin past "
        "the frame edge, in-painted from the background, so a moving viewer (VR) sees no holes", by_target=True)

    def __post_init__(self) -> None:
        self.check(vars(self))

    @classmethod
    def check(cls, values: Mapping[str, Any], label: Callable[[str], str] = lambda name: name) -> None:
        """Raise :class:`~depth3d.errors.OptionError` (a ValueError) naming the first bad option of
        ``values`` (field name → value; those missing take their defaults): each against its
        declaration (:func:`depth3d.schema.check`), then the rules between them.  ``label(field
        name)`` is how the caller's user calls it (e.g. ``--edge-threshold``)."""
        check(cls, values, label)
        v: dict[str, Any] = {f.name: f.default for f in fields_of(cls)} | dict(values)
        near, far = v["near"], v["far"]
        if (near is None) != (far is None):
            raise OptionError(f"{label('near')} and {label('far')} go together")
        if near is not None:
            if v["scale"] is not None or v["shift"] is not None:
                raise OptionError(f"{label('near')}/{label('far')} and {label('scale')}/{label('shift')} "
                                  "say the same thing; give one pair")
            if not near < far:
                raise OptionError(f"{label('near')} must be less than {label('far')}, got {near:g} and {far:g}")
            if v["projection"] == "relief":
                raise OptionError(f"{label('near')}/{label('far')} are distances for the perspective "
                                  f"projection; relief heights take {label('scale')}/{label('shift')}")

    def resolved(self, raw_depth: np.ndarray, kind: str) -> Options:
        """These options with near/far turned into the explicit scale/shift they mean for
        ``raw_depth`` of ``kind`` (unchanged when near/far are not given).

        Metric depth: the positive values' range [z0, z1] maps onto [near, far], ``S·z + T``
        with ``S = (far − near)/(z1 − z0)``, ``T = near − S·z0`` (a constant map: a plane at near).
        """
        if self.near is None:
            return self
        if kind == "disparity":
            scale, shift = near_far_to_scale_shift(self.near, self.far)
        else:
            z = np.asarray(raw_depth, dtype=np.float32)
            positive = z[z > 0]
            if positive.size == 0:
                raise InputError("depth has no positive value: every point is behind the camera")
            z0, z1 = float(positive.min()), float(positive.max())
            scale = (self.far - self.near) / (z1 - z0) if z1 > z0 else 1.0
            shift = self.near - scale * z0
        return replace(self, scale=scale, shift=shift, near=None, far=None)


GEOMETRIES = tuple(c.value for c in field_of(Options, "geometry").spec.choices)
PROJECTIONS = tuple(c.value for c in field_of(Options, "projection").spec.choices)


def grid_disparity(raw_depth: np.ndarray, kind: str, options: Options, nx: int, ny: int,
                   tiles: TileCache | None = None):
    """Disparity (1/depth; relief: 1/(1 + height)) on the edge grid, NaN where there is no point,
    with blurred steps and creases sharpened (:mod:`depth3d.geometry.edges`).

    Returns ``(q, measured, k)``: the sharpened (k·(ny−1)+1, k·(nx−1)+1) float32 grid, the same
    grid before sharpening (``None`` when nothing was sharpened), and k: the vertex grid is
    every k-th vertex of the edge grid (both span the map, :mod:`depth3d.geometry.grid`).

    Resampled as disparity: bilinear interpolation is exact on planes there, and a pixel that
    mixes two surfaces across a step lies between them in proportion (mixed as depth, a pixel of
    a tree against a far sky would land kilometres away), which the edge rule can place.
    A vertex grid coarser than FINE_BELOW finds its edges on a grid FINE_FACTOR times finer
    (when the map has the pixels; k = FINE_FACTOR, else 1): a blurred thin object a couple of
    cells wide is still resolved there.  Only a grid sharpened at the vertex grid's own size
    leaves out the last vertices of surfaces curving away at their silhouettes
    (:func:`~depth3d.geometry.edges.sharpen_steps`): subsampled, one such vertex would take a whole cell
    of the coarse grid with it.
    """
    dh, dw = raw_depth.shape
    threshold = options.edge_threshold
    k = FINE_FACTOR
    fx, fy = k * (nx - 1) + 1, k * (ny - 1) + 1
    if not (threshold > 0 and max(nx, ny) < FINE_BELOW and fx <= dw and fy <= dh):
        k, fx, fy = 1, nx, ny
    with np.errstate(divide="ignore"):
        if options.projection == "perspective":
            limits = disparity_limits(raw_depth, kind)
            q = resample(raw_depth, fx, fy, convert=lambda a: to_metric_disparity(
                a, kind, options.scale, options.shift, limits))
        else:
            # Relief heights are measured from the plane; discontinuities are judged on
            # 1 + height (a bas-relief seen from a unit distance).
            z = np.float32(1.0) + resample(to_relief_height(raw_depth, kind, options.scale, options.shift), fx, fy)
            q = np.where(z > 0, np.float32(1.0) / z, np.float32(np.nan)).astype(np.float32)
    if threshold <= 0:
        return q, None, k
    return _sharpen(q, threshold, drop_curving=k == 1, tiles=tiles), q, k


def grid_cuts(q: np.ndarray, measured: np.ndarray, k: int, threshold: float, pitch: tuple[float, float],
              tiles: TileCache | None = None) -> tuple[dict[str, np.ndarray], dict[str, LocatedCuts] | None]:
    """:func:`~depth3d.geometry.edges.cut_edges` of the vertex grid, every k-th vertex of the edge grid
    ``q`` (sharpened; ``measured`` before), whose spacing is ``pitch`` (x, y) in tan-angle units.

    A coarser vertex grid (k > 1) takes, on each of its edges whose ends differ by more than
    the threshold, the strongest verdict of the fine edges along it (the finer grid knows which
    of its vertices sharpening guessed, and resolves ground, slivers and ramps the coarse cells
    span), and adds its own steps: a crease the finer grid resolves can still be a step for a
    cell that spans it.
    Returns the vertex grid's cuts and, for k > 1, where its cut edges are split
    (:func:`~depth3d.geometry.edges.locate_cuts`; ``None`` for k = 1).
    """
    radius = edge_window_radius(q.shape[1], q.shape[0])
    cuts = cut_edges(q, threshold, radius, (pitch[0] / k, pitch[1] / k), measured, tiles=tiles)
    if k == 1:
        return cuts, None
    coarse = np.ascontiguousarray(q[::k, ::k])
    own = cut_edges(coarse, threshold, 0, pitch)
    # an edge whose ends agree passes over something smaller than a cell, which the coarse
    # mesh cannot show: it stays whole
    apart = edges_apart(coarse, threshold)
    merged = {kind: np.maximum(own[kind], np.where(apart[kind], c, KEEP)).astype(np.uint8)
              for kind, c in coarsen_cuts(cuts, k, *coarse.shape).items()}
    return merged, locate_cuts(q, cuts, k, merged)


def _sharpen(q: np.ndarray, threshold: float, drop_curving: bool, tiles: TileCache | None = None) -> np.ndarray:
    """Blurred steps, then blurred creases of a (ny, nx) disparity grid made sharp again (tiles:
    the stages' shared tile statistics, :class:`~depth3d.geometry.edges.tiles.TileCache`)."""
    radius = edge_window_radius(q.shape[1], q.shape[0])
    return restore_creases(sharpen_steps(q, radius, threshold, drop_curving, tiles=tiles), radius, threshold,
                           tiles=tiles)


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
    options = (options or Options()).resolved(raw_depth, kind)
    height, width = rgb.shape[:2]
    camera = Camera(width, height, resolve_fov(options.fov, model_fov, exif_fov))
    span = (raw_depth.shape[1], raw_depth.shape[0])
    nx, ny = grid_shape(*span, options.resolution)

    tiles = TileCache()  # the edge rule's stages share their tile statistics
    edge_q, measured, k = grid_disparity(raw_depth, kind, options, nx, ny, tiles)
    q = edge_q if k == 1 else np.ascontiguousarray(edge_q[::k, ::k])
    if not np.isfinite(q).any():
        raise InputError("no point in front of the camera: every depth is <= 0 after scale/shift "
                         f"(scale {options.scale}, shift {options.shift})")
    meta = {"fov_deg": camera.fov_deg, "kind": kind, "projection": options.projection}
    if options.geometry == "points":
        z = np.float32(1.0) / q
        if options.projection == "perspective":
            points = perspective_points(z, camera, span)
        else:
            points = relief_points(z - np.float32(1.0), camera.aspect, span)
        vertices = points.reshape(-1, 3)
        uv = grid_uv(nx, ny, span)
        keep = np.isfinite(z).ravel()
        colors = resample(rgb, nx, ny, span)
        colors = np.asarray(np.round(colors) if colors.dtype != np.uint8 else colors, dtype=np.uint8)
        return Geometry(
            vertices=vertices[keep], faces=None, uv=uv[keep], texture=rgb, camera=camera,
            colors=colors.reshape(-1, 3)[keep], grid=(nx, ny), span=span, name=name, meta=meta,
            layout=GridLayout(np.flatnonzero(keep).astype(np.int32)),
        )
    step = (grid_step(nx, span[0]), grid_step(ny, span[1]))  # normalised image units
    if options.projection == "perspective":
        pitch = (2 * camera.tan_half_x * step[0], 2 * camera.tan_half_y * step[1])
    else:
        pitch = (step[0], step[1] / camera.aspect)
    threshold = options.edge_threshold
    cuts, located = grid_cuts(edge_q, measured, k, threshold, pitch, tiles) if threshold > 0 else (None, None)
    del tiles
    tri = triangulate(q, cuts, located)
    faces, own, other, mid_q, mid_frac = tri.faces, tri.mid_own, tri.mid_other, tri.mid_q, tri.mid_t
    blocks = (tri.first, tri.second)  # how many faces, at the start, are the grid's own triangles
    cells: tuple[np.ndarray, np.ndarray] | None = tri.cells  # ... and of which cells (None once decimated)
    del tri
    del edge_q, measured  # freed before the vertex arrays are built
    # under a budget with in-fill, the background layer gets up to INFILL_SHARE of it
    budget = options.max_triangles - (int(options.max_triangles * INFILL_SHARE) if options.infill else 0)
    if budget and len(faces) > budget:
        # perspective: disparity is affine over a planar triangle's image; relief: 1 + height
        if options.projection == "perspective":  # the texture bound, in photo pixels per cell
            pixel = max(step[0] * camera.width, step[1] * camera.height)
            cut = decimate(faces, q, whole_cells(q, cuts), budget, pixel=pixel, blocks=blocks)
        else:  # relief: not registered to the photo on screen (see depth3d.geometry.decimate)
            cut = decimate(faces, np.float32(1.0) / q, whole_cells(q, cuts), budget, blocks=blocks)
        if not cut.met and max(nx, ny) > 2:  # too much detail even at the largest error: a coarser grid
            coarser = max(2, min(max(nx, ny) - 1, int(max(nx, ny) * (budget / len(cut.faces)) ** 0.5)))
            return reconstruct(rgb, raw_depth, kind, replace(options, resolution=coarser),
                               model_fov, exif_fov, name)
        faces, cells = cut.faces[:budget], None  # (cut only on a 2 × 2 grid with a budget of 1)
        blocks = (min(cut.first, budget), min(cut.second, budget - min(cut.first, budget)))
        meta["max_error"] = cut.error
    if not options.infill:
        del cuts, located
    # Vertices added where cut triangles were split: on the way from a grid vertex (``own``) to
    # another in the image (``mid_frac`` of it), on the surface of the first at disparity ``mid_q``.
    s_grid, t_grid = grid_positions(nx, span[0]), grid_positions(ny, span[1])
    u_grid, v_grid = s_grid.astype(np.float32), (1.0 - t_grid).astype(np.float32)  # as grid_uv

    def uv_at(index):
        row, col = np.divmod(index, nx)
        return np.stack([u_grid[col], v_grid[row]], axis=1)

    own_uv = uv_at(own)
    mid_uv = own_uv + mid_frac[:, None] * (uv_at(other) - own_uv)
    del own_uv
    mid_z = np.float32(1.0) / mid_q
    mid_s, mid_t = mid_uv[:, 0], np.float32(1.0) - mid_uv[:, 1]
    if options.projection == "perspective":
        mid = perspective_at(mid_s, mid_t, mid_z, camera)
    else:
        mid = relief_at(mid_s, mid_t, mid_z - np.float32(1.0), camera.aspect)
    used, faces = compact(faces, nx * ny + len(mid), in_place=True, blocks=(nx, *blocks), cells=cells)
    del cells

    # grid vertices and UVs (as perspective_points / relief_points and grid_uv), row band by
    # row band straight into the kept rows: no full-size intermediate
    z_band = np.empty((min(ny, _band_rows(nx)), nx), np.float32)  # one of _kept's bands

    def points_rows(a, b, out=None):
        z = np.divide(np.float32(1.0), q[a:b], out=z_band[:b - a])
        if options.projection == "perspective":
            return perspective_at(s_grid[None, :], t_grid[a:b, None], z, camera, out=out)
        return relief_at(s_grid[None, :], t_grid[a:b, None], z - np.float32(1.0), camera.aspect, out=out)

    def uv_rows(a, b, out=None):
        uv = np.empty((b - a, nx, 2), np.float32) if out is None else out
        uv[:, :, 0] = u_grid[None, :]
        uv[:, :, 1] = v_grid[a:b, None]
        return uv

    geometry = Geometry(
        vertices=_kept(points_rows, (ny, nx), mid, used), faces=faces,
        uv=_kept(uv_rows, (ny, nx), mid_uv, used), texture=rgb, camera=camera,
        grid=(nx, ny), span=span, name=name, meta=meta,
        layout=GridLayout(kept_grid_index(used, nx * ny), *blocks),
    )
    if options.infill:
        from .infill import infill_geometry

        left = options.max_triangles - len(faces) if options.max_triangles else None
        geometry = infill_geometry(geometry, q, cuts, located, options, max_faces=left)
    return geometry


def _band_rows(nx: int) -> int:
    """Rows of an ``nx``-wide grid that :func:`_kept` fills at a time (about BAND_VERTICES)."""
    return max(1, BAND_VERTICES // nx)


def _kept(grid_rows, shape: tuple[int, int], extra: np.ndarray, used: np.ndarray) -> np.ndarray:
    """``np.concatenate([grid, extra])[used]``, where ``grid_rows(a, b, out=None)`` gives rows
    a … b of an (ny, nx, C) grid (into ``out``, (b − a, nx, C), when given): filled band by band,
    without the full grid or the concatenation; a band whose vertices are all kept straight
    into its place."""
    ny, nx = shape
    keep_grid, keep_extra = used[:ny * nx].reshape(ny, nx), used[ny * nx:]
    n = int(np.count_nonzero(keep_grid))
    out = np.empty((n + int(np.count_nonzero(keep_extra)), extra.shape[1]), extra.dtype)
    rows, at = _band_rows(nx), 0
    scratch = None  # one band, for the bands that lose vertices
    for a in range(0, ny, rows):
        b = min(ny, a + rows)
        keep = keep_grid[a:b].reshape(-1)
        m = int(np.count_nonzero(keep))
        if m == len(keep):
            grid_rows(a, b, out=out[at:at + m].reshape(b - a, nx, out.shape[1]))
        else:
            if scratch is None:
                scratch = np.empty((min(rows, ny), nx, out.shape[1]), out.dtype)
            band = grid_rows(a, b, out=scratch[:b - a])
            # (np.compress would write a copy of its ``out`` first: take's "raise" mode does)
            np.take(band.reshape(-1, out.shape[1]), np.flatnonzero(keep), axis=0, out=out[at:at + m], mode="clip")
        at += m
    out[at:] = extra[keep_extra]
    return out
