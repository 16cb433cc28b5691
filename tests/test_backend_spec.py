"""One backend choice for every frontend: :func:`depth3d.backends.resolve_backend`, its rules and
their messages, and the CLI and the cluster runner building from the same spec."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depth3d.backends import BackendSpec, resolve_backend
from depth3d.cli import backend_factory, build_parser
from depth3d.cluster.runner import backend_spec
from depth3d.errors import UsageError


def _args(*flags: str):
    return build_parser().parse_args(["convert", "x.png", "-o", "o.glb", *flags])


@pytest.mark.parametrize("choices, message", [
    (dict(backend="file"), "--backend file needs --depth"),
    (dict(depth="one.npy", n_inputs=2), "with several inputs, --depth must be a folder of <stem>.<ext> files"),
    (dict(depth="one.npy", model="m"), "--model and --device run a model; --depth files need none"),
    (dict(depth="one.npy", device="cpu"), "--model and --device run a model; --depth files need none"),
    (dict(depth="one.npy", depth_kind="disparity", depth_unit="mm"),
     "--depth-unit is for depth maps (--depth-kind depth); disparity has no unit"),
    (dict(backend="remote", depth="one.npy"), "--depth is for the file backend, not remote"),
    (dict(depth_kind="disparity"), "--depth-kind and --depth-unit describe --depth files"),
    (dict(backend="remote", server="http://h", device="cpu"),
     "--device is for --backend transformers; the server chooses its own (depth3d serve --device …)"),
    (dict(backend="remote"), "--backend remote needs --server URL"),
    (dict(depth="one.npy", dtype="bfloat16"), "--dtype is for a model; --depth files need none"),
    (dict(backend="remote", server="http://h", dtype="float16"),
     "--dtype is for --backend transformers; the server chooses its own (depth3d serve --dtype …)"),
    (dict(dtype="int8"), "--dtype must be one of auto, float32, bfloat16, float16, got 'int8'"),
])
def test_each_bad_combination_is_a_usage_error_with_its_message(choices, message):
    with pytest.raises(UsageError) as exc:
        resolve_backend(**choices)
    assert str(exc.value) == message


def test_the_choices_name_one_backend_with_its_options():
    assert resolve_backend() == BackendSpec("transformers", (("model", None), ("device", "auto")))
    assert resolve_backend(depth="d.npy", depth_unit="mm") == BackendSpec(
        "file", (("kind", "depth"), ("unit", "mm")), "d.npy")
    assert resolve_backend(backend="remote", server="http://h:1", token="t", model="m").kwargs == {
        "server": "http://h:1", "token": "t", "model": "m"}


def test_cli_and_cluster_build_the_same_backend(tmp_path, monkeypatch):
    """The cluster's spec is the CLI's, with paths made absolute for the workers: a depth file in
    millimetres read through either gives the same metres."""
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", np.full((3, 4), 2500.0, np.float32))
    args = _args("--depth", "x.npy", "--depth-unit", "mm")
    local = backend_factory(args, 1)(Path("x.png"))
    spec = backend_spec(args, 1)
    assert spec == BackendSpec("file", (("kind", "depth"), ("unit", "mm")), str((tmp_path / "x.npy").resolve()))
    from depth3d.backends import get_backend
    from depth3d.io.image import Photo

    photo = Photo(rgb=np.zeros((3, 4, 3), np.uint8), path=tmp_path / "x.png")
    worker = get_backend(spec.name, path=spec.depth, **spec.kwargs)
    np.testing.assert_array_equal(local.estimate(photo).depth, worker.estimate(photo).depth)
    assert float(worker.estimate(photo).depth[0, 0]) == pytest.approx(2.5)

    (tmp_path / "model").mkdir()
    spec = backend_spec(_args("--model", "model", "--device", "cpu"), 1)
    assert spec.kwargs == {"model": str((tmp_path / "model").resolve()), "device": "cpu"}
    with pytest.raises(UsageError, match="--depth files need none"):
        backend_spec(_args("--depth", "x.npy", "--model", "model"), 1)


def test_a_backend_is_one_entry_of_the_registry(monkeypatch, tmp_path):
    """A new backend is one entry of ``BACKENDS``: get_backend builds it, the CLI offers it and
    resolves it (model/device like the transformers one), and an unknown name names the choices."""
    from depth3d import backends
    from depth3d.cli import build_parser

    monkeypatch.setitem(backends.BACKENDS, "npy", "file:FileBackend")
    np.save(tmp_path / "d.npy", np.full((2, 3), 4.0, np.float32))
    built = backends.get_backend("npy", path=tmp_path / "d.npy", kind="depth")
    assert type(built).__name__ == "FileBackend"
    args = build_parser().parse_args(["convert", "x.jpg", "-o", "x.glb", "--backend", "npy", "--device", "cpu"])
    assert backend_spec(args, 1) == BackendSpec("npy", (("model", None), ("device", "cpu")))
    with pytest.raises(backends.BackendError, match="choose one of transformers, file, remote, npy"):
        backends.get_backend("onnx")


def test_dtype_is_one_declared_option_for_every_frontend(capsys):
    """``--dtype`` of convert, depth and serve is ModelOptions' declaration; a choice other than
    auto reaches the model backend's options (the CLI's and the cluster's alike), auto leaves the
    backend its default; a bad one is a one-line usage error."""
    from depth3d.backends.spec import ModelOptions
    from depth3d.schema import field_of

    declared = [c.value for c in field_of(ModelOptions, "dtype").spec.choices]
    assert declared == ["auto", "float32", "bfloat16", "float16"]
    for command in (["convert", "x.png", "-o", "o.glb"], ["depth", "x.png", "-o", "maps"], ["serve"]):
        parser = build_parser()
        assert parser.parse_args(command).dtype == "auto"
        assert parser.parse_args([*command, "--dtype", "bfloat16"]).dtype == "bfloat16"
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([*command, "--dtype", "int8"])
        assert exc.value.code == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]  # after the usage: one line
        assert error.startswith(f"depth3d {command[0]}: error: argument --dtype: invalid choice: 'int8'")
        assert all(c in error for c in declared)
    assert resolve_backend(dtype="bfloat16") == BackendSpec(
        "transformers", (("model", None), ("device", "auto"), ("dtype", "bfloat16")))
    assert backend_spec(_args("--dtype", "float16", "--device", "cpu"), 1).kwargs == {
        "model": None, "device": "cpu", "dtype": "float16"}
    assert "dtype" not in backend_spec(_args("--dtype", "auto"), 1).kwargs
