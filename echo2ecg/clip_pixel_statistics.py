"""Pixel statistics of a prepared echo clip: the baseline that the echo embeddings are assessed against
(rule assess_echo_embeddings), computed once per view by rule prepare_echo_clips. A cavity-like dark area
that changes over the cardiac cycle is what a naive read-out of LVEF from pixels would use."""
from __future__ import annotations

import numpy as np

PIXEL_STATISTICS = ("dark_area_max", "dark_area_min", "dark_area_change", "brightness_mean")


def clip_pixel_statistics(clip: np.ndarray, n_valid: int, dark: tuple[int, int] = (6, 45)) -> dict:
    """Four statistics of a uint8 clip (F, S, S, 3): the largest and smallest fraction of dark
    (cavity-like, not black) pixels over its valid frames, their relative change, and the mean
    brightness of the non-black pixels."""
    grey = clip[: max(int(n_valid), 1), ..., 0].astype(np.float32)
    inside = grey > 0
    dark_area = ((grey >= dark[0]) & (grey <= dark[1])).mean(axis=(1, 2))
    largest, smallest = float(dark_area.max()), float(dark_area.min())
    return {
        "dark_area_max": largest,
        "dark_area_min": smallest,
        "dark_area_change": 1.0 - smallest / largest if largest > 0 else 0.0,
        "brightness_mean": float(grey[inside].mean()) if inside.any() else 0.0,
    }
