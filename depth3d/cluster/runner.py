"""``depth3d convert … --ray [ADDRESS]``: the batch as a Ray Data pipeline.

    list inputs → read + decode (CPU tasks) → depth (actor pool: one model per actor, batched,
    ``num_gpus`` per actor on GPUs; CPU tasks for --depth / --backend remote)
    → geometry + export + atomic write (CPU tasks) → one result row per photo back here.

Everything the driver does before the pipeline runs is cheap and fails fast: the inputs are
listed, the outputs named (as the local batch names them), ``--skip-existing`` drops the photos
whose output exists, the output folder is probed for writing, the Ray address is probed (2 s)
before ``ray.init`` is called.  ``ray`` is imported only here, inside functions.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..backends import BackendSpec, spec_from_args
from ..errors import Depth3DError
from ..io.image import PHOTO_SUFFIXES
from .stages import Job
from .storage import Place, check_writable, existing_names, is_dir, list_files

__all__ = ["ClusterError", "ConvertPlan", "RunSummary", "plan_convert", "run_convert", "run_plan"]

CONNECT_TIMEOUT_S = 2.0


class ClusterError(Depth3DError):
    """Ray is missing or unreachable, or the run cannot start; one line for the user."""


@dataclass
class ConvertPlan:
    """The photos to convert and where each goes.  ``labels``: how each input is named in
    messages (as the user wrote it, like the local batch); ``skipped``: inputs whose output
    already exists (``--skip-existing``)."""

    inputs: list[Place]
    outputs: list[Place]
    labels: list[str]
    fmt: str
    skipped: list[str]
    out_folder: Place
    aliases: dict[str, str] = field(default_factory=dict)  # worker-side path → the user's words


@dataclass
class RunSummary:
    """What a run did: counts, wall seconds from the pipeline's start, and the error lines."""

    converted: int
    failed: int
    skipped: int
    seconds: float
    errors: list[str]

    @property
    def photos_per_s(self) -> float:
        return self.converted / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (f"summary: {self.converted} converted, {self.failed} failed, {self.skipped} "
                f"skipped in {self.seconds:.1f} s ({self.photos_per_s:.2f} photos/s)")


def _expand(inputs: list[str]) -> tuple[list[Place], list[str]]:
    """Inputs as the local batch expands them (folders → their photos, sorted), as places and
    labels; URIs are listed through ``pyarrow.fs``."""
    from ..pipeline import expand_inputs

    places: list[Place] = []
    labels: list[str] = []
    for item in inputs:
        if Place.parse(item).is_local:
            found = expand_inputs([item])
            places += [Place.parse(p) for p in found]
            labels += [str(p) for p in found]
        else:
            place = Place.parse(item)
            listed = list_files(place, PHOTO_SUFFIXES) if is_dir(place) else [place]
            places += listed
            labels += [str(p) for p in listed]
    return places, labels


def plan_convert(args: argparse.Namespace, formats) -> ConvertPlan:
    """Inputs, outputs and format, named exactly as ``depth3d convert`` names them."""
    from ..cli import UsageError, check_convert_outputs, check_output_name

    inputs, labels = _expand(args.inputs)
    if not inputs:
        raise UsageError("no input photos found")
    output = Place.parse(args.output)
    out_is_dir = is_dir(output)
    fmt = args.format or (output.suffix.lstrip(".").lower() if len(inputs) == 1 and output.suffix else None)
    if fmt and fmt not in formats:
        raise UsageError(f"unknown output format {fmt!r}; choose one of {', '.join(formats)}")
    fmt = fmt or formats[0]
    check_output_name(output, output.suffix, out_is_dir, len(inputs), fmt)
    if len(inputs) == 1 and not out_is_dir and output.suffix:
        outputs, folder = [output], output.parent
    else:
        outputs, folder = [output.child(f"{p.stem}.{fmt}") for p in inputs], output
        if len(set(outputs)) != len(outputs):
            raise UsageError("two inputs share a file name stem; their outputs would collide")
    local = {Path(i.base): Path(o.base) for i, o in zip(inputs, outputs) if i.is_local and o.is_local}
    if local:  # never onto an input (photo, depth file) or its sidecars, as the local batch
        check_convert_outputs(args, local, fmt)
    skipped: list[str] = []
    if getattr(args, "skip_existing", False):
        present = existing_names(folder)
        keep = [i for i, out in enumerate(outputs) if out.name not in present]
        skipped = [label for out, label in zip(outputs, labels) if out.name in present]
        inputs, outputs, labels = [inputs[i] for i in keep], [outputs[i] for i in keep], [labels[i] for i in keep]
    return ConvertPlan(inputs, outputs, labels, fmt, skipped, folder)


def backend_spec(args: argparse.Namespace, n_inputs: int) -> BackendSpec:
    """The backend the workers build: the local batch's (:func:`~depth3d.backends.spec_from_args`),
    with its depth files and model folder made absolute (the workers' cwd is not ours)."""
    spec = spec_from_args(args, n_inputs)
    if spec.name == "file":
        return replace(spec, depth=str(Path(spec.depth).resolve()))
    model = spec.kwargs.get("model")
    if spec.name == "transformers" and model and Path(model).expanduser().is_dir():
        options = {**spec.kwargs, "model": str(Path(model).expanduser().resolve())}
        return replace(spec, options=tuple(options.items()))
    return spec


def _probe(address: str) -> None:
    """Fail within CONNECT_TIMEOUT_S when nothing listens at a ``host:port`` Ray address."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ClusterError(f"ray address {address!r}: expected HOST:PORT (or ray://HOST:PORT, auto)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ClusterError(f"ray cluster at {address}: unreachable ({reason})") from None


def connect(address: str | None) -> bool:
    """Connect to Ray; True when this call started (and so must shut down) the connection.

    ``address`` None or "" → ``$RAY_ADDRESS`` if set, else a new local instance (no dashboard).
    A process already connected (``ray.init`` called before, e.g. in a notebook) keeps its
    connection.
    """
    try:
        import ray
    except ImportError:
        raise ClusterError("--ray needs Ray: pip install 'depth3d[cluster]'") from None
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _probe(address)
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if address and address not in ("auto", current):
            raise ClusterError(f"ray: this process is already connected to {current}, not {address}")
        return False
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING}
    if address is None:
        kwargs.update(address="local", include_dashboard=False)
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        raise ClusterError(f"ray: cannot connect to {address or 'a new local instance'}: "
                           f"{' '.join(str(exc).split())}") from None
    return True


@dataclass(frozen=True)
class ActorSizing:
    """The inference actor pool: ``actors`` actors of ``num_gpus`` GPUs (0 on CPU) each,
    ``device`` for the model, ``batch_size`` photos per call."""

    actors: int
    num_gpus: float
    device: str
    batch_size: int


def size_actors(args: argparse.Namespace) -> ActorSizing:
    """GPUs when the cluster has them (or ``--device cuda`` asks for them), else CPUs."""
    import ray

    resources = ray.cluster_resources()
    gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 1))
    per = float(args.ray_gpus) if args.ray_gpus is not None else 1.0
    use_gpu = args.device.startswith("cuda") or (args.device == "auto" and gpus > 0)
    if use_gpu:
        actors = args.ray_actors or max(1, int(gpus // per) if per > 0 else 1)
        device = "cuda"
    else:
        per = 0.0
        actors = args.ray_actors or max(1, int(cpus // 2))
        device = "cpu" if args.device == "auto" else args.device
    return ActorSizing(actors, per, device, args.ray_batch_size)


def build_dataset(plan: ConvertPlan, spec: BackendSpec, job: Job, sizing: ActorSizing | None):
    """The Ray Data pipeline (lazy) for ``plan``: one result row per photo."""
    import ray.data

    from . import stages

    items = [{"index": i, "input": p.uri(), "output": o.uri(), "error": ""}
             for i, (p, o) in enumerate(zip(plan.inputs, plan.outputs))]
    # Retries are Ray Data's defaults: a task whose worker dies is re-run, an actor that dies
    # is restarted and its batch re-sent (max_retries / max_restarts / max_task_retries -1).
    task = {"num_cpus": 1}
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    ds = ds.map(stages.read_photo_row, **task)
    if spec.name == "transformers":
        opts = dict(spec.options, device=sizing.device)
        ds = ds.map_batches(
            stages.DepthActor, fn_constructor_kwargs={"spec": BackendSpec(spec.name, tuple(opts.items()))},
            batch_size=sizing.batch_size, compute=ray.data.ActorPoolStrategy(size=sizing.actors),
            batch_format="numpy",
            num_cpus=1, num_gpus=sizing.num_gpus or None,
        )
    else:
        ds = ds.map(stages.depth_row, fn_kwargs={"spec": spec}, **task)
    return ds.map(stages.geometry_row, fn_kwargs={"job": job}, **task)


def run_plan(plan: ConvertPlan, spec: BackendSpec, job: Job, sizing: ActorSizing | None,
             write: Callable[[str], None]) -> RunSummary:
    """Run the pipeline, calling ``write`` with each error line as results arrive."""
    import ray.data

    context = ray.data.DataContext.get_current()
    saved = context.max_errored_blocks
    # A task that raises (a bug: photo errors are caught into rows) loses its photos, which
    # are reported below, instead of stopping the run.
    context.max_errored_blocks = -1
    start = time.perf_counter()
    seen: set[int] = set()
    errors: list[str] = []
    converted = 0
    try:
        for row in build_dataset(plan, spec, job, sizing).iter_rows():
            index = int(row["index"])
            seen.add(index)
            if row["error"]:
                msg = str(row["error"]).replace(str(plan.inputs[index]), plan.labels[index])
                for worker_path, user_path in plan.aliases.items():
                    msg = msg.replace(worker_path, user_path)
                errors.append(f"error: {msg}")
                write(errors[-1])
            else:
                converted += 1
    finally:
        context.max_errored_blocks = saved
    for index in sorted(set(range(len(plan.inputs))) - seen):
        errors.append(f"error: {plan.labels[index]}: its Ray task failed (see the Ray logs)")
        write(errors[-1])
    return RunSummary(converted, len(plan.inputs) - converted, len(plan.skipped),
                      time.perf_counter() - start, errors)


def run_convert(args: argparse.Namespace, formats) -> int:
    """``depth3d convert --ray``: exit status 0 (all converted or skipped), 1 (some failed)."""
    from ..batch import EXIT_FAILED, EXIT_OK
    from ..cli import UsageError, convert_settings

    if (args.ray_actors is not None and args.ray_actors < 1) or args.ray_batch_size < 1:
        raise UsageError("--ray-actors and --ray-batch-size must be at least 1")
    if args.ray_gpus is not None and not args.ray_gpus > 0:
        raise UsageError("--ray-gpus must be more than 0")
    plan = plan_convert(args, formats)
    _, options, settings = convert_settings(args, plan.fmt)
    spec = backend_spec(args, len(plan.inputs) + len(plan.skipped))
    for given in (args.depth, args.model):  # made absolute for the workers; shown as given
        if given and Path(given).expanduser().exists():
            plan.aliases[str(Path(given).expanduser().resolve())] = given
    job = Job(options, plan.fmt, unlit=args.material == "unlit", settings=settings)

    def write(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if not plan.inputs:
        summary = RunSummary(0, 0, len(plan.skipped), 0.0, [])
        write(summary.line())
        return EXIT_OK
    check_writable(plan.out_folder)
    owned = connect(args.ray)
    try:
        import ray

        sizing = size_actors(args) if spec.name == "transformers" else None
        try:
            summary = run_plan(plan, spec, job, sizing, write)
        except ray.exceptions.RayError as exc:
            raise ClusterError(f"ray: {' '.join(str(exc).split())[:500]}") from None
    finally:
        if owned:
            import ray

            ray.shutdown()
    write(summary.line())
    return EXIT_FAILED if summary.failed else EXIT_OK
