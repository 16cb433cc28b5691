"""One declared range per numeric option, and the one check that enforces it.

An option's range lives in its dataclass field's metadata (``field(metadata=declare(...))``, see
:class:`depth3d.reconstruct.Options`); :func:`validate` checks every field of an instance
against it with a message in the user's words, and :func:`blender_bounds` gives the same
limits to a Blender property (``min``/``max`` keyword arguments).  Every number must be finite:
NaN and infinity are never a valid setting.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .errors import OptionError

__all__ = ["Range", "blender_bounds", "declare", "validate"]

RANGE_KEY = "depth3d.range"


@dataclass(frozen=True)
class Range:
    """Allowed values: finite numbers from ``min`` to ``max`` (``None``: unbounded), the ends
    included unless ``*_open``; ``None`` allowed when ``optional`` (meaning "decide from the
    data"); ``unit`` names the unit in messages."""

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


def declare(**range_args: Any) -> dict[str, Range]:
    """Field metadata declaring a :class:`Range`: ``field(default=…, metadata=declare(min=0))``."""
    return {RANGE_KEY: Range(**range_args)}


def range_of(cls: type, name: str) -> Range:
    """The :class:`Range` declared on field ``name`` of dataclass ``cls``."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata[RANGE_KEY]
    raise KeyError(name)


def validate(obj: Any, label=lambda name: name) -> None:
    """Check every declared field of dataclass instance ``obj``; ``label(name)`` is how the
    option is called in the message (e.g. ``--edge-threshold``)."""
    for f in dataclasses.fields(obj):
        declared = f.metadata.get(RANGE_KEY)
        if declared is not None:
            declared.check(label(f.name), getattr(obj, f.name))


def blender_bounds(cls: type, name: str, factor: float = 1.0, open_margin: float = 1e-4) -> dict[str, float]:
    """``min``/``max`` keyword arguments for a Blender property of option ``name`` (values times
    ``factor``, e.g. ``math.radians(1)`` for an angle shown in degrees); an open end moves in
    by ``open_margin`` (Blender's limits are inclusive)."""
    r = range_of(cls, name)
    bounds: dict[str, float] = {}
    for key, end, is_open, sign in (("min", r.min, r.min_open, 1.0), ("max", r.max, r.max_open, -1.0)):
        if end is None:
            continue
        if isinstance(end, int) and factor == 1.0 and not is_open:
            bounds[key] = end  # an IntProperty wants ints
        else:
            bounds[key] = end * factor + (sign * open_margin if is_open else 0.0)
    return bounds
