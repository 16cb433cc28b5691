"""The ``transformers`` backend: any ``AutoModelForDepthEstimation`` model, in-process.

Models are found local-first: a folder on disk, then the Hugging Face cache, and only then the
Hub (after a quick reachability probe, so an offline machine fails in well under 2 s instead
of sitting through the Hub client's retries).  Weights load from safetensors only and remote
code is never trusted.  ``torch``, ``transformers`` and ``huggingface_hub`` are imported inside
functions only.
"""
from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..io.image import Photo
from .base import BackendError, DepthKind, DepthResult
from .cpu_share import CoreShare, allowed_cores
from .spec import DTYPE_CHOICES

DEFAULT_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = tuple(c.value for c in DTYPE_CHOICES if c.value != "auto")
"""The number types a model runs in (:data:`~depth3d.backends.spec.DTYPE_CHOICES` but ``auto``)."""

#: Families whose output is metric depth in metres.
METRIC_MODEL_TYPES = frozenset({"zoedepth", "depth_pro", "glpn", "tipsv2_dpt"})
#: Families whose output is relative inverse depth (MiDaS-style disparity).
RELATIVE_MODEL_TYPES = frozenset({"dpt"})
#: Families that say which they are in ``config.depth_estimation_type`` ("relative" | "metric").
TYPED_MODEL_TYPES = frozenset({"depth_anything", "prompt_depth_anything"})

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
#: What a download from the Hub fetches: configs and safetensors weights, never pickles.
DOWNLOAD_PATTERNS = ["*.json", "model.safetensors", "model-*-of-*.safetensors"]
HUB_PROBE_TIMEOUT_S = 1.0

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def depth_kind(config: Any) -> DepthKind:
    """``"depth"`` (metric, metres) or ``"disparity"`` (relative) for a model config.

    ``config`` is a ``transformers`` config or the plain dict of a ``config.json``.
    """
    def get(key: str) -> Any:
        return config.get(key) if isinstance(config, Mapping) else getattr(config, key, None)

    model_type = get("model_type")
    if model_type in TYPED_MODEL_TYPES:
        kind = get("depth_estimation_type") or "relative"
        if kind not in ("relative", "metric"):
            raise BackendError(f"unknown depth_estimation_type {kind!r} in the {model_type} config")
        return "depth" if kind == "metric" else "disparity"
    if model_type in METRIC_MODEL_TYPES:
        return "depth"
    if model_type in RELATIVE_MODEL_TYPES:
        return "disparity"
    raise BackendError(
        f"depth3d does not know whether {model_type!r} models give metric depth or relative disparity"
    )


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder in effect, worked out as ``huggingface_hub`` does.

    ``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``; no import needed.
    """
    env = os.environ
    home = env.get("HF_HOME") or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    home = os.path.expandvars(os.path.expanduser(home))
    cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(cache)))


def _offline() -> bool:
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any(
        (f or "").strip().upper() in ("1", "ON", "YES", "TRUE") for f in flags
    )


def _hub_unreachable() -> str | None:
    """Why the Hub gave no HTTP answer within HUB_PROBE_TIMEOUT_S, or ``None`` if it answered.

    One request with no retries, through the Hub client's own session (so proxies apply), in a
    daemon thread so that a hanging name lookup or a silent server can't hold us either.
    """
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils import get_session

    outcome: list[str | None] = []

    def probe() -> None:
        try:
            get_session().head(constants.ENDPOINT, timeout=HUB_PROBE_TIMEOUT_S)
            outcome.append(None)
        except HfHubHTTPError:  # an HTTP answer of any kind: the Hub is there
            outcome.append(None)
        except Exception as exc:  # connection refused, DNS failure, timeout, proxy error
            outcome.append(f"{constants.ENDPOINT} unreachable: {type(exc).__name__}: {exc}")

    thread = threading.Thread(target=probe, name="depth3d-hub-probe", daemon=True)
    thread.start()
    thread.join(HUB_PROBE_TIMEOUT_S)
    if outcome:
        return outcome[0]
    return f"{constants.ENDPOINT} did not answer within {HUB_PROBE_TIMEOUT_S:g} s"


def _missing_in_folder(folder: Path) -> str | None:
    """What keeps ``folder`` from being a loadable model folder, or ``None``."""
    if not (folder / "config.json").is_file():
        return "no config.json"
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        if any((folder / name).is_file() for name in PICKLE_FILES):
            return (
                "only pickle weights (pytorch_model.bin), which depth3d never loads; "
                "it needs model.safetensors (convert it or download a safetensors version)"
            )
        return "no model.safetensors"
    if not any((folder / name).is_file() for name in PROCESSOR_FILES):
        return "no preprocessor_config.json"
    return None


def _one_line(exc: BaseException) -> str:
    """An exception's message with its line breaks folded, for a one-line user error."""
    return " ".join(str(exc).split())


LOCAL_MODEL_HINT = "pass --model /local/folder"
"""How the user points depth3d at a model folder, in the words of where they are (Blender
sets its own: the Model preference)."""


def _how_to_get(model: str, cache_dir: str | os.PathLike | None, hint: str | None = None) -> str:
    cache = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    return (
        f"to get it: run depth3d once with network access (weights are cached in the Hugging Face "
        f"hub cache, here {cache}; HF_HUB_CACHE, default ~/.cache/huggingface/hub), point "
        f"HF_HUB_CACHE at a cache that already has them, or {hint or LOCAL_MODEL_HINT} "
        f"(config.json + model.safetensors + preprocessor_config.json, "
        f"e.g. from `hf download {model} --local-dir FOLDER`)"
    )


def resolve_model(model: str, cache_dir: str | os.PathLike | None = None, hint: str | None = None) -> Path:
    """The local folder holding ``model`` (a folder path or hub id), downloading it if need be.

    Order: an existing folder; the HF cache (no network); the Hub, only when not offline and a
    quick probe reaches it.  Downloads fetch configs and safetensors weights only.
    """
    folder = Path(model).expanduser()
    if folder.is_dir():
        problem = _missing_in_folder(folder)
        if problem:
            raise BackendError(f"model folder {model}: {problem}")
        return folder
    if not _HUB_ID.match(model) or model.startswith(("~", ".")):
        raise BackendError(f"no model folder {model} (and it is not a Hugging Face hub id)")

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    cache = str(cache_dir) if cache_dir is not None else None
    cached_problem = "not in the Hugging Face cache"
    try:
        # The patterns matter: a cached file listing of the repo makes incomplete snapshots
        # (missing README, .bin, ...) count as absent unless we say which files we need.
        snapshot = Path(snapshot_download(
            model, cache_dir=cache, local_files_only=True, allow_patterns=DOWNLOAD_PATTERNS
        ))
        cached_problem = _missing_in_folder(snapshot)
        if cached_problem is None:
            return snapshot
        cached_problem = f"cached copy incomplete ({cached_problem})"
    except LocalEntryNotFoundError:
        pass

    reason = "offline mode (HF_HUB_OFFLINE) is on" if _offline() else _hub_unreachable()
    if reason:
        raise BackendError(
            f"model {model} {cached_problem} and {reason}; {_how_to_get(model, cache_dir, hint)}"
        )
    try:
        snapshot = Path(snapshot_download(model, cache_dir=cache, allow_patterns=DOWNLOAD_PATTERNS))
    except GatedRepoError:
        raise BackendError(
            f"model {model} is gated: accept its terms on the Hub and log in (`hf auth login`)"
        ) from None
    except RepositoryNotFoundError:
        raise BackendError(f"no model {model} on the Hugging Face Hub (or it is private)") from None
    except (HfHubHTTPError, OSError) as exc:
        raise BackendError(
            f"downloading model {model} failed: {_one_line(exc)}; {_how_to_get(model, cache_dir, hint)}"
        ) from None
    problem = _missing_in_folder(snapshot)
    if problem:
        raise BackendError(
            f"model {model} on the Hub has {problem}; depth3d loads safetensors weights only, "
            "never pickle (.bin) files"
        )
    return snapshot


def resolve_dtype(dtype: str | None, device: str) -> str:
    """``auto`` (or ``None``) → ``float16`` on a CUDA ``device``, else ``float32``; others as given.

    Half precision on the CPU is the weights in that type (``bfloat16`` there): measured on Depth
    Anything V2 Small, faster than float32 weights under ``torch.autocast`` for an error about
    as small (bench/bench_dtype.py, docs/models.md)."""
    if dtype in (None, "auto"):
        return "float16" if device.startswith("cuda") else "float32"
    return dtype


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` if available, else ``mps``, else ``cpu``; explicit ones are checked."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendError("device cuda requested but torch sees no CUDA GPU")
    if device == "mps" and not mps_ok:
        raise BackendError("device mps requested but torch has no MPS (Apple GPU) support here")
    return device


class TransformersBackend:
    """Depth from a ``transformers`` depth-estimation model, loaded once on first use.

    model:     hub id or local folder; default :data:`DEFAULT_MODEL`.
    device:    ``auto`` (CUDA → MPS → CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    dtype:     ``auto`` (default: float16 on CUDA, else float32), ``float32``, ``bfloat16`` or
               ``float16``: the weights' type; post-processing is float32 (:func:`resolve_dtype`).
    cache_dir: hub cache folder to use instead of the default (``HF_HUB_CACHE``).
    """

    name = "transformers"
    takes_size = True  # estimate(photo, size): depth resampled to the size asked for

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        dtype: str | None = None,
        cache_dir: str | None = None,
    ) -> None:
        if device not in DEVICES and not re.fullmatch(r"cuda:\d+", device or ""):
            raise BackendError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
        if dtype is not None and dtype != "auto" and dtype not in DTYPES:
            raise BackendError(f"unknown dtype {dtype!r}; choose one of auto, {', '.join(DTYPES)}")
        self.model = str(model) if model else DEFAULT_MODEL
        self.device = device
        self.dtype = dtype
        self.cache_dir = cache_dir
        self.model_hint: str | None = None  # how to point at a local model, in the caller's words
        self.kind: DepthKind | None = None
        self._net: Any = None  # the torch module, once loaded
        self._processor: Any = None  # its transformers image processor
        self._torch_device: str | None = None
        self._torch_dtype: Any = None
        self._lock = threading.Lock()
        self.batch_size: int | None = None  # photos per forward pass; default 1 on CPU, else 4
        self.spare_cores = 0
        """Cores the model's CPU forward passes leave to other work running beside them (the
        other photos of a batch: :func:`depth3d.overlap.convert_work`); read at each pass.
        torch's OpenMP threads wait for each other, and one that other work preempts holds all
        of them up: a pass that shares the machine runs faster on fewer threads."""
        self._max_threads = 1  # torch's threads at loading, at most this process's cores
        self._share: CoreShare | None = None  # the cores other processes keep busy

    def _use_threads(self) -> None:
        """Set torch's intra-op threads for the forward passes of the calling thread (OpenMP
        keeps the count per thread): the cores free of other processes' work
        (:mod:`~depth3d.backends.cpu_share`), at most torch's count at loading, less
        :attr:`spare_cores`; at least one."""
        import torch

        if self._torch_device != "cpu" or self._share is None:
            return
        threads = max(1, min(self._max_threads, self._share.free()) - self.spare_cores)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)

    def load(self) -> None:
        """Find, load and place the model (once; later calls return at once)."""
        with self._lock:
            if self._net is None:
                self._load()

    def _load(self) -> None:
        self._share = CoreShare()  # others' use of the cores measured from here on
        try:
            # Find the weights before the slow imports so a missing model fails fast.
            folder = resolve_model(self.model, self.cache_dir, self.model_hint)
            import torch
            from transformers import AutoConfig, AutoImageProcessor, AutoModelForDepthEstimation
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise BackendError(
                f"the transformers backend needs torch and transformers ({exc}); "
                "install them with `pip install depth3d[ml]`"
            ) from None

        # Our own errors are one line; transformers' loading bars and notices would bury them.
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            config = AutoConfig.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
        except (ValueError, KeyError, OSError) as exc:
            raise BackendError(f"model {self.model}: unreadable config ({_one_line(exc)})") from None
        self.kind = depth_kind(config)

        device = resolve_device(self.device)
        torch_dtype = getattr(torch, resolve_dtype(self.dtype, device))
        try:
            processor = AutoImageProcessor.from_pretrained(
                folder, trust_remote_code=False, local_files_only=True
            )
        except (ValueError, OSError, ImportError) as exc:
            raise BackendError(
                f"model {self.model}: cannot load its image processor ({_one_line(exc)})"
            ) from None
        try:
            net = AutoModelForDepthEstimation.from_pretrained(
                folder, use_safetensors=True, trust_remote_code=False, local_files_only=True,
                dtype=torch_dtype,
            )
        except ValueError as exc:  # a config that maps to no depth-estimation class
            raise BackendError(
                f"model {self.model} is not a depth-estimation model ({_one_line(exc)})"
            ) from None
        except OSError as exc:
            raise BackendError(
                f"model {self.model}: cannot load its weights ({_one_line(exc)})"
            ) from None
        _prefer_sdpa(net)
        self._max_threads = _most_threads()
        try:
            self._net = net.to(device).eval()
        except (RuntimeError, AssertionError) as exc:  # e.g. cuda:3 on a one-GPU machine, no memory
            raise BackendError(f"cannot put model {self.model} on {device}: {_one_line(exc)}") from None
        self._processor = processor
        self._torch_device, self._torch_dtype = device, torch_dtype
        if self.batch_size is None:  # CPU: no gain from batching, only latency
            self.batch_size = 1 if device == "cpu" else 4

    def estimate(self, photo: Photo, size: tuple[int, int] | None = None) -> DepthResult:
        """Depth for ``photo``: (H, W) float32, finite, at the photo's own size — or at ``size``
        (width, height; same aspect) when the model's post-processing resamples to a target
        size (then ``photo.small``, the photo decoded at a reduced scale, feeds the model
        when there is one).  Otherwise exactly transformers' own processing."""
        return self.estimate_batch([photo], [size])[0]

    def estimate_batch(self, photos: list[Photo], sizes: list[tuple[int, int] | None] | None = None,
                       ) -> list[DepthResult]:
        """:meth:`estimate` for several photos; those whose model inputs have the same shape go
        through the network together, up to :attr:`batch_size` at a time."""
        import torch

        self.load()
        sizes = list(sizes or [None] * len(photos))
        targets = self._accepts_target_size()
        out_of_memory = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
        results: list[DepthResult] = []
        try:
            with torch.inference_mode():
                inputs = []
                for photo, size in zip(photos, sizes):
                    rgb = photo.small if (targets and size and photo.small is not None) else photo.rgb
                    inputs.append(self._processor(
                        images=np.ascontiguousarray(rgb), return_tensors="pt", input_data_format="channels_last",
                    ))
                start = 0
                while start < len(photos):
                    end = start + 1
                    shape = inputs[start]["pixel_values"].shape
                    while (end < len(photos) and end - start < self.batch_size
                           and inputs[end]["pixel_values"].shape == shape):
                        end += 1
                    batch = inputs[start] if end == start + 1 else type(inputs[start])(
                        {key: torch.cat([x[key] for x in inputs[start:end]]) for key in inputs[start]})
                    batch = batch.to(device=self._torch_device, dtype=self._torch_dtype)
                    self._use_threads()
                    outputs = self._net(**batch)
                    # Post-process in float32: half precision loses depth resolution when resampling.
                    outputs["predicted_depth"] = outputs.predicted_depth.float()
                    if getattr(outputs, "field_of_view", None) is not None:
                        outputs["field_of_view"] = outputs.field_of_view.float()
                    for k in range(start, end):
                        one = outputs if end == start + 1 else type(outputs)(
                            {key: value[k - start:k - start + 1] for key, value in outputs.items()})
                        results.append(self._post(one, photos[k], sizes[k] if targets else None))
                    start = end
        except (ImportError, NameError) as exc:  # e.g. ZoeDepth/Depth Pro processing without torchvision
            raise BackendError(
                f"model {self.model}: its transformers image processing failed ({_one_line(exc)}); "
                "it may need torchvision (the build matching your torch)"
            ) from None
        except out_of_memory:
            raise BackendError(
                f"out of {self._torch_device} memory running model {self.model}; "
                "try a smaller model or device cpu"
            ) from None
        return results

    def small_side(self) -> int | None:
        """The short side a reduced decode of a photo must keep to feed this model as well as
        the full photo does (twice the side its processor resizes to), or ``None`` where the
        processor does not resize or cannot resample its output to a target size."""
        self.load()
        size = getattr(self._processor, "size", None) or {}
        sides = [v for v in dict(size).values() if isinstance(v, int)]
        if not (sides and getattr(self._processor, "do_resize", False) and self._accepts_target_size()):
            return None
        return 2 * max(sides)

    def _accepts_target_size(self) -> bool:
        """Whether the processor's post-processing resamples to target sizes given second (DPT,
        Depth Anything, Depth Pro, GLPN) rather than taking source sizes (ZoeDepth)."""
        import inspect

        params = list(inspect.signature(self._processor.post_process_depth_estimation).parameters)
        return len(params) > 1 and params[1] == "target_sizes"

    def _post(self, outputs, photo: Photo, size: tuple[int, int] | None) -> DepthResult:
        """One photo's network outputs → its checked :class:`DepthResult` at ``size`` (w, h)."""
        import torch

        width, height = size or (photo.width, photo.height)
        # The second argument is target_sizes for most processors and source_sizes for
        # ZoeDepth (which then also strips its padding), as in transformers' pipeline.
        post = self._processor.post_process_depth_estimation(outputs, [(height, width)])[0]
        depth = post["predicted_depth"].reshape(height, width).float().cpu().numpy()
        bad = int(depth.size - np.count_nonzero(np.isfinite(depth)))
        if bad:
            hint = "; try dtype float32" if self._torch_dtype != torch.float32 else ""
            raise BackendError(f"model {self.model} produced {bad} non-finite depth values{hint}")
        return DepthResult(
            depth=depth, kind=self.kind, fov_deg=_horizontal_fov(post), model=self.model
        )


@functools.cache
def _most_threads() -> int:
    """torch's intra-op threads as the process's first model found them (torch's default counts
    the machine's cores, or takes OMP_NUM_THREADS), at most the cores this process may use."""
    import torch

    return max(1, min(torch.get_num_threads(), len(allowed_cores())))


def _prefer_sdpa(net) -> None:
    """Attention through torch's fused ``scaled_dot_product_attention`` in the sub-models that
    support it — the DINOv2 backbone of Depth Anything, whose wrapper declares no support of its
    own and so runs the backbone's eager attention: the same arithmetic in one kernel, without
    the (heads, tokens, tokens) matrix; equal to float32 rounding."""
    config = net.config
    subs = {key: "sdpa" for key in getattr(config, "sub_configs", {}) if getattr(config, key, None) is not None}
    if not subs:
        return
    try:
        net.set_attn_implementation(subs)
    except (ValueError, ImportError, AttributeError, TypeError):  # not supported: stays eager
        pass


def _horizontal_fov(post: Mapping[str, Any]) -> float | None:
    """The model's own horizontal FOV in degrees from a post-processed result, if it has one.

    Depth Pro's ``field_of_view`` is horizontal: its post-processing turns it into the focal
    length ``0.5 * width / tan(fov / 2)`` in pixels of the output width (as Apple's reference
    code does).
    """
    fov = post.get("field_of_view")
    if fov is None:
        return None
    fov = float(fov)
    if not 0.0 < fov < 180.0:  # also catches NaN
        raise BackendError(f"the model estimated an impossible field of view ({fov} degrees)")
    return fov
