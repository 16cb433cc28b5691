"""The ``depth3d`` command: convert, depth, info, serve.

Exit status: 0 all inputs succeeded, 1 at least one failed (the others are still written),
2 usage errors.  A failing input gets one line ``error: <file>: <reason>`` on stderr.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from . import __version__
from .backends import BACKENDS, DepthBackend, get_backend, spec_from_args
from .backends.file import DEPTH_UNITS
from .backends.spec import ModelOptions
from .batch import EXIT_OK, EXIT_USAGE, exit_status, run_batch
from .errors import UsageError, user_message
from .exchange import FORMATS
from .geometry.reconstruct import Options
from .io.outputs import check_outputs, check_written
from .memory import huge_page_hint_off
from .schema import add_arguments, flag, values_from_args

if TYPE_CHECKING:
    from .exchange.gltf import GltfSettings
    from .targets import Target

def _device(text: str) -> str:
    """``--device``: auto, cpu, mps, cuda or cuda:N (as ``depth3d serve`` takes it)."""
    value = text.strip().lower()
    if value in ("auto", "cpu", "mps", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise argparse.ArgumentTypeError(f"{text!r}: choose auto, cpu, cuda, cuda:N or mps")


def _add_backend_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("depth source")
    g.add_argument("--depth", metavar="FILE|DIR",
                   help="precomputed depth map (.npy .exr .pfm 16-bit .png float .tiff); "
                        "a folder holds <photo stem>.<ext> for each input")
    g.add_argument("--depth-kind", choices=("depth", "disparity"), default="depth",
                   help="what --depth files hold (default: depth, planar distance)")
    g.add_argument("--depth-unit", choices=tuple(DEPTH_UNITS), default="m",
                   help="unit of --depth files holding depth (default m; phones' 16-bit PNGs are "
                        "usually mm)")
    g.add_argument("--backend", choices=tuple(BACKENDS),
                   help="default: file with --depth, else transformers")
    g.add_argument("--model", metavar="ID|DIR",
                   help="hub id or local folder (default: depth-anything/Depth-Anything-V2-Small-hf)")
    g.add_argument("--device", type=_device, default="auto", metavar="auto|cpu|cuda[:N]|mps")
    add_arguments(g, ModelOptions)  # --dtype
    g.add_argument("--server", metavar="URL", help="depth service URL for --backend remote")
    g.add_argument("--token", default=os.environ.get("DEPTH3D_TOKEN"),
                   help="bearer token for --backend remote (default: $DEPTH3D_TOKEN)")


def _add_geometry_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments(p.add_argument_group("geometry"), Options)


def add_convert_arguments(p: argparse.ArgumentParser, formats: Sequence[str] = FORMATS) -> None:
    """Everything ``convert`` takes (also used by the Blender batch, which writes fewer ``formats``)."""
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photo files or folders")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="output file (one input) or folder")
    p.add_argument("--format", choices=formats, help=f"default: the output's suffix, else {formats[0]}")
    p.add_argument("--material", choices=("unlit", "lit"), default="unlit",
                   help="glTF: show the photo as it is (unlit, default) or as lit PBR")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no summary line for a single photo (errors are still printed)")
    _add_backend_arguments(p)
    _add_geometry_arguments(p)
    _add_target_arguments(p)


def _add_target_arguments(p: argparse.ArgumentParser) -> None:
    from .targets import TARGETS, Knobs

    g = p.add_argument_group("VR/AR output (glTF)")
    g.add_argument("--target", choices=tuple(TARGETS),
                   help="full: as built (default; .usdz: ar); vr: ≤ 300k triangles, texture ≤ 4096, quantized + "
                        "meshopt; ar: ≤ 100k triangles, texture ≤ 2048 (powers of two), quantized + meshopt")
    add_arguments(g, Knobs)


def target_from_args(args: argparse.Namespace, fmt: str | None = None):
    """The :class:`~depth3d.targets.Target` that ``--target`` (else ``fmt``'s default,
    :func:`~depth3d.targets.default_target`) and its knobs give; with ``fmt``, also checked
    against the output format and geometry (:class:`UsageError` otherwise)."""
    from .targets import check_format, default_target, resolve_target

    try:
        target = resolve_target(getattr(args, "target", None) or default_target(fmt),
                                getattr(args, "max_triangles", None), getattr(args, "texture_size", None),
                                getattr(args, "compression", None))
        if fmt is not None:
            check_format(target, fmt, args.geometry)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return target


class ConvertSettings(NamedTuple):
    """What ``convert`` makes of its arguments for one output format."""

    target: Target  # the budget and encoding (--target and its knobs)
    options: Options  # the geometry, with the target's triangle budget and in-fill
    gltf: GltfSettings | None  # how the glTF/USDZ writer encodes the target (None: other formats)


def convert_settings(args: argparse.Namespace, fmt: str) -> ConvertSettings:
    """The target (checked against ``fmt``), the geometry options and the writer's settings."""
    from .targets import SETTINGS_FORMATS

    target = target_from_args(args, fmt)
    gltf = target.gltf_settings(args.material == "unlit") if fmt in SETTINGS_FORMATS else None
    return ConvertSettings(target, options_from_args(args, target), gltf)


def _add_batch_arguments(p: argparse.ArgumentParser) -> None:
    """``convert`` only: --skip-existing and the Ray batch (docs/cluster.md)."""
    p.add_argument("--skip-existing", action="store_true",
                   help="convert only the inputs whose output does not exist yet (never rewrite one)")
    g = p.add_argument_group("cluster (docs/cluster.md)")
    g.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run on Ray: the cluster at ADDRESS (host:port, ray://host:port, auto), "
                        "else $RAY_ADDRESS, else a new local Ray instance")
    g.add_argument("--ray-actors", type=int, metavar="N",
                   help="inference actors, one model each (default: one per GPU, else CPUs/2)")
    g.add_argument("--ray-gpus", type=float, metavar="G",
                   help="GPUs per inference actor, may be fractional (default 1 on a GPU cluster)")
    g.add_argument("--ray-batch-size", type=int, default=4, metavar="N",
                   help="photos per inference call (default 4)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="depth3d", description="A single photo to 3D.")
    parser.add_argument("--version", action="version", version=f"depth3d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="photos → .glb/.gltf/.ply/.obj/.usdz")
    add_convert_arguments(p)
    _add_batch_arguments(p)

    p = sub.add_parser("depth", help="depth maps only: float .npy + 16-bit PNG + preview")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    _add_backend_arguments(p)

    sub.add_parser("info", help="versions, devices, cached models")

    p = sub.add_parser("serve", help="run the depth backend service")
    from .service.protocol import add_serve_arguments

    add_serve_arguments(p)
    return parser


def options_from_args(args: argparse.Namespace, target: Target | None = None) -> Options:
    """Geometry :class:`Options` from parsed arguments, checked against their declarations
    (:meth:`Options.check`); a bad value is a :class:`UsageError` naming the flag.
    The triangle budget and the in-fill default are ``target``'s (default: :func:`target_from_args`)."""
    values = values_from_args(Options, args)
    target = target or target_from_args(args)
    values["max_triangles"] = target.max_triangles if values.get("geometry") == "mesh" else 0
    if values.get("infill") is None:  # --infill / --no-infill, else the target's choice
        values["infill"] = target.infill and values.get("geometry") == "mesh" \
            and values.get("projection") == "perspective"  # the layer is for perspective meshes
    try:
        Options.check(values, label=flag)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return Options(**values)


def backend_factory(
    args: argparse.Namespace, n_inputs: int, make: Callable[..., DepthBackend] = get_backend
) -> Callable[[Path], DepthBackend]:
    """A function ``photo path → backend`` (which one: :func:`~depth3d.backends.spec_from_args`);
    model backends are built once and shared.

    ``make(name, **options)`` builds a backend (default :func:`~depth3d.backends.get_backend`;
    the Blender batch passes its own, which reads depth files through Blender when needed).
    """
    from .pipeline import find_depth_file

    spec = spec_from_args(args, n_inputs)
    if spec.name == "file":
        depth = Path(spec.depth)
        return lambda photo: make(
            "file", path=find_depth_file(depth, photo.stem) if depth.is_dir() else depth, **spec.kwargs
        )
    backend = make(spec.name, **spec.kwargs)
    load = getattr(backend, "load", None)
    if load is not None:  # a missing model is one line for the batch, not one per photo
        load()
    return lambda photo: backend


def output_paths(inputs: list[Path], output: Path, fmt: str | None, default_suffix: str) -> list[Path]:
    """One output per input: ``output`` itself for one input, else ``output/<stem>.<fmt>``."""
    if len(inputs) == 1 and not output.is_dir() and output.suffix:
        return [output]
    suffix = f".{fmt}" if fmt else default_suffix
    paths = [output / f"{p.stem}{suffix}" for p in inputs]
    if len(set(paths)) != len(paths):
        raise UsageError("two inputs share a file name stem; their outputs would collide")
    return paths


def convert_targets(
    args: argparse.Namespace, formats: Sequence[str] = FORMATS
) -> tuple[list[Path], dict[Path, Path], str]:
    """``convert``'s inputs (folders expanded), the output path of each, and the format."""
    from .pipeline import expand_inputs

    inputs = expand_inputs(args.inputs)
    if not inputs:
        raise UsageError("no input photos found")
    output = Path(args.output)
    fmt = args.format or (output.suffix.lstrip(".").lower() if len(inputs) == 1 and output.suffix else None)
    if fmt and fmt not in formats:
        raise UsageError(f"unknown output format {fmt!r}; choose one of {', '.join(formats)}")
    fmt = fmt or formats[0]
    check_output_name(output, output.suffix, output.is_dir(), len(inputs), fmt)
    outputs = dict(zip(inputs, output_paths(inputs, output, fmt, f".{fmt}")))
    check_convert_outputs(args, outputs, fmt)
    return inputs, outputs, fmt


def check_output_name(output: object, suffix: str, is_dir: bool, n_inputs: int, fmt: str) -> None:
    """Raise UsageError when ``-o`` cannot take the outputs: one input into a file name whose
    suffix is not ``fmt``, or several inputs into a file name (``output`` as shown to the user)."""
    if n_inputs == 1 and suffix and not is_dir and suffix.lower() != f".{fmt}":
        raise UsageError(f"-o {output}: the name ends in {suffix} but --format is {fmt}; name it *.{fmt}")
    if n_inputs > 1 and not is_dir and suffix.lstrip(".").lower() in FORMATS:
        raise UsageError(f"-o {output}: {n_inputs} inputs need an output folder, not a file name")


def check_convert_outputs(args: argparse.Namespace, outputs: dict[Path, Path], fmt: str) -> None:
    """Raise UsageError when an output (or a sidecar of it) would replace an input photo or
    depth file (:func:`~depth3d.io.outputs.check_outputs`)."""
    check_outputs(outputs, fmt, [*outputs, *_depth_inputs(args)], mesh=args.geometry == "mesh")


def _depth_inputs(args: argparse.Namespace) -> list[Path]:
    """The depth files ``--depth`` names (every file of a folder): inputs never to be written."""
    if not getattr(args, "depth", None):
        return []
    depth = Path(args.depth)
    try:
        return [p for p in depth.iterdir() if p.is_file()] if depth.is_dir() else [depth]
    except OSError:
        return [depth]


def _skip_existing(inputs: list[Path], outputs: dict[Path, Path]) -> list[Path]:
    """The inputs whose output does not exist yet; says on stderr how many were skipped."""
    todo = [p for p in inputs if not outputs[p].exists()]
    if len(todo) < len(inputs):
        print(f"skipped {len(inputs) - len(todo)} of {len(inputs)} photos: output exists",
              file=sys.stderr, flush=True)
    return todo


def cmd_convert(args: argparse.Namespace) -> int:
    from .overlap import convert_work
    from .pipeline import infill_warning, summary, write_geometry

    if getattr(args, "ray", None) is not None:
        from .cluster import run_convert

        return run_convert(args, FORMATS)
    if getattr(args, "ray_actors", None) or getattr(args, "ray_gpus", None) is not None:
        raise UsageError("--ray-actors and --ray-gpus go with --ray")
    inputs, outputs, fmt = convert_targets(args)
    _, options, settings = convert_settings(args, fmt)
    count = len(inputs)
    if getattr(args, "skip_existing", False):
        inputs = _skip_existing(inputs, outputs)

    def write(p: Path, geometry) -> None:
        warning = infill_warning(p, geometry)
        if warning:
            print(warning, file=sys.stderr, flush=True)
        path = write_geometry(geometry, outputs[p], fmt, unlit=args.material == "unlit", settings=settings)
        if len(inputs) == 1 and not args.quiet:
            print(summary(path, geometry), flush=True)

    # the first photos decode while the model loads; the next ones decode and go through the
    # model while this one is meshed and written
    with convert_work(inputs, lambda: backend_factory(args, count), options, write) as work:
        return run_batch(inputs, work)


def cmd_depth(args: argparse.Namespace) -> int:
    from .io.depth_io import depth_output_files, write_depth_outputs
    from .pipeline import estimate_depth, expand_inputs, read_input

    inputs = expand_inputs(args.inputs)
    if not inputs:
        raise UsageError("no input photos found")
    out_dir = Path(args.output)
    check_written({out_dir / p.stem: depth_output_files(out_dir, p.stem) for p in inputs},
                  [*inputs, *_depth_inputs(args)])
    backend_for = backend_factory(args, len(inputs))

    def work(path: Path) -> None:
        result = estimate_depth(read_input(path), backend_for(path))
        write_depth_outputs(out_dir, path.stem, result.depth, result.kind)

    return run_batch(inputs, work)


def cmd_info(args: argparse.Namespace) -> int:
    from .info import collect_info, format_info

    print(format_info(collect_info()))
    return EXIT_OK


def subcommand_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of subcommand ``name`` (its usage is the one a usage error shows)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]
    return parser


def run_command(parser: argparse.ArgumentParser, command: Callable[[], int]) -> int:
    """``command()``'s exit status; a :class:`UsageError` exits 2 through ``parser.error``
    (pass the subcommand's parser: its usage is shown), a set-up error that hits every input
    prints one ``error:`` line and gives 1; SIGINT/SIGTERM give 130/143."""
    try:
        return exit_status(command)  # the batch's statuses (depth3d.batch)
    except UsageError as exc:
        parser.error(user_message(exc))  # exits 2
    return EXIT_USAGE


@huge_page_hint_off()
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"convert": cmd_convert, "depth": cmd_depth, "info": cmd_info}
    sub = subcommand_parser(parser, args.command)
    if args.command == "serve":
        from .service.server import run_serve

        return run_command(sub, lambda: run_serve(args))
    return run_command(sub, lambda: commands[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
