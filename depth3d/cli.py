"""The ``depth3d`` command: convert, depth, info, serve.

Exit status: 0 all inputs succeeded, 1 at least one failed (the others are still written),
2 usage errors.  A failing input gets one line ``error: <file>: <reason>`` on stderr.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Iterable, Sequence

from . import __version__
from .backends import BackendError, get_backend
from .depth import near_far_to_scale_shift
from .edges import DEFAULT_EDGE_THRESHOLD
from .errors import Depth3DError
from .exchange import FORMATS
from .reconstruct import DEFAULT_RESOLUTION, GEOMETRIES, PROJECTIONS, Options

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad combination of arguments (exit 2)."""


def _add_backend_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("depth source")
    g.add_argument("--depth", metavar="FILE|DIR",
                   help="precomputed depth map (.npy .exr .pfm 16-bit .png float .tiff); "
                        "a folder holds <photo stem>.<ext> for each input")
    g.add_argument("--depth-kind", choices=("depth", "disparity"), default="depth",
                   help="what --depth files hold (default: depth, planar metres)")
    g.add_argument("--backend", choices=("transformers", "file", "remote"),
                   help="default: file with --depth, else transformers")
    g.add_argument("--model", metavar="ID|DIR",
                   help="hub id or local folder (default: depth-anything/Depth-Anything-V2-Small-hf)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    g.add_argument("--server", metavar="URL", help="depth service URL for --backend remote")
    g.add_argument("--token", default=os.environ.get("DEPTH3D_TOKEN"),
                   help="bearer token for --backend remote (default: $DEPTH3D_TOKEN)")


def _add_geometry_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("geometry")
    g.add_argument("--geometry", choices=GEOMETRIES, default="mesh")
    g.add_argument("--projection", choices=PROJECTIONS, default="perspective")
    g.add_argument("--fov", type=float, metavar="DEG",
                   help="horizontal field of view (default: model estimate > EXIF > 55)")
    g.add_argument("--scale", type=float, metavar="S",
                   help="disparity: depth = 1/(S·d + T) on d in [0,1]; metric: depth = S·z + T; "
                        "relief: height = S·nearness + T")
    g.add_argument("--shift", type=float, metavar="T")
    g.add_argument("--near", type=float, metavar="M", help="disparity: depth of the nearest point")
    g.add_argument("--far", type=float, metavar="M", help="disparity: depth of the farthest point")
    g.add_argument("--resolution", type=int, default=DEFAULT_RESOLUTION, metavar="N",
                   help=f"long side of the vertex grid (default {DEFAULT_RESOLUTION}; 0 = every pixel)")
    g.add_argument("--edge-threshold", type=float, default=DEFAULT_EDGE_THRESHOLD, metavar="R",
                   help="cut the mesh where depth jumps by more than R (relative) beyond what the "
                        f"surfaces on either side predict (default {DEFAULT_EDGE_THRESHOLD:g}; "
                        "0 keeps every triangle)")


def add_convert_arguments(p: argparse.ArgumentParser, formats: Sequence[str] = FORMATS) -> None:
    """Everything ``convert`` takes (also used by the Blender batch, which writes fewer ``formats``)."""
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photo files or folders")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="output file (one input) or folder")
    p.add_argument("--format", choices=formats, help=f"default: the output's suffix, else {formats[0]}")
    p.add_argument("--material", choices=("unlit", "lit"), default="unlit",
                   help="glTF: show the photo as it is (unlit, default) or as lit PBR")
    _add_backend_arguments(p)
    _add_geometry_arguments(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="depth3d", description="A single photo to 3D.")
    parser.add_argument("--version", action="version", version=f"depth3d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="photos → .glb/.gltf/.ply/.obj")
    add_convert_arguments(p)

    p = sub.add_parser("depth", help="depth maps only: float .npy + 16-bit PNG + preview")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    _add_backend_arguments(p)

    sub.add_parser("info", help="versions, devices, cached models")

    p = sub.add_parser("serve", help="run the depth backend service")
    from .service.protocol import add_serve_arguments

    add_serve_arguments(p)
    return parser


def options_from_args(args: argparse.Namespace) -> Options:
    """Geometry :class:`Options` from parsed arguments (``--near/--far`` → scale/shift)."""
    scale, shift = args.scale, args.shift
    if args.near is not None or args.far is not None:
        if args.near is None or args.far is None or scale is not None or shift is not None:
            raise UsageError("--near and --far go together, and not with --scale/--shift")
        try:
            scale, shift = near_far_to_scale_shift(args.near, args.far)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    try:
        return Options(
            geometry=args.geometry, projection=args.projection, fov=args.fov, scale=scale,
            shift=shift, resolution=args.resolution, edge_threshold=args.edge_threshold,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def backend_factory(
    args: argparse.Namespace, n_inputs: int, make: Callable[..., object] = get_backend
) -> Callable[[Path], object]:
    """A function ``photo path → backend``; model backends are built once and shared.

    ``make(name, **options)`` builds a backend (default :func:`~depth3d.backends.get_backend`;
    the Blender batch passes its own, which reads depth files through Blender when needed).
    """
    from .pipeline import find_depth_file

    name = args.backend or ("file" if args.depth else "transformers")
    if name == "file":
        if not args.depth:
            raise UsageError("--backend file needs --depth")
        depth = Path(args.depth)
        if not depth.is_dir() and n_inputs > 1:
            raise UsageError("with several inputs, --depth must be a folder of <stem>.<ext> files")
        return lambda photo: make(
            "file", path=find_depth_file(depth, photo.stem) if depth.is_dir() else depth,
            kind=args.depth_kind,
        )
    if args.depth:
        raise UsageError(f"--depth is for the file backend, not {name}")
    if name == "remote":
        if not args.server:
            raise UsageError("--backend remote needs --server URL")
        backend = make("remote", server=args.server, token=args.token)
    else:
        backend = make("transformers", model=args.model, device=args.device)
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


def _progress(inputs: list[Path]) -> tuple[Iterable[Path], Callable[[str], None]]:
    """``inputs`` with a progress bar on stderr (several inputs, tqdm installed), and a line writer."""
    try:
        from tqdm import tqdm
    except ImportError:  # e.g. Blender's Python: no bar
        return inputs, lambda line: print(line, file=sys.stderr, flush=True)
    bar = tqdm(inputs, unit="photo", disable=len(inputs) < 2, file=sys.stderr)
    return bar, lambda line: tqdm.write(line, file=sys.stderr)


def _run_batch(inputs: list[Path], work: Callable[[Path], None]) -> int:
    """Run ``work`` on every input, report failures as one line each; exit status."""
    failed = 0
    bar, write = _progress(inputs)
    for path in bar:
        try:
            work(path)
        except (Depth3DError, BackendError, OSError, ValueError) as exc:
            failed += 1
            msg = str(exc)
            if str(path) not in msg:
                msg = f"{path}: {msg}"
            write(f"error: {msg}")
        except MemoryError:
            failed += 1
            write(f"error: {path}: out of memory")
    return EXIT_FAILED if failed else EXIT_OK


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
    return inputs, dict(zip(inputs, output_paths(inputs, output, fmt, f".{fmt}"))), fmt


def _preload(module: str) -> None:
    """Import ``module`` in a background thread: trimesh (~0.3 s of imports) then loads while
    the first photo decodes and its geometry is built, both of which release the GIL."""
    import importlib
    import threading

    threading.Thread(target=importlib.import_module, args=(module,), daemon=True).start()


def cmd_convert(args: argparse.Namespace) -> int:
    from .exchange import export
    from .overlap import convert_work

    _preload("trimesh.exchange.gltf")
    inputs, outputs, fmt = convert_targets(args)
    options = options_from_args(args)
    backend_for = backend_factory(args, len(inputs))
    # the next photos decode and go through the model while this one is meshed and written
    with convert_work(inputs, backend_for, options,
                      lambda p, g: export(g, outputs[p], fmt, unlit=args.material == "unlit")) as work:
        return _run_batch(inputs, work)


def cmd_depth(args: argparse.Namespace) -> int:
    from .depth_io import write_depth_outputs
    from .image import read_photo
    from .pipeline import estimate_depth, expand_inputs

    inputs = expand_inputs(args.inputs)
    if not inputs:
        raise UsageError("no input photos found")
    out_dir = Path(args.output)
    backend_for = backend_factory(args, len(inputs))

    def work(path: Path) -> None:
        result = estimate_depth(read_photo(path), backend_for(path))
        write_depth_outputs(out_dir, path.stem, result.depth, result.kind)

    return _run_batch(inputs, work)


def cmd_info(args: argparse.Namespace) -> int:
    from .info import collect_info, format_info

    print(format_info(collect_info()))
    return EXIT_OK


def run_command(parser: argparse.ArgumentParser, command: Callable[[], int]) -> int:
    """``command()``'s exit status; a :class:`UsageError` exits 2 through ``parser.error``,
    a set-up error that hits every input prints one ``error:`` line and gives 1."""
    try:
        return command()
    except UsageError as exc:
        parser.error(str(exc))  # exits 2
    except (Depth3DError, BackendError) as exc:  # set-up failures that hit every input
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"convert": cmd_convert, "depth": cmd_depth, "info": cmd_info}
    if args.command == "serve":
        from .service.server import run_serve

        return run_command(parser, lambda: run_serve(args))
    return run_command(parser, lambda: commands[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
