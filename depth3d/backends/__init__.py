"""Depth backends, selected by name.  Heavy imports happen inside each backend only.

Which one a run uses, and the rules between the choices: :mod:`.spec`."""
from __future__ import annotations

from typing import Any

from .base import BackendError, DepthBackend, DepthKind, DepthResult
from .spec import BackendSpec, resolve_backend, spec_from_args

BACKENDS = ("transformers", "file", "remote")


def get_backend(name: str, **options: Any) -> DepthBackend:
    """Build the backend called ``name`` with its keyword ``options``.

    ``transformers``: ``model``, ``device``, ``dtype``; ``file``: ``path``, ``kind``;
    ``remote``: ``server``, ``token``, ``timeout``.
    """
    if name == "transformers":
        from .hf import TransformersBackend

        return TransformersBackend(**options)
    if name == "file":
        from .file import FileBackend

        return FileBackend(**options)
    if name == "remote":
        from .remote import RemoteBackend

        return RemoteBackend(**options)
    raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "BackendError", "BackendSpec", "DepthBackend", "DepthKind", "DepthResult", "get_backend",
           "resolve_backend", "spec_from_args"]
