"""Render the README's pictures headless with Blender (the bpy module): a real run, no mock-up.

    .venv/bin/python docs/images/render_screenshot.py [PHOTO DEPTH [FOV]]

PHOTO and DEPTH default to the first of ``samples/photos`` with its map in ``samples/depth``;
without samples, the "room" scene of ``tests/scenes.py`` is rendered by Cycles as the photo
(with its exact Z pass as the depth map).  Then, in an empty Blender scene with the extension's
classes registered, ``bpy.ops.depth3d.generate_mesh`` builds the depth mesh and camera
exactly as the panel's button does, and Workbench renders:

* ``depth_mesh.png``: the generated mesh seen from above and to the side (the photo's depth
  made visible; occlusion gaps where the edge rule cut the mesh);
* ``through_camera.png``: the view through the generated camera — the photo again, as the
  camera model promises.

The panel itself cannot be pictured this way: the bpy module has no window (background mode;
``bpy.ops.screen.screenshot`` fails its poll and UI drawing needs a GHOST window), so the
README shows the scene the panel produces instead.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
SIZE = (720, 405)  # README width; PNGs stay under 300 KB


def sample_inputs(tmp: Path) -> tuple[Path, Path, float | None]:
    """(photo, depth, FOV or None) from samples/, else a Cycles render of tests/scenes.py's room."""
    photos = sorted((REPO / "samples" / "photos").glob("*")) if (REPO / "samples" / "photos").is_dir() else []
    for photo in photos:
        for depth in sorted((REPO / "samples" / "depth").glob(f"{photo.stem}.*")):
            return photo, depth, None
    sys.path.insert(0, str(REPO / "tests"))
    from scenes import render

    import bpy

    shot = render("room", 1.0, 960, 720, samples=32, pixel_filter=1.5)
    photo, depth = tmp / "room.png", tmp / "room.npy"
    image = bpy.data.images.new("room", 960, 720, alpha=False)
    rgba = np.ones((720, 960, 4), np.float32)
    rgba[:, :, :3] = shot["rgb"][::-1] / 255.0
    image.pixels.foreach_set(rgba.ravel())
    image.filepath_raw, image.file_format = str(photo), "PNG"
    image.save()
    np.save(depth, shot["depth"])
    return photo, depth, shot["fov"]


def look_at(obj, target) -> None:
    from mathutils import Vector

    direction = Vector(target) - obj.location
    obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


def workbench(scene, path: Path, camera, size: tuple[int, int], light: str) -> None:
    """Render ``scene`` through ``camera`` with Workbench (photo texture, ``light`` STUDIO/FLAT)."""
    import bpy

    scene.camera = camera
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = False
    shading = scene.display.shading
    shading.light = light
    shading.color_type = "TEXTURE"
    shading.show_cavity = False
    if scene.world is None:  # Workbench renders show the world colour behind the mesh
        scene.world = bpy.data.worlds.new("backdrop")
    scene.world.color = (0.05, 0.05, 0.06)
    scene.display.render_aa = "8"
    scene.view_settings.view_transform = "Standard"
    settings = scene.render.image_settings
    settings.file_format, settings.color_mode, settings.compression = "PNG", "RGB", 100
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)


def main(argv: list[str]) -> None:
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="blender_user_"))
    import bpy

    import depth3d.blender as extension

    with tempfile.TemporaryDirectory() as tmp:
        if argv:
            photo, depth, fov = Path(argv[0]), Path(argv[1]), float(argv[2]) if len(argv) > 2 else None
        else:
            photo, depth, fov = sample_inputs(Path(tmp))
        bpy.ops.wm.read_factory_settings(use_empty=True)
        extension.register()
        try:
            result = bpy.ops.depth3d.generate_mesh(
                filepath=str(photo), depth_filepath=str(depth), add_camera=True, **({"fov": math.radians(fov)} if fov else {})  # the operator's FOV is an angle: radians
            )
            assert result == {"FINISHED"}, result
            scene = bpy.context.scene
            mesh = next(o for o in scene.objects if o.type == "MESH")
            photo_camera = scene.camera
            photo_w, photo_h = scene.render.resolution_x, scene.render.resolution_y  # set by add_camera
            bpy.context.view_layer.update()
            co = np.empty(3 * len(mesh.data.vertices), np.float32)
            mesh.data.vertices.foreach_get("co", co)
            m = np.array(mesh.matrix_world)
            corners = co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]
            lo, hi = np.percentile(corners, 2, axis=0), np.percentile(corners, 98, axis=0)
            centre = (lo + hi) / 2
            extent = float(np.max(hi - lo))

            cam = bpy.data.objects.new("view", bpy.data.cameras.new("view"))
            scene.collection.objects.link(cam)
            cam.data.lens = 30
            cam.data.clip_end = 10 * extent
            cam.location = (centre[0] + 0.75 * extent, lo[1] - 0.55 * extent, centre[2] + 0.55 * extent)
            look_at(cam, (centre[0], centre[1] + 0.05 * extent, centre[2] - 0.1 * extent))
            workbench(scene, HERE / "depth_mesh.png", cam, SIZE, "STUDIO")
            through = (round(360 * photo_w / photo_h), 360)  # the photo's aspect
            workbench(scene, HERE / "through_camera.png", photo_camera, through, "FLAT")
        finally:
            extension.unregister()  # a command left registered would crash the bpy module at exit
    for name in ("depth_mesh.png", "through_camera.png"):
        print(f"{HERE / name}: {(HERE / name).stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main(sys.argv[1:])
