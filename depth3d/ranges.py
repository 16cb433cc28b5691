"""The allowed values of a numeric option, and the check that enforces them.

An option's range is part of its declaration in the options schema (:mod:`depth3d.schema`):
:meth:`Range.check` gives the message in the user's words, :meth:`Range.bounds` the same
limits to a Blender property (``min``/``max`` keyword arguments).  Every number must be
finite: NaN and infinity are never a valid setting.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import OptionError

__all__ = ["Range"]


@dataclass(frozen=True)
class Range:
    """Allowed values: finite numbers from ``min`` to ``max`` (``None``: unbounded), the ends
    included unless ``*_open``; ``None`` allowed when ``optional`` (meaning "decide from the
    data"); ``unit`` names the unit of the values (the one the option holds, the command line
    takes and messages say; :mod:`depth3d.schema`)."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    optional: bool = False
    unit: str = ""

    def describe(self) -> str:
        """E.g. ``a number > 0``, ``a number from 1 to 179 degrees``."""
        unit = f" {self.unit}" if self.unit else ""
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            if self.min_open or self.max_open:
                return (f"a number {'>' if self.min_open else '>='} {lo:g} and "
                        f"{'<' if self.max_open else '<='} {hi:g}{unit}")
            return f"a number from {lo:g} to {hi:g}{unit}"
        if lo is not None:
            return f"a number {'>' if self.min_open else '>='} {lo:g}{unit}"
        if hi is not None:
            return f"a number {'<' if self.max_open else '<='} {hi:g}{unit}"
        return f"a finite number{unit}"

    def contains(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                return False
        if not math.isfinite(value):
            return False
        above_min = self.min is None or (value > self.min if self.min_open else value >= self.min)
        below_max = self.max is None or (value < self.max if self.max_open else value <= self.max)
        return above_min and below_max

    def check(self, name: str, value: Any) -> None:
        """Raise :class:`~depth3d.errors.OptionError` unless ``value`` is allowed."""
        if not self.contains(value):
            raise OptionError(f"{name} must be {self.describe()}, got {value!r}")

    def bounds(self, factor: float = 1.0, margin: float = 1e-4) -> dict[str, float]:
        """``min``/``max`` keyword arguments for a Blender property: the ends times ``factor``
        (e.g. ``math.radians(1)`` for an angle held in radians); an open end moves in by
        ``margin`` (in this range's unit: Blender's limits are inclusive)."""
        bounds: dict[str, float] = {}
        for key, end, is_open, sign in (("min", self.min, self.min_open, 1.0), ("max", self.max, self.max_open, -1.0)):
            if end is None:
                continue
            if isinstance(end, int) and factor == 1.0 and not is_open:
                bounds[key] = end  # an IntProperty wants ints
            else:
                bounds[key] = (end + (sign * margin if is_open else 0.0)) * factor
        return bounds
