"""Row bands: a local operation on a large grid, run band by band (and on several cores).

An operation whose output row j depends only on input rows j − halo … j + halo gives the same
result when it runs on a band of rows extended by ``halo`` rows each side (clipped at the
grid's border, where the operation's own border rule applies as before) and only the band's
own rows are kept.  Run that way its temporaries are a band's size — a few MB, reused and
cache-resident — instead of many full-size arrays, and bands run in threads (numpy releases
the GIL in its loops).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

__all__ = ["BAND_VERTICES", "Band", "row_bands", "run_bands", "workers"]

BAND_VERTICES = 1 << 19  # vertices per band (its float32 temporaries: 2 MB each)


class Band(NamedTuple):
    """Rows ``lo`` … ``hi`` (exclusive) of the grid, computed from rows ``a`` … ``b``."""

    a: int
    b: int
    lo: int
    hi: int


def row_bands(ny: int, nx: int, halo: int, vertices: int | None = None) -> list[Band]:
    """Bands of about ``vertices`` (default BAND_VERTICES) covering rows 0 … ny of an (ny, nx)
    grid, each with ``halo`` rows each side (one band, the whole grid, when it is small)."""
    rows = max(2 * halo, (vertices or BAND_VERTICES) // max(nx, 1), 1)
    if ny <= rows + 2 * halo:
        return [Band(0, ny, 0, ny)]
    return [Band(max(0, lo - halo), min(ny, lo + rows + halo), lo, min(ny, lo + rows))
            for lo in range(0, ny, rows)]


MIN_CORES = 4  # below this, bands run one after the other


def workers() -> int:
    """Threads for band work: the cores this process may use, or 1 on fewer than MIN_CORES (on
    a busy 2-core machine a second thread measured slower: 6.9 against 6.0 CPU s, 7.5–8.7
    against 6.2–6.8 s wall for a 12 MP grid)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return cores if cores >= MIN_CORES else 1


def run_bands(work: Callable[[Band], None], bands: list[Band]) -> None:
    """``work(band)`` for every band, in threads when there are several bands and cores.

    ``work`` must write only its own band's rows and import nothing (it may run in a thread).
    """
    n = min(workers(), len(bands))
    if n < 2:
        for band in bands:
            work(band)
        return
    with ThreadPoolExecutor(n, thread_name_prefix="depth3d-band") as pool:
        for _ in pool.map(work, bands):  # re-raises the first failure
            pass
