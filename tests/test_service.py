"""The depth service: a real ``python -m depth3d.service`` process on loopback, its client
(:class:`RemoteBackend`) and the local-service manager, with a tiny Depth Anything model."""
from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_models import save_tiny_depth_anything

import depth3d
from depth3d.backends import BackendError, protocol
from depth3d.backends.hf import TransformersBackend
from depth3d.backends.remote import RemoteBackend
from depth3d.io.image import Photo, read_photo, read_photo_bytes
from depth3d.overlap import decode_small
from depth3d.service.manager import LocalService, ServiceError, create_backend_venv, venv_python

TOKEN = "correct horse battery staple"


# ---------------------------------------------------------------- helpers and fixtures


def photo_bytes(seed: int, size=(160, 120), fmt="JPEG") -> bytes:
    """A smooth random picture (so the model sees structure), encoded."""
    rng = np.random.default_rng(seed)
    w, h = size
    coarse = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    rgb = np.repeat(np.repeat(coarse, 8, 0), 8, 1)[:h, :w]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt)
    return buf.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid all-black 8-bit grey PNG of width×height, compressed to a few hundred KB."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + width)  # filter byte 0, then zeros
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + protocol._png_chunk(b"IHDR", header)
            + protocol._png_chunk(b"IDAT", idat) + protocol._png_chunk(b"IEND", b""))


def request(url: str, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None, token: str | None = TOKEN):
    """One plain HTTP request → (status, lower-cased headers, body)."""
    parts = urllib.parse.urlsplit(url)
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def raw_exchange(url: str, head: bytes, body_part: bytes = b"") -> tuple[int, dict]:
    """Send raw request bytes, read the answer until the server closes → (status, JSON)."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + body_part)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def vm_hwm_kib(pid: int) -> int:
    """Peak resident memory of a process (Linux /proc), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie left for its (possibly non-reaping) new parent."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def wait_gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.1)
    return False


class Server:
    def __init__(self, process: subprocess.Popen, url: str, log: Path):
        self.process, self.url, self.log = process, url, log

    def alive(self) -> bool:
        """The process runs and answers health."""
        status, _, body = request(self.url, "GET", protocol.HEALTH_PATH)
        return self.process.poll() is None and status == 200 and json.loads(body)["status"] == "ok"


def start_server(args: list[str], log: Path, timeout: float = 120.0) -> Server:
    """``python -m depth3d.service --port 0 ARGS``; waits for it to print its URL and be ready."""
    with open(log, "wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "depth3d.service", "--port", "0", *args],
                                   stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    line = process.stdout.readline().decode()
    assert line.startswith("depth3d: listening on "), (line, log.read_text())
    server = Server(process, line.split(" on ", 1)[1].strip(), log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        status, _, body = request(server.url, "GET", protocol.HEALTH_PATH)
        if status == 200 and json.loads(body)["status"] == "ok":
            return server
        time.sleep(0.2)
    raise AssertionError(f"server not ready: {log.read_text()}")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_tiny_depth_anything(tmp_path_factory.mktemp("tiny_depth_anything"))


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("service") / "server.log"
    server = start_server(["--model", str(model_dir), "--device", "cpu", "--token", TOKEN], log)
    yield server
    server.process.terminate()
    server.process.wait(30)
    server.process.stdout.close()


@pytest.fixture(scope="module")
def local(model_dir) -> TransformersBackend:
    """The in-process backend, the reference the service must match."""
    return TransformersBackend(model=str(model_dir), device="cpu")


def assert_same_depth(got: np.ndarray, want: np.ndarray) -> None:
    """Equal to 1e-5 of the depth's own range (a random tiny model's values are small)."""
    assert got.dtype == np.float32 and got.shape == want.shape
    scale = float(np.abs(want).max())
    assert scale > 0 and float(want.std()) > 1e-3 * scale  # a real map, not a constant
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * scale)


# ---------------------------------------------------------------- the server


def test_health(server, model_dir):
    status, headers, body = request(server.url, "GET", protocol.HEALTH_PATH)
    assert status == 200 and headers["content-type"] == protocol.JSON_TYPE
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["model"] == str(model_dir)
    assert health["kind"] == "disparity"
    assert health["device"] == "cpu"
    assert health["dtype"] == "float32"  # --dtype auto on the CPU
    assert health["version"] == depth3d.__version__
    assert RemoteBackend(server.url, token=TOKEN).health() == health


def test_posted_jpeg_gives_float32_depth_equal_to_in_process(server, local, tmp_path):
    jpeg = tmp_path / "photo.jpg"
    jpeg.write_bytes(photo_bytes(1, (160, 120)))
    status, headers, body = request(server.url, "POST", protocol.DEPTH_PATH, jpeg.read_bytes(),
                                    {"Content-Type": "image/jpeg"})
    assert status == 200, body
    assert headers["content-type"] == protocol.NPY_TYPE
    assert headers["x-depth-kind"] == "disparity"
    assert "x-fov-deg" not in headers  # Depth Anything estimates no FOV
    depth = np.load(io.BytesIO(body), allow_pickle=False)
    assert depth.dtype == np.float32 and depth.shape == (120, 160)

    photo = read_photo(jpeg)
    want = local.estimate(photo).depth
    assert_same_depth(depth, want)
    result = RemoteBackend(server.url, token=TOKEN).estimate(photo)
    assert result.kind == "disparity" and result.fov_deg is None
    assert_same_depth(result.depth, want)
    other = local.estimate(read_photo_bytes(photo_bytes(2, (160, 120)))).depth
    assert not np.allclose(other, want, rtol=0, atol=1e-3 * float(np.abs(want).max()))


def test_size_gives_the_depth_at_that_size_from_a_reduced_decode(server, local):
    """``?size=WxH``: the depth at W × H, the model fed the JPEG decoded at a reduced scale —
    what ``depth3d convert`` runs in-process — not a full-size map to resample."""
    data = photo_bytes(6, (640, 480))
    status, headers, body = request(server.url, "POST", protocol.DEPTH_PATH + "?size=96x72", data,
                                    {"Content-Type": "image/jpeg"})
    assert status == 200, body
    depth = np.load(io.BytesIO(body), allow_pickle=False)
    assert depth.dtype == np.float32 and depth.shape == (72, 96)

    photo = read_photo_bytes(data)
    photo.small = decode_small(photo, local.small_side())
    assert photo.small is not None and photo.small.shape == (120, 160, 3)  # 1/4: the tiny model's 56 px x 2
    want = local.estimate(photo, (96, 72)).depth
    assert_same_depth(depth, want)
    result = RemoteBackend(server.url, token=TOKEN).estimate(read_photo_bytes(data), (96, 72))
    assert_same_depth(result.depth, want)
    full = local.estimate(read_photo_bytes(data), (96, 72)).depth  # the model fed the full decode
    assert not np.allclose(full, want, rtol=0, atol=1e-5 * float(np.abs(want).max()))


@pytest.mark.parametrize(("query", "message"), [
    ("size=96", "WIDTHxHEIGHT"),
    ("size=0x72", "WIDTHxHEIGHT"),
    ("size=96x72&size=48x36", "once"),
    ("size=", "WIDTHxHEIGHT"),
    ("size=641x480", "larger than the image (640x480)"),
    ("size=640x1", "not the image's aspect"),
])
def test_bad_size_400(server, query, message):
    status, _, answer = request(server.url, "POST", f"{protocol.DEPTH_PATH}?{query}", photo_bytes(6, (640, 480)),
                                {"Content-Type": "image/jpeg"})
    assert status == 400 and message in json.loads(answer)["error"]


def test_a_server_that_ignores_size_is_taken_at_the_photos_size(tmp_path):
    """A server from before ``?size=`` (or one whose model cannot resample) answers at the
    photo's size: the client takes it — and refuses any other shape in one line."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    shapes, asked = [(120, 160), (72, 95)], []

    class Older(BaseHTTPRequestHandler):
        def do_POST(self):
            asked.append(self.path)
            self.rfile.read(int(self.headers["Content-Length"]))
            body = protocol.encode_npy(np.linspace(1, 2, int(np.prod(shapes[0])), dtype=np.float32).reshape(shapes[0]))
            self.send_response(200)
            self.send_header("Content-Type", protocol.NPY_TYPE)
            self.send_header(protocol.KIND_HEADER, "disparity")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Older)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        remote = RemoteBackend(f"127.0.0.1:{server.server_address[1]}")
        photo = read_photo_bytes(photo_bytes(7, (160, 120)))
        result = remote.estimate(photo, (96, 72))
        assert asked == [f"{protocol.DEPTH_PATH}?size=96x72"] and result.depth.shape == (120, 160)
        shapes.reverse()  # now an answer of neither size
        with pytest.raises(BackendError, match=r"depth of shape \(72, 95\) for a 160x120 photo at 96x72"):
            remote.estimate(photo, (96, 72))
    finally:
        server.shutdown()
        server.server_close()


def test_pixels_without_file_bytes_are_sent_as_png(server, local):
    """No original bytes (EXIF-rotated photo, EXR, a Blender image): the client encodes a PNG."""
    rgb = read_photo_bytes(photo_bytes(3, (97, 61))).rgb
    photo = Photo(rgb=rgb, name="pixels")
    assert photo.data is None
    result = RemoteBackend(server.url, token=TOKEN).estimate(photo)
    assert result.depth.shape == (61, 97)
    assert_same_depth(result.depth, local.estimate(photo).depth)


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (61, 97)])
def test_png_encoder_read_back_by_pillow(shape):
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    with Image.open(io.BytesIO(protocol.encode_png(rgb))) as im:
        assert im.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(im), rgb)


def test_eight_concurrent_clients(server, local):
    photos = [read_photo_bytes(photo_bytes(10 + i, (96 + 8 * i, 72)), name=f"p{i}") for i in range(8)]
    wanted = [local.estimate(p).depth for p in photos]

    def client(i: int) -> list[np.ndarray]:
        backend = RemoteBackend(server.url, token=TOKEN, retries=0)
        return [backend.estimate(photos[i]).depth for _ in range(5)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client, range(8)))
    for got, want in zip(results, wanted):
        assert len(got) == 5
        for depth in got:
            assert_same_depth(depth, want)
    assert server.alive()


@pytest.mark.parametrize("body", [
    photo_bytes(4)[:700],                   # truncated JPEG
    b"\xff\xd8\xff" + os.urandom(4000),   # JPEG magic, garbage after
    b"hello, this is not an image",
])
def test_corrupt_image_400(server, body):
    status, _, answer = request(server.url, "POST", protocol.DEPTH_PATH, body, {"Content-Type": "image/jpeg"})
    assert status == 400 and "error" in json.loads(answer)
    assert server.alive()


def test_wrong_content_type_415(server):
    status, _, answer = request(server.url, "POST", protocol.DEPTH_PATH, photo_bytes(5),
                                {"Content-Type": "application/octet-stream"})
    assert status == 415 and "image/*" in json.loads(answer)["error"]


def test_100mb_body_refused_from_its_length(server):
    """413 arrives although only 64 KB of the announced 100 MB were ever sent."""
    head = (f"POST {protocol.DEPTH_PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: image/jpeg\r\nContent-Length: {100_000_000}\r\n\r\n").encode()
    status, answer = raw_exchange(server.url, head, b"\0" * 65536)
    assert status == 413 and "limit" in answer["error"]
    # with Expect: 100-continue the refusal comes before any of the body is sent
    expect = head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n")
    assert raw_exchange(server.url, expect)[0] == 413
    no_length = head.replace(f"Content-Length: {100_000_000}\r\n".encode(), b"")
    assert raw_exchange(server.url, no_length)[0] == 411
    assert server.alive()


@pytest.mark.parametrize("size", [(20000, 20000), (8000, 7500)])
def test_png_bomb_refused_without_decoding(server, size, monkeypatch):
    """400 MP (past Pillow's own 2× bomb limit) and 60 MP (past only ours, 50 MP): 413 from the
    header; the server's peak memory does not grow by anything like the decoded size."""
    bomb = png_bomb(*size)
    assert len(bomb) < 1_000_000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with Image.open(io.BytesIO(bomb)) as im:
        assert im.size == size and im.mode == "L"  # a well-formed PNG (header only read here)
    before = vm_hwm_kib(server.process.pid)
    status, _, answer = request(server.url, "POST", protocol.DEPTH_PATH, bomb, {"Content-Type": "image/png"})
    assert status == 413 and "exceeds" in json.loads(answer)["error"]
    grown_mib = (vm_hwm_kib(server.process.pid) - before) / 1024
    assert grown_mib < 50, f"peak RSS grew {grown_mib:.0f} MiB (decoded would be {size[0] * size[1] >> 20} MiB)"
    assert server.alive()


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", TOKEN[:-1]])
def test_wrong_token_401(server, token):
    for method, path, body in (("GET", protocol.HEALTH_PATH, None),
                               ("POST", protocol.DEPTH_PATH, photo_bytes(6))):
        status, headers, answer = request(server.url, method, path, body,
                                          {"Content-Type": "image/jpeg"}, token=token)
        assert status == 401 and headers.get("www-authenticate") == "Bearer"
        assert "token" in json.loads(answer)["error"]
    with pytest.raises(BackendError, match=r"HTTP 401: missing or wrong token") as info:
        RemoteBackend(server.url, token=token).estimate(read_photo_bytes(photo_bytes(6)))
    assert "\n" not in str(info.value)


def test_other_model_503_and_unknown_path_404(server, model_dir):
    body, kind = photo_bytes(7), {"Content-Type": "image/jpeg"}
    status, _, answer = request(server.url, "POST", f"{protocol.DEPTH_PATH}?model=other/model", body, kind)
    assert status == 503 and "other/model" in json.loads(answer)["error"]
    query = urllib.parse.urlencode({"model": str(model_dir)})
    assert request(server.url, "POST", f"{protocol.DEPTH_PATH}?{query}", body, kind)[0] == 200
    assert request(server.url, "GET", "/v2/health")[0] == 404
    status, _, answer = request(server.url, "PUT", protocol.DEPTH_PATH, body, kind)
    assert status == 501 and "error" in json.loads(answer)


def test_convert_through_the_service_gives_the_local_geometry(server, model_dir, tmp_path):
    """``depth3d convert --backend remote --server URL`` writes the .glb the in-process backend does."""
    import trimesh

    from depth3d.cli import main

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(photo_bytes(9, (160, 120)))
    common = [str(photo), "--resolution", "64"]
    assert main(["convert", *common, "-o", str(tmp_path / "remote.glb"), "--backend", "remote",
                 "--server", server.url, "--token", TOKEN]) == 0
    assert main(["convert", *common, "-o", str(tmp_path / "local.glb"), "--backend", "transformers",
                 "--model", str(model_dir), "--device", "cpu"]) == 0
    remote, local = (trimesh.load(tmp_path / f"{name}.glb", force="mesh") for name in ("remote", "local"))
    np.testing.assert_array_equal(remote.faces, local.faces)
    scale = float(np.abs(local.vertices).max())
    np.testing.assert_allclose(remote.vertices, local.vertices, rtol=0, atol=1e-4 * scale)
    assert len(local.faces) > 1000 and float(np.ptp(local.vertices[:, 2])) > 1e-3 * scale


def test_non_loopback_bind_refused_without_token(model_dir):
    for host in ("0.0.0.0", ""):
        done = subprocess.run([sys.executable, "-m", "depth3d.service", "--host", host, "--port", "0",
                               "--model", str(model_dir)], capture_output=True, text=True, timeout=120,
                              env={k: v for k, v in os.environ.items() if k != protocol.TOKEN_ENV})
        assert done.returncode == 2
        assert "without --token" in done.stderr and "listening" not in done.stdout


def test_server_still_healthy_after_all(server):
    assert server.alive()
    log = server.log.read_text()
    assert "Traceback" not in log, log


# ---------------------------------------------------------------- the client's failures


class DropFirstProxy:
    """A TCP proxy to ``port`` that drops its first connection mid-request."""

    def __init__(self, port: int):
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            if self.connections == 1:
                client.recv(100)
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def test_remote_retries_a_dropped_connection(server, local):
    photo = read_photo_bytes(photo_bytes(8))
    port = urllib.parse.urlsplit(server.url).port
    proxy = DropFirstProxy(port)
    try:
        result = RemoteBackend(proxy.url, token=TOKEN, retries=1).estimate(photo)
        assert proxy.connections == 2
        assert_same_depth(result.depth, local.estimate(photo).depth)
    finally:
        proxy.listener.close()
    proxy = DropFirstProxy(port)
    try:
        with pytest.raises(BackendError, match=r"^http://127\.0\.0\.1:\d+: connection dropped \(.+\)$"):
            RemoteBackend(proxy.url, token=TOKEN, retries=0).estimate(photo)
        assert proxy.connections == 1
    finally:
        proxy.listener.close()


def test_remote_connection_refused_and_timeout():
    photo = Photo(rgb=np.zeros((4, 4, 3), np.uint8))
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(BackendError, match=r"^http://127\.0\.0\.1:\d+: connection refused; is `depth3d serve`"):
        RemoteBackend(f"127.0.0.1:{port}").estimate(photo)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog) but never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(BackendError, match=r": no answer within 0\.5 s$"):
            RemoteBackend(url, timeout=0.5).estimate(photo)
    with pytest.raises(BackendError, match="must look like"):
        RemoteBackend("ftp://example.com")


# ---------------------------------------------------------------- the local-service manager


def test_local_service_start_reuse_stop(model_dir):
    service = LocalService(sys.executable, model=str(model_dir), device="cpu", dtype="bfloat16")
    try:
        url = service.start(timeout=120)
        pid = service.process.pid
        assert service.start() == url and service.process.pid == pid  # idempotent
        health = RemoteBackend(url).health()
        assert health["status"] == "ok" and health["model"] == str(model_dir)
        assert health["dtype"] == "bfloat16"  # started with --dtype bfloat16

        port = urllib.parse.urlsplit(url).port
        again = LocalService(sys.executable, model=str(model_dir), device="cpu", port=port)
        assert again.start() == url and again.process is None  # reused, nothing started
        again.stop()
        assert not process_gone(pid) and RemoteBackend(url).health()["status"] == "ok"
        other = LocalService(sys.executable, model="some/other-model", device="cpu", port=port)
        with pytest.raises(ServiceError, match="already serves"):
            other.start()
    finally:
        service.stop()
    assert process_gone(pid) and service.process is None
    with pytest.raises(BackendError, match="connection refused"):
        RemoteBackend(url).health()


def test_local_service_failure_shows_the_childs_error(tmp_path):
    service = LocalService(sys.executable, model=str(tmp_path / "no-such-model"), device="cpu")
    with pytest.raises(ServiceError, match=r"(?s)exited with code 1.*error: no model folder"):
        service.start(timeout=120)
    assert service.process is None


SCRIPT = """
import os, signal, sys
from depth3d.service.manager import LocalService
service = LocalService(sys.executable, model={model!r}, device="cpu")
service.start(timeout=120)
print(service.process.pid, flush=True)
if {kill!r}:
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("kill", [False, True], ids=["exit", "killed"])
def test_local_service_ends_with_its_parent(model_dir, kill):
    """Normal exit: atexit stops it.  Parent killed (-9): the child sees its stdin close and quits."""
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(model=str(model_dir), kill=kill)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == (-signal.SIGKILL if kill else 0), done.stderr
    pid = int(done.stdout.split()[0])
    assert wait_gone(pid), f"service {pid} outlived its parent"


def make_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel (module ``d3probe``) for an offline pip install."""
    name = "d3probe-1.0-py3-none-any.whl"
    files = {
        "d3probe.py": "ANSWER = 42\n",
        "d3probe-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: d3probe\nVersion: 1.0\n",
        "d3probe-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in files) + "d3probe-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(folder / name, "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)
        wheel.writestr("d3probe-1.0.dist-info/RECORD", record)
    return folder / name


def test_create_backend_venv_installs_with_pip(tmp_path):
    wheel = make_wheel(tmp_path)
    steps: list[tuple[float, str]] = []
    python = create_backend_venv(tmp_path / "env", str(wheel), lambda f, m: steps.append((f, m)),
                                 python=sys.executable, pip_args=["--no-index"])
    assert python == venv_python(tmp_path / "env") and python.exists()
    out = subprocess.run([str(python), "-c", "import d3probe, sys; print(d3probe.ANSWER, sys.prefix)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "42" and Path(out[1]) == (tmp_path / "env")
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any("Successfully installed d3probe" in m for _, m in steps)
    with pytest.raises(ServiceError, match=r"(?s)pip install.*failed"):
        create_backend_venv(tmp_path / "env", "d3probe-missing", python=sys.executable, pip_args=["--no-index"])
