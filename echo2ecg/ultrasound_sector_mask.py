"""The ultrasound sector of an echo cine (RECIPE.md section 4: mask everything outside it).

An echo view shows the ultrasound fan (a convex wedge: apex, two straight edges, an arc about
the apex) among burned-in text, icons, a depth scale and the ECG trace the machine draws beside
the fan. :func:`ultrasound_sector_mask` finds the fan from the frames themselves and from its
shape: content is what is bright in some frame and not static (speckle decorrelates; text and
icons never change), cut into candidate sectors by an opening (the ECG trace and its cursor are
thin); the candidates holding speckle motion are the sectors; each sector is the convex hull of
its content, completed to the fan (apex, two straight edges, an arc about the apex) where a dark
chamber hid part of it; static burned-in strokes inside are removed.

Only the mask's geometry lives here; the clip preparation that applies it (crop, zoom, resize,
frame sampling) is :mod:`echo2ecg.prepare_echo_clips`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError


@dataclass(frozen=True)
class SectorMaskParameters:
    """Parameters of the sector detection (0-255 scale; pixels at a 600-pixel shorter side unless noted)."""

    motion_threshold: int = 24  # temporal range above which a pixel is moving (above JPEG ringing)
    intensity_threshold: int = 20  # brightness (in some frame) of sector content (a dim far field is
    #                                above it; JPEG ringing beside the fan's edge below it)
    static_tolerance: int = 0  # temporal range at or below which a pixel is static (burned-in marks)
    mark_threshold: int = 100  # burned-in marks inside the fan: static strokes at least this bright
    # morphology, in 3x3 iterations at a 600-pixel shorter side (scaled with the frame, >= 1)
    close_iterations: int = 2  # closing: joins speckle grains into one region
    open_iterations: int = 2  # opening: removes moving lines up to ~2 * this wide
    content_open_iterations: int = 2  # opening of the content, in 3x3 iterations on the pooled grid
    #                                   (not scaled: JPEG blocks and 1-pixel marks do not scale)
    min_component_fraction: float = 0.2  # a second sector must be this fraction of the largest
    min_sector_fraction: float = 0.01  # a piece of a fan moves over at least this fraction of the image
    min_moving_share: float = 0.25  # a smaller moving piece: at least this share of it moves ...
    max_hull_growth: float = 3.0  # ... and it grows a fan's hull by at most this times its area
    hull_inset: float = 1.0  # pixels at a 600-pixel shorter side (scaled, rounded) each hull row loses on
    #                          both sides: JPEG ringing lights a pixel or two beyond the fan's edge
    # fan completion (a dark chamber at the fan's edge, tip or arc hides part of it from the hull):
    # the fan's straight edges are the content hull's supporting lines through the most row
    # extremes (at least edge_min_support of the rows, within edge_tolerance pixels at a 600-pixel
    # shorter side); with the arc about their apex through the farthest content, they bound the
    # fan. The hull grows into that fan on each row's piece (beside the hull, or whole rows above
    # and below it, contiguously) where at least fill_min_lit of the pixels are lit in some frame
    # (peak >= fill_min_peak): a cavity is dim, not black; the black above a curved
    # (convex-probe) top or beside a fan that is not a circular sector stays out
    edge_min_support: float = 0.1
    edge_tolerance: float = 3.0
    fill_min_peak: int = 3
    fill_min_lit: float = 0.5
    ringing_rows: int = 8  # JPEG ringing lights at most one 8 x 8 block beyond an edge (not scaled):
    #                        rows beyond the hull that stop short of the apex or arc count only
    #                        when more than this many
    mark_max_width: float = 4.0  # burned-in strokes are at most this wide (pixels at a 600-pixel
    #                              shorter side): static pixels in a saturated region wider than
    #                              this (calcified tissue, clipped in every frame) are content
    saturation_level: int = 250  # saturated: peak (some channel, some frame) at least this
    min_frames_for_static_removal: int = 4  # need this many frames to call a pixel static (fewer: the
    #                                         content is closed first, its bright pixels are patchy)


DEFAULT_SECTOR_MASK = SectorMaskParameters()


def as_frames(frames: np.ndarray) -> np.ndarray:
    """Validate and return uint8 frames as (F, H, W) or (F, H, W, C)."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (0-255), got {frames.dtype}")
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim not in (3, 4) or frames.shape[0] < 1 or (frames.ndim == 4 and frames.shape[-1] not in (1, 3)):
        raise ValueError(f"frames must be (F, H, W) or (F, H, W, 3), got shape {frames.shape}")
    if frames.ndim == 4 and frames.shape[-1] == 1:
        frames = frames[..., 0]
    return frames

@dataclass(frozen=True)
class _SectorHull:
    """One sector's convex hull: its points (x, y) (each row's extreme cells' centres, full
    resolution), the hull's vertices, and the filled span [left, right] of rows first, first + 1, ..."""

    points: np.ndarray
    vertices: np.ndarray
    first: int
    left: np.ndarray
    right: np.ndarray


def _fill_convex_hull(mask: np.ndarray, component: np.ndarray, offset: tuple[int, int], pool: int,
                      inset: float = 0.0) -> _SectorHull | None:
    """OR into ``mask`` (full resolution) the convex hull of ``component``; return the hull.

    ``component`` is a bool array on a grid pooled by ``pool`` (each cell = pool x pool full
    pixels), whose cell (0, 0) is cell ``offset`` of the pooled image. The hull of the per-row
    extreme cells' centres is the hull of the component (a boundary cell is only partly inside
    the region, so its centre, not its outer corner, marks the boundary); pixel centres on or
    inside it are set, less ``inset`` pixels at each end of every row. None when the hull is
    degenerate (a single row or column: the cells' boxes are filled).
    """
    height, width = mask.shape
    rows = np.flatnonzero(component.any(axis=1))
    sub = component[rows]
    left = sub.argmax(axis=1) + offset[1]
    right = component.shape[1] - 1 - sub[:, ::-1].argmax(axis=1) + offset[1]
    rows = rows + offset[0]
    centre = (pool - 1) / 2.0
    top = bottom = rows * pool + centre
    x_lo, x_hi = left * pool + centre, right * pool + centre
    points = np.concatenate([np.stack([x_lo, top], 1), np.stack([x_hi, bottom], 1)]).astype(np.float64)
    try:
        vertices = points[ConvexHull(points).vertices]
    except QhullError:  # degenerate (a single row or column): fill the cells' boxes
        for row, lo, hi in zip(rows, left, right):
            mask[row * pool: row * pool + pool, lo * pool: hi * pool + pool] = True
        return None
    x0, y0 = vertices[:, 0], vertices[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    sloped = y1 != y0
    x0, y0, x1, y1 = x0[sloped], y0[sloped], x1[sloped], y1[sloped]
    first, last = int(np.ceil(top.min())), int(min(np.floor(bottom.max()), height - 1))
    span = np.arange(first, last + 1, dtype=np.float64)
    t = (span[:, None] - y0[None, :]) / (y1 - y0)[None, :]
    inside = (t >= -1e-9) & (t <= 1 + 1e-9)
    x = x0[None, :] + t * (x1 - x0)[None, :]
    x_left = np.ceil(np.where(inside, x, np.inf).min(axis=1) + inset - 1e-6)
    x_right = np.floor(np.where(inside, x, -np.inf).max(axis=1) - inset + 1e-6)
    cols = np.arange(width)
    mask[first: last + 1] |= (cols[None, :] >= x_left[:, None]) & (cols[None, :] <= x_right[:, None])
    return _SectorHull(points, vertices, first, np.clip(x_left, 0, width).astype(np.int64),
                       np.clip(x_right, -1, width - 1).astype(np.int64))


def _fill_group_hull(mask: np.ndarray, parts: np.ndarray, labels, pool: int,
                     inset: float = 0.0) -> _SectorHull | None:
    """OR into ``mask`` the convex hull of the components ``labels`` of ``parts`` (pooled by
    ``pool``; see :func:`_fill_convex_hull`), working on their bounding box only."""
    region = np.isin(parts, labels)
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return _fill_convex_hull(mask, region[box], (rows[0], cols[0]), pool, inset)


def _pool_any(active: np.ndarray, pool: int) -> np.ndarray:
    """Logical OR over pool x pool blocks (zero-padded at the bottom and right edges)."""
    if pool == 1:
        return active
    height, width = active.shape
    active = np.pad(active, ((0, -height % pool), (0, -width % pool)))
    pooled = np.zeros((active.shape[0] // pool, active.shape[1] // pool), dtype=bool)
    for dy in range(pool):
        for dx in range(pool):
            pooled |= active[dy::pool, dx::pool]
    return pooled


def _square_filter(active: np.ndarray, iterations: int, grow: bool) -> np.ndarray:
    """Dilation (``grow``) or erosion of a bool image by a 3 x 3 square ``iterations`` times: one
    (2 * iterations + 1)-wide square, as separable max / min filters (outside the image is False)."""
    side = 2 * iterations + 1
    filtered = (ndimage.maximum_filter if grow else ndimage.minimum_filter)(
        active.view(np.uint8), side, mode="constant", cval=0)
    return filtered.view(bool)


def _label_components(active: np.ndarray, close: int, opening: int) -> tuple[np.ndarray, int]:
    """Closing (border-padded), then opening, then 8-connected components of a bool image."""
    if close:  # pad so that closing does not erode regions touching the border
        padded = _square_filter(_square_filter(np.pad(active, close), close, True), close, False)
        active = padded[close:-close, close:-close]
    if opening:
        active = _square_filter(_square_filter(active, opening, False), opening, True)
    return ndimage.label(active, np.ones((3, 3), dtype=bool))


def _burned_in_marks(spread: np.ndarray, peak: np.ndarray, mask: np.ndarray,
                     params: SectorMaskParameters) -> np.ndarray:
    """bool (H, W): burned-in marks inside ``mask`` -- bright pixels that never change on a thin static stroke.

    A static pixel counts only when at least ``mark_threshold`` bright and with a static neighbour
    (3 x 3): text, ticks and icons are bright strokes, while tissue that barely moves and dark
    blood pools leave dim or isolated unchanged pixels. Static pixels in a saturated region
    (peak >= ``saturation_level`` in some frame) wider than ``mark_max_width`` (what survives an
    opening that wide) are calcified tissue clipped to the top of the scale in every frame, not
    strokes, and stay. Work is confined to the box around the static pixels inside ``mask``.
    """
    static = (spread <= params.static_tolerance) & (peak >= params.mark_threshold)
    marks = np.zeros_like(mask)
    inside = static & mask
    if not inside.any():
        return marks
    half_width = max(1, round(params.mark_max_width * min(spread.shape) / 600.0 / 2))
    side = 2 * half_width + 1
    margin = 2 * side
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    box = (slice(max(0, rows[0] - margin), rows[-1] + margin + 1), slice(max(0, cols[0] - margin), cols[-1] + margin + 1))
    local = static[box]
    padded = np.pad(local.view(np.uint8), 1)
    across = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    neighbours = across[:-2] + across[1:-1] + across[2:]  # 3 x 3 count, the pixel included
    local = local & (neighbours >= 2)
    if params.mark_max_width > 0:  # saturated regions (peak at the top of the scale) a side x side square fits in
        saturated = (peak[box] >= params.saturation_level).view(np.uint8)
        core = ndimage.minimum_filter(saturated, side, mode="constant")
        if (core.view(bool) & mask[box]).any():  # opening (separable min / max filters), and its rim
            wide = ndimage.maximum_filter(ndimage.maximum_filter(core, side), side)
            local &= ~wide.view(bool)
    marks[box] = local & mask[box]
    return marks


def _temporal_range_and_peak(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: temporal range and brightest value, both (H, W) uint8, max over channels."""
    high = frames.max(axis=0)
    spread = high - frames.min(axis=0)  # uint8, never negative
    if spread.ndim == 3:  # channel max without a slow reduction over a length-3 axis
        spread = np.maximum(np.maximum(spread[..., 0], spread[..., 1]), spread[..., 2])
        high = np.maximum(np.maximum(high[..., 0], high[..., 1]), high[..., 2])
    return spread, high


def _often_bright(frames: np.ndarray, threshold: int, pool: int) -> np.ndarray:
    """bool (ceil(H / pool), ceil(W / pool)): bright (some channel) in at least half the frames.

    Sampled at the top-left pixel of each pool x pool cell (the grid the morphology runs on) and,
    from 8 frames on, in every second frame (speed; a sweeping cursor lights a pixel in one).
    """
    step = 2 if frames.shape[0] >= 8 else 1
    sampled = frames[::step, ::pool, ::pool]
    channels = [sampled] if sampled.ndim == 3 else [sampled[..., c] for c in range(sampled.shape[-1])]
    counts = np.max([(channel > threshold).sum(axis=0, dtype=np.uint16) for channel in channels], axis=0)
    return counts * 2 >= sampled.shape[0]


def _row_extremes(region: np.ndarray, offset: tuple[int, int]) -> np.ndarray:
    """(N, 2) float (col, row) of the leftmost and rightmost pixel of each row of ``region``."""
    rows = np.flatnonzero(region.any(axis=1))
    sub = region[rows]
    left = sub.argmax(axis=1)
    right = region.shape[1] - 1 - sub[:, ::-1].argmax(axis=1)
    rows = rows + offset[0]
    return np.concatenate([np.stack([left + offset[1], rows], 1), np.stack([right + offset[1], rows], 1)]).astype(float)


def _hull_area(points: np.ndarray) -> float:
    try:
        return float(ConvexHull(points).volume)
    except (QhullError, ValueError):  # degenerate: a line or a point
        return 0.0


def _join_pieces_across_a_chamber(groups: list[list[int]], parts: np.ndarray, lit: np.ndarray,
                                  params: SectorMaskParameters) -> list[list[int]]:
    """Join neighbouring groups (left to right) that are pieces of one fan split by a chamber.

    Two fans side by side have black between them; two pieces of one fan have a dim chamber
    between them. So neighbours join when at least ``fill_min_lit`` of what their joint convex
    hull adds to their own hulls is ``lit`` (both on the pooled grid of ``parts``).
    """
    if len(groups) < 2:
        return groups

    def hull(labels):
        filled = np.zeros(parts.shape, dtype=bool)
        _fill_group_hull(filled, parts, labels, 1)
        return filled

    joined, last = [groups[0]], hull(groups[0])
    for group in groups[1:]:
        own, joint = hull(group), hull(joined[-1] + group)
        between = joint & ~last & ~own
        if between.any() and lit[between].mean() >= params.fill_min_lit:
            joined[-1], last = joined[-1] + group, joint
        else:
            joined.append(group)
            last = own
    return joined


def _sector_groups(parts: np.ndarray, motion: np.ndarray, lit: np.ndarray,
                   params: SectorMaskParameters) -> list[np.ndarray]:
    """Labels of the content components that make each sector.

    Components with speckle motion of at least ``min_sector_fraction`` of the image are pieces
    of a fan (a dark chamber across the fan can cut it into pieces stacked in depth or side by
    side); pieces whose column spans overlap are one fan, and so are neighbours with a lit (dim,
    not black) gap between them (:func:`_join_pieces_across_a_chamber`); fans side by side (dual
    displays) have black between them. ``lit`` is on the pooled grid of ``parts``. A smaller
    moving component (a corner of the fan cut off by a chamber reaching its edge) joins a fan when
    that grows the fan's convex hull by at most ``max_hull_growth`` times its own area; a mark
    beside the fan (a frame counter) would grow it by far more. Fans with at least
    ``min_component_fraction`` of the largest fan's motion are kept.
    """
    pieces = np.flatnonzero(motion >= params.min_sector_fraction * parts.size) + 1
    if len(pieces) == 0:
        return []
    boxes = ndimage.find_objects(parts)
    spans = sorted((boxes[k - 1][1].start, boxes[k - 1][1].stop, k) for k in pieces)
    groups, end = [], -1
    for start, stop, k in spans:
        if start < end:
            groups[-1].append(k)
            end = max(end, stop)
        else:
            groups.append([k])
            end = stop
    groups = _join_pieces_across_a_chamber(groups, parts, lit, params)
    area = np.bincount(parts.ravel(), minlength=len(motion) + 1)[1:]
    small = [k for k in np.argsort(-motion) + 1
             if k not in pieces and motion[k - 1] > 0 and motion[k - 1] >= params.min_moving_share * area[k - 1]]
    if small:
        def extremes(k):
            box = boxes[k - 1]
            return _row_extremes(parts[box] == k, (box[0].start, box[1].start))
        points = [np.concatenate([extremes(k) for k in g]) for g in groups]
        hulls = [_hull_area(p) for p in points]
        for k in small:
            own = extremes(k)
            for g, group in enumerate(groups):
                grown = _hull_area(np.concatenate([points[g], own]))
                if grown - hulls[g] <= params.max_hull_growth * area[k - 1]:
                    group.append(k)
                    points[g], hulls[g] = np.concatenate([points[g], own]), grown
                    break
    totals = np.array([motion[np.array(g) - 1].sum() for g in groups])
    return [np.array(g) for g, total in zip(groups, totals) if total >= params.min_component_fraction * totals.max()]


def _fan_edges(hull: _SectorHull, tolerance: float, params: SectorMaskParameters):
    """The fan's left and right straight edges, ((normal, offset), (normal, offset)), or None.

    Each is found as a supporting line of the content's hull (``normal . p <= offset`` for every
    content point ``p``, ``normal`` outward): the hull edge, facing left and up (right and up),
    with the most row extremes within ``tolerance`` pixels of its line; the edge returned is the
    line fitted through those extremes. Content lies inside the fan, so wherever any of it
    touches the fan's edge, that edge's line is a supporting line through those rows; a chord
    across a chamber that hides the rest touches few. None when either side has fewer than
    ``edge_min_support`` of the rows on its line, or faces the wrong way (no straight edge: a
    linear probe's vertical sides face sideways, not up).
    """
    points, vertices = hull.points, hull.vertices
    step = np.roll(vertices, -1, axis=0) - vertices
    length = np.hypot(step[:, 0], step[:, 1])
    keep = length > 0
    vertices, step, length = vertices[keep], step[keep], length[keep]
    normal = np.stack([step[:, 1], -step[:, 0]], axis=1) / length[:, None]
    offset = (normal * vertices).sum(axis=1)
    inward = normal @ points.mean(axis=0) > offset  # orient every normal outwards
    normal[inward], offset[inward] = -normal[inward], -offset[inward]
    support = ((offset[None, :] - points @ normal.T) <= tolerance).sum(axis=0)
    need = max(3, params.edge_min_support * len(points) / 2)  # two extremes per row

    def faces(n, side):  # sideways (outwards) and up: a fan's edge, not its arc or a linear probe's side
        return (side * n[..., 0] > 0.2) & (n[..., 1] < -0.05)

    edges = []
    for side in (-1.0, 1.0):
        facing = faces(normal, side)
        if not facing.any():
            return None
        best = np.flatnonzero(facing)[np.argmax(support[facing])]
        if support[best] < need:
            return None
        # the line through the edge's own extremes (total least squares): the supporting line
        # itself runs through the few that JPEG ringing lit a pixel beyond the edge
        # (refitted once on the extremes near the fitted line: a mark or ringing beyond the edge,
        # which the supporting line passes through, drops out)
        fitted, level = normal[best], float(offset[best])
        for _ in range(2):
            on_edge = points[np.abs(level - points @ fitted) <= tolerance]
            if len(on_edge) < 2:
                return None
            centre = on_edge.mean(axis=0)
            _, _, axes = np.linalg.svd(on_edge - centre, full_matrices=False)
            fitted = axes[-1] if axes[-1] @ normal[best] > 0 else -axes[-1]
            level = float(fitted @ centre)
        if not faces(fitted, side):
            return None
        edges.append((fitted, level))
    return tuple(edges)


def _complete_fan(sector: np.ndarray, hull: _SectorHull, lit: np.ndarray, tolerance: float,
                  params: SectorMaskParameters) -> None:
    """Grow ``sector`` (one fan's filled hull) into the fan that a dark chamber partly hid.

    The fan is bounded by its two straight edges (:func:`_fan_edges`) and the arc about their
    apex through the arc's own content points. Per row, the fan's pixels beside the hull (left
    and right), and whole rows above and below the hull (contiguously from it, up to the apex or
    the arc, or more than ``ringing_rows`` of them), are added where at least ``fill_min_lit`` of
    them are ``lit``. Nothing changes when the edges are not found or do not meet above the
    content.
    """
    edges = _fan_edges(hull, tolerance, params)
    if edges is None:
        return
    (n_left, c_left), (n_right, c_right) = edges
    apex = np.linalg.solve(np.stack([n_left, n_right]), np.array([c_left, c_right]))
    points = hull.points
    if apex[1] > points[:, 1].min() + tolerance or not points[:, 0].min() <= apex[0] <= points[:, 0].max():
        return
    distance = np.hypot(*(points - apex).T)
    radius = float(np.median(distance[distance >= distance.max() - tolerance]))  # the arc's own points
    height, width = sector.shape
    rows = np.arange(max(0, int(np.ceil(apex[1]))), min(height - 1, int(np.floor(apex[1] + radius))) + 1)
    if len(rows) == 0:
        return
    half_chord = np.sqrt(np.maximum(radius ** 2 - (rows - apex[1]) ** 2, 0.0))
    lo = np.maximum((c_left - n_left[1] * rows) / n_left[0], apex[0] - half_chord)
    hi = np.minimum((c_right - n_right[1] * rows) / n_right[0], apex[0] + half_chord)
    lo = np.clip(np.ceil(lo - 1e-6), 0, width).astype(np.int64)
    hi = np.clip(np.floor(hi + 1e-6), -1, width - 1).astype(np.int64)
    # the hull's span on each of these rows (empty above and below it)
    h_lo, h_hi = np.full(len(rows), width, dtype=np.int64), np.full(len(rows), -1, dtype=np.int64)
    at = rows - hull.first
    on = (at >= 0) & (at < len(hull.left))
    h_lo[on], h_hi[on] = hull.left[at[on]], hull.right[at[on]]
    on &= h_lo <= h_hi
    counts = np.zeros((len(rows), width + 1), dtype=np.int32)
    np.cumsum(lit[rows], axis=1, out=counts[:, 1:])
    line = np.arange(len(rows))

    def lit_enough(start, stop):  # [start, stop) per row
        n = np.maximum(stop - start, 0)
        start, stop = np.clip(start, 0, width), np.clip(stop, 0, width)
        n_lit = counts[line, stop] - counts[line, np.minimum(start, stop)]
        return (n > 0) & (n_lit >= params.fill_min_lit * np.maximum(n, 1))

    left_ok = on & lit_enough(lo, np.minimum(h_lo, hi + 1))
    right_ok = on & lit_enough(np.maximum(h_hi + 1, lo), hi + 1)
    whole_ok = ~on & lit_enough(lo, hi + 1)
    inside = np.flatnonzero(on)
    if len(inside):  # rows above and below the hull: contiguously from it ...
        above = np.cumprod(whole_ok[:inside[0]][::-1]).astype(bool)
        below = np.cumprod(whole_ok[inside[-1] + 1:]).astype(bool)
        # ... and up to the fan's apex (arc), or further than JPEG ringing reaches beyond an edge
        reach = int(np.ceil(tolerance))
        for run in (above, below):
            if run.sum() <= params.ringing_rows and run.sum() < len(run) - reach:
                run[:] = False
        whole_ok[:inside[0]], whole_ok[inside[-1] + 1:] = above[::-1], below
    cols = np.arange(width)[None, :]
    start = np.where(whole_ok | left_ok, lo, np.where(on, h_lo, width))
    stop = np.where(whole_ok | right_ok, hi, np.where(on, h_hi, -1))
    sector[rows] |= (cols >= start[:, None]) & (cols <= stop[:, None])


def ultrasound_sector_mask(frames: np.ndarray, params: SectorMaskParameters = DEFAULT_SECTOR_MASK) -> np.ndarray:
    """bool (H, W): True inside the ultrasound sector(s) of a cine, found from its frames.

    ``frames``: uint8 (F, H, W) or (F, H, W, 3), e.g. the frames decoded for the clip.

    The fan is a convex wedge (apex, two straight edges, an arc), so each sector is the convex
    hull of what it shows over the whole clip, not the set of pixels that move:

    1. content: pixels bright in some frame (> ``intensity_threshold``) that are not static
       (temporal range > ``static_tolerance``) -- the dim far field, dark cavities and tissue
       that barely moves are content, burned-in text and marks are not -- opened (cuts thin
       lines: the ECG trace and its cursor, ticks across the fan's edge) into connected
       components, the candidate sectors;
    2. motion: pixels whose temporal range exceeds ``motion_threshold`` and that are bright in
       at least half the frames (speckle; not a sweeping cursor, lit in one frame), closed and
       opened; a candidate's motion is how many such pixels it holds;
    3. sectors: the candidate with most motion and any other with at least
       ``min_component_fraction`` of it (side-by-side displays); none when the most is below
       ``min_sector_fraction`` of the image. The mask is each sector's convex hull, filled, grown
       into the fan where a dark chamber hid a corner, the tip or the arc (:func:`_complete_fan`:
       the fan's straight edges, their apex, the arc about it, rows that are lit);
    4. burned-in marks inside (static strokes, e.g. depth ticks across the edge) are removed.

    With a single frame there is no motion: the bright pixels are content and motion. Morphology
    runs on a grid pooled to about 300 pixels on the shorter side (speed); hulls are drawn at full
    resolution.
    """
    frames = as_frames(frames)
    spread, peak = _temporal_range_and_peak(frames)
    n_frames, height, width = frames.shape[:3]
    pool = max(1, min(height, width) // 300)
    scale = min(height, width) / 600.0 / pool
    close = max(1, round(params.close_iterations * scale)) if params.close_iterations > 0 else 0
    opening = max(1, round(params.open_iterations * scale)) if params.open_iterations > 0 else 0
    bright = peak > params.intensity_threshold
    lit = peak >= params.fill_min_peak
    tolerance = max(float(pool), 1.0, params.edge_tolerance * min(height, width) / 600.0)
    if n_frames > 1:
        content = _pool_any(bright & (spread > params.static_tolerance), pool)
        moving = _pool_any(spread > params.motion_threshold, pool) & _often_bright(frames, params.intensity_threshold, pool)
    else:
        content = moving = _pool_any(bright, pool)
    # from a few frames the bright pixels are patchy (dark speckle grains): close them first
    few = n_frames < params.min_frames_for_static_removal
    parts, n_parts = _label_components(content, close if few else 0, params.content_open_iterations)
    mask = np.zeros((height, width), dtype=bool)
    if n_parts == 0:
        return mask
    motion, _ = _label_components(moving, close, opening)
    motion = np.bincount(parts[motion > 0], minlength=n_parts + 1)[1:]
    for group in _sector_groups(parts, motion, lit[::pool, ::pool], params):
        sector = np.zeros((height, width), dtype=bool)
        hull = _fill_group_hull(sector, parts, group, pool, round(params.hull_inset * min(height, width) / 600.0))
        if hull is not None:
            _complete_fan(sector, hull, lit, tolerance, params)
        mask |= sector
    if n_frames >= params.min_frames_for_static_removal:
        mask &= ~_burned_in_marks(spread, peak, mask, params)
    return mask


