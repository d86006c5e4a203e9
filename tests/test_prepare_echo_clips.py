"""Tests of echo view preparation (RECIPE.md section 4): sector masking, crop/zoom, frames."""
from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from scipy import ndimage

from echo2ecg.prepare_echo_clips import (
    RESIZE_METHODS,
    EchoClipPreparation,
    centre_crop_box,
    needed_frame_indices,
    prepare_view_clip,
    view_faults,
    write_clip_shard,
)
from echo2ecg.qc import RecordFault
from echo2ecg.synthesize_cohort.echo import VIEW_TYPES, fan_geometry, render_echo_view, tint, true_fan_mask
from echo2ecg.synthesize_cohort.hearts import sample_hearts
from echo2ecg.ultrasound_sector_mask import SectorMaskParameters, ultrasound_sector_mask

UNMASKED = dict(mask_sector=False)
REPO = Path(__file__).resolve().parents[1]


def fan_sector(height: int, width: int, half_angle: float = 38.0) -> np.ndarray:
    """A fan (circular sector) with its apex near the top centre."""
    yy, xx = np.mgrid[0:height, 0:width].astype(float)
    apex_y, apex_x = 0.06 * height, 0.5 * width
    radius = np.hypot(yy - apex_y, xx - apex_x)
    angle = np.degrees(np.arctan2(xx - apex_x, yy - apex_y))
    return (radius <= 0.85 * height) & (np.abs(angle) <= half_angle) & (yy >= apex_y)


def echo_cine(n_frames: int, height: int = 240, width: int = 320, rgb: bool = True, overlays: bool = True,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An echo-like cine: moving speckle in a fan on black, a dark cavity, burned-in overlays.

    Returns (frames uint8 (F, H, W[, 3]), sector mask, overlay mask).
    """
    rng = np.random.default_rng(seed)
    sector = fan_sector(height, width)
    texture = ndimage.gaussian_filter(rng.rayleigh(1.0, (height + 40, width + 40)), 1.0)
    texture = np.clip(100 + 120 * (texture - texture.mean()) / texture.std(), 0, 255)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = np.zeros((n_frames, height, width), dtype=np.uint8)
    for f in range(n_frames):
        dy, dx = int(round(6 * np.sin(2 * np.pi * f / 13))), int(round(4 * np.cos(2 * np.pi * f / 11)))
        image = texture[20 + dy:20 + dy + height, 20 + dx:20 + dx + width] * rng.uniform(0.8, 1.2, (height, width))
        cavity = ((yy - 0.45 * height) / (0.15 * height * (1 + 0.1 * np.sin(f)))) ** 2 \
            + ((xx - 0.5 * width) / (0.08 * width)) ** 2 <= 1
        image[cavity] = rng.uniform(0, 8, cavity.sum())  # dark blood pool: little variation
        frames[f] = np.clip(image * sector, 0, 255).astype(np.uint8)
    if rgb:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    overlay = np.zeros((height, width), dtype=bool)
    if not overlays:
        return frames, sector, overlay
    text = np.zeros_like(overlay)  # static text block, top left
    text[8:30, 8:int(0.2 * width)] = (np.arange(8, int(0.2 * width)) % 4 < 2)[None, :]
    ticks = np.zeros_like(overlay)  # depth-scale ticks 8 px outside the fan's right edge
    a = np.radians(38.0)
    for r in np.arange(0.15, 0.85, 0.08) * height:
        y = int(0.06 * height + r * np.cos(a) - 8 * np.sin(a))
        x = int(0.5 * width + r * np.sin(a) + 8 * np.cos(a))
        ticks[y:y + 2, x:x + 5] = True
    frames[:, text] = 230
    frames[:, ticks] = 200
    overlay |= text | ticks
    cols = np.arange(int(0.08 * width), int(0.92 * width))  # sweeping ECG trace below the fan
    for f in range(n_frames):
        cursor = cols[0] + (f * 17) % len(cols)
        rows = (0.955 * height + 0.02 * height * np.sin(cols / 15.0 + np.where(cols < cursor, 0, 1.3))).astype(int)
        for t in range(2):
            frames[f, rows + t, cols] = (0, 255, 0) if rgb else 180
            overlay[rows + t, cols] = True
    counter = (np.arange(n_frames) * 37 % 256).astype(np.uint8)  # a frame counter: changes every frame
    frames[:, 10:24, width - 40:width - 10] = counter.reshape((n_frames, 1, 1) + ((1,) if rgb else ()))
    overlay[10:24, width - 40:width - 10] = True
    return frames, sector, overlay


def jpeg_roundtrip(frames: np.ndarray, quality: int = 90) -> np.ndarray:
    out = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, "JPEG", quality=quality)
        out.append(np.asarray(Image.open(buffer).convert("RGB")))
    return np.stack(out)


# --- parameters, frame indices, faults ------------------------------------------------

def test_parameters_from_config_and_checks():
    params = EchoClipPreparation.from_config({"clip_size": 112, "zoom": 0.1})
    assert (params.clip_size, params.n_frames, params.frame_stride, params.pad_to) == (112, 16, 2, 32)
    assert params.clip_shape == (16, 112, 112, 3)
    assert EchoClipPreparation.from_config(None) == EchoClipPreparation()
    with pytest.raises(ValueError, match="clip_sise"):
        EchoClipPreparation.from_config({"clip_sise": 112})
    with pytest.raises(ValueError, match="n_frames=16 does not match pad_to=32 with frame_stride=4"):
        EchoClipPreparation(frame_stride=4)
    assert EchoClipPreparation(frame_stride=4, n_frames=8).clip_shape[0] == 8
    assert EchoClipPreparation.from_config({"resize": "pil_antialias"}).resize == "pil_antialias"
    with pytest.raises(ValueError, match="resize must be one of opencv_cubic, pil_antialias, got 'bicubic'"):
        EchoClipPreparation(resize="bicubic")


def test_needed_frame_indices():
    assert needed_frame_indices(60) == list(range(0, 31, 2))
    assert needed_frame_indices(20) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert needed_frame_indices(31) == list(range(0, 31, 2))
    assert needed_frame_indices(3) == [0, 2]
    assert needed_frame_indices(1) == [0]
    assert needed_frame_indices(0) == []
    assert needed_frame_indices(100, EchoClipPreparation(frame_stride=4, n_frames=8)) == list(range(0, 29, 4))


def test_view_faults():
    assert view_faults(0).startswith("zero frames:")
    assert view_faults(None).startswith("zero frames:")
    reason = view_faults(1, "files/p1/s2/v.dcm")
    assert reason.startswith("single still image:") and "not a cine" in reason and "files/p1/s2/v.dcm" in reason
    assert view_faults(2) is None and view_faults(60) is None


# --- sector mask ------------------------------------------------------------------------

@pytest.mark.parametrize("rgb", [True, False])
def test_sector_mask_finds_fan_and_drops_overlays(rgb):
    frames, sector, overlay = echo_cine(16, rgb=rgb)
    mask = ultrasound_sector_mask(frames)
    assert mask.shape == sector.shape and mask.dtype == bool
    assert not (mask & overlay).any()
    assert (mask & sector).sum() / sector.sum() > 0.99  # the dark cavity is filled in
    assert (mask & ~sector).sum() / sector.sum() < 0.01


def test_sector_mask_on_jpeg_compressed_frames():
    frames, sector, overlay = echo_cine(16, seed=3)
    mask = ultrasound_sector_mask(jpeg_roundtrip(frames, quality=90))
    assert not (mask & overlay).any()
    assert (mask & sector).sum() / sector.sum() > 0.99
    assert (mask & ~sector).sum() / sector.sum() < 0.02


def test_sector_mask_from_few_frames_and_a_still():
    frames, sector, overlay = echo_cine(2, seed=1)
    mask = ultrasound_sector_mask(frames)
    assert not (mask & overlay).any() and (mask & sector).sum() / sector.sum() > 0.98
    still, sector, _ = echo_cine(1, overlays=False, seed=2)  # no motion: bright content instead
    mask = ultrasound_sector_mask(still)
    assert (mask & sector).sum() / sector.sum() > 0.98 and (mask & ~sector).sum() / sector.sum() < 0.02


def kept_and_spilled(mask: np.ndarray, fan: np.ndarray) -> tuple[float, float]:
    """Share of the true fan kept, and share of the kept pixels outside it."""
    return float((mask & fan).sum() / fan.sum()), float((mask & ~fan).sum() / max(1, mask.sum()))


@pytest.mark.parametrize("view_type", VIEW_TYPES)
def test_sector_mask_keeps_the_generators_true_fan_for_every_view_type(view_type):
    """On the demo's own cines (128 x 160, as synthetic.echo_frame_size): grey, tinted, and JPEG as
    the cohort writes them, the mask keeps >= 97 % of the generator's true fan and spills <= 1 %."""
    height, width = 128, 160
    fan = true_fan_mask(height, width)
    rng = np.random.default_rng(VIEW_TYPES.index(view_type))
    hearts = sample_hearts(rng, 3).to_dict("records")
    params = EchoClipPreparation(clip_size=64)
    for k, heart in enumerate(hearts):
        n_frames = int(rng.integers(20, 73))
        frames = render_echo_view(heart, view_type, n_frames, float(rng.uniform(30, 80)), height, width, rng)
        frames = frames[needed_frame_indices(n_frames, params)]
        variants = {"grey": frames, "tinted": tint(frames)}
        variants["jpeg"] = jpeg_roundtrip(variants["tinted" if k % 2 else "grey"])
        for name, cine in variants.items():
            kept, spilled = kept_and_spilled(ultrasound_sector_mask(cine, params.sector), fan)
            assert kept >= 0.97 and spilled <= 0.01, (view_type, k, name, kept, spilled)
        clip, n_valid = prepare_view_clip(variants["grey"], params)
        # clip pixels out of the fan's reach: the bicubic kernel (no anti-aliasing) reaches 2 source pixels
        # in x and y, the fan grown by 1 then shrunk bilinearly (reach 104 / 64 = 1.6) at least that far
        reach = ndimage.binary_dilation(fan, np.ones((3, 3), bool)).astype(np.uint8) * 255
        outside = ~np.asarray(Image.fromarray(reach).crop(
            (16, 0, 144, 128)).crop((12, 12, 116, 116)).resize((64, 64), Image.Resampling.BILINEAR)).astype(bool)
        assert not clip[:n_valid][:, outside].any()  # nothing of the burned-in text, scale or trace survives


def test_true_fan_mask_is_the_drawn_sector():
    height, width = 96, 120
    apex_row, radius, half_angle = fan_geometry(height, width)
    fan = true_fan_mask(height, width)
    rows, cols = np.nonzero(fan)
    assert rows.min() >= int(apex_row) and rows.max() <= apex_row + radius + 1
    assert np.isclose(fan.sum(), half_angle * radius**2, rtol=0.05)  # area of a circular sector
    frames = render_echo_view(sample_hearts(np.random.default_rng(0), 1).iloc[0].to_dict(), "A4C", 8, 40.0,
                              height, width, np.random.default_rng(0))
    changing = frames.max(axis=0) != frames.min(axis=0)
    assert changing[fan].mean() > 0.9  # speckle lives inside the fan ...
    assert changing[~fan].mean() < 0.05  # ... outside, only the ECG cursor moves


def hand_made_cine(n_frames: int = 16, height: int = 200, width: int = 260, seed: int = 0):
    """A fan whose far third is dim (about 25 grey), with a completely static patch of tissue and a
    dark cavity inside, and overlays inside the fan's bounding box: a static icon and text beside the
    apex, a frame counter in the top-right corner, ticks across the right edge."""
    rng = np.random.default_rng(seed)
    sector = fan_sector(height, width)
    yy, xx = np.mgrid[0:height, 0:width]
    depth = np.hypot(yy - 0.06 * height, xx - 0.5 * width) / (0.85 * height)
    level = np.where(depth > 0.66, 25.0, 110.0)
    frames = np.clip(level * rng.rayleigh(0.8, (n_frames, height, width)), 0, 255).astype(np.uint8) * sector
    quiet = (np.abs(yy - 0.45 * height) < 12) & (np.abs(xx - 0.4 * width) < 15)
    frames[:, quiet] = 60  # tissue that does not change at all
    cavity = ((yy - 0.35 * height) / 20.0) ** 2 + ((xx - 0.58 * width) / 14.0) ** 2 <= 1
    frames[:, cavity] = 3
    overlay = np.zeros((height, width), dtype=bool)
    overlay[4:16, int(0.5 * width) - 40:int(0.5 * width) - 12] = True  # text block beside the apex
    overlay[2:12, int(0.5 * width) + 14:int(0.5 * width) + 24] = True  # a static icon
    a = np.radians(38.0)
    for r in np.arange(0.2, 0.8, 0.1) * height:  # ticks crossing the right edge
        y, x = int(0.06 * height + r * np.cos(a)), int(0.5 * width + r * np.sin(a))
        overlay[y:y + 1, x - 2:x + 4] = True
    frames[:, overlay] = 220
    counter = (np.arange(n_frames) * 37 % 256).astype(np.uint8)  # frame counter, top right
    frames[:, 6:18, width - 40:width - 12] = counter[:, None, None]
    overlay[6:18, width - 40:width - 12] = True
    return frames, sector, overlay, quiet, depth > 0.66


def test_sector_mask_keeps_a_dim_far_field_and_a_quiet_region_and_drops_overlays_in_the_box():
    frames, sector, overlay, quiet, far = hand_made_cine()
    edge = ndimage.binary_dilation(sector)  # JPEG blurs the fan's edge by a pixel
    for cine, fan in ((frames, sector), (jpeg_roundtrip(frames), edge)):
        mask = ultrasound_sector_mask(cine)
        kept, spilled = kept_and_spilled(mask, sector)
        assert kept >= 0.97 and spilled <= 0.01, (kept, spilled)
        assert mask[quiet].mean() > 0.99 and mask[far & sector].mean() > 0.95
        assert not (mask & overlay & ~fan).any()
    mask = ultrasound_sector_mask(frames)
    assert not (mask & overlay).any()  # the ticks' parts inside the fan are removed too


def test_sector_mask_of_a_side_by_side_display_finds_both_fans():
    left, sector_l, _, _, _ = hand_made_cine(width=200, seed=1)
    right, sector_r, _, _, _ = hand_made_cine(width=200, seed=2)
    frames = np.concatenate([left, np.zeros_like(left[:, :, :20]), right], axis=2)
    sector = np.concatenate([sector_l, np.zeros_like(sector_l[:, :20]), sector_r], axis=1)
    for cine in (frames, tint(frames)):
        kept, spilled = kept_and_spilled(ultrasound_sector_mask(cine), sector)
        assert kept >= 0.97 and spilled <= 0.01, (kept, spilled)


def test_sector_mask_of_static_frames_is_empty_and_clip_is_rejected():
    frames, _, _ = echo_cine(1)
    frozen = np.repeat(frames, 8, axis=0)  # a cine whose frames never change
    assert not ultrasound_sector_mask(frozen).any()
    with pytest.raises(RecordFault, match="^no ultrasound sector"):
        prepare_view_clip(frozen)


# --- clips ----------------------------------------------------------------------------

def test_clip_masks_overlays_and_keeps_sector_content():
    frames, sector, overlay = echo_cine(40)
    height, width = sector.shape
    # no zoom and S = the square's side: the resize is the identity, the clip is the masked crop
    params = EchoClipPreparation(clip_size=height, zoom=0.0)
    needed = needed_frame_indices(len(frames), params)
    clip, n_valid = prepare_view_clip(frames[needed], params)
    left = (width - height) // 2
    source = frames[needed][:, :, left:left + height]
    crop_overlay, crop_sector = overlay[:, left:left + height], sector[:, left:left + height]
    assert n_valid == 16 and clip.shape == (16, height, height, 3) and clip.dtype == np.uint8
    assert crop_overlay.sum() > 500  # the crop does contain overlay pixels (text, trace, ticks)
    assert (clip[:, crop_overlay] == 0).all()
    unchanged = (clip[:, crop_sector] == source[:, crop_sector]).all(axis=-1).mean()
    assert unchanged > 0.95
    assert (clip[:, ~crop_sector & ~crop_overlay] == source[:, ~crop_sector & ~crop_overlay]).mean() > 0.95


def test_padding_and_frame_selection_are_exact():
    params = EchoClipPreparation(clip_size=32, zoom=0.0, **UNMASKED)
    # every frame a constant grey equal to 1 + its index: identifies the frame in the clip
    cine = (np.arange(60, dtype=np.uint8)[:, None, None, None] + 1) * np.ones((1, 32, 48, 3), np.uint8)
    clip, n_valid = prepare_view_clip(cine[needed_frame_indices(60, params)], params)
    assert n_valid == 16 and [int(frame[0, 0, 0]) - 1 for frame in clip] == list(range(0, 31, 2))
    short = cine[:20]
    clip, n_valid = prepare_view_clip(short[needed_frame_indices(20, params)], params)
    assert n_valid == 10
    assert [int(frame[0, 0, 0]) - 1 for frame in clip[:10]] == list(range(0, 19, 2))
    assert not clip[10:].any() and clip.shape == (16, 32, 32, 3)


def test_grayscale_and_rgb_sources_give_the_same_clip():
    grey, _, _ = echo_cine(16, rgb=False, overlays=False)
    params = EchoClipPreparation(clip_size=56)
    clip_grey, n_grey = prepare_view_clip(grey, params)
    clip_rgb, n_rgb = prepare_view_clip(np.repeat(grey[..., None], 3, axis=-1), params)
    assert n_grey == n_rgb == 16 and clip_grey.shape == (16, 56, 56, 3)
    np.testing.assert_array_equal(clip_grey, clip_rgb)
    assert (clip_grey[..., 0] == clip_grey[..., 2]).all() and clip_grey.any()


def test_colour_is_kept_per_channel():
    frames, _, _ = echo_cine(16, overlays=False)
    tinted = frames.copy()
    tinted[..., 0] = (tinted[..., 0] * 0.5).astype(np.uint8)  # weaker red channel
    clip, _ = prepare_view_clip(tinted, EchoClipPreparation(clip_size=56))
    assert clip[..., 0].mean() < 0.6 * clip[..., 1].mean()
    assert np.array_equal(clip[..., 1], clip[..., 2])


def test_crop_zoom_geometry():
    height, width, size = 300, 400, 120
    assert centre_crop_box(height, width, 0.1) == (30, 270, 80, 320)  # 300 square, 30 px off each side
    params = EchoClipPreparation(clip_size=size, **UNMASKED)
    frames = np.zeros((16, height, width, 3), np.uint8)
    frames[:, 140:160, 190:210] = 255  # marker at the image centre
    frames[:, 30:50, 80:100, 0] = 255  # red marker at the top-left corner of the zoomed square
    frames[:, 0:25, :] = 255  # outside the zoomed square: must vanish
    frames[:, :, 330:] = 255  # right of it: must vanish
    clip, _ = prepare_view_clip(frames, params)
    green = clip[0, ..., 1].astype(float)
    rows, cols = np.nonzero(green > 127)
    centre = (size - 1) / 2
    assert abs(rows.mean() - centre) < 0.5 and abs(cols.mean() - centre) < 0.5
    assert rows.min() >= 53 and rows.max() <= 66  # 20 px -> 10 px after the 2x downscale
    red_only = (clip[0, ..., 0] > 127) & (clip[0, ..., 1] < 64)
    r_rows, r_cols = np.nonzero(red_only)
    assert r_rows.min() == 0 and r_cols.min() == 0 and r_rows.max() <= 10 and r_cols.max() <= 10
    assert (clip[0, 15:, 15:][green[15:, 15:] <= 127] < 30).all()  # nothing from outside the box


def test_bicubic_resize_is_clamped_and_exact_on_flat_images():
    params = EchoClipPreparation(clip_size=64, **UNMASKED)
    flat = np.full((4, 200, 260, 3), 255, np.uint8)
    clip, n_valid = prepare_view_clip(flat, params)
    assert n_valid == 4 and (clip[:4] == 255).all() and not clip[4:].any()
    step = np.zeros((3, 200, 200, 3), np.uint8)
    step[:, :, 100:] = 255  # a step edge: bicubic overshoots above 255, which must clamp, not wrap
    for resize in RESIZE_METHODS:
        params = EchoClipPreparation(clip_size=150, zoom=0.0, resize=resize, **UNMASKED)
        clip, _ = prepare_view_clip(step, params)
        assert (clip[:3, :, 77:] >= 250).all() and (clip[:3, :, :73] <= 5).all()



def test_the_paper_presets_resize_is_echoprimes_cv2_inter_cubic_and_differs_from_pil_antialias():
    """EchoPrime resizes with cv2.resize(..., INTER_CUBIC), no anti-aliasing (RECIPE.md section 4). On a
    600 x 800 generator cine (grey and tinted), cut to 480 x 480 and shrunk to 224 x 224, the paper preset's
    clips equal OpenCV's resize of the crop within one grey level; PIL's anti-aliased bicubic, on the same
    frames, differs from it by more (so this test can tell the two apart)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())["echo_clips"]
    paper = yaml.safe_load((REPO / "resources/presets/mimic_iv.yaml").read_text())["echo_clips"]
    params = EchoClipPreparation.from_config({**config, **paper, **UNMASKED})
    assert (params.clip_size, params.resize) == (224, "opencv_cubic")
    rng = np.random.default_rng(12)
    heart = sample_hearts(rng, 1).to_dict("records")[0]
    grey = render_echo_view(heart, "A4C", 3, 50.0, 600, 800, rng)
    top, bottom, left, right = centre_crop_box(600, 800, params.zoom)
    assert (bottom - top, right - left) == (480, 480)  # the 600 x 600 centre square less 60 px (10 %) a side
    for frames in (grey, tint(grey)):
        clip, n_valid = prepare_view_clip(frames, params)
        expected = np.stack([cv2.resize(np.ascontiguousarray(frame[top:bottom, left:right]), (224, 224),
                                        interpolation=cv2.INTER_CUBIC) for frame in frames])
        if expected.ndim == 3:
            expected = np.repeat(expected[..., None], 3, axis=-1)
        difference = np.abs(clip[:n_valid].astype(np.int16) - expected)
        assert n_valid == 3 and difference.max() <= 1
        pil, _ = prepare_view_clip(frames, EchoClipPreparation(**{**params.__dict__, "resize": "pil_antialias"}))
        pil_difference = np.abs(pil[:n_valid].astype(np.int16) - expected)
        assert pil_difference.max() > 1 and (pil_difference > 1).mean() > 0.05, (pil_difference.max(),
                                                                                  (pil_difference > 1).mean())


def test_invalid_frames_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        prepare_view_clip(np.zeros((4, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        prepare_view_clip(np.zeros((4, 32, 32, 5), np.uint8))


# --- shards ---------------------------------------------------------------------------

def test_write_clip_shard_streams_a_memory_mappable_npy(tmp_path):
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8) for _ in range(3)]
    items = ((f"view_{i}", clip, n) for i, (clip, n) in enumerate(zip(clips, (16, 10, 1))))
    n = write_clip_shard(items, tmp_path / "clips.npy", tmp_path / "clips.parquet", None)
    assert n == 3
    stored = np.load(tmp_path / "clips.npy", mmap_mode="r")
    assert isinstance(stored, np.memmap) and stored.shape == (3, 16, 8, 8, 3) and stored.dtype == np.uint8
    np.testing.assert_array_equal(stored, np.stack(clips))
    index = pd.read_parquet(tmp_path / "clips.parquet")
    assert list(index.columns) == ["view_id", "row", "n_valid"]
    assert index["view_id"].tolist() == ["view_0", "view_1", "view_2"]
    assert index["row"].tolist() == [0, 1, 2] and index["n_valid"].tolist() == [16, 10, 1]


def test_write_clip_shard_empty_and_bad_items(tmp_path):
    n = write_clip_shard([], tmp_path / "e.npy", tmp_path / "e.parquet", None, clip_shape=(16, 8, 8, 3))
    assert n == 0 and np.load(tmp_path / "e.npy", mmap_mode="r").shape == (0, 16, 8, 8, 3)
    assert len(pd.read_parquet(tmp_path / "e.parquet")) == 0
    good = np.zeros((16, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="view b"):
        write_clip_shard([("a", good, 16), ("b", good[:, :4], 16)], tmp_path / "x.npy", tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="n_valid=17"):
        write_clip_shard([("a", good, 17)], tmp_path / "y.npy", tmp_path / "y.parquet")
    with pytest.raises(ValueError, match="duplicate"):
        write_clip_shard([("a", good, 16), ("a", good, 16)], tmp_path / "z.npy", tmp_path / "z.parquet")


def tip_cine(n_frames: int = 16, height: int = 200, width: int = 260, seed: int = 0, curved_top: bool = False):
    """A fan whose narrow tip is a dim cavity (a dilated LV reaching the probe: lit, never bright),
    or (``curved_top``) a convex-probe fan: black above an arc near the apex."""
    rng = np.random.default_rng(seed)
    sector = fan_sector(height, width)
    yy, xx = np.mgrid[0:height, 0:width]
    depth = np.hypot(yy - 0.06 * height, xx - 0.5 * width) / (0.85 * height)
    frames = np.clip(110.0 * rng.rayleigh(0.8, (n_frames, height, width)), 0, 255).astype(np.uint8) * sector
    tip = sector & (depth < 0.3)
    if curved_top:
        frames[:, tip] = 0
        return frames, sector & ~tip
    frames[:, tip] = rng.integers(4, 12, (n_frames, int(tip.sum())), dtype=np.uint8)
    return frames, sector


def test_a_fan_tip_hidden_by_a_dim_cavity_is_rebuilt_from_the_fans_edges():
    frames, fan = tip_cine()
    for cine in (frames, jpeg_roundtrip(frames)):
        kept, spilled = kept_and_spilled(ultrasound_sector_mask(cine), fan)
        assert kept >= 0.97 and spilled <= 0.01, (kept, spilled)
        # without the rebuilt tip the hull stops below the cavity
        never = SectorMaskParameters(fill_min_lit=2.0)
        assert kept_and_spilled(ultrasound_sector_mask(cine, never), fan)[0] < 0.95


def test_black_above_a_curved_top_is_not_taken_for_a_hidden_tip():
    """A convex probe's fan (black above an arc near the apex): completing the fan adds nothing above
    it. (The hull itself spans the chord under the arc: 1.8 % spill here, a known limit for such fans.)"""
    frames, fan = tip_cine(curved_top=True)
    top = np.flatnonzero(fan.any(axis=1))[0]
    for cine in (frames, jpeg_roundtrip(frames)):
        mask = ultrasound_sector_mask(cine)
        hull_only = ultrasound_sector_mask(cine, SectorMaskParameters(fill_min_lit=2.0))
        assert np.array_equal(mask[:top + 6], hull_only[:top + 6])
        assert kept_and_spilled(mask, fan)[0] >= 0.97
        assert kept_and_spilled(mask, fan)[1] <= kept_and_spilled(hull_only, fan)[1] + 0.001


def chamber_cine(n_frames: int = 16, height: int = 200, width: int = 260, seed: int = 0, hidden: str = "corner",
                 flat_bottom: bool = False):
    """A fan with a dim chamber (lit, never bright: blood) that reaches its edge: ``corner`` -- a
    dilated LV along the right edge from near the apex down to the arc (the hull's chord cuts the
    wedge beside it off); ``arc`` -- two atria across the arc, with only the corners and the septum
    between them reaching it; ``split`` -- a band down the middle cuts the fan into a left and a
    right piece (side by side, as two fans of a dual display are, but with a dim gap, not black). ``flat_bottom``: the fan ends at a straight line above its arc (not a
    circular sector; the arc about the apex would add black)."""
    rng = np.random.default_rng(seed)
    sector = fan_sector(height, width)
    yy, xx = np.mgrid[0:height, 0:width]
    apex_y, apex_x, radius = 0.06 * height, 0.5 * width, 0.85 * height
    depth = np.hypot(yy - apex_y, xx - apex_x) / radius
    angle = np.degrees(np.arctan2(xx - apex_x, yy - apex_y))
    if flat_bottom:
        sector &= yy <= apex_y + 0.75 * radius
    frames = np.clip(110.0 * rng.rayleigh(0.8, (n_frames, height, width)), 0, 255).astype(np.uint8) * sector
    if hidden == "corner":
        chamber = sector & (angle > 12) & (depth > 0.25)
    elif hidden == "split":  # a dim band from the apex to the arc: two pieces, side by side
        chamber = sector & (np.abs(xx - apex_x) < 0.04 * width)
    else:
        chamber = sector & (depth > 0.6) & (np.abs(np.abs(angle) - 18) < 14)
    frames[:, chamber] = rng.integers(4, 12, (n_frames, int(chamber.sum())), dtype=np.uint8)
    return frames, sector


@pytest.mark.parametrize("hidden", ["corner", "arc", "split"])
def test_a_fan_part_hidden_by_a_dim_chamber_is_rebuilt_from_the_fans_edges_and_arc(hidden):
    frames, fan = chamber_cine(hidden=hidden)
    without = SectorMaskParameters(fill_min_lit=2.0)  # never lit enough: the hulls alone, pieces apart
    for cine in (frames, tint(frames), jpeg_roundtrip(frames)):
        kept, spilled = kept_and_spilled(ultrasound_sector_mask(cine), fan)
        assert kept >= 0.97 and spilled <= 0.01, (hidden, kept, spilled)
        assert kept_and_spilled(ultrasound_sector_mask(cine, without), fan)[0] < 0.97  # the hull alone misses it


def test_black_beside_a_fan_that_is_not_a_circular_sector_stays_out():
    """A flat-bottomed fan: the arc through its far corners would bulge into the black below it."""
    frames, fan = chamber_cine(hidden="corner", flat_bottom=True)
    for cine in (frames, jpeg_roundtrip(frames)):
        kept, spilled = kept_and_spilled(ultrasound_sector_mask(cine), fan)
        assert kept >= 0.97 and spilled <= 0.01, (kept, spilled)


def test_a_dilated_ventricle_at_the_fans_edge_keeps_the_generators_fan():
    """Generator cines of a failing, dilated heart (LVEF 20 %, EDV 330 ml), whose LV fills the fan
    to its edge in the apical and parasternal views (before the fan was completed from its edges
    and arc, such views kept 72-78 % of the fan)."""
    height, width = 128, 160
    fan = true_fan_mask(height, width)
    rng = np.random.default_rng(5)
    heart = sample_hearts(rng, 1).iloc[0].to_dict() | {"lvef": 20.0, "lvedv": 330.0, "lvesv": 264.0, "lvsv": 66.0}
    params = EchoClipPreparation(clip_size=64)
    for view_type in ("A4C", "A2C", "PLAX"):
        frames = render_echo_view(heart, view_type, 32, 50.0, height, width, rng)
        for cine in (frames, jpeg_roundtrip(tint(frames))):
            kept, spilled = kept_and_spilled(ultrasound_sector_mask(cine, params.sector), fan)
            assert kept >= 0.97 and spilled <= 0.01, (view_type, kept, spilled)


def test_saturated_calcified_tissue_is_kept_and_thin_burned_in_strokes_are_removed():
    """A saturated blob inside the fan (a calcified valve: most of its pixels clipped to 255 in every
    frame, in thin irregular streaks, the rest dipping below now and then) is content; 1-pixel
    static strokes inside the fan (text, ticks) are marks."""
    frames, fan = tip_cine()
    frames = frames.copy()
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:200, 0:260]
    blob = (yy - 120) ** 2 + (xx - 140) ** 2 <= 6 ** 2
    strokes = np.zeros_like(blob)
    strokes[150, 100:120] = strokes[140:156, 110] = True
    clipped = rng.random(int(blob.sum())) < 0.6
    dips = rng.random((len(frames), int(blob.sum()))) < 0.3
    frames[:, blob] = np.where(clipped | ~dips, 255, rng.integers(200, 255, dips.shape))
    frames[:, strokes] = 230
    mask = ultrasound_sector_mask(frames)
    assert mask[blob].all()
    assert not (mask & strokes).any()
    every_static_stroke = SectorMaskParameters(mark_max_width=0.0)  # without the width rule
    assert ultrasound_sector_mask(frames, every_static_stroke)[blob].mean() < 0.6  # the blob in shreds
