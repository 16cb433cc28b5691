"""Add-on preferences: which backend, which model, and the one-click backend set-up.

"Set up backend" creates a virtual environment and pip-installs ``depth3d[ml]`` into it
(:func:`depth3d.service.manager.create_backend_venv`) in a thread, showing pip's progress in
the preferences; it needs Blender's "Allow Online Access".  The resulting interpreter becomes
the "Backend Python" that runs the local depth service.
"""
import threading
from pathlib import Path

import bpy
from bpy.props import EnumProperty, StringProperty

from ..backends.hf import DEFAULT_MODEL
from ..backends.spec import ModelOptions
from .option_props import blender_properties

_PACKAGE = __package__ or "depth3d.blender"
ADDON_ID = _PACKAGE[: -len(".depth3d.blender")] if _PACKAGE.endswith(".depth3d.blender") else "depth3d"
"""The add-on's module name: ``bl_ext.<repo>.depth3d`` when installed as an extension."""
EXTENSION_ROOT = Path(__file__).resolve().parent.parent.parent
"""The folder holding the ``depth3d`` package (the extension's folder once installed)."""

BACKEND_ITEMS = [
    ("AUTO", "Automatic", "In Blender's Python if torch is there, else the backend service, else the server"),
    ("TRANSFORMERS", "In Blender", "Run the model in Blender's own Python (needs torch + transformers)"),
    ("SERVICE", "Local Service", "Start the depth service with the Backend Python and use it"),
    ("REMOTE", "Server", "Use a depth service at a URL (`depth3d serve` on another machine)"),
]
DEVICE_ITEMS = [
    ("auto", "Auto", "CUDA, else Apple MPS, else CPU"),
    ("cpu", "CPU", ""),
    ("cuda", "CUDA", "An NVIDIA GPU"),
    ("mps", "MPS", "An Apple GPU"),
]

_setup = {"thread": None, "fraction": 0.0, "message": "", "error": None, "python": None,
          "cancel": None}


def get_prefs(context=None):
    """This add-on's preferences, or ``None`` when not enabled as an add-on (defaults then)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def default_venv_folder() -> Path:
    """Where "Set up backend" puts the venv: the extension's user folder when installed."""
    try:
        return Path(bpy.utils.extension_path_user(ADDON_ID, path="backend-venv", create=True))
    except (ValueError, RuntimeError, AttributeError):  # not installed as an extension
        return Path(bpy.utils.user_resource("SCRIPTS", path="depth3d")) / "backend-venv"


def requirement() -> str:
    """What to pip-install: this very copy of depth3d with its ``ml`` extra when its source is here."""
    if (EXTENSION_ROOT / "pyproject.toml").is_file():
        return f"{EXTENSION_ROOT}[ml]"
    return "depth3d[ml]"


class Depth3DPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    backend: EnumProperty(name="Backend", items=BACKEND_ITEMS, default="AUTO")
    model: StringProperty(name="Model", default=DEFAULT_MODEL,
                          description="Hugging Face model id or a local model folder")
    device: EnumProperty(name="Device", items=DEVICE_ITEMS, default="auto")
    __annotations__.update(blender_properties(ModelOptions, ("dtype",)))  # Precision
    backend_python: StringProperty(name="Backend Python", subtype="FILE_PATH",
                                   description="Python interpreter with depth3d[ml] that runs the local service")
    server_url: StringProperty(name="Server URL", default="",
                               description="Depth service URL, e.g. http://gpu-box:8765")
    token: StringProperty(name="Token", subtype="PASSWORD", description="Bearer token of the server")
    cache_dir: StringProperty(name="Model Cache", subtype="DIR_PATH",
                              description="Hugging Face hub cache folder for the model in Blender (empty: the default)")
    venv_dir: StringProperty(name="Backend Folder", subtype="DIR_PATH",
                             description="Where Set up backend creates its environment "
                                         "(empty: the extension's user folder)")

    def draw(self, context):
        from .depth_source import torch_available

        layout = self.layout
        col = layout.column()
        col.use_property_split = True
        col.prop(self, "backend")
        col.prop(self, "model")
        col.prop(self, "device")
        col.prop(self, "dtype")
        col.prop(self, "cache_dir")
        col.label(text="torch in Blender's Python: " + ("yes" if torch_available() else "no"),
                  icon="CHECKMARK" if torch_available() else "INFO")

        box = layout.box()
        box.label(text="Local backend service")
        col = box.column()
        col.use_property_split = True
        col.prop(self, "backend_python")
        col.prop(self, "venv_dir")
        thread = _setup["thread"]
        if thread is not None and thread.is_alive():
            row = box.row()
            if hasattr(row, "progress"):
                row.progress(factor=_setup["fraction"], type="BAR", text=_setup["message"][-90:])
            else:
                row.label(text=f"{100 * _setup['fraction']:.0f} % {_setup['message'][-80:]}")
            box.operator("depth3d.setup_backend_cancel", icon="CANCEL")
        else:
            row = box.row()
            row.enabled = bpy.app.online_access
            row.operator("depth3d.setup_backend", icon="IMPORT")
            if not bpy.app.online_access:
                box.label(text="Needs Preferences → System → Network → Allow Online Access", icon="ERROR")
            if _setup["error"]:
                box.label(text=_setup["error"].splitlines()[0][:120], icon="ERROR")
        box.operator("depth3d.stop_service", icon="X")

        box = layout.box()
        box.label(text="Remote server")
        col = box.column()
        col.use_property_split = True
        col.prop(self, "server_url")
        col.prop(self, "token")


class DEPTH3D_OT_setup_backend(bpy.types.Operator):
    """Create a Python environment with depth3d[ml] (torch, transformers) for the local service"""

    bl_idname = "depth3d.setup_backend"
    bl_label = "Set up Backend"

    @classmethod
    def poll(cls, context):
        thread = _setup["thread"]
        return bpy.app.online_access and (thread is None or not thread.is_alive())

    def execute(self, context):
        from ..service.manager import create_backend_venv

        prefs = get_prefs(context)
        folder = Path(bpy.path.abspath(prefs.venv_dir)) if prefs and prefs.venv_dir else default_venv_folder()
        cancel = threading.Event()
        _setup.update(fraction=0.0, message="starting", error=None, python=None, cancel=cancel)

        def progress(fraction: float, message: str) -> None:
            _setup["fraction"], _setup["message"] = fraction, message

        def work() -> None:
            try:
                _setup["python"] = str(create_backend_venv(folder, requirement(), progress, cancel=cancel))
            except Exception as exc:  # shown in the preferences
                _setup["error"] = str(exc) or type(exc).__name__

        thread = threading.Thread(target=work, name="depth3d-setup-backend", daemon=True)
        _setup["thread"] = thread
        thread.start()
        bpy.app.timers.register(_poll_setup, first_interval=0.5)
        return {"FINISHED"}


class DEPTH3D_OT_setup_backend_cancel(bpy.types.Operator):
    """Stop the backend set-up"""

    bl_idname = "depth3d.setup_backend_cancel"
    bl_label = "Cancel Set-up"

    def execute(self, context):
        if _setup["cancel"] is not None:
            _setup["cancel"].set()
        return {"FINISHED"}


def _poll_setup() -> float | None:
    """Timer on the main thread: redraw the preferences; store the interpreter when done."""
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "PREFERENCES":
                area.tag_redraw()
    thread = _setup["thread"]
    if thread is not None and thread.is_alive():
        return 0.5
    prefs = get_prefs()
    if _setup["python"] and prefs is not None:
        prefs.backend_python = _setup["python"]
        _setup["python"] = None
    return None


def unregister_timers() -> None:
    if bpy.app.timers.is_registered(_poll_setup):
        bpy.app.timers.unregister(_poll_setup)
    if _setup["cancel"] is not None:
        _setup["cancel"].set()


CLASSES = (Depth3DPreferences, DEPTH3D_OT_setup_backend, DEPTH3D_OT_setup_backend_cancel)
