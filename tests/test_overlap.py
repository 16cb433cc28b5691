"""Several photos at once (depth3d.overlap): stages in threads, each photo's result and error
its own; depth at the size the geometry needs; the reduced JPEG decode for the model."""
from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import box_depth, random_photo
from PIL import Image

from depth3d.cli import main
from depth3d.geometry.reconstruct import Options
from depth3d.io.image import Photo, read_photo
from depth3d.overlap import Ahead, decode_small, depth_size


def test_ahead_runs_later_inputs_in_threads_and_keeps_each_error_its_own():
    inputs = [Path(f"p{n}") for n in range(6)]
    ran = []  # (stage, input, thread name)

    def stage(k):
        def run(value):
            name = value if k == 0 else value[0]
            ran.append((k, name, threading.current_thread().name))
            if (k, name) in ((0, "p2"), (1, "p4")):
                raise ValueError(f"{name} broke in stage {k}")
            return (name, k)
        return run

    results, errors = {}, {}
    with Ahead(inputs, [lambda p: stage(0)(str(p)), stage(1)], lambda p, v: (str(p), v)) as work:
        for p in inputs:
            try:
                results[str(p)] = work(p)
            except ValueError as exc:
                errors[str(p)] = str(exc)
    assert errors == {"p2": "p2 broke in stage 0", "p4": "p4 broke in stage 1"}
    assert results == {f"p{n}": (f"p{n}", (f"p{n}", 1)) for n in (0, 1, 3, 5)}
    main_thread = threading.main_thread().name
    first = [t for k, name, t in ran if name == "p0"]
    assert first == [main_thread, main_thread]  # every stage's first run: the calling thread
    later = {(k, name): t for k, name, t in ran if name != "p0"}
    assert later[0, "p1"].startswith("depth3d-stage0") and later[1, "p1"].startswith("depth3d-stage1")
    assert all(t != main_thread for t in later.values())


def test_the_first_stage_runs_further_ahead_while_the_caller_is_busy():
    """With ``first_lookahead`` 4 the first stage (decoding) of inputs 0-3 runs in its thread
    while the caller is still busy (loading a model), the second stage only for the next
    ``lookahead`` inputs once it has run in the calling thread; results stay in order."""
    inputs = [Path(f"p{n}") for n in range(7)]
    decoded, depth = [], []
    four = threading.Semaphore(0)

    def decode(p):
        decoded.append(p.name)
        four.release()
        return p.name

    def estimate(name):
        depth.append((name, threading.current_thread().name))
        return name

    with Ahead(inputs, [decode, estimate], lambda p, v: v, threaded=1, first_lookahead=4) as work:
        assert all(four.acquire(timeout=30) for _ in range(4))  # the caller "loads its model"
        assert decoded == ["p0", "p1", "p2", "p3"] and depth == []
        assert work(inputs[0]) == "p0"
        assert [work(p) for p in inputs[1:]] == [p.name for p in inputs[1:]]
    assert decoded == [p.name for p in inputs]
    assert depth[0] == ("p0", threading.main_thread().name)
    assert all(t.startswith("depth3d-stage1") for _, t in depth[1:])


def test_a_stage_that_never_succeeded_stays_in_the_calling_thread():
    inputs = [Path(f"p{n}") for n in range(3)]
    threads = []

    def decode(p):
        threads.append(threading.current_thread().name)
        if p.name == "p0":
            raise OSError("p0 unreadable")
        return p

    with Ahead(inputs, [decode], lambda p, v: v.name) as work:
        with pytest.raises(OSError):
            work(inputs[0])
        assert threads == [threading.main_thread().name]  # p1 not handed to a thread yet
        assert work(inputs[1]) == "p1"
        assert work(inputs[2]) == "p2"
    assert threads[1] == threading.main_thread().name and threads[2].startswith("depth3d-stage0")


def test_a_folder_converts_as_each_photo_does_alone(tmp_path):
    photos, depth, one, out = (tmp_path / d for d in ("photos", "depth", "one", "out"))
    for d in (photos, depth, one):
        d.mkdir()
    for n in range(4):
        random_photo(photos / f"p{n}.jpg", (64 + 8 * n, 48 + 6 * n), n)
        box_depth(depth / f"p{n}.npy", (64 + 8 * n, 48 + 6 * n))
    assert main(["convert", str(photos), "-o", str(out), "--depth", str(depth), "--format", "ply"]) == 0
    for n in range(4):
        alone = one / f"p{n}.ply"
        assert main(["convert", str(photos / f"p{n}.jpg"), "-o", str(alone),
                     "--depth", str(depth / f"p{n}.npy")]) == 0
        assert (out / f"p{n}.ply").read_bytes() == alone.read_bytes()


@pytest.mark.parametrize("size, options, expected", [
    ((4000, 3000), Options(), (1024, 768)),  # the default grid
    ((3000, 4000), Options(), (768, 1024)),
    ((4000, 3000), Options(resolution=0), None),  # every pixel
    ((4000, 3000), Options(resolution=256), (766, 574)),  # a coarse grid finds its edges 3× finer
    ((4000, 3000), Options(resolution=256, edge_threshold=0), (256, 192)),
    ((800, 600), Options(), None),  # the grid is the photo's own size
])
def test_depth_size_is_the_grid_the_geometry_samples(size, options, expected):
    assert depth_size(*size, options) == expected


def _jpeg(rgb: np.ndarray, orientation: int = 1) -> bytes:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def _smooth(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([128 + 100 * np.sin(x / 37.0), 128 + 100 * np.cos(y / 29.0),
                     np.full((h, w), 90.0)], axis=-1).astype(np.uint8)


def test_decode_small_is_the_photo_at_a_jpeg_scale(tmp_path):
    path = tmp_path / "p.jpg"
    path.write_bytes(_jpeg(_smooth(1200, 1600)))
    photo = read_photo(path)
    small = decode_small(photo, 300)  # 1/4 keeps a short side of 300
    assert small.shape == (300, 400, 3) and small.dtype == np.uint8
    reference = np.asarray(Image.fromarray(photo.rgb).resize((400, 300), Image.BOX), np.float32)
    assert np.abs(small.astype(np.float32) - reference).mean() < 2.0
    assert decode_small(photo, 700) is None  # even 1/2 would be too small
    png = tmp_path / "p.png"
    Image.fromarray(photo.rgb).save(png)
    assert decode_small(read_photo(png), 100) is None  # no DCT scaling outside JPEG


def test_decode_small_turns_as_the_photo_does(tmp_path):
    path = tmp_path / "sideways.jpg"
    path.write_bytes(_jpeg(_smooth(600, 800), orientation=6))  # shown rotated: 600 wide, 800 tall
    photo = read_photo(path)
    assert photo.rgb.shape[:2] == (800, 600)
    small = decode_small(photo, 150)
    assert small.shape == (200, 150, 3)
    reference = np.asarray(Image.fromarray(photo.rgb).resize((150, 200), Image.BOX), np.float32)
    assert np.abs(small.astype(np.float32) - reference).mean() < 2.0


# --- a real model ---------------------------------------------------------------------------

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_da(tmp_path_factory) -> Path:
    from tiny_models import save_tiny_depth_anything

    return save_tiny_depth_anything(tmp_path_factory.mktemp("tiny_da"))


def _transformers_at(folder: Path, rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """transformers' own processor, model and post-processing to a target size: the reference."""
    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    model = transformers.AutoModelForDepthEstimation.from_pretrained(folder).eval()
    with torch.no_grad():
        outputs = model(**processor(images=Image.fromarray(rgb), return_tensors="pt"))
    post = processor.post_process_depth_estimation(outputs, [(size[1], size[0])])[0]
    return post["predicted_depth"].numpy()


def test_depth_at_the_size_asked_for_matches_transformers(tiny_da):
    from depth3d.backends.hf import TransformersBackend

    rgb = np.random.default_rng(3).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    backend = TransformersBackend(model=str(tiny_da))
    result = backend.estimate(Photo(rgb=rgb), (40, 30))
    assert result.depth.shape == (30, 40) and result.depth.dtype == np.float32
    np.testing.assert_allclose(result.depth, _transformers_at(tiny_da, rgb, (40, 30)), rtol=1e-5, atol=0)


def test_photos_batched_in_one_forward_pass_match_one_at_a_time(tiny_da):
    from depth3d.backends.hf import TransformersBackend

    rng = np.random.default_rng(4)
    photos = [Photo(rgb=rng.integers(0, 256, (45, 70, 3), dtype=np.uint8)) for _ in range(3)]
    one = TransformersBackend(model=str(tiny_da))
    several = TransformersBackend(model=str(tiny_da))
    several.load()
    several.batch_size = 2
    calls = []
    several._net.register_forward_hook(
        lambda module, args, kwargs, out: calls.append(len(kwargs["pixel_values"])), with_kwargs=True)
    batched = several.estimate_batch(photos)
    assert calls == [2, 1]  # two photos together, then the third
    for photo, result in zip(photos, batched):
        np.testing.assert_allclose(result.depth, one.estimate(photo).depth, rtol=1e-5, atol=1e-7)


def test_a_folder_through_a_model(tiny_da, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for n in range(3):
        (photos / f"p{n}.jpg").write_bytes(_jpeg(_smooth(480 + 60 * n, 640 + 80 * n)))
    out = tmp_path / "out"
    threads = torch.get_num_threads()
    passes = []  # (thread, torch's threads) of each forward pass of the model

    def record(module, args):
        if type(module).__name__ == "DepthAnythingForDepthEstimation":
            passes.append((threading.current_thread(), torch.get_num_threads()))

    hook = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        assert main(["convert", str(photos), "-o", str(out), "--model", str(tiny_da), "--resolution", "128"]) == 0
    finally:
        hook.remove()
        torch.set_num_threads(threads)
    cores = len(os.sched_getaffinity(0))
    assert passes[0][0] is threading.current_thread() and 1 <= passes[0][1] <= cores
    # later photos go through the model in a stage thread, beside the calling thread's meshing
    # and writing of the photo before: it leaves that a core
    assert len(passes) == 3 and all(t is not threading.current_thread() for t, _ in passes[1:])
    assert all(n == 1 or n <= cores - 1 for _, n in passes[1:])
    for n in range(3):
        mesh = trimesh.load(out / f"p{n}.glb", force="mesh")
        assert len(mesh.faces) > 0
        uv = mesh.visual.uv
        assert uv.min() >= 0 and uv.max() <= 1


IMPORTS_IN_THREADS = """
import json, sys, threading
seen = []
def hook(event, args):
    if event == "import" and threading.current_thread() is not threading.main_thread():
        seen.append((threading.current_thread().name, args[0]))
sys.addaudithook(hook)
from depth3d.cli import main
status = main(["convert", sys.argv[1], "-o", sys.argv[2], "--model", sys.argv[3], "--resolution", "64", "--quiet"])
print(json.dumps({"status": status, "imports": seen}))
"""


def test_photos_decode_while_the_model_loads_and_nothing_is_imported_in_a_thread(tiny_da, tmp_path):
    """A fresh process: the first photos decode in a stage thread while the calling thread
    imports torch and transformers; no module is imported in any other thread than the main one."""
    import json
    import subprocess
    import sys

    photos = tmp_path / "photos"
    photos.mkdir()
    for n in range(3):
        (photos / f"p{n}.jpg").write_bytes(_jpeg(_smooth(300, 400)))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", IMPORTS_IN_THREADS, str(photos), str(tmp_path / "out"),
                           str(tiny_da)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"status": 0, "imports": []}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.glb", "p1.glb", "p2.glb"]
