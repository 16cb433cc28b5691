"""EXT_meshopt_compression through the meshoptimizer project's own codec (PyPI ``meshoptimizer``).

Layout (the extension's spec, as gltfpack writes it): the compressed bytes live in buffer 0
(the GLB BIN chunk); every compressed bufferView points into a second buffer with no data
(``"fallback": true``) that has the uncompressed size, and carries the compressed range in its
``EXT_meshopt_compression`` object.  The fallback holds nothing, so the extension is required.

Vertex streams use ``ATTRIBUTES`` mode (stride a multiple of 4), indices ``TRIANGLES`` mode.
The codec versions are the ones the extension specifies: vertex codec 0, index codec 1.
Before encoding, :func:`optimize` orders triangles for the vertex cache and vertices for
fetch (meshoptimizer's own optimisers), which also makes the streams compress better.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...errors import Depth3DError
from .buffer import Document, align4

__all__ = ["EXTENSION", "MeshoptWriter", "Optimized", "optimize"]

EXTENSION = "EXT_meshopt_compression"
VERTEX_CODEC, INDEX_CODEC = 0, 1


def _library():
    try:
        import meshoptimizer
    except ImportError:
        raise Depth3DError("meshopt compression needs the meshoptimizer package "
                           "(pip install 'depth3d[vr]')") from None
    return meshoptimizer


class Optimized(NamedTuple):
    """``faces`` (F, 3) uint32 renumbered, and ``order``: new vertex i is old vertex order[i]."""

    faces: np.ndarray
    order: np.ndarray


def optimize(faces: np.ndarray, n_vertices: int) -> Optimized:
    """Vertex-cache order of the triangles, then vertex-fetch order of the vertices."""
    mo = _library()
    indices = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1)
    cached = np.empty_like(indices)
    mo.optimize_vertex_cache(cached, indices, len(indices), n_vertices)
    remap = np.empty(n_vertices, np.uint32)
    mo.optimize_vertex_fetch_remap(remap, cached, len(indices), n_vertices)
    # remap[old] = new (0xFFFFFFFF for a vertex no triangle uses: our meshes have none)
    if n_vertices and int(remap.max()) >= n_vertices:
        raise ValueError("every vertex must be used by a triangle before meshopt ordering")
    order = np.empty(n_vertices, np.int64)
    order[remap] = np.arange(n_vertices)
    return Optimized(remap[cached].reshape(-1, 3), order)


class MeshoptWriter:
    """Adds meshopt-compressed bufferViews to a :class:`~.buffer.Document`."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.mo = _library()
        doc.use_extension(EXTENSION, required=True)
        self.fallback = doc.add("buffers", {"byteLength": 0, "extensions": {EXTENSION: {"fallback": True}}})
        self.fallback_length = 0

    def _view(self, encoded: bytes, size: int, stride: int, count: int, mode: str, target: int,
              vertex: bool) -> int:
        offset, length = self.doc.append_bytes(encoded)
        fallback_offset = align4(self.fallback_length)
        self.fallback_length = fallback_offset + size
        self.doc.json["buffers"][self.fallback]["byteLength"] = self.fallback_length
        view: dict[str, object] = {"buffer": self.fallback, "byteOffset": fallback_offset, "byteLength": size}
        if vertex:
            view["byteStride"] = stride
        view["target"] = target
        view["extensions"] = {EXTENSION: {
            "buffer": 0, "byteOffset": offset, "byteLength": length, "byteStride": stride,
            "mode": mode, "count": count,
        }}
        return self.doc.add("bufferViews", view)

    def vertex_view(self, values: np.ndarray) -> int:
        """(N, K) array, K·itemsize a multiple of 4 → a compressed ``ATTRIBUTES`` bufferView."""
        values = np.ascontiguousarray(values)
        stride = values.itemsize * values.shape[1]
        if stride % 4:
            raise ValueError(f"meshopt vertex streams need a stride divisible by 4, got {stride}")
        self.mo.encode_vertex_version(VERTEX_CODEC)
        encoded = self.mo.encode_vertex_buffer(values.view(np.uint8).reshape(len(values), stride),
                                               len(values), stride)
        return self._view(encoded, values.nbytes, stride, len(values), "ATTRIBUTES", 34962, True)

    def index_view(self, faces: np.ndarray, n_vertices: int, dtype) -> int:
        """(F, 3) triangles → a compressed ``TRIANGLES`` bufferView of ``dtype`` (uint16/32) indices."""
        indices = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1)
        self.mo.encode_index_version(INDEX_CODEC)
        encoded = self.mo.encode_index_buffer(indices, len(indices), n_vertices)
        size = np.dtype(dtype).itemsize
        return self._view(encoded, len(indices) * size, size, len(indices), "TRIANGLES", 34963, False)
