"""Blender properties derived from the options schema (:mod:`depth3d.schema`), and the
conversions between their values and the options'.

A class body takes an option's property with
``__annotations__.update(blender_properties(Options, ("fov", ...)))``: its label, tooltip,
default, limits (the declared range), subtype and display come from the option's declaration.

Units: an option in degrees (``fov``) is an ``ANGLE`` property here, which Blender holds in
radians and shows in degrees; a distance in metres is a ``DISTANCE`` property.
:func:`blender_value` and :func:`option_value` are the one place degrees and radians meet.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty

from ..schema import OptionField, field_of, fields_of

__all__ = [
    "blender_properties", "blender_value", "enum_items", "option_names", "option_value", "option_values",
    "set_option_values",
]

ANGLE_UNIT = "degrees"  # an option in this unit is an ANGLE property (radians)
SUBTYPES = {ANGLE_UNIT: "ANGLE", "m": "DISTANCE"}


def blender_value(f: OptionField, value: Any) -> Any:
    """An option's value as its Blender property holds it (degrees → radians)."""
    return math.radians(value) if f.unit == ANGLE_UNIT and value is not None else value


def option_value(f: OptionField, value: Any) -> Any:
    """A Blender property's value as the option holds it (radians → degrees)."""
    return math.degrees(value) if f.unit == ANGLE_UNIT and value is not None else value


def option_names(cls: type, leave_out: Iterable[str] = ()) -> tuple[str, ...]:
    """The options of ``cls`` in field order, but those named in ``leave_out``."""
    left_out = set(leave_out)
    return tuple(f.name for f in fields_of(cls) if f.name not in left_out)


def enum_items(f: OptionField) -> list[tuple[str, str, str]]:
    """A choice option's ``EnumProperty`` items."""
    return [(c.value, c.label, c.help) for c in f.spec.choices]


def _description(text: str) -> str:
    return text[:1].upper() + text[1:]


def _property(f: OptionField, update: Callable | None, auto: bool) -> Any:
    s = f.spec
    kw: dict[str, Any] = dict(name=s.label, description=_description(s.help), options=set())
    if update is not None:
        kw["update"] = update
    if f.kind is bool:
        return BoolProperty(default=bool(f.default), **kw)
    if s.choices:
        return EnumProperty(items=enum_items(f), default=f.default, **kw)
    default = f.default if f.default is not None else s.placeholder if s.placeholder is not None else 0
    bounds = s.range.bounds(blender_value(f, 1.0), s.margin) if s.range is not None else {}
    if auto and s.auto is not None:  # the operator: this number stands for "decide from the data"
        default = s.auto
        bounds["min"] = min(bounds.get("min", math.inf), blender_value(f, s.auto))
        kw["description"] += f"; {s.auto:g} = that default"
    for key in ("soft_max", "precision", "step"):
        if getattr(s, key) is not None:
            kw[key] = getattr(s, key)
    if f.kind is int:
        return IntProperty(default=default, **bounds, **kw)
    return FloatProperty(default=blender_value(f, default), subtype=SUBTYPES.get(f.unit, "NONE"), **bounds, **kw)


def blender_properties(cls: type, names: Iterable[str], *, update: Callable | None = None,
                       auto: bool = False) -> dict[str, Any]:
    """``{name: bpy.props.…Property(…)}`` for the options ``names`` of ``cls``, each calling
    ``update`` when changed; ``auto``: an option with a :attr:`~depth3d.schema.Spec.auto`
    number defaults to it ("decide from the data"; :func:`option_values` reads it as ``None``)."""
    return {name: _property(field_of(cls, name), update, auto) for name in names}


def option_values(props: Any, cls: type, names: Iterable[str],
                  given: Callable[[str], bool] = lambda name: True) -> dict[str, Any]:
    """The values (option units) of options ``names`` of ``cls`` held by Blender ``props``; an
    optional option is ``None`` unless ``given(name)`` and its value is not its ``auto`` number."""
    values = {}
    for name in names:
        f = field_of(cls, name)
        value = getattr(props, name)
        if f.optional and (not given(name) or value == f.spec.auto):
            value = None
        values[name] = option_value(f, value)
    return values


def set_option_values(props: Any, cls: type, values: Mapping[str, Any]) -> None:
    """Set Blender ``props`` from option values (option units) of options of ``cls``."""
    for name, value in values.items():
        setattr(props, name, blender_value(field_of(cls, name), value))
