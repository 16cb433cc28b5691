"""USDZ: the package re-opened by Pixar's USD (``pxr``) — mesh, texture, units, up axis, material,
camera — and checked by USD's own validators (the checks of ``usdchecker``)."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
from conftest import box_depth, random_photo
from PIL import Image
from pxr import Ar, Gf, Usd, UsdGeom, UsdShade, UsdValidation

from depth3d.cli import main
from depth3d.exchange import export
from depth3d.exchange.usdz import export_usdz
from depth3d.geometry.reconstruct import Options, reconstruct

W, H = 300, 200


def smooth_photo(w: int = W, h: int = H) -> np.ndarray:
    """(h, w, 3) uint8 gradients: survive resizing and JPEG, so the embedded texture can be compared."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([255 * x / w, 255 * y / h, 128 + 100 * np.sin(x / 17 + y / 23)], -1).astype(np.uint8)


def box_geometry(geometry: str = "mesh", fov: float = 60.0):
    z = np.full((H, W), 3.0, np.float32)
    z[H // 5: H // 2, W // 3: 2 * W // 3] = 1.5
    return reconstruct(smooth_photo(), z, "depth", Options(geometry=geometry, fov=fov, resolution=64), name="box 1")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / mse)


def validation_errors(stage) -> list[str]:
    """Every error of every validator USD registers (usdchecker's checks, including the usdz
    package rules)."""
    registry = UsdValidation.ValidationRegistry()
    context = UsdValidation.ValidationContext(registry.GetOrLoadAllValidators())
    return [e.GetMessage() for e in context.Validate(stage)
            if e.GetType() == UsdValidation.ValidationErrorType.Error]


def test_usdz_reopened_by_pxr(tmp_path):
    geometry = box_geometry()
    out = export_usdz(geometry, tmp_path / "box.usdz", texture_size=128)
    assert [p.name for p in tmp_path.iterdir()] == ["box.usdz"]  # no temporary left behind
    stage = Usd.Stage.Open(str(out))
    assert validation_errors(stage) == []
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.y
    root = stage.GetDefaultPrim()
    assert root.GetName() == "box_1"

    meshes = [UsdGeom.Mesh(p) for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]
    assert len(meshes) == 1
    mesh = meshes[0]
    points = np.asarray(mesh.GetPointsAttr().Get())
    counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get())
    indices = np.asarray(mesh.GetFaceVertexIndicesAttr().Get())
    assert points.shape == geometry.vertices.shape and len(counts) == len(geometry.faces)
    assert (counts == 3).all()
    np.testing.assert_allclose(points, geometry.vertices, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(indices.reshape(-1, 3), geometry.faces)
    st = UsdGeom.PrimvarsAPI(mesh).GetPrimvar("st")
    assert st.GetInterpolation() == UsdGeom.Tokens.vertex
    np.testing.assert_allclose(np.asarray(st.Get()), geometry.uv, rtol=0, atol=1e-7)
    assert mesh.GetSubdivisionSchemeAttr().Get() == UsdGeom.Tokens.none
    # the frame: the box (1.5 m) in front of the wall (3 m), in front of the camera (−Z)
    assert np.isclose(points[:, 2].min(), -3.0, atol=1e-4) and np.isclose(points[:, 2].max(), -1.5, atol=1e-4)

    # the material bound to the mesh: unlit-looking, the photo as emission over black
    material, _ = UsdShade.MaterialBindingAPI(mesh.GetPrim()).ComputeBoundMaterial()
    assert material
    surface = material.ComputeSurfaceSource()[0]
    assert surface.GetIdAttr().Get() == "UsdPreviewSurface"
    assert tuple(surface.GetInput("diffuseColor").Get()) == (0.0, 0.0, 0.0)
    (source,) = surface.GetInput("emissiveColor").GetConnectedSources()[0]
    texture = UsdShade.Shader(source.source.GetPrim())
    assert texture.GetIdAttr().Get() == "UsdUVTexture"
    assert texture.GetInput("sourceColorSpace").Get() == "sRGB"
    (st_source,) = texture.GetInput("st").GetConnectedSources()[0]
    assert UsdShade.Shader(st_source.source.GetPrim()).GetInput("varname").Get() == "st"

    # the texture, inside the package, read through USD's asset resolver: resized to 128 px
    asset = texture.GetInput("file").Get()
    assert asset.resolvedPath.startswith(str(out) + "[")
    data = Ar.GetResolver().OpenAsset(Ar.ResolvedPath(asset.resolvedPath)).GetBuffer()
    image = Image.open(io.BytesIO(bytes(data)))
    image.load()
    assert image.size == (128, 85)
    expected = Image.fromarray(geometry.texture).resize((128, 85), Image.LANCZOS)
    assert psnr(np.asarray(image.convert("RGB")), np.asarray(expected)) > 35

    # the camera sees every vertex where its texture coordinate says
    (camera,) = [UsdGeom.Camera(p) for p in stage.Traverse() if p.IsA(UsdGeom.Camera)]
    gf_camera = camera.GetCamera(Usd.TimeCode.Default())
    assert gf_camera.transform == Gf.Matrix4d(1.0)
    fov_x = 2 * math.degrees(math.atan(gf_camera.horizontalAperture / 2 / gf_camera.focalLength))
    assert fov_x == pytest.approx(60.0, abs=1e-4)
    assert gf_camera.aspectRatio == pytest.approx(W / H, rel=1e-6)
    near, far = gf_camera.clippingRange.min, gf_camera.clippingRange.max
    assert near < 1.5 and far > 3.0
    proj = np.asarray(gf_camera.frustum.ComputeProjectionMatrix())  # row vectors: p' = p · M
    clip = np.c_[points, np.ones(len(points))] @ proj
    ndc = clip[:, :2] / clip[:, 3:]
    np.testing.assert_allclose(ndc, geometry.uv * 2 - 1, rtol=0, atol=1e-4)


def test_lit_material_and_cli(tmp_path):
    """``depth3d convert x.png -o x.usdz`` writes it; ``--material lit`` puts the photo in diffuse."""
    photo, depth = random_photo(tmp_path / "p.png", (64, 48)), box_depth(tmp_path / "p.npy", (64, 48))
    for material in ("unlit", "lit"):
        out = tmp_path / material / "p.usdz"
        assert main(["convert", str(photo), "-o", str(out), "--depth", str(depth),
                     "--material", material]) == 0
        stage = Usd.Stage.Open(str(out))
        assert validation_errors(stage) == []
        (mesh,) = [p for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]
        surface = UsdShade.MaterialBindingAPI(mesh).ComputeBoundMaterial()[0].ComputeSurfaceSource()[0]
        lit = material == "lit"
        assert surface.GetInput("diffuseColor").HasConnectedSource() == lit
        emissive = surface.GetInput("emissiveColor")
        assert bool(emissive and emissive.HasConnectedSource()) != lit


def test_refusals_write_nothing(tmp_path, capsys):
    with pytest.raises(ValueError, match="texture size"):
        export_usdz(box_geometry(), tmp_path / "a.usdz", texture_size=0)
    with pytest.raises(ValueError, match="meshes only"):
        export(box_geometry("points"), tmp_path / "b.usdz")
    assert list(tmp_path.iterdir()) == []
    photo, depth = random_photo(tmp_path / "p.png", (64, 48)), box_depth(tmp_path / "p.npy", (64, 48))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:  # a combination that cannot be honoured: a usage error
        main(["convert", str(photo), "-o", str(out / "p.usdz"), "--depth", str(depth), "--geometry", "points"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and err[-1].endswith("USDZ holds meshes only (AR Quick Look shows no point clouds)"), err
    assert not out.exists() or list(out.iterdir()) == []


def test_relief_camera_stands_where_the_gltf_camera_does(tmp_path):
    """A relief (a plane of width 1) is seen from the distance where it fills the FOV: the USD
    camera's position is the glTF camera node's, and both ends of the plane at height 0 project
    to the frame's edges."""
    z = np.linspace(1.0, 2.0, W, dtype=np.float32)[None].repeat(H, 0)  # any map: height 0·it + 0
    geometry = reconstruct(smooth_photo(), z, "depth", Options(projection="relief", fov=60.0, scale=0.0,
                                                               shift=0.0, resolution=16))
    assert np.abs(geometry.vertices[:, 2]).max() < 1e-6
    stage = Usd.Stage.Open(str(export_usdz(geometry, tmp_path / "relief.usdz")))
    (camera,) = [UsdGeom.Camera(p) for p in stage.Traverse() if p.IsA(UsdGeom.Camera)]
    gf_camera = camera.GetCamera(Usd.TimeCode.Default())
    assert gf_camera.transform.ExtractTranslation()[2] == pytest.approx(0.5 / math.tan(math.radians(30)))
    points = np.asarray(UsdGeom.Mesh(stage.GetPrimAtPath("/photo/mesh")).GetPointsAttr().Get(), np.float64)
    view = np.asarray(gf_camera.frustum.ComputeViewMatrix())
    clip = np.c_[points, np.ones(len(points))] @ view @ np.asarray(gf_camera.frustum.ComputeProjectionMatrix())
    np.testing.assert_allclose(clip[:, :2] / clip[:, 3:], geometry.uv * 2 - 1, rtol=0, atol=1e-4)


def test_triangle_budget_reaches_the_package(tmp_path):
    """``--max-triangles`` (the decimation) bounds the USDZ mesh as it bounds a glTF one."""
    photo, depth = random_photo(tmp_path / "p.png", (64, 48)), box_depth(tmp_path / "p.npy", (64, 48))
    out = tmp_path / "p.usdz"
    assert main(["convert", str(photo), "-o", str(out), "--depth", str(depth), "--max-triangles", "200"]) == 0
    stage = Usd.Stage.Open(str(out))
    (mesh,) = [UsdGeom.Mesh(p) for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]
    assert 0 < len(mesh.GetFaceVertexCountsAttr().Get()) <= 200
