"""Depth from a ``depth3d serve`` service over HTTP (standard library + numpy: runs in Blender).

The photo's original bytes are sent when it has them, otherwise its pixels as a PNG; the
answer is a float32 ``.npy`` depth map of the photo's size, or of the size the geometry needs
(``?size=WxH``: the service's model resamples to it, and a 12 MP photo's depth crosses the
wire as 3 MB instead of 48 MB).  Protocol: ``docs/service.md``.
"""
from __future__ import annotations

import http.client
import json
import math
import urllib.parse
from typing import cast

from ..io.image import Photo
from . import protocol
from .base import BackendError, DepthKind, DepthResult

MAX_SMALL_ANSWER = 1 << 20
"""Bytes of answer read at most for anything but a depth map (health, errors)."""
NPY_HEADER_ALLOWANCE = 1 << 16
"""Bytes beyond a depth map's float32 pixels that its ``.npy`` answer may take."""

_DROPPED = (
    ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.IncompleteRead,
)  # http.client.RemoteDisconnected is a ConnectionResetError


class RemoteBackend:
    """A depth service at ``server`` (``http[s]://host:port[/prefix]``; ``host:port`` means http).

    ``token``: sent as ``Authorization: Bearer``.  ``model``: the model the server must run
    (it answers 503 otherwise); ``None`` takes whatever it runs.  ``timeout``: seconds any one socket
    operation may wait (connect, send, the model's answer).  ``retries``: how many times a
    dropped connection is retried; refused connections, timeouts and HTTP errors are not.
    """

    name = "remote"
    takes_size = True  # estimate(photo, size): the service resamples its model's depth to the size asked for

    def __init__(self, server: str, token: str | None = None, timeout: float = 120.0, retries: int = 1,
                 model: str | None = None):
        text = server.strip().rstrip("/")
        try:
            url = urllib.parse.urlsplit(text if "://" in text else f"http://{text}")
        except ValueError as exc:  # e.g. "http://[::1" (an unclosed IPv6 address)
            raise BackendError(f"{server}: not a server URL ({exc})") from None
        try:
            _ = url.port  # parsed on access
        except ValueError:
            raise BackendError(f"{server}: bad port in the server URL") from None
        if url.scheme not in ("http", "https") or not url.hostname:
            raise BackendError(f"{server}: the server URL must look like http://host:port")
        self.url = urllib.parse.urlunsplit((url.scheme, url.netloc, url.path, "", ""))
        self._url = url
        self.token = token
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.model = model  # asked of the server (?model=…): it refuses one it does not run

    def health(self) -> dict:
        """The service's ``/v1/health`` JSON (``status``, ``model``, ``kind``, ``device``, ``version``)."""
        _, body = self._request("GET", protocol.HEALTH_PATH)
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise BackendError(f"{self.url}: health answer is not JSON; is this a depth3d server?")
        return answer

    def estimate(self, photo: Photo, size: tuple[int, int] | None = None) -> DepthResult:
        """The service's depth for ``photo``: at ``size`` (width, height; at most the photo's),
        else at the photo's size.  A service that cannot resample (a model whose processing
        takes no target size) answers at the photo's size, which is taken as well."""
        body = photo.data
        content_type = protocol.image_content_type(body) if body else None
        if content_type is None:
            body, content_type = protocol.encode_png(photo.rgb), protocol.PNG_TYPE
        query = {"model": self.model} if self.model else {}
        shapes = {(photo.height, photo.width)}
        if size is not None:
            query[protocol.SIZE_PARAM] = protocol.format_size(size)
            shapes.add((size[1], size[0]))
        path = protocol.DEPTH_PATH + ("?" + urllib.parse.urlencode(query) if query else "")
        limit = 4 * max(h * w for h, w in shapes) + NPY_HEADER_ALLOWANCE  # float32 depth, the larger size
        headers, data = self._request("POST", path, body, {"Content-Type": content_type}, limit)
        try:
            depth = protocol.decode_npy(data)
        except ValueError as exc:
            raise BackendError(f"{self.url}: unreadable depth in the answer ({exc})") from None
        if depth.shape not in shapes:
            wanted = f" at {protocol.format_size(size)}" if size is not None else ""
            raise BackendError(f"{self.url}: depth of shape {depth.shape} for a "
                               f"{photo.width}x{photo.height} photo{wanted}")
        kind = headers.get(protocol.KIND_HEADER.lower())
        if kind not in ("depth", "disparity"):
            raise BackendError(f"{self.url}: answer has no valid {protocol.KIND_HEADER} ({kind!r})")
        fov = headers.get(protocol.FOV_HEADER.lower())
        try:
            fov_deg = float(fov) if fov else None
        except ValueError:
            fov_deg = None
        if fov_deg is not None and not (math.isfinite(fov_deg) and 0.0 < fov_deg < 180.0):
            fov_deg = None
        model = urllib.parse.unquote(headers.get(protocol.MODEL_HEADER.lower(), "")) or self.url
        return DepthResult(depth=depth, kind=cast(DepthKind, kind), fov_deg=fov_deg, model=model)

    def _request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
        limit: int = MAX_SMALL_ANSWER,
    ) -> tuple[dict[str, str], bytes]:
        """One request, retried on a dropped connection → (lower-cased headers, body) of a 200.

        At most ``limit`` bytes of answer are read: a server (or anything posing as one) that
        sends more is refused, so it cannot run the client (Blender) out of memory."""
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        connection_type = (
            http.client.HTTPSConnection if self._url.scheme == "https" else http.client.HTTPConnection
        )
        for attempt in range(self.retries + 1):
            connection = connection_type(self._url.hostname, self._url.port, timeout=self.timeout)
            try:
                connection.request(method, self._url.path + path, body=body, headers=headers)
                response = connection.getresponse()
                declared = response.getheader("Content-Length")
                if declared is not None and declared.strip().isdigit() and int(declared) > limit:
                    raise BackendError(f"{self.url}: answer of {int(declared)} bytes exceeds the "
                                       f"{limit} this request can need")
                data = response.read(limit + 1)
                if len(data) > limit:
                    raise BackendError(f"{self.url}: answer exceeds the {limit} bytes this request can need")
                break
            except _DROPPED as exc:
                if attempt < self.retries:
                    continue
                raise BackendError(f"{self.url}: connection dropped ({_reason(exc)})") from None
            except ConnectionRefusedError:
                raise BackendError(f"{self.url}: connection refused; is `depth3d serve` running there?") from None
            except TimeoutError:
                raise BackendError(f"{self.url}: no answer within {self.timeout:g} s") from None
            except OSError as exc:
                raise BackendError(f"{self.url}: cannot reach the server ({_reason(exc)})") from None
            except http.client.HTTPException as exc:
                raise BackendError(f"{self.url}: not an HTTP answer ({_reason(exc)}); "
                                   "is this a depth3d server?") from None
            finally:
                connection.close()
        if response.status != 200:
            raise BackendError(f"{self.url}: HTTP {response.status}: {_error_text(response, data)}")
        return {key.lower(): value for key, value in response.getheaders()}, data


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(text.split())


def _error_text(response: http.client.HTTPResponse, data: bytes) -> str:
    """The server's ``{"error": ...}`` message, else the status reason; one line."""
    try:
        text = str(json.loads(data)["error"])
    except (ValueError, KeyError, TypeError):
        text = response.reason or "error"
    return " ".join(text.split())
