"""The background layer and frame margin (depth3d.geometry.infill): what a moving head uncovers.

Real Cycles renders (tests/scenes.py) of the room (a thin pole in front of the back wall, boxes,
spheres, side walls at the frame edge) and a portrait "stage" (a thin pole 1.6 m in front of a
wall, a large box cut by the frame edge, a ball at the bottom edge), from the photo's eye and
from eyes moved 10 and 30 cm right, forward and back.  The converted mesh is rasterised from
the same eyes (tests/moved_eyes.py) and compared with the true render there.
"""
from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from moved_eyes import EYES, ORIGIN, cached_eye_renders, rasterize, score

from depth3d.geometry.infill import BEHIND, HEAD_MOTION, pack_atlas, push_pull
from depth3d.geometry.reconstruct import Options, reconstruct

REPO = Path(__file__).resolve().parent.parent
MAX_EMPTY = {10: 0.005, 30: 0.02}  # share of the view, by head motion in cm
MAX_HOLES_AT_ORIGIN = 0.002


class _Renders(dict):
    """``{scene: {eye: render}}``, each scene rendered (or read from the cache) when first used."""

    def __init__(self, cache: Path):
        super().__init__()
        self.cache = cache

    def __missing__(self, scene):
        self[scene] = cached_eye_renders(self.cache, scene)
        return self[scene]


@pytest.fixture(scope="session")
def eye_renders(request):
    return _Renders(Path(request.config.cache.mkdir("depth3d")))


def _depth(render: dict) -> np.ndarray:
    """The true depth with the sky (if any) as a backdrop 10 × farther than the farthest surface."""
    d = render["depth"]
    finite = np.isfinite(d)
    return np.where(finite, d, np.float32(10 * d[finite].max())).astype(np.float32)


def _meshes(render: dict):
    fov = float(render["fov"])
    depth = _depth(render)
    return fov, {name: reconstruct(render["rgb"], depth, "depth", Options(fov=fov, **kw))
                 for name, kw in (("cut", {}), ("rubber", {"edge_threshold": 0}), ("infill", {"infill": True}))}


def _view(geometry, fov, render, eye=ORIGIN):
    h, w = render["depth"].shape
    return rasterize(geometry.vertices, geometry.faces, geometry.uv, geometry.texture, fov, w, h, eye)


@pytest.mark.parametrize("scene", ["room", "stage"])
def test_moved_eyes_see_no_holes_and_better_colour(eye_renders, scene):
    """From every moved eye: empty share ≤ 0.5 % at 10 cm and ≤ 2 % at 30 cm, and PSNR
    against the true render above the rubber sheet's (no cuts); the cut mesh alone fails."""
    renders = eye_renders[scene]
    fov, meshes = _meshes(renders[ORIGIN])
    layer = meshes["infill"].meta["infill"]
    assert layer["layer_faces"] > 0 and layer["behind_cuts"], layer
    assert len(meshes["infill"].faces) <= 1.5 * len(meshes["cut"].faces)
    worst_cut = 0.0
    for name, eye in EYES.items():
        truth = renders[eye]
        got = score(_view(meshes["infill"], fov, truth, eye), truth)
        rubber = score(_view(meshes["rubber"], fov, truth, eye), truth)
        cut = score(_view(meshes["cut"], fov, truth, eye), truth)
        worst_cut = max(worst_cut, cut.empty)
        cm = round(100 * max(abs(v) for v in eye))
        assert got.empty <= MAX_EMPTY[cm], f"{name}: {got.empty:.2%} of the view empty"
        assert got.psnr > rubber.psnr, f"{name}: PSNR {got.psnr:.2f} dB, rubber sheet {rubber.psnr:.2f} dB"
    assert worst_cut > 0.02  # the measure sees the holes the cut mesh leaves


@pytest.mark.parametrize("scene", ["room", "stage"])
def test_original_eye_sees_the_photo_as_before(eye_renders, scene):
    """From the photo's eye the layer never shows where the mesh is, holes ≤ 0.2 %, and the
    mesh itself is the in-fill-off mesh, vertex for vertex."""
    render = eye_renders[scene][ORIGIN]
    fov, meshes = _meshes(render)
    cut, infill = meshes["cut"], meshes["infill"]
    n, nf = len(cut.vertices), len(cut.faces)
    np.testing.assert_array_equal(infill.vertices[:n], cut.vertices)
    np.testing.assert_array_equal(infill.faces[:nf], cut.faces)
    before, after = _view(cut, fov, render), _view(infill, fov, render)
    shown = before.face >= 0
    assert not (shown & (after.face != before.face)).any()
    assert np.abs(after.rgb - before.rgb)[shown].max() < 0.05  # the same texels through the atlas
    surface = np.isfinite(render["depth"])
    assert (surface & (after.face < 0)).sum() / surface.sum() <= MAX_HOLES_AT_ORIGIN


def test_thin_pole_background_continues_the_wall(eye_renders):
    """Stage: moved 10 cm right, the wall strip the pole hid is there, at the wall's depth,
    in the wall's colours (not the pole's)."""
    renders = eye_renders["stage"]
    eye = EYES["right 10 cm"]
    truth = renders[eye]
    fov, meshes = _meshes(renders[ORIGIN])
    cut = _view(meshes["cut"], fov, truth, eye)
    got = _view(meshes["infill"], fov, truth, eye)
    h, w = truth["depth"].shape
    cols = np.arange(w)[None, :]
    # the hole behind the pole: upper half of the view (wall only), the middle third
    hole = (cut.face < 0) & (np.arange(h)[:, None] < h // 2) & (cols > w // 3) & (cols < 2 * w // 3)
    assert hole.sum() > 100, hole.sum()
    covered = got.face[hole] >= 0
    assert covered.all()
    depth = 1.0 / got.inv_depth[hole] - eye[2]
    true_depth = truth["depth"][hole]
    assert np.median(np.abs(depth / true_depth - 1)) < 0.02
    pole_colour = np.array([225.0, 225.0, 230.0])  # the bright metal pole
    wall_err = np.abs(got.rgb[hole] - truth["rgb"][hole]).mean()
    pole_err = np.abs(pole_colour - truth["rgb"][hole]).mean()
    assert wall_err < 0.5 * pole_err, (wall_err, pole_err)


def test_frame_edge_margin_covers_what_a_step_back_sees(eye_renders):
    """Stage moved back 30 cm: the view reaches past the photo's frame on every side (true
    surface points that project outside the photo); the margin covers them, the cut mesh not."""
    renders = eye_renders["stage"]
    eye = EYES["back 30 cm"]
    truth = renders[eye]
    fov, meshes = _meshes(renders[ORIGIN])
    h, w = truth["depth"].shape
    tan_x = math.tan(math.radians(fov) / 2)
    tan_y = tan_x * h / w
    # each pixel's true surface point, back in the photo's camera frame
    x = ((np.arange(w) + 0.5) / w * 2 - 1)[None, :] * tan_x * truth["depth"]
    y = (1 - (np.arange(h) + 0.5) / h * 2)[:, None] * tan_y * truth["depth"]
    z = truth["depth"] - eye[2]  # planar depth from the photo's eye
    outside = (np.abs(x / z) > tan_x) | (np.abs(y / z) > tan_y)
    assert outside[0].all() and outside[-1].all() and outside[:, 0].all() and outside[:, -1].all()
    assert outside.mean() > 0.1
    cut = _view(meshes["cut"], fov, truth, eye)
    got = _view(meshes["infill"], fov, truth, eye)
    assert (cut.face[outside] >= 0).mean() < 0.01
    assert (got.face[outside] >= 0).mean() > 0.995


# --------------------------------------------------------------------------- analytic


def _wall_and_box(w=96, h=72):
    """A grey wall 3 m away with a red box 1.5 m away in the middle (planar depth, photo)."""
    depth = np.full((h, w), 3.0, np.float32)
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:] = (120, 120, 120)
    box = (slice(h // 4, 3 * h // 4), slice(w // 3, 2 * w // 3))
    depth[box] = 1.5
    rgb[box] = (220, 20, 20)
    return rgb, depth


def _layer(g):
    n = len(g.vertices) - g.meta["infill"]["layer_vertices"]
    nf = len(g.faces) - g.meta["infill"]["layer_faces"]
    return n, nf


def test_layer_behind_a_box_continues_the_wall_in_wall_colour():
    rgb, depth = _wall_and_box()
    g = reconstruct(rgb, depth, "depth", Options(fov=60.0, infill=True))
    n, _ = _layer(g)
    layer = g.vertices[n:]
    # every layer vertex lies on the wall plane, BEHIND further back
    np.testing.assert_allclose(-layer[:, 2], 3.0 * (1 + BEHIND), rtol=1e-4)
    # its colour comes from the wall only: the texels its UVs reach are grey
    th, tw = g.texture.shape[:2]
    x = np.clip(np.round(g.uv[n:, 0] * tw - 0.5).astype(int), 0, tw - 1)
    y = np.clip(np.round((1 - g.uv[n:, 1]) * th - 0.5).astype(int), 0, th - 1)
    texels = g.texture[y, x].astype(int)
    assert np.abs(texels - 120).max() <= 2, np.unique(texels.reshape(-1, 3), axis=0)[:5]
    # the layer reaches under the box by the parallax of the head motion
    cam = g.camera
    s = layer[:, 0] / -layer[:, 2] / cam.tan_half_x  # −1 … 1 across the frame
    box_left = -1 + 2 * (96 // 3 + 0.5) / 96
    need = HEAD_MOTION * (1 / 1.5 - 1 / 3.0) / cam.tan_half_x
    behind_box = s[(s > box_left) & (s < 0)]
    assert behind_box.max() >= box_left + 0.9 * need
    # ... and the frame margin past the edge by the wall's parallax
    assert s.min() <= -1 - 0.9 * HEAD_MOTION / 3.0 / cam.tan_half_x


def test_infill_off_is_todays_output_bit_for_bit():
    """Hashes of today's meshes (main at 9b734f2) for a synthetic room: in-fill off changes
    nothing, and in-fill on keeps them as its first vertices and faces."""
    sys.path.insert(0, str(REPO / "bench"))
    from bench_convert import scene

    rgb, depth = scene(320, 240)
    expected = {(): "91f977564de3c18f", (("resolution", 100),): "efebda82096f8cee",
                (("edge_threshold", 0),): "c393772c2adfe467"}
    for kw, digest in expected.items():
        for infill in (False, True):
            g = reconstruct(rgb, depth, "depth", Options(fov=60.0, infill=infill, **dict(kw)))
            if infill:
                n, nf = _layer(g)
                th = g.texture.shape
                assert th[0] > 240 and g.meta["infill"]["layer_faces"] > 0
                g.vertices, g.faces, g.texture = g.vertices[:n], g.faces[:nf], g.texture[:240, :320]
                # UVs are remapped into the atlas: map them back to the photo's
                g.uv = np.stack([g.uv[:n, 0] * th[1] / 320, 1 - (1 - g.uv[:n, 1]) * th[0] / 240], 1)
                np.testing.assert_allclose(g.uv, reconstruct(rgb, depth, "depth", Options(fov=60.0, **dict(kw))).uv,
                                           atol=2e-6)
                continue
            h = hashlib.sha256()
            for a in (g.vertices, g.faces, g.uv, g.texture):
                h.update(np.ascontiguousarray(a).tobytes())
            assert h.hexdigest()[:16] == digest, kw
            assert "infill" not in g.meta


@pytest.mark.parametrize("case", ["island", "steps everywhere", "flat", "relief"])
def test_bad_input_skips_the_layer_with_a_note(case):
    h, w = 48, 64
    rgb = np.full((h, w, 3), 100, np.uint8)
    depth = np.full((h, w), 2.0, np.float32)
    projection = "perspective"
    if case == "island":
        depth[:] = np.nan
        depth[20:24, 30:34] = 1.0
    elif case == "steps everywhere":
        depth[(np.add.outer(np.arange(h), np.arange(w)) % 2) == 1] = 6.0
    elif case == "relief":
        depth[10:20, 10:20] = 1.0
        projection = "relief"
    g = reconstruct(rgb, depth, "depth", Options(fov=60.0, infill=True, projection=projection))
    note = g.meta["infill"]["note"]
    if case == "flat":  # nothing to fill behind; the frame margin is still there
        assert "no depth steps" in note and g.meta["infill"]["layer_faces"] > 0
        assert not g.meta["infill"]["behind_cuts"]
        return
    assert g.meta["infill"]["layer_faces"] == 0 and "skipped" in note, note
    assert g.texture is rgb and len(g.faces) == len(reconstruct(rgb, depth, "depth", Options(
        fov=60.0, projection=projection)).faces)


def test_cli_infill_writes_a_valid_glb_and_warns_when_skipped(tmp_path):
    from conftest import assert_valid_gltf, box_depth, random_photo

    photo = random_photo(tmp_path / "photo.png")
    depth = box_depth(tmp_path / "depth.npy")
    env_run = [sys.executable, "-m", "depth3d", "convert"]
    out = tmp_path / "layer.glb"
    r = subprocess.run([*env_run, str(photo), "--depth", str(depth), "-o", str(out), "--infill"],
                       check=False, capture_output=True, text=True)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert_valid_gltf(out)
    import trimesh

    scene = trimesh.load(out)
    meshes = list(scene.geometry.values())
    assert len(meshes) == 1  # one mesh, one material: the layer shares the atlas
    off = tmp_path / "off.glb"
    r = subprocess.run([*env_run, str(photo), "--depth", str(depth), "-o", str(off), "--no-infill"],
                       check=False, capture_output=True, text=True)
    assert r.returncode == 0
    plain = next(iter(trimesh.load(off).geometry.values()))
    assert len(meshes[0].faces) > len(plain.faces)
    # steps everywhere: the layer is skipped with one warning line, the file still written
    steps = np.full((48, 64), 2.0, np.float32)
    steps[(np.add.outer(np.arange(48), np.arange(64)) % 2) == 1] = 6.0
    np.save(tmp_path / "steps.npy", steps)
    out2 = tmp_path / "steps.glb"
    r = subprocess.run([*env_run, str(photo), "--depth", str(tmp_path / "steps.npy"), "-o", str(out2), "--infill"],
                       check=False, capture_output=True, text=True)
    assert r.returncode == 0 and out2.is_file()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: {photo}: in-fill skipped"), r.stderr


# --------------------------------------------------------------------------- pieces


def test_push_pull_keeps_known_values_and_fills_from_them():
    rng = np.random.default_rng(0)
    values = rng.random((37, 53, 3)).astype(np.float32)
    known = rng.random((37, 53)) < 0.3
    out = push_pull(values, known)
    np.testing.assert_array_equal(out[known], values[known])
    assert np.isfinite(out).all()
    lo, hi = values[known].min(axis=0), values[known].max(axis=0)
    assert (out >= lo - 1e-6).all() and (out <= hi + 1e-6).all()  # a blend of known values
    # a hole in a constant field is filled with that constant; a hole in two halves takes its side's
    field = np.where(np.arange(40)[None, :] < 20, 1.0, 5.0) * np.ones((30, 1))
    hole = np.zeros((30, 40), bool)
    hole[10:20, 5:15] = True
    filled = push_pull(field, ~hole)
    assert np.abs(filled[hole][:, None] - 1.0).max() < 0.6
    assert math.isnan(push_pull(field, np.zeros_like(hole))[0, 0])


def test_atlas_keeps_the_photo_texels():
    photo = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    canvas = np.full((9, 11, 3), 200, np.uint8)
    atlas = pack_atlas(photo, canvas)
    assert atlas.texture.shape == (5 + 2 + 9, 11, 3)
    np.testing.assert_array_equal(atlas.texture[:5, :7], photo)
    np.testing.assert_array_equal(atlas.texture[atlas.canvas_row:, :11], canvas)


def test_layer_fits_a_triangle_budget():
    """With a budget for the layer (a VR/AR target's share), its grid coarsens until it fits."""
    from depth3d.geometry.infill import infill_geometry

    rgb, depth = _wall_and_box(192, 144)
    full = reconstruct(rgb, depth, "depth", Options(fov=60.0, infill=True))
    plain = reconstruct(rgb, depth, "depth", Options(fov=60.0))
    n = full.meta["infill"]["layer_faces"]
    captured = {}
    from depth3d.geometry import infill

    real = infill.infill_geometry

    def spy(geometry, q, cuts, located, options, max_faces=None):
        captured.update(q=q, cuts=cuts, located=located, options=options)
        return real(geometry, q, cuts, located, options, max_faces)

    infill.infill_geometry = spy
    try:
        reconstruct(rgb, depth, "depth", Options(fov=60.0, infill=True))
    finally:
        infill.infill_geometry = real
    args = (plain, captured["q"], captured["cuts"], captured["located"], captured["options"])
    small = infill_geometry(*args, max_faces=n // 3)
    assert 0 < small.meta["infill"]["layer_faces"] <= n // 3
    assert len(small.faces) == len(plain.faces) + small.meta["infill"]["layer_faces"]
    none = infill_geometry(*args, max_faces=1)
    assert none.meta["infill"]["layer_faces"] == 0 and "skipped" in none.meta["infill"]["note"]
