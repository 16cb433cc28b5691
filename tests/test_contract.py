"""The input contract of README.md, held against the ways it was found broken (issue 10).

Every case: one ``error:`` line (or none), the right exit status, no partial or temporary file,
and the inputs untouched (hashed before and after).  The generated bad-input corpus and the
property tests live in ``tests/test_contract_corpus.py``.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import REPO, box_depth, random_photo
from depth3d.cli import main

W, H = 64, 48


def run_cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    """``depth3d argv`` in this process → (exit status, stderr lines that say ``error:``).

    A usage error (exit 2) prints the subcommand's usage too; every other line of stderr is
    an ``error:`` line or nothing (checked here).
    """
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.replace("\r", "\n").splitlines()
             if line.strip() and "photo/s]" not in line]  # tqdm's bar on several inputs
    if code != 2:
        assert all(line.startswith("error: ") for line in lines), err
    return code, [line for line in lines if "error: " in line]


def hashes(folder: Path) -> dict[str, str]:
    """name → sha256 of every file under ``folder`` (the inputs, to show them untouched)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]


# --------------------------------------------------------------------------- 1. OBJ sidecars


def test_obj_sidecars_are_named_after_the_output(tmp_path, capsys):
    """``pic.jpeg -o model.obj``: model.obj + model.mtl + model.jpg; pic.jpeg untouched."""
    photo = random_photo(tmp_path / "pic.jpeg", (W, H))
    depth = box_depth(tmp_path / "pic.npy", (W, H))
    before = hashes(tmp_path)
    code, lines = run_cli(["convert", photo, "--depth", depth, "-o", tmp_path / "model.obj"], capsys)
    assert code == 0, lines
    assert hashes(tmp_path) | before == hashes(tmp_path)  # every input as it was
    written = sorted(set(hashes(tmp_path)) - set(before))
    assert written == ["model.jpg", "model.mtl", "model.obj"]
    assert "map_Kd model.jpg" in (tmp_path / "model.mtl").read_text()
    mesh = trimesh.load(tmp_path / "model.obj", force="mesh")  # an independent reader finds the texture
    assert mesh.visual.material.image is not None and mesh.visual.material.image.size == (W, H)


def test_obj_beside_its_photo_keeps_the_photo(tmp_path, capsys):
    """``pic.jpeg -o pic.obj`` once replaced pic.jpeg by the texture; the texture is pic.jpg now."""
    photo = random_photo(tmp_path / "pic.jpeg", (W, H))
    depth = box_depth(tmp_path / "pic.npy", (W, H))
    before = hashes(tmp_path)
    code, lines = run_cli(["convert", photo, "--depth", depth, "-o", tmp_path / "pic.obj"], capsys)
    assert code == 0, lines
    assert {k: hashes(tmp_path)[k] for k in before} == before
    assert sorted(set(hashes(tmp_path)) - set(before)) == ["pic.jpg", "pic.mtl", "pic.obj"]


def test_obj_texture_that_would_replace_the_photo_is_refused(tmp_path, capsys):
    """``pic.jpg -o pic.obj``: its texture pic.jpg would be the photo itself → exit 2, nothing written."""
    photo = random_photo(tmp_path / "pic.jpg", (W, H))
    depth = box_depth(tmp_path / "pic.npy", (W, H))
    before = hashes(tmp_path)
    code, lines = run_cli(["convert", photo, "--depth", depth, "-o", tmp_path / "pic.obj"], capsys)
    assert code == 2
    assert len(lines) == 1 and "pic.jpg" in lines[0] and "input" in lines[0], lines
    assert hashes(tmp_path) == before


def test_obj_folder_into_itself_is_refused(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(["room.jpg", "hall.png"]):
        random_photo(photos / name, (W, H), i)
        box_depth(photos / f"{Path(name).stem}.npy", (W, H))
    before = hashes(tmp_path)
    code, lines = run_cli(["convert", photos, "--depth", photos, "-o", photos, "--format", "obj"], capsys)
    assert code == 2 and len(lines) == 1 and "room.jpg" in lines[-1], lines
    assert hashes(tmp_path) == before


def test_obj_on_a_failing_disk_leaves_no_sidecar(tmp_path, capsys, monkeypatch):
    """The .obj itself fails to write: its .mtl and texture, written first, go again."""
    import depth3d.exchange.obj as obj_module

    photo = random_photo(tmp_path / "p.png", (W, H))
    depth = box_depth(tmp_path / "p.npy", (W, H))
    real = obj_module.write_bytes_atomic

    def failing(path, data):
        if Path(path).suffix == ".obj":
            raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(obj_module, "write_bytes_atomic", failing)
    out = tmp_path / "out"
    code, lines = run_cli(["convert", photo, "--depth", depth, "-o", out / "m.obj"], capsys)
    assert code == 1 and len(lines) == 1 and "No space left" in lines[0], lines
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- 2. no import race


def test_convert_imports_nothing_in_a_background_thread(tmp_path, capsys, monkeypatch):
    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def recording(self):
        started.append(self)
        return real_start(self)

    monkeypatch.setattr(threading.Thread, "start", recording)
    photo = random_photo(tmp_path / "p.png", (W, H))
    depth = box_depth(tmp_path / "p.npy", (W, H))
    code, lines = run_cli(["convert", photo, "--depth", depth, "-o", tmp_path / "o.ply",
                           "--geometry", "points", "--resolution", "0"], capsys)
    assert code == 0, lines
    assert started == [], [t.name for t in started]


def test_small_points_conversion_as_a_process(tmp_path):
    """The command that lost whole batches to the import race (3 of 5 runs), run three times."""
    photo = random_photo(tmp_path / "room.png", (W, H))
    depth = box_depth(tmp_path / "room.npy", (W, H))
    exe = Path(sys.executable).with_name("depth3d")
    for i in range(3):
        run = subprocess.run([str(exe), "convert", str(photo), "--depth", str(depth), "--depth-kind", "depth",
                              "--geometry", "points", "--resolution", "0", "-o", str(tmp_path / f"x{i}.ply")],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-2000:]


# --------------------------------------------------------------------------- 4. output = input


@pytest.mark.parametrize("target", ["photo", "depth"])
def test_output_equal_to_an_input_is_refused(tmp_path, capsys, target):
    photo = random_photo(tmp_path / "v.jpg", (W, H))
    depth = box_depth(tmp_path / "v.npy", (W, H))
    before = hashes(tmp_path)
    out = photo if target == "photo" else depth
    code, lines = run_cli(["convert", photo, "-o", out, "--format", "glb", "--depth", depth], capsys)
    assert code == 2 and len(lines) == 1 and str(out) in lines[0], lines
    assert hashes(tmp_path) == before and temp_files(tmp_path) == []


def test_output_equal_to_an_input_through_a_link_is_refused(tmp_path, capsys):
    photo = random_photo(tmp_path / "v.jpg", (W, H))
    depth = box_depth(tmp_path / "v.npy", (W, H))
    os.symlink(photo, tmp_path / "link.glb")
    before = hashes(tmp_path)
    code, lines = run_cli(["convert", photo, "-o", tmp_path / "link.glb", "--depth", depth], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert hashes(tmp_path) == before
