"""depth3d: a single photo to 3D.

The core is pure numpy (camera model, depth conversion, geometry, exporters); ``torch`` and
``transformers`` are imported lazily by the backend that needs them, and ``bpy`` only by
:mod:`depth3d.blender`.
"""
__version__ = "0.1.0"
