"""Echo view preparation (RECIPE.md section 4): from decoded frames to a stored uint8 clip.

Per view: mask everything outside the ultrasound sector (text, icons, depth scale, the ECG
trace the machine burns in beside the fan; the mask's geometry is
:mod:`echo2ecg.ultrasound_sector_mask`), crop the centre to a square, crop a further ``zoom``
fraction off each side, resize to ``clip_size`` x ``clip_size`` (bicubic: OpenCV's ``INTER_CUBIC``
as EchoPrime, or PIL's anti-aliased; :data:`RESIZE_METHODS`), then zero-pad to
``pad_to`` frames and take every ``frame_stride``-th frame.

Normalisation is not done here: clips are stored as uint8 with the number of valid
(non-padding) frames, and the embedding step normalises and zeroes the padding frames.
Only frames ``0, stride, ..., pad_to - stride`` that exist are needed at all:
:func:`needed_frame_indices` tells the reader which ones to decode.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from echo2ecg.qc import RecordFault
from echo2ecg.ultrasound_sector_mask import (
    DEFAULT_SECTOR_MASK,
    SectorMaskParameters,
    as_frames,
    ultrasound_sector_mask,
)

INDEX_COLUMNS = ["view_id", "row", "n_valid"]

# How a cropped frame is resized to clip_size x clip_size (both bicubic, rounded and clamped to 0-255):
#   opencv_cubic:  cv2.resize(..., interpolation=cv2.INTER_CUBIC), EchoPrime's own resize: the
#                  bicubic kernel (a = -0.75) at the output grid, no anti-aliasing when shrinking
#   pil_antialias: PIL's bicubic (a = -0.5), whose kernel widens by the shrink factor (anti-aliased)
RESIZE_METHODS = ("opencv_cubic", "pil_antialias")


@dataclass(frozen=True)
class EchoClipPreparation:
    """Parameters of the view preparation; defaults are the recipe's (EchoPrime) values."""

    clip_size: int = 224  # output side S, pixels
    n_frames: int = 16  # frames per clip (= pad_to / frame_stride)
    frame_stride: int = 2  # take frames 0, stride, 2 * stride, ...
    pad_to: int = 32  # zero-pad the cine to this many frames before striding
    zoom: float = 0.1  # fraction cropped off each side of the centre square
    resize: str = "opencv_cubic"  # one of RESIZE_METHODS; EchoPrime's: OpenCV INTER_CUBIC, no anti-aliasing
    mask_sector: bool = True  # False for sources already masked (e.g. EchoNet-Dynamic AVIs)
    sector: SectorMaskParameters = DEFAULT_SECTOR_MASK  # how the sector is found (echo2ecg.ultrasound_sector_mask)

    def __post_init__(self) -> None:
        if self.clip_size < 1:
            raise ValueError(f"clip_size must be positive, got {self.clip_size}")
        if self.frame_stride < 1 or self.pad_to < 1:
            raise ValueError("frame_stride and pad_to must be positive")
        taken = len(range(0, self.pad_to, self.frame_stride))
        if taken != self.n_frames:
            raise ValueError(
                f"n_frames={self.n_frames} does not match pad_to={self.pad_to} with "
                f"frame_stride={self.frame_stride} (which take {taken} frames)"
            )
        if not 0.0 <= self.zoom < 0.5:
            raise ValueError(f"zoom must be in [0, 0.5), got {self.zoom}")
        if self.resize not in RESIZE_METHODS:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_METHODS)}, got {self.resize!r}")

    @classmethod
    def from_config(cls, config: dict | None) -> EchoClipPreparation:
        """Build from a config mapping; unknown keys are an error naming the key."""
        config = dict(config or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown echo clip preparation key(s): {', '.join(unknown)}")
        return cls(**config)

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        return (self.n_frames, self.clip_size, self.clip_size, 3)


DEFAULT_PREPARATION = EchoClipPreparation()


def needed_frame_indices(n_frames_in_file: int, params: EchoClipPreparation = DEFAULT_PREPARATION) -> list[int]:
    """The frame indices a clip uses: ``0, stride, ..., pad_to - stride`` that exist in the file."""
    return [i for i in range(0, params.pad_to, params.frame_stride) if i < int(n_frames_in_file)]


def view_faults(header_n_frames: int | None, source_path: str | None = None) -> str | None:
    """The QC reason why a view with this frame count cannot make a clip, or None when it can."""
    where = f" ({source_path})" if source_path else ""
    if header_n_frames is None or header_n_frames < 1:
        return f"zero frames: the view holds {header_n_frames or 0} frames{where}"
    if header_n_frames == 1:
        return f"single still image: the view holds 1 frame, not a cine{where}"
    return None


def centre_crop_box(height: int, width: int, zoom: float) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the centre square with ``zoom`` cropped off each side."""
    side = min(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    margin = int(side * zoom)
    return top + margin, top + side - margin, left + margin, left + side - margin


def resize_frames(frames: np.ndarray, size: int, method: str = "opencv_cubic") -> np.ndarray:
    """uint8 (F, H, W, C) -> uint8 (F, size, size, C) by one of :data:`RESIZE_METHODS`."""
    n, height, width, channels = frames.shape
    if height == size and width == size:
        return frames.copy()
    out = np.empty((n, size, size, channels), dtype=np.uint8)
    if method == "opencv_cubic":
        for i, frame in enumerate(frames):
            out[i] = cv2.resize(np.ascontiguousarray(frame), (size, size),
                                interpolation=cv2.INTER_CUBIC).reshape(size, size, channels)
    elif method == "pil_antialias":
        for i, frame in enumerate(frames):
            image = Image.fromarray(frame[..., 0] if channels == 1 else frame)
            out[i] = np.asarray(image.resize((size, size), Image.Resampling.BICUBIC)).reshape(size, size, channels)
    else:
        raise ValueError(f"unknown resize {method!r}; choose one of {', '.join(RESIZE_METHODS)}")
    return out


def _apply_mask(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Zero the pixels outside ``mask`` (H, W) in uint8 frames (F, H, W[, C])."""
    if crop.ndim == 3:
        return crop * mask[None]
    n, height, width, channels = crop.shape
    # (H, W * C) rows keep the inner loop long (a length-3 broadcast axis is slow)
    row_mask = np.repeat(mask.astype(np.uint8), channels, axis=1)
    return (crop.reshape(n, height, width * channels) * row_mask[None]).reshape(crop.shape)


def _channels_equal(frames: np.ndarray) -> bool:
    """Whether R = G = B everywhere (grey content stored as RGB); a colour frame mostly fails on its first one."""
    first = frames[:1]
    if not ((first[..., 0] == first[..., 1]).all() and (first[..., 0] == first[..., 2]).all()):
        return False
    return bool((frames[..., 0] == frames[..., 1]).all() and (frames[..., 0] == frames[..., 2]).all())


def prepare_view_clip(
    frames: np.ndarray, params: EchoClipPreparation = DEFAULT_PREPARATION
) -> tuple[np.ndarray, int]:
    """The needed frames of one view (in order) -> (uint8 clip (n_frames, S, S, 3), n_valid).

    ``frames``: uint8 (F, H, W) or (F, H, W, 3), the frames listed by
    :func:`needed_frame_indices`. Frames from ``n_valid`` on are zero (padding).
    Raises RecordFault when no ultrasound sector can be found.
    """
    frames = as_frames(frames)
    n_valid = min(frames.shape[0], params.n_frames)
    frames = frames[:n_valid]
    height, width = frames.shape[1:3]
    top, bottom, left, right = centre_crop_box(height, width, params.zoom)
    if bottom <= top or right <= left:
        raise RecordFault(f"frames too small: {height} x {width} pixels leave nothing after the crop")
    crop = frames[:, top:bottom, left:right]
    if params.mask_sector:
        mask = ultrasound_sector_mask(frames, params.sector)
        if not mask.any():
            raise RecordFault(
                f"no ultrasound sector: no region of the {height} x {width} frames changes over "
                f"{frames.shape[0]} sampled frames"
            )
        crop = _apply_mask(crop, mask[top:bottom, left:right])
    if crop.ndim == 4 and _channels_equal(crop):
        crop = crop[..., :1]  # grey content stored as RGB: resize one channel, same result
    if crop.ndim == 3:
        crop = crop[..., None]
    resized = resize_frames(crop, params.clip_size, params.resize)
    if resized.shape[-1] == 1:
        resized = np.repeat(resized, 3, axis=-1)
    clip = np.zeros(params.clip_shape, dtype=np.uint8)
    clip[:n_valid] = resized
    return clip, n_valid


def _npy_header(shape: tuple[int, ...], length: int = 128) -> bytes:
    """A version 1.0 .npy header for uint8 C-order data, padded to exactly ``length`` bytes."""
    text = "{'descr': '|u1', 'fortran_order': False, 'shape': %s, }" % (tuple(int(s) for s in shape),)
    pad = length - 10 - len(text) - 1
    if pad < 0:
        raise ValueError(f"shape {shape} does not fit a {length}-byte .npy header")
    body = (text + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


def write_clip_shard(
    items: Iterable[tuple[str, np.ndarray, int]],
    npy_path: str | Path,
    index_path: str | Path,
    log: logging.Logger | None = None,
    clip_shape: tuple[int, int, int, int] | None = None,
) -> int:
    """Stream (view_id, clip, n_valid) items into one uint8 .npy (N, F, S, S, 3) and its index.

    The .npy is written clip by clip (never held in memory) and loads with
    ``np.load(path, mmap_mode="r")``; the parquet index has ``view_id``, ``row``, ``n_valid``.
    ``clip_shape`` fixes the per-clip shape (needed for an empty shard; else the first clip's).
    Returns the number of clips written.
    """
    log = log or logging.getLogger(__name__)
    npy_path, index_path = Path(npy_path), Path(index_path)
    shape = tuple(clip_shape) if clip_shape is not None else None
    view_ids: list[str] = []
    n_valids: list[int] = []
    header_length = 128
    with open(npy_path, "wb") as handle:
        handle.write(b"\0" * header_length)  # rewritten once N is known
        for view_id, clip, n_valid in items:
            clip = np.asarray(clip)
            if shape is None:
                shape = clip.shape
            if clip.dtype != np.uint8 or clip.shape != shape:
                raise ValueError(f"view {view_id}: clip {clip.dtype} {clip.shape}, expected uint8 {shape}")
            if not 0 <= int(n_valid) <= shape[0]:
                raise ValueError(f"view {view_id}: n_valid={n_valid} outside 0..{shape[0]}")
            handle.write(np.ascontiguousarray(clip).tobytes())
            view_ids.append(str(view_id))
            n_valids.append(int(n_valid))
            if len(view_ids) % 100 == 0:
                log.info("wrote %d clips to %s", len(view_ids), npy_path)
        if shape is None:
            shape = DEFAULT_PREPARATION.clip_shape
        handle.seek(0)
        handle.write(_npy_header((len(view_ids), *shape), header_length))
    if len(set(view_ids)) != len(view_ids):
        raise ValueError(f"duplicate view ids in shard {npy_path}")
    index = pd.DataFrame({
        "view_id": pd.Series(view_ids, dtype="string"),
        "row": np.arange(len(view_ids), dtype=np.int64),
        "n_valid": np.asarray(n_valids, dtype=np.int64),
    })
    index.to_parquet(index_path, index=False)
    log.info("wrote %d clips of shape %s to %s", len(view_ids), shape, npy_path)
    return len(view_ids)


def prepare_clip_shard(views: pd.DataFrame, reader, npy_path, index_path, params: EchoClipPreparation, *,
                       cohort: str, stats_path=None, log: logging.Logger | None = None) -> pd.DataFrame:
    """Rule prepare_echo_clips: the uint8 clips of one shard of ingested views.

    For each view: reject stills and empty views (:func:`view_faults`), decode only the frames
    :func:`needed_frame_indices` names, mask, crop and resize (:func:`prepare_view_clip`).
    Returns the QC ledger of the views that failed here; read = written + excluded. The clip
    index also carries study_id; ``stats_path`` receives four pixel statistics per clip (a
    baseline for what the embeddings carry, see echo2ecg.assess_echo_embeddings).
    """
    from echo2ecg.clip_pixel_statistics import PIXEL_STATISTICS, clip_pixel_statistics
    from echo2ecg.qc import ExclusionLedger

    log = log or logging.getLogger(__name__)
    ledger = ExclusionLedger(stage="prepare_echo_clips", cohort=cohort)
    study_of = dict(zip(views["view_id"].astype(str), views["study_id"].astype(str)))
    stats = []

    def clips():
        for view in views.itertuples(index=False):
            reason = view_faults(int(view.n_frames), view.source_path)
            if reason is not None:
                ledger.exclude(view.view_id, view.source_path, reason)
                continue
            try:
                frames = reader.read_view_frames(view.source_path, needed_frame_indices(int(view.n_frames), params))
                clip, n_valid = prepare_view_clip(frames, params)
            except RecordFault as fault:
                ledger.exclude(view.view_id, view.source_path, fault)
                continue
            stats.append({"view_id": str(view.view_id), "study_id": str(view.study_id),
                          **clip_pixel_statistics(clip, n_valid)})
            yield str(view.view_id), clip, n_valid

    written = write_clip_shard(clips(), npy_path, index_path, log, clip_shape=params.clip_shape)
    index = pd.read_parquet(index_path)
    index["study_id"] = index["view_id"].map(study_of).astype("string")
    index.to_parquet(index_path, index=False)
    if stats_path is not None:
        pd.DataFrame(stats, columns=["view_id", "study_id", *PIXEL_STATISTICS]).to_parquet(stats_path, index=False)
    if written + len(ledger) != len(views):
        raise AssertionError(f"prepare_echo_clips: {len(views)} views read, {written} written + {len(ledger)} excluded")
    log.info("prepare_echo_clips %s: %d views, %d clips, %d excluded", cohort, len(views), written, len(ledger))
    return ledger.to_frame()
