import itertools

import numpy as np
import pandas as pd
import pytest

from echo2ecg.pair_ecg_echo import pair_ecgs_with_studies

T0 = pd.Timestamp("2150-03-01 08:00:00", tz="UTC")


def _ecgs(rows):
    return pd.DataFrame(rows, columns=["ecg_id", "patient_id", "cohort", "acquired_at"])


def _studies(rows):
    return pd.DataFrame(rows, columns=["study_id", "patient_id", "cohort", "acquired_at"])


def test_window_is_inclusive_at_the_boundary_and_signed():
    ecgs = _ecgs([("e1", "p1", "c", T0)])
    offsets = {"s_inside": pd.Timedelta(days=3), "s_boundary": pd.Timedelta(days=7),
               "s_before_boundary": -pd.Timedelta(days=7), "s_just_outside": pd.Timedelta(days=7.1),
               "s_one_second_out": pd.Timedelta(days=7, seconds=1), "s_far": pd.Timedelta(days=200)}
    studies = _studies([(sid, "p1", "c", T0 + off) for sid, off in offsets.items()])
    pairs = pair_ecgs_with_studies(ecgs, studies, window_days=7)
    assert set(pairs["study_id"]) == {"s_inside", "s_boundary", "s_before_boundary"}
    delta = pairs.set_index("study_id")["delta_days"]
    assert delta["s_boundary"] == 7.0 and delta["s_before_boundary"] == -7.0 and delta["s_inside"] == 3.0


def test_other_patients_and_cohorts_never_pair():
    ecgs = _ecgs([("e1", "p1", "a", T0), ("e2", "p2", "a", T0), ("e3", "p1", "b", T0)])
    studies = _studies([("s1", "p1", "a", T0), ("s2", "p1", "b", T0 + pd.Timedelta(hours=1))])
    pairs = pair_ecgs_with_studies(ecgs, studies, window_days=7)
    assert set(zip(pairs["ecg_id"], pairs["study_id"])) == {("e1", "s1"), ("e3", "s2")}


def test_pairs_are_complete_many_to_many_against_brute_force():
    rng = np.random.default_rng(3)
    n_ecg, n_study = 300, 200
    ecgs = _ecgs([(f"e{i}", f"p{rng.integers(20)}", "c", T0 + pd.Timedelta(hours=float(rng.uniform(0, 24 * 60))))
                  for i in range(n_ecg)])
    studies = _studies([(f"s{i}", f"p{rng.integers(20)}", "c", T0 + pd.Timedelta(hours=float(rng.uniform(0, 24 * 60))))
                        for i in range(n_study)])
    pairs = pair_ecgs_with_studies(ecgs, studies, window_days=7)
    expected = {
        (e.ecg_id, s.study_id)
        for e, s in itertools.product(ecgs.itertuples(), studies.itertuples())
        if e.patient_id == s.patient_id and abs(s.acquired_at - e.acquired_at) <= pd.Timedelta(days=7)
    }
    assert set(zip(pairs["ecg_id"], pairs["study_id"])) == expected
    assert len(pairs) == len(expected)
    assert pairs["ecg_id"].value_counts().max() > 1 and pairs["study_id"].value_counts().max() > 1


def test_negative_window_is_rejected():
    with pytest.raises(ValueError):
        pair_ecgs_with_studies(_ecgs([]), _studies([]), window_days=-1)
