"""How many of this process's CPU cores other processes are keeping busy (Linux ``/proc/stat``).

A model's CPU forward pass splits each operation across torch's OpenMP threads, which wait for
each other at its end: where other processes keep a core busy, the thread the scheduler gives
that core to holds all the others up, and the pass takes longer on two threads than on one
(on a 2-core machine with two other busy processes: 8 s on two threads, 4–6 s on one).  So a
pass should run on the cores left free, as ``make -l`` starts no job above a load.

The measure is the cores' busy time between two calls, less this process's own CPU time: the
cores others used meanwhile, on average.  Only the cores this process may run on count (its
affinity).  Where ``/proc/stat`` is not readable (not Linux) others count as using none.
"""
from __future__ import annotations

import os
import threading
import time
from typing import NamedTuple

__all__ = ["CoreShare", "allowed_cores"]

MIN_INTERVAL_S = 0.2  # shorter intervals keep the previous estimate: too few clock ticks


def allowed_cores() -> set[int]:
    """The CPU numbers this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


class _Sample(NamedTuple):
    busy_s: float  # the allowed cores' busy time since boot, seconds
    own_s: float  # this process's CPU time (user + system, all threads), seconds
    at_s: float  # monotonic clock, seconds


def _sample(cores: set[int]) -> _Sample | None:
    """Now's counters, or ``None`` where ``/proc/stat`` cannot be read or parsed."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = [line.split() for line in f if line.startswith("cpu") and line[3:4].isdigit()]
        ticks = os.sysconf("SC_CLK_TCK")
        busy = 0
        for name, *values in lines:
            if int(name[3:]) in cores:
                v = [int(x) for x in values[:8]]  # user nice system idle iowait irq softirq steal
                busy += sum(v) - v[3] - v[4]
    except (OSError, ValueError, IndexError):
        return None
    own = os.times()
    return _Sample(busy / ticks, own.user + own.system, time.monotonic())


class CoreShare:
    """Cores of this process's affinity that other processes used, averaged over the time since
    the previous :meth:`others` (or since construction)."""

    def __init__(self) -> None:
        self.cores = allowed_cores()
        self._last = _sample(self.cores)
        self._others = 0.0  # until a first interval is long enough: none
        self._lock = threading.Lock()  # calls from several threads (a server's requests)

    def others(self) -> float:
        """Cores others kept busy since the last call, 0 ≤ value ≤ len(cores)."""
        with self._lock:
            now = _sample(self.cores)
            if now is None or self._last is None:
                return 0.0
            elapsed = now.at_s - self._last.at_s
            if elapsed >= MIN_INTERVAL_S:
                used = (now.busy_s - self._last.busy_s) - (now.own_s - self._last.own_s)
                self._others = min(float(len(self.cores)), max(0.0, used / elapsed))
                self._last = now
            return self._others

    def free(self) -> int:
        """Cores left to this process now: all allowed ones less those others use (rounded), at
        least one."""
        return max(1, round(len(self.cores) - self.others()))
