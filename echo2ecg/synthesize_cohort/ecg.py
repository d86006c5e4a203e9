"""12-lead ECGs from a cardiac dipole.

The heart vector (Frank X, Y, Z; X left, Y down, Z back) of each beat is a sum of Gaussian
waves (McSharry et al. 2003, extended to 3-D as in Sameni et al. 2007), each with its own 3-D
amplitude; the latent heart sets the wave vectors and timings: QRS width and a late R' wave
(left-bundle-branch-block pattern, in a minority of failing hearts), the ECG-visible share of LV
remodelling (``ecg_expression``: reduced frontal and larger posterior forces), QRS voltage with wall thickness, T-wave
direction (lateral strain with hypertrophy or a wide QRS), frontal axis, heart rate. Independent
leads I, II, V1..V6 are the Dower projection of the heart vector plus per-lead noise and gain;
III, aVR, aVL, aVF are derived from I and II as an electrocardiograph does, so Einthoven and
Goldberger relations hold exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echo2ecg.leads import MODEL_LEAD_ORDER
from echo2ecg.synthesize_cohort import hearts as _hearts

# Dower (1980) matrix, rows in the model's lead order, columns X, Y, Z (SYNTHETIC.md).
DOWER = np.array([
    [0.632, -0.235, 0.059],
    [0.235, 1.066, -0.132],
    [-0.397, 1.301, -0.191],
    [-0.434, -0.415, 0.037],
    [0.515, -0.768, 0.125],
    [-0.081, 1.184, -0.162],
    [-0.515, 0.157, -0.917],
    [0.044, 0.164, -1.387],
    [0.882, 0.098, -1.277],
    [1.213, 0.127, -0.601],
    [1.125, 0.127, -0.086],
    [0.831, 0.076, 0.230],
])
# Independent leads (the ones an electrocardiograph records): I, II, V1..V6.
INDEPENDENT = np.array([0, 1, 6, 7, 8, 9, 10, 11])
# The order MIMIC-IV-ECG stores its signals in (aVF before aVL).
MIMIC_LEAD_ORDER: tuple[str, ...] = ("I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6")
MIMIC_FROM_MODEL = np.array([MODEL_LEAD_ORDER.index(name) for name in MIMIC_LEAD_ORDER])


@dataclass(frozen=True)
class ECGNoise:
    """Acquisition of one cohort: noise levels (mV), powerline frequency (Hz), gains."""

    baseline_mv: float = 0.15
    powerline_mv: float = 0.02
    powerline_hz: float = 60.0
    muscle_mv: float = 0.015
    lead_gain_sd: float = 0.03
    record_gain_sd: float = 0.05
    motion_probability: float = 0.1


# Downstream cohorts are acquired differently (shifted distributions).
NOISE_PROFILES: dict[str, ECGNoise] = {
    "mimic": ECGNoise(),
    "echonext": ECGNoise(baseline_mv=0.25, powerline_mv=0.03, muscle_mv=0.03, lead_gain_sd=0.06,
                         record_gain_sd=0.12, motion_probability=0.2),
    "ukb": ECGNoise(baseline_mv=0.08, powerline_mv=0.012, powerline_hz=50.0, muscle_mv=0.008,
                    lead_gain_sd=0.02, record_gain_sd=0.04, motion_probability=0.05),
}


def _unit(azimuth_rad: float, elevation_rad: float) -> np.ndarray:
    """Unit vector: azimuth in the frontal plane (0 = left, +90 deg = down), elevation backwards."""
    c = np.cos(elevation_rad)
    return np.array([np.cos(azimuth_rad) * c, np.sin(azimuth_rad) * c, np.sin(elevation_rad)])


def beat_waves(heart: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian waves of one beat: (vectors (W, 3) mV, centres (W,) s after R, widths (W,) s, qt_scale (W,)).

    ``qt_scale`` marks waves whose centre scales with sqrt(RR) (the T wave, Bazett).
    """
    lvef, wall, qrs = float(heart["lvef"]), float(heart["wall_mm"]), float(heart["qrs_ms"]) / 1000.0
    age, sex = float(heart["age"]), int(heart["sex"])
    axis = np.deg2rad(float(heart["axis_deg"]))
    # LV remodelling as this heart's ECG expresses it (all of it for a heart without the latent factor)
    expression = _hearts.ECG_EXPRESSION
    failing = float(np.clip(_hearts.failing_degree(lvef), 0.0, 1.0)) * float(heart.get("ecg_expression", 1.0))
    lbbb = float(np.clip((qrs - 0.105) / 0.04, 0.0, 1.0)) * (0.3 + 0.7 * float(heart.get("lbbb", 1)))
    voltage = 1.25 * (1.0 + 0.11 * (wall - 9.5)) * (1.0 - 0.004 * (age - 55.0)) * (1.0 if sex else 0.88)
    voltage = max(voltage * float(heart.get("voltage_scale", 1.0)), 0.3)
    frontal = np.array([1.0 - expression.frontal_loss * failing, 1.0 - expression.frontal_loss * failing,
                        1.0 + expression.posterior_gain * failing])
    sigma_r = qrs / 7.0
    r_vec = voltage * _unit(axis, 0.35) * frontal
    strain = 1.0 / (1.0 + np.exp(-((wall - 12.5) * 1.5 + (qrs - 0.125) / 0.008)))
    t_sign = 1.0 - 2.0 * strain
    vectors = np.array([
        0.14 * _unit(np.deg2rad(55.0), -0.2),                          # P
        0.18 * (1.0 - lbbb) * np.array([-0.55, 0.1, -0.8]),             # septal Q (lost in LBBB)
        r_vec,                                                          # R
        0.9 * voltage * lbbb * _unit(axis - 0.3, 0.9) * frontal,       # late R' (LBBB)
        0.45 * voltage * (1.0 + expression.s_gain * failing) * np.array([-0.3, -0.35, 0.9]),  # S
        0.32 * (0.5 + 0.5 * voltage) * t_sign * _unit(axis - 0.2, -0.25),  # T
    ])
    centres = np.array([-0.17, -1.6 * sigma_r, 0.0, 1.6 * sigma_r, 2.3 * sigma_r, 0.27])
    widths = np.array([0.022, 0.5 * sigma_r, sigma_r, 1.1 * sigma_r, 0.6 * sigma_r, 0.055 + 0.2 * (qrs - 0.09)])
    qt_scale = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    return vectors, centres, widths, qt_scale


def beat_times(heart_rate: float, duration_s: float, rng: np.random.Generator, hrv: float = 0.03) -> np.ndarray:
    """R-peak times (s) covering [-1, duration + 1], with respiratory sinus arrhythmia and jitter."""
    rr_mean = 60.0 / heart_rate
    n = int((duration_s + 2.0) / rr_mean * 1.3) + 4
    phase = rng.uniform(0.0, 2.0 * np.pi)
    k = np.arange(n)
    rr = rr_mean * (1.0 + hrv * np.sin(2.0 * np.pi * k * rr_mean / 4.0 + phase) + rng.normal(0.0, hrv / 2.0, n))
    times = -1.0 - rng.uniform(0.0, rr_mean) + np.cumsum(rr)
    return times[times < duration_s + 1.0]


def heart_vector(heart: dict, t: np.ndarray, r_times: np.ndarray) -> np.ndarray:
    """Heart vector (3, T) in mV at times ``t`` (s) for beats with R peaks at ``r_times``."""
    vectors, centres, widths, qt_scale = beat_waves(heart)
    rr = np.diff(r_times, append=r_times[-1] + (r_times[-1] - r_times[-2] if len(r_times) > 1 else 1.0))
    tau = t[None, :] - r_times[:, None]                                       # (B, T)
    near = np.abs(tau) < 1.2
    xyz = np.zeros((3, len(t)))
    for w in range(len(centres)):
        centre = centres[w] * (np.sqrt(rr) if qt_scale[w] else 1.0)           # (B,) or scalar
        centre = np.broadcast_to(centre, r_times.shape)[:, None]
        g = np.where(near, np.exp(-0.5 * ((tau - centre) / widths[w]) ** 2), 0.0).sum(axis=0)
        xyz += vectors[w][:, None] * g[None, :]
    return xyz


def derive_limb_leads(independent: np.ndarray) -> np.ndarray:
    """(8, T) leads I, II, V1..V6 -> (12, T) in model order with III, aVR, aVL, aVF derived."""
    lead_i, lead_ii = independent[0], independent[1]
    return np.stack([
        lead_i, lead_ii, lead_ii - lead_i, -(lead_i + lead_ii) / 2.0, lead_i - lead_ii / 2.0,
        lead_ii - lead_i / 2.0, *independent[2:],
    ])


def synthesize_ecg(
    heart: dict,
    rng: np.random.Generator,
    fs: float = 500.0,
    duration_s: float = 10.0,
    noise: ECGNoise = NOISE_PROFILES["mimic"],
) -> np.ndarray:
    """One 12-lead ECG (12, fs * duration) float32 in mV, model lead order."""
    n = int(round(fs * duration_s))
    t = np.arange(n) / fs
    r_times = beat_times(float(heart["heart_rate"]), duration_s, rng)
    xyz = heart_vector(heart, t, r_times)
    leads = DOWER[INDEPENDENT] @ xyz                                          # (8, T)
    # Baseline wander: a shared respiratory component and per-lead drift.
    resp_hz = rng.uniform(0.12, 0.35)
    shared = np.sin(2.0 * np.pi * resp_hz * t + rng.uniform(0, 2 * np.pi))
    slow = rng.uniform(0.03, 0.1, (8, 1))
    wander = noise.baseline_mv * (
        rng.uniform(0.2, 1.0, (8, 1)) * shared[None, :]
        + rng.uniform(0.0, 1.0, (8, 1)) * np.sin(2.0 * np.pi * slow * t[None, :] + rng.uniform(0, 2 * np.pi, (8, 1)))
    )
    powerline = rng.uniform(0.2, 1.0, (8, 1)) * noise.powerline_mv * np.sin(
        2.0 * np.pi * noise.powerline_hz * t[None, :] + rng.uniform(0, 2 * np.pi, (8, 1)))
    muscle = rng.normal(0.0, noise.muscle_mv, (8, n)) * rng.uniform(0.3, 1.0, (8, 1))
    leads = leads + wander + powerline + muscle
    if rng.random() < noise.motion_probability:                              # electrode motion step
        lead, start = rng.integers(8), rng.integers(n // 10, n - n // 10)
        step = rng.normal(0.0, 0.5) * np.exp(-(np.arange(n - start)) / (0.4 * fs))
        leads[lead, start:] += step
    gains = (1.0 + rng.normal(0.0, noise.lead_gain_sd, (8, 1))) * np.exp(rng.normal(0.0, noise.record_gain_sd))
    return derive_limb_leads(leads * gains).astype(np.float32)
