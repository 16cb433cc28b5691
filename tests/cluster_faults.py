"""A Ray ``worker_process_setup_hook`` for tests/test_cluster.py: kills a worker mid-run.

Every Ray worker of the test module's job runs :func:`install` when it starts.  It wraps two
functions of :mod:`depth3d.cluster.stages` so that, while a trigger file
``$DEPTH3D_TEST_FAULTS/<stage>-<photo stem>`` exists, the worker about to process that photo
removes the trigger, leaves ``<stage>-<stem>.died`` (its pid) as evidence, and ends with
``os._exit(1)``: a process death, as from the OOM killer or a lost node, not an exception.
The retry finds no trigger and goes on.  ``stage`` is ``depth`` (inside the inference actor)
or ``geometry`` (inside the geometry/export task).
"""
from __future__ import annotations

import os
from pathlib import Path


def _die_if_triggered(stage: str, stem: str) -> None:
    folder = os.environ.get("DEPTH3D_TEST_FAULTS")
    if not folder:
        return
    trigger = Path(folder) / f"{stage}-{stem}"
    try:
        trigger.unlink()  # the first attempt only: whoever removes it dies
    except FileNotFoundError:
        return
    Path(f"{trigger}.died").write_text(str(os.getpid()))
    os._exit(1)


def install() -> None:
    if not os.environ.get("DEPTH3D_TEST_FAULTS"):
        return
    from depth3d.cluster import stages

    estimate, geometry = stages.estimate_photos, stages.depth_to_geometry

    def estimate_photos(backend, photos):
        for photo in photos:
            _die_if_triggered("depth", photo.name)
        return estimate(backend, photos)

    def geometry_or_die(photo, result, options):
        _die_if_triggered("geometry", photo.name)
        return geometry(photo, result, options)

    stages.estimate_photos = estimate_photos
    stages.depth_to_geometry = geometry_or_die
