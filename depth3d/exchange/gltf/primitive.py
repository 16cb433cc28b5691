"""Mesh primitives: a textured triangle mesh (POSITION, TEXCOORD_0, indices) or a coloured point
cloud (POSITION, COLOR_0, mode POINTS) — only the attributes the material uses (no normals:
the photo material is unlit, and a lit one is shaded with flat normals the viewer derives).

Each stream is stored plain (float32 positions and texture coordinates), quantized
(:mod:`.quantize`), meshopt-compressed (:mod:`.meshopt`, quantized or not) or Draco-compressed
(:mod:`.draco`).  Indices are uint16 when every index fits (< 65535), else uint32.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .buffer import ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER, Document, Stream, bounds
from .quantize import EXTENSION as QUANTIZATION
from .quantize import quantize_colors, quantize_positions, quantize_uv

__all__ = ["COMPRESSIONS", "Primitive", "flip_v", "index_dtype", "mesh_primitive", "points_primitive"]

COMPRESSIONS = ("none", "meshopt", "draco")
TRIANGLES, POINTS = 4, 0
FLIP_ROWS = 1 << 16  # texture coordinates flipped per piece of a streamed TEXCOORD_0 (512 KiB)


class Primitive(NamedTuple):
    """A primitive's JSON and the transform its mesh node needs (quantized positions)."""

    json: dict
    node: dict


def index_dtype(n_vertices: int) -> np.dtype:
    """uint16 when every index fits below its restart value 65535, else uint32."""
    return np.dtype(np.uint16 if n_vertices <= 0xFFFF else np.uint32)


def flip_v(uv: np.ndarray) -> np.ndarray:
    """(N, 2) texture coordinates with the origin at the image's bottom-left → float32 glTF ones
    (origin top-left): (u, 1 − v)."""
    out = np.asarray(uv, np.float32).copy()
    out[:, 1] = 1.0 - out[:, 1]
    return out


def _flip_v_stream(uv: np.ndarray) -> Stream:
    """:func:`flip_v` of ``uv`` as a :class:`~.buffer.Stream`: flipped :data:`FLIP_ROWS` rows
    at a time as the buffer is written, without a full-size copy."""
    uv = np.asarray(uv, np.float32)

    def pieces():
        for start in range(0, len(uv), FLIP_ROWS):
            yield flip_v(uv[start:start + FLIP_ROWS])

    return Stream(len(uv) * uv.shape[1] * uv.itemsize, pieces)


def _streams(doc: Document, compression: str):
    """``(vertex_view(values), index_view(faces, n_vertices, dtype))`` for ``compression``."""
    if compression == "meshopt":
        from .meshopt import MeshoptWriter

        writer = MeshoptWriter(doc)
        return writer.vertex_view, writer.index_view

    def vertex_view(values: np.ndarray) -> int:
        return doc.buffer_view(values, ARRAY_BUFFER)

    def index_view(faces: np.ndarray, n_vertices: int, dtype) -> int:
        faces = np.ascontiguousarray(faces)
        if faces.dtype == np.int32 and np.dtype(dtype) == np.uint32:
            faces = faces.view(np.uint32)  # indices are never negative: the same bytes, no copy
        return doc.buffer_view(faces.astype(dtype, copy=False), ELEMENT_ARRAY_BUFFER)

    return vertex_view, index_view


def _positions(doc: Document, vertices: np.ndarray, quantize: bool, vertex_view) -> tuple[int, dict]:
    """The POSITION accessor and the node transform that goes with it."""
    if not quantize:
        vertices = np.ascontiguousarray(vertices, np.float32)
        return doc.accessor(vertex_view(vertices), np.float32, len(vertices), 3,
                            bounds=bounds(vertices)), {}
    doc.use_extension(QUANTIZATION, required=True)
    q = quantize_positions(vertices)
    view = vertex_view(q.values)
    doc.json["bufferViews"][view]["byteStride"] = q.values.itemsize * 4  # 3 used, 1 padding
    accessor = doc.accessor(view, np.int16, len(vertices), 3, normalized=True,
                            bounds=bounds(q.values[:, :3]))
    return accessor, {"translation": q.translation.tolist(), "scale": q.scale.tolist()}


def mesh_primitive(doc: Document, vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray,
                   material: int, quantize: bool = False, compression: str = "none",
                   uv_bottom_left: bool = False) -> Primitive:
    """A triangle primitive.  vertices (N, 3) float32 metres, faces (F, 3) int, uv (N, 2) glTF
    texture coordinates (origin top-left; with ``uv_bottom_left``, origin bottom-left, flipped
    here: :func:`flip_v`, as the plain stream is written when nothing else needs it)."""
    n = len(vertices)
    if uv_bottom_left and (quantize or compression != "none"):
        uv, uv_bottom_left = flip_v(uv), False
    if compression == "draco":
        from .draco import EXTENSION, encode_mesh

        encoded = encode_mesh(vertices, faces, uv)
        doc.use_extension(EXTENSION, required=True)
        view = doc.buffer_view(encoded.data)
        attributes = {
            "POSITION": doc.accessor(None, np.float32, encoded.n_vertices, 3, bounds=encoded.position_bounds),
            "TEXCOORD_0": doc.accessor(None, np.float32, encoded.n_vertices, 2),
        }
        indices = doc.accessor(None, index_dtype(encoded.n_vertices), 3 * encoded.n_faces, 1)
        return Primitive({"attributes": attributes, "indices": indices, "material": material,
                          "mode": TRIANGLES, "extensions": {EXTENSION: {
                              "bufferView": view, "attributes": encoded.attributes}}}, {})
    if compression == "meshopt":
        from .meshopt import optimize

        faces, order = optimize(faces, n)
        vertices, uv = vertices[order], uv[order]
    vertex_view, index_view = _streams(doc, compression)
    position, node = _positions(doc, vertices, quantize, vertex_view)
    if quantize:
        texcoord = doc.accessor(vertex_view(quantize_uv(uv)), np.uint16, n, 2, normalized=True)
    else:
        plain = _flip_v_stream(uv) if uv_bottom_left else np.ascontiguousarray(uv, np.float32)
        texcoord = doc.accessor(vertex_view(plain), np.float32, n, 2)
    dtype = index_dtype(n)
    indices = doc.accessor(index_view(faces, n, dtype), dtype, 3 * len(faces), 1)
    return Primitive({"attributes": {"POSITION": position, "TEXCOORD_0": texcoord}, "indices": indices,
                      "material": material, "mode": TRIANGLES}, node)


def points_primitive(doc: Document, vertices: np.ndarray, colors: np.ndarray, material: int,
                     quantize: bool = False, compression: str = "none") -> Primitive:
    """A point primitive: (N, 3) float32 positions, (N, 3) uint8 sRGB colours (stored linear RGBA,
    :func:`~.quantize.quantize_colors`)."""
    if compression == "draco":
        raise ValueError("Draco compression is for meshes; compress points with meshopt")
    vertex_view, _ = _streams(doc, compression)
    position, node = _positions(doc, vertices, quantize, vertex_view)
    color = doc.accessor(vertex_view(quantize_colors(colors)), np.uint16, len(colors), 4, normalized=True)
    return Primitive({"attributes": {"POSITION": position, "COLOR_0": color}, "material": material,
                      "mode": POINTS}, node)
