"""Which depth backend a run uses: one :class:`BackendSpec` from the depth-source choices, and
the rules between those choices with their messages.

The CLI (``depth3d convert``/``depth``), the cluster runner (``--ray``) and the Blender batch
all resolve ``--backend``/``--depth``/``--server``/``--model``/``--device``/``--dtype`` here; what is
only Blender's (its file readers, online-access policy, preferences) stays in :mod:`depth3d.blender`.

:class:`ModelOptions` declares how a model runs as options of :mod:`depth3d.schema`: the
``convert``/``depth``/``serve`` flags and the Blender preferences are derived from it.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..schema import Choice, check, flag, option

__all__ = ["DTYPE_CHOICES", "BackendSpec", "ModelOptions", "resolve_backend", "spec_from_args"]

DTYPE_CHOICES = (
    Choice("auto", "Auto", "float16 on a CUDA GPU, else float32"),
    Choice("float32", "Float32", "full precision: the model's own results"),
    Choice("bfloat16", "BFloat16", "half the memory; about twice as fast on CPUs with bfloat16 "
                                   "instructions (AVX512-BF16, AMX), depth within about 1 % of float32's"),
    Choice("float16", "Float16", "half precision for GPUs (slower than float32 on most CPUs)"),
)
"""The number types a model may run in (``auto`` is the backend's choice for its device)."""


@dataclass(frozen=True)
class ModelOptions:
    """How a depth model runs, declared once (:mod:`depth3d.schema`): ``--dtype`` of
    ``depth3d convert``/``depth``/``serve`` and the Blender preference are made from here.

    dtype: the number type of the model's weights and arithmetic; its output is post-processed
           (resampled) in float32 whatever it is.  Half precision on the CPU: docs/models.md.
    """

    dtype: str = option("auto", "Precision", "number type the model computes in: auto (float16 on a "
                        "CUDA GPU, else float32), float32, bfloat16 (fast on recent CPUs) or float16",
                        choices=DTYPE_CHOICES)


@dataclass(frozen=True)
class BackendSpec:
    """A backend by ``name`` with the keyword ``options`` of :func:`~depth3d.backends.get_backend`:
    plain values, so a cluster's workers can build it too.

    ``depth`` (``file`` only): the depth file, or the folder of ``<stem>.<ext>`` files, one per
    photo; the caller adds the ``path`` option for each photo.
    """

    name: str
    options: tuple[tuple[str, Any], ...] = ()
    depth: str | None = None

    @property
    def kwargs(self) -> dict[str, Any]:
        """``options`` as keyword arguments."""
        return dict(self.options)


def resolve_backend(
    *, backend: str | None = None, depth: str | None = None, depth_kind: str = "depth",
    depth_unit: str = "m", model: str | None = None, device: str = "auto", server: str | None = None,
    token: str | None = None, n_inputs: int = 1, dtype: str = "auto",
) -> BackendSpec:
    """The backend the choices name (the CLI's flags, by the same names); :class:`UsageError`
    for a combination that does not make sense.

    No ``backend``: ``file`` with a ``depth``, else ``transformers``.  ``n_inputs``: how many
    photos share it (several need a folder of depth files).  ``dtype`` other than ``auto``
    becomes the model backend's ``dtype`` option.
    """
    try:
        check(ModelOptions, {"dtype": dtype}, label=flag)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    name = backend or ("file" if depth else "transformers")
    if name == "file":
        if not depth:
            raise UsageError("--backend file needs --depth")
        if not Path(depth).is_dir() and n_inputs > 1:
            raise UsageError("with several inputs, --depth must be a folder of <stem>.<ext> files")
        if model or device != "auto":
            raise UsageError("--model and --device run a model; --depth files need none")
        if dtype != "auto":
            raise UsageError("--dtype is for a model; --depth files need none")
        if depth_unit != "m" and depth_kind != "depth":
            raise UsageError("--depth-unit is for depth maps (--depth-kind depth); disparity has no unit")
        return BackendSpec("file", (("kind", depth_kind), ("unit", depth_unit)), str(depth))
    if depth:
        raise UsageError(f"--depth is for the file backend, not {name}")
    if depth_unit != "m" or depth_kind != "depth":
        raise UsageError("--depth-kind and --depth-unit describe --depth files")
    if name == "remote":
        if device != "auto":
            raise UsageError("--device is for --backend transformers; the server chooses its own "
                             "(depth3d serve --device …)")
        if dtype != "auto":
            raise UsageError("--dtype is for --backend transformers; the server chooses its own "
                             "(depth3d serve --dtype …)")
        if not server:
            raise UsageError("--backend remote needs --server URL")
        return BackendSpec("remote", (("server", server), ("token", token), ("model", model)))
    dtypes = (("dtype", dtype),) if dtype != "auto" else ()  # auto: the backend's own default
    return BackendSpec(name, (("model", model), ("device", device), *dtypes))  # transformers, or one like it


def spec_from_args(args: argparse.Namespace, n_inputs: int) -> BackendSpec:
    """:func:`resolve_backend` from parsed ``depth3d convert``/``depth`` arguments."""
    return resolve_backend(
        backend=args.backend, depth=args.depth, depth_kind=args.depth_kind, depth_unit=args.depth_unit,
        model=args.model, device=args.device, server=args.server, token=args.token, n_inputs=n_inputs,
        dtype=getattr(args, "dtype", "auto"),
    )
