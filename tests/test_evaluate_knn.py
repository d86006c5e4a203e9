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


def recorded_training_draws(monkeypatch):
    """Every training set evaluate_task draws (balanced LVEF draws and SHD fraction draws), as returned."""
    from echo2ecg.evaluate import knn

    draws = []
    for name in ("balanced_draw", "fraction_draw"):
        original = getattr(knn, name)

        def recording(*args, _original=original, _name=name, **kwargs):
            train = _original(*args, **kwargs)
            draws.append((_name, train.copy()))
            return train
        monkeypatch.setattr(knn, name, recording)
    return draws


def test_train_and_test_never_share_a_patient(monkeypatch):
    draws = recorded_training_draws(monkeypatch)
    for cohort, entity, task in (("mimic", "study", "lvef"), ("echonext", "ecg", "shd")):
        # several ECGs per patient, so that a draw by ECG across the splits would share patients
        t = fabricate_tables(300, cohort=cohort, entity=entity, ecgs_per_patient=3)
        features = feature_table(**t, cohort=cohort, strength=2.0)
        labels = ecg_phenotypes(t["ecgs"], t["pairs"], t["phenotypes"], cohort)
        del draws[:]
        _, scores = evaluate_task(features, labels, t["splits"], variant="v", task=task, cohort=cohort, cfg=CFG)
        patient_of = t["ecgs"].set_index("ecg_id")["patient_id"]
        test_patients = set(patient_of[scores["ecg_id"]])
        split_of = t["splits"].set_index("patient_id")["split"]
        assert test_patients and set(split_of[list(test_patients)]) == {"test"}
        # every draw: LVEF one balanced draw; SHD each seed at each fraction below 1, once at 1
        expected = 1 if task == "lvef" else sum(len(CFG.shd_repeat_seeds) if f < 1 else 1 for f in CFG.shd_fractions)
        assert len(draws) == expected, (task, len(draws))
        for name, train in draws:
            train_patients = set(patient_of[train["ecg_id"]])
            assert len(train) > 0 and set(train["patient_id"]) == train_patients
            assert not train_patients & test_patients, (task, name)
            assert set(split_of[list(train_patients)]) == {"train"}, (task, name)
    with pytest.raises(ValueError, match="patients are in both"):
        sets = sets_of(fabricate_tables(50), "mimic")[2]
        assert_patient_disjoint(sets[sets["split"] == "train"], sets[sets["split"] == "train"].head(3))


def test_a_splits_table_with_one_patient_in_two_splits_raises():
    t = fabricate_tables(100)
    features = feature_table(**t, cohort="mimic", strength=1.0)
    labels = ecg_phenotypes(t["ecgs"], t["pairs"], t["phenotypes"], "mimic")
    splits = t["splits"]
    patient = splits.loc[splits["split"] == "train", "patient_id"].iloc[0]
    twice = pd.concat([splits, splits[splits["patient_id"] == patient].assign(split="test")], ignore_index=True)
    with pytest.raises(ValueError, match="more than one split"):
        labelled_ecgs(features, labels, twice, "mimic", "lvef", LVEFClasses())
    with pytest.raises(ValueError, match="more than one split"):
        evaluate_task(features, labels, twice, variant="v", task="lvef", cohort="mimic", cfg=CFG)


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


def sklearn_auroc(labels, proba):
    from sklearn.metrics import roc_auc_score

    if proba.shape[1] == 2:
        return roc_auc_score(labels, proba[:, 1])
    return roc_auc_score(labels, proba, multi_class="ovr", average="macro", labels=list(range(proba.shape[1])))


@pytest.mark.parametrize("task", ["lvef", "shd"])
def test_auroc_and_paired_interval_equal_sklearn_on_the_returned_scores(task):
    from echo2ecg.evaluate.bootstrap import resample_indices
    from echo2ecg.evaluate.knn import score_columns

    cohort, entity = ("mimic", "study") if task == "lvef" else ("echonext", "ecg")
    t = fabricate_tables(160, cohort=cohort, entity=entity)
    labels = ecg_phenotypes(t["ecgs"], t["pairs"], t["phenotypes"], cohort)
    cfg = EvaluationConfig(**{**CFG.__dict__, "lvef_train_size": 45, "n_bootstrap": 120, "shd_fractions": (0.5, 1.0)})
    results, scores = {}, {}
    for variant, strength in (("signal", 1.0), ("random_init", 0.0)):
        features = feature_table(**t, cohort=cohort, strength=strength, seed=2)
        results[variant], scores[variant] = evaluate_task(features, labels, t["splits"], variant=variant, task=task,
                                                          cohort=cohort, cfg=cfg)
    for variant in results:
        for fraction, row in results[variant].set_index("train_fraction", drop=False).iterrows():
            part = scores[variant][scores[variant]["train_fraction"].isna() if task == "lvef"
                                   else scores[variant]["train_fraction"] == fraction]
            proba = part[score_columns(part)].to_numpy()
            assert row["auroc"] == pytest.approx(sklearn_auroc(part["label"].to_numpy(), proba), abs=1e-12)
    paired = paired_differences(scores, ["random_init"], task=task, cohort=cohort, cfg=cfg)
    assert len(paired) == len(results["signal"])
    for row in paired.itertuples():
        a, b = (s[s["train_fraction"].isna() if task == "lvef" else s["train_fraction"] == row.train_fraction]
                for s in (scores["signal"], scores["random_init"]))
        y, pa, pb = a["label"].to_numpy(), a[score_columns(a)].to_numpy(), b[score_columns(b)].to_numpy()
        assert row.auroc_difference == pytest.approx(sklearn_auroc(y, pa) - sklearn_auroc(y, pb), abs=1e-12)
        differences, degenerate = [], 0
        for draw in resample_indices(len(y), cfg.n_bootstrap, cfg.seed, f"{task}/{cohort}"):
            if len(np.unique(y[draw])) < pa.shape[1]:
                degenerate += 1   # a class missing: AUROC undefined, counted and left out
                continue
            differences.append(sklearn_auroc(y[draw], pa[draw]) - sklearn_auroc(y[draw], pb[draw]))
        low, high = np.percentile(differences, [2.5, 97.5])
        assert (row.ci_low, row.ci_high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
        assert row.n_resamples_degenerate == degenerate and row.ci_low < row.ci_high


def test_summary_pairs_shd_scores_concatenated_with_lvef_scores():
    """knn_summary concatenates the score tables of both tasks (LVEF: p0..p2, SHD: p0, p1 and NaN
    p2): the SHD paired difference must use the SHD columns only (found on the small DAG, where
    every SHD difference was NaN)."""
    from echo2ecg.evaluate.knn import summarise_knn

    lvef_t, shd_t = fabricate_tables(160), fabricate_tables(300, cohort="echonext", entity="ecg")
    results, scores = [], []
    for variant, strength in (("signal", 2.0), ("random_init", 0.0)):
        for t, cohort, task in ((lvef_t, "mimic", "lvef"), (shd_t, "echonext", "shd")):
            labels = ecg_phenotypes(t["ecgs"], t["pairs"], t["phenotypes"], cohort)
            features = feature_table(**t, cohort=cohort, strength=strength, seed=1)
            r, s = evaluate_task(features, labels, t["splits"], variant=variant, task=task, cohort=cohort, cfg=CFG)
            results.append(r)
            scores.append(s)
    knn, paired = summarise_knn(results, scores, references=["random_init"], seed=CFG.seed,
                                bootstrap={"n_resamples": CFG.n_bootstrap, "ci": CFG.ci})
    assert set(paired["task"]) == {"lvef", "shd"}
    assert paired["auroc_difference"].notna().all() and paired["ci_low"].notna().all()
    for row in paired.itertuples():
        mine = knn[(knn["task"] == row.task) & (knn["variant"] == row.variant)
                   & ((knn["train_fraction"] == row.train_fraction) | knn["train_fraction"].isna())]
        assert row.auroc == pytest.approx(mine["auroc"].iloc[0])
