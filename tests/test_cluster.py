"""`depth3d convert --ray`: the batch on a real local Ray instance (2 CPUs, no dashboard).

One Ray instance serves the whole module (``ray.init`` takes seconds here); the CLI runs in
this process and connects to it, except where the real exit status and stderr of the command
are the point (a subprocess joining the same instance).  Its workers run
tests/cluster_faults.py's hook, which can kill a worker process mid-run.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import REPO, assert_valid_gltf, box_depth, random_photo, same_point_set
from tiny_models import save_tiny_depth_anything

from depth3d.cli import main

ray = pytest.importorskip("ray", reason="the cluster extra (ray[data]) is not installed")

W, H = 64, 48
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray instance for the module; yields ``(address, faults folder)``."""
    faults = tmp_path_factory.mktemp("faults")
    pythonpath = os.pathsep.join(filter(None, [str(REPO), str(TESTS), os.environ.get("PYTHONPATH")]))
    ray.init(
        num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024 ** 2,
        logging_level=logging.WARNING,
        runtime_env={
            "worker_process_setup_hook": "cluster_faults.install",
            "env_vars": {"PYTHONPATH": pythonpath, "DEPTH3D_TEST_FAULTS": str(faults),
                         "HF_HUB_OFFLINE": "1"},
        },
    )
    try:
        yield ray.get_runtime_context().gcs_address, faults
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_depth_anything(tmp_path_factory.mktemp("model") / "tiny-da")


@pytest.fixture
def photos(tmp_path):
    """photos/ with four good photos (PNG, JPEG) and depth/ with a depth map for each."""
    folder, depth = tmp_path / "photos", tmp_path / "depth"
    folder.mkdir(), depth.mkdir()
    for i, name in enumerate(["a.png", "b.jpg", "c.png", "d.jpg"]):
        random_photo(folder / name, (W, H), i)
        box_depth(depth / f"{Path(name).stem}.npy", (W, H))
    return folder, depth


def add_broken(folder: Path, depth: Path) -> None:
    good = (folder / "b.jpg").read_bytes()
    (folder / "broken.jpg").write_bytes(good[: len(good) // 3])  # truncated JPEG
    box_depth(depth / "broken.npy", (W, H))


def assert_same_outputs(ours: Path, reference: Path, atol: float = 1e-6) -> None:
    """The same files, each with the same triangles (vertices to ``atol``) and colours.
    For .ply (vertex colours): trimesh reads both."""
    names = sorted(p.name for p in reference.iterdir())
    assert sorted(p.name for p in ours.iterdir()) == names
    for name in names:
        a, b = (trimesh.load(d / name, force="mesh") for d in (ours, reference))
        assert len(a.faces) == len(b.faces) > 0, name
        assert same_point_set(a.vertices[a.faces].reshape(-1, 9), b.vertices[b.faces].reshape(-1, 9),
                              atol=atol), name
        if name.endswith(".ply"):
            assert np.array_equal(a.visual.vertex_colors, b.visual.vertex_colors), name


def test_ray_run_equals_local_run_through_pyarrow_uris(cluster, photos, tmp_path, capsys):
    """file:// URIs go through pyarrow.fs (listing, reading, temp object + move), as s3:// does."""
    address, _ = cluster
    folder, depth = photos
    assert main(["convert", str(folder), "-o", str(tmp_path / "local"), "--depth", str(depth)]) == 0
    code = main(["convert", folder.as_uri(), "-o", (tmp_path / "ray").as_uri(), "--depth", str(depth),
                 "--ray", address])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "summary: 4 converted, 0 failed, 0 skipped" in err
    assert_same_outputs(tmp_path / "ray", tmp_path / "local")
    for glb in (tmp_path / "local").iterdir():  # no model: the very same bytes
        assert (tmp_path / "ray" / glb.name).read_bytes() == glb.read_bytes()
    assert_valid_gltf(*sorted((tmp_path / "ray").iterdir()))
    assert not [p for p in tmp_path.rglob(".*")], "a temporary file was left behind"


def test_broken_photo_is_one_error_line_and_exit_1(cluster, photos, tmp_path):
    """The real command, in its own process, joining the module's Ray instance."""
    address, _ = cluster
    folder, depth = photos
    add_broken(folder, depth)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "depth3d", "convert", str(folder), "-o", str(out), "--depth", str(depth),
         "--ray", address],
        check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {folder / 'broken.jpg'}: truncated"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert "summary: 4 converted, 1 failed, 0 skipped" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.glb", "b.glb", "c.glb", "d.glb"]


def test_model_actors_survive_a_killed_worker_and_give_the_local_geometry(
    cluster, photos, tiny_model, tmp_path, capsys
):
    """The inference actor dies while it holds b, and the task building c's geometry dies: Ray
    restarts the actor (which loads its model again) and re-runs the task; every output is
    written, whole.  Batched inference (one forward pass per batch of same-size photos) gives
    the geometry of the local run (one photo at a time) up to float32 rounding (relative 1e-6
    in the depth)."""
    address, faults = cluster
    folder, _ = photos
    (faults / "depth-b").touch()
    (faults / "geometry-c").touch()
    assert main(["convert", str(folder), "-o", str(tmp_path / "local"), "--model", str(tiny_model),
                 "--format", "ply"]) == 0
    code = main(["convert", str(folder), "-o", str(tmp_path / "ray"), "--model", str(tiny_model),
                 "--format", "ply", "--ray", address, "--ray-actors", "1", "--ray-batch-size", "4"])
    err = capsys.readouterr().err
    died = sorted(p.name for p in faults.glob("*.died"))
    assert died == ["depth-b.died", "geometry-c.died"], (died, err)
    assert code == 0, err
    assert "summary: 4 converted, 0 failed" in err
    assert_same_outputs(tmp_path / "ray", tmp_path / "local", atol=1e-4)
    assert not [p for p in tmp_path.rglob(".*")], "a temporary file was left behind"


def _stats(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


@pytest.mark.parametrize("on_ray", [False, True], ids=["local", "ray"])
def test_skip_existing_converts_only_what_is_missing(cluster, photos, tmp_path, capsys, on_ray):
    address, _ = cluster
    folder, depth = photos
    out = tmp_path / "out"
    assert main(["convert", str(folder / "a.png"), str(folder / "c.png"), "-o", str(out),
                 "--depth", str(depth)]) == 0
    before = _stats(out)
    ray_args = ["--ray", address] if on_ray else []
    code = main(["convert", str(folder), "-o", str(out), "--depth", str(depth), "--skip-existing",
                 *ray_args])
    err = capsys.readouterr().err
    assert code == 0, err
    after = _stats(out)
    assert sorted(after) == ["a.glb", "b.glb", "c.glb", "d.glb"]
    assert {k: after[k] for k in before} == before  # never rewritten: same inode, same mtime
    if on_ray:
        assert "summary: 2 converted, 0 failed, 2 skipped" in err
    else:
        assert "skipped 2 of 4 photos: output exists" in err
    # Everything there: nothing to do, and still exit 0.
    assert main(["convert", str(folder), "-o", str(out), "--depth", str(depth), "--skip-existing",
                 *ray_args]) == 0
    assert _stats(out) == after


def test_batched_inference_matches_one_photo_at_a_time(tiny_model):
    """What each actor runs: one forward pass per group of same-size photos, results in order."""
    from depth3d.backends.hf import TransformersBackend
    from depth3d.io.image import Photo

    rng = np.random.default_rng(1)
    photos = [Photo(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), name=f"p{i}")
              for i, (w, h) in enumerate([(64, 48), (40, 60), (64, 48), (64, 48), (40, 60)])]
    backend = TransformersBackend(str(tiny_model), device="cpu")
    batched = backend.estimate_batch(photos)
    for photo, result in zip(photos, batched):
        single = backend.estimate(photo)
        assert result.depth.shape == (photo.height, photo.width) and result.kind == single.kind
        np.testing.assert_allclose(result.depth, single.depth, rtol=1e-5,
                                   atol=1e-5 * float(np.abs(single.depth).max()))


def test_object_store_places_keep_their_options_out_of_messages():
    """s3:// places: names join under the prefix, the query (pyarrow.fs options) travels with
    them to the workers but never into a message; the path on the bucket is pyarrow's."""
    from depth3d.cluster.storage import Place

    out = Place.parse("s3://archive/glb/?endpoint_override=127.0.0.1:9&scheme=http&region=eu-west-1")
    glb = out.child("a.glb")
    assert str(glb) == "s3://archive/glb/a.glb"
    assert Place.parse(glb.uri()) == glb and "endpoint_override=127.0.0.1:9" in glb.uri()
    fs, path = glb.open()  # region given: no request is made
    assert (fs.type_name, path, fs.region) == ("s3", "archive/glb/a.glb", "eu-west-1")
    assert Place.parse("s3://archive?region=eu-west-1").child("a.glb").open()[1] == "archive/a.glb"
    assert (glb.stem, glb.suffix, str(glb.parent)) == ("a", ".glb", "s3://archive/glb")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_ray_address_is_one_line_and_exit_1(photos, tmp_path):
    folder, depth = photos
    port = _closed_port()
    proc = subprocess.run(
        [sys.executable, "-m", "depth3d", "convert", str(folder), "-o", str(tmp_path / "out"),
         "--depth", str(depth), "--ray", f"127.0.0.1:{port}"],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"error: ray cluster at 127.0.0.1:{port}: unreachable (Connection refused)"
    ]


def test_unwritable_output_fails_before_any_work(photos, tmp_path, capsys):
    """The output folder is probed before Ray is even contacted (the address here is closed:
    reaching it would be a different error)."""
    folder, depth = photos
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["convert", str(folder), "-o", str(blocker / "out"), "--depth", str(depth),
                 "--ray", f"127.0.0.1:{_closed_port()}"])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err == [f"error: {blocker / 'out'}: cannot write there (Not a directory)"]


def _bad_outputs(folder: Path, tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """name: (convert's inputs and options, the error line both batches give)."""
    one = folder / "a.png"
    return {
        "suffix-vs-format": ([str(one), "-o", str(tmp_path / "a.ply"), "--format", "glb"],
                             (f"error: -o {tmp_path / 'a.ply'}: the name ends in .ply but --format is glb; "
                              "name it *.glb")),
        "several-into-a-file": ([str(folder), "-o", str(tmp_path / "all.glb")],
                                (f"error: -o {tmp_path / 'all.glb'}: 4 inputs need an output folder, "
                                 "not a file name")),
        "sidecar-onto-a-photo": ([str(folder), "-o", str(folder), "--format", "obj"],
                                 (f"error: {folder / 'b.obj'}: its jpg file {folder / 'b.jpg'} would replace "
                                  f"the input {folder / 'b.jpg'}; choose another output name")),
    }


@pytest.mark.parametrize("case", ["suffix-vs-format", "several-into-a-file", "sidecar-onto-a-photo"])
def test_ray_refuses_the_outputs_the_local_batch_refuses(photos, tmp_path, capsys, case):
    """The local batch's output checks, before Ray is contacted (the address is closed: reaching
    it would be another error): exit 2, the same one line, nothing written."""
    folder, depth = photos
    args, line = _bad_outputs(folder, tmp_path)[case]
    before = sorted(p for p in tmp_path.rglob("*"))
    for extra in ([], ["--ray", f"127.0.0.1:{_closed_port()}"]):
        with pytest.raises(SystemExit) as exc:
            main(["convert", *args, "--depth", str(depth), *extra])
        errors = [e for e in capsys.readouterr().err.splitlines() if "error" in e]
        assert (exc.value.code, errors) == (2, [f"depth3d convert: {line}"]), extra
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_ray_target_ar_is_meshopt_within_its_budget(cluster, tmp_path, capsys):
    """--ray --target ar: the target's budget and encoding reach the workers (a photo whose full
    mesh is 3.4 × the budget), decoded by glTF-Transform's meshopt decoder; the same triangles
    as the local batch's file."""
    from test_targets import decode, read_glb, read_json

    from depth3d.targets import TARGETS

    address, _ = cluster
    photo = random_photo(tmp_path / "big.png", (480, 360), 7)
    depth = box_depth(tmp_path / "big.npy", (480, 360))
    outs = {}
    for name, extra in (("local", []), ("ray", ["--ray", address])):
        outs[name] = tmp_path / name / "big.glb"
        code = main(["convert", str(photo), "-o", str(outs[name]), "--depth", str(depth), "--target", "ar", *extra])
        assert code == 0, capsys.readouterr().err
    doc = read_json(outs["ray"])
    assert "EXT_meshopt_compression" in doc["extensionsRequired"]
    decode(outs["ray"], tmp_path / "decoded.glb")
    assert_valid_gltf(tmp_path / "decoded.glb")
    faces = len(read_glb(tmp_path / "decoded.glb")["indices"])
    assert 0 < faces <= TARGETS["ar"].max_triangles  # of ~340k undecimated
    assert outs["ray"].read_bytes() == outs["local"].read_bytes()
