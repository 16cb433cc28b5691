"""The options schema (depth3d.schema): every option declared once, and the command line, the
checks and their messages made from that declaration alone (the Blender half:
test_blender_options.py)."""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import pytest

from depth3d.cli import build_parser, options_from_args
from depth3d.errors import OptionError, UsageError
from depth3d.geometry.reconstruct import Options
from depth3d.ranges import Range
from depth3d.schema import add_arguments, check, fields_of, flag, option, values_from_args
from depth3d.targets import Knobs, resolve_target


def _convert_actions() -> dict[str, argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {s: a for a in sub.choices["convert"]._actions for s in a.option_strings}


def _just_inside(r: Range, kind: type) -> list[float]:
    """Values at (or next to, for an open end) each end of ``r``, and one in the middle."""
    lo = -1e6 if r.min is None else r.min + (1 if kind is int else 1e-3) * r.min_open
    hi = 1e6 if r.max is None else r.max - (1 if kind is int else 1e-3) * r.max_open
    mid = (lo + hi) / 2
    return [kind(v) if kind is int else v for v in (lo, mid, hi)]


def _just_outside(r: Range) -> list[float]:
    out = [math.nan, math.inf]
    if r.min is not None:
        out.append(r.min if r.min_open else r.min - 1)
    if r.max is not None:
        out.append(r.max if r.max_open else r.max + 1)
    return out


@pytest.mark.parametrize("cls", [Options, Knobs])
def test_every_option_is_a_flag_with_its_declared_default_kind_and_choices(cls):
    """Each option of Options (but the budget, which is the target's: --max-triangles of Knobs)
    and of the target's knobs is a flag of ``depth3d convert`` made from its field."""
    actions = _convert_actions()
    for f in fields_of(cls):
        if not f.spec.cli:
            assert f.name == "max_triangles" and "--max-triangles" in actions  # the target's budget
            continue
        a = actions[flag(f.name)]
        assert a.dest == f.name
        assert a.default == (None if f.spec.by_target else f.default), f.name
        if f.kind is bool:
            assert isinstance(a, argparse.BooleanOptionalAction) and f"--no-{f.name.replace('_', '-')}" in actions
        elif f.spec.choices:
            assert list(a.choices) == [c.value for c in f.spec.choices]
        else:
            assert a.type is f.kind and a.metavar == f.spec.metavar
        assert f.spec.help in a.help


def test_flags_parse_into_the_options_and_back():
    """A value given to every flag arrives in Options unchanged, unit included (--fov in degrees)."""
    argv = ["convert", "p.png", "-o", "o.glb", "--geometry", "mesh", "--projection", "perspective",
            "--fov", "61.5", "--resolution", "300", "--edge-threshold", "0.05", "--near", "0.5", "--far", "9",
            "--no-infill", "--max-triangles", "5000"]
    options = options_from_args(build_parser().parse_args(argv))
    assert (options.fov, options.resolution, options.edge_threshold) == (61.5, 300, 0.05)
    assert (options.near, options.far, options.infill, options.max_triangles) == (0.5, 9.0, False, 5000)


@pytest.mark.parametrize("cls", [Options, Knobs])
def test_every_declared_range_is_enforced_with_the_flag_in_the_message(cls):
    """Inside its range every number passes the check of plain values against their
    declarations; outside, the message names the flag (the label given) and says the range in
    its unit."""
    for f in fields_of(cls):
        r = f.spec.range
        if r is None:
            continue
        for value in _just_inside(r, f.kind):
            check(cls, {f.name: value}, label=flag)
        for value in _just_outside(r):
            with pytest.raises(OptionError) as exc:
                check(cls, {f.name: value}, label=flag)
            message = str(exc.value)
            assert message.startswith(f"{flag(f.name)} must be") and r.unit in message, message


def test_choices_and_whole_numbers_are_checked_on_plain_values():
    with pytest.raises(OptionError, match=r"^--geometry must be one of mesh, points, got 'mush'$"):
        Options.check({"geometry": "mush"}, label=flag)
    with pytest.raises(OptionError, match=r"^Resolution must be a whole number, got 12\.5$"):
        Options.check({"resolution": 12.5}, label=lambda name: name.title())
    with pytest.raises(OptionError, match=r"^--near and --far go together$"):
        Options.check({"near": 1.0}, label=flag)
    Options.check({"near": 1.0, "far": 2.0})  # plain values, no instance
    with pytest.raises(ValueError, match=r"^--compression must be one of none, meshopt, draco, got 'zip'$"):
        resolve_target("vr", compression="zip")
    with pytest.raises(ValueError, match=r"^--max-triangles must be a number >= 1 triangles, got 0$"):
        resolve_target("vr", max_triangles=0)


def test_a_bad_flag_is_one_usage_error_naming_it():
    args = build_parser().parse_args(["convert", "p.png", "-o", "o.glb", "--edge-threshold", "-0.5"])
    with pytest.raises(UsageError, match=r"^--edge-threshold must be a number >= 0, got -0\.5$"):
        options_from_args(args)


def test_adding_an_option_is_one_field():
    """A field added to Options (here to a subclass) is a flag, parsed, checked with its flag
    in the message, and reaches the options, with no other edit."""

    @dataclass
    class Extended(Options):
        smoothing: float = option(0.25, "Smoothing", "how much to smooth the depth (0 = none)",
                                  range=Range(min=0.0, max=1.0), metavar="F")

    parser = argparse.ArgumentParser()
    add_arguments(parser, Extended)
    args = parser.parse_args(["--smoothing", "0.5"])
    assert Extended(**values_from_args(Extended, args)).smoothing == 0.5
    assert parser.parse_args([]).smoothing == 0.25
    assert "how much to smooth the depth (0 = none) (default 0.25)" in parser.format_help()
    with pytest.raises(OptionError, match=r"^--smoothing must be a number from 0 to 1, got 2\.0$"):
        Extended.check(values_from_args(Extended, parser.parse_args(["--smoothing", "2"])), label=flag)
    with pytest.raises(OptionError, match=r"^smoothing must be"):
        Extended(smoothing=-1.0)
