"""Ground-truth scenes rendered with the real ``bpy`` module (Cycles, CPU).

Each scene is built in metres and can be scaled as a whole (objects, camera position, clip
distances), so the same picture exists for a model at 30 cm, a room at 3 m and a valley at 3 km.
The Cycles Z pass is planar depth along the camera axis; with a pixel filter of 0.01 px every
camera ray passes through its pixel centre, so ``depth[row, col]`` is the exact planar depth of
the surface seen at the centre of pixel (col, row) — the convention of :mod:`depth3d.geometry.camera`.

``render(scene, scale, width, height)`` runs in the calling process (it resets Blender's
state); tests call it in a subprocess, ``python tests/scenes.py OUT_DIR room:1 ...``, so that
``bpy`` never shares a process with other tests.  Output per scene: ``<scene>_<scale>.npz``
with ``rgb`` (H, W, 3) uint8 sRGB, ``depth`` (H, W) float32 metres, ``inf`` where the ray
escapes to the sky, and ``fov`` (horizontal FOV, degrees).
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

SKY_Z = 1e9  # Cycles writes 1e10 for rays that hit nothing
# Horizontal FOV of a 4:3 frame with a whole-mm 35 mm-equivalent focal length (30, 37, 48 mm),
# so that EXIF FocalLengthIn35mmFilm describes the render camera exactly.
FOV_DEG = {"room": 59.96028, "outdoor": 50.13542, "tabletop": 39.65406,
           "stage": 40.0}  # stage: a portrait frame (9:16)
SCENES = tuple(FOV_DEG)


# --------------------------------------------------------------------------- building


def _material(name: str, color, texture: str | None = None, tex_scale: float = 4.0,
              roughness: float = 0.6):
    """A Principled BSDF of ``color`` (linear RGB), optionally modulated by a procedural texture.

    Textures use generated coordinates (0..1 over each object), so they scale with the scene.
    """
    import bpy

    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = roughness
    rgba = (*color, 1.0)
    if texture is None:
        bsdf.inputs["Base Color"].default_value = rgba
        return mat
    coord = nodes.new("ShaderNodeTexCoord")
    if texture == "checker":
        tex = nodes.new("ShaderNodeTexChecker")
        tex.inputs["Scale"].default_value = tex_scale
        tex.inputs["Color1"].default_value = rgba
        tex.inputs["Color2"].default_value = tuple(c * 0.45 for c in color) + (1.0,)
        links.new(coord.outputs["Generated"], tex.inputs["Vector"])
        links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        return mat
    if texture == "brick":
        tex = nodes.new("ShaderNodeTexBrick")
        tex.inputs["Scale"].default_value = tex_scale
        tex.inputs["Color1"].default_value = rgba
        tex.inputs["Color2"].default_value = tuple(c * 0.7 for c in color) + (1.0,)
        tex.inputs["Mortar"].default_value = (0.8, 0.8, 0.78, 1.0)
        links.new(coord.outputs["Generated"], tex.inputs["Vector"])
        links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        return mat
    # "noise": mottled colour (grass, rock, wood)
    tex = nodes.new("ShaderNodeTexNoise")
    tex.inputs["Scale"].default_value = tex_scale
    tex.inputs["Detail"].default_value = 6.0
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = tuple(c * 0.55 for c in color) + (1.0,)
    ramp.color_ramp.elements[1].color = tuple(min(1.0, c * 1.3) for c in color) + (1.0,)
    links.new(coord.outputs["Generated"], tex.inputs["Vector"])
    links.new(tex.outputs["Fac"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def _add(kind: str, s: float, mat, location, rotation=(0.0, 0.0, 0.0), **size):
    """Add a primitive (``cube``/``sphere``/``cylinder``/``cone``/``plane``/``torus``) scaled by ``s``."""
    import bpy

    loc = tuple(v * s for v in location)
    rot = tuple(math.radians(a) for a in rotation)
    ops = bpy.ops.mesh
    if kind == "cube":
        ops.primitive_cube_add(size=1.0, location=loc, rotation=rot)
        bpy.context.object.scale = tuple(v * s for v in size["dims"])
    elif kind == "plane":
        ops.primitive_plane_add(size=1.0, location=loc, rotation=rot)
        bpy.context.object.scale = (size["dims"][0] * s, size["dims"][1] * s, 1.0)
    elif kind == "sphere":
        ops.primitive_uv_sphere_add(radius=size["radius"] * s, location=loc, rotation=rot,
                                    segments=64, ring_count=32)
        bpy.ops.object.shade_smooth()
    elif kind == "cylinder":
        ops.primitive_cylinder_add(radius=size["radius"] * s, depth=size["height"] * s,
                                   location=loc, rotation=rot, vertices=48)
    elif kind == "cone":
        ops.primitive_cone_add(radius1=size["radius"] * s, depth=size["height"] * s,
                               location=loc, rotation=rot, vertices=48)
    elif kind == "torus":
        ops.primitive_torus_add(major_radius=size["major"] * s, minor_radius=size["minor"] * s,
                                location=loc, rotation=rot, major_segments=64, minor_segments=24)
        bpy.ops.object.shade_smooth()
    else:
        raise ValueError(kind)
    obj = bpy.context.object
    obj.data.materials.append(mat)
    return obj


EYE = (0.0, 0.0, 0.0)  # eye offset in the camera's own frame (+X right, +Y up, −Z forward), metres


def _camera(s: float, location, rotation_deg, fov_deg: float):
    import bpy
    from mathutils import Euler, Vector

    cam = bpy.data.cameras.new("Camera")
    cam.sensor_fit = "HORIZONTAL"
    cam.angle = math.radians(fov_deg)
    cam.clip_start = 0.01 * s
    cam.clip_end = 1e5 * s
    obj = bpy.data.objects.new("Camera", cam)
    bpy.context.scene.collection.objects.link(obj)
    obj.location = tuple(v * s for v in location)
    obj.rotation_euler = tuple(math.radians(a) for a in rotation_deg)
    # a moved eye: the same camera shifted in its own frame (unscaled: a head moves in metres)
    obj.location = Vector(obj.location) + Euler(obj.rotation_euler).to_matrix() @ Vector(EYE)
    bpy.context.scene.camera = obj


def _sun(rotation_deg, strength=3.0):
    import bpy

    light = bpy.data.lights.new("Sun", "SUN")
    light.energy = strength
    light.angle = math.radians(3.0)
    obj = bpy.data.objects.new("Sun", light)
    bpy.context.scene.collection.objects.link(obj)
    obj.rotation_euler = tuple(math.radians(a) for a in rotation_deg)


def _world(color, strength=1.0):
    import bpy

    world = bpy.data.worlds.new("World")
    world.use_nodes = True
    bg = world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = (*color, 1.0)
    bg.inputs["Strength"].default_value = strength
    bpy.context.scene.world = world


def build_room(s: float, fov: float) -> None:
    """A room 6 m × 7 m: floor, back and side walls, boxes, spheres, a thin pole, a ring."""
    floor = _material("floor", (0.55, 0.38, 0.22), "checker", 12.0)
    wall = _material("wall", (0.75, 0.72, 0.65), "brick", 3.0)
    side = _material("side", (0.45, 0.55, 0.7), None)
    red = _material("red", (0.7, 0.08, 0.05), "noise", 4.0)
    blue = _material("blue", (0.05, 0.15, 0.6), None, roughness=0.3)
    gold = _material("gold", (0.8, 0.6, 0.1), None, roughness=0.3)
    green = _material("green", (0.1, 0.5, 0.15), "noise", 4.0)
    metal = _material("metal", (0.3, 0.3, 0.32), None)
    _add("plane", s, floor, (0, 2.5, 0), dims=(6, 7))
    _add("plane", s, wall, (0, 6, 2), (90, 0, 0), dims=(6, 4))
    _add("plane", s, side, (-3, 2.5, 2), (90, 0, 90), dims=(7, 4))
    _add("plane", s, side, (3, 2.5, 2), (90, 0, 90), dims=(7, 4))
    _add("cube", s, red, (-1.3, 3.2, 0.45), (0, 0, 25), dims=(0.9, 0.9, 0.9))
    _add("cube", s, green, (1.6, 4.6, 0.8), (0, 0, -10), dims=(1.0, 0.6, 1.6))
    _add("sphere", s, blue, (0.7, 1.9, 0.35), radius=0.35)
    _add("sphere", s, gold, (-1.3, 3.2, 1.15), radius=0.25)
    _add("cylinder", s, metal, (0.05, 3.6, 1.25), radius=0.025, height=2.5)
    _add("torus", s, gold, (-0.2, 5.2, 1.4), (80, 0, 10), major=0.4, minor=0.06)
    _camera(s, (0.0, -0.6, 1.5), (78, 0, 0), fov)
    _sun((50, 10, 30), 4.0)
    _world((0.6, 0.6, 0.6), 0.6)


def build_outdoor(s: float, fov: float) -> None:
    """Open ground up to a line of hills 150–200 m away, a house, trees and rocks, under the sky."""
    grass = _material("grass", (0.18, 0.4, 0.08), "noise", 2000.0)
    house = _material("house", (0.75, 0.6, 0.45), "brick", 3.0)
    roof = _material("roof", (0.45, 0.1, 0.07), None)
    bark = _material("bark", (0.25, 0.15, 0.08), None)
    leaves = _material("leaves", (0.08, 0.3, 0.07), "noise", 6.0)
    rock = _material("rock", (0.4, 0.38, 0.36), "noise", 5.0)
    hill = _material("hill", (0.2, 0.33, 0.12), "noise", 8.0)
    _add("plane", s, grass, (0, 200, 0), dims=(800, 400))
    _add("cube", s, house, (4.0, 18.0, 2.0), (0, 0, 20), dims=(6, 5, 4))
    _add("cone", s, roof, (4.0, 18.0, 5.5), (0, 0, 65), radius=4.6, height=3.0)
    for x, y, h in ((-3.5, 9.0, 5.0), (-9.0, 30.0, 7.0), (12.0, 45.0, 9.0), (-20, 70, 10)):
        _add("cylinder", s, bark, (x, y, h * 0.2), radius=0.12 * h / 5, height=h * 0.4)
        _add("cone", s, leaves, (x, y, h * 0.65), radius=h * 0.28, height=h * 0.7)
    _add("sphere", s, rock, (1.2, 5.0, 0.1), radius=0.55)
    _add("sphere", s, rock, (-1.5, 14.0, 0.3), radius=1.0)
    _add("sphere", s, hill, (-70, 190, -55), radius=80)
    _add("sphere", s, hill, (60, 230, -70), radius=100)
    _add("sphere", s, hill, (170, 200, -60), radius=85)
    _add("sphere", s, hill, (-5, 280, -95), radius=130)
    _camera(s, (0.0, -2.0, 1.6), (86, 0, 0), fov)
    _sun((40, 0, 140), 4.0)
    _world((0.45, 0.65, 1.0), 1.0)


def build_tabletop(s: float, fov: float) -> None:
    """A still life about 30 cm from the camera: fruit, a mug and a book on a tabletop."""
    table = _material("table", (0.5, 0.32, 0.18), "noise", 10.0)
    cloth = _material("cloth", (0.8, 0.78, 0.7), "checker", 10.0)
    apple = _material("apple", (0.7, 0.05, 0.03), "noise", 3.0, roughness=0.35)
    orange = _material("orange", (0.9, 0.35, 0.02), "noise", 20.0, roughness=0.5)
    mug = _material("mug", (0.1, 0.3, 0.65), None, roughness=0.25)
    book = _material("book", (0.15, 0.45, 0.25), None)
    _add("plane", s, table, (0, 0.3, 0), dims=(1.2, 1.0))
    _add("plane", s, cloth, (0, 0.5, 0.2), (90, 0, 0), dims=(1.2, 0.5))
    _add("sphere", s, apple, (-0.06, 0.26, 0.035), radius=0.035)
    _add("sphere", s, orange, (0.05, 0.33, 0.04), radius=0.04)
    _add("cylinder", s, mug, (-0.12, 0.38, 0.05), radius=0.04, height=0.1)
    _add("cube", s, book, (0.1, 0.42, 0.015), (0, 0, -15), dims=(0.15, 0.21, 0.03))
    _camera(s, (0.0, -0.14, 0.24), (58, 0, 0), fov)
    _sun((35, 0, 200), 3.0)
    _world((0.7, 0.7, 0.7), 0.8)


def build_stage(s: float, fov: float) -> None:
    """A portrait view of a brick wall 3 m away: a thin pole 1.6 m in front of it, a large box
    cut by the left frame edge, a ball on the floor near the bottom edge (for moved eyes)."""
    floor = _material("floor", (0.5, 0.4, 0.3), "checker", 10.0)
    wall = _material("wall", (0.7, 0.45, 0.35), "brick", 4.0)
    metal = _material("metal", (0.85, 0.85, 0.9), None, roughness=0.4)
    box = _material("box", (0.1, 0.35, 0.6), "noise", 5.0)
    ball = _material("ball", (0.9, 0.7, 0.1), "noise", 3.0, roughness=0.35)
    _add("plane", s, floor, (0, 1.5, 0), dims=(6, 5))
    _add("plane", s, wall, (0, 3.0, 2), (90, 0, 0), dims=(6, 4))
    _add("cylinder", s, metal, (0.12, 1.4, 1.1), radius=0.012, height=2.2)
    _add("cube", s, box, (-0.75, 1.9, 0.6), (0, 0, 8), dims=(0.9, 0.6, 1.2))
    _add("sphere", s, ball, (0.25, 1.1, 0.18), radius=0.18)
    _camera(s, (0.0, -0.3, 1.3), (84, 0, 0), fov)
    _sun((45, 10, 20), 4.0)
    _world((0.6, 0.6, 0.65), 0.6)


BUILDERS = {"room": build_room, "outdoor": build_outdoor, "tabletop": build_tabletop, "stage": build_stage}


# --------------------------------------------------------------------------- rendering


def _read_exr(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Blender multilayer EXR → (H, W, 4) linear RGBA and (H, W) Z, rows top-down."""
    import OpenEXR

    with OpenEXR.File(str(path)) as f:
        channels = f.parts[0].channels
        rgba = np.asarray(channels["ViewLayer.Combined"].pixels, dtype=np.float32)
        z = np.asarray(channels["ViewLayer.Depth.Z"].pixels, dtype=np.float32)
    return rgba, z


def render(scene: str, scale: float = 1.0, width: int = 320, height: int = 240,
           samples: int = 1, pixel_filter: float = 0.01, fov: float | None = None,
           eye: tuple[float, float, float] = (0.0, 0.0, 0.0), denoise: bool | None = None) -> dict:
    """Build ``scene`` at ``scale`` and render it with Cycles on the CPU.

    Returns ``rgb`` (H, W, 3) uint8 sRGB, ``depth`` (H, W) float32 planar depth in metres
    (``inf`` for sky) and ``fov`` (horizontal, degrees).  ``pixel_filter`` (px): the default
    puts every ray through its pixel centre (exact depth, aliased colour); samples for people
    use more samples and Blender's 1.5 px filter for the colour.  ``fov``: horizontal field of
    view in degrees (default: the scene's own, :data:`FOV_DEG`).  ``eye``: the camera moved by
    this much in its own frame (metres, +X right, +Y up, −Z forward; not scaled with the scene),
    e.g. a viewer's head moved away from where the photo was taken.  ``denoise``: default on
    above 8 samples.
    """
    import bpy

    global EYE
    EYE = tuple(float(v) for v in eye)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    fov = FOV_DEG[scene] if fov is None else fov
    BUILDERS[scene](scale, fov)
    sc.render.engine = "CYCLES"
    sc.cycles.device = "CPU"
    sc.cycles.samples = samples
    sc.cycles.use_denoising = samples > 8 if denoise is None else denoise
    sc.cycles.use_adaptive_sampling = False
    sc.cycles.max_bounces = 4
    sc.cycles.filter_width = pixel_filter
    sc.cycles.seed = 1
    sc.render.resolution_x, sc.render.resolution_y = width, height
    sc.render.resolution_percentage = 100
    sc.render.threads_mode = "FIXED"
    sc.render.threads = 2
    sc.view_settings.view_transform = "Standard"
    sc.view_layers[0].use_pass_z = True
    settings = sc.render.image_settings
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"
    settings.exr_codec = "ZIP"
    with tempfile.TemporaryDirectory() as tmp:
        sc.render.filepath = str(Path(tmp) / "render.exr")
        bpy.ops.render.render(write_still=True)
        rgba, z = _read_exr(Path(tmp) / "render.exr")
    lin = np.clip(rgba[:, :, :3], 0.0, 1.0)
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.power(lin, 1 / 2.4) - 0.055)
    depth = np.where(z < SKY_Z * scale, z, np.float32(np.inf)).astype(np.float32)
    return {"rgb": np.round(srgb * 255).astype(np.uint8), "depth": depth, "fov": fov}


def main(argv: list[str]) -> None:
    """``scenes.py OUT_DIR [--size WxH] [--samples N] scene:scale[@dx,dy,dz] ...``
    → OUT_DIR/<scene>_<scale>.npz, or <scene>_<scale>@dx,dy,dz.npz for a moved eye
    (:func:`render`'s ``eye``; more than one sample renders without the denoiser)."""
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    size = (320, 240)
    samples = 1
    jobs = []
    args = iter(argv[1:])
    for arg in args:
        if arg == "--size":
            size = tuple(int(v) for v in next(args).split("x"))
        elif arg == "--samples":
            samples = int(next(args))
        else:
            jobs.append(arg)
    for job in jobs:
        job, _, eye = job.partition("@")
        name, scale = job.split(":")
        offset = tuple(float(v) for v in eye.split(",")) if eye else (0.0, 0.0, 0.0)
        result = render(name, float(scale), *size, samples=samples, eye=offset, denoise=False)
        np.savez(out / f"{name}_{scale}{'@' + eye if eye else ''}.npz", **result)


if __name__ == "__main__":
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="blender_user_"))
    main(sys.argv[1:])
