"""The two glTF containers: binary ``.glb`` (JSON + BIN chunks) and ``.gltf`` (JSON with the
buffer as a base64 data URI).  Both written atomically, chunk by chunk (no joined copy of the
buffer for ``.glb``; its parts straight from the arrays, :class:`~.buffer.Stream` parts piece
by piece)."""
from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path

from ...io.atomic import WriteThrough, atomic_path, write_bytes_atomic
from .buffer import Document, align4, part_pieces

__all__ = ["glb_to_gltf", "write_glb", "write_gltf"]

GLB_MAGIC, GLB_VERSION = b"glTF", 2
CHUNK_JSON, CHUNK_BIN = b"JSON", b"BIN\0"


def _json_bytes(doc: Document) -> bytes:
    return json.dumps(doc.json, separators=(",", ":"), allow_nan=False).encode()


def _set_buffer0(doc: Document, uri: str | None = None) -> None:
    """Buffer 0's entry, reserved by :class:`Document`, now that its byteLength is known."""
    entry: dict[str, object] = {"byteLength": doc.length}
    if uri is not None:
        entry["uri"] = uri
    doc.json["buffers"][0] = entry


def write_glb(doc: Document, path: str | Path) -> Path:
    """Write ``doc`` as a binary glTF (atomic): header, JSON chunk (space-padded), BIN chunk."""
    _set_buffer0(doc)
    text = _json_bytes(doc)
    text += b" " * (align4(len(text)) - len(text))
    bin_length = align4(doc.length)
    total = 12 + 8 + len(text) + (8 + bin_length if doc.length else 0)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(struct.pack("<4sII", GLB_MAGIC, GLB_VERSION, total))
        f.write(struct.pack("<I4s", len(text), CHUNK_JSON))
        f.write(text)
        if doc.length:
            f.write(struct.pack("<I4s", bin_length, CHUNK_BIN))
            position, out = 0, WriteThrough(f)
            for offset, part in doc.parts:
                f.write(b"\0" * (offset - position))
                for piece in part_pieces(part):
                    out.write(piece)
                position = offset + part.nbytes
            f.write(b"\0" * (bin_length - position))
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def write_gltf(doc: Document, path: str | Path) -> Path:
    """Write ``doc`` as one self-contained ``.gltf`` (buffer 0 as a data URI; atomic)."""
    data = bytearray(doc.length)
    for offset, part in doc.parts:
        for piece in part_pieces(part):
            view = memoryview(piece).cast("B")
            data[offset:offset + view.nbytes] = view
            offset += view.nbytes
    _set_buffer0(doc, "data:application/octet-stream;base64," + base64.b64encode(data).decode("ascii"))
    return write_bytes_atomic(path, _json_bytes(doc))


def glb_to_gltf(glb: bytes, path: str | Path) -> Path:
    """Rewrite a ``.glb`` (its bytes) as one self-contained ``.gltf`` at ``path`` (atomic): the
    same JSON with the BIN chunk as buffer 0's data URI (for writers that make only .glb)."""
    magic, version, total = struct.unpack_from("<4sII", glb, 0)
    length, kind = struct.unpack_from("<I4s", glb, 12)
    if magic != GLB_MAGIC or version != GLB_VERSION or total > len(glb) or kind != CHUNK_JSON:
        raise ValueError("not a glTF 2.0 binary file")
    doc = json.loads(glb[20:20 + length])
    start = 20 + length
    if start + 8 <= total:
        _, kind = struct.unpack_from("<I4s", glb, start)
        if kind != CHUNK_BIN or not doc.get("buffers"):
            raise ValueError("a .glb's second chunk must be its BIN buffer")
        data = glb[start + 8:start + 8 + doc["buffers"][0]["byteLength"]]
        doc["buffers"][0]["uri"] = "data:application/octet-stream;base64," + base64.b64encode(data).decode("ascii")
    return write_bytes_atomic(path, json.dumps(doc, separators=(",", ":"), allow_nan=False).encode())
