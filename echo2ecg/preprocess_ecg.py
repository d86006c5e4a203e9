"""ECG preprocessing (recipe section 2): 12-lead ECGs -> float32 (12, 5000) model inputs.

Per ECG, in this order:

0. Put the record on the model's time grid: 500 Hz, exactly 5000 samples (10 s). Records at
   another rate (EchoNext 250 Hz, DICOM ECG 1000 Hz) are resampled with
   ``scipy.signal.resample_poly`` using the rational factor up/down = 500 / rate (reduced, e.g.
   250 Hz -> up 2, down 1; 1000 Hz -> up 1, down 2; 360 Hz -> up 25, down 18), i.e. a
   Kaiser-windowed polyphase FIR anti-aliasing filter. The first 10 s are kept; a record that is
   shorter (but not shorter than ``min_duration_s``, see :func:`ecg_faults`) is zero-padded at the
   end. Non-finite samples are set to 0 *before* resampling (so that one NaN does not spread over
   the filter's support); at 500 Hz this is exactly the recipe's step 1.
1. NaN / +-inf -> 0.
2. Clip to +-``clip_sd`` standard deviations, one standard deviation over the whole 12 x T array.
   The interval is centred at 0, i.e. ``[-4 sd, +4 sd]``, as in the OTiS / MMCL-ECG-CMR lineage the
   recipe follows (``np.clip(x, -4 * x.std(), 4 * x.std())``; the std itself is taken around the
   array mean). ECGs are stored relative to 0 mV, so this differs from a mean-centred interval only
   for records with a large DC offset.
3. Baseline removal per lead by asymmetric least squares (Eilers & Boelens 2005): solve
   ``(W + lam D'D) z = W y`` with D the second-difference operator, starting from W = I and
   reweighting ``w = p where y > z else 1 - p``; exactly ``als_iterations`` solves (no early stop),
   then ``x = y - z``. This is pybaselines' ``asls(lam, p, max_iter=als_iterations - 1, tol=-1)``.
4. Lead-group z-normalisation over the groups of :data:`echo2ecg.leads.LEAD_GROUPS`: per group,
   mean and variance over all its leads and samples, ``x = (x - mean) / sqrt(var + eps)``.

Speed (more than 20x the per-lead scipy.sparse spsolve reference, see
benchmarks/bench_preprocess_ecg.py): the systems of several leads are stacked into one
block-diagonal penta-diagonal system and solved in one call of pentapy's PTRANS-I solver (LAPACK
``pbsv`` via ``scipy.linalg.solveh_banded`` without pentapy), and a lead whose weights stopped
changing is at its fixed point and is not solved again. Both are exact: tests match an
independent per-lead spsolve implementation to 1e-6 after normalisation.
"""
from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from fractions import Fraction
from functools import lru_cache

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.signal

from echo2ecg.leads import LEAD_GROUPS, MODEL_LEAD_ORDER
from echo2ecg.qc import RecordFault

try:  # pentapy is in the pinned requirements; LAPACK is the fallback
    import pentapy
except ImportError:  # pragma: no cover - exercised only without pentapy
    pentapy = None

N_LEADS = len(MODEL_LEAD_ORDER)
# Series stacked into one banded solve. Small stacks keep the solver's work arrays in cache and
# under glibc's mmap threshold (12 series of 5000 samples: ~1700 page faults per ECG, 4: none).
SERIES_PER_SOLVE = 4

# Row indices of each lead group in the model lead order.
LEAD_GROUP_ROWS: tuple[tuple[int, ...], ...] = tuple(
    tuple(MODEL_LEAD_ORDER.index(lead) for lead in group) for group in LEAD_GROUPS
)


@dataclass(frozen=True)
class ECGPreprocessing:
    """Parameters of the ECG preprocessing; defaults are the recipe's values (section 2)."""

    target_rate_hz: float = 500.0
    n_samples: int = 5000
    clip_sd: float = 4.0
    als_lam: float = 1e7
    als_p: float = 0.3
    als_iterations: int = 5
    group_norm_eps: float = 1e-12
    min_duration_s: float = 9.5  # shorter records are a fault (see ecg_faults)

    def __post_init__(self) -> None:
        if self.target_rate_hz <= 0 or self.n_samples < 3:
            raise ValueError("ecg_preprocessing: target_rate_hz must be > 0 and n_samples >= 3")
        if not 0.0 < self.als_p < 1.0:
            raise ValueError(f"ecg_preprocessing.als_p must lie in (0, 1), got {self.als_p}")
        if self.als_lam <= 0 or self.als_iterations < 1:
            raise ValueError("ecg_preprocessing: als_lam must be > 0 and als_iterations >= 1")
        if self.clip_sd <= 0 or self.group_norm_eps < 0 or self.min_duration_s < 0:
            raise ValueError("ecg_preprocessing: clip_sd must be > 0, group_norm_eps and min_duration_s >= 0")

    @classmethod
    def from_config(cls, section: Mapping | None) -> "ECGPreprocessing":
        """Build from the config section ``ecg_preprocessing``; an unknown key is an error naming it."""
        section = dict(section or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(section) - set(known))
        if unknown:
            raise ValueError(f"ecg_preprocessing: unknown key(s) {unknown}; known keys: {known}")
        integers = {"n_samples", "als_iterations"}
        values = {}
        for key, value in section.items():
            kind = int if key in integers else float
            not_number = isinstance(value, bool) or not isinstance(value, (int, float))
            if not_number or (kind is int and value != int(value)):
                expected = "an integer" if kind is int else "a number"
                raise ValueError(f"ecg_preprocessing.{key} must be {expected}, got {value!r}")
            values[key] = kind(value)
        return cls(**values)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.target_rate_hz


# ---------------------------------------------------------------------------------------------
# QC: faults that exclude an ECG (the caller writes them into the ledger)
# ---------------------------------------------------------------------------------------------

def ecg_faults(signal: np.ndarray, sampling_rate: float, params: ECGPreprocessing = ECGPreprocessing()) -> str | None:
    """The reason ``"<kind>: ..."`` why an ECG cannot be used, or None when it can.

    Kinds, checked in this order: ``wrong shape``, ``bad sampling rate``, ``too short``
    (under ``params.min_duration_s``), ``non-finite lead`` (a lead without one finite sample),
    ``all-zero lead`` (every finite sample is 0), ``flat lead`` (all finite samples equal).
    Leads are named in the model lead order.
    """
    signal = np.asarray(signal)
    if signal.ndim != 2 or signal.shape[0] != N_LEADS:
        return f"wrong shape: expected ({N_LEADS}, T) in model lead order, got {signal.shape}"
    if not np.isfinite(sampling_rate) or sampling_rate <= 0:
        return f"bad sampling rate: {sampling_rate!r} Hz"
    n = signal.shape[1]
    duration = n / float(sampling_rate)
    if duration < params.min_duration_s:
        return (f"too short: {duration:.2f} s ({n} samples at {sampling_rate:g} Hz), "
                f"at least {params.min_duration_s:g} s required")
    finite = np.isfinite(signal)
    no_finite = ~finite.any(axis=1)
    if no_finite.any():
        return f"non-finite lead: {_lead_list(no_finite)} without any finite sample"
    # a lead is constant over its finite samples exactly when their max and min agree
    hi = np.where(finite, signal, -np.inf).max(axis=1)
    lo = np.where(finite, signal, np.inf).min(axis=1)
    all_zero = (hi == 0) & (lo == 0)
    if all_zero.any():
        return f"all-zero lead: {_lead_list(all_zero)} all zeros"
    flat = hi == lo
    if flat.any():
        return f"flat lead: {_lead_list(flat)} flat (all samples equal)"
    return None


def _lead_list(mask: np.ndarray) -> str:
    names = [MODEL_LEAD_ORDER[i] for i in np.flatnonzero(mask)]
    return ("lead " + names[0] + " is") if len(names) == 1 else ("leads " + ", ".join(names) + " are")


# ---------------------------------------------------------------------------------------------
# Step 0: time grid
# ---------------------------------------------------------------------------------------------

def resampling_factors(sampling_rate: float, target_rate_hz: float = 500.0,
                       max_denominator: int = 1000) -> tuple[int, int]:
    """The reduced integers (up, down) with up / down = target / rate, as resample_poly takes them."""
    ratio = (Fraction(target_rate_hz).limit_denominator(max_denominator)
             / Fraction(sampling_rate).limit_denominator(max_denominator)).limit_denominator(max_denominator)
    return ratio.numerator, ratio.denominator


def to_model_grid(signal: np.ndarray, sampling_rate: float,
                  params: ECGPreprocessing = ECGPreprocessing()) -> np.ndarray:
    """Float64 (12, n_samples): non-finite -> 0, resampled to the target rate, first n_samples kept,
    zero-padded at the end when shorter."""
    x = np.nan_to_num(np.array(signal, dtype=np.float64), copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    up, down = resampling_factors(sampling_rate, params.target_rate_hz)
    if (up, down) != (1, 1):
        # Keep the first 10 s plus a margin covering the filter, so the end of the window is not
        # distorted by the zero padding resample_poly applies at the record's end.
        keep = int(np.ceil(params.n_samples * down / up)) + 10 * max(up, down)
        x = scipy.signal.resample_poly(x[:, :keep], up, down, axis=-1)
    out = np.zeros((x.shape[0], params.n_samples), dtype=np.float64)
    n = min(x.shape[1], params.n_samples)
    out[:, :n] = x[:, :n]
    return out


# ---------------------------------------------------------------------------------------------
# Steps 2-4 (work on (..., 12, T) arrays, one set of statistics per ECG)
# ---------------------------------------------------------------------------------------------

def clip_ecg(x: np.ndarray, clip_sd: float = 4.0) -> np.ndarray:
    """Clip each ECG of a (..., 12, T) array to [-clip_sd * sd, +clip_sd * sd], sd over its 12 x T values."""
    bound = clip_sd * x.std(axis=(-2, -1), keepdims=True)
    return np.clip(x, -bound, bound)


@lru_cache(maxsize=8)
def _second_difference_penalty(n: int, lam: float) -> np.ndarray:
    """lam * D'D for one series of length n as a (5, n) row-wise banded matrix, pentapy's flat
    layout: row k holds the diagonal with offset 2 - k, indexed by matrix row
    (``ab[2 - k, i] = A[i, i + k]``). Entries that fall outside the matrix are 0, so tiling it
    along the columns gives the block-diagonal matrix of independent series. Read-only, cached."""
    ab = np.zeros((5, n))
    ab[0, :-2] = 1.0
    ab[1, :-1] = -4.0
    ab[1, [0, n - 2]] = -2.0
    ab[2, :] = 6.0
    ab[2, [0, n - 1]] = 1.0
    ab[2, [1, n - 2]] = 5.0
    ab[3, 1:] = ab[1, :-1]
    ab[4, 2:] = ab[0, :-2]
    ab *= lam
    ab.flags.writeable = False
    return ab


@lru_cache(maxsize=4)
def _tiled_penalty(n: int, lam: float, n_series: int) -> np.ndarray:
    """lam * D'D for n_series independent series of length n (block diagonal), row-wise banded."""
    tiled = np.tile(_second_difference_penalty(n, lam), (1, n_series))
    tiled.flags.writeable = False
    return tiled


def _solve_banded_spd(ab: np.ndarray, rhs: np.ndarray, solver: str) -> np.ndarray:
    """Solve the symmetric positive definite penta-diagonal system given in row-wise banded form."""
    if solver == "pentapy":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            z = pentapy.solve(ab, rhs, is_flat=True, index_row_wise=True, solver=1)
        if np.isfinite(z).all():
            return z
        # PTRANS-I does not pivot; an SPD system never needs it, but fall back rather than guess.
    upper = np.zeros((3, ab.shape[1]))  # LAPACK's upper form: upper[2 + i - j, j] = A[i, j]
    upper[0, 2:] = ab[0, :-2]
    upper[1, 1:] = ab[1, :-1]
    upper[2] = ab[2]
    return scipy.linalg.solveh_banded(upper, rhs, lower=False, overwrite_ab=True, check_finite=False)


def asls_baseline(y: np.ndarray, lam: float = 1e7, p: float = 0.3, iterations: int = 5,
                  solver: str | None = None) -> np.ndarray:
    """Asymmetric least squares baseline (Eilers & Boelens) of every series along the last axis.

    The result of exactly ``iterations`` solves of ``(W + lam D'D) z = W y``, starting from W = I
    and reweighting ``w = p where y > z else 1 - p``. One exact shortcut, no approximation: a
    series whose weights did not change since its last solve is at a fixed point (solving again
    returns the same z), so only series whose weights changed are solved again.
    Up to SERIES_PER_SOLVE series are stacked into one block-diagonal penta-diagonal system.
    ``solver``: ``"pentapy"`` (default when installed, PTRANS-I) or ``"lapack"``
    (``scipy.linalg.solveh_banded``).
    """
    y = np.asarray(y, dtype=np.float64)
    shape = y.shape
    n = shape[-1]
    if n < 3:
        raise ValueError(f"asls_baseline needs series of at least 3 samples, got {n}")
    series = y.reshape(-1, n)
    solver = solver or ("pentapy" if pentapy is not None else "lapack")
    if solver not in ("pentapy", "lapack"):
        raise ValueError(f"unknown solver {solver!r}; use 'pentapy' or 'lapack'")
    if solver == "pentapy" and pentapy is None:
        raise ImportError("solver='pentapy' needs the pentapy package")
    lam = float(lam)
    n_series = len(series)
    z = np.empty_like(series)
    w = np.ones_like(series)
    changed = np.ones(n_series, dtype=bool)  # series whose weights differ from those z was solved with
    chunk = min(n_series, SERIES_PER_SOLVE)
    penalty = _tiled_penalty(n, lam, chunk)
    work = penalty.copy()  # rows 0, 1, 3, 4 stay lam * D'D; row 2 gets lam * diag(D'D) + w
    for _ in range(iterations):
        rows = np.flatnonzero(changed)
        if rows.size == 0:
            break
        changed[:] = False
        for start in range(0, rows.size, chunk):
            part = rows[start:start + chunk]
            k = part.size
            # contiguous rows as a slice: views instead of copies
            pick = slice(part[0], part[-1] + 1) if part[-1] - part[0] + 1 == k else part
            w_rows, y_rows = w[pick], series[pick]
            ab = work[:, :k * n]  # the first k blocks of the block-diagonal matrix: k independent series
            np.add(penalty[2, :k * n], w_rows.reshape(-1), out=ab[2])
            z_rows = _solve_banded_spd(ab, (w_rows * y_rows).reshape(-1), solver).reshape(k, n)
            w_new = np.where(y_rows > z_rows, p, 1.0 - p)
            changed[pick] = (w_new != w_rows).any(axis=1)
            z[pick] = z_rows
            w[pick] = w_new
    return z.reshape(shape)


def lead_group_normalise(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Z-normalise each lead group of a (..., 12, T) array with the group's mean and variance
    over all its leads and samples."""
    out = np.empty_like(x)
    for rows in LEAD_GROUP_ROWS:
        group = x[..., rows, :]
        mean = group.mean(axis=(-2, -1), keepdims=True)
        var = group.var(axis=(-2, -1), keepdims=True)
        out[..., rows, :] = (group - mean) / np.sqrt(var + eps)
    return out


# ---------------------------------------------------------------------------------------------
# The whole per-ECG step
# ---------------------------------------------------------------------------------------------

def preprocess_ecg_batch(signals: Sequence[np.ndarray] | np.ndarray, sampling_rates: float | Sequence[float],
                         params: ECGPreprocessing = ECGPreprocessing(), dtype=np.float32,
                         solver: str | None = None) -> np.ndarray:
    """Preprocess B ECGs (each (12, T_i) in model lead order, at its own rate) into (B, 12, n_samples).

    Steps 0-4 of the module docstring; the baseline systems of the whole batch are solved at once.
    Faulty records (see :func:`ecg_faults`) must be excluded by the caller beforehand.
    """
    n = len(signals)
    rates = np.broadcast_to(np.asarray(sampling_rates, dtype=np.float64), (n,))
    x = np.empty((n, N_LEADS, params.n_samples), dtype=np.float64)
    for i, (signal, rate) in enumerate(zip(signals, rates)):
        if np.ndim(signal) != 2 or np.shape(signal)[0] != N_LEADS:
            raise ValueError(f"ECG {i}: expected shape ({N_LEADS}, T), got {np.shape(signal)}")
        x[i] = to_model_grid(signal, float(rate), params)
    if n == 0:
        return x.astype(dtype)
    x = clip_ecg(x, params.clip_sd)
    x -= asls_baseline(x, params.als_lam, params.als_p, params.als_iterations, solver=solver)
    return lead_group_normalise(x, params.group_norm_eps).astype(dtype, copy=False)


def preprocess_ecg(signal: np.ndarray, sampling_rate: float, params: ECGPreprocessing = ECGPreprocessing(),
                   dtype=np.float32, solver: str | None = None) -> np.ndarray:
    """Preprocess one ECG (12, T) in model lead order into (12, n_samples), float32 by default."""
    return preprocess_ecg_batch([signal], [sampling_rate], params, dtype=dtype, solver=solver)[0]


# ---------------------------------------------------------------------------------------------
# Shards: float32 (N, 12, n_samples) .npy + parquet index (row -> ecg_id)
# ---------------------------------------------------------------------------------------------

def _npy_header(n_rows: int, params: ECGPreprocessing) -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {
        "descr": np.lib.format.dtype_to_descr(np.dtype("<f4")),
        "fortran_order": False,
        "shape": (n_rows, N_LEADS, params.n_samples),
    })
    return buffer.getvalue()


def write_ecg_shard(records: Iterable[tuple[str, np.ndarray, float]], npy_path: str | os.PathLike,
                    index_path: str | os.PathLike, params: ECGPreprocessing = ECGPreprocessing(),
                    log: logging.Logger | None = None, *, batch_size: int = 8, log_every: int = 500,
                    on_fault=None) -> int:
    """Preprocess streamed ``(ecg_id, signal, sampling_rate)`` records into one shard; return its row count.

    Writes a float32 ``(N, 12, n_samples)`` .npy (readable with ``np.load(path, mmap_mode="r")``)
    and a parquet index with columns ``row`` (int64), ``ecg_id`` (string) and
    ``source_sampling_rate`` (float64). Records are processed ``batch_size`` at a time and written
    as they come (the .npy header is rewritten with the final N at the end), so a shard never has
    to fit in memory. A record with a fault (:func:`ecg_faults`) is passed to
    ``on_fault(ecg_id, reason)`` and skipped, or raises :class:`RecordFault` when ``on_fault`` is
    None. Both files are written under a temporary name and moved into place at the end.
    """
    log = log or logging.getLogger(__name__)
    npy_path, index_path = os.fspath(npy_path), os.fspath(index_path)
    tmp_npy, tmp_index = npy_path + ".partial", index_path + ".partial"
    ids: list[str] = []
    rates: list[float] = []
    batch: list[tuple[str, np.ndarray, float]] = []
    n_faults = 0
    with open(tmp_npy, "wb") as f:
        header = _npy_header(0, params)
        f.write(header)

        def flush() -> None:
            if batch:
                out = preprocess_ecg_batch([b[1] for b in batch], [b[2] for b in batch], params)
                f.write(np.ascontiguousarray(out, dtype="<f4").tobytes())
                before = len(ids)
                ids.extend(b[0] for b in batch)
                rates.extend(float(b[2]) for b in batch)
                batch.clear()
                if len(ids) // log_every > before // log_every:
                    log.info("preprocess_ecg: %d ECGs written to %s (%d faulty skipped)", len(ids), npy_path, n_faults)

        for ecg_id, signal, rate in records:
            reason = ecg_faults(signal, rate, params)
            if reason is not None:
                if on_fault is None:
                    raise RecordFault(f"ECG {ecg_id}: {reason}")
                on_fault(str(ecg_id), reason)
                n_faults += 1
                continue
            batch.append((str(ecg_id), signal, rate))
            if len(batch) >= batch_size:
                flush()
        flush()
        final_header = _npy_header(len(ids), params)
        if len(final_header) != len(header):  # both are padded to 128 bytes for any realistic N
            raise RuntimeError("npy header length changed; cannot rewrite in place")
        f.seek(0)
        f.write(final_header)
    index = pd.DataFrame({
        "row": np.arange(len(ids), dtype=np.int64),
        "ecg_id": pd.array(ids, dtype="string"),
        "source_sampling_rate": np.asarray(rates, dtype=np.float64),
    })
    index.to_parquet(tmp_index, index=False)
    os.replace(tmp_npy, npy_path)
    os.replace(tmp_index, index_path)
    log.info("preprocess_ecg: shard %s done, %d ECGs written, %d faulty skipped", npy_path, len(ids), n_faults)
    return len(ids)


def preprocess_ecg_shard(records: Sequence[dict], kept_ids: Iterable[str], reader, npy_path, index_path,
                         params: ECGPreprocessing, *, cohort: str, log: logging.Logger | None = None):
    """Rule preprocess_ecg: read the ECGs that ingest kept in one shard and write their model inputs.

    ``records`` are the shard's manifest rows (its manifest file, see echo2ecg/list_records.py), ``kept_ids`` the ids
    its index kept. Readers are streamed one record at a time. Returns the QC ledger of records
    that failed here (unreadable now, or a fault of :func:`ecg_faults`); read = written + excluded.
    """
    from echo2ecg.qc import ExclusionLedger

    log = log or logging.getLogger(__name__)
    kept = set(map(str, kept_ids))
    rows = {}
    for row in records:  # the first occurrence of an id is the one ingest kept
        if str(row["record_id"]) in kept and str(row["record_id"]) not in rows:
            rows[str(row["record_id"])] = row
    ledger = ExclusionLedger(stage="preprocess_ecg", cohort=cohort)

    def stream():
        for ecg_id, row in rows.items():
            try:
                record = reader.read_ecg(row, min_duration_s=params.min_duration_s)
            except RecordFault as fault:
                ledger.exclude(ecg_id, row.get("source_path"), fault)
                continue
            yield ecg_id, record.signal, record.sampling_rate

    written = write_ecg_shard(stream(), npy_path, index_path, params, log,
                              on_fault=lambda ecg_id, reason: ledger.exclude(ecg_id, rows[ecg_id].get("source_path"), reason))
    if written + len(ledger) != len(rows):
        raise AssertionError(f"preprocess_ecg: {len(rows)} ECGs read, {written} written + {len(ledger)} excluded")
    return ledger.to_frame()


def merge_preprocessed_shards(index_paths, excluded_paths, kept_paths, *, max_excluded_fraction: float,
                              log: logging.Logger):
    """One index over all shards (cohort, shard, row, ecg_id, npy path), the ledger, and
    read (ECGs ingest kept) = kept (written) + excluded per cohort."""
    from echo2ecg.ingest import concat_tables
    from echo2ecg.qc import ledger_frame, reconcile
    from echo2ecg.sharding import gather_shard_indices

    index = gather_shard_indices(index_paths)
    excluded = concat_tables(excluded_paths, empty=ledger_frame())
    read = concat_tables(kept_paths, empty=pd.DataFrame(columns=["cohort"]))
    rows = []
    for cohort in sorted(set(read["cohort"]) | set(index.get("cohort", []))):
        rows.append(reconcile("preprocess_ecg", cohort, int((read["cohort"] == cohort).sum()),
                              int((index["cohort"] == cohort).sum()), excluded[excluded["cohort"] == cohort],
                              max_excluded_fraction))
        log.info("preprocess_ecg %s: %d ECGs in, %d written, %d excluded", cohort, *map(rows[-1].get, ("read", "kept", "excluded")))
    index = index.astype({"ecg_id": "string"})
    return index, excluded, pd.DataFrame(rows)
