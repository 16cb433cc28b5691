"""Depth maps on disk: read any supported file into (H, W) float32; write what `depth3d depth` makes.

Readers, chosen by suffix (:func:`read_depth`); values come back as stored, no unit change:

``.npy``
    a numeric array of shape (H, W), (H, W, 1) or (1, H, W).
``.exr``
    OpenEXR; the channel is chosen by :func:`pick_depth_channel` (Blender's ``ViewLayer.Depth.Z``,
    ``Depth.V``, ``Z``, a lone ``V``/``Y``/``R`` ...).
``.pfm``
    Portable Float Map, grey ``Pf`` or colour ``PF`` (first channel); little- or big-endian by the
    sign of the scale; rows are stored bottom-up and returned top-down.
``.png``
    single-channel 16-bit (or 8-bit) PNG, the raw integers as floats.  Such depth has arbitrary
    units (phones write millimetres, other tools 0..65535 over an unknown range): the caller's
    scale makes it metric.  Exception: a PNG written by :func:`write_depth_png16` carries its
    range in text chunks and reads back in its original units.
``.tif`` / ``.tiff``
    single-channel 32-bit float or integer TIFF (8-bit unsigned, 16- or 32-bit signed or
    unsigned; 32-bit magnitudes below 2**23), values as stored: what Blender's reader gives
    alike (:func:`depth3d.io.image_header.tiff_depth_scale`); other sample types are refused.

A grey image saved as RGB (all channels equal) is accepted; anything else raises
:class:`~depth3d.errors.InputError` naming the file and the reason.  Finiteness and constancy are
checked later, for every backend alike, by :func:`depth3d.geometry.depth.check_depth`.

Writers are atomic (:mod:`depth3d.io.atomic`).  Pillow and OpenEXR are imported only when needed.
"""
from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import InputError
from .atomic import atomic_path, write_bytes_atomic
from .exr import EXR_MAGIC as EXR_MAGIC  # re-exported: depth3d.io.image reads it from here
from .exr import exr_header_size, read_exr_planes

DEPTH_SUFFIXES = (".npy", ".exr", ".pfm", ".png", ".tif", ".tiff")
PNG16_MIN_KEY, PNG16_MAX_KEY, PNG16_KIND_KEY = "depth3d.min", "depth3d.max", "depth3d.kind"

PathLike = str | os.PathLike[str]
ExrSource = PathLike | bytes


# --------------------------------------------------------------------------- reading


def read_depth(path: PathLike) -> np.ndarray:
    """Read a depth file (see the module docstring) → (H, W) float32, values as stored."""
    path = Path(path)
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise InputError(
            f"{path}: unsupported depth format {suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(DEPTH_SUFFIXES)}"
        )
    if not path.is_file():
        from .image import not_a_file

        raise InputError(f"{path}: {not_a_file(path)}")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    try:
        _check_declared_size(path, suffix)
        depth = reader(path)
    except InputError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # any decoder failure is a bad input file
        raise InputError(f"{path}: unreadable {suffix[1:]} depth map ({_reason(exc)})") from None
    return _as_depth(depth, path)


def _check_declared_size(path: Path, suffix: str) -> None:
    """Refuse a depth file whose header declares more than the pixel budget, before reading it,
    or an image file cut before the end its format promises."""
    from .image import MAX_PIXELS, check_size
    from .image_header import looks_complete, read_header

    with open(path, "rb") as f:
        if suffix == ".npy":
            version = np.lib.format.read_magic(f)  # a ValueError: "unreadable npy depth map (…)"
            shape = np.lib.format._read_array_header(f, version)[0]  # type: ignore[attr-defined]
            size = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
            if size > MAX_PIXELS:
                raise InputError(f"{path}: a depth array of shape {shape} exceeds the limit of "
                                 f"{MAX_PIXELS} pixels")
            return
        if suffix == ".pfm":
            m = _PFM_HEADER.match(f.read(64))
            if m is not None:
                check_size(int(m.group(2)), int(m.group(3)), str(path), MAX_PIXELS)
            return
        header = read_header(f)
        if header is not None:
            check_size(header.width, header.height, str(path), MAX_PIXELS)
            if not looks_complete(f, header):  # as Blender's reader judges it
                raise InputError(f"{path}: unreadable {suffix[1:]} depth map (truncated file)")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _as_depth(a: np.ndarray, path: Path) -> np.ndarray:
    """Any one-channel layout → (H, W) float32, or InputError."""
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    elif a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise InputError(f"{path}: depth must be one channel of shape (H, W), got shape {a.shape}")
    if a.size == 0:
        raise InputError(f"{path}: depth map is empty (shape {a.shape})")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise InputError(f"{path}: depth values must be numbers, got {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def _read_npy(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


_PFM_HEADER = re.compile(rb"(P[Ff])\s+(\d+)\s+(\d+)\s+([-+0-9.eE]+)\s")


def _read_pfm(path: Path) -> np.ndarray:
    """PFM → (H, W) float32, top row first; a colour ``PF`` gives its first channel."""
    data = path.read_bytes()
    m = _PFM_HEADER.match(data)
    if m is None:
        raise InputError(f"{path}: not a PFM file (bad header)")
    channels = 3 if m.group(1) == b"PF" else 1
    width, height, scale = int(m.group(2)), int(m.group(3)), float(m.group(4))
    if scale == 0 or width == 0 or height == 0:
        raise InputError(f"{path}: invalid PFM header ({width}x{height}, scale {scale:g})")
    count = width * height * channels
    if len(data) - m.end() < 4 * count:
        raise InputError(
            f"{path}: truncated PFM: {width}x{height} needs {4 * count} bytes of pixels, "
            f"found {len(data) - m.end()}"
        )
    pixels = np.frombuffer(data, "<f4" if scale < 0 else ">f4", count, m.end())
    return pixels.reshape(height, width, channels)[::-1, :, 0].astype(np.float32)


def _read_image_depth(path: Path) -> np.ndarray:
    """Single-channel PNG/TIFF via Pillow → (H, W) raw values (a depth3d PNG: its own units).

    TIFF samples are taken where Blender's reader gives the same numbers
    (:func:`depth3d.io.image_header.tiff_depth_scale`): 8-bit unsigned, 16- and 32-bit integers
    (32-bit: magnitudes below :data:`~depth3d.io.image_header.TIFF_INT32_LIMIT`), 32-bit float.
    """
    from PIL import Image

    from .image_header import TIFF_INT32_LIMIT, TIFF_INT32_TOO_LARGE, read_header, tiff_depth_scale

    with open(path, "rb") as f:
        header = read_header(f)
    int32 = False
    if header is not None and header.format == "tiff":
        try:
            int32 = tiff_depth_scale(header) > 65535
        except ValueError as exc:
            raise InputError(f"{path}: {exc}") from None
    with Image.open(path) as im:
        im.load()  # full decode: a truncated file fails here
        mode, text = im.mode, dict(getattr(im, "text", None) or {})
        if mode in ("1", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
            raise InputError(f"{path}: a {mode} image is not a depth map (need one grey channel)")
        a = np.asarray(im)
    if a.ndim == 3:
        a = _single_channel(a, mode, path)
    if int32 and a.size and int(np.abs(a.astype(np.int64)).max()) >= TIFF_INT32_LIMIT:
        raise InputError(f"{path}: {TIFF_INT32_TOO_LARGE.format(peak=np.abs(a.astype(np.int64)).max())}")
    if PNG16_MIN_KEY in text and PNG16_MAX_KEY in text and np.issubdtype(a.dtype, np.integer):
        lo, hi = float(text[PNG16_MIN_KEY]), float(text[PNG16_MAX_KEY])
        return (lo + a.astype(np.float64) * ((hi - lo) / 65535.0)).astype(np.float32)
    return a


def _single_channel(a: np.ndarray, mode: str, path: Path) -> np.ndarray:
    """(H, W, C) image → (H, W): drop alpha, accept grey stored as equal colour channels."""
    colour = a[:, :, :-1] if mode in ("LA", "RGBA") else a
    first = colour[:, :, 0]
    if all(np.array_equal(first, colour[:, :, c]) for c in range(1, colour.shape[2])):
        return first
    raise InputError(f"{path}: a {mode} image with differing colour channels is not a depth map")


def _read_exr_depth(path: Path) -> np.ndarray:
    return read_exr(path, channels="Z")


_READERS = {
    ".npy": _read_npy,
    ".exr": _read_exr_depth,
    ".pfm": _read_pfm,
    ".png": _read_image_depth,
    ".tif": _read_image_depth,
    ".tiff": _read_image_depth,
}


# --------------------------------------------------------------------------- OpenEXR


def read_exr(
    source: ExrSource, channels: Literal["RGBA", "Z"] = "RGBA", name: str | None = None
) -> np.ndarray:
    """Read an OpenEXR file (path or bytes) → float32 pixels, row 0 at the top.

    ``channels="RGBA"``: (H, W, 3) or (H, W, 4) linear colour of the layer picked by
    :func:`pick_colour_layer` (alpha, if present, as stored: premultiplied by EXR convention),
    or (H, W) for a grey-only file (``Y``/``V``).  ``channels="Z"``: (H, W), the channel picked by
    :func:`pick_depth_channel`.  Raises InputError naming ``name`` (default: the path).
    """
    label = name or (str(source) if not isinstance(source, bytes) else "EXR data")
    try:
        planes = _exr_planes(source)
        if channels == "Z":
            return planes[pick_depth_channel(planes)]
        if channels != "RGBA":
            raise ValueError(f"channels must be 'RGBA' or 'Z', not {channels!r}")
        layer = pick_colour_layer(planes)
        present = [c for c in ("R", "G", "B", "A", "Y", "V") if layer + c in planes]
        if "R" in present:
            present = [c for c in present if c in "RGBA"]
            return np.stack([planes[layer + c] for c in present], axis=-1)
        return planes[layer + present[0]]
    except (RuntimeError, ValueError, OSError, KeyError) as exc:
        raise InputError(f"{label}: truncated or corrupt EXR ({_reason(exc)})") from None


def exr_size(source: ExrSource) -> tuple[int, int]:
    """(width, height) of an EXR's data window, from its header only."""
    try:
        import OpenEXR
    except ImportError:
        return exr_header_size(source if isinstance(source, bytes) else Path(source).read_bytes())
    f = OpenEXR.File(_exr_open_arg(source), header_only=True)
    lo, hi = f.header()["dataWindow"]
    return int(hi[0] - lo[0] + 1), int(hi[1] - lo[1] + 1)


def _exr_open_arg(source: ExrSource):
    return io.BytesIO(source) if isinstance(source, bytes) else str(source)


def _exr_planes(source: ExrSource) -> dict[str, np.ndarray]:
    """Every channel of every part → {name: (H, W) float32}; the first part wins a name clash.

    Without the ``OpenEXR`` module (Blender's Python) :mod:`depth3d.io.exr` reads the common cases.
    """
    try:
        import OpenEXR
    except ImportError:
        return read_exr_planes(source)

    f = OpenEXR.File(_exr_open_arg(source), separate_channels=True)
    planes: dict[str, np.ndarray] = {}
    shape = None
    for index in range(len(f.parts)):
        for cname, channel in f.channels(index).items():
            pixels = np.asarray(channel.pixels)
            if pixels.ndim != 2:
                raise ValueError(f"channel {cname!r} has shape {pixels.shape}")
            if shape is None:
                shape = pixels.shape
            if pixels.shape != shape:
                raise ValueError(f"channel {cname!r} is {pixels.shape}, others {shape} (subsampled?)")
            planes.setdefault(cname, pixels.astype(np.float32, copy=False))
    if not planes:
        raise ValueError("no readable image data")
    return planes


def _split(name: str) -> tuple[str, str]:
    """'ViewLayer.Depth.Z' → ('ViewLayer.Depth.', 'Z'); 'Z' → ('', 'Z')."""
    layer, _, last = name.rpartition(".")
    return (layer + "." if layer else ""), last


_GREY_ORDER = ("Z", "V", "Y", "R", "X")


def pick_depth_channel(names: Iterable[str]) -> str:
    """The depth channel among EXR channel ``names``.  First rule that matches wins:

    1. ``Z`` or any ``*.Z`` (Blender's multilayer ``ViewLayer.Depth.Z``), one in a layer named
       ``Depth`` first;
    2. a channel of a layer named ``Depth`` (case-insensitive: ``Depth.V``, ``ViewLayer.Depth.R``),
       preferring the suffix V, Y, R, X in that order;
    3. the only channel of a one-channel file, whatever its name;
    4. an unlayered ``V``, ``Y`` or ``R`` (a grey or RGB image of depth, e.g. a File Output node).

    Ties go to the first name in sorted order.  Raises ValueError listing the channels otherwise.
    """
    names = sorted(names)

    def in_depth_layer(n: str) -> bool:
        return "depth" in (p.lower() for p in n.split(".")[:-1])

    z = [n for n in names if _split(n)[1] == "Z"]
    if z:
        return sorted(z, key=lambda n: not in_depth_layer(n))[0]
    layered = [n for n in names if in_depth_layer(n)]
    if layered:
        return sorted(layered, key=lambda n: _rank(_split(n)[1]))[0]
    if len(names) == 1:
        return names[0]
    for c in _GREY_ORDER[1:4]:
        if c in names:
            return c
    raise ValueError(f"no depth channel among {', '.join(names) or 'no channels'}")


def _rank(suffix: str) -> int:
    return _GREY_ORDER.index(suffix) if suffix in _GREY_ORDER else len(_GREY_ORDER)


def pick_colour_layer(names: Iterable[str]) -> str:
    """The layer prefix ('' or e.g. 'ViewLayer.Combined.') holding the photo's colour.

    A layer with R, G and B: the unlayered one first, then one whose name ends in ``Combined``
    or ``Image`` (Blender's render result), then the first in sorted order.  Without colour, a
    grey layer (``Y`` or ``V``) in the same order.  Raises ValueError otherwise.
    """
    names = set(names)
    layers = sorted({_split(n)[0] for n in names})

    def order(layer: str) -> tuple[int, str]:
        last = layer[:-1].rpartition(".")[2].lower()
        return (0 if layer == "" else 1 if last in ("combined", "image") else 2), layer

    for wanted in (("R", "G", "B"), ("Y",), ("V",)):
        found = [ly for ly in layers if all(ly + c in names for c in wanted)]
        if found:
            return min(found, key=order)
    raise ValueError(f"no colour channels among {', '.join(sorted(names))}")


# --------------------------------------------------------------------------- writing


def _depth2d(depth: np.ndarray) -> np.ndarray:
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"depth must be (H, W), got shape {d.shape}")
    return d


def write_depth_npy(path: PathLike, depth: np.ndarray) -> Path:
    """(H, W) depth → ``.npy`` float32 (atomic); exact round trip through :func:`read_depth`."""
    d = _depth2d(depth)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, d, allow_pickle=False)
    return Path(path)


def write_pfm(path: PathLike, depth: np.ndarray) -> Path:
    """(H, W) depth → grey little-endian ``.pfm`` (rows bottom-up, as the format wants; atomic)."""
    d = _depth2d(depth)
    header = f"Pf\n{d.shape[1]} {d.shape[0]}\n-1.0\n".encode("ascii")
    return write_bytes_atomic(path, header + d[::-1].astype("<f4").tobytes())


def write_depth_exr(path: PathLike, depth: np.ndarray, channel: str = "Z") -> Path:
    """(H, W) depth → 32-bit float OpenEXR with one channel (default ``Z``; atomic, ZIP)."""
    import OpenEXR

    d = np.ascontiguousarray(_depth2d(depth))
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with atomic_path(path) as tmp:
        OpenEXR.File(header, {channel: d}).write(str(tmp))
    return Path(path)


def write_depth_png16(
    path: PathLike, depth: np.ndarray, kind: str | None = None
) -> tuple[float, float]:
    """(H, W) depth → 16-bit grey PNG, linearly mapped min → 0, max → 65535 (atomic).

    Returns ``(lo, hi)``, the min and max of the finite values, also stored in the text chunks
    ``depth3d.min``/``depth3d.max`` (and ``kind`` in ``depth3d.kind``) so that
    :func:`read_depth` restores the values to within (hi − lo) / 131070.  Non-finite pixels
    become 0.
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    d = _depth2d(depth)
    finite = np.isfinite(d)
    if not finite.any():
        raise ValueError("depth has no finite values")
    lo, hi = float(d[finite].min()), float(d[finite].max())
    gain = np.float32(65535.0 / (hi - lo)) if hi > lo else np.float32(0.0)
    with np.errstate(invalid="ignore"):
        v = np.where(finite, np.clip(np.rint((d - np.float32(lo)) * gain), 0, 65535), 0)
    info = PngInfo()
    info.add_text(PNG16_MIN_KEY, repr(lo))
    info.add_text(PNG16_MAX_KEY, repr(hi))
    if kind:
        info.add_text(PNG16_KIND_KEY, kind)
    with atomic_path(path) as tmp:
        Image.fromarray(v.astype(np.uint16)).save(tmp, format="PNG", pnginfo=info)
    return lo, hi


# Matplotlib's "inferno" (CC0, van der Walt & Smith), 17 samples, 8-bit: dark → bright.
_INFERNO = np.array(
    [[0, 0, 4], [11, 7, 36], [33, 12, 74], [61, 9, 101], [87, 16, 110], [113, 25, 110],
     [138, 34, 106], [163, 44, 97], [188, 55, 84], [208, 69, 69], [227, 89, 51], [241, 113, 31],
     [249, 140, 10], [252, 170, 15], [249, 201, 50], [242, 232, 101], [252, 255, 164]],
    dtype=np.float32,
)


def colormap(t: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] (NaN allowed) → (H, W, 3) uint8 inferno; NaN → black."""
    t = np.asarray(t, dtype=np.float32)
    nodes = np.linspace(0.0, 1.0, len(_INFERNO), dtype=np.float32)
    valid = np.isfinite(t)
    tt = np.where(valid, np.clip(t, 0.0, 1.0), 0.0)
    rgb = np.stack([np.interp(tt, nodes, _INFERNO[:, c]) for c in range(3)], axis=-1)
    rgb[~valid] = 0.0
    return np.rint(rgb).astype(np.uint8)


def nearness(depth: np.ndarray, kind: str) -> np.ndarray:
    """(H, W) → (H, W) float32, larger = nearer, NaN where invalid.

    Disparity is already that; depth becomes 1/depth (non-positive depth, e.g. a phone's 0 for
    "no data", is invalid) — or −depth when no value is positive.
    """
    d = np.asarray(depth, dtype=np.float32)
    if kind == "disparity":
        return np.where(np.isfinite(d), d, np.nan).astype(np.float32)
    positive = np.isfinite(d) & (d > 0)
    if not positive.any():
        return np.where(np.isfinite(d), -d, np.nan).astype(np.float32)
    with np.errstate(divide="ignore"):
        return np.where(positive, 1.0 / np.where(positive, d, 1.0), np.nan).astype(np.float32)


def colorize_depth(depth: np.ndarray, kind: str) -> np.ndarray:
    """(H, W) depth or disparity → (H, W, 3) uint8 preview, near = bright.

    Nearness (:func:`nearness`) is stretched between its 1st and 99th percentile; invalid pixels
    are black.
    """
    near = nearness(_depth2d(depth), kind)
    valid = near[np.isfinite(near)]
    if valid.size == 0:
        return np.zeros(near.shape + (3,), np.uint8)
    lo, hi = np.percentile(valid, (1.0, 99.0))
    t = (near - lo) / (hi - lo) if hi > lo else np.where(np.isfinite(near), 0.5, np.nan)
    return colormap(t)


def write_depth_preview(path: PathLike, depth: np.ndarray, kind: str = "depth") -> Path:
    """(H, W) depth or disparity → colourised 8-bit RGB PNG, near = bright (atomic)."""
    from PIL import Image

    rgb = colorize_depth(depth, kind)
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")
    return Path(path)


def depth_output_files(out_dir: PathLike, stem: str) -> list[Path]:
    """The files :func:`write_depth_outputs` writes for ``stem``."""
    out = Path(out_dir)
    return [out / f"{stem}.npy", out / f"{stem}_depth16.png", out / f"{stem}_preview.png"]


def write_depth_outputs(
    out_dir: PathLike, stem: str, depth: np.ndarray, kind: str
) -> list[Path]:
    """Write `depth3d depth`'s three files for one photo into ``out_dir``; return their paths.

    ``<stem>.npy`` (float32, exact), ``<stem>_depth16.png`` (16-bit, range in text chunks) and
    ``<stem>_preview.png`` (colourised, near = bright).  All or nothing: if one write fails, the
    files already written by this call are removed.
    """
    npy, png16, preview = depth_output_files(out_dir, stem)
    written: list[Path] = []
    try:
        written.append(write_depth_npy(npy, depth))
        write_depth_png16(png16, depth, kind)
        written.append(png16)
        written.append(write_depth_preview(preview, depth, kind))
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return written
