"""The Blender side of depth3d: the only package that imports ``bpy``.

As an extension, Blender imports the repository root (``bl_ext.<repo>.depth3d``), whose
``register``/``unregister`` are these.  Modules: :mod:`.images` (photos ↔ image datablocks),
:mod:`.build` (geometry → objects, camera, glTF), :mod:`.depth_source` (backends from Blender),
:mod:`.cache` (cached depth, live re-meshing), :mod:`.props`, :mod:`.prefs`, :mod:`.operators`,
:mod:`.panels`, and :mod:`.cli` (``blender -b -c depth3d convert …``).
"""
from __future__ import annotations

import bpy

from . import depth_source, operators, panels, prefs, props

_CLASSES = (*prefs.CLASSES, *operators.CLASSES, *panels.CLASSES)
_cli_handle = None


def _cli(argv) -> int:
    """``blender -c depth3d …``: imported on use, so a broken batch module never blocks the UI."""
    from .cli import main

    return main(argv)


def register() -> None:
    global _cli_handle
    props.register()
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    if hasattr(bpy.utils, "register_cli_command"):
        _cli_handle = bpy.utils.register_cli_command("depth3d", _cli)


def unregister() -> None:
    global _cli_handle
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    prefs.unregister_timers()
    depth_source.shutdown()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
    props.unregister()
