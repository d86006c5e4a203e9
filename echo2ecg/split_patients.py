"""Patient-level split (rule split_patients).

Each patient's split follows from a keyed hash of (cohort, patient id) alone: the hash maps the
patient to a number u in [0, 1) and the configured fractions cut [0, 1) into train / val / test.
Adding patients therefore never moves an existing patient, and no patient can be in two splits.
Cohorts that ship their own split (EchoNext: ``split`` column) keep it (``split_source: dataset``).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from echo2ecg.sharding import keyed_unit_interval

SPLITS = ("train", "val", "test")
SPLIT_COLUMNS = ["cohort", "patient_id", "split", "split_source"]


def split_of_patients(patient_ids, fractions: dict, seed: int, cohort: str = "") -> np.ndarray:
    """The split of each patient, from a keyed hash of the patient id (stable, deterministic)."""
    edges = np.cumsum([fractions[s] for s in SPLITS])
    edges[-1] = 1.0 + 1e-12  # guard against rounding of the last edge
    key = f"echo2ecg-split:{seed}"
    u = np.array([keyed_unit_interval(f"{cohort}/{pid}", key) for pid in patient_ids])
    return np.array(SPLITS, dtype=object)[np.searchsorted(edges, u, side="right")]


def split_patients(ecgs: pd.DataFrame, studies: pd.DataFrame, split_sources: dict, fractions: dict, seed: int,
                   log: logging.Logger | None = None) -> pd.DataFrame:
    """One row per patient of every cohort: cohort, patient_id, split, split_source.

    ``split_sources`` maps each cohort to ``patient_hash`` or ``dataset``.
    """
    frames = []
    for cohort, source in split_sources.items():
        patients = pd.concat([
            ecgs.loc[ecgs["cohort"] == cohort, ["patient_id"]],
            studies.loc[studies["cohort"] == cohort, ["patient_id"]],
        ]).drop_duplicates()["patient_id"].astype(str).sort_values().to_numpy()
        if source == "patient_hash":
            splits = split_of_patients(patients, fractions, seed, cohort)
            frame = pd.DataFrame({"cohort": cohort, "patient_id": patients, "split": splits, "split_source": "patient_hash"})
        else:
            frame = _dataset_splits(ecgs[ecgs["cohort"] == cohort], cohort, log)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SPLIT_COLUMNS)
    return table[SPLIT_COLUMNS].astype("string").reset_index(drop=True)


def _dataset_splits(ecgs: pd.DataFrame, cohort: str, log) -> pd.DataFrame:
    """Splits shipped with the dataset. Patients only in 'no_split' get no split (not evaluated)."""
    labelled = ecgs[ecgs["dataset_split"].isin(SPLITS)]
    per_patient = labelled.groupby("patient_id")["dataset_split"].agg(lambda s: sorted(set(s)))
    conflicting = per_patient[per_patient.map(len) > 1]
    if len(conflicting):
        raise ValueError(f"cohort {cohort}: the dataset's split puts {len(conflicting)} patients in more than one "
                         f"split (e.g. patient {conflicting.index[0]}: {conflicting.iloc[0]})")
    unlabelled = set(ecgs["patient_id"]) - set(per_patient.index)
    if log and unlabelled:
        log.info("cohort %s: %d patients have only ECGs outside the dataset's train/val/test split", cohort, len(unlabelled))
    return pd.DataFrame({"cohort": cohort, "patient_id": per_patient.index.astype(str),
                         "split": per_patient.map(lambda s: s[0]).to_numpy(), "split_source": "dataset"})
