"""Atomic writes: a user-visible file is either complete or absent, never half written.

Write to a hidden temporary file in the same folder (so the final rename stays on one file
system), then :func:`os.replace` it over the target.  On any exception the temporary file is
removed and the target is left as it was.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

WRITE_CHUNK = 1 << 25  # bytes per write in write_through: 32 MiB


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # once, at import: os.umask is process-wide and not thread-safe


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    The temporary name is ``.<name>.XXXX.tmp<suffix>`` (same suffix, so writers that look at
    the extension, e.g. Pillow or trimesh, pick the right format; ``suffix`` overrides it for
    a writer that insists on its own, as Blender's glTF exporter appends ``.glb``).  The parent
    folder is created.  If the body raises, the temporary file is deleted and the exception
    propagates.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = target.suffix if suffix is None else suffix
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}",
                                        dir=target.parent)
    except OSError as exc:  # said of the file the user named, not of our temporary one
        raise type(exc)(exc.errno, exc.strerror, str(target)) from None
    os.close(fd)
    os.chmod(tmp_name, 0o666 & ~_UMASK)  # mkstemp makes 0600; users expect their umask
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename in (None, str(tmp), tmp_name):
            raise type(exc)(exc.errno, exc.strerror, str(target)) from None
        raise


class WriteThrough:
    """Writes bytes-like data (e.g. a C-contiguous array's ``memoryview``, not copied) to the
    open binary file ``f`` and starts the disk write of every :data:`WRITE_CHUNK` bytes as
    the next ones are copied (``posix_fadvise``, where the system has it), so that the
    ``fsync`` an atomic write ends with finds little left to wait for."""

    def __init__(self, f: BinaryIO):
        self.f = f
        self.pending = 0  # bytes written since the last write-back started
        self.advise = hasattr(os, "posix_fadvise")

    def write(self, data) -> int:
        """Write all of ``data``; its byte count."""
        view = memoryview(data).cast("B")
        for at in range(0, view.nbytes, WRITE_CHUNK):
            chunk = view[at:at + WRITE_CHUNK]
            self.f.write(chunk)
            self.pending += chunk.nbytes
            if self.advise and self.pending >= WRITE_CHUNK:
                self.f.flush()
                # DONTNEED on dirty pages starts their write-back (they stay cached until written)
                os.posix_fadvise(self.f.fileno(), self.f.tell() - self.pending, self.pending,
                                 os.POSIX_FADV_DONTNEED)
                self.pending = 0
        return view.nbytes


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    target = Path(path)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            WriteThrough(f).write(data)
            f.flush()
            os.fsync(f.fileno())
    return target
