"""Vectorised bootstrap metrics against scikit-learn on the same resamples; resamples that lack a
class; percentile intervals; paired differences."""
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score
from sklearn.preprocessing import label_binarize

from echo2ecg.evaluate.bootstrap import (bootstrap_metrics, paired_difference, percentile_interval, resample_indices,
                                         resampled_metrics)


def knn_like_scores(rng, labels, n_classes, signal=1.0, k=5):
    """Vote shares of k neighbours (many ties, as kNN scores are), biased towards the true class."""
    p = np.ones((len(labels), n_classes)) + signal * np.eye(n_classes)[labels]
    p /= p.sum(axis=1, keepdims=True)
    return np.stack([rng.multinomial(k, row) for row in p]) / k


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("continuous", [False, True])
def test_vectorised_metrics_equal_sklearn_on_the_same_resamples(n_classes, continuous):
    rng = np.random.default_rng(n_classes + 10 * continuous)
    labels = rng.integers(0, n_classes, size=400)
    proba = knn_like_scores(rng, labels, n_classes)
    if continuous:
        proba = proba + rng.uniform(0, 0.01, size=proba.shape)
        proba /= proba.sum(axis=1, keepdims=True)
    indices = resample_indices(len(labels), 40, seed=3, key="test")
    values = resampled_metrics(labels, proba, indices)
    for b in range(len(indices)):
        y, p = labels[indices[b]], proba[indices[b]]
        if n_classes == 2:
            auroc, ap = roc_auc_score(y, p[:, 1]), average_precision_score(y, p[:, 1])
        else:
            auroc = roc_auc_score(y, p, multi_class="ovr", average="macro")
            ap = average_precision_score(label_binarize(y, classes=range(n_classes)), p, average="macro")
        assert values["auroc"][b] == pytest.approx(auroc, abs=1e-12)
        assert values["auprc"][b] == pytest.approx(ap, abs=1e-12)
        assert values["balanced_accuracy"][b] == pytest.approx(balanced_accuracy_score(y, p.argmax(axis=1)), abs=1e-12)


def test_resamples_lacking_a_class_are_counted_and_left_out_of_the_interval():
    rng = np.random.default_rng(0)
    labels = np.array([1] + [0] * 19)  # one positive: about (19/20)^20 = 36 % of resamples lack it
    proba = np.column_stack([1 - (s := rng.uniform(size=20)), s])
    indices = resample_indices(20, 500, seed=1, key="degenerate")
    lacking = int((~(labels[indices] == 1).any(axis=1)).sum())
    assert 100 < lacking < 300
    results, values = bootstrap_metrics(labels, proba, indices, ci=0.95)
    assert results["auroc"].n_degenerate == lacking
    assert results["auroc"].n_resamples == 500
    assert int(np.isnan(values["auroc"]).sum()) == lacking
    low, high = percentile_interval(values["auroc"], 0.95)
    assert (results["auroc"].ci_low, results["auroc"].ci_high) == (low, high)
    assert np.isfinite(low) and low <= high
    # a three-class set where a class is rare: a missing class makes the macro AUROC undefined too
    labels3 = np.array([2] + [0] * 10 + [1] * 9)
    values3 = resampled_metrics(labels3, np.eye(3)[labels3] * 0.5 + 0.1, indices)
    assert int(np.isnan(values3["auroc"]).sum()) == int((~(labels3[indices] == 2).any(axis=1)).sum())


def test_all_resamples_degenerate_gives_nan_interval_not_a_crash():
    labels = np.zeros(10, dtype=int)
    proba = np.column_stack([np.ones(10) * 0.5, np.ones(10) * 0.5])
    results, _ = bootstrap_metrics(labels, proba, resample_indices(10, 50, 0, "k"), ci=0.95)
    assert np.isnan(results["auroc"].estimate)
    assert results["auroc"].n_degenerate == 50
    assert np.isnan(results["auroc"].ci_low) and np.isnan(results["auroc"].ci_high)


def test_percentile_interval_is_numpy_percentile_over_finite_values():
    values = np.array([np.nan, *np.linspace(0, 1, 101)])
    assert percentile_interval(values, 0.95) == pytest.approx((0.025, 0.975))
    assert percentile_interval(values, 0.9) == pytest.approx((0.05, 0.95))


def test_resamples_are_deterministic_per_seed_and_key():
    a = resample_indices(100, 20, seed=42, key="lvef/mimic")
    assert np.array_equal(a, resample_indices(100, 20, seed=42, key="lvef/mimic"))
    assert not np.array_equal(a, resample_indices(100, 20, seed=42, key="lvef/ukb"))
    assert not np.array_equal(a, resample_indices(100, 20, seed=43, key="lvef/mimic"))
    assert a.min() >= 0 and a.max() < 100


def test_paired_difference_of_a_better_model_is_above_zero_and_of_itself_exactly_zero():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, size=600)
    good, weak = knn_like_scores(rng, labels, 3, signal=3.0), knn_like_scores(rng, labels, 3, signal=0.1)
    indices = resample_indices(600, 300, seed=0, key="pair")
    res_good, v_good = bootstrap_metrics(labels, good, indices, 0.95)
    res_weak, v_weak = bootstrap_metrics(labels, weak, indices, 0.95)
    diff = paired_difference(res_good["auroc"].estimate, res_weak["auroc"].estimate, v_good["auroc"], v_weak["auroc"], 0.95)
    assert diff["ci_low"] > 0 and diff["share_not_better"] == 0.0
    assert diff["difference"] == pytest.approx(res_good["auroc"].estimate - res_weak["auroc"].estimate)
    same = paired_difference(0.7, 0.7, v_good["auroc"], v_good["auroc"], 0.95)
    assert same["difference"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0
    with pytest.raises(ValueError, match="same resamples"):
        paired_difference(0.7, 0.6, v_good["auroc"], v_weak["auroc"][:10], 0.95)


def test_uninformative_scores_give_an_interval_around_one_half():
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 2, size=1000)
    proba = knn_like_scores(rng, labels, 2, signal=0.0)
    results, _ = bootstrap_metrics(labels, proba, resample_indices(1000, 1000, 0, "null"), 0.95)
    assert results["auroc"].ci_low < 0.5 < results["auroc"].ci_high
    assert results["auroc"].ci_high - results["auroc"].ci_low < 0.1
