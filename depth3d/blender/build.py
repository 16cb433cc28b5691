"""Geometry → Blender data: mesh / point-cloud objects, the photo material, the camera, glTF.

Frames.  Mesh data stays in the camera frame of :class:`~depth3d.geometry.reconstruct.Geometry`
(camera at the origin looking down −Z, +Y up, metres).  With ``upright=True`` (the default)
the objects get a +90° rotation about X, which stands the scene up in Blender's Z-up world
exactly as Blender's glTF importer places a Y-up scene: the camera then looks along +Y
(front view), and a glTF export (+Y up) puts every vertex back at its camera-frame position.

Speed.  Everything goes through ``foreach_set`` on float32/int32 buffers (wrapped in a
``memoryview``, which Blender's RNA reads about twice as fast as a NumPy array), writing the
mesh's own attribute arrays (``position``, ``.corner_vert``, ``.edge_verts``, ``.corner_edge``).
Polygons, edges and corner UVs come from the grid structure in NumPy
(:mod:`depth3d.geometry.polygons`, read from the geometry's grid layout: quads where both triangles of
a grid cell are kept, so half as many polygons to set one by one) instead of ``Mesh.update(calc_edges=True)``, which
costs ten times more.  The operator goes further (:mod:`.operators`): :func:`allocate_mesh` makes
room from the counts :func:`mesh_arrays` reports early, and a worker thread writes the vertex
positions, the polygons' starts, the corners, edges and UVs straight into Blender's arrays
(:func:`mesh_buffers`) — no arrays of its own, no copy, and no ``foreach_set("loop_start")``,
which RNA runs polygon by polygon holding the GIL (0.3–0.5 s for 12 M polygons).
"""
from __future__ import annotations

import contextlib
import ctypes
import math
import os
from pathlib import Path

import bpy
import numpy as np

from ..geometry.camera import FULL_FRAME_WIDTH_MM
from ..geometry.polygons import Destinations, MeshArrays, MeshCounts, loop_starts
from ..geometry.polygons import mesh_arrays as _mesh_arrays
from ..geometry.types import Geometry
from ..io.atomic import atomic_path

__all__ = [
    "MATERIALS", "create_object", "update_object_geometry", "add_camera", "update_camera",
    "photo_material", "image_from_rgb", "build_mesh", "fill_mesh", "mesh_arrays", "export_gltf",
    "allocate_mesh", "mesh_buffers", "set_vertices_and_polygons", "write_positions", "write_mesh_arrays",
    "has_atlas", "set_texture",
]

MATERIALS = ("emission", "principled")
COLOR_ATTRIBUTE = "Col"
UV_MAP = "UVMap"
SENSOR_WIDTH_MM = FULL_FRAME_WIDTH_MM  # the Blender camera's sensor: 35 mm full frame
UPRIGHT_EULER = (math.pi / 2.0, 0.0, 0.0)


def _mv(array: np.ndarray, dtype) -> memoryview:
    """A flat, C-contiguous ``memoryview`` of ``array`` as ``dtype`` (for ``foreach_set``)."""
    return memoryview(np.ascontiguousarray(array, dtype=dtype).reshape(-1))


# --------------------------------------------------------------------------- mesh data


def _set_attribute(collection, attribute: str, items, prop: str, public: str, data: memoryview) -> None:
    """Write ``data`` to the mesh attribute ``attribute`` (fast), else to ``items.<public>``."""
    try:
        collection[attribute].data.foreach_set(prop, data)
    except KeyError:
        items.foreach_set(public, data)


def fill_mesh(mesh: bpy.types.Mesh, geometry: Geometry,
              arrays: MeshArrays | dict[str, np.ndarray] | None = None) -> bpy.types.Mesh:
    """Write ``geometry`` into an empty ``mesh``: vertices, and for a mesh polygons, edges and UVs.

    ``arrays``: :func:`mesh_arrays` of ``geometry`` if already made, copied in; as a dict of its
    fields (``MeshArrays._asdict()``) it is emptied as Blender takes each array, so that one held
    nowhere else is freed on the way.  ``None``: made here, straight into the mesh's own arrays
    (:func:`mesh_buffers`; no copy, no arrays of their own).
    """
    faces = geometry.faces
    if faces is None or not len(faces):
        _set_positions(mesh, geometry)
        mesh.update()
        return mesh
    if arrays is None:  # made here: written straight into the mesh where Blender shows its arrays
        return _fill_directly(mesh, geometry)
    parts = arrays if isinstance(arrays, dict) else arrays._asdict()
    n_quads = parts["n_quads"]
    counts = MeshCounts(n_quads, len(parts["loop_start"]) - n_quads, len(parts["edges"]))
    allocate_mesh(mesh, counts, len(geometry.vertices))
    set_vertices_and_polygons(mesh, geometry, counts, parts.pop("loop_start"))
    return write_mesh_arrays(mesh, parts)


def _fill_directly(mesh: bpy.types.Mesh, geometry: Geometry) -> bpy.types.Mesh:
    """:func:`fill_mesh` making the arrays: room made in ``mesh`` when :func:`mesh_arrays`
    reports the counts, which then writes into it (:func:`mesh_buffers`; else into arrays of
    its own, copied then)."""
    reported: list = []  # (counts, the mesh's arrays or None)

    def into(counts: MeshCounts) -> dict[str, np.ndarray] | None:
        allocate_mesh(mesh, counts, len(geometry.vertices))
        buffers = mesh_buffers(mesh)
        reported.append((counts, buffers))
        return buffers

    made = mesh_arrays(geometry, counts=into)
    counts, buffers = reported.pop()
    if buffers is not None:  # what made holds are views of the mesh's arrays
        del made
        write_positions(buffers, geometry)
        del buffers
        return write_mesh_arrays(mesh, None)
    set_vertices_and_polygons(mesh, geometry, counts, made.loop_start)
    parts = made._asdict()
    del made
    return write_mesh_arrays(mesh, parts)


def _set_positions(mesh: bpy.types.Mesh, geometry: Geometry) -> None:
    mesh.vertices.add(len(geometry.vertices))
    _write_positions(mesh, geometry)


def _write_positions(mesh: bpy.types.Mesh, geometry: Geometry) -> None:
    _set_attribute(mesh.attributes, "position", mesh.vertices, "vector", "co", _mv(geometry.vertices, np.float32))


def allocate_mesh(mesh: bpy.types.Mesh, counts: MeshCounts, n_vertices: int) -> bpy.types.Mesh:
    """Room in an empty ``mesh`` for ``n_vertices`` vertices and what :func:`mesh_arrays` writes
    — polygons, corners, edges and the UV map — from the ``counts`` it reports before writing
    them.  The operator calls this on the main thread while a worker makes the arrays; the
    worker then writes straight into the room (:func:`mesh_buffers`, :func:`write_positions`),
    or, where Blender cannot show it as arrays, :func:`set_vertices_and_polygons` and
    :func:`write_mesh_arrays` copy them in."""
    mesh.vertices.add(n_vertices)
    mesh.loops.add(counts.n_corners)  # before the polygons: their end offset is the corner count
    mesh.polygons.add(counts.n_polygons)
    mesh.edges.add(counts.n_edges)
    mesh.uv_layers.new(name=UV_MAP, do_init=False)
    return mesh


def set_vertices_and_polygons(mesh: bpy.types.Mesh, geometry: Geometry, counts: MeshCounts,
                              loop_start: np.ndarray | None = None) -> bpy.types.Mesh:
    """``geometry``'s vertex positions and the polygons' starts in a mesh :func:`allocate_mesh`
    made room in: the starts are ``loop_start``, else :func:`~depth3d.geometry.polygons.loop_starts`
    of the ``counts`` (the same), written through a view of the mesh's polygon offsets where
    Blender shows them (:func:`mesh_buffers`), else by ``foreach_set`` (RNA sets them polygon by
    polygon: 0.3–0.5 s for 12 M).  Touches neither corners nor edges: it may run while a worker
    writes those."""
    _write_positions(mesh, geometry)
    offsets = _items_view(mesh.polygons, "loop_start", np.int32, 1)
    if offsets is not None:
        if loop_start is None:
            loop_starts(counts.n_quads, counts.n_triangles, out=offsets)
        else:
            offsets[...] = loop_start
        return mesh
    if loop_start is None:
        loop_start = loop_starts(counts.n_quads, counts.n_triangles)
    mesh.polygons.foreach_set("loop_start", memoryview(loop_start))
    return mesh


def write_positions(buffers: dict[str, np.ndarray], geometry: Geometry) -> None:
    """``geometry``'s vertices into the ``position`` view of :func:`mesh_buffers` (NumPy only:
    safe in a worker thread)."""
    np.copyto(buffers["position"], geometry.vertices, casting="same_kind")


_BUFFERS = (  # mesh_buffers' attributes: (name, attribute, its data type, dtype, components)
    ("position", "position", "FLOAT_VECTOR", np.float32, 3),
    ("corner_vert", ".corner_vert", "INT", np.int32, 1), ("corner_edge", ".corner_edge", "INT", np.int32, 1),
    ("corner_uv", UV_MAP, "FLOAT2", np.float32, 2), ("edges", ".edge_verts", "INT32_2D", np.int32, 2),
)


def mesh_buffers(mesh: bpy.types.Mesh) -> dict[str, np.ndarray] | None:
    """Writable NumPy views of the arrays of a mesh :func:`allocate_mesh` made room in — Blender's
    own memory, for :func:`mesh_arrays` and :func:`write_positions` to write into (no array of
    their own, no copy): ``position`` (V, 3) float32, ``loop_start`` (P,) int32 (the polygons'
    offsets), ``corner_vert``, ``corner_edge`` (C,) int32, ``corner_uv`` (C, 2) float32,
    ``edges`` (E, 2) int32.

    Each array's items must lie one after the other (their addresses, ``as_pointer()``, step by
    the item's size), and a value written through the view must read back through Blender's
    own API at the first and last item; else ``None`` (then :func:`set_vertices_and_polygons`
    and :func:`write_mesh_arrays` copy).  Valid until the mesh changes; the mesh may be touched
    by no one while a worker writes.
    """
    views = {}
    for name, attribute, data_type, dtype, width in _BUFFERS:
        attr = mesh.attributes.get(attribute)
        if attr is None or attr.data_type != data_type:
            return None
        prop = "vector" if dtype == np.float32 else "value"
        views[name] = _items_view(attr.data, prop, dtype, width)
    views["loop_start"] = _items_view(mesh.polygons, "loop_start", np.int32, 1)
    return None if any(view is None for view in views.values()) else views


def _items_view(items, prop: str, dtype, width: int) -> np.ndarray | None:
    """(N, width) (or (N,) for 1) view of the memory behind ``items`` (a collection of N
    Blender items, each ``width`` values of ``dtype`` read as ``item.<prop>``), or ``None``
    where the items do not lie one after the other or a value written does not read back."""
    n = len(items)
    size = np.dtype(dtype).itemsize * width
    first, last = (items[0].as_pointer(), items[n - 1].as_pointer()) if n else (0, 0)
    if not first or last - first != (n - 1) * size:
        return None
    view = np.ctypeslib.as_array((ctypes.c_char * (n * size)).from_address(first)).view(dtype)
    view = view.reshape(n, width) if width > 1 else view
    for i in (0, n - 1):  # what is written here is what Blender reads
        probe = np.arange(i + 1, i + 1 + width).astype(dtype)
        view[i] = probe if width > 1 else probe[0]
        if not np.array_equal(np.ravel(np.asarray(getattr(items[i], prop), dtype)), probe):
            return None
    return view


def write_mesh_arrays(mesh: bpy.types.Mesh, arrays: dict[str, np.ndarray] | None) -> bpy.types.Mesh:
    """The second half of :func:`fill_mesh`: corners, edges and corner UVs from ``arrays`` (a
    :class:`MeshArrays`' fields) into a mesh :func:`allocate_mesh` made room in; each array is
    taken out of ``arrays`` once Blender has it (freed then, when held nowhere else).
    ``None``: written already, through :func:`mesh_buffers`."""
    if arrays is None:
        mesh.update()
        return mesh
    _set_attribute(mesh.attributes, ".corner_vert", mesh.loops, "value", "vertex_index",
                   memoryview(arrays.pop("corner_vert")))
    _set_attribute(mesh.attributes, ".edge_verts", mesh.edges, "value", "vertices",
                   memoryview(arrays.pop("edges").reshape(-1)))
    _set_attribute(mesh.attributes, ".corner_edge", mesh.loops, "value", "edge_index",
                   memoryview(arrays.pop("corner_edge")))
    corner_uv = memoryview(arrays.pop("corner_uv").reshape(-1))
    uv_layer = mesh.uv_layers[UV_MAP]
    try:
        uv_layer.uv.foreach_set("vector", corner_uv)
    except AttributeError:  # before 3.5
        uv_layer.data.foreach_set("uv", corner_uv)
    del corner_uv
    arrays.pop("loop_start", None)
    mesh.update()
    return mesh


def mesh_arrays(geometry: Geometry, counts: Destinations | None = None) -> MeshArrays:
    """:func:`depth3d.geometry.polygons.mesh_arrays` of ``geometry`` as this module builds it: quads from
    its grid layout, except for an in-fill atlas (:func:`has_atlas`), whose mesh stays plain
    triangles (as it was before the layout was explicit; its triangles would be the same).
    ``counts``: called with the :class:`~depth3d.geometry.polygons.MeshCounts` once known (it may
    return arrays to write into, :func:`mesh_buffers`, or a function giving them).  NumPy only:
    safe in a worker thread."""
    return _mesh_arrays(geometry, quads=not has_atlas(geometry), counts=counts)


_SRGB_TO_LINEAR = np.where(
    (v := np.arange(256, dtype=np.float64) / 255.0) <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4
).astype(np.float32)


def _set_point_colors(mesh: bpy.types.Mesh, geometry: Geometry) -> None:
    """The per-point colour attribute ``Col`` and a ``radius`` for point clouds.

    ``Col`` is a float colour (scene-linear, as Blender stores float colours), written through
    its raw ``color`` array; the sRGB bytes go through a 256-entry table.
    """
    attr = mesh.color_attributes.new(COLOR_ATTRIBUTE, "FLOAT_COLOR", "POINT")
    n = len(geometry.vertices)
    rgba = np.ones((n, 4), dtype=np.float32)
    if geometry.colors is not None:
        rgba[:, :3] = _SRGB_TO_LINEAR[geometry.colors]
    attr.data.foreach_set("color", memoryview(rgba.reshape(-1)))
    mesh.color_attributes.active_color = attr
    mesh.color_attributes.render_color_index = mesh.color_attributes.active_color_index
    radius = mesh.attributes.new("radius", "FLOAT", "POINT")
    radius.data.foreach_set("value", _mv(point_radius(geometry), np.float32))


def point_radius(geometry: Geometry) -> np.ndarray:
    """(N,) float32: half the distance to the nearer row neighbour (so points just touch).

    Works for either projection; points without a neighbour get the median radius.
    """
    v = geometry.vertices
    n = len(v)
    if n < 2:
        return np.full(n, 0.005, dtype=np.float32)
    g = None if geometry.layout is None else geometry.layout.grid_index
    step = np.linalg.norm(np.diff(v, axis=0), axis=1)
    if g is not None:
        nx = geometry.grid[0]
        adjacent = (np.diff(g) == 1) & (g[1:] % nx != 0)
        step = np.where(adjacent, step, np.inf)
    right = np.append(step, np.inf)
    left = np.insert(step, 0, np.inf)
    r = 0.5 * np.minimum(left, right)
    finite = np.isfinite(r)
    fill = float(np.median(r[finite])) if finite.any() else 0.005
    r[~finite] = fill
    return r.astype(np.float32)


def build_mesh(geometry: Geometry, name: str | None = None,
               arrays: MeshArrays | dict[str, np.ndarray] | None = None) -> bpy.types.Mesh:
    """A new mesh datablock holding ``geometry`` (points: vertices with ``Col`` and ``radius``);
    ``arrays``: as :func:`fill_mesh` takes them."""
    mesh = bpy.data.meshes.new(name or geometry.name)
    fill_mesh(mesh, geometry, arrays)
    if geometry.faces is None:
        _set_point_colors(mesh, geometry)
    return mesh


# --------------------------------------------------------------------------- images & materials


_BYTE_TO_FLOAT = np.arange(256, dtype=np.float32) * np.float32(1.0 / 255.0)  # as float32(k) · float32(1/255)


def image_from_rgb(rgb: np.ndarray, name: str) -> bpy.types.Image:
    """A packed image datablock holding (H, W, 3) uint8 sRGB pixels (row 0 at the top)."""
    h, w = rgb.shape[:2]
    image = bpy.data.images.new(name, w, h, alpha=False)
    rgba = np.ones((h, w, 4), dtype=np.float32)
    rgba[:, :, :3] = _BYTE_TO_FLOAT[rgb[::-1]]  # k / 255, one gather
    image.pixels.foreach_set(memoryview(rgba.reshape(-1)))
    image.update()
    image.pack()
    return image


def photo_material(
    name: str, image: bpy.types.Image | None = None, kind: str = "emission",
    color_attribute: str | None = None,
) -> bpy.types.Material:
    """A material showing the photo as it is: ``image`` through the UVs, or a colour attribute.

    ``"emission"``: unlit — Blender's glTF "lightpath trick" (emission seen by camera rays,
    transparent to all others), which the glTF exporter writes as ``KHR_materials_unlit``.
    ``"principled"``: lit, the photo as Base Color (roughness 1, no specular).
    """
    if kind not in MATERIALS:
        raise ValueError(f"material must be one of {MATERIALS}, got {kind!r}")
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    out.location = (500, 0)
    if color_attribute:
        src = nodes.new("ShaderNodeAttribute")
        src.attribute_type = "GEOMETRY"
        src.attribute_name = color_attribute
        color = src.outputs["Color"]
    else:
        src = nodes.new("ShaderNodeTexImage")
        src.image = image
        src.interpolation = "Linear"
        src.extension = "EXTEND"
        color = src.outputs["Color"]
    src.location = (-400, 0)
    if kind == "emission":
        emission = nodes.new("ShaderNodeEmission")
        light_path = nodes.new("ShaderNodeLightPath")
        transparent = nodes.new("ShaderNodeBsdfTransparent")
        mix = nodes.new("ShaderNodeMixShader")
        emission.location, light_path.location = (0, -100), (0, 300)
        transparent.location, mix.location = (0, 50), (250, 0)
        links.new(color, emission.inputs["Color"])
        links.new(light_path.outputs["Is Camera Ray"], mix.inputs["Fac"])
        links.new(transparent.outputs[0], mix.inputs[1])
        links.new(emission.outputs[0], mix.inputs[2])
        links.new(mix.outputs[0], out.inputs["Surface"])
    else:
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        bsdf.location = (100, 0)
        bsdf.inputs["Roughness"].default_value = 1.0
        specular = bsdf.inputs.get("Specular IOR Level") or bsdf.inputs.get("Specular")
        if specular is not None:
            specular.default_value = 0.0
        links.new(color, bsdf.inputs["Base Color"])
        links.new(bsdf.outputs[0], out.inputs["Surface"])
    return mat


# --------------------------------------------------------------------------- objects


def _pointcloud_data(mesh: bpy.types.Mesh) -> bpy.types.PointCloud:
    """Convert a vertex-only ``mesh`` into a new point-cloud datablock (attributes kept)."""
    tmp = bpy.data.objects.new(mesh.name, mesh)
    bpy.context.scene.collection.objects.link(tmp)  # always in the view layer
    try:
        with bpy.context.temp_override(
            active_object=tmp, object=tmp, selected_objects=[tmp], selected_editable_objects=[tmp],
        ):
            bpy.ops.object.convert(target="POINTCLOUD")
        data = tmp.data
        if not isinstance(data, bpy.types.PointCloud):
            raise RuntimeError("Blender did not convert the mesh to a point cloud")
        return data
    finally:
        bpy.data.objects.remove(tmp)
        if mesh.users == 0:
            bpy.data.meshes.remove(mesh)


def _object_data(geometry: Geometry, name: str, arrays=None, mesh=None):
    if mesh is not None:
        return write_mesh_arrays(mesh, arrays)
    mesh = build_mesh(geometry, name, arrays)
    if geometry.faces is not None:
        return mesh
    data = _pointcloud_data(mesh)
    data.name = name
    return data


def _default_collection():
    return getattr(bpy.context, "collection", None) or bpy.context.scene.collection


def create_object(
    geometry: Geometry,
    name: str | None = None,
    collection: bpy.types.Collection | None = None,
    material: str = "emission",
    image: bpy.types.Image | None = None,
    *,
    upright: bool = True,
    arrays: MeshArrays | dict[str, np.ndarray] | None = None,
    mesh: bpy.types.Mesh | None = None,
) -> bpy.types.Object:
    """A mesh (or ``POINTCLOUD``) object for ``geometry``, linked to ``collection``.

    ``material``: ``"emission"`` (unlit, the photo as it is) or ``"principled"`` (lit).
    ``image``: the photo's image datablock for the texture; ``None`` makes a packed one from
    ``geometry.texture``.  Point clouds read their colour attribute instead.
    ``arrays``: :func:`mesh_arrays` of ``geometry`` if already made (see :func:`fill_mesh`);
    ``mesh``: a mesh :func:`allocate_mesh` made room in for them (``arrays`` then a dict).
    """
    name = name or geometry.name
    collection = collection or _default_collection()
    data = _object_data(geometry, name, arrays, mesh)
    obj = bpy.data.objects.new(name, data)
    collection.objects.link(obj)
    if upright:
        obj.rotation_euler = UPRIGHT_EULER
    if geometry.faces is not None and (image is None or has_atlas(geometry)):
        image = image_from_rgb(geometry.texture, name)
        if has_atlas(geometry):
            image[ATLAS_KEY] = True
    mat = photo_material(
        name, image, material, color_attribute=COLOR_ATTRIBUTE if geometry.faces is None else None
    )
    data.materials.append(mat)
    return obj


ATLAS_KEY = "depth3d_atlas"  # custom property marking an image made for an in-fill atlas


def has_atlas(geometry: Geometry) -> bool:
    """Whether ``geometry.texture`` is an in-fill atlas (the photo and its in-painted canvas,
    :mod:`depth3d.geometry.infill`) rather than the photo."""
    return bool(geometry.meta.get("infill", {}).get("layer_faces"))


def set_texture(obj: bpy.types.Object, geometry: Geometry, photo_image: bpy.types.Image | None) -> None:
    """Point ``obj``'s image textures at what ``geometry``'s UVs index: a new packed atlas image
    when in-fill added one, else ``photo_image``; an atlas image no one uses any more goes."""
    nodes = [n for m in obj.data.materials if m is not None and m.node_tree is not None
             for n in m.node_tree.nodes if n.type == "TEX_IMAGE"]
    if not nodes:
        return
    old = {n.image for n in nodes} - {None}
    if has_atlas(geometry):
        image = image_from_rgb(geometry.texture, f"{obj.name} In-fill")
        image[ATLAS_KEY] = True
    else:
        image = photo_image
    for n in nodes:
        n.image = image
    for im in old:
        if im is not image and im.get(ATLAS_KEY) and im.users == 0:
            bpy.data.images.remove(im)


def _same_topology(mesh: bpy.types.Mesh, n_vertices: int, arrays: MeshArrays) -> bool:
    """Whether ``mesh`` (made by :func:`fill_mesh`) has exactly these polygons and corner UVs.

    Same vertex, polygon and corner counts fix the number of quads, and :func:`fill_mesh` puts
    the quads first, so equal corner vertices mean equal polygons (and edges).
    """
    n_corners, n_quads = len(arrays.corner_vert), arrays.n_quads
    polygons = mesh.polygons
    if len(mesh.vertices) != n_vertices or len(polygons) != len(arrays.loop_start) \
            or len(mesh.loops) != n_corners or len(mesh.uv_layers) != 1:
        return False
    if any(polygons[i].loop_start != arrays.loop_start[i]
           for i in {0, max(n_quads - 1, 0), min(n_quads, len(polygons) - 1)}):
        return False
    corner_vert = np.empty(n_corners, dtype=np.int32)
    try:
        mesh.attributes[".corner_vert"].data.foreach_get("value", corner_vert)
    except KeyError:
        mesh.loops.foreach_get("vertex_index", corner_vert)
    if not np.array_equal(corner_vert, arrays.corner_vert):
        return False
    uv = np.empty(2 * n_corners, dtype=np.float32)
    mesh.uv_layers[0].uv.foreach_get("vector", uv)
    return np.array_equal(uv.view(np.int64), arrays.corner_uv.reshape(-1).view(np.int64))


def update_object_geometry(obj: bpy.types.Object, geometry: Geometry) -> bpy.types.Object:
    """Replace ``obj``'s geometry in place (live re-meshing); materials and transform stay.

    A mesh object keeps its mesh datablock (cleared and refilled); a point cloud gets a new
    point-cloud datablock with the old one's materials.  Mesh ↔ points cannot change in place.
    """
    data = obj.data
    if geometry.faces is not None:
        if not isinstance(data, bpy.types.Mesh):
            raise TypeError(f"{obj.name} is a {obj.type} object; a mesh needs a mesh object")
        arrays = mesh_arrays(geometry) if len(geometry.faces) else None
        if arrays is not None and _same_topology(data, len(geometry.vertices), arrays):
            # e.g. a new scale or shift: move the vertices only
            _set_attribute(data.attributes, "position", data.vertices, "vector", "co",
                           _mv(geometry.vertices, np.float32))
            data.update()
            return obj
        for layer in list(data.uv_layers):
            data.uv_layers.remove(layer)
        data.clear_geometry()
        parts = None if arrays is None else arrays._asdict()
        del arrays  # the dict holds the only references: each array is freed once Blender has it
        fill_mesh(data, geometry, parts)
        return obj
    if not isinstance(data, bpy.types.PointCloud):
        raise TypeError(f"{obj.name} is a {obj.type} object; points need a point-cloud object")
    new = _object_data(geometry, data.name)
    for mat in data.materials:
        new.materials.append(mat)
    old_name = data.name
    obj.data = new
    if data.users == 0:
        bpy.data.pointclouds.remove(data)
    new.name = old_name
    return obj


# --------------------------------------------------------------------------- camera


_ROWS = 1 << 16  # vertices per block of the farthest-vertex search


def _farthest(vertices: np.ndarray) -> float:
    """The largest distance of ``vertices`` (N, 3) float32 from the origin, NaN ignored (NaN
    when all are): ``np.nanmax(np.linalg.norm(vertices, axis=1))``, value for value (the same
    float32 sums, x² + y² + z² in that order), in cache-sized blocks instead of full-size
    temporaries."""
    best = np.float32(np.nan)
    for start in range(0, len(vertices), _ROWS):
        v = vertices[start:start + _ROWS]
        x, y, z = v[:, 0], v[:, 1], v[:, 2]
        s = x * x
        s += y * y
        s += z * z
        with np.errstate(invalid="ignore"):
            m = np.nanmax(s) if not np.isnan(s).all() else np.float32(np.nan)
        best = m if np.isnan(best) or m > best else best
    return float(np.sqrt(best))


def update_camera(cam_obj: bpy.types.Object, geometry: Geometry, scene: bpy.types.Scene | None = None) -> None:
    """Match camera ``cam_obj`` and the render size to ``geometry.camera``."""
    camera = geometry.camera
    cam = cam_obj.data
    cam.type = "PERSP"
    cam.sensor_fit = "HORIZONTAL"
    cam.sensor_width = SENSOR_WIDTH_MM
    cam.lens_unit = "MILLIMETERS"
    cam.lens = camera.lens_mm(SENSOR_WIDTH_MM)
    cam.shift_x = cam.shift_y = 0.0
    if len(geometry.vertices):
        far = _farthest(geometry.vertices)
        cam.clip_start = 0.01
        cam.clip_end = max(100.0, 2.0 * far) if math.isfinite(far) else 1000.0
    render = (scene or bpy.context.scene).render
    render.resolution_x, render.resolution_y = camera.width, camera.height
    render.resolution_percentage = 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0


def add_camera(
    geometry: Geometry,
    name: str | None = None,
    photo_image: bpy.types.Image | None = None,
    collection: bpy.types.Collection | None = None,
    *,
    upright: bool = True,
    make_active: bool = True,
) -> bpy.types.Object:
    """A camera that sees ``geometry`` exactly as the photo shows it.

    At the origin, looking down its local −Z with +Y up (the geometry's frame; ``upright``
    rotates it with the objects).  Horizontal sensor fit, 36 mm sensor,
    lens = ``geometry.camera.lens_mm()``; the scene's render size becomes the photo's, and the
    photo is the camera's background image.  ``make_active``: also the scene camera.
    """
    name = name or f"{geometry.name} camera"
    collection = collection or _default_collection()
    cam = bpy.data.cameras.new(name)
    obj = bpy.data.objects.new(name, cam)
    collection.objects.link(obj)
    if upright:
        obj.rotation_euler = UPRIGHT_EULER
    scene = bpy.context.scene
    update_camera(obj, geometry, scene)
    if photo_image is not None:
        background = cam.background_images.new()
        background.image = photo_image
        background.frame_method = "FIT"
        background.alpha = 1.0
        cam.show_background_images = True
    if make_active:
        scene.camera = obj
    return obj


# --------------------------------------------------------------------------- glTF


@contextlib.contextmanager
def _selection(objects):
    """Select exactly ``objects`` (linked to the view layer) for the duration."""
    view_layer = bpy.context.view_layer
    before = [o for o in view_layer.objects if o.select_get(view_layer=view_layer)]
    active = view_layer.objects.active
    for o in before:
        o.select_set(False, view_layer=view_layer)
    for o in objects:
        o.select_set(True, view_layer=view_layer)
    if objects:
        view_layer.objects.active = objects[0]
    try:
        yield
    finally:
        for o in objects:
            if o.name in view_layer.objects:
                o.select_set(False, view_layer=view_layer)
        for o in before:
            if o.name in view_layer.objects:
                o.select_set(True, view_layer=view_layer)
        view_layer.objects.active = active


def _points_as_mesh(obj: bpy.types.Object, collection) -> bpy.types.Object:
    """A temporary vertex-only mesh object with ``obj``'s points, colours and materials."""
    cloud = obj.data
    n = len(cloud.points)
    pos = np.empty(3 * n, dtype=np.float32)
    cloud.attributes["position"].data.foreach_get("vector", pos)
    mesh = bpy.data.meshes.new(cloud.name)
    mesh.vertices.add(n)
    mesh.attributes["position"].data.foreach_set("vector", memoryview(pos))
    col = cloud.attributes.get(COLOR_ATTRIBUTE)
    if col is not None:
        rgba = np.empty(4 * n, dtype=np.float32)
        col.data.foreach_get("color", rgba)
        attr = mesh.color_attributes.new(COLOR_ATTRIBUTE, "FLOAT_COLOR", "POINT")
        attr.data.foreach_set("color", memoryview(rgba))
        mesh.color_attributes.active_color = attr
    for mat in cloud.materials:
        mesh.materials.append(mat)
    mesh.update()
    name = obj.name
    obj.name = f"{name} (exporting)"
    tmp = bpy.data.objects.new(name, mesh)
    tmp.matrix_world = obj.matrix_world
    collection.objects.link(tmp)
    return tmp


def export_gltf(path: str | os.PathLike, objects, **options) -> Path:
    """Write ``objects`` (meshes, point clouds, cameras) to a ``.glb`` with Blender's exporter.

    Atomic: exported to a temporary file in the same folder, then renamed over ``path``.
    Point clouds go out as glTF ``POINTS`` with their colours.  ``options`` are passed on to
    ``bpy.ops.export_scene.gltf``.
    """
    path = Path(path)
    objects = list(objects)
    scene_collection = bpy.context.scene.collection
    bpy.context.view_layer.update()  # matrix_world of objects made since the last update
    clouds = [o for o in objects if o.type == "POINTCLOUD"]
    names = [o.name for o in clouds]
    temporary = [_points_as_mesh(o, scene_collection) for o in clouds]
    chosen = [o for o in objects if o.type != "POINTCLOUD"] + temporary
    settings = dict(
        export_format="GLB", use_selection=True, export_cameras=True, export_lights=False,
        export_yup=True, export_apply=True, use_mesh_vertices=bool(temporary),
        export_extras=False, check_existing=False,
    )
    settings.update(options)
    try:
        suffix = ".glb" if settings["export_format"] == "GLB" else ".gltf"  # the exporter adds it otherwise
        with atomic_path(path, suffix=suffix) as tmp, _selection(chosen):
            result = bpy.ops.export_scene.gltf(filepath=str(tmp), **settings)
            if "FINISHED" not in result:
                raise RuntimeError(f"{path}: glTF export failed")
    finally:
        for o in temporary:
            mesh = o.data
            bpy.data.objects.remove(o)
            if mesh.users == 0:
                bpy.data.meshes.remove(mesh)
        for o, name in zip(clouds, names):
            o.name = name
    return path
