"""Run a depth service from another Python: the Blender add-on's side (standard library only).

:class:`LocalService` starts ``python -m depth3d.service`` on loopback in a given interpreter
(one that has torch), waits until it is healthy, reuses it, and stops it at exit; the child
also stops by itself when its parent dies (it watches its stdin).  :func:`create_backend_venv`
makes such an interpreter.
"""
from __future__ import annotations

import atexit
import collections
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import Depth3DError

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent.parent)
# Runs the service; our copy of depth3d is appended to sys.path, so the interpreter's own
# depth3d (and its numpy etc.) win when it has them.
_BOOTSTRAP = (
    "import runpy, sys; sys.path.append(sys.argv.pop(1)); "
    "runpy.run_module('depth3d.service', run_name='__main__', alter_sys=True)"
)
_LISTENING = "depth3d: listening on "
_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)


class ServiceError(Depth3DError):
    """The local service could not be started or reached; the message says why."""


def get_health(url: str, timeout: float = 2.0) -> dict | None:
    """``/v1/health`` of the service at ``url`` as a dict, or ``None`` if nothing answers it."""
    # direct, never through $http_proxy: a proxy would answer for 127.0.0.1 (or refuse), and
    # a starting service would never be seen healthy
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/v1/health", timeout=timeout) as response:
            answer = json.loads(response.read())
    except (OSError, ValueError):  # URLError, HTTPError, refused, timeout, not JSON
        return None
    return answer if isinstance(answer, dict) else None


class LocalService:
    """A depth service on 127.0.0.1, run by interpreter ``python`` with ``model`` on ``device``
    (in ``dtype``).

    ``port``: a fixed port (a healthy service already there with the same model is reused,
    not started again), or ``None`` for a free one.  :meth:`start` is idempotent; :meth:`stop`
    ends the process this object started (registered with :mod:`atexit`).
    """

    def __init__(self, python: str, model: str | None = None, device: str = "auto", port: int | None = None,
                 dtype: str = "auto"):
        self.python = python
        self.model = model
        self.device = device
        self.dtype = dtype
        self.port = port
        self.url: str | None = None
        self.process: subprocess.Popen | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=40)
        self._lock = threading.Lock()

    def start(self, timeout: float = 600.0) -> str:
        """Start (or reuse) the service and wait until it is healthy; returns its URL.

        ``timeout`` covers loading the model, which may first download it.
        """
        with self._lock:
            if self.url and self._healthy(self.url):
                return self.url
            self._stop_process()
            if self.port is not None:
                url = f"http://127.0.0.1:{self.port}"
                if self._healthy(url, same_model=True):
                    self.url = url
                    return url
            self.url = self._launch(timeout)
            return self.url

    def stop(self) -> None:
        """Stop the process this object started (terminate, then kill); a reused one is left alone."""
        with self._lock:
            self._stop_process()
            self.url = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _healthy(self, url: str, same_model: bool = False) -> bool:
        health = get_health(url)
        if health is None or health.get("status") != "ok":
            return False
        if same_model and self.model and health.get("model") != self.model:
            raise ServiceError(f"{url} already serves {health.get('model')!r}, not {self.model!r}; "
                               "choose another port")
        return True

    def _launch(self, timeout: float) -> str:
        command = [self.python, "-c", _BOOTSTRAP, _PACKAGE_PARENT,
                   "--host", "127.0.0.1", "--port", str(self.port or 0), "--device", self.device,
                   "--watch-stdin"]
        if self.dtype != "auto":
            command += ["--dtype", self.dtype]
        if self.model:
            command += ["--model", self.model]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("PYTHONHOME", None)  # Blender's, if set, would break another interpreter
        self._output.clear()
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=env, creationflags=_NO_WINDOW,
            )
        except OSError as exc:
            raise ServiceError(f"cannot run backend Python {self.python}: {exc.strerror or exc}") from None
        atexit.register(self._at_exit)
        ended = threading.Event()
        urls: list[str] = []
        threading.Thread(target=self._read_output, args=(self.process, ended, urls),
                         name="depth3d-service-output", daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                ended.wait(1.0)  # let the last lines in
                break
            if urls and self._healthy(urls[0]):
                return urls[0]
            time.sleep(0.2)
        else:
            self._stop_process()
            raise ServiceError(f"the depth service did not become ready within {timeout:g} s"
                               f"{self._tail()}")
        code = self.process.returncode
        self._stop_process()
        raise ServiceError(f"the depth service exited with code {code}{self._tail()}")

    def _read_output(self, process: subprocess.Popen, ended: threading.Event, urls: list[str]) -> None:
        """Keep the child's output drained; note its URL; keep the last lines for errors."""
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if line.startswith(_LISTENING):
                urls.append(line[len(_LISTENING):].strip())
            self._output.append(line)
        ended.set()

    def _tail(self) -> str:
        lines = [line for line in self._output if line.strip()]
        return (":\n" + "\n".join(lines[-12:])) if lines else ""

    def _at_exit(self) -> None:
        self._stop_process()  # no lock: a start() left waiting in another thread must not block exit

    def _stop_process(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self._at_exit)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass


def venv_python(folder: str | os.PathLike) -> Path:
    """The interpreter of the virtual environment in ``folder``."""
    folder = Path(folder)
    return folder / "Scripts" / "python.exe" if os.name == "nt" else folder / "bin" / "python"


def create_backend_venv(
    folder: str | os.PathLike,
    requirement: str = "depth3d[ml]",
    progress: Callable[[float, str], None] | None = None,
    *,
    python: str | None = None,
    pip_args: Sequence[str] = (),
    cancel: threading.Event | None = None,
) -> Path:
    """Make a venv in ``folder`` with ``python`` (default: this one) and pip-install ``requirement``.

    Blocking (the Blender UI runs it in a thread).  ``progress(fraction, message)`` is called with
    a rough 0..1 fraction and pip's latest line; ``cancel`` stops pip.  Returns the venv's python.
    """
    report = progress or (lambda fraction, message: None)
    target = venv_python(folder)
    if not target.exists():
        report(0.0, f"creating a virtual environment in {folder}")
        _run([python or _base_python(), "-m", "venv", str(folder)], report, cancel, (0.0, 0.1))
    report(0.1, f"installing {requirement}")
    _run([str(target), "-m", "pip", "install", "--progress-bar", "off", *pip_args, requirement],
         report, cancel, (0.1, 1.0))
    report(1.0, f"installed {requirement}")
    return target


def _base_python() -> str:
    """This process's interpreter (in Blender: its bundled Python, not the blender binary)."""
    executable = sys.executable
    if Path(executable).stem.lower().startswith("blender"):
        raise ServiceError("cannot find Blender's Python interpreter; choose one in the preferences")
    return executable


def _run(command: list[str], report: Callable[[float, str], None], cancel: threading.Event | None,
         span: tuple[float, float]) -> None:
    """Run ``command``, reporting each output line; a failure raises with the output's tail."""
    low, high = span
    tail: collections.deque[str] = collections.deque(maxlen=15)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONUNBUFFERED="1")
    env.pop("PYTHONHOME", None)
    env.pop("PYTHONPATH", None)
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, env=env, creationflags=_NO_WINDOW)
    except OSError as exc:
        raise ServiceError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
    lines = 0
    with process:
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            tail.append(line)
            lines += 1
            report(low + (high - low) * (1.0 - 1.0 / (1.0 + lines / 20.0)), line)
            if cancel is not None and cancel.is_set():
                process.kill()
                raise ServiceError("cancelled")
    if process.returncode != 0:
        raise ServiceError(f"{' '.join(command[1:4])} failed (exit {process.returncode}):\n" + "\n".join(tail))
