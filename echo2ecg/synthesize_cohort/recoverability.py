"""How much LVEF a generated cohort lets simple models recover, from each modality on its own.

From the files on disk (WFDB ECGs, DICOM views) and the truth tables, this computes simple
hand-made features (ECG: QRS width, QRS and T amplitudes per lead, frontal axis, heart rate;
echo: dark-cavity area per frame per view, its maximum, minimum and their ratio, per view
group) and fits ridge regression (R-squared of LVEF, predictions clipped to the training range) and logistic regression (AUROC of
LVEF <= 40 % against > 50 %) with folds grouped by patient (stratified by LVEF class), so every figure is on held-out
patients. Run as ``python -m echo2ecg.synthesize_cohort.recoverability COHORT_ROOT``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import wfdb
from scipy.ndimage import maximum_filter1d, uniform_filter1d
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from echo2ecg.leads import model_order_index
from echo2ecg.synthesize_cohort.echo import APICAL_VIEWS

REDUCED_EF, NORMAL_EF = 40.0, 50.0
VIEW_GROUPS = {"apical": APICAL_VIEWS, "PLAX": ("PLAX",), "PSAX": ("PSAX",)}


def ecg_features(signal: np.ndarray, fs: float) -> np.ndarray:
    """Features of a (12, T) model-order ECG in mV: QRS width, per-lead QRS max/min and T level, axis, rate."""
    x = signal - uniform_filter1d(signal, size=int(0.6 * fs), axis=1, mode="nearest")
    energy = uniform_filter1d(np.abs(np.diff(x, axis=1)).sum(axis=0), size=max(1, int(0.04 * fs)))
    threshold = 0.35 * np.percentile(energy, 99.5)
    peaks = np.flatnonzero((energy == maximum_filter1d(energy, size=int(0.3 * fs))) & (energy > threshold))
    pre, post = int(0.3 * fs), int(0.5 * fs)
    peaks = peaks[(peaks > pre) & (peaks < x.shape[1] - post)]
    if len(peaks) < 2:
        raise ValueError("fewer than two beats detected")
    beat = np.median(np.stack([x[:, p - pre:p + post] for p in peaks]), axis=0)       # (12, pre + post)
    beat = beat - beat[:, int(0.05 * fs):int(0.1 * fs)].mean(axis=1, keepdims=True)
    env = np.abs(np.diff(beat, axis=1)).sum(axis=0)
    qrs = slice(pre - int(0.15 * fs), pre + int(0.15 * fs))
    above = env[qrs] > 0.15 * env[qrs].max()
    width_ms = (np.flatnonzero(above)[-1] - np.flatnonzero(above)[0]) / fs * 1000.0
    q = beat[:, pre - int(0.08 * fs):pre + int(0.12 * fs)]
    t_wave = beat[:, pre + int(0.2 * fs):pre + int(0.4 * fs)].mean(axis=1)
    net_i, net_avf = q[0].sum(), q[5].sum()
    axis = np.arctan2(net_avf, net_i)
    rate = 60.0 * fs / np.median(np.diff(peaks))
    return np.concatenate([[width_ms, np.cos(axis), np.sin(axis), rate], q.max(axis=1), q.min(axis=1), t_wave])


def view_dark_area(frames: np.ndarray, low: int = 6, high: int = 45) -> np.ndarray:
    """Dark (cavity-like) pixel count per frame of a cine (F, H, W[, 3]); black background excluded."""
    gray = frames[..., 0] if frames.ndim == 4 else frames
    return ((gray >= low) & (gray <= high)).reshape(gray.shape[0], -1).sum(axis=1).astype(float)


def _cross_validated(features: np.ndarray, lvef: np.ndarray, groups: np.ndarray, n_splits: int) -> dict:
    """Out-of-fold ridge R^2 and logistic AUROC (EF <= 40 vs > 50), folds grouped by patient."""
    n_splits = min(n_splits, len(np.unique(groups)))
    # folds grouped by patient and stratified by LVEF class, so pooled out-of-fold scores are comparable
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=0)
    ef_class = np.digitize(lvef, [REDUCED_EF + 1e-9, NORMAL_EF + 1e-9])
    predicted = np.zeros_like(lvef)
    labelled = (lvef <= REDUCED_EF) | (lvef > NORMAL_EF)
    probability = np.full(len(lvef), np.nan)
    for train, test in folds.split(features, ef_class, groups):
        ridge = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 12)))
        ridge.fit(features[train], lvef[train])
        # clipped to the training range, so one outlying record cannot dominate a small cohort's R^2
        predicted[test] = np.clip(ridge.predict(features[test]), lvef[train].min(), lvef[train].max())
        train_l = train[labelled[train]]
        y_train = (lvef[train_l] <= REDUCED_EF).astype(int)
        if len(np.unique(y_train)) == 2:
            logistic = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=2000))
            logistic.fit(features[train_l], y_train)
            test_l = test[labelled[test]]
            probability[test_l] = logistic.predict_proba(features[test_l])[:, 1] if len(test_l) else []
    scored = labelled & ~np.isnan(probability)
    y = (lvef[scored] <= REDUCED_EF).astype(int)
    auroc = float(roc_auc_score(y, probability[scored])) if len(np.unique(y)) == 2 else float("nan")
    return {"r2": float(r2_score(lvef, predicted)), "auroc": auroc, "n": int(len(lvef)),
            "n_patients": int(len(np.unique(groups))), "n_reduced": int(y.sum()), "n_normal": int((1 - y).sum())}


def _faulted(root: Path) -> set[str]:
    faults = pd.read_csv(root / "truth" / "faults.csv", dtype=str)
    return set(faults["record_id"])


def ecg_recoverability(root: Path, n_splits: int = 5) -> dict:
    """LVEF recoverability from the pre-training cohort's WFDB ECGs."""
    root = Path(root)
    hearts = pd.read_parquet(root / "truth" / "hearts.parquet")
    hearts = hearts[hearts["dataset"] == "mimic-iv-ecg"].set_index("event_id")
    records = pd.read_csv(root / "mimic-iv-ecg" / "record_list.csv", dtype=str).drop_duplicates("study_id")
    bad = _faulted(root)
    rows, targets, groups = [], [], []
    for record in records.itertuples():
        if record.study_id in bad:
            continue
        signal, fields = wfdb.rdsamp(str(root / "mimic-iv-ecg" / record.path))
        ordered = signal.T[model_order_index(fields["sig_name"])]
        try:
            rows.append(ecg_features(ordered, float(fields["fs"])))
        except ValueError:
            continue
        targets.append(hearts.loc[record.study_id, "lvef"])
        groups.append(record.subject_id)
    return _cross_validated(np.array(rows), np.array(targets, dtype=float), np.array(groups), n_splits)


def echo_recoverability(root: Path, n_splits: int = 5) -> dict:
    """LVEF recoverability of echo studies from dark-cavity area statistics of their views."""
    root = Path(root)
    hearts = pd.read_parquet(root / "truth" / "hearts.parquet")
    hearts = hearts[hearts["dataset"] == "mimic-iv-echo"].set_index("event_id")
    views = pd.read_parquet(root / "truth" / "views.parquet")
    bad = _faulted(root)
    per_view = []
    for view in views.itertuples():
        if view.view_id in bad or view.n_frames < 2:
            continue
        frames = pydicom.dcmread(root / "mimic-iv-echo" / view.dicom_filepath).pixel_array
        area = view_dark_area(frames)
        group = next(g for g, types in VIEW_GROUPS.items() if view.view_type in types)
        per_view.append({"study_id": view.study_id, "patient_id": view.patient_id, "group": group,
                         "fraction": 1.0 - area.min() / max(area.max(), 1.0),
                         "max_area": area.max() / (view.height * view.width)})
    table = pd.DataFrame(per_view)
    wide = table.pivot_table(index=["study_id", "patient_id"], columns="group", values=["fraction", "max_area"],
                             aggfunc="max")
    wide.columns = [f"{a}_{b}" for a, b in wide.columns]
    wide = wide.fillna(wide.mean()).reset_index()
    features = wide.drop(columns=["study_id", "patient_id"]).to_numpy()
    lvef = hearts.loc[wide["study_id"], "lvef"].to_numpy(dtype=float)
    return _cross_validated(features, lvef, wide["patient_id"].to_numpy(), n_splits)


def measure_recoverability(root: Path, n_splits: int = 5) -> dict:
    """Both modalities: {"ecg": {...}, "echo": {...}} with r2, auroc and counts."""
    return {"ecg": ecg_recoverability(root, n_splits), "echo": echo_recoverability(root, n_splits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="cohort root written by synthesize_cohort")
    parser.add_argument("--splits", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure_recoverability(args.root, args.splits), indent=2))


if __name__ == "__main__":
    main()
