"""What a conversion will write, checked before anything is written.

No input is ever modified: an output file (or a sidecar named after it, :func:`written_files`)
that is one of the inputs — the same name, or the same file through a link — is refused with
a :class:`~depth3d.errors.UsageError` before any photo is read.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import UsageError, quote_path

__all__ = ["check_outputs", "check_written", "written_files"]


def written_files(output: Path, fmt: str, mesh: bool = True) -> list[Path]:
    """Every file writing ``output`` in ``fmt`` makes: the output, then its sidecars."""
    if fmt == "obj":
        from ..exchange.obj import obj_files

        return obj_files(output, mesh)
    return [Path(output)]


def _identity(path: Path) -> tuple[str, tuple[int, int] | None]:
    """(real path, (device, inode) or None when the file does not exist)."""
    try:
        st = os.stat(path)
        inode = (st.st_dev, st.st_ino)
    except (OSError, ValueError):
        inode = None
    return os.path.realpath(path), inode


def check_outputs(outputs: Mapping[Path, Path], fmt: str, inputs: Iterable[Path], mesh: bool = True) -> None:
    """Raise UsageError if writing ``outputs`` (input → output) would replace one of ``inputs``
    (photos, depth files) or if two outputs are the same file."""
    check_written({output: written_files(output, fmt, mesh) for output in outputs.values()}, inputs)


def check_written(written_by: Mapping[Path, Iterable[Path]], inputs: Iterable[Path]) -> None:
    """Raise UsageError if a file of ``written_by`` (output → every file writing it makes) is one
    of ``inputs`` or is written twice."""
    names: dict[str, Path] = {}
    inodes: dict[tuple[int, int], Path] = {}
    for path in inputs:
        real, inode = _identity(Path(path))
        names[real] = Path(path)
        if inode is not None:
            inodes[inode] = Path(path)
    seen: dict[str, Path] = {}
    for output, files in written_by.items():
        for written in files:
            real, inode = _identity(written)
            hit = names.get(real) or (inodes.get(inode) if inode is not None else None)
            if hit is not None:
                if written == output:
                    raise UsageError(f"{quote_path(output)}: is the input {quote_path(hit)}; "
                                     "choose another output name")
                raise UsageError(f"{quote_path(output)}: its {written.suffix[1:]} file {quote_path(written)} "
                                 f"would replace the input {quote_path(hit)}; choose another output name")
            if real in seen:
                raise UsageError(f"{quote_path(written)}: written twice (for {quote_path(seen[real])} "
                                 f"and {quote_path(output)})")
            seen[real] = output
