"""depth3d.io.atomic: a file is complete or absent; no temporary file survives."""
from __future__ import annotations

import pytest

from depth3d.io.atomic import atomic_path, write_bytes_atomic


def test_success_renames_into_place_and_creates_the_folder(tmp_path):
    target = tmp_path / "a" / "b" / "model.glb"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        assert tmp.name.startswith(".model.glb.") and tmp.name.endswith(".tmp.glb")
        assert not target.exists()
        tmp.write_bytes(b"glTF")
    assert target.read_bytes() == b"glTF"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.glb"]


def test_exception_leaves_no_file_and_no_temp(tmp_path):
    target = tmp_path / "out.ply"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_exception_keeps_the_previous_version(tmp_path):
    target = tmp_path / "out.ply"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new but unfinished")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.ply"]


def test_write_bytes_atomic_overwrites(tmp_path):
    target = tmp_path / "sub" / "x.bin"
    assert write_bytes_atomic(target, b"one") == target
    write_bytes_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["x.bin"]
