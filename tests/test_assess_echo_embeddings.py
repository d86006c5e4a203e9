import numpy as np
import pandas as pd
import pytest

from echo2ecg.assess_echo_embeddings import assess_echo_embeddings, held_out_scores, leading_directions, phenotype_scores
from echo2ecg.clip_pixel_statistics import clip_pixel_statistics
from echo2ecg.held_out_readout import out_of_fold_predictions


def test_clip_pixel_statistics_measure_the_dark_cavity():
    clip = np.zeros((16, 32, 32, 3), dtype=np.uint8)
    clip[:10] = 120  # tissue
    clip[:10, 8:24, 8:24] = 20  # a dark cavity of 256 / 1024 pixels ...
    clip[5, 8:24, 8:16] = 120  # ... half of it in frame 5
    stats = clip_pixel_statistics(clip, n_valid=10)
    assert np.isclose(stats["dark_area_max"], 0.25) and np.isclose(stats["dark_area_min"], 0.125)
    assert np.isclose(stats["dark_area_change"], 0.5)
    assert 20 < stats["brightness_mean"] < 120


def test_held_out_scores_see_signal_and_not_noise():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), 2)
    lvef = np.repeat(rng.uniform(20, 70, 60), 2)
    informative = np.c_[lvef + rng.normal(0, 3, lvef.size), rng.normal(size=(lvef.size, 5))]
    noise = rng.normal(size=(lvef.size, 6))
    assert held_out_scores(informative, lvef, groups)["r2"] > 0.8
    assert held_out_scores(informative, lvef, groups)["auroc_reduced_vs_normal"] > 0.95
    assert held_out_scores(noise, lvef, groups)["r2"] < 0.1


def test_one_embedding_far_from_the_rest_cannot_dominate_the_read_out():
    """An extreme view (the echo stand-in of seed 2 embedded one at 25x the median distance) is
    predicted within its training fold's range, not extrapolated without limit."""
    from sklearn.metrics import r2_score, roc_auc_score

    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(60), 2)
    lvef = np.repeat(rng.uniform(20, 70, 60), 2)
    features = np.c_[lvef + rng.normal(0, 3, lvef.size), rng.normal(size=(lvef.size, 5))]
    features[7, 1:] = 1000.0     # far out along directions the read-out does not need
    bounded = out_of_fold_predictions(features, lvef, groups)
    unbounded = out_of_fold_predictions(features, lvef, groups, bounded=False)
    assert abs(unbounded[7] - lvef[7]) > 100            # the linear read-out extrapolates ...
    assert lvef.min() <= bounded[7] <= lvef.max()       # ... the bounded one stays in the fitted range
    assert r2_score(lvef, unbounded) < 0.5 < 0.8 < r2_score(lvef, bounded)
    low, high = np.percentile(lvef, [25, 75])          # inside every training fold's range: untouched
    inside = (unbounded > low) & (unbounded < high)
    assert inside.sum() > 40
    np.testing.assert_array_equal(bounded[inside], unbounded[inside])
    # a binary phenotype's AUROC is rank-based: its predictions are left unbounded
    shd = (lvef < 35).astype(float)
    assert phenotype_scores(features, shd, groups, binary=True, n_splits=5)["auroc"] == pytest.approx(
        roc_auc_score(shd > 0.5, out_of_fold_predictions(features, shd, groups, bounded=False)))


def test_study_embeddings_are_view_means_and_patients_never_straddle_folds():
    rng = np.random.default_rng(1)
    n_studies, views_per_study = 80, 3
    study_ids = [f"s{i}" for i in range(n_studies)]
    lvef = rng.uniform(20, 70, n_studies)
    views = pd.DataFrame({"view_id": [f"v{i}" for i in range(n_studies * views_per_study)],
                          "study_id": np.repeat(study_ids, views_per_study)})
    # each view sees LVEF through heavy noise; the study mean is much cleaner
    signal = np.repeat(lvef, views_per_study)[:, None] + rng.normal(0, 15, (len(views), 1))
    matrix = np.c_[signal, rng.normal(size=(len(views), 7))].astype(np.float32)
    stats = views.assign(dark_area_max=rng.normal(size=len(views)), dark_area_min=rng.normal(size=len(views)),
                         dark_area_change=rng.normal(size=len(views)), brightness_mean=rng.normal(size=len(views)))
    studies = pd.DataFrame({"study_id": study_ids, "patient_id": [f"p{i // 2}" for i in range(n_studies)]})
    phenotypes = pd.DataFrame({"entity": "study", "entity_id": study_ids, "lvef": lvef})
    result = assess_echo_embeddings(views, matrix, stats, studies, phenotypes, n_splits=5)
    assert result["n_studies"] == n_studies and result["n_patients"] == 40 and result["n_views"] == len(views)
    assert result["study_embedding"]["r2"] > 0.5
    assert result["pixel_statistics"]["r2"] < 0.1


def test_phenotypes_by_view_type_show_what_each_view_type_carries():
    """Apical views carry LVEF, parasternal views wall thickness and SHD; the study all of them."""
    rng = np.random.default_rng(2)
    n = 120
    study_ids = [f"s{i}" for i in range(n)]
    lvef, wall, shd = rng.uniform(20, 70, n), rng.uniform(7, 16, n), (rng.random(n) < 0.3).astype(float)
    rows, features = [], []
    for i, study in enumerate(study_ids):
        for view_type in ("A4C", "PLAX"):
            signal = [lvef[i], 0.0, 0.0] if view_type == "A4C" else [0.0, wall[i], shd[i]]
            rows.append({"view_id": f"{study}_{view_type}", "study_id": study, "view_type": view_type})
            features.append(np.r_[signal, rng.normal(size=4)] + rng.normal(0, 0.05, 7))
    views = pd.DataFrame(rows)
    matrix = np.asarray(features, dtype=np.float32)
    stats = views[["view_id", "study_id"]].assign(dark_area_max=0.0, dark_area_min=0.0, dark_area_change=0.0,
                                                  brightness_mean=rng.normal(size=len(views)))
    studies = pd.DataFrame({"study_id": study_ids, "patient_id": [f"p{i}" for i in range(n)]})
    # as the MIMIC-IV-ECHO-like layout gives them: an SHD column without values; the truth knows SHD and wall
    phenotypes = pd.DataFrame({"entity": "study", "entity_id": study_ids, "lvef": lvef, "shd": np.nan})
    truth = pd.DataFrame({"study_id": study_ids, "wall_mm": wall, "shd": shd, "lvef": rng.permutation(lvef)})
    result = assess_echo_embeddings(views[["view_id", "study_id"]], matrix, stats, studies, phenotypes, 5,
                                    view_types=views[["view_id", "view_type"]], study_truth=truth)["phenotypes"]
    assert set(result) == {"lvef", "shd", "wall_mm"}
    assert result["lvef"]["by_view_type"]["A4C"]["r2"] > 0.9 and result["lvef"]["by_view_type"]["PLAX"]["r2"] < 0.1
    assert result["wall_mm"]["by_view_type"]["PLAX"]["r2"] > 0.9 and result["wall_mm"]["by_view_type"]["A4C"]["r2"] < 0.1
    assert result["shd"]["by_view_type"]["PLAX"]["auroc"] > 0.95 and result["shd"]["by_view_type"]["A4C"]["auroc"] < 0.7
    assert result["wall_mm"]["by_view_group"]["parasternal"]["r2"] > 0.9
    assert result["lvef"]["by_view_group"]["apical"]["r2"] > 0.9
    # a measured value is never replaced by the truth (the truth's LVEF here is shuffled)
    assert result["lvef"]["study"]["r2"] > 0.8
    for name in result:  # the study (all its views) carries every phenotype
        assert result[name]["study"]["r2"] > 0.8 and result[name]["study"]["n_studies"] == n


def test_leading_directions_say_which_phenotype_each_large_direction_carries():
    """PC1 built from LVEDV (large spread), PC2 from wall thickness (smaller), the rest small noise: the
    shares and correlations say so, with each component's sign free; a phenotype the targets lack is NaN."""
    rng = np.random.default_rng(3)
    n = 200
    targets = pd.DataFrame({"lvef": rng.uniform(20, 70, n), "lvedv": rng.uniform(80, 220, n), "wall_mm": rng.uniform(7, 16, n)})
    lvedv_z = (targets["lvedv"] - targets["lvedv"].mean()) / targets["lvedv"].std()
    wall_z = (targets["wall_mm"] - targets["wall_mm"].mean()) / targets["wall_mm"].std()
    basis = np.linalg.qr(rng.normal(size=(16, 16)))[0]
    embeddings = (10 * lvedv_z.to_numpy()[:, None] * basis[0] + 4 * wall_z.to_numpy()[:, None] * basis[1]
                  + 0.3 * rng.normal(size=(n, 16)))
    pcs = leading_directions(embeddings, targets)
    assert [pc["pc"] for pc in pcs] == [1, 2, 3]
    assert pcs[0]["variance_share"] > 0.8 and pcs[1]["variance_share"] > 0.1 and pcs[2]["variance_share"] < 0.01
    assert abs(pcs[0]["corr_lvedv"]) > 0.99 and abs(pcs[0]["corr_wall_mm"]) < 0.2 and abs(pcs[0]["corr_lvef"]) < 0.2
    assert abs(pcs[1]["corr_wall_mm"]) > 0.99 and abs(pcs[1]["corr_lvedv"]) < 0.2
    assert abs(pcs[2]["corr_lvedv"]) < 0.2 and abs(pcs[2]["corr_wall_mm"]) < 0.2
    assert np.isnan(leading_directions(embeddings, targets[["lvef", "lvedv"]])[0]["corr_wall_mm"])


def test_the_assessment_reports_the_study_embeddings_leading_directions():
    rng = np.random.default_rng(4)
    n_studies = 60
    study_ids = [f"s{i}" for i in range(n_studies)]
    lvef = rng.uniform(20, 70, n_studies)
    views = pd.DataFrame({"view_id": [f"v{i}" for i in range(n_studies)], "study_id": study_ids})
    matrix = np.c_[lvef[:, None] * 5, rng.normal(size=(n_studies, 5))].astype(np.float32)  # PC1 = LVEF
    stats = views.assign(dark_area_max=0.0, dark_area_min=0.0, dark_area_change=0.0, brightness_mean=rng.normal(size=n_studies))
    studies = pd.DataFrame({"study_id": study_ids, "patient_id": study_ids})
    phenotypes = pd.DataFrame({"entity": "study", "entity_id": study_ids, "lvef": lvef})
    pcs = assess_echo_embeddings(views, matrix, stats, studies, phenotypes, n_splits=5)["leading_directions"]
    assert len(pcs) == 3 and pcs[0]["variance_share"] > 0.9 and abs(pcs[0]["corr_lvef"]) > 0.99
    assert np.isnan(pcs[0]["corr_lvedv"]) and np.isnan(pcs[0]["corr_wall_mm"])  # no such phenotype here
