"""The extension package: Blender's own tool validates and builds it; the zip installs and
enables in a clean user folder (a fresh Blender process via the ``bpy`` module), registers its
panels and operator, works from inside ``bl_ext.user_default.depth3d`` without Pillow, torch or
trimesh, and unregisters cleanly.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
PANELS = ("DEPTH3D_PT_generate_view3d", "DEPTH3D_PT_generate_image", "DEPTH3D_PT_object")


def _blender_ext() -> Path:
    spec = importlib.util.find_spec("bpy")
    if spec is None:
        pytest.skip("the bpy module is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(root.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    assert found, f"blender_ext.py not found under {root}"
    return found[-1]


def _run(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=REPO)


def test_manifest_validates():
    result = _run(str(_blender_ext()), "validate", str(REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ext_build")
    result = _run(str(_blender_ext()), "build", "--source-dir", str(REPO), "--output-dir", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    zips = list(out.glob("depth3d-*.zip"))
    assert len(zips) == 1, list(out.iterdir())
    return zips[0]


def test_zip_contents(built_zip):
    names = set(zipfile.ZipFile(built_zip).namelist())
    for needed in ("blender_manifest.toml", "__init__.py", "depth3d/__init__.py",
                   "depth3d/geometry/reconstruct.py", "depth3d/blender/__init__.py",
                   "depth3d/blender/operators.py", "depth3d/service/manager.py", "LICENSE"):
        assert needed in names
    for name in names:
        top = name.split("/")[0]
        assert top not in {"tests", "bench", "docs", "samples", ".venv", ".git", "node_modules"}, name
        assert "__pycache__" not in name and not name.endswith(".pyc") and ".egg-info" not in name, name
    assert not any(n.endswith((".so", ".pyd", ".whl")) for n in names)  # pure Python only


INSTALL_SCRIPT = textwrap.dedent('''
    import json, sys
    import bpy
    zip_path, photo, depth, depth_exr = sys.argv[1:5]
    out = {}
    result = bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True)
    out["install"] = sorted(result)
    module = "bl_ext.user_default.depth3d"
    out["enabled"] = module in bpy.context.preferences.addons
    out["panels"] = [name for name in %r if hasattr(bpy.types, name)]
    out["operator"] = hasattr(bpy.types, "DEPTH3D_OT_generate_mesh")
    out["core"] = module + ".depth3d.geometry.reconstruct" in sys.modules
    prefs = bpy.context.preferences.addons[module].preferences
    out["prefs"] = [prefs.backend, prefs.model]
    out["heavy"] = [m for m in ("torch", "transformers", "PIL", "trimesh", "OpenEXR", "scipy")
                    if m in sys.modules]
    bpy.ops.wm.read_homefile(use_empty=True)  # as a user starting a new file
    out["enabled_after_new_file"] = module in bpy.context.preferences.addons
    out["generate"] = sorted(bpy.ops.depth3d.generate_mesh(
        filepath=photo, depth_filepath=depth, resolution=0, edge_threshold=0))
    obj = bpy.context.active_object
    out["object"] = [obj.type, len(obj.data.vertices), obj.depth3d.is_generated]
    out["generate_module"] = type(obj.depth3d).__module__
    out["heavy_after_generate"] = [m for m in ("torch", "transformers", "PIL", "trimesh", "OpenEXR")
                                   if m in sys.modules]
    sys.modules["OpenEXR"] = sys.modules["PIL"] = None  # as in a stock Blender
    out["generate_exr"] = sorted(bpy.ops.depth3d.generate_mesh(
        filepath=photo, depth_filepath=depth_exr, resolution=0, edge_threshold=0, add_camera=False))
    obj = bpy.context.active_object
    out["exr_object"] = [len(obj.data.vertices), float(min(v.co.z for v in obj.data.vertices))]
    import addon_utils
    addon_utils.disable(module)
    out["after_disable"] = [hasattr(bpy.types, "DEPTH3D_OT_generate_mesh"),
                            hasattr(bpy.types.Object, "depth3d")]
    print("RESULT " + json.dumps(out))
''' % (PANELS,))


def test_install_and_enable_in_clean_user_folder(built_zip, tmp_path):
    from PIL import Image

    from depth3d.io.depth_io import write_depth_exr

    rgb = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    depth = np.full((12, 16), 3.0, np.float32)
    depth[3:8, 4:10] = 2.0
    np.save(tmp_path / "photo.npy", depth)
    write_depth_exr(tmp_path / "photo.exr", depth)
    script = tmp_path / "install.py"
    script.write_text(INSTALL_SCRIPT)
    user = tmp_path / "blender_user"
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user))
    result = _run(str(script), str(built_zip), str(tmp_path / "photo.png"), str(tmp_path / "photo.npy"),
                  str(tmp_path / "photo.exr"), env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stdout[-3000:] + result.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["install"] == ["FINISHED"]
    assert out["enabled"] and out["enabled_after_new_file"]
    assert out["panels"] == list(PANELS)
    assert out["operator"] and out["core"]
    assert out["prefs"][0] == "AUTO" and out["prefs"][1]
    assert out["heavy"] == [] and out["heavy_after_generate"] == []
    assert out["generate"] == ["FINISHED"]
    assert out["object"] == ["MESH", 16 * 12, True]
    assert out["generate_module"].startswith("bl_ext.user_default.depth3d.depth3d.blender")
    assert out["generate_exr"] == ["FINISHED"]
    assert out["exr_object"] == [16 * 12, pytest.approx(-3.0)]  # the plane at 3 m, read without OpenEXR
    assert out["after_disable"] == [False, False]
    installed = user / "extensions" / "user_default" / "depth3d"
    assert (installed / "blender_manifest.toml").is_file()
    assert not (installed / "tests").exists()


SERVICE_SCRIPT = textwrap.dedent('''
    import json, os, sys
    sys.modules["torch"] = None  # in-process torch made unavailable in "Blender's Python"
    sys.modules["transformers"] = None
    import bpy, addon_utils
    zip_path, photo, model, python = sys.argv[1:5]
    out = {}
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    module = "bl_ext.user_default.depth3d"
    prefs = bpy.context.preferences.addons[module].preferences
    prefs.backend_python, prefs.model, prefs.device = python, model, "cpu"
    source = sys.modules[module + ".depth3d.blender.depth_source"]
    out["torch_available"] = source.torch_available()
    out["generate"] = sorted(bpy.ops.depth3d.generate_mesh(
        filepath=photo, resolution=0, edge_threshold=0, add_camera=False))
    obj = bpy.context.active_object
    out["object"] = [obj.type, len(obj.data.vertices), obj.depth3d.kind, obj.depth3d.model]
    service = source._service
    pid = service.process.pid
    out["running"] = service.running
    out["generate_again"] = sorted(bpy.ops.depth3d.generate_mesh(filepath=photo, resolution=8, add_camera=False))
    out["same_process"] = source._service is service and service.process.pid == pid
    addon_utils.disable(module)
    try:
        os.kill(pid, 0)
        out["alive_after_disable"] = True
    except ProcessLookupError:
        out["alive_after_disable"] = False
    out["torch_loaded_here"] = sys.modules.get("torch") is not None
    print("RESULT " + json.dumps(out))
''')


def test_generate_through_a_local_service_it_started(built_zip, tmp_path):
    """Without torch in Blender's Python, AUTO starts the backend service from the configured
    Backend Python, reuses it for the next run, and stops it when the add-on is disabled."""
    from PIL import Image

    model = tmp_path / "tiny"
    made = _run("-c", f"import sys; sys.path.insert(0, {str(REPO / 'tests')!r}); "
                f"from tiny_models import save_tiny_depth_anything as s; s({str(model)!r})")
    assert made.returncode == 0, made.stderr[-2000:]
    rgb = np.random.default_rng(1).integers(0, 256, (21, 28, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=95)
    script = tmp_path / "service.py"
    script.write_text(SERVICE_SCRIPT)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"), HF_HUB_OFFLINE="1")
    result = _run(str(script), str(built_zip), str(tmp_path / "photo.jpg"), str(model), sys.executable,
                  env=env, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stdout[-3000:] + result.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["torch_available"] is False and out["torch_loaded_here"] is False
    assert out["generate"] == ["FINISHED"] and out["generate_again"] == ["FINISHED"]
    assert out["object"][:3] == ["MESH", 28 * 21, "disparity"]
    assert out["running"] and out["same_process"]
    assert out["alive_after_disable"] is False
