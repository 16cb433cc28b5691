"""The reconstructed surface: :class:`Geometry`, and :class:`GridLayout`, how it sits on its vertex grid.

A mesh made on a vertex grid (:mod:`depth3d.geometry.grid`, :func:`depth3d.geometry.reconstruct.reconstruct`) says
which of its vertices are grid vertices and how its faces are ordered, so that a consumer that
wants the grid structure back (Blender's quads, :mod:`depth3d.geometry.polygons`; a point's row
neighbours) reads it instead of guessing it from UVs.  Whatever reorders, drops or appends
vertices or faces keeps the layout (:func:`depth3d.geometry.mesh.compact`, :mod:`depth3d.geometry.decimate`,
:mod:`depth3d.geometry.infill`); a geometry whose faces came from elsewhere has ``layout=None``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .camera import Camera

__all__ = ["Geometry", "GridLayout", "TextureFile", "check_layout"]


class GridLayout(NamedTuple):
    """Where a mesh's vertices and faces sit on its (ny, nx) vertex grid (``Geometry.grid``).

    grid_index: (N,) int32 per vertex, its flat grid position j·nx + i (row j from the top,
                column i), or −1 for a vertex at no grid position (a split vertex on a cut edge,
                an in-fill layer vertex).  Grid positions are unique.
    first:      ``faces[:first]`` are grid cells' first triangles, (a, a+nx, a+1) in grid
                positions (a the cell's top-left vertex), cells in increasing a (row-major).
    second:     ``faces[first:first + second]`` are grid cells' second triangles
                (a+1, a+nx, a+nx+1), cells in increasing a.  Together with the first ones they
                make the cell's quad (a+nx, a+nx+1, a+1, a) where a cell has both.
    Every face after those is some other triangle (split at a cut, a decimated block's fan,
    the in-fill layer), in no particular order.  A point cloud has ``first = second = 0``.
    """

    grid_index: np.ndarray
    first: int = 0
    second: int = 0

    @property
    def grid_faces(self) -> int:
        """How many faces, at the start, are grid cells' own triangles."""
        return self.first + self.second


class TextureFile(NamedTuple):
    """The encoded file (``data``, e.g. the photo's JPEG as read) whose decoded ``pixels`` are a
    texture, as stored: no rotation applied to them."""

    pixels: np.ndarray
    data: bytes


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
    span:     (width, height) of the depth map whose pixel centres the grid spans
              (:mod:`depth3d.geometry.grid`).
    layout:   how vertices and faces sit on the grid (:class:`GridLayout`), ``None`` when not
              known (faces taken as plain triangles).  ``dataclasses.replace`` with other faces
              or vertices must give the layout that goes with them (or ``None``).
    texture_file: the file ``texture`` was decoded from (:class:`TextureFile`), which a writer
              may embed instead of encoding the pixels again; it holds only while ``texture`` is
              its very ``pixels`` array (:attr:`texture_data`).
    """

    vertices: np.ndarray
    faces: np.ndarray | None
    uv: np.ndarray
    texture: np.ndarray
    camera: Camera
    colors: np.ndarray | None = None
    grid: tuple[int, int] = (0, 0)
    span: tuple[int, int] = (0, 0)
    name: str = "photo"
    meta: dict = field(default_factory=dict)
    layout: GridLayout | None = None
    texture_file: TextureFile | None = field(default=None, repr=False)

    @property
    def texture_data(self) -> bytes | None:
        """The encoded file of ``texture``, when ``texture`` is still exactly its pixels (a
        ``dataclasses.replace`` with another texture, e.g. in-fill's atlas, gives ``None``)."""
        source = self.texture_file
        return source.data if source is not None and source.pixels is self.texture else None

    def __post_init__(self) -> None:
        layout = self.layout
        if layout is not None:
            n_faces = 0 if self.faces is None else len(self.faces)
            if len(layout.grid_index) != len(self.vertices) or layout.grid_faces > n_faces \
                    or min(layout.first, layout.second) < 0:
                raise ValueError(f"layout of {len(layout.grid_index)} vertices and {layout.grid_faces} "
                                 f"grid faces for {len(self.vertices)} vertices and {n_faces} faces")

    @property
    def is_mesh(self) -> bool:
        return self.faces is not None


def check_layout(geometry: Geometry) -> None:
    """Raise ``AssertionError`` unless ``geometry.layout`` describes its vertices and faces
    exactly (a check for tests: O(N + F) with full-size temporaries)."""
    layout = geometry.layout
    assert layout is not None, "no layout"
    nx, ny = geometry.grid
    g = np.asarray(layout.grid_index)
    assert g.dtype == np.int32 and g.shape == (len(geometry.vertices),)
    on = g >= 0
    assert (g[on] < nx * ny).all() and len(np.unique(g[on])) == int(on.sum()), "grid positions"
    if geometry.faces is None:
        assert layout.grid_faces == 0
        return
    faces = geometry.faces
    for offsets, block, shift in (((0, nx, 1), faces[:layout.first], 0),
                                  ((1, nx, nx + 1), faces[layout.first:layout.grid_faces], 1)):
        p = g[block]
        assert (p >= 0).all(), "a grid face with a vertex off the grid"
        a = p[:, 0] - shift
        assert ((p - a[:, None]) == np.asarray(offsets)).all(), "not a grid triangle"
        assert (a % nx < nx - 1).all() and (a // nx < ny - 1).all(), "a cell outside the grid"
        assert (np.diff(a) > 0).all(), "cells not in row-major order"
