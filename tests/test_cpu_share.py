"""depth3d.backends.cpu_share: the cores other processes keep busy, from /proc/stat."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from depth3d.backends.cpu_share import CoreShare, allowed_cores

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")


def test_a_busy_process_beside_us_counts_as_one_core():
    share = CoreShare()
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 1.2\nwhile time.time() < end: pass"])
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
