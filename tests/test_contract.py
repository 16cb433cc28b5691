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
from typing import NamedTuple

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
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and not is_bar(line)]
    if code != 2:
        assert all(line.startswith("error: ") for line in lines), err
    return code, [line for line in lines if "error: " in line]


def is_bar(line: str) -> bool:
    """A line of tqdm's progress bar (several inputs)."""
    return line.rstrip().endswith(("photo/s]", "s/photo]"))


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


# --------------------------------------------------------------------------- 8–14. usage errors


@pytest.fixture
def pair(tmp_path):
    """A photo and its metric depth map (3 m with a box at 1.5 m)."""
    return random_photo(tmp_path / "p.png", (W, H)), box_depth(tmp_path / "p.npy", (W, H))


@pytest.mark.parametrize("extra, flag", [
    (["--fov", "200"], "--fov"), (["--fov", "-30"], "--fov"), (["--fov", "0"], "--fov"),
    (["--fov", "nan"], "--fov"), (["--fov", "inf"], "--fov"), (["--edge-threshold", "nan"], "--edge-threshold"),
    (["--edge-threshold", "-1"], "--edge-threshold"),
    (["--scale", "-1"], "--scale"), (["--scale", "nan"], "--scale"),
    (["--scale", "inf"], "--scale"), (["--shift", "nan"], "--shift"), (["--shift", "inf"], "--shift"),
    (["--near", "nan", "--far", "6"], "--near"), (["--near", "1", "--far", "inf"], "--far"),
    (["--near", "6", "--far", "1"], "--near"), (["--near", "1"], "--near"),
    (["--near", "1", "--far", "2", "--scale", "1"], "--scale"),
    (["--near", "1", "--far", "2", "--projection", "relief"], "relief"),
    (["--resolution", "-3"], "--resolution"), (["--resolution", "99999"], "--resolution"),
])
def test_out_of_range_options_are_usage_errors(pair, tmp_path, capsys, extra, flag):
    photo, depth = pair
    before = hashes(tmp_path)
    out = tmp_path / "o.glb"
    code, lines = run_cli(["convert", photo, "--depth", depth, "-o", out, *extra], capsys)
    assert code == 2 and len(lines) == 1 and flag in lines[0], lines
    assert hashes(tmp_path) == before


@pytest.mark.parametrize("extra", [["--shift", "-100"], ["--scale", "0"],
                                   ["--depth-kind", "disparity", "--shift", "-5"]])
def test_every_point_behind_the_camera_is_one_line(pair, tmp_path, capsys, extra):
    """A shift that puts every point behind the camera: the file fails with its reason (exit 1)."""
    photo, depth = pair
    code, lines = run_cli(["convert", photo, "--depth", depth, "-o", tmp_path / "o.glb", *extra], capsys)
    assert code == 1 and len(lines) == 1 and "in front of the camera" in lines[0], lines
    assert not (tmp_path / "o.glb").exists()


def test_all_negative_metric_depth_is_one_line(tmp_path, capsys):
    photo = random_photo(tmp_path / "p.png", (W, H))
    np.save(tmp_path / "d.npy", -np.linspace(1, 2, W * H, dtype=np.float32).reshape(H, W))
    code, lines = run_cli(["convert", photo, "--depth", tmp_path / "d.npy", "-o", tmp_path / "o.glb"], capsys)
    assert code == 1 and len(lines) == 1 and "positive" in lines[0], lines
    assert not (tmp_path / "o.glb").exists()


def _glb_vertices(path: Path) -> np.ndarray:
    scene = trimesh.load(path)
    return np.concatenate([g.vertices for g in scene.geometry.values()])


def test_near_far_remap_a_metric_map(pair, tmp_path, capsys):
    """``--near 0.8 --far 6`` on a metric map of 1.5–3 m: its range goes onto [0.8, 6] m."""
    photo, depth = pair
    out = tmp_path / "o.glb"
    code, lines = run_cli(["convert", photo, "--depth", depth, "-o", out, "--near", "0.8", "--far", "6",
                           "--edge-threshold", "0"], capsys)
    assert code == 0, lines
    z = -_glb_vertices(out)[:, 2]  # glTF camera frame: looking down −Z
    assert np.isclose(z.min(), 0.8, atol=1e-4) and np.isclose(z.max(), 6.0, atol=1e-4), (z.min(), z.max())


def test_constant_metric_depth_is_a_plane(tmp_path, capsys):
    photo = random_photo(tmp_path / "p.png", (W, H))
    np.save(tmp_path / "d.npy", np.full((H, W), 2.5, np.float32))
    out = tmp_path / "o.glb"
    code, lines = run_cli(["convert", photo, "--depth", tmp_path / "d.npy", "-o", out], capsys)
    assert code == 0, lines
    v = _glb_vertices(out)
    assert len(v) > 0 and np.allclose(v[:, 2], -2.5, atol=1e-5)


def test_constant_relative_depth_is_refused(tmp_path, capsys):
    photo = random_photo(tmp_path / "p.png", (W, H))
    np.save(tmp_path / "d.npy", np.full((H, W), 0.5, np.float32))
    code, lines = run_cli(["convert", photo, "--depth", tmp_path / "d.npy", "--depth-kind", "disparity",
                           "-o", tmp_path / "o.glb"], capsys)
    assert code == 1 and len(lines) == 1 and "constant" in lines[0], lines


def test_depth_unit_mm(tmp_path, capsys):
    """A 16-bit PNG in millimetres (a phone's export) with ``--depth-unit mm``: metres out."""
    from PIL import Image

    photo = random_photo(tmp_path / "p.png", (W, H))
    mm = np.full((H, W), 3000, np.uint16)
    mm[10:20, 20:40] = 1500
    Image.fromarray(mm).save(tmp_path / "d.png")
    out = tmp_path / "o.glb"
    code, lines = run_cli(["convert", photo, "--depth", tmp_path / "d.png", "--depth-unit", "mm", "-o", out,
                           "--edge-threshold", "0"], capsys)
    assert code == 0, lines
    z = -_glb_vertices(out)[:, 2]
    assert np.isclose(z.min(), 1.5, atol=1e-4) and np.isclose(z.max(), 3.0, atol=1e-4)


@pytest.mark.parametrize("out_name, extra", [("x.ply", ["--format", "glb"]), ("one.glb", ["TWO"])])
def test_output_name_and_format_disagree(tmp_path, capsys, out_name, extra):
    photo = random_photo(tmp_path / "p.png", (W, H))
    depth = tmp_path / "depth"
    depth.mkdir()
    box_depth(depth / "p.npy", (W, H))
    if extra == ["TWO"]:
        extra = [random_photo(tmp_path / "q.png", (W, H), 1)]
        box_depth(depth / "q.npy", (W, H))
    before = hashes(tmp_path)
    code, lines = run_cli(["convert", photo, *extra, "--depth", depth, "-o", tmp_path / out_name], capsys)
    assert code == 2 and len(lines) == 1 and out_name in lines[0], lines
    assert hashes(tmp_path) == before


def test_device_cuda_index_is_accepted(monkeypatch, tmp_path):
    """``--device cuda:0`` parses for convert, as docs/models.md says (serve takes it too)."""
    from depth3d.cli import build_parser

    args = build_parser().parse_args(["convert", "p.png", "-o", "o.glb", "--device", "cuda:0"])
    assert args.device == "cuda:0"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["convert", "p.png", "-o", "o.glb", "--device", "gpu"])


@pytest.mark.parametrize("extra, flag", [
    (["--backend", "remote", "--server", "http://127.0.0.1:9", "--device", "cuda"], "--device"),
    (["--depth", "D", "--model", "X"], "--model"),
])
def test_options_where_they_do_nothing_are_usage_errors(pair, tmp_path, capsys, extra, flag):
    photo, depth = pair
    extra = [str(depth) if a == "D" else a for a in extra]
    code, lines = run_cli(["convert", photo, "-o", tmp_path / "o.glb", *extra], capsys)
    assert code == 2 and len(lines) == 1 and flag in lines[0], lines


def test_remote_model_is_asked_of_the_server(pair, tmp_path, capsys):
    """``--backend remote --model X``: the request names the model (``?model=X``) and the
    server's refusal is the photo's one line."""
    import http.server
    import json

    asked: list[str] = []

    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            asked.append(self.path)
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"error": "model 'X' is not available; this server has 'Y'"}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        photo, _ = pair
        code, lines = run_cli(["convert", photo, "-o", tmp_path / "o.glb", "--backend", "remote",
                               "--server", f"http://127.0.0.1:{server.server_port}", "--model", "X"], capsys)
    finally:
        server.shutdown()
        server.server_close()
    assert asked == ["/v1/depth?model=X"]
    assert code == 1 and len(lines) == 1 and "not available" in lines[0], lines


# --------------------------------------------------------------------------- one error base, messages


def test_every_exception_class_derives_from_the_one_base():
    import importlib
    import inspect
    import pkgutil

    import depth3d
    from depth3d.errors import Depth3DError

    found = {}
    for info in pkgutil.walk_packages(depth3d.__path__, "depth3d."):
        if info.name.endswith("__main__") or info.name.endswith("batch_script"):
            continue
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__.startswith("depth3d"):
                found[f"{cls.__module__}.{name}"] = cls
    assert "depth3d.backends.base.BackendError" in found and "depth3d.service.server.HTTPError" in found
    assert {n for n, c in found.items() if not issubclass(c, Depth3DError)} == set()


def test_user_message_is_one_printable_line():
    from depth3d.errors import InputError, user_message

    weird = Path("a\nb \udce9.jpg")  # a newline, and a Latin-1 byte that is not UTF-8
    line = user_message(InputError("bad\nthing"), weird)
    assert "\n" not in line and line.isprintable() and line.startswith("a\\nb \\udce9.jpg: bad thing")
    line.encode("utf-8")  # printable on a UTF-8 terminal
    assert user_message(PermissionError(13, "Permission denied", "/x/y")) == "/x/y: Permission denied"
    assert user_message(MemoryError()) == "out of memory"


def test_usage_error_shows_the_subcommands_usage(pair, tmp_path, capsys):
    photo, depth = pair
    with pytest.raises(SystemExit) as exc:
        main(["convert", str(photo), "--depth", str(depth), "-o", str(tmp_path / "o.glb"), "--fov", "500"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.startswith("usage: depth3d convert") and "depth3d convert: error: --fov" in err, err


def photos_without_their_model(tmp_path: Path, monkeypatch) -> Path:
    """A folder of three photos, with the hub offline and its cache empty: no model to be had."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        random_photo(photos / f"{i}.png", (W, H), i)
    return photos


def test_missing_weights_are_one_line_for_the_batch(tmp_path, capsys, monkeypatch):
    photos = photos_without_their_model(tmp_path, monkeypatch)
    code, lines = run_cli(["convert", photos, "-o", tmp_path / "out", "--model", "nobody/no-such-model"], capsys)
    assert code == 1 and len(lines) == 1, lines
    assert "HF_HUB_CACHE" in lines[0] and "HF_HOME" not in lines[0] and "--model /local/folder" in lines[0]
    assert not (tmp_path / "out").exists()


def test_single_convert_says_what_it_wrote(pair, tmp_path, capsys):
    photo, depth = pair
    out = tmp_path / "o.glb"
    assert main(["convert", str(photo), "--depth", str(depth), "-o", str(out), "--fov", "60"]) == 0
    captured = capsys.readouterr()
    (line,) = captured.out.splitlines()
    mesh = trimesh.load(out, force="mesh")
    assert line.startswith(f"wrote {out} (") and f"{len(mesh.vertices)} vertices" in line
    assert f"{len(mesh.faces)} faces" in line and "FOV 60.0°" in line and "depth 1.5..3 m" in line, line
    assert captured.err == ""
    assert main(["convert", str(photo), "--depth", str(depth), "-o", str(out), "-q"]) == 0
    assert capsys.readouterr().out == ""


def test_license_is_the_gpl():
    text = (REPO / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text
    assert 'license = ["SPDX:GPL-3.0-or-later"]' in (REPO / "blender_manifest.toml").read_text()


# --------------------------------------------------------------------------- 5. one pixel budget


def jpeg_declaring(path: Path, width: int, height: int) -> Path:
    """A small real JPEG whose frame header says ``width`` × ``height`` (a decompression bomb)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    path.write_bytes(bytes(data))
    return path


MEASURED_CLI = ("import sys\nfrom depth3d.cli import main\ntry:\n    code = main(sys.argv[1:])\n"
                "except SystemExit as exc:\n    code = exc.code\n"
                "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
                "print(int(hwm.split()[1]) // 1024)\nsys.exit(code)")  # VmHWM: this process image only


def run_cli_process(argv: list) -> tuple[subprocess.CompletedProcess, int]:
    """``depth3d argv`` as a child process → (its result, its own peak resident memory in MiB)."""
    run = subprocess.run([sys.executable, "-c", MEASURED_CLI, *map(str, argv)], capture_output=True,
                         text=True, timeout=300, check=False)
    return run, int(run.stdout.split()[-1])


def test_decompression_bomb_photo_refused_from_its_header(tmp_path):
    """A 1 KB JPEG declaring 12000×12000 (144 Mpx, 1.6 GB decoded) is refused before decoding."""
    from depth3d.io.image import MAX_PIXELS

    bomb = jpeg_declaring(tmp_path / "bomb.jpg", 12000, 12000)
    np.save(tmp_path / "bomb.npy", np.ones((2, 2), np.float32))
    run, peak = run_cli_process(["convert", bomb, "--depth", tmp_path / "bomb.npy", "-o", tmp_path / "o.glb"])
    assert run.returncode == 1, run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"error: {bomb}: 12000x12000 image exceeds the limit of {MAX_PIXELS} pixels"), line
    assert peak < 400, peak  # MiB: the interpreter, numpy and Pillow, no 1.6 GB of pixels
    assert not (tmp_path / "o.glb").exists()


def test_depth_array_declaring_too_many_pixels_is_refused_unread(tmp_path, capsys):
    photo = random_photo(tmp_path / "p.png", (W, H))
    header = tmp_path / "d.npy"
    with open(header, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (40000, 30000)})
    code, lines = run_cli(["convert", photo, "--depth", header, "-o", tmp_path / "o.glb"], capsys)
    assert code == 1 and len(lines) == 1 and "exceeds the limit" in lines[0], lines


def test_a_thin_strip_is_no_photo(tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.zeros((1, 4000, 3), np.uint8)).save(tmp_path / "strip.png")
    np.save(tmp_path / "d.npy", np.ones((2, 2), np.float32))
    code, lines = run_cli(["convert", tmp_path / "strip.png", "--depth", tmp_path / "d.npy",
                           "-o", tmp_path / "o.glb"], capsys)
    assert code == 1 and len(lines) == 1 and "4000x1" in lines[0], lines


def test_a_big_non_image_is_refused_without_reading_it(tmp_path, capsys, monkeypatch):
    """The type is judged from the first bytes: a large file that is no image is never read whole."""
    big = tmp_path / "movie.jpg"
    with open(big, "wb") as f:
        f.truncate(1 << 30)  # 1 GiB, sparse: no image magic
    np.save(tmp_path / "movie.npy", np.ones((2, 2), np.float32))
    reads: list[int] = []
    real_read = Path.read_bytes

    def counting(self):
        reads.append(self.stat().st_size)
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    code, lines = run_cli(["convert", big, "--depth", tmp_path / "movie.npy", "-o", tmp_path / "o.glb"], capsys)
    assert code == 1 and len(lines) == 1 and "not an image" in lines[0], lines
    assert not any(n >= 1 << 30 for n in reads)


# --------------------------------------------------------------------------- 7. signals


class Interrupted(NamedTuple):
    """A batch stopped by a signal: its exit status, its stderr lines (no progress bar) and the
    outputs it had finished."""

    status: int
    lines: list[str]
    written: list[Path]


def interrupt_mid_batch(tmp_path: Path, command: list[str], sig: str, *, count: int,
                        size: tuple[int, int], suffix: str, extra: list[str]) -> Interrupted:
    """``command convert`` on ``count`` photos of ``size`` with box depth maps into
    ``tmp_path/out``, sent signal ``sig`` once its first ``suffix`` output is there.  Checked here
    for every frontend: no temporary file is left, the inputs are untouched, some but not all
    outputs were written."""
    import signal
    import time

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(count):
        random_photo(photos / f"{i:02d}.png", size, i)
        box_depth(photos / f"{i:02d}.npy", size)
    before = hashes(photos)
    out = tmp_path / "out"
    proc = subprocess.Popen([*command, "convert", str(photos), "--depth", str(photos), "-o", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline and not (out.is_dir() and any(out.glob(f"[0-9]*{suffix}"))):
        time.sleep(0.02)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=200)
    assert "Traceback" not in err, err[-3000:]
    assert temp_files(tmp_path) == []
    assert hashes(photos) == before
    written = sorted(out.glob(f"[0-9]*{suffix}"))
    assert 0 < len(written) < count
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and not is_bar(line)]
    return Interrupted(proc.returncode, lines, written)


@pytest.mark.parametrize("sig, status", [("SIGTERM", 143), ("SIGINT", 130)])
def test_signal_mid_batch_stops_cleanly(tmp_path, sig, status):
    """A signal while the batch writes: exit 130/143, one line, no temporary file, every written
    output complete, inputs untouched."""
    run = interrupt_mid_batch(tmp_path, [str(Path(sys.executable).with_name("depth3d"))], sig, count=24,
                              size=(480, 360), suffix=".ply",
                              extra=["--resolution", "0", "--format", "ply", "--geometry", "points"])
    assert run.status == status, run.lines
    assert run.lines == [f"error: interrupted ({sig})"], run.lines
    for ply in run.written:
        assert len(trimesh.load(ply).vertices) == 480 * 360


# --------------------------------------------------------------------------- tracebacks and lost lines


def test_a_malformed_server_url_is_one_line(pair, tmp_path, capsys):
    photo, _ = pair
    code, lines = run_cli(["convert", photo, "-o", tmp_path / "o.glb", "--backend", "remote",
                           "--server", "http://[::1"], capsys)
    assert code == 1 and len(lines) == 1 and "not a server URL" in lines[0], lines


def test_a_newline_in_a_failing_name_stays_on_its_line(tmp_path, capsys):
    bad = tmp_path / "two\nlines.jpg"
    bad.write_bytes(b"not an image")
    np.save(tmp_path / "d.npy", np.ones((2, 2), np.float32))
    code, lines = run_cli(["convert", bad, "--depth", tmp_path / "d.npy", "-o", tmp_path / "o.glb"], capsys)
    assert code == 1 and lines == [f"error: {tmp_path}/two\\nlines.jpg: not an image, or in a format "
                                   "depth3d cannot read"], lines


def test_a_file_that_is_no_regular_file_is_named(tmp_path, capsys):
    """A FIFO and a broken link inside an input folder are reported, not passed over."""
    photos = tmp_path / "photos"
    photos.mkdir()
    random_photo(photos / "a.png", (W, H))
    box_depth(photos / "a.npy", (W, H))
    os.mkfifo(photos / "pipe.png")
    os.symlink(tmp_path / "gone.jpg", photos / "gone.jpg")
    box_depth(photos / "pipe.npy", (W, H)), box_depth(photos / "gone.npy", (W, H))
    code, lines = run_cli(["convert", photos, "--depth", photos, "-o", tmp_path / "out"], capsys)
    assert code == 1 and len(lines) == 2, lines
    assert "gone.jpg: broken link" in lines[0] and "pipe.png: not a regular file" in lines[1], lines
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.glb"]


def as_unprivileged(command: list[str]) -> list[str]:
    """``command`` as a user whom file modes bind: root without the capabilities that override
    them (``setpriv``), anyone else as they are."""
    if os.geteuid() != 0:
        return command
    import shutil

    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file modes cannot be made to bind")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]


FRONTENDS = {
    "cli": lambda: [str(Path(sys.executable).with_name("depth3d"))],
    "blender": lambda: [sys.executable, str(REPO / "depth3d" / "blender" / "batch_script.py")],
}


@pytest.mark.parametrize("frontend", sorted(FRONTENDS))
@pytest.mark.parametrize("case", ["unlistable folder", "unsearchable folder", "unreadable photo"])
def test_unreadable_inputs_are_one_line(tmp_path, frontend, case):
    """Inputs the user may not read, beside a readable photo:
    a folder that cannot be listed stops the batch before it starts (which photos it holds is
    not known: one line naming it, exit 1, nothing written); a folder that can be listed but not entered, or a
    photo that cannot be read, fails that photo (one line naming it, exit 1) and the readable
    photo is converted."""
    photos = tmp_path / "photos"
    locked = photos / "locked"
    locked.mkdir(parents=True)
    for photo in (photos / "a.png", locked / "b.png"):
        random_photo(photo, (64, 48), 1)
        box_depth(tmp_path / f"{photo.stem}.npy", (64, 48))
    target, mode = {"unlistable folder": (locked, 0o000), "unsearchable folder": (locked, 0o600),
                    "unreadable photo": (locked / "b.png", 0o000)}[case]
    named = locked if case == "unlistable folder" else locked / "b.png"
    inputs = [photos / "a.png", locked if "folder" in case else locked / "b.png"]
    out = tmp_path / "out"
    before = target.stat().st_mode
    target.chmod(mode)
    try:
        run = subprocess.run(as_unprivileged([*FRONTENDS[frontend](), "convert", *map(str, inputs), "--depth",
                                              str(tmp_path), "-o", str(out)]),
                             capture_output=True, text=True, timeout=300, cwd=tmp_path)
    finally:
        target.chmod(before)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == 1, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {named}: "), run.stderr
    assert "Permission denied" in errors[0], errors
    written = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert written == ([] if case == "unlistable folder" else ["a.glb"]), written
    assert temp_files(tmp_path) == []
