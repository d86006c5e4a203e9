"""How much of the phenotype the frozen echo embeddings carry (rule assess_echo_embeddings).

Per study: the mean of its view embeddings (the recipe's study embedding for models without an
aggregator), and, as a baseline, the mean of four pixel statistics of its clips. Each is
regressed onto LVEF with ridge regression; R-squared is out of fold, folds grouped by patient,
so every study is predicted by a model that never saw its patient. AUROC for LVEF <= 40 %
vs > 50 % uses the same out-of-fold predictions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

PIXEL_STATISTICS = ("dark_area_max", "dark_area_min", "dark_area_change", "brightness_mean")
REDUCED_EF, NORMAL_EF = 40.0, 50.0


def clip_pixel_statistics(clip: np.ndarray, n_valid: int, dark: tuple[int, int] = (6, 45)) -> dict:
    """Four statistics of a uint8 clip (F, S, S, 3): the largest and smallest fraction of dark
    (cavity-like, not black) pixels over its valid frames, their relative change, and the mean
    brightness of the non-black pixels."""
    grey = clip[: max(int(n_valid), 1), ..., 0].astype(np.float32)
    inside = grey > 0
    dark_area = ((grey >= dark[0]) & (grey <= dark[1])).mean(axis=(1, 2))
    largest, smallest = float(dark_area.max()), float(dark_area.min())
    return {
        "dark_area_max": largest,
        "dark_area_min": smallest,
        "dark_area_change": 1.0 - smallest / largest if largest > 0 else 0.0,
        "brightness_mean": float(grey[inside].mean()) if inside.any() else 0.0,
    }


def study_means(per_view: pd.DataFrame, columns) -> pd.DataFrame:
    """Mean over each study's views of the given columns (index: study_id)."""
    return per_view.groupby("study_id")[list(columns)].mean()


def held_out_scores(features: np.ndarray, lvef: np.ndarray, groups: np.ndarray, n_splits: int = 5) -> dict:
    """Out-of-fold ridge R-squared of LVEF and AUROC (LVEF <= 40 vs > 50), folds grouped by patient."""
    n_splits = min(n_splits, len(np.unique(groups)))
    predicted = np.empty_like(lvef)
    for train, test in GroupKFold(n_splits=n_splits).split(features, lvef, groups):
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))
        model.fit(features[train], lvef[train])
        predicted[test] = model.predict(features[test])
    labelled = (lvef <= REDUCED_EF) | (lvef > NORMAL_EF)
    reduced = lvef[labelled] <= REDUCED_EF
    auroc = float(roc_auc_score(~reduced, predicted[labelled])) if 0 < reduced.sum() < labelled.sum() else float("nan")
    return {"r2": float(r2_score(lvef, predicted)), "auroc_reduced_vs_normal": auroc,
            "n_reduced": int(reduced.sum()), "n_normal": int((~reduced).sum())}


def assess_echo_embeddings(view_embeddings: pd.DataFrame, embedding_matrix: np.ndarray, clip_stats: pd.DataFrame,
                           studies: pd.DataFrame, phenotypes: pd.DataFrame, n_splits: int = 5) -> dict:
    """LVEF from mean-pooled study embeddings vs from mean-pooled pixel statistics.

    ``view_embeddings`` rows align with ``embedding_matrix`` rows (view_id, study_id).
    """
    columns = [f"e{i}" for i in range(embedding_matrix.shape[1])]
    per_view = pd.concat([view_embeddings[["view_id", "study_id"]].reset_index(drop=True),
                          pd.DataFrame(embedding_matrix, columns=columns)], axis=1)
    embedded = study_means(per_view, columns)
    pixels = study_means(clip_stats, PIXEL_STATISTICS)
    lvef = phenotypes[phenotypes["entity"] == "study"].set_index("entity_id")["lvef"].dropna()
    patient = studies.set_index("study_id")["patient_id"]
    common = embedded.index.intersection(pixels.index).intersection(lvef.index).intersection(patient.index)
    target, groups = lvef.loc[common].to_numpy(float), patient.loc[common].astype(str).to_numpy()
    return {
        "n_studies": int(len(common)),
        "n_patients": int(len(np.unique(groups))),
        "n_views": int(per_view["study_id"].isin(common).sum()),
        "study_embedding": held_out_scores(embedded.loc[common].to_numpy(float), target, groups, n_splits),
        "pixel_statistics": held_out_scores(pixels.loc[common].to_numpy(float), target, groups, n_splits),
    }
