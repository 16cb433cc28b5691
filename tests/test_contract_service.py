"""The input contract at the depth service (issue 10): a real ``python -m depth3d.service`` on
loopback with a tiny model (the fixtures of ``test_service.py``), and the client's own bounds."""
from __future__ import annotations

import http.server
import io
import json
import socket
import threading
import time

import numpy as np
import pytest
from test_contract_corpus import corpus  # noqa: F401  (fixture)
from test_service import TOKEN, model_dir, png_bomb, request, server  # noqa: F401  (fixtures)

from depth3d.backends import BackendError, protocol
from depth3d.backends.remote import RemoteBackend
from depth3d.io.image import Photo
from depth3d.service.server import body_deadline


def test_a_thin_strip_is_400_not_500(server):  # noqa: F811
    status, _, answer = request(server.url, "POST", protocol.DEPTH_PATH, png_bomb(1, 65535),
                                {"Content-Type": "image/png"})
    assert status == 400, answer
    assert "1x65535" in json.loads(answer)["error"]
    assert server.alive()


def test_a_trickling_body_gets_408_within_its_deadline(server):  # noqa: F811
    """Headers, then one body byte every second: the whole-request deadline ends it, not the
    per-read timeout (which each byte would reset)."""
    length = 1000
    host, port = server.url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    start = time.monotonic()
    try:
        sock.sendall((f"POST {protocol.DEPTH_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                      f"Authorization: Bearer {TOKEN}\r\nContent-Length: {length}\r\n\r\n").encode())
        answer = b""
        sock.settimeout(1.0)
        while time.monotonic() - start < body_deadline(length) + 15:
            try:
                sock.sendall(b"\0")
            except OSError:
                pass
            try:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            except TimeoutError:
                continue
    finally:
        sock.close()
    took = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert took < body_deadline(length) + 5, took
    assert server.alive()


def _trickle(url: str, length: int, stop: threading.Event) -> None:
    """A client that sends a depth request's headers, then one body byte a second until stopped
    or answered."""
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall((f"POST {protocol.DEPTH_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                      f"Authorization: Bearer {TOKEN}\r\nContent-Length: {length}\r\n\r\n").encode())
        sock.settimeout(1.0)
        while not stop.is_set():
            try:
                sock.sendall(b"\0")
                sock.recv(65536)
                return  # answered (408) or closed
            except TimeoutError:
                continue
            except OSError:
                return


def test_four_trickling_clients_do_not_starve_the_depth_slots(server):  # noqa: F811
    """As many trickling clients as the service has depth slots: a real request that comes after
    them is still answered, once their whole-request deadline has ended them (with a per-read
    timeout alone, each byte would renew it and the slots stay held)."""
    length = 1000
    stop = threading.Event()
    clients = [threading.Thread(target=_trickle, args=(server.url, length, stop)) for _ in range(4)]
    for client in clients:
        client.start()
    try:
        time.sleep(1.0)  # every slot taken
        rng = np.random.default_rng(3)
        photo = protocol.encode_png(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        start = time.monotonic()
        status, headers, body = request(server.url, "POST", protocol.DEPTH_PATH, photo,
                                        {"Content-Type": "image/png"})
        took = time.monotonic() - start
    finally:
        stop.set()
        for client in clients:
            client.join(30)
    assert status == 200, body[:200]
    assert np.load(io.BytesIO(body), allow_pickle=False).shape == (48, 64)
    assert took < body_deadline(length) + 15, took
    assert server.alive()


class _Hostile(http.server.BaseHTTPRequestHandler):
    """Answers every POST with a 200 claiming (and starting to send) a 2 GB depth map."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", protocol.NPY_TYPE)
        self.send_header("Content-Length", str(2 << 30))
        self.end_headers()
        try:
            for _ in range(64):
                self.wfile.write(bytes(1 << 20))
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("declare", [True, False])
def test_the_client_bounds_what_it_reads(declare):
    """A hostile server's answer larger than a depth map of the photo is refused, with or
    without a Content-Length saying so, after reading at most that much."""

    class Handler(_Hostile):
        def send_header(self, key, value):
            if declare or key != "Content-Length":
                super().send_header(key, value)

    hostile = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=hostile.serve_forever, daemon=True).start()
    try:
        backend = RemoteBackend(f"http://127.0.0.1:{hostile.server_port}", timeout=30)
        photo = Photo(rgb=np.zeros((48, 64, 3), np.uint8))
        with pytest.raises(BackendError, match="exceeds"):
            backend.estimate(photo)
    finally:
        hostile.shutdown()
        hostile.server_close()


def test_photo_corpus_through_the_service(server, corpus):  # noqa: F811
    """Every regular file of the bad-input corpus posted to the service: 200 for a good photo,
    else 400/413 with one line — never 500, and the server stays up."""
    from test_contract_corpus import PHOTO_CASES

    photos, _ = corpus
    for name, words in PHOTO_CASES.items():
        path = photos / name
        if not path.is_file() or path.stat().st_size == 0:
            continue  # links, FIFOs, the empty file: nothing a client could send
        status, _, answer = request(server.url, "POST", protocol.DEPTH_PATH, path.read_bytes(),
                                    {"Content-Type": "image/png"})
        if words is None:
            assert status == 200, (name, answer[:300])
        else:
            message = json.loads(answer)["error"]
            assert status in (400, 413) and "\n" not in message, (name, status, message)
    assert server.alive()
