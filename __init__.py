# SPDX-License-Identifier: GPL-3.0-or-later
"""depth3d as a Blender extension: a single photo to a 3D mesh (see depth3d/blender).

Imports are deferred to :func:`register`, so importing this folder as a package (as pytest
does for the repository root) loads neither ``bpy`` nor the add-on.
"""


def register() -> None:
    from .depth3d.blender import register as _register

    _register()


def unregister() -> None:
    from .depth3d.blender import unregister as _unregister

    _unregister()
