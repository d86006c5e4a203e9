"""Tests of echo2ecg.preprocess_ecg (recipe section 2)."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from scipy.sparse.linalg import spsolve

from echo2ecg.leads import LEAD_GROUPS, MODEL_LEAD_ORDER
from echo2ecg.preprocess_ecg import (
    ECGPreprocessing,
    asls_baseline,
    clip_ecg,
    ecg_faults,
    lead_group_normalise,
    preprocess_ecg,
    preprocess_ecg_batch,
    resampling_factors,
    to_model_grid,
    write_ecg_shard,
)
from echo2ecg.qc import RecordFault, reason_kind

PARAMS = ECGPreprocessing()
GROUP_ROWS = [[MODEL_LEAD_ORDER.index(lead) for lead in group] for group in LEAD_GROUPS]
LEAD_I, LEAD_II, LEAD_III = (MODEL_LEAD_ORDER.index(lead) for lead in ("I", "II", "III"))


def clean_ecg(rng: np.random.Generator, fs: float = 500.0, seconds: float = 10.0) -> np.ndarray:
    """A baseline-free 12-lead ECG (mV) from a heart dipole: Einthoven/Goldberger relations hold exactly."""
    t = np.arange(int(round(fs * seconds))) / fs
    rr = 60.0 / rng.uniform(55, 95)
    heart = np.zeros((3, t.size))
    for centre, width, amplitude in ((-0.2, 0.025, (0.1, 0.12, 0.02)), (0.0, 0.012, (1.0, 0.8, -0.5)),
                                     (0.03, 0.012, (-0.2, -0.2, 0.6)), (0.3, 0.06, (0.25, 0.2, -0.2))):
        for beat in np.arange(-1, seconds / rr + 1) * rr + rng.uniform(0, rr):
            heart += np.outer(amplitude, np.exp(-0.5 * ((t - beat - centre * rr) / width) ** 2))
    x, y, z = heart
    lead_i, lead_ii = x, 0.5 * x + np.sqrt(3) / 2 * y
    limb = [lead_i, lead_ii, lead_ii - lead_i, -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2, lead_ii - lead_i / 2]
    angles = np.deg2rad([115, 95, 75, 55, 30, 0])
    chest = 1.5 * (np.cos(angles)[:, None] * x + np.sin(angles)[:, None] * z)
    return np.concatenate([np.stack(limb), chest]) + 0.01 * rng.standard_normal((12, t.size))


def wandering_ecg(rng: np.random.Generator, fs: float = 500.0, seconds: float = 10.0) -> np.ndarray:
    """clean_ecg plus per-lead baseline wander, offset and linear drift."""
    ecg = clean_ecg(rng, fs, seconds)
    t = np.arange(ecg.shape[1]) / fs
    wander = 0.3 * np.sin(2 * np.pi * rng.uniform(0.05, 0.4, (12, 1)) * t + rng.uniform(0, 6, (12, 1)))
    return ecg + wander + rng.normal(0, 0.2, (12, 1)) + rng.normal(0, 0.1, (12, 1)) * t / seconds


# ---- an independent implementation of the recipe (per-lead sparse Eilers-Boelens) ----

def eilers_boelens(y: np.ndarray, lam: float, p: float, iterations: int) -> np.ndarray:
    n = y.size
    d = scipy.sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n))  # D: (n-2) x n
    penalty = lam * (d.T @ d)
    w = np.ones(n)
    for _ in range(iterations):
        z = spsolve(scipy.sparse.csc_matrix(scipy.sparse.diags(w) + penalty), w * y)
        w = np.where(y > z, p, 1.0 - p)
    return z


def independent_pipeline(signal: np.ndarray, params: ECGPreprocessing) -> np.ndarray:
    x = np.where(np.isfinite(signal), signal, 0.0).astype(np.float64)
    sd = np.std(x)
    x = np.minimum(np.maximum(x, -params.clip_sd * sd), params.clip_sd * sd)
    x = x - np.stack([eilers_boelens(lead, params.als_lam, params.als_p, params.als_iterations) for lead in x])
    for rows in GROUP_ROWS:
        x[rows] = (x[rows] - x[rows].mean()) / np.sqrt(x[rows].var() + params.group_norm_eps)
    return x


# ---------------------------------------------------------------------------------------------

def test_parameters_from_config():
    assert ECGPreprocessing.from_config({}) == PARAMS
    assert (PARAMS.target_rate_hz, PARAMS.n_samples, PARAMS.clip_sd, PARAMS.als_lam, PARAMS.als_p,
            PARAMS.als_iterations, PARAMS.group_norm_eps) == (500.0, 5000, 4.0, 1e7, 0.3, 5, 1e-12)
    custom = ECGPreprocessing.from_config({"als_lam": 1e6, "n_samples": 2500, "clip_sd": 3})
    assert (custom.als_lam, custom.n_samples, custom.clip_sd, custom.als_p) == (1e6, 2500, 3.0, 0.3)
    with pytest.raises(ValueError, match="als_lamda"):
        ECGPreprocessing.from_config({"als_lamda": 1e7})
    with pytest.raises(ValueError, match="als_iterations"):
        ECGPreprocessing.from_config({"als_iterations": 2.5})
    with pytest.raises(ValueError, match="als_p"):
        ECGPreprocessing.from_config({"als_p": 1.5})


@pytest.mark.parametrize("solver", ["pentapy", "lapack"])
@pytest.mark.parametrize("iterations", [1, 5, 12])
def test_asls_matches_independent_eilers_boelens(solver, iterations):
    rng = np.random.default_rng(iterations)
    y = wandering_ecg(rng, seconds=4.0)[[0, 4, 7]]
    ours = asls_baseline(y, lam=1e7, p=0.3, iterations=iterations, solver=solver)
    reference = np.stack([eilers_boelens(lead, 1e7, 0.3, iterations) for lead in y])
    assert ours.shape == y.shape
    assert np.abs(ours - reference).max() <= 1e-8 * np.abs(y).max()


def test_asls_of_many_series_matches_per_series_solves():
    # more series than one banded solve stacks, converging at different iterations
    rng = np.random.default_rng(11)
    y = np.concatenate([wandering_ecg(rng, seconds=3.0) for _ in range(3)])[:30]
    y[::4] *= rng.uniform(0.2, 5.0, (8, 1))
    ours = asls_baseline(y, lam=1e6, p=0.2, iterations=8)
    reference = np.stack([eilers_boelens(series, 1e6, 0.2, 8) for series in y])
    assert np.abs(ours - reference).max() <= 1e-8 * np.abs(y).max()
    np.testing.assert_allclose(asls_baseline(y.reshape(5, 6, -1), 1e6, 0.2, 8), ours.reshape(5, 6, -1),
                               rtol=0, atol=1e-12)


def test_asls_matches_pybaselines_with_exactly_five_solves():
    pybaselines = pytest.importorskip("pybaselines")
    y = wandering_ecg(np.random.default_rng(3), seconds=4.0)[6]
    fitter = pybaselines.Baseline(np.arange(y.size))
    expected, info = fitter.asls(y, lam=1e7, p=0.3, max_iter=4, tol=-1.0)  # 5 solves, no early stop
    assert len(info["tol_history"]) == 5
    assert np.abs(asls_baseline(y) - expected).max() <= 1e-8 * np.abs(y).max()


def test_asls_removes_linear_drift_and_is_scale_equivariant():
    # D annihilates straight lines and the weights depend only on sign(y - z), so
    # asls(a y + b + c t) = a asls(y) + b + c t for a > 0: a linear drift is removed exactly.
    y = wandering_ecg(np.random.default_rng(4), seconds=4.0)[:2]
    t = np.arange(y.shape[1])
    drift = 0.7 - 2e-4 * t
    moved = asls_baseline(3.0 * y + drift)
    assert np.abs(moved - (3.0 * asls_baseline(y) + drift)).max() < 1e-8
    assert np.abs((3.0 * y + drift - moved) - 3.0 * (y - asls_baseline(y))).max() < 1e-8


@pytest.mark.parametrize("solver", ["pentapy", "lapack"])
def test_pipeline_matches_independent_implementation(solver):
    rng = np.random.default_rng(0)
    signals = [wandering_ecg(rng), clean_ecg(rng)]
    signals[0][3, 100:110] = np.nan
    signals[1][8, 2000] = 25.0  # a spike that clipping limits
    ours = preprocess_ecg_batch(signals, 500.0, PARAMS, dtype=np.float64, solver=solver)
    for signal, out in zip(signals, ours):
        assert np.abs(out - independent_pipeline(signal, PARAMS)).max() <= 1e-6
    single = preprocess_ecg(signals[1], 500.0, PARAMS, solver=solver)  # batching does not change a result
    assert single.dtype == np.float32 and single.shape == (12, 5000)
    np.testing.assert_array_equal(single, ours[1].astype(np.float32))


def test_each_lead_group_has_zero_mean_and_unit_variance():
    out = preprocess_ecg(wandering_ecg(np.random.default_rng(1)), 500.0, PARAMS, dtype=np.float64)
    for rows in GROUP_ROWS:
        assert abs(out[rows].mean()) < 1e-9
        assert abs(out[rows].std() - 1.0) < 1e-9
    # statistics are per group, not per lead: leads of a group keep their relative scale
    assert np.ptp([out[r].std() for r in GROUP_ROWS[2]]) > 0.05


def test_gain_does_not_change_the_output():
    # mV or uV input: clipping bounds scale, ALS is positively homogeneous, z-normalisation removes the gain
    signal = wandering_ecg(np.random.default_rng(2))
    a = preprocess_ecg(signal, 500.0, PARAMS, dtype=np.float64)
    b = preprocess_ecg(1000.0 * signal, 500.0, PARAMS, dtype=np.float64)
    assert np.abs(a - b).max() < 1e-6


def test_lead_relations():
    i, ii, iii = LEAD_I, LEAD_II, LEAD_III
    limb = [i, ii, iii]
    signal = clean_ecg(np.random.default_rng(5))
    signal[iii] = signal[ii] - signal[i]  # exact Einthoven relation, noise included
    # Steps 1-2 are element-wise: where nothing is clipped, III = II - I still holds exactly.
    clipped = clip_ecg(to_model_grid(signal, 500.0, PARAMS)[None], PARAMS.clip_sd)[0]
    unclipped = np.all(clipped[limb] == signal[limb], axis=0)
    assert 0.9 < unclipped.mean() < 1.0  # R peaks of I and II exceed 4 sd of the whole array
    np.testing.assert_allclose(clipped[iii][unclipped], (clipped[ii] - clipped[i])[unclipped], atol=1e-12)
    # Step 4 shares one mean and scale per group: III' = II' - I' - mean / sd, exactly.
    mean, sd = signal[limb].mean(), signal[limb].std()
    normalised = lead_group_normalise(signal[None], 0.0)[0]
    np.testing.assert_allclose(normalised[iii], normalised[ii] - normalised[i] - mean / sd, atol=1e-12)
    # Step 3 fits a baseline per lead with per-lead weights, so after the whole pipeline the
    # relation holds only approximately (up to the offset) for a baseline-free input; shown with
    # clipping out of the way (clipping the R peaks of I and II alone breaks it much more).
    out = preprocess_ecg(signal, 500.0, ECGPreprocessing(clip_sd=50.0), dtype=np.float64)
    residual = out[iii] - (out[ii] - out[i])
    assert np.std(residual) < 0.02
    assert np.corrcoef(out[iii], out[ii] - out[i])[0, 1] > 0.999


def test_resampling_factors():
    assert resampling_factors(250) == (2, 1)
    assert resampling_factors(1000) == (1, 2)
    assert resampling_factors(500) == (1, 1)
    assert resampling_factors(360) == (25, 18)


@pytest.mark.parametrize("rate", [250.0, 1000.0])
def test_resampling_to_500_hz_preserves_a_sinusoid(rate):
    t_in = np.arange(int(10 * rate)) / rate
    phases = np.linspace(0, 2, 12)[:, None]
    signal = np.sin(2 * np.pi * 7.0 * t_in + phases)
    out = to_model_grid(signal, rate, PARAMS)
    t_out = np.arange(5000) / 500.0
    expected = np.sin(2 * np.pi * 7.0 * t_out + phases)
    assert out.shape == (12, 5000)
    interior = slice(50, 4950)  # resample_poly pads with zeros at the record's ends
    assert np.abs(out[:, interior] - expected[:, interior]).max() < 2e-3


def test_records_are_cropped_to_the_first_10_s_or_zero_padded():
    rng = np.random.default_rng(6)
    long = rng.standard_normal((12, 6000))
    np.testing.assert_array_equal(to_model_grid(long, 500.0, PARAMS), long[:, :5000])
    short = rng.standard_normal((12, 4800))
    out = to_model_grid(short, 500.0, PARAMS)
    np.testing.assert_array_equal(out[:, :4800], short)
    assert not out[:, 4800:].any()


def test_non_finite_samples_become_zero():
    rng = np.random.default_rng(7)
    signal = wandering_ecg(rng)
    holes = np.zeros(signal.shape, dtype=bool)
    holes[rng.integers(0, 12, 40), rng.integers(0, 5000, 40)] = True
    dirty = signal.copy()
    dirty[holes] = rng.choice([np.nan, np.inf, -np.inf], holes.sum())
    zeroed = np.where(holes, 0.0, signal)
    out = preprocess_ecg(dirty, 500.0, PARAMS)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, preprocess_ecg(zeroed, 500.0, PARAMS))
    assert np.isfinite(preprocess_ecg(dirty[:, ::2], 250.0, PARAMS)).all()  # no NaN spreading by resampling


def test_clipping_is_plus_minus_4_sd_of_the_whole_array_around_zero():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((12, 5000))
    x[2, 10], x[5, 20] = 80.0, -60.0
    sd = x.std()
    clipped = clip_ecg(x[None], 4.0)[0]
    assert clipped[2, 10] == pytest.approx(4 * sd) and clipped[5, 20] == pytest.approx(-4 * sd)
    inside = np.abs(x) <= 4 * sd
    np.testing.assert_array_equal(clipped[inside], x[inside])
    assert np.abs(clipped).max() == pytest.approx(4 * sd)
    # the interval is centred at 0, not at the mean: an offset array is clipped on one side only
    moved = rng.standard_normal((12, 5000)) + 2.0
    bound = 4 * moved.std()
    offset = clip_ecg(moved[None], 4.0)[0]
    assert (moved > bound).sum() > 10 and offset.max() == pytest.approx(bound)
    assert offset.min() == moved.min() > -bound


def test_fault_detection():
    rng = np.random.default_rng(9)
    good = wandering_ecg(rng)
    assert ecg_faults(good, 500.0, PARAMS) is None
    assert ecg_faults(good[:, :4750], 500.0, PARAMS) is None  # 9.5 s is enough

    reason = ecg_faults(good[:, :4700], 500.0, PARAMS)
    assert reason_kind(reason) == "too short" and "9.40 s" in reason
    assert reason_kind(ecg_faults(good[:, :2300], 250.0, PARAMS)) == "too short"
    assert ecg_faults(good[:, :4700], 500.0, ECGPreprocessing(min_duration_s=9.0)) is None

    bad = good.copy()
    bad[MODEL_LEAD_ORDER.index("V3")] = np.nan
    reason = ecg_faults(bad, 500.0, PARAMS)
    assert reason_kind(reason) == "non-finite lead" and "V3" in reason

    bad = good.copy()
    bad[MODEL_LEAD_ORDER.index("aVL")] = 0.0
    bad[MODEL_LEAD_ORDER.index("aVL"), 7] = np.nan  # zeros plus a gap is still an all-zero lead
    reason = ecg_faults(bad, 500.0, PARAMS)
    assert reason_kind(reason) == "all-zero lead" and "aVL" in reason and "aVR" not in reason

    bad = good.copy()
    bad[[LEAD_II, MODEL_LEAD_ORDER.index("V6")]] = 0.25
    reason = ecg_faults(bad, 500.0, PARAMS)
    assert reason_kind(reason) == "flat lead" and "II" in reason and "V6" in reason and "III" not in reason

    assert reason_kind(ecg_faults(good[:11], 500.0, PARAMS)) == "wrong shape"
    assert reason_kind(ecg_faults(good, 0.0, PARAMS)) == "bad sampling rate"
    partly_missing = good.copy()
    partly_missing[0, :100] = np.nan  # some NaN samples are no fault: they become 0
    assert ecg_faults(partly_missing, 500.0, PARAMS) is None


def test_write_ecg_shard_round_trip(tmp_path, caplog):
    rng = np.random.default_rng(10)
    records = [(f"ecg{i}", wandering_ecg(rng).astype(np.float32), 500.0) for i in range(4)]
    records.insert(2, ("ecg250", wandering_ecg(rng, fs=250.0).astype(np.float32), 250.0))
    records.insert(3, ("flat", np.ones((12, 5000), dtype=np.float32), 500.0))
    faults = []
    npy, index = tmp_path / "shard.npy", tmp_path / "shard.parquet"
    with caplog.at_level(logging.INFO):
        n = write_ecg_shard(iter(records), npy, index, PARAMS, logging.getLogger("test"),
                            batch_size=2, log_every=2, on_fault=lambda i, r: faults.append((i, r)))
    assert n == 5
    assert [i for i, _ in faults] == ["flat"] and reason_kind(faults[0][1]) == "flat lead"
    array = np.load(npy, mmap_mode="r")
    assert isinstance(array, np.memmap) and array.dtype == np.float32 and array.shape == (5, 12, 5000)
    table = pd.read_parquet(index)
    kept = [r for r in records if r[0] != "flat"]
    assert table["ecg_id"].tolist() == [r[0] for r in kept]
    assert table["row"].tolist() == list(range(5))
    assert table["source_sampling_rate"].tolist() == [r[2] for r in kept]
    for row, (_, signal, rate) in enumerate(kept):
        np.testing.assert_allclose(array[row], preprocess_ecg(signal, rate, PARAMS), atol=1e-6)
    assert any("ECGs written" in message for message in caplog.messages)
    assert not list(tmp_path.glob("*.partial"))

    with pytest.raises(RecordFault, match="flat.*flat lead"):
        write_ecg_shard(records, tmp_path / "b.npy", tmp_path / "b.parquet", PARAMS)

    assert write_ecg_shard([], tmp_path / "empty.npy", tmp_path / "empty.parquet", PARAMS) == 0
    assert np.load(tmp_path / "empty.npy", mmap_mode="r").shape == (0, 12, 5000)
    assert len(pd.read_parquet(tmp_path / "empty.parquet")) == 0
