"""Which studies retrieval ranks and how sigma is taken: the authors' reading (candidates = test
studies in test pairs with the phenotype, sigma = sample SD over them) against the other reading
(every test-patient study with a value, population SD), on a fixture where they differ."""
import numpy as np
import pandas as pd
import pytest

from echo2ecg.evaluate.retrieval import RetrievalConfig, evaluate_retrieval

# test studies s0, s1, s2 are paired with test ECGs e0, e1, e2; sx belongs to a test patient but is in
# no pair; s9 / e9 are a train pair (ignored by both readings)
VALUES = {"s0": 30.0, "s1": 37.0, "s2": 60.0, "sx": 60.0, "s9": 45.0}
STUDY_Z = {"s0": [1, 0.3, 0, 0], "s1": [0, 1, 0, 0], "s2": [0, 0, 1, 0], "sx": [1, 0, 0, 0.1], "s9": [0, 0, 0, 1]}
# e0 is closest to sx (irrelevant: 60 vs 30), then s0; e1 to s1; e2 to s2
ECG_Z = {"e0": [1, 0, 0, 0.1], "e1": [0, 1, 0, 0], "e2": [0, 0, 1, 0], "e9": [0, 0, 0, 1]}


def tables():
    split = {"s9": "train", "e9": "train"}
    rows = [{"kind": "study", "id": s, "split": split.get(s, "test"), **{f"z{j}": v for j, v in enumerate(z)}}
            for s, z in STUDY_Z.items()]
    rows += [{"kind": "ecg", "id": e, "split": split.get(e, "test"), **{f"z{j}": v for j, v in enumerate(z)}}
             for e, z in ECG_Z.items()]
    ph = pd.DataFrame({"entity": "study", "entity_id": list(VALUES), "cohort": "c", "lvef": list(VALUES.values()),
                       "lvedv": np.nan, "lvesv": np.nan, "lvsv": np.nan})
    pairs = pd.DataFrame({"ecg_id": ["e0", "e1", "e2", "e9"], "study_id": ["s0", "s1", "s2", "s9"], "cohort": "c"})
    return pd.DataFrame(rows), pairs, ph


def run(**settings) -> pd.Series:
    aligned, pairs, ph = tables()
    cfg = RetrievalConfig(tolerance_sd=0.5, ks=(1,), phenotypes=("lvef",), **settings)
    return evaluate_retrieval(aligned, pairs, ph, variant="v", cohort="c", cfg=cfg, seed=0, n_bootstrap=20,
                              ci=0.95).iloc[0]


def test_the_default_is_the_authors_reading():
    cfg = RetrievalConfig()
    assert (cfg.candidates, cfg.sigma_ddof) == ("test_pairs", 1)
    from_config = RetrievalConfig.from_dict({"tolerance_sd": 0.5, "ks": [1], "phenotypes": ["lvef"]})
    assert (from_config.candidates, from_config.sigma_ddof) == ("test_pairs", 1)
    assert run().equals(run(candidates="test_pairs", sigma_ddof=1))
    with pytest.raises(ValueError, match="candidates"):
        RetrievalConfig(candidates="everything")


def test_test_pair_candidates_leave_out_unpaired_studies():
    authors = run(candidates="test_pairs", sigma_ddof=1)
    # sigma over s0, s1, s2 = SD(30, 37, 60), ddof 1 = 15.70 -> tolerance 7.85
    assert authors["n_studies"] == 3 and authors["n_queries"] == 3
    assert authors["sigma"] == pytest.approx(np.sqrt(((30 - 127 / 3) ** 2 + (37 - 127 / 3) ** 2 + (60 - 127 / 3) ** 2) / 2))
    # every ECG's most similar candidate is its own (relevant) study
    assert authors["precision_at_1"] == pytest.approx(1.0)
    patients = run(candidates="test_patients", sigma_ddof=1)
    # sx (60) joins: it is e0's most similar study and irrelevant to e0 (30): P@1 = 2/3
    assert patients["n_studies"] == 4 and patients["n_queries"] == 3
    assert patients["sigma"] == pytest.approx(np.std([30, 37, 60, 60], ddof=1))
    assert patients["precision_at_1"] == pytest.approx(2 / 3)


def test_sigma_ddof_decides_which_studies_are_relevant():
    # ddof 1: tolerance 7.85, so s0 (30) and s1 (37) are relevant to each other's ECG: 2, 2 and 1 relevant of 3
    sample = run(candidates="test_pairs", sigma_ddof=1)
    assert sample["random_precision_at_1"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3) / 3)
    # ddof 0: SD(30, 37, 60) = 12.81, tolerance 6.41 < 7: each ECG has only its own study relevant
    population = run(candidates="test_pairs", sigma_ddof=0)
    assert population["sigma"] == pytest.approx(np.std([30, 37, 60]))
    assert population["random_precision_at_1"] == pytest.approx(1 / 3)
