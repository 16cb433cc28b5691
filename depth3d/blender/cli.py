"""``depth3d convert`` inside Blender: photos → ``.glb`` through Blender's glTF exporter.

The extension registers :func:`main` as Blender's command-line command ``depth3d``::

    blender -b -c depth3d convert photos/ -o out/ [--blend out/scene.blend]

and ``depth3d/blender/batch_script.py`` runs it in a Blender without the extension.  Options,
exit status (0 all written, 1 some failed and the others written, 2 usage) and the one
``error: <file>: <reason>`` line per failed input are those of ``depth3d convert``
(:mod:`depth3d.cli`, whose parser pieces are reused; the same :func:`depth3d.batch.run_batch`).
Photos are decoded by Blender (no Pillow), depth comes from ``--depth`` files or a model
backend, geometry from the core pipeline (:func:`depth3d.pipeline.run_photo`).  Each
photo becomes an object in a collection named after it, exported alone to ``<stem>.glb``
(atomic) and removed again — unless ``--blend FILE`` keeps them all for a ``.blend``.
``--target vr|ar`` (or ``--max-triangles``, ``--texture-size``, ``--compression``) writes the
``.glb`` with the core glTF writer instead: within the target's budget, quantized, compressed;
in a stock Blender, whose Python lacks the compression's binding, with Draco by Blender's own
glTF exporter (one ``info:`` line on stderr says so; :mod:`.draco_fallback`).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import bpy

from ..backends import BackendError, BackendSpec
from ..batch import EXIT_USAGE, run_batch
from ..cli import (
    add_convert_arguments,
    backend_factory,
    convert_settings,
    convert_targets,
    run_command,
    subcommand_parser,
)
from ..errors import Depth3DError, UsageError, quote_path
from ..geometry.reconstruct import Geometry
from ..io.atomic import atomic_path
from ..io.image_header import read_header, web_ready
from ..io.texture_file import texture_file
from ..memory import huge_page_hint_off
from ..pipeline import run_photo, summary
from .build import create_object, export_gltf
from .depth_source import BackendSettings, backend_for, backend_from_spec
from .images import open_photo
from .prefs import get_prefs

FORMATS = ("glb",)
MATERIALS = {"unlit": "emission", "lit": "principled"}
PROG = "blender -b -c depth3d"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="A single photo to 3D, headless in Blender (glTF by Blender's exporter)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("convert", help="photos → .glb (and a .blend)")
    add_convert_arguments(p, FORMATS)
    p.add_argument("--blend", metavar="FILE",
                   help="also save a .blend with every generated object, each in a collection "
                        "named after its photo (images packed)")
    return parser


# --------------------------------------------------------------------------- depth backends


def _make_backend(name: str, **options):
    """:func:`depth3d.cli.backend_factory`'s ``make`` for Blender (:func:`.depth_source.backend_from_spec`)."""
    return backend_from_spec(BackendSpec(name, tuple(options.items())), get_prefs())


def _backends(args: argparse.Namespace, n_inputs: int):
    """``photo path → backend``: as ``depth3d convert`` when ``--depth``/``--backend`` is given,
    else the backend chosen in the extension's preferences (``--model``/``--device``/``--dtype`` override)."""
    if args.depth or args.backend:
        return backend_factory(args, n_inputs, make=_make_backend)
    prefs = get_prefs()
    overrides = {"model": args.model} if args.model else {}
    if args.device != "auto" or not getattr(prefs, "device", None):
        overrides["device"] = args.device
    if args.dtype != "auto" or not getattr(prefs, "dtype", None):
        overrides["dtype"] = args.dtype
    backend = backend_for(BackendSettings.from_prefs(prefs, **overrides))
    load = getattr(backend, "load", None)
    if load is not None:  # a missing model is one line for the batch, not one per photo
        load()
    return lambda photo: backend


# --------------------------------------------------------------------------- one photo


def _materials(obj: bpy.types.Object) -> list[bpy.types.Material]:
    return [m for m in getattr(obj.data, "materials", ()) if m is not None]


def _images(obj: bpy.types.Object) -> set[bpy.types.Image]:
    """The images ``obj``'s materials show (the photo texture)."""
    return {
        node.image for m in _materials(obj) if m.node_tree is not None
        for node in m.node_tree.nodes if node.type == "TEX_IMAGE" and node.image is not None
    }


def _reason(exc: RuntimeError) -> str:
    """One line from a bpy error ("Error: Python: Traceback … KeyError: 'x'\nLocation: …")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Location:")]
    reason = lines[-1] if lines else type(exc).__name__
    return reason.removeprefix("Error:").strip()


def _discard(ids) -> None:
    bpy.data.batch_remove([i for i in ids if i is not None])


def convert_photo(
    path: Path, out_path: Path, backend, options, material: str, keep: bool, target=None,
    written: Callable[[Path, Geometry], None] | None = None,
) -> bpy.types.Object | None:
    """Photo file → object in a new collection named after the photo → ``out_path`` (.glb).

    ``target``: a :class:`~depth3d.targets.Target` other than the plain ``full`` is written by
    the core glTF writer (:func:`.export.write_target`), else by Blender's glTF exporter.

    The object and everything made for it are removed afterwards unless ``keep``; on any
    failure nothing is left behind (no file, no datablocks).  ``written(out_path, geometry)``
    is called once the file is written.
    """
    made: list = []
    image = None
    try:
        photo, image = open_photo(path)
        if image.users == 0:  # ours (not an image the session already uses)
            made.append(image)
        with open(path, "rb") as f:
            ready = web_ready(read_header(f))
        if photo.data is None or not ready:  # EXIF-rotated, CMYK, 16-bit…: texture from the pixels
            _discard(made)
            made, image = [], None
        elif image in made and (own := texture_file(photo.data)) is not None:
            image.pack(data=own, data_len=len(own))  # the file's EXIF (GPS…) stays out of the .glb
        geometry = run_photo(photo, backend, options).geometry
        collection = bpy.data.collections.new(photo.name)
        made.append(collection)
        bpy.context.scene.collection.children.link(collection)
        obj = create_object(geometry, name=photo.name, collection=collection,
                            material=material, image=image)
        made.extend([obj, obj.data, *_materials(obj), *(i for i in _images(obj) if i is not image)])
        if target is None or target.is_default:
            export_gltf(out_path, [obj])
        else:
            from .export import write_target

            write_target(geometry, out_path, target, unlit=material == "emission")
        if written is not None:
            written(out_path, geometry)
    except BaseException as exc:
        _discard(made)
        if isinstance(exc, RuntimeError) and not isinstance(exc, BackendError):
            raise Depth3DError(f"{path}: Blender: {_reason(exc)}") from None
        raise
    if not keep:
        _discard(made)
        return None
    return obj


def save_blend(path: str | os.PathLike, objects: list[bpy.types.Object]) -> Path:
    """Write a ``.blend`` holding ``objects`` in their collections (images packed), atomically.

    Only the generated data is written (a scene "depth3d" linking the objects' collections),
    not whatever else the session holds (the startup file's cube, light and camera).
    """
    path = Path(path)
    scene = bpy.data.scenes.new("depth3d")
    try:
        for obj in objects:
            for collection in obj.users_collection:
                if collection.name not in scene.collection.children:
                    scene.collection.children.link(collection)
            for image in _images(obj):
                if image.packed_file is None:
                    image.pack()
        with atomic_path(path) as tmp:
            bpy.data.libraries.write(str(tmp), {scene}, path_remap="NONE", fake_user=False,
                                     compress=True)
    except (RuntimeError, OSError) as exc:  # bpy says a full disk as OSError("Error: No space…")
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _reason(exc)
        raise Depth3DError(f"{quote_path(path)}: cannot save .blend ({reason})") from None
    finally:
        bpy.data.scenes.remove(scene)
    return path


# --------------------------------------------------------------------------- command


def cmd_convert(args: argparse.Namespace) -> int:
    inputs, outputs, fmt = convert_targets(args, FORMATS)
    target, options, _ = convert_settings(args, fmt)
    blend = Path(args.blend) if args.blend else None
    if blend is not None and blend.suffix.lower() != ".blend":
        raise UsageError(f"--blend {blend}: the file name must end in .blend")
    backend = _backends(args, len(inputs))
    if not target.is_default:
        from .export import fallback_note

        note = fallback_note(target, args.geometry == "mesh")
        if note is not None:
            print(f"info: {note}", file=sys.stderr, flush=True)
    kept: list[bpy.types.Object] = []

    def work(path: Path) -> None:
        report = (lambda out, geometry: print(summary(out, geometry), flush=True)) \
            if len(inputs) == 1 and not args.quiet else None
        obj = convert_photo(path, outputs[path], backend(path), options,
                            MATERIALS[args.material], keep=blend is not None, target=target, written=report)
        if obj is not None:
            kept.append(obj)

    status = run_batch(inputs, work)
    if blend is not None and kept:
        save_blend(blend, kept)
    return status


@huge_page_hint_off()
def main(argv: Sequence[str]) -> int:
    """``blender -b -c depth3d ARGS…`` (``argv`` = ARGS): the exit status, never an exception."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
        return run_command(subcommand_parser(parser, args.command), lambda: cmd_convert(args))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def exit_with(status: int) -> None:
    """Leave the process with ``status``.

    In Blender itself, as ``sys.exit`` does.  With ``bpy`` imported as a Python module, its
    exit handlers can deadlock (the "delayed close" thread waits on a lock its own destructor
    holds, e.g. after a model ran in-process), so output is flushed and the process leaves
    at once with ``os._exit``: every file was already written atomically.
    """
    import sys

    if bpy.app.binary_path:  # the Blender program: its own, orderly exit
        sys.exit(status)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


if __name__ == "__main__":  # python -m depth3d.blender.cli convert …  (bpy as a module)
    import sys

    exit_with(main(sys.argv[1:]))
