"""Depth backends, selected by name.  Heavy imports happen inside each backend only.

Which one a run uses, and the rules between the choices: :mod:`.spec`."""
from __future__ import annotations

from importlib import import_module
from typing import Any

from .base import BackendError, DepthBackend, DepthKind, DepthResult
from .spec import BackendSpec, resolve_backend, spec_from_args

# name → "module:class" of this package, imported on first use (torch only with transformers).
# A new backend is one entry here: the CLI's --backend choices and the error below read it.
BACKENDS: dict[str, str] = {
    "transformers": "hf:TransformersBackend",
    "file": "file:FileBackend",
    "remote": "remote:RemoteBackend",
}


def get_backend(name: str, **options: Any) -> DepthBackend:
    """Build the backend called ``name`` (a key of :data:`BACKENDS`) with its keyword ``options``.

    ``transformers``: ``model``, ``device``, ``dtype``; ``file``: ``path``, ``kind``;
    ``remote``: ``server``, ``token``, ``timeout``.
    """
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    backend: DepthBackend = getattr(import_module(f".{module}", __name__), cls)(**options)
    return backend


__all__ = ["BACKENDS", "BackendError", "BackendSpec", "DepthBackend", "DepthKind", "DepthResult", "get_backend",
           "resolve_backend", "spec_from_args"]
