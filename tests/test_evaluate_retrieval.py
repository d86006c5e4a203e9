"""ECG-to-echo retrieval on hand-made fixtures with known answers."""
import itertools

import numpy as np
import pandas as pd
import pytest

from echo2ecg.evaluate.retrieval import (RetrievalConfig, cosine_similarity, evaluate_retrieval, random_baseline,
                                         ranked_metrics)

KS = (1, 3)


def one(similarity, relevant):
    out = ranked_metrics(np.array([similarity], dtype=float), np.array([relevant], dtype=bool), KS)
    return {k: float(v[0]) for k, v in out.items()}


def test_perfect_reversed_and_no_relevant_rankings():
    assert one([0.9, 0.8, 0.7, 0.6], [1, 1, 0, 0]) == {"precision_at_1": 1.0, "precision_at_3": pytest.approx(2 / 3),
                                                       "first_relevant_rank": 1.0}
    assert one([0.9, 0.8, 0.7, 0.6], [0, 0, 0, 1]) == {"precision_at_1": 0.0, "precision_at_3": 0.0,
                                                       "first_relevant_rank": 4.0}
    # no relevant study: rank N + 1
    assert one([0.9, 0.8, 0.7, 0.6], [0, 0, 0, 0]) == {"precision_at_1": 0.0, "precision_at_3": 0.0,
                                                       "first_relevant_rank": 5.0}
    # the order of the candidate columns does not matter, only the similarities
    assert one([0.6, 0.7, 0.8, 0.9], [0, 0, 0, 1])["first_relevant_rank"] == 1.0


def test_ties_count_as_the_expectation_over_their_orders():
    # three studies tied at the top, one relevant among them: P@1 = 1/3, first rank (3+1)/(1+1) = 2
    assert one([0.5, 0.5, 0.5, 0.1], [0, 1, 0, 0]) == {"precision_at_1": pytest.approx(1 / 3),
                                                       "precision_at_3": pytest.approx(1 / 3),
                                                       "first_relevant_rank": pytest.approx(2.0)}
    # a tie behind the first place: rank = 1 + (2+1)/(2+1) = 2
    assert one([0.9, 0.5, 0.5, 0.1], [0, 1, 1, 0])["first_relevant_rank"] == pytest.approx(2.0)
    # a tie straddling k = 3: positions 2..4 tied, one of them relevant -> 2/3 of it in the top 3
    assert one([0.9, 0.8, 0.5, 0.5, 0.5], [1, 0, 0, 1, 0])["precision_at_3"] == pytest.approx((1 + 1 / 3) / 3)


def brute_force(similarity, relevant, ks):
    """Average over every order of the tied candidates (exhaustive)."""
    n = len(similarity)
    totals, count = {f"precision_at_{k}": 0.0 for k in ks} | {"first_relevant_rank": 0.0}, 0
    for perm in itertools.permutations(range(n)):
        order = sorted(perm, key=lambda i: -similarity[i])  # stable: ties keep the permutation's order
        rel = np.asarray(relevant)[order]
        for k in ks:
            totals[f"precision_at_{k}"] += rel[:k].sum() / min(k, n)
        totals["first_relevant_rank"] += (np.argmax(rel) + 1) if rel.any() else n + 1
        count += 1
    return {k: v / count for k, v in totals.items()}


def test_tie_handling_equals_exhaustive_enumeration():
    rng = np.random.default_rng(0)
    for _ in range(25):
        n = int(rng.integers(2, 7))
        similarity = rng.integers(0, 3, size=n).astype(float)  # many ties
        relevant = rng.integers(0, 2, size=n).astype(bool)
        expected = brute_force(similarity, relevant, (1, 2, 3, 10))
        got = ranked_metrics(similarity[None], relevant[None], (1, 2, 3, 10))
        for name, value in expected.items():
            assert got[name][0] == pytest.approx(value), (similarity, relevant, name)


def test_random_baseline_is_the_exact_expectation_and_equals_an_all_tied_ranking():
    rng = np.random.default_rng(1)
    relevant = rng.integers(0, 2, size=(30, 6)).astype(bool)
    relevant[0] = False
    base = random_baseline(relevant, (1, 3, 10))
    tied = ranked_metrics(np.zeros(relevant.shape), relevant, (1, 3, 10))
    for name in base:
        assert np.allclose(base[name], tied[name])
    for q in range(5):  # and the enumeration over every ranking agrees
        expected = brute_force(np.zeros(6), relevant[q], (1, 3, 10))
        assert base["precision_at_3"][q] == pytest.approx(expected["precision_at_3"])
        assert base["first_relevant_rank"][q] == pytest.approx(expected["first_relevant_rank"])
    r = relevant.sum(axis=1)
    assert np.allclose(base["precision_at_1"], r / 6)
    assert base["first_relevant_rank"][0] == 7.0  # none relevant: N + 1


def test_cosine_similarity_ignores_the_norm():
    a = np.array([[1.0, 0.0], [0.0, 3.0]])
    b = np.array([[5.0, 0.0], [1.0, 1.0]])
    assert np.allclose(cosine_similarity(a, b), [[1.0, 2 ** -0.5], [0.0, 2 ** -0.5]])


def fixture_tables():
    """Four test studies, three test ECGs; ECG e0 is paired with two studies (LVEF 30 and 50: its
    query value is their mean, 40); one train study that must be ignored."""
    studies = pd.DataFrame({"id": ["s0", "s1", "s2", "s3", "s9"], "lvef": [30.0, 50.0, 40.0, 70.0, 40.0],
                            "split": ["test"] * 4 + ["train"]})
    ph = pd.DataFrame({"entity": "study", "entity_id": studies["id"], "cohort": "c", "lvef": studies["lvef"],
                       "lvedv": np.nan, "lvesv": np.nan, "lvsv": np.nan})
    pairs = pd.DataFrame({"ecg_id": ["e0", "e0", "e1", "e2", "e9"], "study_id": ["s0", "s1", "s2", "s3", "s9"],
                          "cohort": "c"})
    return studies, ph, pairs


def aligned(study_z, ecg_z, studies):
    rows = [{"kind": "study", "id": i, "split": s, **{f"z{j}": v for j, v in enumerate(z)}}
            for i, s, z in zip(studies["id"], studies["split"], study_z)]
    rows += [{"kind": "ecg", "id": f"e{i}", "split": "test", **{f"z{j}": v for j, v in enumerate(z)}}
             for i, z in enumerate(ecg_z)]
    rows.append({"kind": "ecg", "id": "e9", "split": "train", **{f"z{j}": v for j, v in enumerate(study_z[-1])}})
    return pd.DataFrame(rows)


def test_evaluate_retrieval_on_a_fixture_with_known_answers():
    studies, ph, pairs = fixture_tables()
    cfg = RetrievalConfig(tolerance_sd=0.5, ks=(1, 3), phenotypes=("lvef",), candidates="test_patients", sigma_ddof=0)
    # test sigma over the 4 unique test studies: std([30, 50, 40, 70]) = 14.79; tolerance 7.40
    # e0 (40): relevant s2 only; e1 (40): s2; e2 (70): s3
    eye = np.eye(4)
    study_z = np.vstack([eye, [[0, 0, 1, 0]]])
    perfect = aligned(study_z, [eye[2], eye[2], eye[3]], studies)
    row = evaluate_retrieval(perfect, pairs, ph, variant="v", cohort="c", cfg=cfg, seed=0, n_bootstrap=50,
                             ci=0.95).iloc[0]
    assert row["n_queries"] == 3 and row["n_studies"] == 4
    assert row["sigma"] == pytest.approx(np.std([30, 50, 40, 70]))
    assert row["precision_at_1"] == 1.0 and row["mean_rank"] == 1.0
    assert row["random_precision_at_1"] == pytest.approx(0.25)          # one relevant of four each
    assert row["random_mean_rank"] == pytest.approx(2.5)                # (4 + 1) / (1 + 1)
    # reversed: each query's relevant study is the least similar
    reversed_ = aligned(study_z, [-eye[2], -eye[2], -eye[3]], studies)
    row = evaluate_retrieval(reversed_, pairs, ph, variant="v", cohort="c", cfg=cfg, seed=0, n_bootstrap=50,
                             ci=0.95).iloc[0]
    assert row["precision_at_1"] == 0.0 and row["mean_rank"] == 4.0
    assert row["precision_at_1_minus_random_ci_high"] < 0
    # constant embeddings: every study tied, the metrics ARE the random expectation
    flat = aligned(np.ones((5, 4)), np.ones((3, 4)), studies)
    row = evaluate_retrieval(flat, pairs, ph, variant="v", cohort="c", cfg=cfg, seed=0, n_bootstrap=50,
                             ci=0.95).iloc[0]
    assert row["precision_at_1"] == pytest.approx(row["random_precision_at_1"])
    assert row["mean_rank"] == pytest.approx(row["random_mean_rank"])


def test_a_query_without_a_relevant_study_ranks_n_plus_one():
    studies, ph, pairs = fixture_tables()
    ph.loc[ph["entity_id"] == "s3", "lvef"] = 69.0
    ph = pd.concat([ph, ph.iloc[[0]].assign(entity_id="s4", lvef=71.0)])  # not paired, but a candidate
    studies = pd.concat([studies.iloc[:4], pd.DataFrame({"id": ["s4"], "lvef": [71.0], "split": ["test"]}),
                         studies.iloc[4:]])
    cfg = RetrievalConfig(tolerance_sd=0.01, ks=(1,), phenotypes=("lvef",), candidates="test_patients", sigma_ddof=0)
    # tolerance ~0.17: e0 (40) matches s2
    z = np.vstack([np.eye(5), [[0, 0, 1, 0, 0]]])
    table = aligned(z, [np.eye(5)[2], np.eye(5)[2], np.eye(5)[3]], studies)
    pairs = pairs.copy()
    pairs.loc[pairs["ecg_id"] == "e2", "study_id"] = "s1"   # e2 now queries LVEF 50 ... s1 itself is relevant
    ph.loc[ph["entity_id"] == "s1", "lvef"] = 55.5          # e0 = mean(30, 55.5) = 42.75: nothing within 0.17
    row = evaluate_retrieval(table, pairs, ph, variant="v", cohort="c", cfg=cfg, seed=0, n_bootstrap=20,
                             ci=0.95).iloc[0]
    # e0: none relevant -> 6 (N + 1, N = 5); e1 (40): s2 first -> 1; e2 (55.5): s1 among 4 tied at
    # similarity 0 behind s3 -> 1 + (4 + 1) / (1 + 1) = 3.5
    assert row["mean_rank"] == pytest.approx((6 + 1 + 3.5) / 3)
