"""kNN evaluation on fabricated cohorts whose features carry a known amount of the phenotype."""
import numpy as np
import pandas as pd
import pytest

from echo2ecg.evaluate.knn import (EvaluationConfig, KNNConfig, LVEFClasses, assert_patient_disjoint, balanced_draw,
                                   ecg_phenotypes, evaluate_task, fraction_draw, knn_scores, labelled_ecgs,
                                   paired_differences)
from eval_fixtures import fabricate_tables, feature_table

CFG = EvaluationConfig(seed=7, lvef_train_size=90, shd_fractions=(0.1, 0.5, 1.0), shd_repeat_seeds=(0, 1, 2),
                       shd_min_train_ecgs=20, n_bootstrap=200, ci=0.95)


def test_lvef_class_boundaries():
    classes = LVEFClasses(reduced_max=40, normal_min=50)
    assert classes.classify([39.9, 40.0, 40.01, 49.99, 50.0, 75.0, np.nan]).tolist() == [0, 0, 1, 1, 2, 2, -1]


def test_an_ecg_paired_with_several_studies_takes_their_mean():
    ecgs = pd.DataFrame({"ecg_id": ["e1", "e2", "e3"], "patient_id": ["p", "p", "q"], "cohort": "m"})
    pairs = pd.DataFrame({"ecg_id": ["e1", "e1", "e2"], "study_id": ["s1", "s2", "s2"], "cohort": "m"})
    ph = pd.DataFrame({"entity": "study", "entity_id": ["s1", "s2"], "cohort": "m", "lvef": [35.0, 55.0],
                       "lvedv": [100.0, np.nan], "lvesv": np.nan, "lvsv": np.nan, "shd": [0.0, 1.0]})
    out = ecg_phenotypes(ecgs, pairs, ph, "m").set_index("ecg_id")
    assert out.loc["e1", "lvef"] == 45.0 and out.loc["e1", "n_label_studies"] == 2
    assert out.loc["e1", "lvedv"] == 100.0      # the mean over the studies that know it
    assert out.loc["e1", "shd"] == 1.0          # present in any paired study
    assert out.loc["e2", "lvef"] == 55.0
    assert np.isnan(out.loc["e3", "lvef"]) and out.loc["e3", "n_label_studies"] == 0


def test_patient_and_ecg_level_labels():
    t = fabricate_tables(20, cohort="ukb", entity="patient")
    out = ecg_phenotypes(t["ecgs"], t["pairs"], t["phenotypes"], "ukb")
    by_patient = t["phenotypes"].set_index("entity_id")["lvef"]
    assert np.allclose(out["lvef"], out["patient_id"].map(by_patient))
    t = fabricate_tables(20, cohort="echonext", entity="ecg")
    out = ecg_phenotypes(t["ecgs"], t["pairs"], t["phenotypes"], "echonext")
    assert np.allclose(out["lvef"], out["ecg_id"].map(t["phenotypes"].set_index("entity_id")["lvef"]))


def sets_of(t, cohort, task="lvef", strength=2.0):
    features = feature_table(**t, cohort=cohort, strength=strength)
    labels = ecg_phenotypes(t["ecgs"], t["pairs"], t["phenotypes"], cohort)
    return features, labels, labelled_ecgs(features, labels, t["splits"], cohort, task, LVEFClasses())


def test_balanced_training_draw_is_balanced_from_the_train_split_and_seeded():
    t = fabricate_tables(400)
    _, _, sets = sets_of(t, "mimic")
    train = sets[sets["split"] == "train"]
    a = balanced_draw(train, 90, 3, np.random.default_rng(1))
    assert a["label"].value_counts().tolist() == [30, 30, 30]
    assert set(a["ecg_id"]) <= set(train["ecg_id"])
    assert a.equals(balanced_draw(train, 90, 3, np.random.default_rng(1)))
    assert not a.equals(balanced_draw(train, 90, 3, np.random.default_rng(2)))
    small = balanced_draw(train, 3000, 3, np.random.default_rng(1))  # more than the rarest class has
    assert small["label"].value_counts().nunique() == 1
    with pytest.raises(ValueError, match="no training ECG of class"):
        balanced_draw(train[train["label"] != 1], 90, 3, np.random.default_rng(1))


def test_train_and_test_never_share_a_patient():
    t = fabricate_tables(300)
    features, labels, sets = sets_of(t, "mimic")
    results, scores = evaluate_task(features, labels, t["splits"], variant="v", task="lvef", cohort="mimic", cfg=CFG)
    test_patients = set(sets.loc[sets["split"] == "test", "patient_id"])
    train_patients = set(sets.loc[sets["split"] == "train", "patient_id"])
    assert not test_patients & train_patients
    assert set(scores["ecg_id"]) == set(sets.loc[sets["split"] == "test", "ecg_id"])
    with pytest.raises(ValueError, match="patients are in both"):
        assert_patient_disjoint(sets[sets["split"] == "train"], sets[sets["split"] == "train"].head(3))


def test_feature_split_must_match_the_patient_split():
    t = fabricate_tables(100)
    features = feature_table(**t, cohort="mimic", strength=1.0)
    features.loc[features["split"] == "test", "split"] = "train"
    labels = ecg_phenotypes(t["ecgs"], t["pairs"], t["phenotypes"], "mimic")
    with pytest.raises(ValueError, match="differs from their patient's split"):
        labelled_ecgs(features, labels, t["splits"], "mimic", "lvef", LVEFClasses())


def test_features_carrying_lvef_beat_features_carrying_nothing_with_a_paired_interval_above_zero():
    t = fabricate_tables(500)
    labels = ecg_phenotypes(t["ecgs"], t["pairs"], t["phenotypes"], "mimic")
    out, scores = {}, {}
    for variant, strength in (("signal", 3.0), ("random_init", 0.0)):
        features = feature_table(**t, cohort="mimic", strength=strength, seed=1)
        out[variant], scores[variant] = evaluate_task(features, labels, t["splits"], variant=variant, task="lvef",
                                                      cohort="mimic", cfg=CFG)
    signal, null = out["signal"].iloc[0], out["random_init"].iloc[0]
    assert signal["auroc"] > 0.8 and signal["ci_low"] > 0.7
    assert null["ci_low"] < 0.5 + 0.1 and null["auroc"] < 0.65
    assert signal["ci_low"] <= signal["auroc"] <= signal["ci_high"]
    assert signal["n_train"] == 90 and signal["train_classes"] == "30/30/30"
    assert signal["n_test"] == sum(int(c) for c in signal["test_classes"].split("/"))
    paired = paired_differences(scores, ["random_init", "otis_init"], task="lvef", cohort="mimic", cfg=CFG)
    assert len(paired) == 1  # otis_init is absent: only the random_init reference
    row = paired.iloc[0]
    assert row["variant"] == "signal" and row["reference"] == "random_init"
    assert row["auroc_difference"] == pytest.approx(signal["auroc"] - null["auroc"])
    assert row["ci_low"] > 0


def test_the_same_config_gives_the_same_numbers():
    t = fabricate_tables(200)
    features, labels, _ = sets_of(t, "mimic")
    a, sa = evaluate_task(features, labels, t["splits"], variant="v", task="lvef", cohort="mimic", cfg=CFG)
    b, sb = evaluate_task(features, labels, t["splits"], variant="v", task="lvef", cohort="mimic", cfg=CFG)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(sa, sb)


def test_shd_training_fractions_with_repeated_draws():
    t = fabricate_tables(400, cohort="echonext", entity="ecg")
    features = feature_table(**t, cohort="echonext", strength=2.0)
    labels = ecg_phenotypes(t["ecgs"], t["pairs"], t["phenotypes"], "echonext")
    results, scores = evaluate_task(features, labels, t["splits"], variant="v", task="shd", cohort="echonext", cfg=CFG)
    assert results["train_fraction"].tolist() == [0.1, 0.5, 1.0]
    n_pool = results["n_train_pool"].iloc[0]
    assert results["n_train"].tolist()[-1] == n_pool
    assert results["n_train"].is_monotonic_increasing
    assert results["n_repeats"].tolist() == [3, 3, 1]
    assert (results.loc[:1, "repeat_auroc_sd"] > 0).all() and np.isnan(results["repeat_auroc_sd"].iloc[2])
    assert (results["repeat_auroc_min"] <= results["repeat_auroc_mean"]).all()
    assert (results["auroc"] > 0.7).all()
    assert set(scores["train_fraction"]) == {0.1, 0.5, 1.0}
    tiny = EvaluationConfig(**{**CFG.__dict__, "shd_fractions": (0.01, 1.0)})
    with pytest.raises(ValueError, match="evaluation.shd.min_train_ecgs"):
        evaluate_task(features, labels, t["splits"], variant="v", task="shd", cohort="echonext", cfg=tiny)


def test_fraction_draw_keeps_every_class():
    train = pd.DataFrame({"ecg_id": [f"e{i:03d}" for i in range(200)], "label": [1] * 10 + [0] * 190})
    draw = fraction_draw(train, 0.01, np.random.default_rng(0))
    assert sorted(draw["label"].unique()) == [0, 1]
    assert len(fraction_draw(train, 1.0, np.random.default_rng(0))) == 200


def test_knn_scores_are_neighbour_vote_shares_over_every_class():
    train_x = np.array([[0.0], [0.1], [0.2], [0.3], [0.4], [10.0]])
    train_y = np.array([0, 0, 0, 2, 2, 2])  # class 1 absent from the training set
    proba = knn_scores(train_x, train_y, np.array([[0.0], [10.0]]), n_classes=3, cfg=KNNConfig(k=5))
    assert proba.shape == (2, 3)
    assert proba[0].tolist() == pytest.approx([0.6, 0.0, 0.4])
    assert proba[1].tolist() == pytest.approx([0.4, 0.0, 0.6])  # 10.0, 0.4, 0.3 (class 2); 0.2, 0.1
    with pytest.raises(ValueError, match="fewer than k"):
        knn_scores(train_x[:3], train_y[:3], train_x, 3, KNNConfig(k=5))
