import numpy as np
import pandas as pd

from echo2ecg.assess_echo_embeddings import assess_echo_embeddings, clip_pixel_statistics, held_out_scores


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
