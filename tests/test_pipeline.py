"""The one pipeline (depth3d.pipeline) and the batch runner (depth3d.batch), on real files:
photos and .npy depth maps on disk, the file backend, outputs re-read by trimesh."""
from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import box_depth, random_photo

from depth3d.backends.file import FileBackend
from depth3d.batch import EXIT_FAILED, EXIT_OK, EXIT_USAGE, exit_status, run_batch
from depth3d.cli import run_command
from depth3d.errors import Depth3DError, Interrupted, UsageError, user_message
from depth3d.geometry.reconstruct import Options
from depth3d.io.image import read_photo
from depth3d.pipeline import (
    STAGES,
    Cancelled,
    convert_photo_file,
    run_photo,
    stage_spans,
)

W, H = 64, 48


@pytest.fixture
def photo_and_depth(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    return random_photo(folder / "photo.png", (W, H)), box_depth(folder / "photo.npy", (W, H))


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_progress_reports_every_stage_in_order_and_ends_at_one(photo_and_depth, tmp_path):
    photo, depth = photo_and_depth
    events: list[tuple[str, float]] = []
    out = tmp_path / "out" / "photo.glb"
    converted = convert_photo_file(photo, out, FileBackend(str(depth)), Options(fov=60.0),
                                   progress=lambda stage, f: events.append((stage, f)))
    assert [stage for stage, _ in events] == ["read", "depth", "geometry", "write", "write"]
    fractions = [f for _, f in events]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(a < b for a, b in zip(fractions, fractions[1:])), fractions
    spans = stage_spans(list(STAGES))
    assert [f for _, f in events[:-1]] == [spans[s][0] for s in STAGES]
    # what was reported written is on disk, complete: trimesh reads back the mesh the run made
    assert converted.path == out and _files(out.parent) == ["photo.glb"]
    mesh = trimesh.load(out, force="mesh")
    assert len(mesh.vertices) == len(converted.geometry.vertices)
    assert len(mesh.faces) == len(converted.geometry.faces) > 0


def test_run_photo_stages_and_named_results(photo_and_depth):
    photo, depth = photo_and_depth
    events: list[tuple[str, float]] = []
    made = run_photo(read_photo(photo), FileBackend(str(depth)), Options(fov=60.0),
                     progress=lambda stage, f: events.append((stage, f)))
    assert [stage for stage, _ in events] == ["depth", "geometry", "geometry"]
    assert events[0][1] == 0.0 and events[-1][1] == 1.0 and 0.0 < events[1][1] < 1.0
    assert made.depth.kind == "depth" and made.depth.depth.shape == (H, W)
    np.testing.assert_array_equal(made.depth.depth, np.load(depth))  # the file's metres, as stored
    # the box at 1.5 m in front of a 3 m wall: the mesh spans both depths (camera looks down -Z)
    z = -made.geometry.vertices[:, 2]
    assert z.min() == pytest.approx(1.5, rel=0.02) and z.max() == pytest.approx(3.0, rel=0.02)
    assert made.geometry.camera.fov_deg == pytest.approx(60.0)


@pytest.mark.parametrize("during, stops_before", [("read", "depth"), ("depth", "geometry"),
                                                  ("geometry", "write")])
def test_cancel_mid_way_stops_with_no_output_and_no_temporary_file(photo_and_depth, tmp_path, during,
                                                                   stops_before):
    """Esc pressed (the event set) while a stage runs: the next stage never starts, nothing is
    written, no temporary file is left, the inputs are untouched."""
    photo, depth = photo_and_depth
    before = {p: p.read_bytes() for p in (photo, depth)}
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cancel = threading.Event()
    seen: list[str] = []

    def progress(stage: str, fraction: float) -> None:
        seen.append(stage)
        if stage == during:
            cancel.set()

    with pytest.raises(Cancelled) as caught:
        convert_photo_file(photo, out_dir / "photo.obj", FileBackend(str(depth)), Options(),
                           progress=progress, cancel=cancel)
    assert caught.value.stage == stops_before and seen[-1] == during
    assert isinstance(caught.value, Depth3DError)
    assert user_message(caught.value) == f"cancelled before {STAGES[stops_before].label}"
    assert _files(out_dir) == []  # no .obj, .mtl, texture, nor any .tmp file
    assert {p: p.read_bytes() for p in (photo, depth)} == before


def test_a_cancel_callable_is_asked_before_each_stage(photo_and_depth, tmp_path):
    photo, depth = photo_and_depth
    asked: list[int] = []

    def cancel() -> bool:
        asked.append(1)
        return len(asked) > 2  # fine for read and depth, stop before geometry

    with pytest.raises(Cancelled) as caught:
        convert_photo_file(photo, tmp_path / "photo.ply", FileBackend(str(depth)), Options(), cancel=cancel)
    assert caught.value.stage == "geometry" and len(asked) == 3
    assert not (tmp_path / "photo.ply").exists()
    # never cancelled: the same run writes its file
    convert_photo_file(photo, tmp_path / "photo.ply", FileBackend(str(depth)), Options(), cancel=lambda: False)
    assert len(trimesh.load(tmp_path / "photo.ply").vertices) > 0


# --------------------------------------------------------------------------- the batch runner


@pytest.fixture
def batch(tmp_path):
    """Two good photos with depth, one truncated photo."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(["a.png", "b.png"]):
        random_photo(photos / name, (W, H), i)
        box_depth(photos / f"{Path(name).stem}.npy", (W, H))
    (photos / "broken.png").write_bytes((photos / "a.png").read_bytes()[:100])
    box_depth(photos / "broken.npy", (W, H))
    return photos


def _converter(photos: Path, out: Path):
    def work(path: Path) -> None:
        convert_photo_file(path, out / f"{path.stem}.glb", FileBackend(str(photos / f"{path.stem}.npy")), Options())
    return work


def test_batch_runner_converts_the_good_and_says_each_failure_in_one_line(batch, tmp_path, capsys):
    out = tmp_path / "out"
    inputs = [batch / "a.png", batch / "broken.png", batch / "b.png"]
    assert run_batch(inputs, _converter(batch, out)) == EXIT_FAILED
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]  # the rest: tqdm's bar
    assert errors == [f"error: {batch / 'broken.png'}: truncated image file"], err
    assert "Traceback" not in err
    assert _files(out) == ["a.glb", "b.glb"]
    assert run_batch([batch / "a.png", batch / "b.png"], _converter(batch, tmp_path / "out2")) == EXIT_OK
    assert _files(tmp_path / "out2") == ["a.glb", "b.glb"]


def test_batch_runner_says_an_unexpected_error_in_one_line(tmp_path, capsys):
    def work(path: Path) -> None:
        raise KeyError("x")

    assert run_batch([tmp_path / "a.png"], work) == EXIT_FAILED
    assert capsys.readouterr().err == f"error: {tmp_path / 'a.png'}: internal error (KeyError: 'x')\n"


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_batch_with_its_status(batch, tmp_path, capsys, sig, status):
    """A signal while the second photo is worked on: that photo and the rest are not written,
    the first is complete, the status is 128 + the signal — even when the work swallows it."""
    out = tmp_path / "out"
    convert = _converter(batch, out)
    done: list[str] = []

    def work(path: Path) -> None:
        if path.stem == "b":
            os.kill(os.getpid(), sig)  # delivered here, in the main thread
        convert(path)
        done.append(path.stem)

    inputs = [batch / "a.png", batch / "b.png", batch / "broken.png"]
    previous = signal.getsignal(sig)
    assert exit_status(lambda: run_batch(inputs, work)) == status
    assert capsys.readouterr().err.splitlines()[-1] == f"error: interrupted ({sig.name})"
    assert done == ["a"] and _files(out) == ["a.glb"]
    trimesh.load(out / "a.glb", force="mesh")

    def swallowing(path: Path) -> None:
        try:
            work(path)
        except BaseException:  # a library that swallows everything, as Blender's operators do
            pass

    done.clear()
    assert exit_status(lambda: run_batch(inputs, swallowing)) == status
    assert done == ["a"]
    assert signal.getsignal(sig) is previous  # the handlers are the caller's again


def test_exit_status_of_set_up_failures_and_usage_errors(capsys):
    def missing_model() -> int:
        raise Depth3DError("no model at /nowhere")

    assert exit_status(missing_model) == EXIT_FAILED
    assert capsys.readouterr().err == "error: no model at /nowhere\n"
    assert exit_status(lambda: (_ for _ in ()).throw(Interrupted(130))) == 130

    def bad_usage() -> int:
        raise UsageError("--near must be below --far")

    with pytest.raises(UsageError):
        exit_status(bad_usage)
    parser = argparse.ArgumentParser(prog="depth3d convert")
    with pytest.raises(SystemExit) as exited:
        run_command(parser, bad_usage)
    assert exited.value.code == EXIT_USAGE
    assert capsys.readouterr().err.splitlines()[-1] == "depth3d convert: error: --near must be below --far"
