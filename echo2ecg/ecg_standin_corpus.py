"""The OTiS stand-in's own ECG corpus (rule synthesize_ecg_standin_corpus), cached for its fit.

Without OTiS weights the workflow fits a stand-in ECG encoder (echo2ecg.fit_ecg_encoder) on its
OWN synthetic ECG-only corpus: its own seed and its own patients (latent hearts drawn by
echo2ecg.synthesize_cohort.hearts on a stream no cohort uses, ECGs by its dipole generator under
the acquisition profiles of all three cohorts), never the pre-training or evaluation cohorts; every
ECG goes through echo2ecg.preprocess_ecg as the cohorts' ECGs do.

The corpus depends only on ``ecg_encoder.standin`` seed, n_patients and ecgs_per_patient and on
``ecg_preprocessing``, so it is a rule output of its own: a change of the fit (objective, steps,
batch, lr) refits the stand-in on the cached corpus instead of synthesising it again.

Files: ``corpus.npy`` (``(N, K, 12, n_samples)`` float32, the preprocessed ECGs; K =
``ecgs_per_patient``) and ``corpus_hearts.parquet`` (one row per corpus patient in the same order:
``patient``, ``lvef`` for the fit's held-out read-out, and the ECG machine measurements
:data:`ECG_MEASUREMENTS` that the ``ecg_measurements`` objective regresses).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from echo2ecg.logs import Progress
from echo2ecg.outputs import atomic_path
from echo2ecg.preprocess_ecg import ECGPreprocessing, preprocess_ecg_batch
from echo2ecg.synthesize_cohort.ecg import NOISE_PROFILES, synthesize_ecg
from echo2ecg.synthesize_cohort.hearts import sample_hearts

# What an ECG machine reads off each corpus ECG (MIMIC-IV-ECG ships such machine measurements):
# QRS duration, frontal axis as sine and cosine, heart rate, log voltage scale, LBBB. No echo value.
ECG_MEASUREMENTS = ("qrs_ms", "axis_sin", "axis_cos", "heart_rate", "log_voltage_scale", "lbbb")


def corpus_hearts(n_patients: int, seed: int):
    """The corpus's latent hearts: drawn from ``seed`` alone, on a stream no cohort uses (the cohorts
    draw from ``[synthetic.seed, ...]``)."""
    return sample_hearts(np.random.default_rng([int(seed), 77]), n_patients)


def synthesize_corpus(n_patients: int, seed: int, preprocessing: ECGPreprocessing, log: logging.Logger | None = None,
                      chunk: int = 64, ecgs_per_patient: int = 1, hearts=None) -> tuple[np.ndarray, np.ndarray]:
    """``ecgs_per_patient`` ECGs of each of ``n_patients`` patients, preprocessed ``(N, K, 12, n_samples)``
    float32 (K = ``ecgs_per_patient``; ``(N, 12, n_samples)`` when K is 1), and their LVEF.

    The hearts come from ``seed`` alone (a stream no cohort uses: the cohorts draw from
    ``[synthetic.seed, ...]``); acquisition profiles rotate over the three cohorts' profiles, and a
    patient's k-th ECG is recorded under the next cohort's profile with its own beats and noise
    (the first ECG of every patient does not depend on K). ``hearts``: :func:`corpus_hearts` of
    (n_patients, seed) when the caller already drew them.
    """
    hearts = corpus_hearts(n_patients, seed) if hearts is None else hearts
    profiles = list(NOISE_PROFILES)
    K = int(ecgs_per_patient)
    out = np.empty((n_patients, K, 12, preprocessing.n_samples), dtype=np.float32)
    progress = Progress(log, n_patients * K, "stand-in corpus ECGs") if log else None
    for start in range(0, n_patients, chunk):
        signals = []
        stop = min(start + chunk, n_patients)
        for i in range(start, stop):
            heart = hearts.iloc[i].to_dict()
            for k in range(K):
                record_rng = np.random.default_rng([int(seed), 78, i] if k == 0 else [int(seed), 78, i, k])
                signals.append(synthesize_ecg(heart, record_rng, fs=500.0, duration_s=10.0,
                                              noise=NOISE_PROFILES[profiles[(i + k) % len(profiles)]]))
        out[start:stop] = preprocess_ecg_batch(signals, 500.0, preprocessing).reshape(stop - start, K, 12, -1)
        if progress:
            progress.step(len(signals))
    return (out[:, 0] if K == 1 else out), hearts["lvef"].to_numpy(dtype=np.float64)


def corpus_ecg_measurements(n_patients: int, seed: int, hearts=None) -> np.ndarray:
    """``(n_patients, 6)`` float32: the ECG machine measurements (``ECG_MEASUREMENTS``) of the corpus
    hearts of :func:`synthesize_corpus` (the same hearts, from the same seed), not yet z-scored."""
    hearts = corpus_hearts(n_patients, seed) if hearts is None else hearts
    axis = np.deg2rad(hearts["axis_deg"].to_numpy(dtype=np.float64))
    return np.stack([hearts["qrs_ms"], np.sin(axis), np.cos(axis), hearts["heart_rate"],
                     np.log(hearts["voltage_scale"]), hearts["lbbb"]], axis=1).astype(np.float32)


@dataclass
class StandinCorpus:
    """The corpus as the fit reads it: ``ecgs`` ``(N, K, 12, n_samples)`` float32, per patient its
    ``lvef`` ``(N,)`` and ECG machine ``measurements`` ``(N, 6)`` (:data:`ECG_MEASUREMENTS`)."""

    ecgs: np.ndarray
    lvef: np.ndarray
    measurements: np.ndarray

    @classmethod
    def synthesize(cls, n_patients: int, seed: int, preprocessing: ECGPreprocessing, ecgs_per_patient: int = 1,
                   log: logging.Logger | None = None) -> "StandinCorpus":
        hearts = corpus_hearts(n_patients, seed)  # drawn once for the ECGs and their measurements
        ecgs, lvef = synthesize_corpus(n_patients, seed, preprocessing, log, ecgs_per_patient=ecgs_per_patient,
                                       hearts=hearts)
        if ecgs.ndim == 3:
            ecgs = ecgs[:, None]
        return cls(ecgs, lvef, corpus_ecg_measurements(n_patients, seed, hearts))

    def save(self, ecgs_path: str | Path, hearts_path: str | Path) -> None:
        """Atomic writes of ``corpus.npy`` and ``corpus_hearts.parquet``."""
        table = pd.DataFrame(self.measurements, columns=list(ECG_MEASUREMENTS))
        table.insert(0, "lvef", self.lvef)
        table.insert(0, "patient", np.arange(len(table)))
        with atomic_path(ecgs_path) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, self.ecgs)
        with atomic_path(hearts_path) as tmp:
            table.to_parquet(tmp, index=False)

    @classmethod
    def load(cls, ecgs_path: str | Path, hearts_path: str | Path) -> "StandinCorpus":
        """Read a saved corpus; its two files must describe the same patients."""
        ecgs = np.load(ecgs_path)
        table = pd.read_parquet(hearts_path)
        if ecgs.ndim != 4 or len(ecgs) != len(table) or not (table["patient"].to_numpy() == np.arange(len(table))).all():
            raise ValueError(f"stand-in corpus {ecgs_path} ({ecgs.shape}) and {hearts_path} ({len(table)} rows) "
                             "do not describe the same patients")
        return cls(ecgs, table["lvef"].to_numpy(np.float64), table[list(ECG_MEASUREMENTS)].to_numpy(np.float32))
