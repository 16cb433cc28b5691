"""USDZ (Apple AR Quick Look, visionOS): the textured mesh, its photo and its camera, through
Pixar's ``usd-core`` (``pxr``).

Stage: metres (``metersPerUnit`` 1), +Y up, the camera frame of :mod:`depth3d.geometry.camera` (camera at
the origin looking down −Z, which is also USD's camera convention).  Layout::

    /<name>                 Xform, the default prim (kind: component)
    /<name>/mesh            Mesh: points, triangles, primvars:st (per vertex), no subdivision
    /<name>/Materials/photo Material → UsdPreviewSurface ← UsdUVTexture(photo.jpg) ← st reader
    /<name>/camera          Camera with the photo's field of view

"Unlit-looking": UsdPreviewSurface has no unlit model, so (``unlit=True``) the photo drives
``emissiveColor`` and ``diffuseColor`` is black, metallic 0, roughness 1 — the emulation of
glTF's KHR_materials_unlit by Google's usd_from_gltf ("The converter emulates these with a pure
emissive material", https://github.com/google/usd_from_gltf#emulated-functionality-for-ar-quick-look).
The texture is marked sRGB: AR Quick Look reads emissive textures as sRGB since iOS 13 (the
linearising work-around that README describes is obsolete, google/usd_from_gltf#51).
``unlit=False`` puts the photo in ``diffuseColor`` instead (lit, roughness 1).

Points are refused: AR Quick Look and RealityKit draw meshes only, and a USDZ that shows
nothing would be worse than a clear error (write points as .ply or .glb).
Triangles are what the geometry holds: the ``ar`` budget (≤ 100k) comes from
``Options.max_triangles`` when the geometry is built; the texture is resized here.
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ..geometry.camera import FULL_FRAME_WIDTH_MM
from ..geometry.reconstruct import Geometry
from ..io.atomic import atomic_path
from .gltf.camera import camera_translation
from .gltf.material import encode_image

__all__ = ["DEFAULT_TEXTURE_SIZE", "TEXTURE_NAME", "export_usdz"]

DEFAULT_TEXTURE_SIZE = 2048  # long side; AR Quick Look's budget is one 2048² texture
TEXTURE_NAME = "photo.jpg"  # its name inside the package


def export_usdz(geometry: Geometry, path: str | Path, texture_size: int = DEFAULT_TEXTURE_SIZE,
                unlit: bool = True, power_of_two: bool = False) -> Path:
    """Write ``geometry`` (a mesh) as a .usdz package at ``path`` (atomic); return the path.

    texture_size: long side limit of the embedded photo in px; power_of_two: sides rounded to
                  powers of two — the glTF writer's rule (:func:`~.gltf.material.texture_size`:
                  Lanczos, never upscaled), JPEG.
    unlit: the photo as emission over a black diffuse (looks unlit under any lighting), else as
           diffuse colour.
    Raises ValueError for a point cloud or a texture size below 1, before anything is written.
    """
    if not geometry.is_mesh:
        raise ValueError("USDZ holds meshes only (AR Quick Look shows no point clouds); "
                         "use --geometry mesh, or .ply/.glb for points")
    if texture_size < 1:
        raise ValueError(f"texture size must be at least 1 px, got {texture_size}")
    image = encode_image(geometry.texture, texture_size, power_of_two)
    from pxr import UsdUtils

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="depth3d-usdz-") as work:
        layer = os.path.join(work, "scene.usdc")
        with open(os.path.join(work, TEXTURE_NAME), "wb") as f:
            f.write(image.data)
        _write_stage(geometry, layer, unlit)
        with atomic_path(path) as tmp:
            # the ARKit variant flattens to one layer and checks AR Quick Look's constraints;
            # it needs the .usdz suffix, which atomic_path keeps
            if not UsdUtils.CreateNewARKitUsdzPackage(layer, str(tmp)):
                raise OSError(f"{path}: USD could not write the package")
    return path


def _write_stage(geometry: Geometry, layer: str, unlit: bool) -> None:
    from pxr import Gf, Kind, Sdf, Tf, Usd, UsdGeom, UsdShade, Vt

    stage = Usd.Stage.CreateNew(layer)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    root = UsdGeom.Xform.Define(stage, "/" + Tf.MakeValidIdentifier(geometry.name or "photo"))
    stage.SetDefaultPrim(root.GetPrim())
    Usd.ModelAPI(root).SetKind(Kind.Tokens.component)
    base = root.GetPath()

    vertices = np.ascontiguousarray(geometry.vertices, dtype=np.float32)
    faces = np.ascontiguousarray(geometry.faces, dtype=np.int32)
    mesh = UsdGeom.Mesh.Define(stage, base.AppendChild("mesh"))
    mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(vertices))
    mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(faces), 3, np.int32)))
    mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(faces.ravel()))
    mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)  # the default would smooth it (Catmull-Clark)
    mesh.CreateDoubleSidedAttr(True)
    if len(vertices):
        mesh.CreateExtentAttr(Vt.Vec3fArray([Gf.Vec3f(*map(float, vertices.min(0))),
                                             Gf.Vec3f(*map(float, vertices.max(0)))]))
    st = UsdGeom.PrimvarsAPI(mesh).CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray,
                                                 UsdGeom.Tokens.vertex)
    st.Set(Vt.Vec2fArray.FromNumpy(np.ascontiguousarray(geometry.uv, dtype=np.float32)))

    material = UsdShade.Material.Define(stage, base.AppendPath("Materials/photo"))
    shader = UsdShade.Shader.Define(stage, material.GetPath().AppendChild("surface"))
    shader.CreateIdAttr("UsdPreviewSurface")
    reader = UsdShade.Shader.Define(stage, material.GetPath().AppendChild("st_reader"))
    reader.CreateIdAttr("UsdPrimvarReader_float2")
    reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("st")
    texture = UsdShade.Shader.Define(stage, material.GetPath().AppendChild("photo_texture"))
    texture.CreateIdAttr("UsdUVTexture")
    texture.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(Sdf.AssetPath(TEXTURE_NAME))
    texture.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set("sRGB")
    texture.CreateInput("wrapS", Sdf.ValueTypeNames.Token).Set("clamp")
    texture.CreateInput("wrapT", Sdf.ValueTypeNames.Token).Set("clamp")
    texture.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(
        reader.ConnectableAPI(), "result")
    rgb = texture.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
    color = Sdf.ValueTypeNames.Color3f
    if unlit:
        shader.CreateInput("diffuseColor", color).Set(Gf.Vec3f(0.0, 0.0, 0.0))
        shader.CreateInput("emissiveColor", color).ConnectToSource(rgb)
    else:
        shader.CreateInput("diffuseColor", color).ConnectToSource(rgb)
    shader.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(0.0)
    shader.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(1.0)
    material.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
    UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim()).Bind(material)

    _define_camera(stage, base.AppendChild("camera"), geometry)
    stage.GetRootLayer().Save()


def _define_camera(stage, prim_path, geometry: Geometry) -> None:
    """The photo's camera (USD cameras look down −Z, +Y up: our frame), where the glTF writer
    puts it (:func:`~.gltf.camera.camera_translation`: the origin; a relief's stands back), with
    the photo's horizontal FOV: focal length and apertures in mm on a 36 mm-wide sensor,
    aperture aspect = the photo's; clipping around the mesh's depth range."""
    from pxr import Gf, UsdGeom

    cam = geometry.camera
    camera = UsdGeom.Camera.Define(stage, prim_path)
    position = camera_translation(cam, geometry.meta.get("projection", "perspective"))
    if any(position):
        camera.AddTranslateOp().Set(Gf.Vec3d(*position))
    camera.CreateProjectionAttr(UsdGeom.Tokens.perspective)
    camera.CreateFocalLengthAttr(float(cam.lens_mm(FULL_FRAME_WIDTH_MM)))
    camera.CreateHorizontalApertureAttr(float(FULL_FRAME_WIDTH_MM))
    camera.CreateVerticalApertureAttr(float(FULL_FRAME_WIDTH_MM / cam.aspect))
    depth = position[2] - geometry.vertices[:, 2] if len(geometry.vertices) else np.array([1.0])
    depth = depth[np.isfinite(depth) & (depth > 0)]
    near = float(depth.min()) / 2 if len(depth) else 0.01
    far = float(depth.max()) * 2 if len(depth) else 1000.0
    if not (math.isfinite(near) and near > 0 and far > near):
        near, far = 0.01, 1000.0
    camera.CreateClippingRangeAttr(Gf.Vec2f(near, far))
