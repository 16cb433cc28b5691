"""KHR_draco_mesh_compression through Google's Draco encoder (PyPI ``DracoPy``).

For viewers that read Draco but not meshopt (Android Scene Viewer).  Draco quantises by itself
(positions to :data:`POSITION_BITS` bits of the largest extent, texture coordinates to
:data:`UV_BITS` bits), so the accessors describe float data and KHR_mesh_quantization is not
used.  Draco may split or reorder vertices: the accessors' counts and bounds are those of the
encoded data, read back by Draco's own decoder.  No uncompressed fallback is stored, so the
extension is required.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...errors import Depth3DError

__all__ = ["EXTENSION", "DracoMesh", "encode_mesh"]

EXTENSION = "KHR_draco_mesh_compression"
POSITION_BITS, UV_BITS = 14, 12
COMPRESSION_LEVEL = 7
_DRACO_POSITION, _DRACO_TEX_COORD = 0, 3  # draco::GeometryAttribute::Type


class DracoMesh(NamedTuple):
    """Encoded bytes and, as decoded: vertex count, POSITION bounds, face count, Draco attribute
    ids ({glTF semantic: unique id})."""

    data: bytes
    n_vertices: int
    position_bounds: tuple[list, list]
    n_faces: int
    attributes: dict


def encode_mesh(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray) -> DracoMesh:
    """(N, 3) positions, (F, 3) faces, (N, 2) glTF texture coordinates → :class:`DracoMesh`."""
    try:
        import DracoPy
    except ImportError:
        raise Depth3DError("Draco compression needs the DracoPy package (pip install 'depth3d[vr]')") from None
    data = DracoPy.encode(
        np.ascontiguousarray(vertices, np.float32), np.ascontiguousarray(faces, np.uint32),
        quantization_bits=POSITION_BITS, compression_level=COMPRESSION_LEVEL,
        tex_coord=np.asarray(uv, np.float64), tex_coord_quantization_bits=UV_BITS,
    )
    decoded = DracoPy.decode(data)
    ids = {a["attribute_type"]: a["unique_id"] for a in decoded.attributes}
    points = np.asarray(decoded.points, np.float32)
    bounds = ([float(v) for v in points.min(axis=0)], [float(v) for v in points.max(axis=0)])
    return DracoMesh(data, len(points), bounds, len(decoded.faces),
                     {"POSITION": ids[_DRACO_POSITION], "TEXCOORD_0": ids[_DRACO_TEX_COORD]})
