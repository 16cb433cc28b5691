"""The two glTF containers: binary ``.glb`` (JSON + BIN chunks) and ``.gltf`` (JSON with the
buffer as a base64 data URI).  Both written atomically, chunk by chunk, with no joined copy of
the buffer: a ``.glb``'s parts straight from the arrays (:class:`~.buffer.Stream` parts piece by
piece), a ``.gltf``'s base64 text encoded and written a few MB of the buffer at a time."""
from __future__ import annotations

import base64
import binascii
import json
import os
import struct
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from ...io.atomic import WriteThrough, atomic_path, write_bytes_atomic
from .buffer import Document, align4, part_pieces

__all__ = ["glb_to_gltf", "write_glb", "write_gltf"]

GLB_MAGIC, GLB_VERSION = b"glTF", 2
CHUNK_JSON, CHUNK_BIN = b"JSON", b"BIN\0"
DATA_URI = "data:application/octet-stream;base64,"
BASE64_CHUNK = 3 << 20  # bytes of buffer 0 encoded at a time in a .gltf (a multiple of 3: the texts join)


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
            out = WriteThrough(f)
            for piece in _buffer_pieces(doc):
                out.write(piece)
            f.write(b"\0" * (bin_length - doc.length))
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def _buffer_pieces(doc: Document) -> Iterator:
    """Buffer 0's ``doc.length`` bytes in order, as bytes-like pieces: its parts
    (:func:`~.buffer.part_pieces`) and the zeros that align them."""
    position = 0
    for offset, part in doc.parts:
        if offset > position:
            yield bytes(offset - position)
        yield from part_pieces(part)
        position = offset + part.nbytes


def _base64_pieces(pieces: Iterable) -> Iterator[bytes]:
    """The base64 text of the bytes-like ``pieces`` joined, in pieces: each encodes about
    :data:`BASE64_CHUNK` bytes, a multiple of 3 (all but the last), so the texts join into the
    text of the whole."""
    pending = bytearray()
    for piece in pieces:
        view = memoryview(piece).cast("B")
        for at in range(0, view.nbytes, BASE64_CHUNK):
            pending += view[at:at + BASE64_CHUNK]
            if len(pending) >= BASE64_CHUNK:
                whole = len(pending) - len(pending) % 3
                yield binascii.b2a_base64(pending[:whole], newline=False)
                del pending[:whole]
    yield binascii.b2a_base64(pending, newline=False)


def _json_around_buffer(doc: Document) -> tuple[bytes, bytes]:
    """``doc``'s JSON text before and after buffer 0's base64 text in its data URI (left out, for
    :func:`write_gltf` to stream in between).  Found by a random marker in its place (one that a
    name in the document happens to hold too is drawn again)."""
    while True:
        marker = uuid.uuid4().hex
        _set_buffer0(doc, DATA_URI + marker)
        parts = _json_bytes(doc).split(marker.encode())
        if len(parts) == 2:
            return parts[0], parts[1]


def write_gltf(doc: Document, path: str | Path) -> Path:
    """Write ``doc`` as one self-contained ``.gltf`` (buffer 0 as a base64 data URI; atomic): the
    JSON around the URI's text, which is encoded and written a piece at a time in between
    (:func:`_base64_pieces`; no copy of the buffer, nor of its text, in memory)."""
    head, tail = _json_around_buffer(doc)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        out = WriteThrough(f)
        out.write(head)
        for text in _base64_pieces(_buffer_pieces(doc)):
            out.write(text)
        out.write(tail)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


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
        doc["buffers"][0]["uri"] = DATA_URI + base64.b64encode(data).decode("ascii")
    return write_bytes_atomic(path, json.dumps(doc, separators=(",", ":"), allow_nan=False).encode())
