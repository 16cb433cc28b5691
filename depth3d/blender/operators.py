"""Operators: Generate Depth Mesh (``depth3d.generate_mesh``), Re-mesh, Stop Service.

``depth3d.generate_mesh`` mirrors ``depth3d convert``'s options.  Invoked from the UI it is
modal: depth estimation, the geometry and the mesh's arrays run in a worker thread (which
never touches ``bpy``), a timer polls it, progress shows in the status bar, Esc cancels.
Called from a script or in background mode (``execute``) it runs to completion before
returning; for a photo file with a depth file and a mesh, the geometry is made in a worker
while Blender decodes the photo, and the mesh arrays are written into the mesh the main thread
allocates meanwhile (``DEPTH3D_OT_generate_mesh._overlapped``).
"""
import functools
import math
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper

from .. import errors
from ..backends import BackendError
from ..errors import Depth3DError
from ..geometry.reconstruct import Options
from ..io.image import Photo
from ..memory import huge_page_hint_off
from ..pipeline import STAGES, depth_to_geometry, estimate_depth, run_photo, stage_spans
from . import build, cache, depth_source
from .exif import read_exif_info
from .images import check_image_file, load_image, open_photo, photo_from_image
from .option_props import blender_properties, option_names, option_values
from .prefs import get_prefs
from .props import COMPRESSION_ITEMS, KIND_ITEMS, MATERIAL_ITEMS, SCENE_OPTIONS, TARGET_ITEMS

USER_ERRORS = (Depth3DError, BackendError, OSError, ValueError, MemoryError)


def without_huge_page_hint(method: Callable) -> Callable:
    """An operator's ``method(self, context)`` run inside
    :func:`~depth3d.memory.huge_page_hint_off` (Blender refuses a ``*args`` wrapper: it counts
    a callback's own arguments)."""
    @functools.wraps(method)
    def run(self, context):
        with huge_page_hint_off():
            return method(self, context)
    return run


def user_message(exc: BaseException) -> str:
    """One line for the user (:func:`depth3d.errors.user_message`); unexpected errors also go
    to the console with a traceback."""
    if isinstance(exc, (MemoryError, *USER_ERRORS)):
        return errors.user_message(exc)
    traceback.print_exception(type(exc), exc, exc.__traceback__)
    return errors.user_message(exc if str(exc) else RuntimeError(type(exc).__name__))


def _editor_image(context) -> bpy.types.Image | None:
    """The Image Editor's active image: this editor's, else the first one shown in the window."""
    space = getattr(context, "space_data", None)
    if space is not None and space.type == "IMAGE_EDITOR" and space.image is not None:
        return space.image
    screen = getattr(context, "screen", None)
    for area in screen.areas if screen else ():
        if area.type == "IMAGE_EDITOR" and area.spaces.active.image is not None:
            return area.spaces.active.image
    return None


JOB_STAGES = ("depth", "geometry")  # the pipeline's stages a job runs; Blender reads and builds
STAGE_TIME_S = 10.0  # no stage reports progress of its own: the bar nears a stage's end over this


class Job:
    """One generation: prepared on the main thread (photo read by Blender), :meth:`run` anywhere
    (the pipeline's depth and geometry stages, :func:`~depth3d.pipeline.run_photo`), then
    finished on the main thread (objects built).  Setting :attr:`cancel` stops the run before
    its next stage."""

    def __init__(self, photo, image, created_image, backend, options, result=None):
        self.photo, self.image, self.created_image = photo, image, created_image
        self.backend, self.options = backend, options
        self.result, self.geometry = result, None  # result: the depth, if already read
        self.arrays: dict | None = None  # the mesh's arrays (build.mesh_arrays' fields), made in run
        self.counts = None  # their MeshCounts, known (and `counted` set) before they are written
        self.counted = threading.Event()  # set once the counts are known, or the run ended without
        self.prepared = False  # whether the main thread makes a mesh ready once the counts are known:
        self.mesh: bpy.types.Mesh | None = None  # that mesh,
        self.buffers: dict | None = None  # its arrays, to write into (build.mesh_buffers) or None,
        self.ready = threading.Event()  # set when they are known
        self.make_arrays = True  # in run (off the main thread); False: build.fill_mesh makes them
        self.error: str | None = None
        self.done = threading.Event()
        self.cancel = threading.Event()  # Esc, or Blender closing the window
        self.spans = stage_spans(JOB_STAGES)
        self.stage, self.reached = JOB_STAGES[0], 0.0  # the pipeline's last progress report
        self.started = self.stage_started = time.monotonic()

    def progress(self, stage: str, fraction: float) -> None:
        """The pipeline's progress callback (any thread: it only sets attributes)."""
        self.stage, self.reached, self.stage_started = stage, fraction, time.monotonic()

    def fraction(self) -> float:
        """The part done to show (0…1): the last reported fraction, nearing its stage's end."""
        end = self.spans[self.stage][1]
        elapsed = time.monotonic() - self.stage_started
        return self.reached + (end - self.reached) * (1.0 - math.exp(-elapsed / STAGE_TIME_S))

    @huge_page_hint_off()
    def run(self) -> None:
        """Depth estimation (unless :attr:`result` holds it already), reconstruction and the
        mesh's arrays (NumPy only; safe in a worker thread)."""
        try:
            if self.result is None:
                self.result, self.geometry = run_photo(self.photo, self.backend, self.options,
                                                       progress=self.progress, cancel=self.cancel)
            else:
                self.progress("geometry", 0.0)
                self.geometry = depth_to_geometry(self.photo, self.result, self.options)
            faces = self.geometry.faces
            if faces is not None and len(faces) and self.make_arrays and not self.cancel.is_set():
                arrays = build.mesh_arrays(self.geometry, counts=self._counted)  # NumPy only
                written = self.buffers is not None  # the main thread's mesh_buffers, set meanwhile
                if written:
                    build.write_positions(self.buffers, self.geometry)
                self.arrays = None if written else arrays._asdict()  # views of the mesh: dropped
        except BaseException as exc:  # reported on the main thread (pipeline.Cancelled: not at all)
            self.error = user_message(exc)
        finally:
            self.done.set()
            self.counted.set()

    def _counted(self, counts) -> Callable[[], dict | None] | None:
        """:func:`~depth3d.geometry.polygons.mesh_arrays`' report: where the main thread makes the
        mesh ready (:attr:`prepared`), a function giving its arrays to write into
        (:meth:`_buffers`), else ``None``."""
        self.counts = counts
        self.counted.set()
        return self._buffers if self.prepared else None

    def _buffers(self) -> dict | None:
        """The mesh's arrays to write into, once the main thread has made them (``None``: it
        could not show them, or the job was cancelled meanwhile)."""
        while not self.ready.wait(0.05):
            if self.cancel.is_set():
                return None
        return self.buffers

    def discard(self) -> None:
        """Drop an image this job loaded if nothing uses it, and a mesh it made ready."""
        image, self.image, self.arrays = self.image, None, None
        mesh, self.mesh = self.mesh, None
        if mesh is not None and mesh.users == 0:
            bpy.data.meshes.remove(mesh)
        if self.created_image and image is not None and image.users == 0:
            bpy.data.images.remove(image)


class DEPTH3D_OT_generate_mesh(bpy.types.Operator):
    """Estimate depth for a photo and build a textured mesh or point cloud (and a camera)"""

    bl_idname = "depth3d.generate_mesh"
    bl_label = "Generate Depth Mesh"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="Photo", subtype="FILE_PATH", description="Photo file (else an image)")
    image: StringProperty(name="Image", description="Name of an image datablock to use (else the editor's)")
    depth_filepath: StringProperty(name="Depth File", subtype="FILE_PATH",
                                   description="Precomputed depth map instead of a model")
    depth_kind: EnumProperty(name="Depth Kind", items=KIND_ITEMS, default="depth")
    # every option, unset = the panel's (a bare call) or "decide from the data" (fov 0, scale/shift/near/far)
    __annotations__.update(blender_properties(Options, option_names(Options), auto=True))
    add_camera: BoolProperty(name="Add Camera", default=True)
    material: EnumProperty(name="Material", items=MATERIAL_ITEMS, default="emission")
    pack_image: BoolProperty(name="Pack Photo", default=False)
    backend: EnumProperty(name="Backend", default="PREFERENCES", items=[
        ("PREFERENCES", "Preferences", "The backend chosen in the Depth3D preferences"),
        ("transformers", "In Blender", "The model in Blender's own Python (torch + transformers)"),
        ("service", "Local Service", "The depth service run by the preferences' Backend Python"),
        ("remote", "Server", "A depth service at the server URL"),
    ])
    model: StringProperty(name="Model", description="Model id or folder (empty: the preferences')")
    server: StringProperty(name="Server", description="Depth service URL for the remote backend "
                                                      "(empty: the preferences')")

    _timer = None
    _job = None
    running = False  # class-wide: one modal generation at a time

    @classmethod
    def poll(cls, context):
        return not DEPTH3D_OT_generate_mesh.running

    # ------------------------------------------------------------------ set-up (main thread)

    def _is_set(self, name: str) -> bool:
        return self.properties.is_property_set(name)

    def _options(self) -> Options:
        # near/far on a metric map: its range remapped (Options.resolved)
        return Options(**option_values(self, Options, option_names(Options), given=self._is_set))

    def _source(self, context):
        """(photo, image datablock, whether this run loaded it)."""
        if self.filepath:
            path = Path(bpy.path.abspath(self.filepath))
            existed = {im.name for im in bpy.data.images}
            photo, image = open_photo(path)
            created = image.name not in existed
            if self.pack_image and image.packed_file is None:
                image.pack()
            return photo, image, created
        if self.image:
            image = bpy.data.images.get(self.image)
            if image is None:
                raise Depth3DError(f"no image called {self.image!r}")
        else:
            settings = context.scene.depth3d
            image = settings.image or _editor_image(context)
            if image is None:
                raise Depth3DError("no photo: open one in the Image Editor or choose a file")
        return photo_from_image(image), image, False

    def _backend(self, context):
        overrides = {}
        if self.backend != "PREFERENCES":
            overrides["backend"] = self.backend.upper()
        if self.model:
            overrides["model"] = self.model
        if self.server:
            overrides["server_url"] = self.server
        settings = depth_source.BackendSettings.from_prefs(get_prefs(context), **overrides)
        return depth_source.backend_for(settings, self.depth_filepath or None, self.depth_kind)

    def _prepare(self, context) -> Job:
        options = self._options()
        photo, image, created = self._source(context)
        try:
            backend = self._backend(context)
        except BaseException:
            if created and image.users == 0:
                bpy.data.images.remove(image)
            raise
        return Job(photo, image, created, backend, options)

    def _overlapped(self, context) -> Job | None:
        """:meth:`execute`'s job, run, for a photo file, a depth file and a mesh without in-fill,
        whose pixels nothing reads (the image datablock textures the mesh): the geometry and the
        mesh's arrays are made in a worker thread while Blender decodes the photo here, and the
        pixels are never read back.  ``None`` where that does not apply (points, in-fill, a model,
        an EXIF rotation, an image already edited in Blender, a header that is not what Blender
        decodes) or where a step before the worker fails: :meth:`_prepare`'s path then runs
        instead and reports the first error as it always did (the photo's before the depth's)."""
        options = self._options()
        if not (self.filepath and self.depth_filepath) or options.geometry != "mesh" or options.infill:
            return None
        path = Path(bpy.path.abspath(self.filepath))
        try:
            header = check_image_file(path)
            if header is None:
                return None
            data = path.read_bytes()
            info = read_exif_info(data)
            if info.orientation != 1:
                return None
            width, height = header.width, header.height
            photo = Photo(rgb=np.broadcast_to(np.zeros(3, np.uint8), (height, width, 3)),  # its size only
                          name=path.stem, path=path, data=data, fov_deg=info.fov_deg(width, height))
            backend = self._backend(context)
            result = estimate_depth(photo, backend)  # read here: a reader may import (never in a thread)
        except Exception:
            return None
        job = Job(photo, None, False, backend, options, result=result)
        job.prepared = True
        worker = threading.Thread(target=job.run, name="depth3d-generate", daemon=True)
        worker.start()
        try:
            existed = {im.name for im in bpy.data.images}
            image = load_image(path, check_existing=True)  # Blender decodes meanwhile
            created = image.name not in existed
            if tuple(image.size) != (width, height) or image.is_dirty:
                job.cancel.set()
                if created and image.users == 0:
                    bpy.data.images.remove(image)
                return None
            if self.pack_image and image.packed_file is None:
                image.pack()
            job.image, job.created_image = image, created
            job.counted.wait()  # the geometry is made, and how many polygons its mesh has
            if job.counts is not None:  # room for them, which the worker then writes into
                job.mesh = build.allocate_mesh(bpy.data.meshes.new(job.photo.name), job.counts,
                                               len(job.geometry.vertices))
                job.buffers = build.mesh_buffers(job.mesh)  # None: it makes arrays of its own
                job.ready.set()
                if job.buffers is None:  # else the worker writes them too
                    build.set_vertices_and_polygons(job.mesh, job.geometry, job.counts)  # meanwhile
        except BaseException:
            job.cancel.set()  # the photo's error is the one to report; the rest is dropped
            job.ready.set()
            job.done.wait()
            job.discard()
            raise
        finally:
            job.ready.set()
            worker.join()
            job.buffers = None  # views of the mesh's memory: not kept
        if job.error:
            mesh, job.mesh = job.mesh, None
            if mesh is not None:
                bpy.data.meshes.remove(mesh)
        return job

    def _fill_from_settings(self, context) -> None:
        """Take unset properties from the panel's settings (Scene.depth3d)."""
        s = context.scene.depth3d
        if not self._is_set("filepath") and not self._is_set("image"):
            if s.source == "FILE":
                self.filepath = s.filepath
            elif s.image is not None:
                self.image = s.image.name
            else:
                image = _editor_image(context)
                if image is not None:
                    self.image = image.name
        if not self._is_set("depth_filepath") and s.use_depth_file:
            self.depth_filepath = s.depth_filepath
            self.depth_kind = s.depth_kind
        optional = ("fov", "scale", "shift", "near", "far")  # given by use_auto_fov and range_mode
        for name in (*(n for n in SCENE_OPTIONS if n not in optional), "material", "add_camera", "pack_image"):
            if not self._is_set(name):
                setattr(self, name, getattr(s, name))
        if not self._is_set("fov"):
            self.fov = 0.0 if s.use_auto_fov else s.fov  # both radians; 0: the model's, EXIF, else 55°
        if not any(self._is_set(n) for n in ("scale", "shift", "near", "far")):
            if s.range_mode == "SCALE_SHIFT":
                self.scale, self.shift = s.scale, s.shift
            elif s.range_mode == "NEAR_FAR":
                self.near, self.far = s.near, s.far

    # ------------------------------------------------------------------ result (main thread)

    @huge_page_hint_off()
    def _finish(self, context, job: Job) -> set[str]:
        if job.error:
            job.discard()
            self.report({"ERROR"}, job.error)
            return {"CANCELLED"}
        geometry, image = job.geometry, job.image
        made = []
        try:
            collection = context.collection or context.scene.collection
            if image is not None and job.photo.orientation != 1:
                # Blender shows the file unrotated: texture from the upright pixels instead.
                job.discard()
                image = job.image = build.image_from_rgb(job.photo.rgb, job.photo.name)
            arrays, job.arrays = job.arrays, None  # emptied as Blender takes them (build.fill_mesh)
            mesh, job.mesh = job.mesh, None
            try:
                obj = build.create_object(geometry, name=job.photo.name, collection=collection,
                                          material=self.material, image=image, arrays=arrays, mesh=mesh)
            except BaseException:
                if mesh is not None and mesh.users == 0:
                    bpy.data.meshes.remove(mesh)
                raise
            made.append(obj)
            camera = None
            if self.add_camera:
                camera = build.add_camera(geometry, name=f"{obj.name} Camera", photo_image=image,
                                          collection=collection)
                made.append(camera)
            cache.store(obj, job.result, job.photo, geometry, job.options, image=image,
                        camera=camera, material=self.material)
        except Exception as exc:  # never a traceback in the user's face
            for o in made:
                data = o.data
                bpy.data.objects.remove(o)
                if data is not None and data.users == 0:
                    bpy.data.batch_remove([data, *getattr(data, "materials", ())])
            job.discard()
            self.report({"ERROR"}, user_message(exc))
            return {"CANCELLED"}
        view_layer = context.view_layer
        for o in view_layer.objects:
            if o.select_get():
                o.select_set(False)
        if obj.name in view_layer.objects:
            obj.select_set(True)
            view_layer.objects.active = obj
        n = len(geometry.vertices)
        what = f"{len(geometry.faces)} triangles" if geometry.faces is not None else f"{n} points"
        self.report({"INFO"}, f"{obj.name}: {what} in {time.monotonic() - job.started:.1f} s")
        return {"FINISHED"}

    # ------------------------------------------------------------------ entry points

    @without_huge_page_hint
    def execute(self, context):
        if not any(self._is_set(name) for name in self.properties.bl_rna.properties.keys()
                   if name != "rna_type"):
            self._fill_from_settings(context)  # a bare call is a press of the panel's button
        try:
            job = self._overlapped(context)
            if job is None:
                job = self._prepare(context)
                job.make_arrays = False  # all on this thread: fill_mesh writes them into the mesh
                job.run()
        except Exception as exc:
            self.report({"ERROR"}, user_message(exc))
            return {"CANCELLED"}
        return self._finish(context, job)

    def invoke(self, context, event):
        self._fill_from_settings(context)
        if bpy.app.background:
            return self.execute(context)
        try:
            with huge_page_hint_off():  # invoke has 3 arguments: without_huge_page_hint fits 2
                job = self._prepare(context)
        except Exception as exc:
            self.report({"ERROR"}, user_message(exc))
            return {"CANCELLED"}
        self._job = job
        DEPTH3D_OT_generate_mesh.running = True
        threading.Thread(target=job.run, name="depth3d-generate", daemon=True).start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        self._status(context, job)
        return {"RUNNING_MODAL"}

    def _status(self, context, job: Job) -> None:
        elapsed = time.monotonic() - job.started
        what = getattr(job.backend, "model", None) or job.backend.name
        text = f"Depth3D: {STAGES[job.stage].label} ({Path(str(what)).name}) {elapsed:.0f} s — Esc to cancel"
        if context.workspace is not None:
            context.workspace.status_text_set(text)
        context.window_manager.progress_update(int(100 * job.fraction()))

    def _end_modal(self, context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        DEPTH3D_OT_generate_mesh.running = False

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel.set()  # the worker stops before its next stage; its result is dropped
            self._end_modal(context)
            job.discard()
            self.report({"WARNING"}, "Depth3D: cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if not job.done.is_set():
            self._status(context, job)
            return {"RUNNING_MODAL"}
        self._end_modal(context)
        return self._finish(context, job)

    def cancel(self, context):  # Blender is closing the window / file
        if self._job is not None:
            self._job.cancel.set()
        self._end_modal(context)


class DEPTH3D_OT_remesh(bpy.types.Operator):
    """Rebuild the active object's geometry from its cached depth (no model run)"""

    bl_idname = "depth3d.remesh"
    bl_label = "Re-mesh"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return cache.has_cache(context.active_object)

    @without_huge_page_hint
    def execute(self, context):
        obj = context.active_object
        started = time.perf_counter()
        try:
            geometry = cache.remesh(obj)
        except Exception as exc:
            self.report({"ERROR"}, user_message(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"{obj.name}: {len(geometry.vertices)} vertices in "
                              f"{1000 * (time.perf_counter() - started):.0f} ms")
        return {"FINISHED"}


class DEPTH3D_OT_export_target(bpy.types.Operator, ExportHelper):
    """Write the active generated object as .glb for VR or AR: within the target's triangle and
    texture budget, quantized and compressed (rebuilt from its cached depth; no model run)"""

    bl_idname = "depth3d.export_target"
    bl_label = "Export for VR/AR"
    bl_options = {"REGISTER"}

    filename_ext = ".glb"
    filter_glob: StringProperty(default="*.glb;*.gltf", options={"HIDDEN"})
    target: EnumProperty(name="Target", items=TARGET_ITEMS, default="vr")
    compression: EnumProperty(name="Compression", items=COMPRESSION_ITEMS, default="TARGET")

    @classmethod
    def poll(cls, context):
        return cache.has_cache(context.active_object)

    def invoke(self, context, event):
        if not self.filepath:  # the file browser starts at "<object>_<target>.glb" beside the .blend
            folder = Path(bpy.data.filepath).parent if bpy.data.filepath else Path.home()
            self.filepath = str(folder / f"{bpy.path.clean_name(context.active_object.name)}_{self.target}.glb")
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    @without_huge_page_hint
    def execute(self, context):
        from ..targets import resolve_target
        from .export import export_object, fallback_note

        obj = context.active_object
        started = time.perf_counter()
        try:
            target = resolve_target(self.target, compression=None if self.compression == "TARGET"
                                    else self.compression)
            path = export_object(obj, bpy.path.abspath(self.filepath), target)
        except Exception as exc:
            self.report({"ERROR"}, user_message(exc))
            return {"CANCELLED"}
        note = fallback_note(target, obj.depth3d.geometry == "mesh")
        self.report({"INFO"}, f"{obj.name}: {path.name} ({path.stat().st_size / 1e6:.2f} MB, "
                              f"{self.target}) in {time.perf_counter() - started:.1f} s"
                              + (f"; {note}" if note else ""))
        return {"FINISHED"}


class DEPTH3D_OT_stop_service(bpy.types.Operator):
    """Stop the local depth backend service started by Depth3D"""

    bl_idname = "depth3d.stop_service"
    bl_label = "Stop Backend Service"

    def execute(self, context):
        depth_source.shutdown()
        return {"FINISHED"}


CLASSES = (DEPTH3D_OT_generate_mesh, DEPTH3D_OT_remesh, DEPTH3D_OT_export_target, DEPTH3D_OT_stop_service)
