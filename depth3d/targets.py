"""Output targets: what a file must carry to be shown where it goes.  The one table that defines them.

========  =============  ====================  ===========  =======================  =======
target    triangles      texture (long side)   positions    geometry compression     in-fill
========  =============  ====================  ===========  =======================  =======
full      as built       the photo's, ≤ 8192   float32      none (today's output)    off
vr        ≤ 300 000      ≤ 4096                int16        EXT_meshopt_compression  on
ar        ≤ 100 000      ≤ 2048, power of two  int16        EXT_meshopt_compression  off
========  =============  ====================  ===========  =======================  =======

In-fill (:mod:`depth3d.geometry.infill`, ``--infill``/``--no-infill`` override it): a VR viewer's head
moves, so ``vr`` carries the background layer (within its triangle budget); AR viewers orbit
far past the 30 cm the layer is made for, and its atlas would take a third of ``ar``'s texture.

``vr``: Quest / WebXR scenes (≈ 300–500k triangles a scene, a few MB); ``ar``: Apple AR Quick
Look's guidance (≈ 100k polygons, one 2048² texture), and web/AR pages.  Both keep the unlit
photo material and store only the attributes it uses; int16 positions are
KHR_mesh_quantization.  Draco (``compression="draco"``) instead of meshopt serves viewers that
read only Draco (Android Scene Viewer).  Textures: JPEG quality 85; ``ar``'s sides are powers
of two (mipmaps on WebGL 1 and older mobile GPUs, :mod:`depth3d.exchange.gltf.material`),
``vr``'s keep the photo's aspect (WebGL 2 and headsets mipmap any size, and a 4:3 photo's
power-of-two texture would hold a third more pixels than the photo).  The explicit knobs (``max_triangles``,
``texture_size``, ``compression``) override one entry of the chosen target.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .exchange.gltf import COMPRESSIONS, GltfSettings
from .exchange.gltf.material import JPEG_QUALITY, MAX_TEXTURE_SIZE
from .ranges import Range
from .schema import Choice, check, flag, option

__all__ = [
    "GLTF_FORMATS", "SETTINGS_FORMATS", "TARGETS", "Knobs", "Target", "check_format", "default_target",
    "resolve_target",
]

GLTF_FORMATS = ("glb", "gltf")
SETTINGS_FORMATS = (*GLTF_FORMATS, "usdz")  # the formats whose writers take a target's GltfSettings


@dataclass(frozen=True)
class Target:
    """A target's budget and encoding.

    max_triangles: 0 = no limit (the geometry as built).
    texture_size:  long side of the texture in pixels.
    power_of_two:  texture sides to powers of two (mipmaps on every GPU).
    quantize:      KHR_mesh_quantization.
    compression:   "none", "meshopt" or "draco".
    jpeg_quality:  of the texture.
    infill:        the background layer a moving head sees (:mod:`depth3d.geometry.infill`) by default.
    photo_jpeg:    a texture at the photo's size is the photo's own JPEG (``full``), not re-encoded
                   at ``jpeg_quality`` (the budgeted targets: a phone's JPEG may be larger).
    """

    name: str
    max_triangles: int
    texture_size: int
    power_of_two: bool
    quantize: bool
    compression: str
    jpeg_quality: int
    infill: bool = False
    photo_jpeg: bool = False

    def __post_init__(self) -> None:
        if self.max_triangles < 0:
            raise ValueError("the triangle budget must be positive")
        if self.texture_size < 1:
            raise ValueError("the texture size must be positive")
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}")

    @property
    def is_default(self) -> bool:
        """Whether this is today's plain output (``full`` with no knob changed)."""
        return self == TARGETS["full"]

    def gltf_settings(self, unlit: bool = True) -> GltfSettings:
        """How the glTF writer encodes this target."""
        return GltfSettings(
            unlit=unlit, quantize=self.quantize and self.compression != "draco",
            compression=self.compression, texture_size=self.texture_size,
            power_of_two=self.power_of_two, jpeg_quality=self.jpeg_quality, photo_jpeg=self.photo_jpeg,
        )


TARGETS: dict[str, Target] = {
    "full": Target("full", 0, MAX_TEXTURE_SIZE, False, False, "none", JPEG_QUALITY, photo_jpeg=True),
    "vr": Target("vr", 300_000, 4096, False, True, "meshopt", 85, infill=True),
    "ar": Target("ar", 100_000, 2048, True, True, "meshopt", 85),
}


_COMPRESSION_HELP = {
    "none": "No geometry compression",
    "meshopt": "EXT_meshopt_compression: small, decodes fast (three.js, Babylon, model-viewer)",
    "draco": "KHR_draco_mesh_compression, for viewers that read only Draco (Android Scene Viewer)",
}


@dataclass(frozen=True)
class Knobs:
    """The knobs that override one entry of a target (``None``: the target's), declared as
    options (:mod:`depth3d.schema`): the command line's ``--max-triangles``, ``--texture-size``
    and ``--compression``."""

    max_triangles: int | None = option(None, "Max Triangles", "at most N triangles (overrides the target's)",
                                       range=Range(min=1, unit="triangles"), metavar="N")
    texture_size: int | None = option(None, "Texture Size", "texture long side at most PX (overrides the target's)",
                                      range=Range(min=1, unit="pixels"), metavar="PX")
    compression: str | None = option(
        None, "Compression", "geometry compression (overrides the target's; draco for viewers without meshopt)",
        choices=(Choice(c, c.title(), _COMPRESSION_HELP[c]) for c in COMPRESSIONS))


def resolve_target(
    name: str = "full", max_triangles: int | None = None, texture_size: int | None = None,
    compression: str | None = None,
) -> Target:
    """``TARGETS[name]`` with the knobs given (not ``None``) overriding its entries.

    Raises ``ValueError`` (one line, in the user's words) for an unknown target, a
    non-positive triangle budget or texture size, or an unknown compression.
    """
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")
    knobs: dict[str, Any] = {"max_triangles": max_triangles, "texture_size": texture_size, "compression": compression}
    check(Knobs, knobs, label=flag)
    return replace(TARGETS[name], **{k: v for k, v in knobs.items() if v is not None})


def check_format(target: Target, fmt: str, geometry: str = "mesh") -> None:
    """``ValueError`` when ``fmt``/``geometry`` cannot honour ``target``: glTF alone carries the
    texture size, quantization and compression; Draco compresses meshes, not points."""
    full = TARGETS["full"]
    if fmt == "usdz":  # honours the triangle budget and texture size; no geometry compression
        if target.compression != TARGETS[target.name].compression:
            raise ValueError("--compression needs a glTF output (.glb or .gltf), not .usdz")
        if geometry != "mesh":
            raise ValueError("USDZ holds meshes only (AR Quick Look shows no point clouds)")
        return
    if fmt not in GLTF_FORMATS:
        knobs = [k for k, differs in (
            ("--target", target.name != "full"),
            ("--texture-size", target.texture_size != full.texture_size),
            ("--compression", target.compression != "none"),
        ) if differs]
        if knobs:
            raise ValueError(f"{knobs[0]} needs a glTF output (.glb or .gltf), not .{fmt}")
    if target.compression == "draco" and geometry != "mesh":
        raise ValueError("--compression draco compresses meshes; use meshopt for points")


def default_target(fmt: str | None) -> str:
    """The target a format gets when none is asked for: USDZ goes to AR Quick Look, so it is
    made within ``ar``'s budget; everything else is ``full`` (today's output)."""
    return "ar" if fmt == "usdz" else "full"
