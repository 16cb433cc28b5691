"""The `depth3d` command as users and scripts rely on it: outputs, exit codes, error lines."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import assert_valid_gltf, box_depth, random_photo
from PIL import Image
from tiny_models import save_tiny_depth_anything, save_tiny_dpt

from depth3d.cli import main

W, H = 64, 48


@pytest.fixture
def batch(tmp_path):
    """photos/ with three good photos and one corrupt one; depth/ with a depth map for each."""
    photos, depth = tmp_path / "photos", tmp_path / "depth"
    photos.mkdir(), depth.mkdir()
    for i, name in enumerate(["a.png", "b.jpg", "c.png"]):
        random_photo(photos / name, (W, H), i)
        box_depth(depth / f"{Path(name).stem}.npy", (W, H))
    good = (photos / "b.jpg").read_bytes()
    (photos / "broken.jpg").write_bytes(good[: len(good) // 3])  # truncated JPEG
    box_depth(depth / "broken.npy", (W, H))
    return photos, depth


def test_batch_with_a_corrupt_file(batch, tmp_path, capsys):
    photos, depth = batch
    out = tmp_path / "out"
    code = main(["convert", str(photos), "-o", str(out), "--depth", str(depth)])
    err = capsys.readouterr().err
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.glb", "b.glb", "c.glb"]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.jpg" in errors[0], err
    assert "Traceback" not in err
    assert_valid_gltf(*out.iterdir())
    for glb in out.iterdir():
        mesh = trimesh.load(glb, force="mesh")
        assert len(mesh.faces) > 0


def test_all_good_exits_zero_and_names_outputs(batch, tmp_path):
    photos, depth = batch
    (photos / "broken.jpg").unlink()
    out = tmp_path / "out"
    assert main(["convert", str(photos), "-o", str(out), "--depth", str(depth), "--format", "ply"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.ply", "b.ply", "c.ply"]


@pytest.mark.parametrize("fmt, resolution", [("glb", "1024"), ("gltf", "1024"), ("ply", "1024"), ("obj", "1024"),
                                             ("glb", "16")])  # 16: a coarse grid, split where a finer one cut
def test_single_output_file_per_format(tmp_path, fmt, resolution):
    photo, depth = random_photo(tmp_path / "p.png", (W, H)), box_depth(tmp_path / "d.npy", (W, H))
    out = tmp_path / f"result.{fmt}"
    assert main(["convert", str(photo), "-o", str(out), "--depth", str(depth), "--resolution", resolution]) == 0
    mesh = trimesh.load(out, force="mesh")
    assert len(mesh.vertices) > 0 and len(mesh.faces) > 0
    if fmt in ("glb", "gltf"):
        assert_valid_gltf(out)
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


@pytest.mark.parametrize(
    "make_depth, reason",
    [
        (lambda: np.full((H, W), -2.0, np.float32), "positive"),  # constant metric depth is a plane; this is behind
        (lambda: np.where(np.eye(H, W, dtype=bool), np.nan, 2.0).astype(np.float32), "NaN"),
        (lambda: np.where(np.eye(H, W, dtype=bool), np.inf, 2.0).astype(np.float32), "NaN/inf"),
        (lambda: np.linspace(1, 2, 30 * 30, dtype=np.float32).reshape(30, 30), "30x30"),
    ],
)
def test_bad_depth_is_one_clear_line_and_no_file(tmp_path, capsys, make_depth, reason):
    photo = random_photo(tmp_path / "p.png", (W, H))
    np.save(tmp_path / "d.npy", make_depth())
    out = tmp_path / "out.glb"
    assert main(["convert", str(photo), "-o", str(out), "--depth", str(tmp_path / "d.npy")]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and reason in lines[0], err
    assert not out.exists()


@pytest.mark.parametrize("content", [b"", b"this is not an image", b"\x89PNG\r\n\x1a\n\0\0"])
def test_bad_photo_is_one_clear_line(tmp_path, capsys, content):
    photo = tmp_path / "bad.png"
    photo.write_bytes(content)
    out = tmp_path / "out.glb"
    assert main(["convert", str(photo), "-o", str(out), "--depth", str(box_depth(tmp_path / "d.npy", (W, H)))]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "bad.png" in err and "\n" not in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["convert"],
        ["convert", "x.png"],
        ["convert", "x.png", "-o", "o.glb", "--geometry", "cubes"],
        ["convert", "x.png", "-o", "o.glb", "--near", "1"],
        ["convert", "x.png", "-o", "o.glb", "--resolution", "-3"],
        ["convert", "x.png", "-o", "o.xyz", "--depth", "d.npy"],
        ["convert", "x.png", "-o", "o.glb", "--backend", "remote"],
    ],
)
def test_usage_errors_exit_2(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    random_photo(tmp_path / "x.png", (W, H))
    box_depth(tmp_path / "d.npy", (W, H))
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_console_script_runs(tmp_path):
    """The installed `depth3d` entry point (what users type), as a real process."""
    photo, depth = random_photo(tmp_path / "p.png", (W, H)), box_depth(tmp_path / "d.npy", (W, H))
    exe = Path(sys.executable).with_name("depth3d")
    run = subprocess.run([str(exe), "convert", str(photo), "-o", str(tmp_path / "o.glb"),
                          "--depth", str(depth)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert_valid_gltf(tmp_path / "o.glb")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "depth-anything": save_tiny_depth_anything(root / "da"),
        "dpt": save_tiny_dpt(root / "dpt"),
    }


@pytest.mark.parametrize("family", ["depth-anything", "dpt"])
@pytest.mark.parametrize("geometry", ["mesh", "points"])
def test_tiny_models_convert_to_valid_glb(tiny_models, tmp_path, family, geometry):
    photo = random_photo(tmp_path / "p.jpg", (W, H))
    out = tmp_path / "o.glb"
    code = main(["convert", str(photo), "-o", str(out), "--model", str(tiny_models[family]),
                 "--geometry", geometry, "--edge-threshold", "0"])
    assert code == 0
    assert_valid_gltf(out)
    scene = trimesh.load(out)
    geom = next(iter(scene.geometry.values()))
    assert len(geom.vertices) == W * H  # every pixel of the 64×48 photo, nothing cut


def test_depth_command_writes_maps(tiny_models, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    random_photo(photos / "a.png", (W, H)), random_photo(photos / "b.jpg", (W, H), 1)
    out = tmp_path / "maps"
    assert main(["depth", str(photos), "-o", str(out), "--model", str(tiny_models["depth-anything"])]) == 0
    for stem in "ab":
        depth = np.load(out / f"{stem}.npy")
        assert depth.shape == (H, W) and depth.dtype == np.float32
        with Image.open(out / f"{stem}_depth16.png") as im:
            assert im.size == (W, H) and im.mode.startswith("I")
        with Image.open(out / f"{stem}_preview.png") as im:
            assert im.size == (W, H)


def test_info_runs(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "depth3d" in out and "numpy" in out
