"""What a moving head uncovers: a background layer behind every cut and the frame edge extended.

A mesh cut cleanly at every depth step (:mod:`depth3d.geometry.edges`) shows holes behind each
foreground object as soon as the viewer's head moves, and the photo's edge at once.  This
module adds, to a reconstructed perspective mesh, one hidden layer (the idea of layered-depth
in-painting, Shih et al., CVPR 2020, without the learned parts):

* **behind every cut**, the far surface continued under the near one, as wide as the parallax
  of a head moving :data:`HEAD_MOTION` (the disoccluded band is ``B·(q_near − q_far)`` wide in
  tan-angle units for a motion ``B`` and disparities ``q``);
* **beyond the frame**, a margin of ``B·q`` at the frame edge's disparity (capped);
* depth in-filled in disparity and colour in-painted, both by a push-pull pyramid (Gortler et
  al., "The Lumigraph", 1996) that reads only the far side: the foreground the band reaches into,
  and as far again beyond it, is masked out, so no foreground colour or depth bleeds in;
* the layer lies :data:`BEHIND` (relative) behind where it is in-filled and never in front of
  the surface the photo shows there, so from the photo's own eye nothing changes.

The layer is a grid coarser than the vertex grid (:data:`LAYER_GRID` on the long side), and its
colour an image at the vertex grid's resolution (the *canvas*, margins included) packed below
the photo in one texture (an atlas), so the mesh keeps one material: every writer works as
before.  Frames and conventions as in :mod:`depth3d.geometry.projection`; disparity ``q = 1/depth``.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .edges import EDGE_KINDS, KEEP, TEAR
from .grid import grid_positions, grid_step, resample
from .mesh import compact, grid_faces
from .projection import perspective_at
from .types import GridLayout

__all__ = [
    "BEHIND",
    "HEAD_MOTION",
    "LAYER_GRID",
    "MAX_MARGIN",
    "Atlas",
    "add_background_layer",
    "infill_geometry",
    "pack_atlas",
    "push_pull",
]

HEAD_MOTION = 0.3  # metres: the head motion the layer and the margin are made wide enough for
BEHIND = 0.005  # the layer lies this much (relative depth) behind where it is in-filled
MAX_MARGIN = 0.25  # the frame margin is at most this share of the frame's width per side
LAYER_GRID = 256  # the layer's grid is about this coarse (long side), up to 3 vertex-grid steps
MIN_VALID = 0.1  # in-fill needs depth at this share of the grid at least
MIN_BACKGROUND = 0.05  # ... and that share of it not masked as foreground,
MAX_BAND = 0.5  # ... and steps that leave at most this share of it to fill behind
GUTTER = 2  # atlas rows between the photo and the canvas


# --------------------------------------------------------------------------- push-pull


def _upsample2(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(h, w, C) → ``shape`` (H, W, C), H ≤ 2h, W ≤ 2w: linear, half-pixel centres."""
    for axis, n in enumerate(shape):
        m = a.shape[axis]
        x = np.clip((np.arange(n) + 0.5) / 2 - 0.5, 0, m - 1)
        i0 = np.floor(x).astype(np.intp)
        i1 = np.minimum(i0 + 1, m - 1)
        w = (x - i0).astype(np.float32).reshape([-1 if d == axis else 1 for d in range(a.ndim)])
        a = np.take(a, i0, axis=axis) * (1 - w) + np.take(a, i1, axis=axis) * w
    return a


def push_pull(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the unknown samples of an image from the known ones (push-pull pyramid).

    values: (H, W) or (H, W, C) float; known: (H, W) bool, or float weights in [0, 1] (a sample
    of weight w keeps w of its value).  Known samples keep their values; each unknown one takes
    a smooth blend of the known ones around it, the nearest weighing most, at whatever distance
    they are.  Returns float32 of ``values``' shape (NaN everywhere when nothing is known).
    """
    flat = values.ndim == 2
    v = np.asarray(values, np.float32)
    v = v[:, :, None] if flat else v
    w = np.asarray(known, np.float32)
    v = np.where(w[:, :, None] > 0, v, np.float32(0))
    levels = []
    while max(w.shape) > 1:
        levels.append((v, w))
        h, wd = w.shape
        ph, pw = h % 2, wd % 2
        wp = np.pad(w, ((0, ph), (0, pw)))
        vp = np.pad(v * w[:, :, None], ((0, ph), (0, pw), (0, 0)))
        h2, w2 = wp.shape[0] // 2, wp.shape[1] // 2
        ws = wp.reshape(h2, 2, w2, 2).sum(axis=(1, 3))
        vs = vp.reshape(h2, 2, w2, 2, -1).sum(axis=(1, 3))
        v = vs / np.maximum(ws, np.float32(1e-12))[:, :, None]
        w = np.minimum(ws, np.float32(1.0))
    if w.max(initial=0) <= 0:
        out = np.full(values.shape, np.nan, np.float32)
        return out
    filled = v
    for v, w in reversed(levels):
        up = _upsample2(filled, w.shape)
        filled = v * w[:, :, None] + up * (1 - w[:, :, None])
    return filled[:, :, 0] if flat else filled


# --------------------------------------------------------------------------- atlas


class Atlas(NamedTuple):
    """The photo with the canvas packed below it: ``texture`` (Ha, Wa, 3) uint8; the photo at
    rows 0…H−1, columns 0…W−1; the canvas at rows ``canvas_row``…, columns 0…."""

    texture: np.ndarray
    canvas_row: int


def pack_atlas(photo: np.ndarray, canvas: np.ndarray) -> Atlas:
    """Photo (H, W, 3) above canvas (h, w, 3), both uint8, :data:`GUTTER` rows apart (the
    gutter repeats their facing rows, so filtering at the photo's edge sees only the photo)."""
    h0, w0 = photo.shape[:2]
    h1, w1 = canvas.shape[:2]
    top = h0 + GUTTER
    tex = np.zeros((top + h1, max(w0, w1), 3), np.uint8)
    tex[:h0, :w0] = photo
    tex[h0:h0 + GUTTER // 2, :w0] = photo[-1]
    tex[h0 + GUTTER // 2:top, :w1] = canvas[0]
    tex[top:, :w1] = canvas
    return Atlas(tex, top)


def _photo_uv(uv: np.ndarray, photo_shape: tuple[int, int], atlas_shape: tuple[int, int]) -> np.ndarray:
    """Photo UVs (origin bottom-left) → the same texels in the atlas."""
    (h, w), (ha, wa) = photo_shape, atlas_shape
    out = np.empty(uv.shape, np.float32)
    out[:, 0] = uv[:, 0].astype(np.float64) * (w / wa)
    out[:, 1] = 1.0 - (1.0 - uv[:, 1].astype(np.float64)) * (h / ha)
    return out


# --------------------------------------------------------------------------- seeds and growth


class Seeds(NamedTuple):
    """Near ends of a grid's cut edges, (ny, nx) each: ``reach`` (grid steps the background
    must continue under them, 0 elsewhere), ``far`` (the far end's disparity, inf elsewhere)
    and ``torn`` (near ends of TEARs: a surface seen edge-on, not an occlusion)."""

    reach: np.ndarray
    far: np.ndarray
    torn: np.ndarray


def _cut_seeds(q: np.ndarray, cuts: dict, located: dict | None, reach: float) -> Seeds:
    """:class:`Seeds` of the (ny, nx) grid's ``cuts``; ``reach``: grid steps per unit of
    disparity difference."""
    ny, nx = q.shape
    span = np.zeros((ny, nx), np.float32)
    far = np.full((ny, nx), np.inf, np.float32)
    torn = np.zeros((ny, nx), bool)
    for kind, codes in cuts.items():  # cut edges are few: index them
        (oj, oi), (sj, si) = EDGE_KINDS[kind]
        cut = codes != KEEP
        if located:
            cut = cut | located[kind].located
        j, i = np.nonzero(cut)
        tear = codes[j, i] == TEAR
        ja, ia, jb, ib = j + oj, i + oi, j + oj + sj, i + oi + si
        qa, qb = q[ja, ia], q[jb, ib]
        with np.errstate(invalid="ignore"):
            a_near = qa > qb
            b_near = qb > qa
        for here, jn, in_, near, other in ((a_near, ja, ia, qa, qb), (b_near, jb, ib, qb, qa)):
            jn, in_, near, other = jn[here], in_[here], near[here], other[here]
            np.maximum.at(span, (jn, in_), (near - other) * np.float32(reach))
            np.fmin.at(far, (jn, in_), other)
            torn[jn[tear[here]], in_[tear[here]]] = True
    return Seeds(span, far, torn)


def _shift(a: np.ndarray, dj: int, di: int, fill) -> np.ndarray:
    """``out[j, i] = a[j − dj, i − di]`` (``fill`` where that is off the grid)."""
    out = np.full_like(a, fill)
    ny, nx = a.shape
    out[max(dj, 0):ny + min(dj, 0), max(di, 0):nx + min(di, 0)] = \
        a[max(-dj, 0):ny - max(dj, 0), max(-di, 0):nx - max(di, 0)]
    return out


NEIGHBOURS = [(dj, di) for dj in (-1, 0, 1) for di in (-1, 0, 1) if dj or di]


def _grow(reach: np.ndarray, band: np.ndarray, far: np.ndarray, nearer: np.ndarray,
          threshold: float, max_steps: int):
    """Spread seeds over the foreground in front of them, one grid step per step (8-connected).

    reach: (h, w) float32 steps left (< 0: none); band: the reach at which a vertex is still in
    the band; far: the background disparity each carries; nearer: (h, w) the largest disparity
    near each vertex.  A seed moves into a vertex that is nearer than its background by the
    threshold.  Returns the three arrays after growth (updated in place)."""
    factor = np.float32(1 + threshold)
    h, w = reach.shape
    for _ in range(max_steps):
        pr = np.pad(reach, 1, constant_values=-1.0)
        pb = np.pad(band, 1)
        pf = np.pad(far, 1, constant_values=np.inf)
        changed = False
        for dj, di in NEIGHBOURS:
            view = (slice(1 - dj, 1 - dj + h), slice(1 - di, 1 - di + w))
            r = pr[view] - np.float32(1)
            ok = (r > reach) & (r >= 0)
            ok &= nearer > pf[view] * factor
            if ok.any():
                changed = True
                np.copyto(reach, r, where=ok)
                np.copyto(band, pb[view], where=ok)
                np.copyto(far, pf[view], where=ok)
        if not changed:
            break
    return reach, band, far


# --------------------------------------------------------------------------- the layer


def _axis(n: int, span: int, margin: int, step: int):
    """Extended vertex-grid axis: ``n + 2·margin`` positions (normalised image units, the grid's
    spacing continued past both ends), and the layer's coarse indices into it (every ``step``-th,
    the last included)."""
    first, pitch = grid_positions(n, span)[0], grid_step(n, span)
    pos = first + (np.arange(n + 2 * margin) - margin) * pitch
    coarse = np.arange(0, n + 2 * margin, step)
    if coarse[-1] != n + 2 * margin - 1:
        coarse = np.append(coarse, n + 2 * margin - 1)
    return pos, coarse


def _pooled(a: np.ndarray, rows: np.ndarray, cols: np.ndarray, radius: int, op, fill) -> np.ndarray:
    """``op``-reduction of ``a`` over the (2·radius+1)² window at each (rows × cols) index of
    the coarse grid (indices into ``a``; samples off ``a`` count as ``fill``), separably."""
    def along(a, index, axis):
        n = a.shape[axis]
        out = None
        for d in range(-radius, radius + 1):
            k = index + d
            v = np.take(a, np.clip(k, 0, n - 1), axis=axis)
            off = ((k < 0) | (k >= n)).reshape([-1 if x == axis else 1 for x in range(2)])
            v = np.where(off, fill, v)
            out = v if out is None else op(out, v)
        return out

    return along(along(a, rows, 0), cols, 1).astype(a.dtype, copy=False)


def _block2(a: np.ndarray, op, fill) -> np.ndarray:
    """``op``-reduction of ``a`` over 2 × 2 blocks (a last odd row/column padded with ``fill``)."""
    h, w = a.shape
    p = np.pad(a, ((0, h % 2), (0, w % 2)), constant_values=fill)
    p = p.reshape(p.shape[0] // 2, 2, p.shape[1] // 2, 2)
    return op(op(p[:, 0, :, 0], p[:, 0, :, 1]), op(p[:, 1, :, 0], p[:, 1, :, 1])).astype(a.dtype, copy=False)


def _block2sum3(a: np.ndarray) -> np.ndarray:
    """(H, W, C) → (⌈H/2⌉, ⌈W/2⌉, C) sums over 2 × 2 blocks (zero-padded)."""
    h, w = a.shape[:2]
    p = np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)))
    return p.reshape(p.shape[0] // 2, 2, p.shape[1] // 2, 2, -1).sum(axis=(1, 3))


def _dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    for dj, di in NEIGHBOURS:
        out |= _shift(mask, dj, di, False)
    return out


def _skip(geometry, note: str):
    meta = dict(geometry.meta)
    meta["infill"] = {"layer_faces": 0, "note": note}
    return replace(geometry, meta=meta)


def add_background_layer(geometry, q: np.ndarray, cuts: dict | None, located: dict | None,
                         threshold: float, head_motion: float = HEAD_MOTION, step: int | None = None):
    """Return ``geometry`` (a perspective mesh from :func:`depth3d.geometry.reconstruct.reconstruct`)
    with the background layer and frame margin added, or unchanged but for a note in
    ``meta["infill"]`` when there is nothing to in-fill from.

    q:         (ny, nx) float32 disparity of the vertex grid (NaN: no point).
    cuts, located: the grid's cut edges (:func:`depth3d.geometry.edges.cut_edges`, and where a finer
               grid placed them), ``None`` when nothing was cut (no layer behind; margin only).
    threshold: the relative disparity step that counts as a discontinuity.
    step:      the layer grid's spacing in vertex-grid steps (default: about :data:`LAYER_GRID`
               on the long side, 1–3 steps).
    The result's faces are the mesh's own first, then the layer's; its texture is the photo
    with the in-painted canvas below it (:func:`pack_atlas`), its UVs remapped to it.
    ``meta["infill"]``: ``layer_faces``, ``layer_vertices``, ``margin`` (tan-angle units per
    side), ``behind_cuts`` (whether a layer was built behind cuts) and ``note``.
    """
    ny, nx = q.shape
    photo = geometry.texture
    camera, span = geometry.camera, geometry.span
    valid = np.isfinite(q) & (q > 0)
    if valid.mean() < MIN_VALID:
        return _skip(geometry, f"in-fill skipped: depth at only {valid.mean():.1%} of the grid")
    threshold = max(float(threshold), 1e-3)
    pitch_x = 2 * camera.tan_half_x * grid_step(nx, span[0])  # tan-angle units per grid step
    pitch_y = 2 * camera.tan_half_y * grid_step(ny, span[1])
    if step is None:
        step = int(min(3, max(1, round(max(nx, ny) / LAYER_GRID))))
    long_side = max(nx, ny)

    # frame margin: the frame edge's parallax for the head motion, capped
    edge = np.concatenate([q[0], q[-1], q[:, 0], q[:, -1]])
    edge = edge[np.isfinite(edge) & (edge > 0)]
    q_edge = float(np.percentile(edge, 95)) if edge.size else float(np.nanmedian(q[valid]))
    margin_tan = min(head_motion * q_edge, MAX_MARGIN * 2 * camera.tan_half_x)
    mx = step * math.ceil(margin_tan / (pitch_x * step))
    my = step * math.ceil(margin_tan / (pitch_y * step))
    sx, cx = _axis(nx, span[0], mx, step)
    sy, cy = _axis(ny, span[1], my, step)
    rows, cols = cy - my, cx - mx  # coarse indices into the photo's grid (off it in the margin)
    inside = ((rows >= 0) & (rows < ny))[:, None] & ((cols >= 0) & (cols < nx))[None, :]

    # seeds at the near ends of cuts, in coarse steps; grown over the foreground in front
    notes = []
    qc = _pooled(q, rows, cols, 0, np.fmin, np.float32(np.nan))
    if cuts is not None:
        reach_fine, far_fine, torn = _cut_seeds(q, cuts, located, head_motion / pitch_x)
    else:
        reach_fine, far_fine = np.zeros(q.shape, np.float32), np.full(q.shape, np.inf, np.float32)
        torn = np.zeros(q.shape, bool)
    seed = _pooled(reach_fine, rows, cols, step, np.maximum, np.float32(0)) / step
    seed = np.minimum(seed, np.float32(MAX_MARGIN * long_side / step))
    far = _pooled(far_fine, rows, cols, step, np.fmin, np.float32(np.inf))
    behind_cuts = bool((seed > 0).any())
    if not behind_cuts:
        notes.append("no depth steps: no layer behind objects" if cuts is not None else
                     "nothing cut (edge threshold 0): no layer behind objects")
    band_reach = np.where(seed > 0, np.maximum(seed, np.float32(1.5)), np.float32(-1))
    reach = np.where(seed > 0, 2 * band_reach, np.float32(-1))  # the mask reaches twice as far
    nearer = _pooled(q, rows, cols, step, np.fmax, np.float32(np.nan))
    with np.errstate(invalid="ignore"):
        # grown on a grid twice as coarse again (a quarter of the work per step, half the
        # steps); the masks are checked against the layer grid's own disparity below
        half = (_block2(reach, np.maximum, -1.0) / 2, _block2(band_reach, np.maximum, -1.0) / 2,
                _block2(far, np.fmin, np.inf), _block2(nearer, np.fmax, np.nan))
        half = _grow(*half, threshold, math.ceil(float(half[0].max(initial=0))) + 1)
        jj, ii = np.arange(len(rows)) // 2, np.arange(len(cols)) // 2
        reach, band_reach, far = half[0][jj][:, ii] * 2, half[1][jj][:, ii] * 2, half[2][jj][:, ii]
        grown = reach >= 0
        foreground = grown & ~(qc <= far * np.float32(1 + threshold))
    band = grown & (reach >= band_reach) & inside
    if band.sum() > MAX_BAND * inside.sum():
        return _skip(geometry, "in-fill skipped: depth steps everywhere "
                               f"({band.sum() / inside.sum():.0%} of the grid), no background to continue")
    margin = ~inside

    # depth: the background continued from what is not masked
    known = inside & np.isfinite(qc) & (qc > 0) & ~foreground
    if known.sum() < MIN_BACKGROUND * inside.sum():
        return _skip(geometry, "in-fill skipped: almost nothing is background "
                               f"({known.sum() / inside.sum():.1%} of the grid)")
    fill = push_pull(np.where(known, qc, 0), known)
    lowest = _pooled(q, rows, cols, step, np.fmin, np.float32(np.nan))
    # never in front of what the photo shows: each vertex is held behind the nearest surface in
    # its window (radius one layer step), margin vertices next to the frame included, since the
    # cells across the frame edge overlap the photo's last columns and rows (``lowest`` is NaN
    # only farther out, where the margin is free)
    fill = np.fmin(fill, lowest)
    # the layer: the band, the margin and the foreground within a margin's width of the frame
    # edge (a step back shows what is behind it there, though no cut runs along the frame),
    # overlapping what the mesh shows by two cells, so no crack opens between them
    edge_rows = (rows < (my // step) * step) | (rows >= ny - my)
    edge_cols = (cols < (mx // step) * step) | (cols >= nx - mx)
    near_edge = inside & (edge_rows[:, None] | edge_cols[None, :])
    layer = _dilate(_dilate(band | margin | (foreground & near_edge)))
    layer &= np.isfinite(fill) & (fill > 0)
    first = layer[:-1, :-1] & layer[1:, :-1] & layer[:-1, 1:]
    second = layer[:-1, 1:] & layer[1:, :-1] & layer[1:, 1:]
    faces = grid_faces(first, second)
    if len(faces) == 0:
        return _skip(geometry, "in-fill skipped: nothing to fill")
    depth = np.where(layer, np.float32(1 + BEHIND) / np.where(layer, fill, 1), np.nan).astype(np.float32)
    points = perspective_at(sx[cx][None, :], sy[cy][:, None], depth, camera).reshape(-1, 3)

    # colour: the photo at the vertex grid, masked where foreground, in-painted, margins included
    colors = np.asarray(resample(photo, nx, ny, span), np.float32)
    canvas = np.zeros((ny + 2 * my, nx + 2 * mx, 3), np.float32)
    canvas[my:my + ny, mx:mx + nx] = colors
    near_row = np.clip(np.round(np.arange(ny + 2 * my) / step).astype(np.intp), 0, len(cy) - 1)
    near_col = np.clip(np.round(np.arange(nx + 2 * mx) / step).astype(np.intp), 0, len(cx) - 1)
    grown_fine = grown[near_row][:, near_col][my:my + ny, mx:mx + nx]
    far_fine_c = far[near_row][:, near_col][my:my + ny, mx:mx + nx]
    with np.errstate(invalid="ignore"):
        masked = grown_fine & ~(q <= far_fine_c * np.float32(1 + threshold))
    # a surface seen edge-on (a TEAR, e.g. a box's top from just above it) widens as the head
    # moves: behind it the layer takes that surface's colour rather than the background's
    for _ in range(2 * step):
        torn = _dilate(torn)
    known_c = np.zeros(canvas.shape[:2], np.float32)
    known_c[my:my + ny, mx:mx + nx] = ~masked | torn
    # the photo's mesh ends at the outermost pixel centres, so from the photo's own eye the layer
    # shows in the half pixel beyond them and must look like the photo there: the frame's two
    # outermost vertex rows and columns keep the photo's colour (masked or not), and the margin's
    # first two repeat them (texture filtering there reads the canvas on both sides of the edge)
    g = min(2, mx, my)
    canvas[my - g:my + ny + g, mx - g:mx + nx + g] = np.pad(colors, ((g, g), (g, g), (0, 0)), mode="edge")
    ring = np.ones((ny + 2 * g, nx + 2 * g), bool)
    ring[g + 2:g + ny - 2, g + 2:g + nx - 2] = False
    known_c[my - g:my + ny + g, mx - g:mx + nx + g][ring] = 1
    # the canvas is half the vertex grid's resolution (the layer's grid is coarser still):
    # 2 × 2 blocks, averaged over their known samples, then in-painted
    weight = _block2(known_c, np.add, 0.0)
    total = _block2sum3(canvas * known_c[:, :, None])
    half = total / np.maximum(weight, np.float32(1e-6))[:, :, None]
    canvas = np.clip(np.round(push_pull(half, np.minimum(weight, 1))), 0, 255).astype(np.uint8)
    atlas = pack_atlas(photo, canvas)
    ha, wa = atlas.texture.shape[:2]
    # extended-grid index e lies at canvas pixel (e − 0.5)/2, i.e. texel coordinate e/2 + 0.25
    u = ((cx / 2 + 0.25) / wa).astype(np.float32)
    v = (1.0 - (atlas.canvas_row + cy / 2 + 0.25) / ha).astype(np.float32)
    layer_uv = np.stack(np.broadcast_arrays(u[None, :], v[:, None]), axis=-1).reshape(-1, 2)

    used, faces = compact(faces, len(points))
    n = len(geometry.vertices)
    meta = dict(geometry.meta)
    meta["infill"] = {
        "layer_faces": len(faces), "layer_vertices": int(used.sum()),
        "margin": float(mx * pitch_x), "behind_cuts": behind_cuts,
        "note": "; ".join(notes) or "background layer behind cuts and frame margin",
    }
    return replace(
        geometry,
        vertices=np.concatenate([geometry.vertices, points[used]]),
        faces=np.concatenate([geometry.faces, faces + np.int32(n)]).astype(np.int32),
        uv=np.concatenate([_photo_uv(geometry.uv, photo.shape[:2], (ha, wa)), layer_uv[used]]),
        texture=atlas.texture, meta=meta, layout=_with_layer(geometry.layout, int(used.sum())),
    )


def _with_layer(layout: GridLayout | None, n_layer: int) -> GridLayout | None:
    """``layout`` with ``n_layer`` layer vertices (at no grid position) appended; the layer's
    faces come after the mesh's, among its other triangles."""
    if layout is None:
        return None
    return layout._replace(grid_index=np.concatenate([layout.grid_index, np.full(n_layer, -1, np.int32)]))


def infill_geometry(geometry, q: np.ndarray, cuts: dict | None, located: dict | None, options,
                    max_faces: int | None = None):
    """:func:`add_background_layer` for :func:`depth3d.geometry.reconstruct.reconstruct` (``options``:
    its :class:`~depth3d.geometry.reconstruct.Options`); relief meshes get a note and stay as they are.

    max_faces: a triangle budget for the layer alone (e.g. a share of a VR/AR target's): its
    grid is made coarser, step by step, until it fits; skipped with a note when it never does.
    """
    if options.projection != "perspective":
        return _skip(geometry, "in-fill skipped: perspective projection only")
    result = add_background_layer(geometry, q, cuts, located, options.edge_threshold)
    if max_faces is None:
        return result
    step = int(min(3, max(1, round(max(q.shape) / LAYER_GRID))))
    while result.meta["infill"]["layer_faces"] > max_faces:
        step += 1
        if step > max(q.shape) // 4:
            return _skip(geometry, f"in-fill skipped: no layer fits {max_faces} triangles")
        result = add_background_layer(geometry, q, cuts, located, options.edge_threshold, step=step)
    return result
