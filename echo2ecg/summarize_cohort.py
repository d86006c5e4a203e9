"""Table-1-style cohort summary per split (rule summarize_cohort): pairs, patients, ECGs, studies,
views, age mean and SD, % male; written as CSV and Markdown.

For a pre-training cohort the counts are those of the pairs (as in the paper's Table 1: the ECGs,
studies and patients that take part in at least one pair); for a downstream cohort, its ECGs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from echo2ecg.split_patients import SPLITS

SUMMARY_COLUMNS = ["cohort", "split", "pairs", "patients", "ecgs", "studies", "views",
                   "age_mean", "age_sd", "male_percent"]
_MALE = {"m", "male", "1", "man"}
_FEMALE = {"f", "female", "0", "woman"}


def _sex_is_male(sex: pd.Series) -> pd.Series:
    text = sex.astype("string").str.strip().str.lower()
    male = text.isin(_MALE)
    known = male | text.isin(_FEMALE)
    return male.where(known, other=pd.NA).astype("boolean")


def add_mimic_demographics(ecgs: pd.DataFrame, cohort: str, patients: pd.DataFrame) -> pd.DataFrame:
    """Age and sex of a cohort's ECGs from a MIMIC-IV hosp ``patients`` table: age at the ECG =
    anchor_age + (ECG year - anchor_year); sex = gender. Values already present are kept."""
    patients = patients.assign(subject_id=patients["subject_id"].astype(str)).set_index("subject_id")
    mine = ecgs["cohort"] == cohort
    pid = ecgs.loc[mine, "patient_id"].astype(str)
    year = ecgs.loc[mine, "acquired_at"].dt.year
    age = pd.to_numeric(pid.map(patients["anchor_age"]), errors="coerce") + (year - pd.to_numeric(pid.map(patients["anchor_year"]), errors="coerce"))
    ecgs = ecgs.copy()
    ecgs.loc[mine, "age"] = ecgs.loc[mine, "age"].fillna(age)
    ecgs["sex"] = ecgs["sex"].astype("string")
    ecgs.loc[mine, "sex"] = ecgs.loc[mine, "sex"].fillna(pid.map(patients["gender"]).astype("string"))
    return ecgs


def summarize_cohorts(ecgs, studies, views, pairs, splits, roles: dict) -> pd.DataFrame:
    rows = []
    for cohort, role in roles.items():
        split_of = splits[splits["cohort"] == cohort].set_index("patient_id")["split"]
        c_ecgs = ecgs[ecgs["cohort"] == cohort].assign(split=lambda f: f["patient_id"].map(split_of))
        if role == "pretrain":
            c_pairs = pairs[pairs["cohort"] == cohort].assign(split=lambda f: f["patient_id"].map(split_of))
            c_views = views[views["cohort"] == cohort]
        for split in (*SPLITS, "all"):
            if role == "pretrain":
                p = c_pairs if split == "all" else c_pairs[c_pairs["split"] == split]
                e = c_ecgs[c_ecgs["ecg_id"].isin(p["ecg_id"])]
                n_views = int(c_views["study_id"].isin(p["study_id"]).sum())
                n_pairs, n_studies = len(p), p["study_id"].nunique()
                n_patients = p["patient_id"].nunique()
            else:
                e = c_ecgs if split == "all" else c_ecgs[c_ecgs["split"] == split]
                n_pairs = n_studies = n_views = 0
                n_patients = e["patient_id"].nunique()
            age = pd.to_numeric(e["age"], errors="coerce").dropna()
            male = _sex_is_male(e["sex"]).dropna()
            rows.append({
                "cohort": cohort, "split": split, "pairs": n_pairs, "patients": n_patients,
                "ecgs": e["ecg_id"].nunique(), "studies": n_studies, "views": n_views,
                "age_mean": float(age.mean()) if len(age) else np.nan,
                "age_sd": float(age.std(ddof=1)) if len(age) > 1 else np.nan,
                "male_percent": float(100.0 * male.astype(float).mean()) if len(male) else np.nan,
            })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def summary_markdown(summary: pd.DataFrame) -> str:
    header = ("| cohort | split | pairs | patients | ECGs | studies | views | age, mean (SD) | male, % |\n"
              "|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
    lines = []
    for r in summary.itertuples(index=False):
        age = "n/a" if np.isnan(r.age_mean) else (f"{r.age_mean:.1f} ({r.age_sd:.1f})" if not np.isnan(r.age_sd) else f"{r.age_mean:.1f}")
        male = "n/a" if np.isnan(r.male_percent) else f"{r.male_percent:.1f}"
        lines.append(f"| {r.cohort} | {r.split} | {r.pairs} | {r.patients} | {r.ecgs} | {r.studies} | {r.views} | {age} | {male} |")
    return "# Cohort summary per split (Table 1)\n\n" + header + "\n".join(lines) + "\n"
