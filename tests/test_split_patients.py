import numpy as np
import pandas as pd
import pytest

from echo2ecg.split_patients import split_of_patients, split_patients

FRACTIONS = {"train": 0.85, "val": 0.075, "test": 0.075}


def _ecgs(patients, cohort="mimic", dataset_split=None):
    return pd.DataFrame({"ecg_id": [f"e{p}" for p in patients], "patient_id": patients, "cohort": cohort,
                         "dataset_split": dataset_split if dataset_split is not None else [None] * len(patients)})


def _no_studies():
    return pd.DataFrame(columns=["study_id", "patient_id", "cohort"])


def test_every_patient_in_exactly_one_split_with_the_configured_fractions():
    patients = [str(10_000_000 + i) for i in range(20_000)]
    splits = split_patients(_ecgs(patients), _no_studies(), {"mimic": "patient_hash"}, FRACTIONS, seed=42)
    assert len(splits) == len(patients) and splits["patient_id"].is_unique
    shares = splits["split"].value_counts(normalize=True)
    for name, fraction in FRACTIONS.items():
        assert abs(shares[name] - fraction) < 0.01


def test_existing_assignments_never_move_when_patients_are_added():
    first = [f"p{i}" for i in range(500)]
    before = split_patients(_ecgs(first), _no_studies(), {"mimic": "patient_hash"}, FRACTIONS, seed=7)
    grown = first + [f"q{i}" for i in range(700)]
    rng = np.random.default_rng(0)
    after = split_patients(_ecgs(list(rng.permutation(grown))), _no_studies(), {"mimic": "patient_hash"}, FRACTIONS, seed=7)
    merged = before.merge(after, on=["cohort", "patient_id"], suffixes=("_before", "_after"))
    assert len(merged) == 500
    assert (merged["split_before"] == merged["split_after"]).all()


def test_split_is_deterministic_and_depends_on_the_seed():
    patients = [f"p{i}" for i in range(1000)]
    a = split_of_patients(patients, FRACTIONS, seed=1)
    assert (a == split_of_patients(patients, FRACTIONS, seed=1)).all()
    assert (a != split_of_patients(patients, FRACTIONS, seed=2)).sum() > 50


def test_dataset_splits_are_kept_and_conflicts_fail():
    ecgs = _ecgs(["a", "a", "b", "c"], cohort="echonext", dataset_split=["train", "train", "test", "no_split"])
    splits = split_patients(ecgs, _no_studies(), {"echonext": "dataset"}, FRACTIONS, seed=1)
    assert dict(zip(splits["patient_id"], splits["split"])) == {"a": "train", "b": "test"}
    bad = _ecgs(["a", "a"], cohort="echonext", dataset_split=["train", "val"])
    with pytest.raises(ValueError, match="more than one split"):
        split_patients(bad, _no_studies(), {"echonext": "dataset"}, FRACTIONS, seed=1)
