"""NumPy's transparent-huge-page hint, off while depth3d works.

On Linux, NumPy marks the memory of every array of 4 MB or more with
``madvise(MADV_HUGEPAGE)``.  The mark outlives the array: memory the allocator keeps and hands
out again stays marked, and a later page fault there asks the kernel for a whole free 2 MB
page, which it must find or make (with ``defrag`` set to ``madvise``, most distributions'
default, it compacts memory or takes pages never touched before) instead of reusing the 4 KB
pages just freed (numpy issue #31590).  A conversion allocates and frees gigabytes of large
arrays, so the hint costs it system time: on the 2-core virtual machines of
docs/benchmarks.md, a 12 MP full-resolution ``depth3d convert`` took 3.2–3.3 s with the hint
and 2.4–2.6 s without (1.5–1.9 s → 0.9–1.0 s of system CPU), and Blender's operator on the same
photo 8.4 s → 6.1 s.

Every depth3d entry point (the CLI, the service, Blender's batch and operator, the cluster's
workers) runs its work inside :func:`huge_page_hint_off`; code that calls depth3d's functions
itself keeps NumPy's setting.  ``NUMPY_MADVISE_HUGEPAGE`` in the environment, NumPy's own
switch, always wins: ``NUMPY_MADVISE_HUGEPAGE=1`` keeps the hint.
"""
from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["ENV", "huge_page_hint_off"]

ENV = "NUMPY_MADVISE_HUGEPAGE"  # NumPy's switch, read once at its import; set, it is the user's choice


def _hint_setter() -> Callable[[bool], bool] | None:
    """NumPy's ``_set_madvise_hugepage`` (sets the hint, returns the previous setting), or
    ``None`` where this NumPy has none.  It lives in ``numpy._core`` from NumPy 2 (1.26 has
    that name too) and in ``numpy.core`` before."""
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        setter = getattr(module, "_set_madvise_hugepage", None)
        if setter is not None:
            return setter
    return None


_SET_HINT = _hint_setter()  # found once, here: never import in a worker thread


class _Holders:
    """Who is inside :func:`huge_page_hint_off`, process-wide: the setting is NumPy's, one for
    every thread, and threads enter and leave in any order — the first in turns the hint off,
    the last out restores what it was."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.saved = True


_HOLDERS = _Holders()


@contextmanager
def huge_page_hint_off() -> Iterator[None]:
    """Arrays allocated inside are not marked for huge pages; NumPy's setting is restored when
    the last thread inside leaves.  Nothing changes where ``NUMPY_MADVISE_HUGEPAGE`` is set or
    NumPy has no hint."""
    set_hint = None if ENV in os.environ else _SET_HINT
    if set_hint is None:
        yield
        return
    holders = _HOLDERS
    with holders.lock:
        if holders.count == 0:
            holders.saved = set_hint(False)
        holders.count += 1
    try:
        yield
    finally:
        with holders.lock:
            holders.count -= 1
            if holders.count == 0:
                set_hint(holders.saved)
