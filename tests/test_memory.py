"""NumPy's huge-page hint is off while depth3d works (depth3d.memory), as the kernel sees it:
the ``hg`` flag (MADV_HUGEPAGE) in /proc/self/smaps on the memory of the arrays."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")

pytestmark = pytest.mark.skipif(
    not (Path("/proc/self/smaps").exists() and THP.exists() and "[never]" not in THP.read_text()),
    reason="Linux with transparent huge pages only (where NumPy's hint means something)")

# Whether the memory of an array is marked for huge pages, as the kernel says: a page inside
# it (madvise covers whole pages) and the VmFlags of the mapping that holds it.  Each probe
# makes arrays of 40 MB: more than glibc's largest mmap threshold, so a mapping of their own,
# never marked before.
MARKED = textwrap.dedent("""
    import numpy as np

    def marked(a):
        address = a.ctypes.data + 4096
        hit = False
        for line in open("/proc/self/smaps"):
            head = line.split(" ", 1)[0]
            if "-" in head and ":" not in head:
                start, end = (int(x, 16) for x in head.split("-"))
                hit = start <= address < end
            elif hit and line.startswith("VmFlags:"):
                return " hg" in line
        raise AssertionError("no mapping holds the array")

    def fresh():
        return np.ones(40 << 20, np.uint8)
""")

# One array made inside huge_page_hint_off, one outside; then whether NumPy's setting is back.
PROBE = MARKED + textwrap.dedent("""
    from depth3d.memory import _SET_HINT, huge_page_hint_off

    before = _SET_HINT(True); _SET_HINT(before)
    with huge_page_hint_off():
        inside = fresh()
    outside = fresh()
    after = _SET_HINT(before)
    print(marked(inside), marked(outside), after == before)
""")

# Two threads inside at once, the first to enter leaving first (an operator's worker and the
# main thread do that): the hint stays off until the last leaves, and is back on after.
THREADS = MARKED + textwrap.dedent("""
    import threading
    from depth3d.memory import huge_page_hint_off

    entered, leave, seen = threading.Event(), threading.Event(), []

    def worker():
        with huge_page_hint_off():
            entered.set()
            leave.wait()
            seen.append(marked(fresh()))

    first = huge_page_hint_off()
    first.__enter__()
    thread = threading.Thread(target=worker)
    thread.start()
    entered.wait()
    first.__exit__(None, None, None)
    leave.set()
    thread.join()
    print(seen[0], marked(fresh()))
""")

# A whole `depth3d convert` of a bundled sample at full resolution in this interpreter, then
# how many mappings are marked for huge pages: the allocator keeps freed memory, marks and all.
CONVERT = textwrap.dedent("""
    import sys
    from depth3d.cli import main
    status = main(["convert", "samples/photos/room.jpg", "--depth", "samples/depth/room.exr",
                   "--resolution", "0", "-q", "-o", sys.argv[1]])
    assert status == 0, status
    print(sum(" hg" in line for line in open("/proc/self/smaps") if line.startswith("VmFlags:")))
""")


def run(code: str, *args: str, hint: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if hint is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = hint
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_arrays_made_inside_are_not_marked_and_the_setting_is_restored():
    inside, outside, restored = run(PROBE)
    assert (inside, outside, restored) == ("False", "True", "True")


def test_the_hint_stays_off_until_the_last_thread_leaves():
    assert run(THREADS) == ["False", "True"]


def test_the_users_numpy_madvise_hugepage_wins():
    inside, outside, _ = run(PROBE, hint="1")
    assert (inside, outside) == ("True", "True")


def test_a_conversion_leaves_no_memory_marked_and_one_with_the_hint_does(tmp_path):
    assert run(CONVERT, str(tmp_path / "a.glb")) == ["0"]
    assert int(run(CONVERT, str(tmp_path / "b.glb"), hint="1")[0]) > 0  # the control: NumPy's default
