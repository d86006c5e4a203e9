"""ECG augmentations: each keeps the shape and does what it promises, at the right rate."""
import math

import pytest
import torch

from echo2ecg.augment import (
    AugmentConfig,
    augment_ecg_batch,
    first_window,
    ft_surrogate,
    jitter,
    random_window,
    rescale,
    sign_flip,
    time_flip,
)

N = 4000  # samples for the rate checks: 4 binomial standard deviations at p = 0.5 is 0.032


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def ecgs(B=N, T=64, seed=1):
    return torch.randn(B, 12, T, generator=gen(seed))


def within(rate, p, n=N):
    return abs(rate - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_recipe_defaults():
    cfg = AugmentConfig()
    assert (cfg.ft_surrogate_phase_noise, cfg.ft_surrogate_p) == (0.075, 0.5)
    assert (cfg.jitter_amplitude, cfg.jitter_sigma) == (0.6, 0.2)
    assert (cfg.rescaling_mean, cfg.rescaling_sigma) == (1.0, 0.5)
    assert (cfg.time_flip_p, cfg.sign_flip_p) == (0.33, 0.33)


@pytest.mark.parametrize("T", [64, 63])
def test_ft_surrogate_keeps_the_amplitude_spectrum_at_rate_p(T):
    x = ecgs(T=T)
    y = ft_surrogate(x, 0.075, 0.5, gen())
    assert y.shape == x.shape and y.dtype == x.dtype
    changed = (y != x).flatten(1).any(1)
    assert within(changed.float().mean().item(), 0.5)
    X, Y = torch.fft.rfft(x.double(), dim=-1), torch.fft.rfft(y.double(), dim=-1)
    assert torch.allclose(Y.abs(), X.abs(), atol=1e-4)
    # the phase shift of each bin is in [0, 2 pi 0.075] and shared by all leads of a sample
    shift = torch.angle(Y[changed] * X[changed].conj())[:, :, 1:T // 2 if T % 2 == 0 else None]
    assert shift.min() > -1e-3 and shift.max() < 2 * math.pi * 0.075 + 1e-3
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-3)
    assert shift.mean().item() == pytest.approx(math.pi * 0.075, rel=0.05)  # uniform: mean at half the range
    assert torch.allclose(y.mean(-1), x.mean(-1), atol=1e-5)  # DC untouched


def test_jitter_is_multiplicative_noise_of_the_right_size():
    x = ecgs(B=500) + 3.0  # away from zero, so the relative noise is well defined
    y = jitter(x, 0.6, 0.2, gen())
    assert y.shape == x.shape
    relative = (y - x) / x  # = 0.6 * N(0, 0.2)
    assert relative.mean().item() == pytest.approx(0.0, abs=2e-3)
    assert relative.std().item() == pytest.approx(0.6 * 0.2, rel=0.01)
    assert torch.equal(jitter(torch.zeros(2, 12, 8), 0.6, 0.2, gen()), torch.zeros(2, 12, 8))


def test_rescaling_one_factor_per_sample():
    x = ecgs() + 3.0
    y = rescale(x, 1.0, 0.5, gen())
    factor = y / x
    assert torch.allclose(factor, factor[:, :1, :1].expand_as(factor), atol=1e-5)
    f = factor[:, 0, 0]
    assert f.mean().item() == pytest.approx(1.0, abs=4 * 0.5 / math.sqrt(N))
    assert f.std().item() == pytest.approx(0.5, rel=0.05)


def test_time_flip_and_sign_flip_at_their_rates():
    x = ecgs()
    y = time_flip(x, 0.33, gen())
    flipped = (y == x.flip(-1)).flatten(1).all(1)
    kept = (y == x).flatten(1).all(1)
    assert torch.all(flipped ^ kept) and within(flipped.float().mean().item(), 0.33)
    z = sign_flip(x, 0.33, gen(5))
    negated = (z == -x).flatten(1).all(1)
    assert torch.all(negated ^ (z == x).flatten(1).all(1)) and within(negated.float().mean().item(), 0.33)


def test_full_chain_keeps_shape_and_is_seeded():
    x = ecgs(B=64, T=1008)
    cfg = AugmentConfig()
    a, b = augment_ecg_batch(x, cfg, gen(3)), augment_ecg_batch(x, cfg, gen(3))
    assert a.shape == x.shape and torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert not torch.equal(a, augment_ecg_batch(x, cfg, gen(4)))
    # with every probability and noise at zero the chain is the identity
    off = AugmentConfig(ft_surrogate_p=0.0, jitter_amplitude=0.0, rescaling_sigma=0.0, time_flip_p=0.0, sign_flip_p=0.0)
    assert torch.equal(augment_ecg_batch(x, off, gen()), x)


def test_sign_flip_rate_in_the_full_chain():
    # a constant positive ECG: only the sign flip can make its mean negative (rescaling by N(1, 0.5)
    # is negative with probability 2.3 %, so turn rescaling noise off here)
    x = torch.ones(N, 12, 48)
    cfg = AugmentConfig(rescaling_sigma=0.0)
    y = augment_ecg_batch(x, cfg, gen())
    assert within((y.mean((1, 2)) < 0).float().mean().item(), 0.33)


def test_random_window_takes_contiguous_windows_everywhere():
    B, T, length = 2000, 60, 24
    x = torch.arange(T, dtype=torch.float32).expand(B, 12, T).clone()
    w = random_window(x, length, gen())
    assert w.shape == (B, 12, length)
    start = w[:, 0, 0]
    assert torch.equal(w, (start.view(B, 1, 1) + torch.arange(length)).expand(B, 12, length))
    counts = torch.bincount(start.long(), minlength=T - length + 1)
    assert counts.numel() == T - length + 1 and (counts > 0).all()  # every start 0 .. T - length occurs
    with pytest.raises(ValueError):
        random_window(x, T + 1, gen())


def test_first_window():
    x = ecgs(B=3, T=5000)
    assert torch.equal(first_window(x, 1008), x[..., :1008])
