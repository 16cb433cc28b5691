"""depth3d.backends.cpu_share: the cores other processes keep busy, from /proc/stat."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from depth3d.backends.cpu_share import CoreShare, allowed_cores

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")


def test_a_busy_process_beside_us_counts_as_one_core():
    share = CoreShare()
    loop = "import time\nend = time.time() + 1.2\nwhile time.time() < end: pass"
    busy = subprocess.Popen([sys.executable, "-c", loop])
    try:
        time.sleep(0.2)  # the interpreter starting
        share.others()  # from here on: the busy loop only
        time.sleep(0.8)
        others = share.others()
    finally:
        busy.wait()
    # everything not this (sleeping) process counts: the loop's core, and anything else running
    assert 0.8 <= others <= len(allowed_cores())
    assert 1 <= share.free() <= len(allowed_cores())


def test_intervals_too_short_keep_the_last_estimate():
    share = CoreShare()
    time.sleep(0.3)
    first = share.others()
    assert share.others() == first  # no time has passed: the same estimate


def test_a_forward_pass_keeps_to_the_cores_other_processes_leave(tmp_path):
    """Every allowed core busy with another process: the model's pass runs on one thread, not
    on torch's count (on a machine of several cores)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import numpy as np
    from tiny_models import save_tiny_depth_anything

    from depth3d.backends.hf import TransformersBackend
    from depth3d.io.image import Photo

    backend = TransformersBackend(model=str(save_tiny_depth_anything(tmp_path / "da")), device="cpu")
    threads, affinity = torch.get_num_threads(), os.sched_getaffinity(0)
    os.sched_setaffinity(0, sorted(affinity)[:2])  # two cores (or one): the loops inherit them
    loop = "import time\nend = time.time() + 3\nwhile time.time() < end: pass"
    busy = [subprocess.Popen([sys.executable, "-c", loop]) for _ in allowed_cores()]
    seen = []
    try:
        backend.load()  # others' use is measured from here on
        time.sleep(0.8)
        backend._net.register_forward_pre_hook(lambda module, args: seen.append(torch.get_num_threads()))
        backend.estimate(Photo(rgb=np.zeros((30, 40, 3), np.uint8)))
    finally:
        for p in busy:
            p.kill()
            p.wait()
        os.sched_setaffinity(0, affinity)
        torch.set_num_threads(threads)
    assert seen == [1]
