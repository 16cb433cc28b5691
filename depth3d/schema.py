"""The options schema: each option declared once, as a dataclass field with its :class:`Spec`.

An option is a field of a dataclass (:class:`depth3d.geometry.reconstruct.Options`,
:class:`depth3d.targets.Knobs`) declared with :func:`option`: its default, UI label, help
text, unit and :class:`~depth3d.ranges.Range`, or its choices.  Everything else is derived
from that declaration:

- the command line (:func:`add_arguments`): the flag is the field's name with dashes
  (``edge_threshold`` → ``--edge-threshold``); its kind follows the field's type (a number of
  that type, one of the choices, or ``--x/--no-x`` for a bool);
- validation (:func:`check`) on plain values, each message naming the option as its caller's
  user calls it (a flag, a Blender property);
- Blender's properties and the conversions to and from them
  (:mod:`depth3d.blender.option_props`).

Units: an option holds its value in its range's unit (``fov``: degrees, ``near``/``far``:
metres); the command line takes that unit and messages say it.  Blender shows an angle as an
``ANGLE`` property, which holds radians (displayed in degrees): the one conversion between
the two is :mod:`depth3d.blender.option_props`'s.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import OptionError
from .ranges import Range

__all__ = [
    "Choice", "OptionField", "Spec", "add_arguments", "check", "field_of", "fields_of", "flag",
    "option", "range_of", "values_from_args",
]

SPEC_KEY = "depth3d.option"


class Choice(NamedTuple):
    """One value of a choice option, with its UI label and help."""

    value: str
    label: str
    help: str = ""


@dataclass(frozen=True)
class Spec:
    """What an option is, besides its name, type and default.

    label:       its name in a UI ("Edge Threshold").
    help:        one phrase, lower case (the command line's help; Blender's tooltip capitalises it).
    range:       allowed numbers and their unit (numbers only).
    choices:     allowed values (strings only).
    metavar:     the value's name in the command line's help ("DEG").
    cli:         whether it has a flag of its own (``False``: set another way, said in ``help``).
    by_target:   command line: unset means the ``--target``'s choice.
    placeholder: an optional number's value in a UI that cannot show "none" (option units).
    auto:        the number that stands for "none" where a UI must hold a number (Blender's operator).
    soft_max, precision, step: how a Blender property shows it.
    margin:      how far inside an open end of the range a Blender limit sits (option units).
    """

    label: str
    help: str
    range: Range | None = None
    choices: tuple[Choice, ...] = ()
    metavar: str | None = None
    cli: bool = True
    by_target: bool = False
    placeholder: float | None = None
    auto: float | None = None
    soft_max: float | None = None
    precision: int | None = None
    step: int | None = None
    margin: float = 1e-4


def option(default: Any, label: str, help: str, *, range: Range | None = None,
           choices: Iterable[Choice | str] = (), **spec: Any) -> Any:
    """A dataclass field declaring an option: ``x: float = option(1.0, "X", "what x does", range=Range(min=0))``.

    A ``None`` default makes the option optional ("decide from the data"); plain strings in
    ``choices`` are their own label.
    """
    if range is not None and default is None:
        range = dataclasses.replace(range, optional=True)
    items = tuple(c if isinstance(c, Choice) else Choice(c, c.title()) for c in choices)
    return dataclasses.field(default=default, metadata={
        SPEC_KEY: Spec(label, help, range=range, choices=items, **spec)})


class OptionField(NamedTuple):
    """An option of a schema class: its field's name, value type, default and :class:`Spec`."""

    name: str
    kind: type  # int, float, str or bool (``None`` aside)
    default: Any
    spec: Spec

    @property
    def flag(self) -> str:
        return flag(self.name)

    @property
    def optional(self) -> bool:
        return self.default is None

    @property
    def unit(self) -> str:
        return self.spec.range.unit if self.spec.range is not None else ""


def _kind(annotation: Any) -> type:
    """``int`` from ``int | None``."""
    kinds = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    return kinds[0]


_fields: dict[type, tuple[OptionField, ...]] = {}


def fields_of(cls: type) -> tuple[OptionField, ...]:
    """The options declared on dataclass ``cls``, in field order (fields without a :class:`Spec` left out)."""
    if cls not in _fields:
        hints = typing.get_type_hints(cls)
        _fields[cls] = tuple(
            OptionField(f.name, _kind(hints[f.name]), f.default, f.metadata[SPEC_KEY])
            for f in dataclasses.fields(cls) if SPEC_KEY in f.metadata
        )
    return _fields[cls]


def field_of(cls: type, name: str) -> OptionField:
    for f in fields_of(cls):
        if f.name == name:
            return f
    raise KeyError(name)


def range_of(cls: type, name: str) -> Range:
    """The :class:`~depth3d.ranges.Range` declared on option ``name`` of ``cls``."""
    declared = field_of(cls, name).spec.range
    if declared is None:
        raise KeyError(f"{name} has no range")
    return declared


def flag(name: str) -> str:
    """An option as the command line spells it (``edge_threshold`` → ``--edge-threshold``)."""
    return "--" + name.replace("_", "-")


def check(cls: type, values: Mapping[str, Any], label: Callable[[str], str] = lambda name: name) -> None:
    """Raise :class:`~depth3d.errors.OptionError` (a ValueError) naming the first option of
    ``values`` (name → value; the options of ``cls`` it has) that its declaration does not allow:
    a choice not among the choices, a number out of its range or not finite, a fraction for a
    whole number.  ``label(name)`` is how the caller's user calls the option (e.g. ``--fov``)."""
    for f in fields_of(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        if value is None and f.optional:
            continue
        if f.spec.choices:
            allowed = [c.value for c in f.spec.choices]
            if value not in allowed:
                raise OptionError(f"{label(f.name)} must be one of {', '.join(allowed)}, got {value!r}")
        if f.spec.range is not None:
            f.spec.range.check(label(f.name), value)
        if f.kind is int and isinstance(value, (float, bool)):
            raise OptionError(f"{label(f.name)} must be a whole number, got {value!r}")


def _cli_help(f: OptionField) -> str:
    if f.spec.by_target:
        return f"{f.spec.help} (default: the target's)"
    if f.default is None or f.kind is str:
        return f.spec.help
    return f"{f.spec.help} (default {'on' if f.default is True else 'off' if f.default is False else f'{f.default:g}'})"


def add_arguments(group: argparse._ActionsContainer, cls: type) -> None:
    """One argument per option of ``cls`` that has a flag (:attr:`Spec.cli`); unset, each
    parses to the option's default (``None`` for a ``by_target`` option)."""
    for f in fields_of(cls):
        if not f.spec.cli:
            continue
        default = None if f.spec.by_target else f.default
        if f.kind is bool:
            group.add_argument(f.flag, action=argparse.BooleanOptionalAction, default=default, help=_cli_help(f))
        elif f.spec.choices:
            group.add_argument(f.flag, choices=[c.value for c in f.spec.choices], default=default,
                               help=_cli_help(f))
        else:
            group.add_argument(f.flag, type=f.kind, default=default, metavar=f.spec.metavar, help=_cli_help(f))


def values_from_args(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The options of ``cls`` that ``args`` holds (name → value as parsed)."""
    return {f.name: getattr(args, f.name) for f in fields_of(cls) if f.spec.cli and hasattr(args, f.name)}
