"""Where photos are read and outputs written: local paths or any filesystem ``pyarrow.fs`` opens.

A :class:`Place` is a local path or a URI (``s3://bucket/key``, ``gs://bucket/key``,
``hdfs://…``, ``file:///…``) with an optional ``?query`` of ``pyarrow.fs`` options, e.g.
``s3://photos/out?endpoint_override=minio:9000&scheme=http``.  Only strings travel between
machines: each worker opens the filesystem itself, with its own credentials (the usual AWS/GCP
environment), so no secret is pickled into a task.

Atomic writes (:func:`write_bytes`): on a local (or shared, NFS) path, :mod:`depth3d.io.atomic`
(temporary file in the same folder, then ``os.replace``).  Elsewhere the bytes go to a hidden
temporary object ``.<name>.<hex>.tmp<suffix>`` beside the target, which is then moved over it:
on S3 and GCS a move is a server-side copy (an object appears whole or not at all; object
stores never show a half-uploaded object) followed by a delete of the temporary object.  A
worker killed between upload and move leaves only that hidden temporary object, never a partial
output (the same guarantee as the local temporary file).
"""
from __future__ import annotations

import functools
import os
import posixpath
import uuid
from dataclasses import dataclass

from ..errors import Depth3DError
from ..io.atomic import write_bytes_atomic

__all__ = ["Place", "StorageError", "check_writable", "existing_names", "list_files", "read_bytes",
           "write_bytes"]


class StorageError(Depth3DError):
    """A file or folder on a filesystem could not be listed, read or written."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@dataclass(frozen=True)
class Place:
    """A file or folder.  ``base``: absolute local path, or a URI without its query;
    ``query``: the URI's ``pyarrow.fs`` options (never shown in messages)."""

    base: str
    query: str = ""

    @classmethod
    def parse(cls, location: str | os.PathLike[str]) -> Place:
        """A local path (made absolute) or a URI (kept as given)."""
        text = os.fspath(location)
        if is_uri(text):
            base, _, query = text.partition("?")
            stripped = base.rstrip("/")
            return cls(stripped if "://" in stripped and not stripped.endswith(":/") else base, query)
        return cls(os.path.abspath(text))

    @property
    def is_local(self) -> bool:
        return not is_uri(self.base)

    @property
    def name(self) -> str:
        return (os.path.basename if self.is_local else posixpath.basename)(self.base)

    @property
    def stem(self) -> str:
        return posixpath.splitext(self.name)[0]

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1]

    @property
    def parent(self) -> Place:
        if self.is_local:
            return Place(os.path.dirname(self.base))
        return Place(self.base.rsplit("/", 1)[0], self.query)

    def child(self, name: str) -> Place:
        if self.is_local:
            return Place(os.path.join(self.base, name))
        return Place(f"{self.base.rstrip('/')}/{name}", self.query)

    def uri(self) -> str:
        """The full string (with the query), for a worker to :meth:`parse` again."""
        return f"{self.base}?{self.query}" if self.query else self.base

    def __str__(self) -> str:  # what messages show: no query (it may hold credentials)
        return self.base

    def open(self):
        """``(pyarrow filesystem, path on it)``."""
        if self.is_local:
            return _local_fs(), self.base
        parent, _, name = self.base.rpartition("/")
        if parent.endswith("/") or not name:  # the root of a bucket: s3://bucket
            return _uri_fs(self.uri())
        fs, path = _uri_fs(f"{parent}?{self.query}" if self.query else parent)
        return fs, f"{path.rstrip('/')}/{name}"


def is_uri(text: str) -> bool:
    """``scheme://…`` with a scheme of two or more letters (``C:\\`` is a Windows path)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").isalnum()


@functools.cache
def _local_fs():
    from pyarrow import fs

    return fs.LocalFileSystem()


@functools.lru_cache(maxsize=64)
def _uri_fs(uri: str):
    """``FileSystem.from_uri`` once per folder URI (S3 may look the bucket's region up)."""
    from pyarrow import fs

    try:
        return fs.FileSystem.from_uri(uri)
    except (ValueError, OSError) as exc:
        raise StorageError(f"{uri.partition('?')[0]}: {_one_line(exc)}") from None


def _file_type(place: Place):
    from pyarrow import fs as pafs

    fs, path = place.open()
    try:
        return fs.get_file_info(path).type, pafs.FileType
    except OSError as exc:
        raise StorageError(f"{place}: {_one_line(exc)}") from None


def is_dir(place: Place) -> bool:
    kind, types = _file_type(place)
    return kind == types.Directory


def list_files(folder: Place, suffixes) -> list[Place]:
    """Files directly in ``folder`` whose suffix (lower-cased) is in ``suffixes``, sorted by name."""
    from pyarrow import fs as pafs

    fs, path = folder.open()
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=False))
    except OSError as exc:
        raise StorageError(f"{folder}: cannot list ({_one_line(exc)})") from None
    names = sorted(
        posixpath.basename(i.path) for i in infos
        if i.type == pafs.FileType.File and posixpath.splitext(i.path)[1].lower() in suffixes
    )
    return [folder.child(n) for n in names]


def existing_names(folder: Place) -> set[str]:
    """Names of the files already in ``folder`` (empty when it does not exist)."""
    from pyarrow import fs as pafs

    fs, path = folder.open()
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=False, allow_not_found=True))
    except OSError as exc:
        raise StorageError(f"{folder}: cannot list ({_one_line(exc)})") from None
    return {posixpath.basename(i.path) for i in infos if i.type == pafs.FileType.File}


def exists(place: Place) -> bool:
    kind, types = _file_type(place)
    return kind == types.File


def read_bytes(place: Place) -> bytes:
    """The whole file."""
    if place.is_local:
        try:
            with open(place.base, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise StorageError(f"{place}: no such file") from None
        except OSError as exc:
            raise StorageError(f"{place}: cannot read ({exc.strerror or exc})") from None
    fs, path = place.open()
    try:
        with fs.open_input_stream(path) as f:
            return f.read()
    except FileNotFoundError:
        raise StorageError(f"{place}: no such file") from None
    except OSError as exc:
        raise StorageError(f"{place}: cannot read ({_one_line(exc)})") from None


def _temporary(place: Place) -> Place:
    return place.parent.child(f".{place.name}.{uuid.uuid4().hex[:12]}.tmp{place.suffix}")


def write_bytes(place: Place, data: bytes) -> Place:
    """Write ``data`` to ``place`` atomically (see the module docstring); return ``place``."""
    if place.is_local:
        write_bytes_atomic(place.base, data)
        return place
    fs, path = place.open()
    tmp_fs, tmp = _temporary(place).open()
    try:
        fs.create_dir(posixpath.dirname(path), recursive=True)
        with tmp_fs.open_output_stream(tmp) as f:
            f.write(data)
        fs.move(tmp, path)
    except OSError as exc:
        try:
            fs.delete_file(tmp)
        except OSError:
            pass
        raise StorageError(f"{place}: cannot write ({_one_line(exc)})") from None
    return place


def check_writable(folder: Place) -> None:
    """Create ``folder`` and write then delete a hidden probe file in it, or raise StorageError.

    Run before any work so that a read-only disk, a missing bucket or missing credentials fail
    the run at once instead of after every photo's inference.
    """
    probe = folder.child(f".depth3d-probe.{uuid.uuid4().hex[:12]}.tmp")
    if folder.is_local:
        try:
            os.makedirs(folder.base, exist_ok=True)
            with open(probe.base, "xb"):
                pass
            os.unlink(probe.base)
        except OSError as exc:
            raise StorageError(f"{folder}: cannot write there ({exc.strerror or exc})") from None
        return
    fs, path = folder.open()
    _, probe_path = probe.open()
    try:
        fs.create_dir(path, recursive=True)
        with fs.open_output_stream(probe_path) as f:
            f.write(b"")
        fs.delete_file(probe_path)
    except OSError as exc:
        raise StorageError(f"{folder}: cannot write there ({_one_line(exc)})") from None
