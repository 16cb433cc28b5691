"""The environment report behind ``depth3d info``: versions, devices, cached depth models.

Nothing here fails when torch or transformers is missing or broken: those entries become
``None``.  The Hugging Face cache is scanned from its files, without torch.
"""
from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .backends.base import BackendError
from .backends.hf import DEFAULT_MODEL, PICKLE_FILES, WEIGHT_FILES, depth_kind, hub_cache_dir


def _version(module_name: str) -> tuple[Any, str | None]:
    """(module, version) if it imports, else (None, None)."""
    try:
        module = __import__(module_name)
    except Exception:  # ImportError, or a broken install raising anything at import
        return None, None
    return module, str(getattr(module, "__version__", "unknown"))


def _devices(torch: Any) -> list[dict[str, Any]]:
    """CPU, each CUDA GPU (name, memory) and MPS, as far as torch can tell."""
    devices: list[dict[str, Any]] = [
        {"type": "cpu", "name": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    ]
    if torch is None:
        return devices
    try:
        for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
            props = torch.cuda.get_device_properties(i)
            devices.append(
                {"type": f"cuda:{i}", "name": props.name, "memory_bytes": int(props.total_memory)}
            )
    except Exception as exc:  # driver trouble: report it, don't crash
        devices.append({"type": "cuda", "name": None, "error": str(exc)})
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append({"type": "mps", "name": "Apple GPU (Metal)"})
    return devices


def _snapshot(repo: Path) -> Path | None:
    """The snapshot folder ``refs/main`` points at, else the most recent one."""
    try:
        ref = (repo / "refs" / "main").read_text().strip()
        if (repo / "snapshots" / ref).is_dir():
            return repo / "snapshots" / ref
    except OSError:
        pass
    snapshots = [p for p in (repo / "snapshots").glob("*") if p.is_dir()]
    return max(snapshots, key=lambda p: p.stat().st_mtime) if snapshots else None


def cached_depth_models(cache: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Depth-estimation models in the HF hub cache, read from their ``config.json`` files.

    Each: ``id`` (hub id), ``path`` (snapshot folder), ``model_type``, ``kind`` ("depth",
    "disparity" or ``None`` if unknown), ``safetensors`` (usable weights present),
    ``pickle_only`` (only ``pytorch_model.bin``), ``size_bytes`` (files in the snapshot).
    """
    root = Path(cache) if cache is not None else hub_cache_dir()
    models = []
    for repo in sorted(root.glob("models--*")):
        snapshot = _snapshot(repo)
        if snapshot is None:
            continue
        try:
            config = json.loads((snapshot / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(config, dict):
            continue
        architectures = config.get("architectures") or []
        if not any(str(a).endswith("ForDepthEstimation") for a in architectures):
            continue
        try:
            kind = depth_kind(config)
        except BackendError:
            kind = None
        has = {p.name for p in snapshot.iterdir()}
        size = 0
        for f in snapshot.rglob("*"):
            try:
                size += f.stat().st_size if f.is_file() else 0
            except OSError:  # dangling link of an interrupted download
                pass
        models.append({
            "id": repo.name[len("models--"):].replace("--", "/"),
            "path": str(snapshot),
            "model_type": config.get("model_type"),
            "kind": kind,
            "safetensors": any(name in has for name in WEIGHT_FILES),
            "pickle_only": not any(name in has for name in WEIGHT_FILES)
            and any(name in has for name in PICKLE_FILES),
            "size_bytes": size,
        })
    return models


def collect_info() -> dict[str, Any]:
    """Everything ``depth3d info`` reports, as plain data."""
    torch, torch_version = _version("torch")
    _, transformers_version = _version("transformers")
    cache = hub_cache_dir()
    models = cached_depth_models(cache)
    offline = (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "")
    return {
        "depth3d": __version__,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "numpy": np.__version__,
        "torch": torch_version,
        "transformers": transformers_version,
        "devices": _devices(torch),
        "hf_cache": str(cache),
        "hf_offline": offline.strip().upper() in ("1", "ON", "YES", "TRUE"),
        "default_model": DEFAULT_MODEL,
        "default_model_cached": any(m["id"] == DEFAULT_MODEL and m["safetensors"] for m in models),
        "cached_models": models,
    }


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def format_info(info: dict[str, Any]) -> str:
    """``collect_info()`` as aligned, human-readable lines."""
    missing = "not installed (pip install depth3d[ml] for the transformers backend)"
    lines = [
        f"depth3d       {info['depth3d']}",
        f"python        {info['python']} ({info['python_executable']})",
        f"platform      {info['platform']}",
        f"numpy         {info['numpy']}",
        f"torch         {info['torch'] or missing}",
        f"transformers  {info['transformers'] or missing}",
        "devices",
    ]
    for d in info["devices"]:
        extra = f", {d['memory_bytes'] / 2**30:.0f} GiB" if d.get("memory_bytes") else ""
        extra += f", {d['cores']} cores" if d.get("cores") else ""
        extra += f", error: {d['error']}" if d.get("error") else ""
        lines.append(f"  {d['type']:<10}  {d.get('name') or ''}{extra}")
    offline = " (offline: HF_HUB_OFFLINE is set)" if info["hf_offline"] else ""
    lines.append(f"HF cache      {info['hf_cache']}{offline}")
    cached = "cached" if info["default_model_cached"] else "not cached: downloads on first use"
    lines.append(f"default model {info['default_model']} ({cached})")
    models = info["cached_models"]
    lines.append(f"cached depth models: {len(models) or 'none'}")
    for m in models:
        status = "" if m["safetensors"] else (
            "  pickle weights only: not loadable" if m["pickle_only"] else "  incomplete"
        )
        lines.append(
            f"  {m['id']:<48} {m['model_type'] or '?':<16} {m['kind'] or 'unknown kind':<10} "
            f"{_size(m['size_bytes']):>9}{status}"
        )
    return "\n".join(lines)
