"""Blender's mesh arrays (``build.mesh_arrays``, ``build.point_radius``) on many geometries, saved
to compare two versions bit for bit (the counterpart of bench/geometry_outputs.py for the
polygons, corners, edges and corner UVs that Blender gets).

    .venv/bin/python bench/mesh_arrays_outputs.py save OUT.npz
    .venv/bin/python bench/geometry_outputs.py compare BEFORE.npz AFTER.npz

Random boxes (with holes, blurred as a model blurs them, tiny) at ``--resolution`` 0, 200, 60
and 12, perspective and relief, each plain, within a triangle budget, uncut and as points;
perspective also with in-fill, with and without a budget.  Run ``save`` with one version's
checkout on PYTHONPATH, then the other's (the real ``bpy`` module imports the Blender package).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def save(out: str) -> None:
    sys.path[:0] = [str(REPO / "tests"), str(REPO / "bench")]
    import bpy  # noqa: F401  (the Blender package needs it)
    from geometry_outputs import boxes
    from test_flying import model_blur

    from depth3d.blender import build
    from depth3d.geometry.reconstruct import Options, reconstruct

    maps = {"boxes": boxes(1, 450, 600, False), "holes": boxes(2, 350, 500, True),
            "blurred": model_blur(boxes(3, 480, 640, False)), "tiny": boxes(4, 40, 50, True)}
    variants = [("plain", {}), ("budget", {"max_triangles": 3000}), ("noedge", {"edge_threshold": 0.0}),
                ("points", {"geometry": "points"})]
    infill = [("infill", {"infill": True}), ("infill_budget", {"infill": True, "max_triangles": 5000})]
    arrays = {}
    for name, depth in maps.items():
        rgb = np.random.default_rng(0).integers(0, 255, depth.shape + (3,), dtype=np.uint8)
        for resolution in (0, 200, 60, 12):
            for projection in ("perspective", "relief"):
                for variant, kw in variants + (infill if projection == "perspective" else []):
                    g = reconstruct(rgb, depth, "depth",
                                    Options(fov=60, resolution=resolution, projection=projection, **kw))
                    key = f"{name}/{resolution}/{projection}/{variant}"
                    if g.faces is None:
                        arrays[f"{key}/radius"] = build.point_radius(g)
                    elif len(g.faces):
                        a = build.mesh_arrays(g)
                        for field in a._fields:
                            arrays[f"{key}/{field}"] = np.asarray(getattr(a, field))
                        print(key, len(g.faces), "faces,", a.n_quads, "quads", flush=True)
    np.savez(out, **arrays)


if __name__ == "__main__":
    if sys.argv[1:2] != ["save"] or len(sys.argv) != 3:
        sys.exit(__doc__)
    save(sys.argv[2])
    sys.stdout.flush()
    os._exit(0)  # bpy as a module can deadlock in its exit handlers
