"""The extension registered in a factory-fresh Blender (the ``bpy`` module), for a whole test module.

    from blender_addon import registered  # noqa: F401  (autouse: the module's tests run registered)
"""
from __future__ import annotations

import bpy
import pytest

import depth3d.blender as addon

__all__ = ["registered"]


@pytest.fixture(scope="module", autouse=True)
def registered():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    yield
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.unregister()
