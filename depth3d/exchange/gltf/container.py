"""The two glTF containers: binary ``.glb`` (JSON + BIN chunks) and ``.gltf`` (JSON with the
buffer as a base64 data URI).  Both written atomically, chunk by chunk (no joined copy of the
buffer for ``.glb``)."""
from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path

from ...atomic import atomic_path, write_bytes_atomic
from .buffer import Document, align4

__all__ = ["write_glb", "write_gltf"]

GLB_MAGIC, GLB_VERSION = b"glTF", 2
CHUNK_JSON, CHUNK_BIN = b"JSON", b"BIN\0"


def _json_bytes(doc: Document) -> bytes:
    return json.dumps(doc.json, separators=(",", ":"), allow_nan=False).encode()


def _set_buffer0(doc: Document, uri: str | None = None) -> None:
    """Buffer 0's entry, reserved by :class:`Document`, now that its byteLength is known."""
    entry = {"byteLength": doc.length}
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
            position = 0
            for offset, view in doc.parts:
                f.write(b"\0" * (offset - position))
                f.write(view)
                position = offset + view.nbytes
            f.write(b"\0" * (bin_length - position))
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def write_gltf(doc: Document, path: str | Path) -> Path:
    """Write ``doc`` as one self-contained ``.gltf`` (buffer 0 as a data URI; atomic)."""
    data = bytearray(doc.length)
    for offset, view in doc.parts:
        data[offset:offset + view.nbytes] = view
    _set_buffer0(doc, "data:application/octet-stream;base64," + base64.b64encode(data).decode("ascii"))
    return write_bytes_atomic(path, _json_bytes(doc))
