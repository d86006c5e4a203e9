"""Pairing (rule pair_ecg_echo): ECGs and echo studies of the same patient within a time window.

An ECG and a study form a pair when they belong to the same patient of the same cohort and
|study time - ECG time| <= window (inclusive). Pairs are many-to-many: one ECG may pair with
several studies and one study with several ECGs (paper Table 1).
"""
from __future__ import annotations

import pandas as pd

PAIR_COLUMNS = ["ecg_id", "study_id", "patient_id", "cohort", "delta_days", "ecg_acquired_at", "study_acquired_at"]


def pair_ecgs_with_studies(ecgs: pd.DataFrame, studies: pd.DataFrame, window_days: float) -> pd.DataFrame:
    """All (ECG, study) pairs of the same patient with |study - ECG| <= window_days.

    ``delta_days`` is signed: study time minus ECG time, in days. The comparison is made on exact
    time differences (nanoseconds), so a study exactly ``window_days`` away pairs.
    """
    if window_days < 0:
        raise ValueError(f"pairing window must be non-negative, got {window_days}")
    left = ecgs[["ecg_id", "patient_id", "cohort", "acquired_at"]].rename(columns={"acquired_at": "ecg_acquired_at"})
    right = studies[["study_id", "patient_id", "cohort", "acquired_at"]].rename(columns={"acquired_at": "study_acquired_at"})
    candidates = left.merge(right, on=["cohort", "patient_id"], how="inner")
    delta = candidates["study_acquired_at"] - candidates["ecg_acquired_at"]
    window = pd.Timedelta(days=window_days)
    pairs = candidates[delta.abs() <= window].copy()
    pairs["delta_days"] = (pairs["study_acquired_at"] - pairs["ecg_acquired_at"]).dt.total_seconds() / 86400.0
    pairs = pairs[PAIR_COLUMNS].sort_values(["cohort", "patient_id", "ecg_id", "study_id"]).reset_index(drop=True)
    return pairs.astype({"ecg_id": "string", "study_id": "string", "patient_id": "string", "cohort": "string",
                         "delta_days": "float64"})
