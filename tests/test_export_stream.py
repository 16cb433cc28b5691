"""Writing big meshes without full-size copies: :func:`depth3d.geometry.mesh.compact` from the
grid's own triangles and counted a chunk at a time, reconstruct's vertices a band at a time, glTF
texture coordinates flipped piece by piece as the buffer is written
(:class:`depth3d.exchange.gltf.buffer.Stream`), a .gltf's base64 text encoded a piece at a time,
files written through in chunks (:class:`depth3d.io.atomic.WriteThrough`).  Each against the
plain way, and the files read back by a reader that follows the glTF specification
(:func:`test_geometry.read_glb`)."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from test_geometry import read_glb

import depth3d.exchange.gltf.container as container
import depth3d.exchange.gltf.primitive as primitive
import depth3d.geometry.mesh as mesh
import depth3d.geometry.reconstruct as reconstruct_module
import depth3d.io.atomic as atomic
from depth3d.exchange.gltf import export_glb, export_gltf
from depth3d.geometry.mesh import compact, grid_faces, kept_grid_index
from depth3d.geometry.reconstruct import Options, reconstruct
from depth3d.io.atomic import WriteThrough


@pytest.mark.parametrize("cells", [1, 5, 64, 1 << 18])
def test_grid_faces_band_by_band_are_the_grid_triangles(monkeypatch, cells):
    """However many rows a band holds: each kept cell's (a, c, b), row-major, then its
    (b, c, d), then the extra faces."""
    monkeypatch.setattr(mesh, "GRID_BAND_CELLS", cells)
    rng = np.random.default_rng(cells)
    ny, nx = 23, 17
    keep_first, keep_second = rng.random((2, ny - 1, nx - 1)) < 0.7
    more = np.array([[0, 1, 400], [5, 6, 401]], np.int32)
    a = np.arange(ny * nx).reshape(ny, nx)[:-1, :-1]
    b, c, d = a + 1, a + nx, a + nx + 1
    expected = np.concatenate([np.stack([a, c, b], -1)[keep_first], np.stack([b, c, d], -1)[keep_second], more])
    faces = grid_faces(keep_first, keep_second, more)
    assert faces.dtype == np.int32
    np.testing.assert_array_equal(faces, expected)


@pytest.mark.parametrize("seed", range(6))
def test_compact_from_grid_blocks_equals_the_plain_way(seed):
    """Random cells kept, a few split triangles after them: the same mask and faces either way
    (from the faces, from the blocks' counts, from the cells' masks), and the faces index the
    kept vertices as np.unique numbers them."""
    rng = np.random.default_rng(seed)
    ny, nx = rng.integers(2, 40, size=2)
    keep_first, keep_second = rng.random((2, ny - 1, nx - 1)) < rng.uniform(0.05, 1.0)
    n_grid, n_extra = ny * nx, int(rng.integers(0, 20))
    more = np.stack([rng.integers(0, n_grid, n_extra), rng.integers(0, n_grid, n_extra),
                     np.arange(n_grid, n_grid + n_extra)], 1).astype(np.int32)
    faces = grid_faces(keep_first, keep_second, more)
    blocks = (int(nx), np.count_nonzero(keep_first), np.count_nonzero(keep_second))  # as triangulate counts
    n = n_grid + n_extra + 3  # three vertices nothing uses, at the end
    plain_used, plain = compact(faces, n)
    used, fast = compact(faces.copy(), n, in_place=True, blocks=blocks)
    np.testing.assert_array_equal(used, plain_used)
    np.testing.assert_array_equal(fast, plain)
    used, fast = compact(faces.copy(), n, cells=(keep_first, keep_second))
    np.testing.assert_array_equal(used, plain_used)
    np.testing.assert_array_equal(fast, plain)
    kept, renumbered = np.unique(faces, return_inverse=True)
    np.testing.assert_array_equal(np.flatnonzero(used), kept)
    np.testing.assert_array_equal(fast.reshape(-1), renumbered.reshape(-1))


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_compact_and_grid_index_chunk_by_chunk(monkeypatch, chunk):
    """Counted a chunk at a time, whatever the chunk: the faces index the kept vertices as
    np.unique numbers them, and each kept vertex's grid position is its index below the grid's
    size (−1 for the vertices after the grid)."""
    monkeypatch.setattr(mesh, "CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    n_grid, n = 300, 340
    faces = rng.integers(0, n, (150, 3)).astype(np.int32)
    used, renumbered = compact(faces, n)
    kept, inverse = np.unique(faces, return_inverse=True)
    np.testing.assert_array_equal(np.flatnonzero(used), kept)
    np.testing.assert_array_equal(renumbered.reshape(-1), inverse.reshape(-1))
    index = kept_grid_index(used, n_grid)
    assert index.dtype == np.int32
    np.testing.assert_array_equal(index, np.where(kept < n_grid, kept, -1))


@pytest.mark.parametrize("band", [40, 280])
def test_vertices_and_uv_band_by_band_are_the_same(monkeypatch, band):
    """Reconstruct's grid vertices and UVs filled a band of rows at a time (one row of 40; seven
    rows, the last band two): the same arrays as in one band, with bands that lose vertices (a
    region behind the camera, a cut) and bands that keep them all."""
    z = np.full((30, 40), 3.0, np.float32)
    z[8:20, 10:25] = 2.0
    z[0:3, 0:6] = -1.0  # behind the camera: no points
    rgb = np.zeros((30, 40, 3), np.uint8)
    whole = reconstruct(rgb, z, "depth", Options(fov=60, resolution=0))
    monkeypatch.setattr(reconstruct_module, "BAND_VERTICES", band)
    banded = reconstruct(rgb, z, "depth", Options(fov=60, resolution=0))
    assert np.count_nonzero(whole.layout.grid_index >= 0) < 30 * 40  # grid vertices left out
    for name in ("vertices", "uv", "faces"):
        np.testing.assert_array_equal(getattr(banded, name), getattr(whole, name))
    np.testing.assert_array_equal(banded.layout.grid_index, whole.layout.grid_index)


def test_write_through_in_chunks_writes_every_byte(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "WRITE_CHUNK", 1000)
    data = np.random.default_rng(0).integers(0, 256, 10_007, dtype=np.uint8)
    path = tmp_path / "out.bin"
    with open(path, "wb") as f:
        out = WriteThrough(f)
        f.write(b"head")
        assert out.write(data) == data.nbytes
        assert out.write(memoryview(b"tail")) == 4
    assert path.read_bytes() == b"head" + data.tobytes() + b"tail"


@pytest.fixture(scope="module")
def geometry():
    """A 3 m plane with a box 1 m in front of it: a mesh with a cut."""
    z = np.full((30, 40), 3.0, np.float32)
    z[8:20, 10:25] = 2.0
    rgb = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    return reconstruct(rgb, z, "depth", Options(fov=60, resolution=0))


@pytest.mark.parametrize("rows", [1, 7, 1 << 20])
def test_texture_coordinates_flipped_piece_by_piece(geometry, tmp_path, monkeypatch, rows):
    """The .glb's TEXCOORD_0 is (u, 1 − v) of the geometry's, however many pieces it is written
    in, and a .gltf's embedded buffer holds the same bytes as the .glb's BIN chunk."""
    monkeypatch.setattr(primitive, "FLIP_ROWS", rows)
    monkeypatch.setattr(atomic, "WRITE_CHUNK", 4096)
    glb = export_glb(geometry, tmp_path / "a.glb")
    read = read_glb(glb)
    expected = geometry.uv.astype(np.float32).copy()
    expected[:, 1] = np.float32(1.0) - expected[:, 1]
    np.testing.assert_array_equal(read["uv"], expected)
    np.testing.assert_array_equal(read["position"], geometry.vertices)
    np.testing.assert_array_equal(read["indices"], geometry.faces)
    data = glb.read_bytes()
    json_length = int.from_bytes(data[12:16], "little")
    bin_chunk = data[20 + json_length + 8:]
    doc = json.loads((export_gltf(geometry, tmp_path / "a.gltf")).read_text())
    uri = doc["buffers"][0]["uri"]
    embedded = base64.b64decode(uri.split(",", 1)[1])
    assert bin_chunk[:len(embedded)] == embedded and not bin_chunk[len(embedded):].strip(b"\0")


@pytest.mark.parametrize("chunk", [1, 4, 3 << 20])
def test_gltf_buffer_encoded_piece_by_piece(geometry, tmp_path, monkeypatch, chunk):
    """A .gltf's data URI, its base64 text encoded a piece of the buffer at a time (a byte, 4
    bytes, 3 MB): the one encoding of the .glb's BIN chunk, in the same JSON text."""
    monkeypatch.setattr(container, "BASE64_CHUNK", chunk)
    data = export_glb(geometry, tmp_path / "a.glb").read_bytes()
    json_length = int.from_bytes(data[12:16], "little")
    doc = json.loads(data[20:20 + json_length])
    length = doc["buffers"][0]["byteLength"]
    doc["buffers"][0]["uri"] = container.DATA_URI + base64.b64encode(
        data[20 + json_length + 8:][:length]).decode("ascii")
    expected = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    assert export_gltf(geometry, tmp_path / "a.gltf").read_bytes() == expected


def test_gltf_marker_held_by_a_name_is_drawn_again(geometry, tmp_path, monkeypatch):
    """The marker that finds the URI's place in the JSON text, when the geometry's name holds it
    too, is drawn again: the file is the same as with a marker nothing holds."""
    import dataclasses
    import uuid

    taken = uuid.UUID(int=1)
    named = dataclasses.replace(geometry, name=f"photo {taken.hex}")
    expected = export_gltf(named, tmp_path / "plain.gltf").read_bytes()
    draws = iter([taken, uuid.UUID(int=2)])
    monkeypatch.setattr(container.uuid, "uuid4", lambda: next(draws))
    assert export_gltf(named, tmp_path / "named.gltf").read_bytes() == expected
    assert next(draws, None) is None  # both drawn
