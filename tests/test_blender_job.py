"""The Generate operator's job (depth3d.blender.operators.Job) runs the core pipeline in a worker
thread, as the modal operator does: its progress callback drives the status bar, Esc's cancel
stops it before its next stage.  Real bpy, a real photo and depth file, the file backend."""
from __future__ import annotations

import threading

import bpy  # noqa: F401,E402  (the suite installs it; a broken bpy must fail here, not skip)
import numpy as np
import pytest
from blender_addon import registered  # noqa: E402,F401  (autouse: registered for the module)
from conftest import box_depth, random_photo  # noqa: E402

from depth3d.backends.file import FileBackend  # noqa: E402
from depth3d.blender.operators import Job  # noqa: E402
from depth3d.geometry.reconstruct import Options  # noqa: E402
from depth3d.io.image import read_photo  # noqa: E402
from depth3d.pipeline import photo_to_geometry  # noqa: E402

W, H = 40, 30


@pytest.fixture()
def files(tmp_path):
    return random_photo(tmp_path / "box.png", (W, H)), box_depth(tmp_path / "box.npy", (W, H))


def _job(files, **options) -> Job:
    photo, depth = files
    return Job(read_photo(photo), None, False, FileBackend(str(depth)), Options(**options))


def _run_in_thread(job: Job) -> None:
    worker = threading.Thread(target=job.run, name="depth3d-generate")
    worker.start()
    assert job.done.wait(60)
    worker.join()


def test_the_job_reports_the_pipeline_stages_and_builds_its_geometry(files):
    job = _job(files, fov=60.0)
    seen: list[tuple[str, float, float]] = []
    report = job.progress

    def progress(stage: str, fraction: float) -> None:
        report(stage, fraction)
        seen.append((job.stage, job.reached, job.fraction()))  # what the status bar would show

    job.progress = progress  # type: ignore[method-assign]
    assert job.stage == "depth" and 0.0 <= job.fraction() < job.spans["depth"][1]
    _run_in_thread(job)
    assert job.error is None
    assert [(stage, reached) for stage, reached, _ in seen] == [
        ("depth", 0.0), ("geometry", job.spans["geometry"][0]), ("geometry", 1.0)]
    assert all(reached <= shown <= 1.0 for _, reached, shown in seen) and job.fraction() == 1.0
    expected = photo_to_geometry(job.photo, job.backend, job.options)
    np.testing.assert_array_equal(job.geometry.vertices, expected.vertices)
    np.testing.assert_array_equal(job.geometry.faces, expected.faces)
    assert job.result.kind == "depth" and job.result.depth.shape == (H, W)


@pytest.mark.parametrize("stage, error", [(None, "cancelled before estimating depth"),
                                          ("depth", "cancelled before building geometry")])
def test_cancel_stops_the_job_before_its_next_stage(files, stage, error):
    """Esc (the modal operator sets ``job.cancel``) before the run, or while depth is estimated:
    no geometry is built and the job ends with the pipeline's one line."""
    job = _job(files)
    report = job.progress

    def progress(name: str, fraction: float) -> None:
        report(name, fraction)
        if name == stage:
            job.cancel.set()

    job.progress = progress  # type: ignore[method-assign]
    if stage is None:
        job.cancel.set()
    _run_in_thread(job)
    assert job.geometry is None and job.error == error
