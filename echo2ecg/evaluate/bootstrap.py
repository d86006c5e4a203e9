"""Bootstrap confidence intervals of classification metrics, vectorised over the resamples.

One resample is ``n`` test items drawn with replacement. All resamples of a test set are one
``(B, n)`` index array (:func:`resample_indices`), seeded from the evaluation seed and a key naming
the test set, so that every variant evaluated on the same test set sees the SAME resamples: the
paired difference of two variants (:func:`paired_difference`) is then a bootstrap of the
difference itself, not two overlapping intervals.

The metrics never loop over resamples. Each resample is turned into counts of every test item
(``W[b, i]`` = how often item ``i`` was drawn in resample ``b``); a metric is then a function of
the counts per distinct score level:

- AUROC (binary) = sum over levels of P_u * (N_below_u + N_u / 2) / (n_pos * n_neg), the
  Mann-Whitney statistic with ties counted one half (equal to scikit-learn's ``roc_auc_score``);
  the counts per level come from one product of the (B, n) draw counts with a sparse indicator;
  multi-class: unweighted mean of the one-vs-rest AUROCs (``multi_class="ovr", average="macro"``).
- AUPRC = average precision, sum over levels (descending) of recall step * precision (equal to
  ``average_precision_score``); multi-class: macro mean over one-vs-rest.
- balanced accuracy = mean over classes of the recall of the arg-max prediction.

A resample that lacks a class has an undefined metric: it gets NaN, is COUNTED
(``BootstrapResult.n_degenerate``) and is left out of the percentile interval. Nothing crashes
and nothing is dropped silently.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy import sparse


def resample_indices(n: int, n_resamples: int, seed: int, key: str) -> np.ndarray:
    """``(n_resamples, n)`` int64 indices drawn with replacement; the same (seed, key, n) always
    gives the same resamples (the key names the test set, e.g. ``"lvef/mimic"``)."""
    if n <= 0:
        return np.zeros((n_resamples, 0), dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(key.encode())]))
    return rng.integers(0, n, size=(n_resamples, n), dtype=np.int64)


def identity_indices(n: int) -> np.ndarray:
    """The test set itself as one 'resample' (for the point estimate)."""
    return np.arange(n, dtype=np.int64)[None, :]


def draw_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """``W[b, i]``: how many times item ``i`` is drawn in resample ``b`` (float32, (B, n); exact
    for counts below 2**24)."""
    n_resamples = indices.shape[0]
    keys = (np.arange(n_resamples, dtype=np.int64)[:, None] * n + indices).ravel()
    return np.bincount(keys, minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float32)


def _indicator(column_of_item: np.ndarray, n_columns: int, weight: np.ndarray | None = None) -> sparse.csr_array:
    """``(n, n_columns)`` sparse 0/1 (or weighted) matrix with item i in column column_of_item[i]."""
    n = len(column_of_item)
    data = np.ones(n, dtype=np.float32) if weight is None else weight.astype(np.float32)
    return sparse.csr_array((data, (np.arange(n), column_of_item)), shape=(n, n_columns))


def _level_counts(counts: np.ndarray, scores: np.ndarray, positive: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resampled counts on the m distinct score levels that hold a positive (ascending):
    positives at level j, negatives tied with level j, and negatives in the gap just below level j
    (gap m: above the top positive level); three (B, m), (B, m), (B, m + 1) float64 arrays from one
    product of the draw counts with a sparse indicator. Only levels holding a positive matter to
    AUROC and average precision, so negatives between two of them are pooled."""
    _, level_of = np.unique(scores, return_inverse=True)
    positive_levels = np.unique(level_of[positive])
    m = len(positive_levels)
    below = np.searchsorted(positive_levels, level_of)                  # positive levels strictly below
    tied = (below < m) & (positive_levels[np.minimum(below, max(m - 1, 0))] == level_of) if m else np.zeros_like(positive)
    column = np.where(positive, below, np.where(tied, m + below, 2 * m + below))
    summed = counts @ _indicator(column, 3 * m + 1)
    summed = summed.astype(np.float64)
    return summed[:, :m], summed[:, m:2 * m], summed[:, 2 * m:]


def _auroc_and_average_precision(pos: np.ndarray, neg_tied: np.ndarray, neg_gap: np.ndarray
                                 ) -> tuple[np.ndarray, np.ndarray]:
    """Both metrics from the counts of :func:`_level_counts` (NaN where a class is absent).
    AUROC = sum_j pos_j (negatives below level j + negatives tied / 2) / (n_pos n_neg); average
    precision = sum_j pos_j precision_j / n_pos with precision_j = share of positives among the
    items scored >= level j (the step-wise sum scikit-learn computes)."""
    n_pos = pos.sum(axis=1)
    n_neg = neg_tied.sum(axis=1) + neg_gap.sum(axis=1)
    neg_below = np.cumsum(neg_gap[:, :-1], axis=1)
    neg_below += np.cumsum(neg_tied, axis=1)
    neg_below -= neg_tied                                                # negatives strictly below level j
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.einsum("ij,ij->i", pos, neg_below + 0.5 * neg_tied) / (n_pos * n_neg)
        pos_at_or_above = n_pos[:, None] - (np.cumsum(pos, axis=1) - pos)
        drawn = pos_at_or_above + (n_neg[:, None] - neg_below)           # items scored >= level j
        precision = np.divide(pos_at_or_above, drawn, out=np.zeros_like(drawn), where=pos > 0)
        ap = np.einsum("ij,ij->i", pos, precision) / n_pos
    undefined = (n_pos == 0) | (n_neg == 0)
    auc[undefined], ap[undefined] = np.nan, np.nan
    return auc, ap


def _one_vs_rest_columns(proba: np.ndarray) -> list[int]:
    """The score columns a metric averages: column 1 for binary, every class for multi-class."""
    return [1] if proba.shape[1] == 2 else list(range(proba.shape[1]))


def resampled_metrics(labels: np.ndarray, proba: np.ndarray, indices: np.ndarray) -> dict[str, np.ndarray]:
    """AUROC, AUPRC and balanced accuracy of every resample: ``{name: (B,) array}``, NaN where the
    resample lacks a class.

    ``labels``: int class of each test item (0..C-1); ``proba``: ``(n, C)`` class scores (C = 2:
    binary, column 1 is the positive class; C > 2: macro one-vs-rest)."""
    labels = np.asarray(labels, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    n, n_classes = proba.shape
    counts = draw_counts(indices, n)
    aurocs, aps = [], []
    for c in _one_vs_rest_columns(proba):
        auc, ap = _auroc_and_average_precision(*_level_counts(counts, proba[:, c], labels == c))
        aurocs.append(auc)
        aps.append(ap)
    # a multi-class metric is undefined when ANY class is missing (NaN propagates through the mean)
    auroc, auprc = np.mean(aurocs, axis=0), np.mean(aps, axis=0)
    # balanced accuracy of the arg-max prediction (ties to the lowest class, as KNeighborsClassifier)
    predicted = np.argmax(proba, axis=1)
    per_class = (counts @ _indicator(labels, n_classes)).astype(np.float64)
    correct = (counts @ _indicator(labels, n_classes, weight=(predicted == labels))).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        balanced = (correct / per_class).mean(axis=1)
    balanced[(per_class == 0).any(axis=1)] = np.nan
    return {"auroc": auroc, "auprc": auprc, "balanced_accuracy": balanced}


@dataclass(frozen=True)
class BootstrapResult:
    """A point estimate with its percentile interval over the resamples where it is defined."""

    estimate: float
    ci_low: float
    ci_high: float
    n_resamples: int
    n_degenerate: int          # resamples lacking a class: metric undefined, left out of the interval

    def as_dict(self, prefix: str) -> dict:
        return {prefix: self.estimate, f"{prefix}_ci_low": self.ci_low, f"{prefix}_ci_high": self.ci_high,
                f"{prefix}_n_degenerate": self.n_degenerate}


def percentile_interval(values: np.ndarray, ci: float) -> tuple[float, float]:
    """Percentile interval (e.g. ci=0.95 -> 2.5th and 97.5th percentile) over the finite values."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = 100.0 * (1.0 - ci) / 2.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def summarise(estimate: float, values: np.ndarray, ci: float) -> BootstrapResult:
    low, high = percentile_interval(values, ci)
    return BootstrapResult(float(estimate), low, high, int(values.size), int((~np.isfinite(values)).sum()))


def bootstrap_metrics(labels: np.ndarray, proba: np.ndarray, indices: np.ndarray, ci: float
                      ) -> tuple[dict[str, BootstrapResult], dict[str, np.ndarray]]:
    """Point estimates on the whole test set and percentile CIs over the given resamples.
    Returns the results and the per-resample values (for paired differences)."""
    point = resampled_metrics(labels, proba, identity_indices(len(labels)))
    values = resampled_metrics(labels, proba, indices)
    results = {name: summarise(point[name][0], values[name], ci) for name in values}
    return results, values


def paired_difference(estimate_a: float, estimate_b: float, values_a: np.ndarray, values_b: np.ndarray,
                      ci: float) -> dict:
    """Bootstrap of a - b over the SAME resamples: the point difference, its percentile interval,
    and the share of (defined) resamples where a does not beat b."""
    if values_a.shape != values_b.shape:
        raise ValueError("paired bootstrap: the two results were not computed on the same resamples")
    diff = values_a - values_b
    result = summarise(estimate_a - estimate_b, diff, ci)
    finite = diff[np.isfinite(diff)]
    share_not_better = float((finite <= 0).mean()) if finite.size else float("nan")
    return {"difference": result.estimate, "ci_low": result.ci_low, "ci_high": result.ci_high,
            "n_resamples": result.n_resamples, "n_degenerate": result.n_degenerate,
            "share_not_better": share_not_better}
