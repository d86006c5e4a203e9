"""Latent hearts: one per patient, driving both the ECG and the echo of every visit.

Ranges follow /work/shared/SYNTHETIC.md: LVEDV about 100-150 mL (larger in men), LVEF normal
>= 50 %, mildly reduced 41-49 %, reduced <= 40 %; wall thickness 6-11 mm normal, >= 12 mm
hypertrophy; frontal QRS axis -30 to +90 degrees normal.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Columns of a latent heart (one row per patient, or per patient visit after drift).
HEART_COLUMNS = (
    "age", "sex", "lvedv", "lvesv", "lvef", "lvsv", "wall_mm", "shd", "heart_rate", "axis_deg",
    "qrs_ms", "lbbb", "voltage_scale", "ecg_expression",
)



@dataclass(frozen=True)
class ECGExpression:
    """How strongly a failing LV shows in the ECG (textbook signs: wider QRS and LBBB, left axis,
    lower frontal and larger posterior forces, deeper S), and how much that varies between hearts.

    ``failing_degree`` rises from 0 at ``ef_onset`` % to 1 at ``ef_onset - ef_span`` %; each heart's
    ECG shows a share ``expression ~ Beta(*expression_beta)`` of it (``remodelling``).
    """

    ef_onset: float = 55.0
    ef_span: float = 30.0
    expression_beta: tuple[float, float] = (2.0, 1.2)
    qrs_ms: float = 25.0               # extra QRS width (ms) at full remodelling
    axis_deg: float = -35.0            # frontal axis shift (degrees) at full remodelling
    heart_rate: float = 5.0            # beats/min at full remodelling
    lbbb_per_failing: float = 0.3      # added probability of LBBB at full failing degree
    frontal_loss: float = 0.3          # share of frontal (X, Y) QRS force lost at full remodelling
    posterior_gain: float = 0.4        # added posterior (Z) QRS force (poor R-wave progression)
    s_gain: float = 0.5                # added S-wave depth


# The generator's ECG expression of LV failure (module-level so that a sweep can swap it).
ECG_EXPRESSION = ECGExpression()

# Share of reduced (<= 40 %), mildly reduced (41-49 %) and normal (>= 50 %) LVEF.
DEFAULT_EF_MIX = (0.22, 0.16, 0.62)


def qrs_duration_ms(remodelling: np.ndarray, wall_mm: np.ndarray) -> np.ndarray:
    """Extra QRS width (ms) from LV remodelling as the ECG expresses it, and from wall thickness."""
    return ECG_EXPRESSION.qrs_ms * remodelling + 1.5 * np.clip(wall_mm - 10.0, 0.0, None)


def failing_degree(lvef: np.ndarray) -> np.ndarray:
    """How far an LV has failed: 0 at LVEF >= ``ef_onset`` (55 %), 1 at ``ef_onset - ef_span`` (25 %)."""
    e = ECG_EXPRESSION
    return np.clip((e.ef_onset - np.asarray(lvef, dtype=float)) / e.ef_span, 0.0, 1.2)


def ecg_remodelling(hearts: pd.DataFrame | dict) -> np.ndarray:
    """LV remodelling as the ECG shows it (0-1): failing degree times the heart's ``ecg_expression``."""
    return np.clip(failing_degree(hearts["lvef"]), 0.0, 1.0) * np.asarray(hearts["ecg_expression"], dtype=float)


def sample_hearts(
    rng: np.random.Generator,
    n: int,
    age_mean: float = 62.0,
    age_sd: float = 14.0,
    male_fraction: float = 0.55,
    ef_mix: tuple[float, float, float] = DEFAULT_EF_MIX,
    hypertrophy_fraction: float = 0.2,
) -> pd.DataFrame:
    """Draw ``n`` latent hearts (ages in years, sex 1 male / 0 female, volumes in mL, EF in %)."""
    sex = (rng.random(n) < male_fraction).astype(np.int64)
    age = np.clip(rng.normal(age_mean, age_sd, n), 18.0, 95.0)
    group = rng.choice(3, size=n, p=np.asarray(ef_mix) / np.sum(ef_mix))
    lvef = np.select(
        [group == 0, group == 1],
        [rng.uniform(15.0, 40.0, n), rng.uniform(41.0, 49.0, n)],
        rng.normal(60.0, 5.0, n).clip(50.0, 75.0),
    )
    # Healthy EDV by sex; a failing ventricle dilates (eccentric remodelling).
    base_edv = np.where(sex == 1, rng.normal(135.0, 18.0, n), rng.normal(108.0, 15.0, n)).clip(70.0, 190.0)
    dilation = 1.0 + 1.3 * np.clip((52.0 - lvef) / 35.0, 0.0, None) * rng.uniform(0.6, 1.2, n)
    lvedv = base_edv * dilation
    lvesv = lvedv * (1.0 - lvef / 100.0)
    # Wall thickness: normal 7-11 mm; concentric hypertrophy in a share (older more often).
    wall_mm = rng.normal(9.0, 1.1, n) + np.where(sex == 1, 0.6, 0.0)
    hyper = rng.random(n) < hypertrophy_fraction * (0.5 + (age - 18.0) / 60.0)
    wall_mm = np.where(hyper, rng.uniform(12.0, 17.0, n), wall_mm).clip(6.0, 18.0)
    # Valve disease (moderate or greater): age, reduced EF and hypertrophy raise the odds.
    logit = -3.0 + 0.045 * (age - 60.0) + 1.2 * (lvef < 45) + 0.8 * hyper
    shd = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    # The ECG shows the failing, dilated LV only partially: how much varies widely from heart to
    # heart (``ecg_remodelling``), and EF-independent factors (habitus, age, sex, conduction disease
    # of its own, a random axis) dominate the between-patient spread of every ECG feature.
    failing = np.clip(failing_degree(lvef), 0.0, 1.0)
    expression = rng.beta(*ECG_EXPRESSION.expression_beta, n)
    remodelling = failing * expression
    heart_rate = np.clip(rng.normal(71.0, 12.0, n) + ECG_EXPRESSION.heart_rate * remodelling, 45.0, 125.0)
    # Left anterior fascicular block (age-related, EF-independent) pulls the axis left.
    lafb = rng.random(n) < 0.03 + 0.07 * np.clip((age - 50.0) / 30.0, 0.0, 1.0)
    axis_deg = rng.normal(42.0, 28.0, n) - 0.3 * (age - 60.0) + ECG_EXPRESSION.axis_deg * remodelling
    axis_deg = np.clip(np.where(lafb, rng.uniform(-75.0, -40.0, n), axis_deg), -80.0, 110.0)
    hearts = pd.DataFrame({
        "age": age, "sex": sex, "lvedv": lvedv, "lvesv": lvesv, "lvef": lvef,
        "lvsv": lvedv - lvesv, "wall_mm": wall_mm, "shd": shd, "heart_rate": heart_rate,
        "axis_deg": axis_deg,
    })
    # Left bundle branch block (adds 30-55 ms of QRS): in a minority of failing hearts, and from
    # conduction disease of its own (age) in some normal ones.
    p_lbbb = 0.02 + 0.04 * np.clip((age - 55.0) / 30.0, 0.0, 1.0) + ECG_EXPRESSION.lbbb_per_failing * failing
    lbbb = (rng.random(n) < p_lbbb).astype(np.int64)
    base_qrs = rng.normal(88.0, 8.0, n) + np.where(sex == 1, 6.0, 0.0) + 0.12 * (age - 60.0)
    hearts["qrs_ms"] = np.clip(base_qrs + qrs_duration_ms(remodelling, wall_mm) + lbbb * rng.uniform(30.0, 55.0, n),
                               66.0, 200.0)
    hearts["lbbb"] = lbbb
    # Body habitus and lead placement scale all voltages (obesity, chest wall).
    hearts["voltage_scale"] = np.exp(rng.normal(0.0, 0.28, n))
    hearts["ecg_expression"] = expression
    return hearts


def drift_hearts(
    heart: dict,
    days: np.ndarray,
    rng: np.random.Generator,
    ef_sd_per_year: float = 3.0,
    edv_sd_per_year: float = 0.04,
    hr_visit_sd: float = 6.0,
) -> pd.DataFrame:
    """The same heart at visits ``days`` (sorted, days since the first visit): slow random walk.

    LVEF and EDV drift as a random walk whose variance grows with the time between visits; heart
    rate varies from visit to visit; age advances. Derived quantities stay consistent.
    """
    days = np.asarray(days, dtype=float)
    n = len(days)
    years = np.diff(np.concatenate([[days[0] if n else 0.0], days])) / 365.25
    step = np.sqrt(np.clip(years, 0.0, None))
    lvef = np.clip(heart["lvef"] + np.cumsum(rng.normal(0.0, ef_sd_per_year, n) * step), 10.0, 78.0)
    lvedv = heart["lvedv"] * np.exp(np.cumsum(rng.normal(0.0, edv_sd_per_year, n) * step))
    lvesv = lvedv * (1.0 - lvef / 100.0)
    wall = np.clip(heart["wall_mm"] + np.cumsum(rng.normal(0.0, 0.3, n) * step), 6.0, 18.0)
    sex = np.full(n, int(heart["sex"]))
    out = pd.DataFrame({
        "age": heart["age"] + (days - days[0] if n else days) / 365.25,
        "sex": sex,
        "lvedv": lvedv, "lvesv": lvesv, "lvef": lvef, "lvsv": lvedv - lvesv, "wall_mm": wall,
        "shd": np.full(n, int(heart["shd"])),
        "heart_rate": np.clip(heart["heart_rate"] + rng.normal(0.0, hr_visit_sd, n), 40.0, 140.0),
        "axis_deg": heart["axis_deg"] + rng.normal(0.0, 4.0, n),
    })
    out["lbbb"] = int(heart["lbbb"])
    out["voltage_scale"] = float(heart["voltage_scale"])
    out["ecg_expression"] = float(heart["ecg_expression"])
    # QRS width follows the EF drift as strongly as this heart's ECG expresses its LV disease.
    out["qrs_ms"] = heart["qrs_ms"] + qrs_duration_ms(ecg_remodelling(out), wall) - qrs_duration_ms(
        ecg_remodelling(pd.DataFrame([heart])), np.array([float(heart["wall_mm"])]))
    return out
