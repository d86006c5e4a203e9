"""The held-out read-out of a phenotype from embeddings: ridge regression on standardised features, each
prediction from folds that never saw its patient. Used by the echo stand-in's fit (its held-out LVEF R2,
echo2ecg/fit_echo_encoder.py) and by the assessment of the frozen echo embeddings
(echo2ecg/assess_echo_embeddings.py)."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def out_of_fold_predictions(features: np.ndarray, target: np.ndarray, groups: np.ndarray, n_splits: int = 5,
                            bounded: bool = True):
    """Ridge regression (standardised features, alpha by internal CV) predictions, each from folds
    without its patient.

    ``bounded``: each prediction is clipped to the range of its training fold's targets, as a
    read-out of a measurement is never reported outside the values it was fitted on. A linear
    read-out extrapolates without limit from an embedding far from the others: the echo stand-in of
    stand-in seed 2 embedded one held-out view of a severely dilated heart (LVEF 18 %) at 25 times
    the median distance from the mean, the unbounded read-out put it at 814 % and the per-view R2
    of 240 views at -11.3 (0.43 bounded). Clipping changes no ranking inside the range, so leave it
    off only where ranks are all that count (AUROC of a binary target)."""
    n_splits = min(n_splits, len(np.unique(groups)))
    predicted = np.empty_like(target, dtype=float)
    for train, test in GroupKFold(n_splits=n_splits).split(features, target, groups):
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))
        model.fit(features[train], target[train])
        predicted[test] = model.predict(features[test])
        if bounded:
            predicted[test] = np.clip(predicted[test], target[train].min(), target[train].max())
    return predicted
