"""``depth3d serve``: one depth model behind a small HTTP service (standard library server).

The model is loaded once; requests are decoded in their own threads and queued on a lock
for inference.  Nothing is written to disk.  Protocol and security notes: ``docs/service.md``.
"""
from __future__ import annotations

import _thread
import argparse
import hmac
import ipaddress
import json
import os
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import warnings
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from .. import __version__
from ..backends import BackendError, DepthBackend, DepthResult, get_backend, protocol
from ..errors import Depth3DError, InputError, user_message
from ..geometry.depth import same_aspect
from ..io.image import ImageTooLarge, Photo
from ..memory import huge_page_hint_off
from ..overlap import add_small, prepare_imports
from ..pipeline import read_input, run_backend
from .protocol import add_serve_arguments

ACTIVE_REQUESTS = 4
"""Requests holding a body in memory at once; more wait (unread) in the queue."""
SOCKET_TIMEOUT_S = 60.0
"""A client silent this long while sending headers or body is dropped."""
BODY_DEADLINE_S, BODY_MIN_RATE = 10.0, 256 * 1024
"""A request body must arrive within BODY_DEADLINE_S plus its length at BODY_MIN_RATE bytes/s."""
LINGER_S, LINGER_BYTES = 2.0, 1 << 20
"""After refusing an unread body: read (and discard) at most this much so the client sees the answer."""


def body_deadline(length: int) -> float:
    """Seconds a body of ``length`` bytes may take to arrive, all reads together."""
    return BODY_DEADLINE_S + length / BODY_MIN_RATE


class HTTPError(Depth3DError):
    """An answer other than 200: ``status`` and a one-line ``message`` for ``{"error": ...}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class DepthServer(ThreadingHTTPServer):
    """The listening socket plus the one model every request thread shares.

    ``backend`` is ``None`` until :meth:`load` returns; health then says ``"loading"``.
    """

    daemon_threads = True
    allow_reuse_address = os.name != "nt"  # on Windows SO_REUSEADDR lets two servers share a port

    def __init__(
        self,
        host: str,
        port: int,
        *,
        token: str | None = None,
        max_bytes: int = protocol.DEFAULT_MAX_BYTES,
        max_pixels: int = protocol.DEFAULT_MAX_PIXELS,
    ):
        self.address_family = _address_family(host, port)
        super().__init__((host, port), DepthRequestHandler)
        self.token = token.encode() if token else None
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.backend: DepthBackend | None = None
        self.model = ""
        self.requested_model = ""
        self.kind = ""
        self.device = ""
        self.dtype = ""
        self.model_lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(ACTIVE_REQUESTS)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), self.server_address[1]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def load(self, model: str | None, device: str = "auto", dtype: str = "auto") -> None:
        """Load the transformers model and run it once (learns its depth kind, warms it up)."""
        from ..backends.hf import resolve_device, resolve_dtype

        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        backend = get_backend("transformers", model=model, device=device, dtype=dtype)
        warm = run_backend(Photo(rgb=np.full((48, 64, 3), 128, np.uint8), name="warm-up"), backend)
        self.requested_model = model or ""
        self.model = warm.model or self.requested_model
        self.kind = warm.kind
        self.device = device
        self.dtype = dtype
        self.backend = backend

    def health(self) -> dict:
        return {
            "status": "ok" if self.backend is not None else "loading",
            "model": self.model,
            "kind": self.kind,
            "device": self.device,
            "dtype": self.dtype,
            "version": __version__,
            "max_bytes": self.max_bytes,
            "max_pixels": self.max_pixels,
        }

    def estimate(self, data: bytes, size: tuple[int, int] | None = None) -> tuple[DepthResult, dict[str, float]]:
        """Encoded image → (:class:`DepthResult`, milliseconds spent per step).

        The pipeline's ``read`` stage and the backend call of its ``depth`` stage
        (:mod:`depth3d.pipeline`; the depth is served as the model gives it, the client checks
        it).  ``size`` (width, height; at most the image's): the depth at that size, the model
        fed a reduced decode of a JPEG where that serves it as well (as ``depth3d convert``
        does in-process), instead of resampled to the image's size.  Decoding runs in the
        request's thread; the model runs one request at a time.
        """
        clock = [time.perf_counter()]

        def lap() -> float:
            clock.append(time.perf_counter())
            return (clock[-1] - clock[-2]) * 1e3

        try:
            photo = read_input(data, name="request", max_pixels=self.max_pixels)
        except ImageTooLarge as exc:
            raise HTTPError(413, user_message(exc)) from None
        except InputError as exc:
            raise HTTPError(400, user_message(exc)) from None
        if size is not None:
            width, height = size
            if width > photo.width or height > photo.height:
                raise HTTPError(400, f"size {protocol.format_size(size)} is larger than the image "
                                     f"({photo.width}x{photo.height})")
            if not same_aspect(width, height, photo.width, photo.height):
                raise HTTPError(400, f"size {protocol.format_size(size)} has not the image's aspect "
                                     f"({photo.width}x{photo.height})")
            add_small(photo, self.backend, size)  # as depth3d convert does in-process
        steps = {"decode": lap()}
        try:
            with self.model_lock:
                steps["queue"] = lap()
                result = run_backend(photo, self.backend, size)
                steps["model"] = lap()
        except (BackendError, Depth3DError) as exc:
            raise HTTPError(500, f"depth estimation failed: {user_message(exc)}") from None
        return result, steps


class DepthRequestHandler(BaseHTTPRequestHandler):
    """``GET /v1/health`` and ``POST /v1/depth``; every other answer is ``{"error": ...}``."""

    server: DepthServer
    protocol_version = "HTTP/1.1"
    server_version = f"depth3d/{__version__}"
    timeout = SOCKET_TIMEOUT_S
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def do_GET(self) -> None:
        self._answer(self._health)

    def do_POST(self) -> None:
        self._answer(self._depth)

    def _answer(self, handle) -> None:
        self._body_read = False
        try:
            try:
                handle()
            except HTTPError as exc:
                self._send_error_json(exc.status, str(exc))
            except TimeoutError:
                self._send_error_json(408, f"nothing received for {SOCKET_TIMEOUT_S:g} s")
            except OSError:
                raise
            except Exception as exc:  # one bad request never takes the server down
                traceback.print_exc(file=sys.stderr)
                self._send_error_json(500, f"internal error: {type(exc).__name__}: {exc}")
        except OSError:  # the client went away mid-request: nobody left to answer
            self.close_connection = True

    def _route(self, expected: str) -> dict[str, list[str]]:
        url = urllib.parse.urlsplit(self.path)
        if url.path != expected:
            raise HTTPError(404, f"no such endpoint {self.command} {url.path}")
        if self.server.token is not None:
            scheme, _, given = (self.headers.get("Authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.server.token):
                raise HTTPError(401, "missing or wrong token (send 'Authorization: Bearer <token>')")
        return urllib.parse.parse_qs(url.query, keep_blank_values=True)  # ?size= is a bad size, not none

    def _health(self) -> None:
        self._route(protocol.HEALTH_PATH)
        self._send(200, protocol.JSON_TYPE, json.dumps(self.server.health()).encode())

    def handle_expect_100(self) -> bool:
        """Refuse a request from its headers before the client sends the body at all."""
        if self.command == "POST":
            self._body_read = False
            try:
                self._check_depth_request()
            except HTTPError as exc:
                self._send_error_json(exc.status, str(exc))
                return False
        return super().handle_expect_100()

    def _depth(self) -> None:
        length, size = self._check_depth_request()
        with self.server.slots:
            data = self._read_body(length)
            result, steps = self.server.estimate(data, size)
        headers = {
            protocol.KIND_HEADER: result.kind,
            protocol.MODEL_HEADER: _header_safe(self.server.model),
            "Server-Timing": ", ".join(f"{step};dur={ms:.1f}" for step, ms in steps.items()),
        }
        if result.fov_deg is not None:
            headers[protocol.FOV_HEADER] = repr(float(result.fov_deg))
        self._send(200, protocol.NPY_TYPE, protocol.encode_npy(result.depth), headers)

    def _check_depth_request(self) -> tuple[int, tuple[int, int] | None]:
        """Everything judged from the headers alone → (the body's length, ``?size=`` or ``None``)."""
        query = self._route(protocol.DEPTH_PATH)
        server = self.server
        content_type = self.headers.get("Content-Type")
        if not protocol.is_image_type(content_type):
            raise HTTPError(415, f"Content-Type must be image/*, not {content_type or 'missing'}")
        length = self._content_length()
        if server.backend is None:
            raise HTTPError(503, "the model is still loading")
        for wanted in filter(None, query.get("model", [])):  # an empty ?model= asks for none
            if wanted not in (server.model, server.requested_model):
                raise HTTPError(503, f"model {wanted!r} is not available; this server has {server.model!r}")
        sizes = query.get(protocol.SIZE_PARAM, [])
        if len(sizes) > 1:
            raise HTTPError(400, f"give {protocol.SIZE_PARAM}= once, not {len(sizes)} times")
        try:
            size = protocol.parse_size(sizes[0]) if sizes else None
        except ValueError as exc:
            raise HTTPError(400, str(exc)) from None
        return length, size

    def _content_length(self) -> int:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise HTTPError(411, "send the body with a Content-Length, not chunked")
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise HTTPError(411, "Content-Length required")
        try:
            length = int(raw)
            if length < 0:
                raise ValueError
        except ValueError:
            raise HTTPError(400, f"bad Content-Length {raw!r}") from None
        if length > self.server.max_bytes:
            raise HTTPError(413, f"body of {length} bytes exceeds the limit of {self.server.max_bytes} bytes")
        if length == 0:
            raise HTTPError(400, "empty body: send the encoded image")
        return length

    def _read_body(self, length: int) -> bytes:
        """The body, within :func:`body_deadline` of starting: a client trickling bytes cannot
        hold one of the few body slots for longer (each read's own timeout is not enough)."""
        deadline = time.monotonic() + body_deadline(length)
        chunks, got = [], 0
        try:
            while got < length:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(min(left, SOCKET_TIMEOUT_S))
                chunk = self.rfile.read1(min(length - got, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        except TimeoutError:
            self.close_connection = True
            raise HTTPError(408, f"body not received within {body_deadline(length):g} s "
                                 f"({got} of {length} bytes)") from None
        finally:
            self.connection.settimeout(SOCKET_TIMEOUT_S)
        if got != length:
            raise HTTPError(400, f"body ended after {got} of {length} bytes")
        self._body_read = True
        return b"".join(chunks)

    def _send(self, status: int, content_type: str, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error_json(self, status: int, message: str) -> None:
        unread = self.command == "POST" and not self._body_read
        if unread:
            self.close_connection = True  # the body is still on the wire: this connection is done
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        self._send(status, protocol.JSON_TYPE, json.dumps({"error": message}).encode(), headers)
        if unread:
            self._linger()

    def _linger(self) -> None:
        """Half-close and drain a little, so an unread body does not reset the answer away."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            deadline, drained = time.monotonic() + LINGER_S, 0
            while drained < LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass

    def log_request(self, code="-", size="-") -> None:
        if not (self.command == "GET" and str(code) == "200"):  # health probes are not news
            super().log_request(code, size)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests and unknown methods, refused by http.server itself: JSON too."""
        self.close_connection = True
        self._body_read = True
        try:
            text = message or HTTPStatus(code).phrase
        except ValueError:
            text = str(code)
        self._send(code, protocol.JSON_TYPE, json.dumps({"error": text}).encode())


def _header_safe(text: str) -> str:
    return urllib.parse.quote(text, safe="/:@._-~+")


def _address_family(host: str, port: int) -> socket.AddressFamily:
    try:
        return socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror:
        return socket.AF_INET


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address (``""`` means all: no)."""
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def run_serve(args: argparse.Namespace) -> int:
    """Listen, load the model, serve until Ctrl+C (or stdin closes with --watch-stdin)."""
    if args.max_bytes <= 0 or args.max_pixels <= 0:
        return _fail("--max-bytes and --max-pixels must be positive", 2)
    if not args.token and not is_loopback(args.host):
        return _fail(f"refusing to listen on {args.host or 'all interfaces'} without --token "
                     f"(or ${protocol.TOKEN_ENV}); use --host 127.0.0.1 for local use", 2)
    from PIL import Image

    prepare_imports()  # what decoding imports on first use, here: requests decode in threads
    Image.MAX_IMAGE_PIXELS = args.max_pixels  # Pillow refuses 2x this in Image.open; we refuse 1x
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    try:
        server = DepthServer(args.host, args.port, token=args.token,
                             max_bytes=args.max_bytes, max_pixels=args.max_pixels)
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    stop = threading.Event()
    print(f"depth3d: listening on {server.url}", flush=True)
    threading.Thread(target=server.serve_forever, name="depth3d-serve", daemon=True).start()
    if args.watch_stdin:
        threading.Thread(target=_wait_stdin_eof, args=(stop,), name="depth3d-stdin", daemon=True).start()
    try:
        try:
            server.load(args.model, args.device, getattr(args, "dtype", "auto"))
        except (BackendError, Depth3DError) as exc:
            return _fail(str(exc))
        print(f"depth3d: serving {server.model} ({server.kind}, {server.device}, {server.dtype}) on {server.url}; "
              "Ctrl+C stops", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    return 0


def _wait_stdin_eof(stop: threading.Event) -> None:
    """Stop when the parent that started us (and holds our stdin) goes away, even if killed."""
    try:  # os.read, not sys.stdin: a daemon thread blocked in a buffered read aborts interpreter exit
        while os.read(sys.stdin.fileno(), 4096):
            pass
    except (OSError, ValueError):
        pass
    stop.set()
    _thread.interrupt_main()  # also ends a model load still in progress


def _fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


@huge_page_hint_off()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="depth3d serve", description=run_serve.__doc__)
    add_serve_arguments(parser)
    return run_serve(parser.parse_args(argv))
