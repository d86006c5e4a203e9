"""ECG pre-training augmentations and windows (RECIPE.md section 2; OTiS / MMCL lineage).

Applied in this order to a batch ``(B, leads, T)``, every draw independent per sample:

1. Fourier-transform surrogate, with probability ``ft_surrogate_p`` (0.5): the phase of every
   frequency bin except DC (and Nyquist for even T) is shifted by ``2 pi * phase_noise * U(0, 1)``
   (phase noise 0.075), the same shift for all leads of a sample (braindecode's
   ``ft_surrogate`` with ``channel_indep=False``); the amplitude spectrum is kept.
2. Jitter: ``x + jitter_amplitude * x * N(0, jitter_sigma)`` per element (0.6 and std 0.2), i.e.
   multiplicative noise of std 0.12.
3. Rescaling: ``x * N(rescaling_mean, rescaling_sigma)``, one scalar per sample (1 and std 0.5).
4. Time flip (reverse the time axis) with probability ``time_flip_p`` (0.33).
5. Sign flip (``-x``) with probability ``sign_flip_p`` (0.33).

Training takes a random ``n_samples`` (1008) window of the 5000 (:func:`random_window`); feature
extraction takes the first ``n_samples`` (:func:`first_window`) and no augmentation.
All functions are batched tensor operations drawing from a ``torch.Generator`` on the data's
device, so they run where the data is (the GPU in pre-training) without host work.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class AugmentConfig:
    ft_surrogate_phase_noise: float = 0.075
    ft_surrogate_p: float = 0.5
    jitter_amplitude: float = 0.6
    jitter_sigma: float = 0.2
    rescaling_mean: float = 1.0
    rescaling_sigma: float = 0.5
    time_flip_p: float = 0.33
    sign_flip_p: float = 0.33


def _uniform(shape, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=x.device, dtype=torch.float32)


def _normal(shape, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=x.device, dtype=torch.float32)


def _per_sample(mask: torch.Tensor) -> torch.Tensor:
    return mask.view(-1, 1, 1)


def ft_surrogate(x: torch.Tensor, phase_noise: float, p: float, generator: torch.Generator) -> torch.Tensor:
    """Random phase shifts of the spectrum (one set per sample, shared by its leads) with probability ``p``."""
    B, _, T = x.shape
    apply = _uniform((B,), x, generator) < p
    phase = 2 * math.pi * phase_noise * _uniform((B, 1, T // 2 + 1), x, generator)
    phase[..., 0] = 0.0  # DC stays real
    if T % 2 == 0:
        phase[..., -1] = 0.0  # so does the Nyquist bin
    spectrum = torch.fft.rfft(x.float(), dim=-1) * torch.polar(torch.ones_like(phase), phase)
    shifted = torch.fft.irfft(spectrum, n=T, dim=-1).to(x.dtype)
    return torch.where(_per_sample(apply), shifted, x)


def jitter(x: torch.Tensor, amplitude: float, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """``x + amplitude * x * N(0, sigma)`` element-wise."""
    return x + amplitude * x * (sigma * _normal(x.shape, x, generator)).to(x.dtype)


def rescale(x: torch.Tensor, mean: float, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """``x * N(mean, sigma)``, one factor per sample."""
    return x * (mean + sigma * _normal((x.shape[0], 1, 1), x, generator)).to(x.dtype)


def time_flip(x: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    apply = _uniform((x.shape[0],), x, generator) < p
    return torch.where(_per_sample(apply), x.flip(-1), x)


def sign_flip(x: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    apply = _uniform((x.shape[0],), x, generator) < p
    return torch.where(_per_sample(apply), -x, x)


def augment_ecg_batch(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """All five augmentations, in the recipe's order, on a batch ``(B, leads, T)``."""
    x = ft_surrogate(x, cfg.ft_surrogate_phase_noise, cfg.ft_surrogate_p, generator)
    x = jitter(x, cfg.jitter_amplitude, cfg.jitter_sigma, generator)
    x = rescale(x, cfg.rescaling_mean, cfg.rescaling_sigma, generator)
    x = time_flip(x, cfg.time_flip_p, generator)
    return sign_flip(x, cfg.sign_flip_p, generator)


def random_window(x: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """A random ``length``-sample window of each ECG ``(B, leads, T)``, start uniform in ``0 .. T - length``."""
    B, L, T = x.shape
    if length > T:
        raise ValueError(f"window of {length} samples longer than the ECG ({T})")
    start = torch.randint(0, T - length + 1, (B, 1), generator=generator, device=x.device)
    index = (start + torch.arange(length, device=x.device)).unsqueeze(1).expand(B, L, length)
    return x.gather(2, index)


def first_window(x: torch.Tensor, length: int) -> torch.Tensor:
    """The first ``length`` samples of each ECG (feature extraction)."""
    if length > x.shape[-1]:
        raise ValueError(f"window of {length} samples longer than the ECG ({x.shape[-1]})")
    return x[..., :length]
