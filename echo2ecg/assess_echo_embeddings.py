"""How much of the phenotype the frozen echo embeddings carry (rule assess_echo_embeddings).

Per study: the mean of its view embeddings (the recipe's study embedding for models without an
aggregator), and, as a baseline, the mean of four pixel statistics of its clips. Each is
regressed onto LVEF with ridge regression; R-squared is out of fold, folds grouped by patient,
so every study is predicted by a model that never saw its patient. AUROC for LVEF <= 40 %
vs > 50 % uses the same out-of-fold predictions.

Per phenotype (LVEF, LVEDV, LVESV, LVSV, SHD, and wall thickness where the generator's truth
gives it) and per view type (where view types are known, e.g. the synthetic cohort's truth):
the same held-out ridge regression from the mean embedding of the study's views of that one view
type, beside the study's mean over all its views -- the method's premise is that no single view
type carries everything the study carries (apical views the volumes and EF, parasternal views
the walls and valves). SHD is scored by AUROC of the out-of-fold predictions.

The leading principal directions of the study embeddings (:func:`leading_directions`): each of the
first three components' share of the variance and its correlation with LVEF, LVEDV and wall
thickness, so that one can see whether the embedding's largest directions are the heart.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score, roc_auc_score

from echo2ecg.clip_pixel_statistics import PIXEL_STATISTICS
from echo2ecg.held_out_readout import out_of_fold_predictions

PHENOTYPES = ("lvef", "lvedv", "lvesv", "lvsv", "shd", "wall_mm")  # wall_mm: from the generator's truth
BINARY_PHENOTYPES = ("shd",)
VIEW_GROUPS = {"apical": ("A4C", "A2C", "A3C"), "parasternal": ("PLAX", "PSAX")}
REDUCED_EF, NORMAL_EF = 40.0, 50.0
PC_PHENOTYPES = ("lvef", "lvedv", "wall_mm")  # what the leading directions are correlated with
N_LEADING_DIRECTIONS = 3


def leading_directions(study_embeddings: np.ndarray, targets: pd.DataFrame, n: int = N_LEADING_DIRECTIONS) -> list[dict]:
    """Share of variance and phenotype correlations of the first ``n`` principal components of
    ``study_embeddings`` (one row per study, rows aligned with ``targets``); a phenotype absent from
    ``targets`` or unknown for fewer than three studies gets NaN. A component's sign is arbitrary; it is fixed
    so that its largest loading is positive, and a correlation's sign means only as much."""
    centred = study_embeddings - study_embeddings.mean(0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    # a component's sign is arbitrary: fix it so that its largest loading is positive (as sklearn's svd_flip)
    vt = vt * np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])[:, None]
    share = singular ** 2 / float((singular ** 2).sum())
    scores = centred @ vt[:n].T
    directions = []
    for k in range(min(n, len(share))):
        entry = {"pc": k + 1, "variance_share": float(share[k])}
        for name in PC_PHENOTYPES:
            values = targets[name].to_numpy(float) if name in targets.columns else np.full(len(centred), np.nan)
            known = np.isfinite(values)
            entry[f"corr_{name}"] = (float(np.corrcoef(scores[known, k], values[known])[0, 1]) if known.sum() >= 3
                                     else float("nan"))
        directions.append(entry)
    return directions


def study_means(per_view: pd.DataFrame, columns) -> pd.DataFrame:
    """Mean over each study's views of the given columns (index: study_id)."""
    return per_view.groupby("study_id")[list(columns)].mean()


def phenotype_scores(features: np.ndarray, target: np.ndarray, groups: np.ndarray, binary: bool,
                     n_splits: int = 5) -> dict:
    """Held-out R-squared (and AUROC for a binary target) of one phenotype from ``features``."""
    predicted = out_of_fold_predictions(features, target, groups, n_splits, bounded=not binary)
    scores = {"n_studies": int(len(target)), "r2": float(r2_score(target, predicted))}
    if binary:
        positive = target > 0.5
        scores["auroc"] = float(roc_auc_score(positive, predicted)) if 0 < positive.sum() < len(target) else float("nan")
        scores["n_positive"] = int(positive.sum())
    return scores


def held_out_scores(features: np.ndarray, lvef: np.ndarray, groups: np.ndarray, n_splits: int = 5) -> dict:
    """Out-of-fold ridge R-squared of LVEF and AUROC (LVEF <= 40 vs > 50), folds grouped by patient."""
    predicted = out_of_fold_predictions(features, lvef, groups, n_splits)
    labelled = (lvef <= REDUCED_EF) | (lvef > NORMAL_EF)
    reduced = lvef[labelled] <= REDUCED_EF
    auroc = float(roc_auc_score(~reduced, predicted[labelled])) if 0 < reduced.sum() < labelled.sum() else float("nan")
    return {"r2": float(r2_score(lvef, predicted)), "auroc_reduced_vs_normal": auroc,
            "n_reduced": int(reduced.sum()), "n_normal": int((~reduced).sum())}


def phenotypes_by_view_type(per_view: pd.DataFrame, columns, targets: pd.DataFrame, patient: pd.Series,
                            n_splits: int = 5) -> dict:
    """{phenotype: {"study", "by_view_type", "by_view_group"}} scores of mean-pooled embeddings.

    ``per_view``: view_id, study_id, (view_type), embedding columns; ``targets``: index study_id,
    one column per phenotype. "study" pools all of a study's views; a view type pools only the
    study's views of that type, a view group (:data:`VIEW_GROUPS`: apical, parasternal) its views
    of the group's types (studies without one are left out of that row).
    """
    pools = {"study": study_means(per_view, columns)}
    groups = {}
    if "view_type" in per_view.columns and per_view["view_type"].notna().any():
        typed = per_view.dropna(subset=["view_type"])
        for view_type, views in typed.groupby("view_type"):
            pools[str(view_type)] = study_means(views, columns)
        for group, types in VIEW_GROUPS.items():
            views = typed[typed["view_type"].isin(types)]
            if len(views):
                groups[group] = study_means(views, columns)
    result = {}
    for name in targets.columns:
        values = targets[name].dropna()
        entry: dict = {"by_view_type": {}, "by_view_group": {}}
        for pool_name, pooled in [*pools.items(), *((f"group:{g}", p) for g, p in groups.items())]:
            common = pooled.index.intersection(values.index).intersection(patient.index)
            if len(np.unique(patient.loc[common])) < 2 * n_splits:
                continue
            scores = phenotype_scores(pooled.loc[common].to_numpy(float), values.loc[common].to_numpy(float),
                                      patient.loc[common].astype(str).to_numpy(), name in BINARY_PHENOTYPES, n_splits)
            if pool_name == "study":
                entry["study"] = scores
            elif pool_name.startswith("group:"):
                entry["by_view_group"][pool_name.split(":", 1)[1]] = scores
            else:
                entry["by_view_type"][pool_name] = scores
        result[name] = entry
    return result


def assess_echo_embeddings(view_embeddings: pd.DataFrame, embedding_matrix: np.ndarray, clip_stats: pd.DataFrame,
                           studies: pd.DataFrame, phenotypes: pd.DataFrame, n_splits: int = 5,
                           view_types: pd.DataFrame | None = None, study_truth: pd.DataFrame | None = None) -> dict:
    """LVEF from mean-pooled study embeddings vs from mean-pooled pixel statistics, and every
    phenotype per view type (:func:`phenotypes_by_view_type`).

    ``view_embeddings`` rows align with ``embedding_matrix`` rows (view_id, study_id).
    ``view_types`` (view_id, view_type) and ``study_truth`` (study_id, wall_mm, ...) are optional:
    the synthetic cohort's truth knows them, real cohorts may not.
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
    targets = phenotypes[phenotypes["entity"] == "study"].set_index("entity_id")
    targets = targets[[c for c in PHENOTYPES if c in targets.columns]].astype(float)
    if study_truth is not None:
        # measured values first; the generator's truth fills what the layout does not carry (a
        # MIMIC-IV-ECHO-like layout has no SHD label and no wall thickness: all-NaN or absent)
        truth = study_truth.set_index("study_id")
        known = [c for c in PHENOTYPES if c in truth.columns]
        targets = targets.combine_first(truth[known].astype(float))
        targets = targets[[c for c in PHENOTYPES if c in targets.columns]]
    if view_types is not None:
        per_view = per_view.assign(view_id=per_view["view_id"].astype(str)).merge(
            view_types[["view_id", "view_type"]].astype({"view_id": str}), on="view_id", how="left")
    return {
        "n_studies": int(len(common)),
        "n_patients": int(len(np.unique(groups))),
        "n_views": int(per_view["study_id"].isin(common).sum()),
        "study_embedding": held_out_scores(embedded.loc[common].to_numpy(float), target, groups, n_splits),
        "pixel_statistics": held_out_scores(pixels.loc[common].to_numpy(float), target, groups, n_splits),
        "phenotypes": phenotypes_by_view_type(per_view, columns, targets, patient, n_splits),
        "leading_directions": leading_directions(embedded.loc[common].to_numpy(float),
                                                 targets.reindex(common)),
    }
