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


# ---- intervals over mixed queries, recomputed by a plain loop ------------------------------------
# Ten test studies whose LVEF has an SD of exactly 16 with ddof = 0 (the fixture's config passes
# sigma_ddof=0 explicitly, so a study sits at exactly 0.5 SD; every study is in a test pair, so both
# candidate readings rank the same set).
MIXED_LVEF = [43.0, 63.0, 71.0, 56.0, 37.0, 68.0, 38.0, 46.0, 74.0, 24.0]
MIXED_SIGMA = float(np.std(MIXED_LVEF, ddof=0))   # 16.0 exactly; 0.5 SD = 8.0 = 71 - 63 = 46 - 38


def mixed_fixture(seed=3):
    """Fourteen test ECGs, each paired with one test study (every test study is paired, so the
    candidates are the same whether they are the test pairs' studies or the test patients'), with
    noisy embeddings: P@1 and the first relevant rank differ from query to query. ECG e00 queries
    s1 (63) and its embedding is s2's (71, exactly 0.5 SD away); e01 queries s6 (38) and its nearest
    study is s7 (46, exactly 0.5 SD away)."""
    rng = np.random.default_rng(seed)
    study_ids = [f"s{i}" for i in range(10)]
    study_z = rng.normal(size=(10, 6))
    paired_study = [1, 6] + list(range(10)) + [2, 5]
    ecg_z = study_z[paired_study] + rng.normal(scale=1.2, size=(14, 6))
    ecg_z[0], ecg_z[1] = study_z[2], study_z[7]
    studies = pd.DataFrame({"id": study_ids + ["s99"], "split": ["test"] * 10 + ["train"]})
    ph = pd.DataFrame({"entity": "study", "entity_id": study_ids + ["s99"], "cohort": "c",
                       "lvef": MIXED_LVEF + [50.0], "lvedv": np.nan, "lvesv": np.nan, "lvsv": np.nan})
    ecg_ids = [f"e{i:02d}" for i in range(14)]
    pairs = pd.DataFrame({"ecg_id": ecg_ids + ["e99"], "study_id": [study_ids[s] for s in paired_study] + ["s99"],
                          "cohort": "c"})
    rows = [{"kind": "study", "id": i, "split": s, **{f"z{j}": v for j, v in enumerate(z)}}
            for i, s, z in zip(studies["id"], studies["split"], np.vstack([study_z, study_z[:1]]))]
    rows += [{"kind": "ecg", "id": i, "split": "test", **{f"z{j}": v for j, v in enumerate(z)}}
             for i, z in zip(ecg_ids, ecg_z)]
    rows.append({"kind": "ecg", "id": "e99", "split": "train", **{f"z{j}": v for j, v in enumerate(study_z[0])}})
    return pd.DataFrame(rows), pairs, ph


def plain_loop_per_query(table, pairs, ph, tolerance, inclusive=True):
    """Each test query's P@1, random P@1 and first relevant rank, one query and one study at a time
    (no ties: the embeddings are continuous)."""
    z = [c for c in table.columns if c.startswith("z")]
    test = table[table["split"] == "test"]
    studies = test[test["kind"] == "study"].sort_values("id")
    values = dict(zip(ph["entity_id"], ph["lvef"]))
    out = []
    for _, ecg in test[test["kind"] == "ecg"].sort_values("id").iterrows():
        query = np.mean([values[s] for s in pairs.loc[pairs["ecg_id"] == ecg["id"], "study_id"]])
        scored = []
        for _, study in studies.iterrows():
            a, b = ecg[z].to_numpy(float), study[z].to_numpy(float)
            cosine = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
            gap = abs(values[study["id"]] - query)
            scored.append((cosine, gap <= tolerance if inclusive else gap < tolerance))
        scored.sort(key=lambda item: -item[0])
        relevant = [r for _, r in scored]
        rank = relevant.index(True) + 1 if any(relevant) else len(relevant) + 1
        out.append((float(relevant[0]), sum(relevant) / len(relevant), float(rank)))
    return np.array(out)


def test_intervals_over_mixed_queries_equal_a_plain_loop_over_the_same_resamples():
    from echo2ecg.evaluate.bootstrap import resample_indices

    table, pairs, ph = mixed_fixture()
    cfg = RetrievalConfig(tolerance_sd=0.5, ks=(1, 3), phenotypes=("lvef",), candidates="test_pairs", sigma_ddof=0)
    n_bootstrap, seed, ci = 300, 11, 0.9
    row = evaluate_retrieval(table, pairs, ph, variant="v", cohort="c", cfg=cfg, seed=seed, n_bootstrap=n_bootstrap,
                             ci=ci).iloc[0]
    assert row["sigma"] == MIXED_SIGMA == 16.0
    per_query = plain_loop_per_query(table, pairs, ph, 0.5 * MIXED_SIGMA)
    assert len(per_query) == row["n_queries"] == 14 and row["n_studies"] == 10
    p1, random_p1, rank = per_query.T
    assert len(set(p1)) > 1 and len(set(rank)) > 2 and len(set(random_p1)) > 1   # mixed queries
    assert row["precision_at_1"] == pytest.approx(p1.mean())
    assert row["random_precision_at_1"] == pytest.approx(random_p1.mean())
    assert row["mean_rank"] == pytest.approx(rank.mean())
    indices = resample_indices(14, n_bootstrap, seed, "retrieval/c/lvef")
    for name, values in (("precision_at_1", p1), ("mean_rank", rank), ("precision_at_1_minus_random", p1 - random_p1)):
        means = []
        for draw in indices:
            means.append(sum(values[i] for i in draw) / len(draw))
        low, high = np.percentile(means, [100 * (1 - ci) / 2, 100 * (1 + ci) / 2])
        assert row[f"{name}_ci_low"] == pytest.approx(low), name
        assert row[f"{name}_ci_high"] == pytest.approx(high), name
        assert low < high, name
    # a study exactly 0.5 SD from the query is relevant: e00 (63) and e01 (38) find s2 (71) and s7 (46)
    # first, and the strict reading would give other numbers
    assert p1[0] == 1.0 and p1[1] == 1.0
    strict = plain_loop_per_query(table, pairs, ph, 0.5 * MIXED_SIGMA, inclusive=False)
    assert strict[0, 0] == 0.0 and strict[1, 0] == 0.0
    assert row["precision_at_1"] != pytest.approx(strict[:, 0].mean())
