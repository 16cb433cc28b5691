"""The transformers backend on tiny real models, its offline behaviour, and ``depth3d info``."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from tiny_models import save_tiny_depth_anything, save_tiny_dpt

from depth3d.backends import BackendError, get_backend
from depth3d.backends.hf import DEFAULT_MODEL, TransformersBackend, depth_kind
from depth3d.info import cached_depth_models, collect_info, format_info
from depth3d.io.image import Photo

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def tiny_dpt(tmp_path_factory) -> Path:
    return save_tiny_dpt(tmp_path_factory.mktemp("tiny_dpt"))


@pytest.fixture(scope="session")
def tiny_da(tmp_path_factory) -> Path:
    return save_tiny_depth_anything(tmp_path_factory.mktemp("tiny_da"))


@pytest.fixture(scope="session")
def tiny_da_metric(tmp_path_factory) -> Path:
    return save_tiny_depth_anything(tmp_path_factory.mktemp("tiny_da_metric"), metric=True)


@pytest.fixture(scope="module")
def photo() -> Photo:
    """A non-square photo (the tiny DPT takes square input, Depth Anything keeps aspect)."""
    rgb = np.random.default_rng(7).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    return Photo(rgb=rgb, name="noise")


def pipeline_depth(folder: Path, photo: Photo) -> np.ndarray:
    """transformers' own depth-estimation pipeline on the same photo: the reference."""
    from PIL import Image

    pipe = transformers.pipeline("depth-estimation", model=str(folder), device="cpu")
    return pipe(Image.fromarray(photo.rgb))["predicted_depth"].numpy()


BF16_TOLERANCE = (0.03, 0.005)
"""bfloat16 depth against float32's, as fractions of float32's largest value: (max, mean) of the
absolute difference.  bfloat16 keeps 8 significant bits (rounding up to 0.4 % per operation);
measured: Depth Anything V2 Small's architecture 1.1 % / 0.16 % (bench/bench_dtype.py), the tiny
model here 0.9 to 1.8 % / 0.03 to 0.07 % on four noise photos — this allows about twice that."""


def auto_device() -> str:
    mps = getattr(torch.backends, "mps", None)
    return "cuda" if torch.cuda.is_available() else "mps" if mps and mps.is_available() else "cpu"


# --- which models give what ---------------------------------------------------------------

def _configs():
    t = transformers
    return [
        ("dpt-large", lambda: t.DPTConfig(), "disparity"),
        ("dpt-hybrid-midas", lambda: t.DPTConfig(is_hybrid=True), "disparity"),
        ("depth-anything-relative", lambda: t.DepthAnythingConfig(), "disparity"),
        ("depth-anything-metric", lambda: t.DepthAnythingConfig(depth_estimation_type="metric"), "depth"),
        ("zoedepth", lambda: t.ZoeDepthConfig(), "depth"),
        ("depth-pro", lambda: t.DepthProConfig(), "depth"),
        ("glpn", lambda: t.GLPNConfig(), "depth"),
    ]


@pytest.mark.parametrize("make, kind", [c[1:] for c in _configs()], ids=[c[0] for c in _configs()])
def test_depth_kind_per_family(make, kind):
    config = make()
    assert depth_kind(config) == kind
    assert depth_kind(json.loads(config.to_json_string())) == kind  # config.json as read by `info`


def test_depth_kind_unknown_family_is_refused():
    with pytest.raises(BackendError, match="chmv2"):
        depth_kind({"model_type": "chmv2"})


# --- estimation through the user path -----------------------------------------------------

def test_dpt_on_non_square_photo_matches_pipeline(tiny_dpt, photo):
    result = TransformersBackend(model=str(tiny_dpt)).estimate(photo)
    assert result.depth.shape == (photo.height, photo.width)
    assert result.depth.dtype == np.float32 and np.isfinite(result.depth).all()
    assert result.kind == "disparity" and result.fov_deg is None
    assert result.model == str(tiny_dpt)
    np.testing.assert_allclose(result.depth, pipeline_depth(tiny_dpt, photo), rtol=1e-5, atol=0)


@pytest.mark.parametrize("variant, kind", [("relative", "disparity"), ("metric", "depth")])
def test_depth_anything_matches_pipeline(variant, kind, tiny_da, tiny_da_metric, photo):
    folder = tiny_da if variant == "relative" else tiny_da_metric
    result = TransformersBackend(model=str(folder)).estimate(photo)
    assert result.depth.shape == (photo.height, photo.width)
    assert result.depth.dtype == np.float32 and np.isfinite(result.depth).all()
    assert result.kind == kind and result.fov_deg is None
    np.testing.assert_allclose(result.depth, pipeline_depth(folder, photo), rtol=1e-5, atol=0)
    if variant == "metric":  # sigmoid head × max_depth: metres within (0, max_depth)
        max_depth = transformers.AutoConfig.from_pretrained(folder).max_depth
        assert (result.depth > 0).all() and (result.depth < max_depth).all()


def test_model_loads_once_on_auto_device(tiny_da, photo):
    backend = TransformersBackend(model=str(tiny_da))
    assert backend._net is None  # lazy: nothing loaded by the constructor
    first = backend.estimate(photo)
    net = backend._net
    backend.load()
    second = backend.estimate(photo)
    assert backend._net is net
    device = auto_device()  # "cpu" on the CI machine
    assert next(net.parameters()).device.type == device
    assert next(net.parameters()).dtype == (torch.float16 if device == "cuda" else torch.float32)
    np.testing.assert_array_equal(first.depth, second.depth)


def test_get_backend_builds_transformers(tiny_dpt, photo):
    backend = get_backend("transformers", model=str(tiny_dpt), device="cpu")
    assert isinstance(backend, TransformersBackend) and backend.name == "transformers"
    assert backend.estimate(photo).depth.shape == (45, 70)


def test_default_model_and_bad_options():
    assert TransformersBackend().model == DEFAULT_MODEL == "depth-anything/Depth-Anything-V2-Small-hf"
    with pytest.raises(BackendError, match="device"):
        TransformersBackend(device="tpu")
    with pytest.raises(BackendError, match="dtype"):
        TransformersBackend(dtype="int8")


def test_dtype_places_the_weights_and_post_processing_stays_float32(tiny_da, photo):
    """auto is float32 on the CPU (the pipeline's numbers, above); bfloat16 puts the weights in
    bfloat16 and the depth still comes back float32 at the asked size."""
    plain = TransformersBackend(model=str(tiny_da), device="cpu", dtype="auto")
    half = TransformersBackend(model=str(tiny_da), device="cpu", dtype="bfloat16")
    first, second = plain.estimate(photo, (35, 22)), half.estimate(photo, (35, 22))
    assert next(plain._net.parameters()).dtype == torch.float32
    assert {p.dtype for p in half._net.parameters()} == {torch.bfloat16}
    assert second.depth.dtype == np.float32 and second.depth.shape == first.depth.shape == (22, 35)
    assert np.isfinite(second.depth).all()


def test_bfloat16_depth_through_the_cli_is_close_to_float32(tiny_da, tmp_path):
    """``depth3d depth --dtype bfloat16``: the model really runs in bfloat16 (its depth differs
    from float32's) and stays within BF16_TOLERANCE of float32's depth."""
    from depth3d.cli import main

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(3)
    from PIL import Image

    for n in range(2):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photos / f"p{n}.png")
    maps = {}
    for dtype in ("float32", "bfloat16"):
        assert main(["depth", str(photos), "-o", str(tmp_path / dtype), "--model", str(tiny_da),
                     "--dtype", dtype]) == 0
        maps[dtype] = [np.load(tmp_path / dtype / f"p{n}.npy") for n in range(2)]
    for full, half in zip(maps["float32"], maps["bfloat16"]):
        assert half.dtype == np.float32 and half.shape == full.shape
        error = np.abs(half - full) / np.abs(full).max()
        assert error.max() > 0  # bfloat16 rounding: not the float32 run again
        assert error.max() <= BF16_TOLERANCE[0] and error.mean() <= BF16_TOLERANCE[1]


def test_non_finite_output_is_an_error(tiny_dpt, tmp_path, photo):
    model = transformers.AutoModelForDepthEstimation.from_pretrained(tiny_dpt)
    with torch.no_grad():
        model.head.head[-2].bias.fill_(float("nan"))  # last conv before the output ReLU
    model.save_pretrained(tmp_path)
    shutil.copy(tiny_dpt / "preprocessor_config.json", tmp_path)
    with pytest.raises(BackendError, match="non-finite"):
        TransformersBackend(model=str(tmp_path)).estimate(photo)


def test_pickle_only_folder_is_refused(tiny_dpt, tmp_path):
    model = transformers.AutoModelForDepthEstimation.from_pretrained(tiny_dpt)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy(tiny_dpt / name, tmp_path)
    with pytest.raises(BackendError, match=r"pytorch_model\.bin.*model\.safetensors"):
        TransformersBackend(model=str(tmp_path)).load()


def test_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(BackendError, match="no config.json"):
        TransformersBackend(model=str(tmp_path)).load()
    with pytest.raises(BackendError, match="no model folder"):
        TransformersBackend(model=str(tmp_path / "missing" / "deeper" / "folder")).load()


# --- offline and first online use ---------------------------------------------------------

LOAD_DEFAULT = """
import json, sys, time
from depth3d.backends.hf import TransformersBackend, BackendError
start = time.perf_counter()
try:
    TransformersBackend().load()
    error = None
except BackendError as exc:
    error = str(exc)
print(json.dumps({"error": error, "seconds": time.perf_counter() - start}))
"""


def run_python(code: str, hf_home: Path, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter with its own HF_HOME; its last stdout line as JSON."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    environ.update(HF_HOME=str(hf_home), HF_HUB_DISABLE_TELEMETRY="1", **env)
    out = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("env", [
    {"HF_HUB_OFFLINE": "1"},
    {"HF_ENDPOINT": "http://127.0.0.1:9"},  # online mode, hub unreachable: no 20 s of retries
], ids=["HF_HUB_OFFLINE", "unreachable-hub"])
def test_missing_weights_fail_fast_with_directions(env, tmp_path):
    report = run_python(LOAD_DEFAULT, tmp_path / "hf_home", **env)
    assert report["seconds"] < 2.0, report
    message = report["error"]
    assert message and "\n" not in message
    assert DEFAULT_MODEL in message
    for hint in ("network access", "HF_HUB_CACHE", str(tmp_path / "hf_home"), "--model /local/folder",
                 "model.safetensors", "preprocessor_config.json"):
        assert hint in message, (hint, message)


class FakeHub:
    """A local stand-in for the Hub's HTTP API (what ``snapshot_download`` asks), serving
    folders as repos and recording every request; the client talking to it is the real one."""

    SHA = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, repos: dict[str, Path]):
        self.repos, self.requests = repos, []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                hub.answer(self, body=True)

            def do_HEAD(self):
                hub.answer(self, body=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler, body: bool) -> None:
        path = unquote(urlsplit(handler.path).path)
        self.requests.append(path)
        status, data, headers = 404, b"", {"X-Error-Code": "RepoNotFound"}
        if path == "/":
            status, data, headers = 200, b"hub", {}
        for repo, folder in self.repos.items():
            files = sorted(p.name for p in folder.iterdir() if p.is_file())
            if path == f"/api/models/{repo}/revision/main":
                status, headers = 200, {"Content-Type": "application/json"}
                data = json.dumps({"id": repo, "sha": self.SHA, "private": False,
                                   "siblings": [{"rfilename": f} for f in files]}).encode()
            elif path.startswith(f"/api/models/{repo}/tree/"):
                status, headers = 200, {"Content-Type": "application/json"}
                data = json.dumps([{"type": "file", "path": f, "size": (folder / f).stat().st_size,
                                    "oid": hashlib.sha1((folder / f).read_bytes()).hexdigest()}
                                   for f in files]).encode()
            elif path.startswith(f"/{repo}/resolve/{self.SHA}/"):
                file = folder / path.rsplit("/", 1)[1]
                if file.is_file():
                    data = file.read_bytes()
                    status = 200
                    headers = {"X-Repo-Commit": self.SHA, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
                else:
                    headers = {"X-Error-Code": "EntryNotFound"}
        handler.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(data))}.items():
            handler.send_header(key, value)
        handler.end_headers()
        if body:
            handler.wfile.write(data)


RESOLVE = """
import json, sys
from depth3d.backends.hf import resolve_model, BackendError
out = {}
for repo in sys.argv[1:]:
    try:
        out[repo] = str(resolve_model(repo))
    except BackendError as exc:
        out[repo] = "error: " + str(exc)
print(json.dumps(out))
"""


def test_first_online_use_downloads_safetensors_then_runs_offline(tiny_da, tiny_dpt, tmp_path, photo,
                                                                    monkeypatch):
    served = tmp_path / "served"
    shutil.copytree(tiny_da, served / "da")
    (served / "da" / "pytorch_model.bin").write_bytes(b"pickle that must never be fetched")
    (served / "bin").mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy(tiny_dpt / name, served / "bin")
    (served / "bin" / "pytorch_model.bin").write_bytes(b"only pickle here")
    hub = FakeHub({"tiny/depth-anything": served / "da", "tiny/bin-only": served / "bin"})
    home = tmp_path / "hf_home"
    try:
        code = RESOLVE.replace("sys.argv[1:]", "['tiny/depth-anything', 'tiny/bin-only']")
        report = run_python(code, home, HF_ENDPOINT=hub.endpoint)
    finally:
        hub.close()

    snapshot = Path(report["tiny/depth-anything"])
    assert snapshot.is_relative_to(home / "hub")
    assert sorted(p.name for p in snapshot.iterdir()) == [
        "config.json", "model.safetensors", "preprocessor_config.json"]
    assert not any(r.endswith(".bin") for r in hub.requests)
    assert report["tiny/bin-only"].startswith("error: ") and "safetensors" in report["tiny/bin-only"]

    # Hub gone, this process offline (conftest): the cached copy is found and gives the same depth.
    cached = TransformersBackend(model="tiny/depth-anything", cache_dir=str(home / "hub")).estimate(photo)
    direct = TransformersBackend(model=str(tiny_da)).estimate(photo)
    assert cached.model == "tiny/depth-anything" and cached.kind == "disparity"
    np.testing.assert_array_equal(cached.depth, direct.depth)

    # ... and `depth3d info` lists it from the cache files.
    listed = {m["id"]: m for m in cached_depth_models(home / "hub")}
    assert listed["tiny/depth-anything"]["kind"] == "disparity"
    assert listed["tiny/depth-anything"]["safetensors"] is True
    assert listed["tiny/bin-only"]["safetensors"] is False
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    info = collect_info()
    assert info["hf_cache"] == str(home / "hub")
    assert {m["id"] for m in info["cached_models"]} == {"tiny/depth-anything", "tiny/bin-only"}
    text = format_info(info)
    assert "tiny/depth-anything" in text and "depth_anything" in text and "disparity" in text


# --- depth3d info -------------------------------------------------------------------------

def test_info_reports_versions_and_devices():
    info = collect_info()
    assert info["torch"] == torch.__version__
    assert info["transformers"] == transformers.__version__
    assert info["numpy"] == np.__version__
    assert info["devices"][0]["type"] == "cpu"
    cuda = [d for d in info["devices"] if d["type"].startswith("cuda")]
    assert len(cuda) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    text = format_info(info)
    assert f"torch         {torch.__version__}" in text and "HF cache" in text


def test_info_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    info = collect_info()
    assert info["torch"] is None
    assert [d["type"] for d in info["devices"]] == ["cpu"]
    assert "torch         not installed" in format_info(info)
