"""Generate Depth Mesh in real Blender (the ``bpy`` module): objects, camera, live re-meshing.

The scene: a plane 4 m away with a box 2.5 m away, as a metric depth file, and a random
photo of the same size.  Geometry is checked against the pinhole model, the camera by
projecting vertices with Blender's own ``world_to_camera_view``, and re-meshing by counting
the backend's calls (and deleting its depth file).
"""
from __future__ import annotations

import math

import bpy  # noqa: E402  (the suite installs it; a broken bpy must fail here, not skip)
import numpy as np
import pytest
from blender_addon import registered  # noqa: E402,F401  (autouse: registered for the module)
from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from PIL import Image  # noqa: E402

from depth3d.backends.file import FileBackend  # noqa: E402
from depth3d.blender import build, cache  # noqa: E402
from depth3d.blender.images import load_photo, photo_from_image  # noqa: E402
from depth3d.geometry.grid import grid_index_at, grid_shape  # noqa: E402
from depth3d.geometry.reconstruct import Options, reconstruct  # noqa: E402

W, H = 40, 30
FOV = 60.0
PLANE, BOX = 4.0, 2.5


@pytest.fixture(autouse=True)
def fresh_file():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield


@pytest.fixture()
def scene_files(tmp_path):
    """A PNG photo and a .npy depth (a plane with a box); returns (photo, depth, rgb, depth array)."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = np.full((H, W), PLANE, np.float32)
    depth[8:20, 12:28] = BOX
    photo, depth_file = tmp_path / "box.png", tmp_path / "box.npy"
    Image.fromarray(rgb).save(photo)
    np.save(depth_file, depth)
    return photo, depth_file, rgb, depth


@pytest.fixture()
def calls(monkeypatch):
    """Counts FileBackend.estimate calls (the real method still runs)."""
    counter = {"n": 0}
    real = FileBackend.estimate

    def counting(self, photo):
        counter["n"] += 1
        return real(self, photo)

    monkeypatch.setattr(FileBackend, "estimate", counting)
    return counter


def _positions(obj) -> np.ndarray:
    data = obj.data
    n = len(data.vertices) if obj.type == "MESH" else len(data.points)
    co = np.empty(3 * n, np.float32)
    data.attributes["position"].data.foreach_get("vector", co)
    return co.reshape(n, 3)


def _pinhole(depth: np.ndarray, fov: float) -> np.ndarray:
    """(H·W, 3) camera-frame points of planar ``depth`` seen through pixel centres."""
    h, w = depth.shape
    tx = math.tan(math.radians(fov) / 2)
    ty = tx * h / w
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    x = (2 * cols / w - 1) * tx * depth
    y = (1 - 2 * rows / h) * ty * depth
    return np.stack([x, y, -depth], -1).reshape(-1, 3)


def _oriented(triangles: np.ndarray) -> np.ndarray:
    """(T, 3) triangles rotated to start at their smallest index (orientation kept), sorted."""
    t = np.asarray(triangles).reshape(-1, 3)
    t = np.take_along_axis(t, (np.argmin(t, axis=1)[:, None] + np.arange(3)) % 3, axis=1)
    return t[np.lexsort(t.T[::-1])]


def _blender_triangles(mesh, normals_first: bool = False) -> np.ndarray:
    """Blender's own triangulation of ``mesh`` (what it renders and exports), as :func:`_oriented`.

    ``normals_first``: face normals cached before, so quads take Blender's other test.
    """
    if normals_first:
        normals = np.empty(3 * len(mesh.polygons), np.float32)
        mesh.polygon_normals.foreach_get("vector", normals)
    mesh.calc_loop_triangles()
    tris = np.empty(3 * len(mesh.loop_triangles), np.int32)
    mesh.loop_triangles.foreach_get("vertices", tris)
    return _oriented(tris)


def _polygon_sizes(mesh) -> np.ndarray:
    sizes = np.empty(len(mesh.polygons), np.int32)
    mesh.polygons.foreach_get("loop_total", sizes)
    return sizes


def _generate(**kw):
    before = set(bpy.data.objects)
    assert bpy.ops.depth3d.generate_mesh(**kw) == {"FINISHED"}
    made = [o for o in bpy.data.objects if o not in before]
    main = [o for o in made if o.type != "CAMERA"]
    cams = [o for o in made if o.type == "CAMERA"]
    assert len(main) == 1
    return main[0], (cams[0] if cams else None)


def test_mesh_camera_material(scene_files, calls):
    photo, depth_file, rgb, depth = scene_files
    obj, cam = _generate(filepath=str(photo), depth_filepath=str(depth_file), fov=math.radians(FOV),
                         resolution=0, edge_threshold=0)
    assert calls["n"] == 1
    mesh = obj.data
    assert obj.type == "MESH" and obj.name == "box"
    assert len(mesh.vertices) == W * H
    # quads where both triangles of a grid cell are kept: every cell, but a cell touching a
    # corner of the box may stay two triangles (folded too sharply for a quad that Blender
    # triangulates along our diagonal); Blender's triangles are exactly the core's
    sizes = _polygon_sizes(mesh)
    quads = int(np.count_nonzero(sizes == 4))
    assert set(sizes.tolist()) <= {3, 4} and 2 * quads + np.count_nonzero(sizes == 3) == 2 * (W - 1) * (H - 1)
    assert quads >= (W - 1) * (H - 1) - 4
    expect = reconstruct(rgb, depth, "depth", Options(resolution=0, edge_threshold=0, fov=FOV))
    np.testing.assert_array_equal(_blender_triangles(mesh), _oriented(expect.faces))
    assert mesh.validate() is False  # nothing to fix
    np.testing.assert_allclose(_positions(obj), _pinhole(depth, FOV), rtol=1e-5, atol=1e-6)

    # UVs: every corner maps to its pixel centre, origin bottom-left
    assert list(mesh.uv_layers.keys()) == ["UVMap"]
    uv = np.empty(2 * len(mesh.loops), np.float32)
    mesh.uv_layers["UVMap"].uv.foreach_get("vector", uv)
    corner_vert = np.empty(len(mesh.loops), np.int32)
    mesh.loops.foreach_get("vertex_index", corner_vert)
    col, row = corner_vert % W, corner_vert // W
    np.testing.assert_allclose(uv.reshape(-1, 2), np.stack([(col + 0.5) / W, 1 - (row + 0.5) / H], 1), atol=1e-6)

    # the material shows the photo file through an image texture, unlit
    mat = mesh.materials[0]
    images = [n.image for n in mat.node_tree.nodes if n.type == "TEX_IMAGE"]
    assert len(images) == 1 and bpy.path.abspath(images[0].filepath) == str(photo)
    assert {n.type for n in mat.node_tree.nodes} >= {"EMISSION", "LIGHT_PATH", "OUTPUT_MATERIAL"}
    np.testing.assert_array_equal(photo_from_image(images[0]).rgb, rgb)

    # camera: lens for a 36 mm horizontal sensor; the photo as its background
    assert cam is not None and bpy.context.scene.camera == cam
    assert cam.data.sensor_fit == "HORIZONTAL" and cam.data.sensor_width == pytest.approx(36.0)
    assert cam.data.lens == pytest.approx(36 / (2 * math.tan(math.radians(FOV / 2))), rel=1e-6)
    assert cam.data.background_images[0].image == images[0]
    render = bpy.context.scene.render
    assert (render.resolution_x, render.resolution_y, render.resolution_percentage) == (W, H, 100)

    # looking through the camera reproduces the photo: each vertex lands on its pixel centre
    bpy.context.view_layer.update()
    world = obj.matrix_world
    for index in (0, W - 1, W * H - 1, W * 10 + 15, W * 25 + 3):
        ndc = world_to_camera_view(bpy.context.scene, cam, world @ mesh.vertices[index].co)
        col, row = index % W, index // W
        assert ndc.x == pytest.approx((col + 0.5) / W, abs=1e-5)
        assert ndc.y == pytest.approx(1 - (row + 0.5) / H, abs=1e-5)
        assert ndc.z == pytest.approx(depth[row, col], rel=1e-5)
    # upright in Blender's Z-up world: the camera looks along +Y, the plane is 4 m ahead
    assert (world @ mesh.vertices[0].co).y == pytest.approx(PLANE, rel=1e-5)


def test_resolution_and_edge_cut(scene_files):
    photo, depth_file, rgb, depth = scene_files
    obj, cam = _generate(filepath=str(photo), depth_filepath=str(depth_file), resolution=20,
                         add_camera=False)
    assert cam is None
    nx, ny = grid_shape(W, H, 20)
    expect = reconstruct(rgb, depth, "depth", Options(resolution=20))
    assert expect.grid == (nx, ny)
    mesh = obj.data
    assert len(mesh.vertices) == len(expect.vertices)
    np.testing.assert_allclose(_positions(obj), expect.vertices, rtol=1e-6)
    triangles = _blender_triangles(mesh)
    np.testing.assert_array_equal(triangles, _oriented(expect.faces))
    sizes = _polygon_sizes(mesh)
    assert 0 < np.count_nonzero(sizes == 4) < len(sizes)  # quads, and triangles at the cuts
    assert mesh.validate() is False
    # the box's sides are cut: no triangle spans the 1.5 m step between box and plane
    z = _positions(obj)[:, 2][triangles]
    assert (z.max(axis=1) - z.min(axis=1)).max() < 0.75


def _copied_mesh(geometry, name: str = "copied"):
    """``geometry``'s mesh with its arrays made apart and copied in (``fill_mesh`` given them)."""
    return build.fill_mesh(bpy.data.meshes.new(name), geometry, build.mesh_arrays(geometry))


def _mesh_data(mesh) -> dict[str, np.ndarray]:
    """Everything ``fill_mesh`` writes, read back from Blender."""
    out = {}
    for name, items, prop, dtype, width in (
            ("position", mesh.vertices, "co", np.float32, 3),
            ("loop_start", mesh.polygons, "loop_start", np.int32, 1),
            ("loop_total", mesh.polygons, "loop_total", np.int32, 1),
            ("edges", mesh.edges, "vertices", np.int32, 2),
            ("corner_vert", mesh.loops, "vertex_index", np.int32, 1),
            ("corner_edge", mesh.loops, "edge_index", np.int32, 1),
            ("uv", mesh.uv_layers[0].uv, "vector", np.float32, 2)):
        a = np.empty(width * len(items), dtype)
        items.foreach_get(prop, a)
        out[name] = a
    return out


@pytest.mark.parametrize("into_the_mesh", [True, False])
def test_generated_mesh_is_build_mesh(scene_files, monkeypatch, into_the_mesh):
    """The operator on a photo file and a depth file (its mesh made ready while a worker thread
    writes the arrays — into the mesh, or, where Blender's arrays cannot be shown to it, into
    its own, copied then — the photo decoded meanwhile) holds exactly what build_mesh makes of
    the core's geometry, and leaves no thread behind."""
    import threading

    if not into_the_mesh:
        monkeypatch.setattr(build, "mesh_buffers", lambda mesh: None)
    photo, depth_file, rgb, depth = scene_files
    threads = threading.active_count()
    for options in ({"resolution": 0}, {"resolution": 20}, {"resolution": 0, "edge_threshold": 0},
                    {"resolution": 0, "max_triangles": 500}):
        obj, _ = _generate(filepath=str(photo), depth_filepath=str(depth_file), add_camera=False, **options)
        assert threading.active_count() == threads
        expect = _copied_mesh(reconstruct(rgb, depth, "depth", Options(**options)))
        ours, theirs = _mesh_data(obj.data), _mesh_data(expect)
        assert ours.keys() == theirs.keys()
        for name in ours:
            np.testing.assert_array_equal(ours[name], theirs[name], err_msg=f"{options}: {name}")
        assert list(obj.data.attributes.keys()) == list(expect.attributes.keys()) == [
            "position", ".select_vert", ".edge_verts", ".select_edge", ".select_poly", ".corner_vert",
            ".corner_edge", "UVMap"]
        assert obj.data.validate() is False


def test_a_failure_in_the_worker_leaves_nothing(scene_files):
    """The geometry failing in the operator's worker thread (every point behind the camera)
    while the photo is decoded on the main thread: the one-line error, and no object, mesh or
    image left, no thread running."""
    import threading

    photo, depth_file, rgb, depth = scene_files
    threads = threading.active_count()
    with pytest.raises(RuntimeError, match="no point in front of the camera") as info:
        bpy.ops.depth3d.generate_mesh(filepath=str(photo), depth_filepath=str(depth_file), scale=-1.0)
    assert "Traceback" not in str(info.value)
    assert not bpy.data.objects and not bpy.data.meshes and not bpy.data.images
    assert threading.active_count() == threads


@pytest.mark.parametrize("later", [False, True])
def test_mesh_arrays_written_into_the_mesh(scene_files, later):
    """mesh_arrays writing straight into Blender's arrays (allocate_mesh, mesh_buffers; what
    fill_mesh does when it makes the arrays) makes the mesh that copying them in makes: on the
    grid layout (quads), a coarse grid with split vertices, and plain triangles (no layout);
    the arrays handed back at once or (``later``, as the operator's worker gets them) by a
    function mesh_arrays calls when it needs them."""
    from dataclasses import replace

    photo, depth_file, rgb, depth = scene_files
    grid = reconstruct(rgb, depth, "depth", Options(resolution=0))
    for geometry in (grid, reconstruct(rgb, depth, "depth", Options(resolution=12)), replace(grid, layout=None)):
        mesh, shown = bpy.data.meshes.new("direct"), []

        def into(counts, mesh=mesh, geometry=geometry, shown=shown):
            build.allocate_mesh(mesh, counts, len(geometry.vertices))
            shown.append(build.mesh_buffers(mesh))
            assert shown[0] is not None
            return (lambda: shown[0]) if later else shown[0]

        made = build.mesh_arrays(geometry, counts=into)  # its arrays are the mesh's own
        build.write_positions(shown.pop(), geometry)  # as the operator's worker does
        del made
        build.write_mesh_arrays(mesh, None)
        expect = _copied_mesh(geometry)
        built = build.build_mesh(geometry, "built")  # the same, made straight into the mesh by fill_mesh
        for other in (mesh, built):
            ours, theirs = _mesh_data(other), _mesh_data(expect)
            for name in theirs:
                np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
            assert list(other.attributes.keys()) == list(expect.attributes.keys())
            assert other.validate() is False


def test_polygon_starts_without_a_view(scene_files, monkeypatch):
    """Where Blender's polygon offsets cannot be shown as an array (mesh_buffers' probe fails),
    fill_mesh sets the polygons' starts, and every other array, through Blender's API: the
    same mesh, quads and triangles, as through the views."""
    photo, depth_file, rgb, depth = scene_files
    geometry = reconstruct(rgb, depth, "depth", Options(resolution=0))
    arrays = build.mesh_arrays(geometry)
    assert 0 < arrays.n_quads < len(arrays.loop_start)
    viewed = _mesh_data(build.build_mesh(geometry, "viewed"))
    copied = _mesh_data(_copied_mesh(geometry))
    monkeypatch.setattr(build, "_items_view", lambda *args: None)
    for mesh in (build.build_mesh(geometry, "set"), _copied_mesh(geometry, "set copied")):
        ours = _mesh_data(mesh)
        for name in viewed:
            np.testing.assert_array_equal(ours[name], viewed[name], err_msg=name)
            np.testing.assert_array_equal(ours[name], copied[name], err_msg=name)
        assert mesh.validate() is False


def test_point_cloud(scene_files):
    photo, depth_file, rgb, depth = scene_files
    obj, _ = _generate(filepath=str(photo), depth_filepath=str(depth_file), geometry="points",
                       resolution=0, fov=math.radians(FOV))
    assert obj.type == "POINTCLOUD"
    cloud = obj.data
    assert len(cloud.points) == W * H
    np.testing.assert_allclose(_positions(obj), _pinhole(depth, FOV), rtol=1e-5, atol=1e-6)
    colours = np.empty(4 * W * H, np.float32)
    cloud.attributes["Col"].data.foreach_get("color_srgb", colours)
    np.testing.assert_array_equal(np.round(colours.reshape(-1, 4)[:, :3] * 255), rgb.reshape(-1, 3))
    radius = np.empty(W * H, np.float32)
    cloud.attributes["radius"].data.foreach_get("value", radius)
    spacing = 2 * math.tan(math.radians(FOV) / 2) * PLANE / W
    assert radius[0] == pytest.approx(spacing / 2, rel=1e-4)
    attribute_nodes = [n for n in cloud.materials[0].node_tree.nodes if n.type == "ATTRIBUTE"]
    assert attribute_nodes[0].attribute_name == "Col"


def test_remesh_from_cache_survives_reload(scene_files, calls, tmp_path):
    photo, depth_file, rgb, depth = scene_files
    obj, cam = _generate(filepath=str(photo), depth_filepath=str(depth_file), fov=math.radians(FOV),
                         resolution=0, edge_threshold=0)
    assert calls["n"] == 1
    depth_file.unlink()  # the backend could not run again even if called
    base = _positions(obj)
    settings = obj.depth3d
    assert (settings.scale, settings.shift, settings.kind) == (1.0, 0.0, "depth")

    mesh = obj.data
    polygons = _polygon_sizes(mesh)
    settings.scale = 2.0  # metric depth: z' = 2 z, so every point doubles
    np.testing.assert_allclose(_positions(obj), 2 * base, rtol=1e-6)
    assert obj.data == mesh and np.array_equal(_polygon_sizes(mesh), polygons)  # same polygons
    settings.shift = 0.5  # z' = 2 z + 0.5
    np.testing.assert_allclose(_positions(obj), _pinhole(2 * depth + 0.5, FOV), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(_blender_triangles(obj.data), _oriented(cache.rebuild_geometry(obj).faces))
    settings.resolution = 16
    nx, ny = grid_shape(W, H, 16)
    assert len(obj.data.vertices) == nx * ny
    np.testing.assert_array_equal(_blender_triangles(obj.data), _oriented(cache.rebuild_geometry(obj).faces))
    assert len(obj.data.uv_layers) == 1 and obj.data.materials[0].name == "box"
    assert bpy.ops.depth3d.remesh() == {"FINISHED"}
    assert calls["n"] == 1

    blend = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    obj = bpy.data.objects["box"]
    assert cache.has_cache(obj)
    np.testing.assert_array_equal(cache.cached_depth(obj), depth)
    settings = obj.depth3d
    assert (settings.scale, settings.shift, settings.resolution) == (2.0, 0.5, 16)
    assert settings.camera == bpy.data.objects["box Camera"]
    settings.resolution = 0
    assert len(obj.data.vertices) == W * H
    np.testing.assert_allclose(_positions(obj), _pinhole(2 * depth + 0.5, FOV), rtol=1e-5, atol=1e-6)
    settings.fov = math.radians(50.0)  # the camera follows
    assert settings.camera.data.lens == pytest.approx(36 / (2 * math.tan(math.radians(25.0))), rel=1e-6)
    settings.projection = "relief"  # relief: scale/shift reset to its defaults, plane width 1
    assert (settings.scale, settings.shift) == pytest.approx((0.2, 0.0))
    x = _positions(obj)[:, 0]
    assert x.max() - x.min() == pytest.approx(1 - 1 / W, rel=1e-5)
    assert calls["n"] == 1


def test_point_cloud_remesh(scene_files, calls):
    photo, depth_file, rgb, depth = scene_files
    obj, _ = _generate(filepath=str(photo), depth_filepath=str(depth_file), geometry="points",
                       resolution=0)
    material = obj.data.materials[0]
    obj.depth3d.resolution = 20
    nx, ny = grid_shape(W, H, 20)
    assert obj.type == "POINTCLOUD" and len(obj.data.points) == nx * ny
    assert obj.data.materials[0] == material and "Col" in obj.data.attributes
    assert calls["n"] == 1


def test_image_datablock_source(scene_files):
    """From an image already in Blender (the Image Editor's), by name."""
    photo, depth_file, rgb, depth = scene_files
    image = bpy.data.images.load(str(photo))
    obj, _ = _generate(image=image.name, depth_filepath=str(depth_file), add_camera=False)
    assert obj.depth3d.image == image
    assert obj.data.materials[0].node_tree.nodes["Image Texture"].image == image


def test_errors_are_one_line(tmp_path, scene_files):
    photo, depth_file, rgb, depth = scene_files
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(RuntimeError) as info:
        bpy.ops.depth3d.generate_mesh(filepath=str(bad), depth_filepath=str(depth_file))
    message = str(info.value)
    assert "bad.jpg" in message and "Traceback" not in message
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.ones((10, 40), np.float32) + np.eye(10, 40, dtype=np.float32))
    with pytest.raises(RuntimeError, match="wrong.npy") as info:
        bpy.ops.depth3d.generate_mesh(filepath=str(photo), depth_filepath=str(wrong))
    assert "Traceback" not in str(info.value)
    assert not [o for o in bpy.data.objects]
    assert not bpy.data.images  # the photo loaded for the failed run is gone again


def test_exif_orientation_matches_pillow(tmp_path):
    """Blender's pixels + our stdlib EXIF reader give what Pillow's exif_transpose gives."""
    from PIL import ImageOps

    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    for orientation in range(1, 9):
        path = tmp_path / f"o{orientation}.png"
        exif = Image.Exif()
        exif[0x0112] = orientation
        exif[0x8769] = {0xA405: 28}  # FocalLengthIn35mmFilm
        Image.fromarray(rgb).save(path, exif=exif)
        with Image.open(path) as im:
            expect = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        photo = load_photo(path)
        np.testing.assert_array_equal(photo.rgb, expect, err_msg=f"orientation {orientation}")
        w, h = expect.shape[1], expect.shape[0]
        from depth3d.geometry.camera import fov_from_35mm_equivalent

        assert photo.fov_deg == pytest.approx(fov_from_35mm_equivalent(28, w, h))
        assert (photo.data is None) == (orientation != 1) and photo.orientation == orientation
    assert not bpy.data.images


def test_a_sideways_photo_is_textured_upright(tmp_path):
    """A JPEG stored sideways with EXIF orientation 6: Blender shows the file as stored, so the
    mesh's texture is a new image of the upright pixels (64 high, left half of the file on top)."""
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[:, :32] = (255, 0, 0)  # left half red → top half once turned 90° clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = tmp_path / "side.jpg"
    Image.fromarray(stored).save(photo, exif=exif, quality=95)
    depth = np.full((64, 48), 2.0, np.float32)
    depth[20:40, 10:30] = 1.5
    np.save(tmp_path / "side.npy", depth)
    obj, _ = _generate(filepath=str(photo), depth_filepath=str(tmp_path / "side.npy"), add_camera=False)
    image = obj.data.materials[0].node_tree.nodes["Image Texture"].image
    assert tuple(image.size) == (48, 64)
    rgb = photo_from_image(image).rgb.astype(np.int16)
    assert (np.abs(rgb[:24] - (255, 0, 0)).max(axis=2) < 40).mean() > 0.95  # top half red
    assert (rgb[40:].max(axis=2) < 40).mean() > 0.95  # bottom half black


def test_build_mesh_edges_match_blender(scene_files):
    """Quads where both triangles of a grid cell are kept, triangles elsewhere: Blender
    triangulates them into exactly the core's triangles (with or without face normals cached),
    and our NumPy edges equal the ones Blender computes itself (update(calc_edges=True)) — for
    cut and split triangles, a full grid, a grid with holes, a coarse grid, a surface folded too sharply for
    quads, and any other triangle list (all triangles)."""
    from dataclasses import replace

    photo, depth_file, rgb, depth = scene_files
    holes = depth.copy()
    holes[20:25, 2:9] = -1.0  # behind the camera: no vertices there
    spiky = 3.0 + np.random.default_rng(4).uniform(0, 2, depth.shape).astype(np.float32) ** 4
    cases = [
        reconstruct(rgb, depth, "depth", Options(resolution=0)),
        reconstruct(rgb, depth, "depth", Options(resolution=0, edge_threshold=0)),
        reconstruct(rgb, holes, "depth", Options(resolution=0, edge_threshold=0)),
        reconstruct(rgb, holes, "depth", Options(resolution=25)),
        # a coarse grid split where its finer edge grid placed the steps (not halfway)
        reconstruct(rgb, depth, "depth", Options(resolution=12)),
        reconstruct(rgb, spiky, "depth", Options(resolution=0, edge_threshold=0)),
        reconstruct(rgb, spiky, "depth", Options(resolution=0, edge_threshold=0, projection="relief")),
    ]
    shuffled = cases[0]
    order = np.random.default_rng(2).permutation(len(shuffled.faces))
    cases.append(replace(shuffled, faces=shuffled.faces[order][:, [1, 2, 0]], layout=None))  # no known layout

    def edge_set(mesh):
        e = np.empty(2 * len(mesh.edges), np.int32)
        mesh.edges.foreach_get("vertices", e)
        return {tuple(sorted(p)) for p in e.reshape(-1, 2).tolist()}

    def polygons(mesh):
        starts = np.empty(len(mesh.polygons), np.int32)
        mesh.polygons.foreach_get("loop_start", starts)
        corners = np.empty(len(mesh.loops), np.int32)
        mesh.loops.foreach_get("vertex_index", corners)
        return [c.tolist() for c in np.split(corners, starts[1:])]

    n_quads = []
    for geometry in cases:
        ours = build.build_mesh(geometry, "ours")
        assert len(ours.vertices) == len(geometry.vertices)
        sizes = _polygon_sizes(ours)
        assert set(sizes.tolist()) <= {3, 4}
        n_quads.append(int(np.count_nonzero(sizes == 4)))
        expect = _oriented(geometry.faces)
        np.testing.assert_array_equal(_blender_triangles(ours), expect)
        again = build.build_mesh(geometry, "again")
        np.testing.assert_array_equal(_blender_triangles(again, normals_first=True), expect)
        theirs = bpy.data.meshes.new("theirs")
        theirs.from_pydata(geometry.vertices.tolist(), [], polygons(ours))
        theirs.update(calc_edges=True)
        assert len(ours.edges) == len(theirs.edges)
        assert edge_set(ours) == edge_set(theirs)
        assert ours.validate() is False  # corner edges consistent, nothing to fix
    cells = (W - 1) * (H - 1)
    assert n_quads[1] >= cells - 4 and 0 < n_quads[0] < cells  # full grid; cut at the box
    # the coarse grid keeps its layout (quads) with split vertices off the cells' middles
    coarse = cases[4]
    off = coarse.layout.grid_index < 0  # split vertices
    assert off.any() and n_quads[4] > 0
    split = np.stack([grid_index_at(coarse.uv[off, 0], coarse.grid[0], coarse.span[0]),
                      grid_index_at(1 - coarse.uv[off, 1], coarse.grid[1], coarse.span[1])], axis=1)
    frac = np.abs(split - np.rint(split))  # 0 on a grid line, 0.5 halfway
    assert (frac > 0.1).any(axis=1).all()  # none at a grid position
    assert ((frac > 0.1) & (frac < 0.4)).any()  # some nearer a corner than halfway
    for geometry, quads in zip(cases[5:7], n_quads[5:7]):  # cells folded by over 90°: triangles
        p = geometry.vertices.astype(np.float64).reshape(H, W, 3)
        bl = p[1:, :-1]
        diagonal = p[:-1, 1:] - bl
        n1 = np.cross(diagonal, p[:-1, :-1] - bl)  # triangle (a, a+nx, a+1)
        n2 = np.cross(p[1:, 1:] - bl, diagonal)    # triangle (a+1, a+nx, a+nx+1)
        folded = int(np.count_nonzero((n1 * n2).sum(axis=-1) <= 0))
        assert folded > 0 and 0 < quads <= cells - folded
    assert n_quads[-1] == 0  # not the grid layout: triangles as they are


def test_backend_choice():
    from types import SimpleNamespace

    from depth3d.backends import BackendError
    from depth3d.backends.hf import TransformersBackend
    from depth3d.backends.remote import RemoteBackend
    from depth3d.blender import depth_source

    assert bpy.app.online_access is False  # the bpy module's default
    with pytest.raises(BackendError, match="online access"):
        depth_source.backend_for(SimpleNamespace(backend="REMOTE", server_url="http://example.com:8765"))
    for url in ("http://127.0.0.1:8765", "localhost:9000", "http://[::1]:8765"):
        backend = depth_source.backend_for(SimpleNamespace(backend="REMOTE", server_url=url))
        assert isinstance(backend, RemoteBackend)
    with pytest.raises(BackendError, match="Backend Python"):
        depth_source.backend_for(SimpleNamespace(backend="SERVICE"))
    # torch imports in this venv: automatic means in-process (built, not loaded), and reused
    auto = depth_source.backend_for(None)
    assert isinstance(auto, TransformersBackend) and auto._net is None
    assert depth_source.backend_for(SimpleNamespace(backend="AUTO")) is auto
    depth_source.shutdown()
    assert not bpy.ops.depth3d.setup_backend.poll()  # no pip without online access


def test_the_core_backend_choice_built_the_blender_way():
    """A core :class:`BackendSpec` (the batch's --backend/--server/--model/--device) becomes
    Blender's settings: its online-access policy applies, its preferences fill the rest."""
    from types import SimpleNamespace

    from depth3d.backends import BackendError, resolve_backend
    from depth3d.backends.hf import TransformersBackend
    from depth3d.backends.remote import RemoteBackend
    from depth3d.blender.depth_source import BackendSettings, backend_from_spec, shutdown

    with pytest.raises(BackendError, match="online access"):
        backend_from_spec(resolve_backend(backend="remote", server="http://example.com:8765"))
    remote = backend_from_spec(resolve_backend(backend="remote", server="127.0.0.1:9", model="big"))
    assert isinstance(remote, RemoteBackend) and remote.model == "big"
    prefs = SimpleNamespace(backend="", model="small", device="cuda", cache_dir="/tmp/hub", venv_dir="v")
    local = backend_from_spec(resolve_backend(model="m", device="cpu"), prefs)
    assert isinstance(local, TransformersBackend)
    assert (local.model, local.device, local.cache_dir) == ("m", "cpu", "/tmp/hub")
    assert BackendSettings.from_prefs(prefs, model="x") == BackendSettings(
        "AUTO", model="x", device="cuda", cache_dir="/tmp/hub")
    shutdown()  # the in-process model cache


def test_depth_files_without_openexr_or_pillow(tmp_path):
    """The extension's own readers (Blender's Python has neither) agree with the core's."""
    import OpenEXR

    from depth3d.blender.depth_source import read_depth_with_blender
    from depth3d.io.depth_io import pick_depth_channel
    from depth3d.io.exr import read_exr_planes

    def read_exr_depth(path):  # the no-OpenEXR path of depth_io.read_depth
        planes = read_exr_planes(path)
        return planes[pick_depth_channel(planes)]
    from depth3d.io.depth_io import read_depth, write_depth_exr, write_depth_png16

    rng = np.random.default_rng(7)
    depth = rng.uniform(0.5, 20.0, (37, 29)).astype(np.float32)
    write_depth_exr(tmp_path / "z.exr", depth)  # ZIP, one "Z" channel
    np.testing.assert_array_equal(read_exr_depth(tmp_path / "z.exr"), depth)
    # Blender's multilayer layout, uncompressed / ZIPS / ZIP, half and float channels
    for codec in (OpenEXR.NO_COMPRESSION, OpenEXR.ZIPS_COMPRESSION, OpenEXR.ZIP_COMPRESSION):
        channels = {"ViewLayer.Combined.R": np.zeros_like(depth), "ViewLayer.Depth.Z": depth,
                    "ViewLayer.Normal.X": depth.astype(np.float16)}
        header = {"compression": codec, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, channels).write(str(tmp_path / "ml.exr"))
        np.testing.assert_array_equal(read_exr_depth(tmp_path / "ml.exr"), read_depth(tmp_path / "ml.exr"))
    header = {"compression": OpenEXR.PIZ_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {"Z": depth}).write(str(tmp_path / "piz.exr"))
    with pytest.raises(ValueError, match="PIZ compression"):
        read_exr_depth(tmp_path / "piz.exr")

    raw = rng.integers(0, 65536, (9, 13), dtype=np.uint16)
    Image.fromarray(raw).save(tmp_path / "raw.png")
    np.testing.assert_array_equal(read_depth_with_blender(tmp_path / "raw.png"), read_depth(tmp_path / "raw.png"))
    write_depth_png16(tmp_path / "d16.png", depth)  # keeps its range in text chunks
    np.testing.assert_allclose(read_depth_with_blender(tmp_path / "d16.png"), read_depth(tmp_path / "d16.png"),
                               rtol=1e-6)
    assert not bpy.data.images


def test_export_gltf(scene_files, tmp_path):
    """Blender's exporter writes valid .glb files whose world positions are the camera frame."""
    import trimesh
    from conftest import assert_valid_gltf, same_point_set

    photo, depth_file, rgb, depth = scene_files
    obj, cam = _generate(filepath=str(photo), depth_filepath=str(depth_file), fov=math.radians(FOV))
    points, _ = _generate(filepath=str(photo), depth_filepath=str(depth_file), fov=math.radians(FOV),
                          geometry="points", resolution=0, add_camera=False)
    mesh_glb = build.export_gltf(tmp_path / "mesh.glb", [obj, cam])
    points_glb = build.export_gltf(tmp_path / "points.glb", [points])
    assert_valid_gltf(mesh_glb, points_glb)
    assert points.name == "box.001" and points.type == "POINTCLOUD"  # left as it was

    scene = trimesh.load(mesh_glb)
    world = scene.to_geometry()
    expect = cache.rebuild_geometry(obj)
    assert same_point_set(world.vertices, expect.vertices)
    assert len(world.faces) == len(expect.faces)
    cloud = trimesh.load(points_glb).to_geometry()
    assert same_point_set(cloud.vertices, _pinhole(depth, FOV), rtol=1e-5)
    # no stray temporary datablocks
    assert sorted(o.name for o in bpy.data.objects) == ["box", "box Camera", "box.001"]


def test_panel_settings_drive_invoke(scene_files):
    """The button (a call without properties) takes everything from the panel's settings."""
    photo, depth_file, rgb, depth = scene_files
    s = bpy.context.scene.depth3d
    s.source, s.filepath = "FILE", str(photo)
    s.use_depth_file, s.depth_filepath, s.depth_kind = True, str(depth_file), "depth"
    s.use_auto_fov, s.fov = False, math.radians(FOV)
    s.range_mode, s.scale, s.shift = "SCALE_SHIFT", 0.5, 1.0
    s.resolution, s.edge_threshold, s.add_camera, s.material = 0, 0.0, False, "principled"
    before = set(bpy.data.objects)
    assert bpy.ops.depth3d.generate_mesh("INVOKE_DEFAULT") == {"FINISHED"}
    (obj,) = set(bpy.data.objects) - before
    np.testing.assert_allclose(_positions(obj), _pinhole(0.5 * depth + 1.0, FOV), rtol=1e-5, atol=1e-6)
    assert {n.type for n in obj.data.materials[0].node_tree.nodes} >= {"BSDF_PRINCIPLED", "TEX_IMAGE"}
    assert (obj.depth3d.scale, obj.depth3d.shift, obj.depth3d.material) == (0.5, 1.0, "principled")


def test_photos_read_by_blender_match_the_core(tmp_path):
    """Blender-decoded pixels equal the core's Pillow reader (alpha, 16-bit: within 1 level)."""
    from depth3d.io.image import read_photo

    rng = np.random.default_rng(11)
    rgba = rng.integers(0, 256, (13, 17, 4), dtype=np.uint8)
    Image.fromarray(rgba[:, :, :3]).save(tmp_path / "rgb.png")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")  # alpha over black
    Image.fromarray(rgba[:, :, :3]).save(tmp_path / "photo.jpg", quality=92)
    Image.fromarray(rgba[:, :, 0].astype(np.uint16) * 257).save(tmp_path / "grey16.png")
    for name, tolerance in (("rgb.png", 0), ("rgba.png", 1), ("photo.jpg", 1), ("grey16.png", 1)):
        ours = load_photo(tmp_path / name)
        core = read_photo(tmp_path / name)
        assert ours.rgb.shape == core.rgb.shape and ours.rgb.dtype == np.uint8
        assert np.abs(ours.rgb.astype(int) - core.rgb).max() <= tolerance, name
        assert ours.data == (tmp_path / name).read_bytes() and ours.name == name.split(".")[0]
    assert not bpy.data.images


def test_build_mesh_of_a_decimated_geometry():
    """Within a triangle budget (whole cells merged into blocks drawn as fans,
    depth3d/geometry/decimate.py) the core's mesh builds exactly: the same vertices, Blender's own
    triangulation gives the core's triangles (with or without face normals cached), and the
    edges are the ones Blender computes itself."""
    rgb = np.random.default_rng(6).integers(0, 256, (49, 65, 3), dtype=np.uint8)
    depth = np.full((49, 65), PLANE, np.float32)  # 64 × 48 cells: blocks of up to 16
    depth[12:30, 20:45] = BOX
    tilted = depth * (1.0 + 0.01 * np.arange(65, dtype=np.float32))[None, :]  # not a plane in disparity
    for d in (depth, tilted):
        full = reconstruct(rgb, d, "depth", Options(resolution=0))
        geometry = reconstruct(rgb, d, "depth", Options(resolution=0, max_triangles=len(full.faces) // 3))
        assert geometry.grid == full.grid and len(geometry.faces) <= len(full.faces) // 3
        assert geometry.layout.first and geometry.layout.second  # the grid path: quads
        mesh = build.build_mesh(geometry, "decimated")
        assert len(mesh.vertices) == len(geometry.vertices)
        co = np.empty(3 * len(mesh.vertices), np.float32)
        mesh.vertices.foreach_get("co", co)
        np.testing.assert_array_equal(co.reshape(-1, 3), geometry.vertices)
        expect = _oriented(geometry.faces)
        np.testing.assert_array_equal(_blender_triangles(mesh), expect)
        again = build.build_mesh(geometry, "again")
        np.testing.assert_array_equal(_blender_triangles(again, normals_first=True), expect)
        theirs = bpy.data.meshes.new("theirs")
        starts = np.empty(len(mesh.polygons), np.int32)
        mesh.polygons.foreach_get("loop_start", starts)
        corners = np.empty(len(mesh.loops), np.int32)
        mesh.loops.foreach_get("vertex_index", corners)
        theirs.from_pydata(geometry.vertices.tolist(), [], [c.tolist() for c in np.split(corners, starts[1:])])
        theirs.update(calc_edges=True)
        e_ours, e_theirs = (np.empty(2 * len(m.edges), np.int32) for m in (mesh, theirs))
        mesh.edges.foreach_get("vertices", e_ours)
        theirs.edges.foreach_get("vertices", e_theirs)
        assert {tuple(sorted(p)) for p in e_ours.reshape(-1, 2).tolist()} == \
            {tuple(sorted(p)) for p in e_theirs.reshape(-1, 2).tolist()}
        assert len(mesh.edges) == len(theirs.edges)
        assert mesh.validate() is False
        uv = np.empty(2 * len(mesh.loops), np.float32)
        mesh.uv_layers.active.data.foreach_get("uv", uv)
        np.testing.assert_array_equal(uv.reshape(-1, 2), geometry.uv[corners])
