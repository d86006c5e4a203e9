"""Phenotype-aware ECG-to-echo retrieval (rule family retrieval; RECIPE section 7).

Every test ECG (a query) ranks every test echo study (the candidates) by the cosine similarity of
their L2-normalised 512-d aligned embeddings. For one phenotype (LVEDV, LVESV, LVSV, LVEF):

- candidates (``candidates: test_pairs``, the authors' reading and the default): the test studies
  that occur in a test pair (an ECG and a study of the test split, both embedded) and have a
  known value; ``test_patients``: every test-patient study with a known value, paired or not;
- sigma = the standard deviation of the value over those unique candidate studies, with
  ``sigma_ddof`` (1, the sample SD, as the authors; 0 the population SD);
- the queries: the test ECGs paired with a candidate; the query's value = the mean over its
  paired test studies with a known value (ECGs without one are left out and counted);
- a study is relevant when |value - query value| <= tolerance * sigma (tolerance 0.5; the bound is
  inclusive);
- Precision@k = share of relevant studies among the top k (k capped at the number of candidates);
  rank of the first relevant study, 1-based, N + 1 when no candidate is relevant; both averaged
  over the queries.

Ties in similarity are broken uniformly at random IN EXPECTATION: a metric is its expected value
over every order of the tied studies, computed exactly (no random draw). The random-retrieval
baseline is the same expectation over a uniformly random ranking of all N candidates, i.e. the
all-tied case: with r relevant, E[P@k] = r / N (hypergeometric mean of the relevant count in the
top k, divided by k) and E[first relevant rank] = (N + 1) / (r + 1) (N + 1 when r = 0). It is an
exact expected value, not a simulation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from echo2ecg.evaluate.bootstrap import percentile_interval, resample_indices

RETRIEVAL_PHENOTYPES = ("lvedv", "lvesv", "lvsv", "lvef")
CANDIDATE_SETS = ("test_pairs", "test_patients")


@dataclass(frozen=True)
class RetrievalConfig:
    """Defaults: RECIPE section 7."""

    tolerance_sd: float = 0.5
    ks: tuple = (1, 3, 5, 10)
    phenotypes: tuple = RETRIEVAL_PHENOTYPES
    split: str = "test"
    candidates: str = "test_pairs"   # test_pairs (the authors') | test_patients
    sigma_ddof: int = 1              # sample SD over the unique candidate studies (the authors')

    def __post_init__(self):
        if self.candidates not in CANDIDATE_SETS:
            raise ValueError(f"retrieval candidates must be one of {CANDIDATE_SETS}, not {self.candidates!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "RetrievalConfig":
        return cls(tolerance_sd=d["tolerance_sd"], ks=tuple(d["ks"]), phenotypes=tuple(d["phenotypes"]),
                   split=d.get("split", "test"), candidates=d.get("candidates", "test_pairs"),
                   sigma_ddof=int(d.get("sigma_ddof", 1)))


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def cosine_similarity(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(n_queries, n_candidates) cosine of the L2-normalised rows (float64)."""
    return l2_normalise(queries) @ l2_normalise(candidates).T


def ranked_metrics(similarity: np.ndarray, relevant: np.ndarray, ks) -> dict[str, np.ndarray]:
    """Per query: expected Precision@k for each k and expected rank of the first relevant
    candidate (1-based, N + 1 when none), ties in similarity broken uniformly at random in
    expectation. ``similarity`` and ``relevant`` are (Q, N)."""
    n_q, n = similarity.shape
    order = np.argsort(-similarity, axis=1, kind="stable")
    sims = np.take_along_axis(similarity, order, axis=1)
    rel = np.take_along_axis(relevant, order, axis=1).astype(np.float64)
    positions = np.broadcast_to(np.arange(n), (n_q, n))
    # tie groups of equal similarity: start (0-based) and end (exclusive) of each position's group
    new_group = np.ones((n_q, n), dtype=bool)
    new_group[:, 1:] = sims[:, 1:] != sims[:, :-1]
    start = np.maximum.accumulate(np.where(new_group, positions, 0), axis=1)
    last = np.ones((n_q, n), dtype=bool)
    last[:, :-1] = new_group[:, 1:]
    end = np.minimum.accumulate(np.where(last, positions + 1, n)[:, ::-1], axis=1)[:, ::-1]
    size = end - start
    out = {}
    for k in ks:
        k_eff = min(k, n)
        # share of each position's group that falls into the top k, times its relevance
        inside = np.clip((k_eff - start) / size, 0.0, 1.0)
        out[f"precision_at_{k}"] = (rel * inside).sum(axis=1) / k_eff if n else np.full(n_q, np.nan)
    # first relevant: the first group holding a relevant candidate; expected position inside it
    cum = np.concatenate([np.zeros((n_q, 1)), np.cumsum(rel, axis=1)], axis=1)
    has = rel.any(axis=1)
    first = np.argmax(rel > 0, axis=1)
    g_start = start[np.arange(n_q), first]
    g_end = end[np.arange(n_q), first]
    g_rel = cum[np.arange(n_q), g_end] - cum[np.arange(n_q), g_start]
    rank = g_start + (g_end - g_start + 1) / (g_rel + 1)
    out["first_relevant_rank"] = np.where(has, rank, n + 1.0)
    return out


def random_baseline(relevant: np.ndarray, ks) -> dict[str, np.ndarray]:
    """Exact expectations under a uniformly random ranking (per query): E[P@k] = r / N for k <= N
    (hypergeometric), E[first relevant rank] = (N + 1) / (r + 1), N + 1 when r = 0."""
    n_q, n = relevant.shape
    r = relevant.sum(axis=1).astype(np.float64)
    out = {f"precision_at_{k}": r / n if n else np.full(n_q, np.nan) for k in ks}
    out["first_relevant_rank"] = np.where(r > 0, (n + 1.0) / (r + 1.0), n + 1.0)
    return out


def aligned_split(aligned: pd.DataFrame, split: str) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """ECG rows and study rows of one split of an aligned-embedding table, with their z matrices."""
    columns = sorted((c for c in aligned.columns if c.startswith("z") and c[1:].isdigit()), key=lambda c: int(c[1:]))
    if not columns:
        raise ValueError("aligned embedding table has no z0..z{D-1} columns")
    part = aligned[aligned["split"].astype(str) == split]
    ecgs = part[part["kind"] == "ecg"].assign(id=lambda f: f["id"].astype(str)).sort_values("id")
    studies = part[part["kind"] == "study"].assign(id=lambda f: f["id"].astype(str)).sort_values("id")
    return (ecgs[["id"]].reset_index(drop=True), ecgs[columns].to_numpy(np.float64),
            studies[["id"]].reset_index(drop=True), studies[columns].to_numpy(np.float64))


def evaluate_retrieval(aligned: pd.DataFrame, pairs: pd.DataFrame, phenotypes: pd.DataFrame, *, variant: str,
                       cohort: str, cfg: RetrievalConfig, seed: int, n_bootstrap: int, ci: float,
                       log=None) -> pd.DataFrame:
    """One row per phenotype: the variant's mean Precision@k and mean first-relevant rank over the
    queries, the exact random-retrieval expectation of the same, bootstrap CIs (over queries) of
    P@1, of the mean rank and of P@1 minus its random expectation (paired per query), and the set
    sizes."""
    ecg_ids, ecg_z, study_ids, study_z = aligned_split(aligned, cfg.split)
    similarity_all = cosine_similarity(ecg_z, study_z)
    ph = phenotypes[(phenotypes["cohort"] == cohort) & (phenotypes["entity"] == "study")]
    values = ph.assign(entity_id=ph["entity_id"].astype(str)).set_index("entity_id")
    p = pairs.loc[pairs["cohort"] == cohort, ["ecg_id", "study_id"]].astype(str)
    p = p[p["study_id"].isin(study_ids["id"]) & p["ecg_id"].isin(ecg_ids["id"])]
    rows = []
    for phenotype in cfg.phenotypes:
        study_value = pd.to_numeric(study_ids["id"].map(values[phenotype]), errors="coerce").to_numpy(np.float64)
        known = np.isfinite(study_value)
        if cfg.candidates == "test_pairs":
            known &= study_ids["id"].isin(p["study_id"]).to_numpy()
        candidates = study_value[known]
        sigma = float(np.std(candidates, ddof=cfg.sigma_ddof)) if known.sum() > cfg.sigma_ddof else float("nan")
        paired = p.assign(value=p["study_id"].map(dict(zip(study_ids["id"], study_value)))).dropna(subset=["value"])
        query_value = ecg_ids["id"].map(paired.groupby("ecg_id")["value"].mean()).to_numpy(np.float64)
        is_query = np.isfinite(query_value)
        sim = similarity_all[np.ix_(is_query, known)]
        relevant = np.abs(candidates[None, :] - query_value[is_query, None]) <= cfg.tolerance_sd * sigma
        model = ranked_metrics(sim, relevant, cfg.ks)
        random = random_baseline(relevant, cfg.ks)
        row = {"variant": variant, "cohort": cohort, "phenotype": phenotype, "split": cfg.split,
               "n_queries": int(is_query.sum()), "n_queries_without_value": int((~is_query).sum()),
               "n_studies": int(known.sum()), "candidates": cfg.candidates, "sigma_ddof": cfg.sigma_ddof,
               "sigma": sigma, "tolerance": cfg.tolerance_sd * sigma,
               "mean_relevant_share": float(relevant.mean()) if relevant.size else float("nan")}
        for name in (*(f"precision_at_{k}" for k in cfg.ks), "first_relevant_rank"):
            out_name = "mean_rank" if name == "first_relevant_rank" else name
            row[out_name] = float(model[name].mean()) if len(model[name]) else float("nan")
            row[f"random_{out_name}"] = float(random[name].mean()) if len(random[name]) else float("nan")
        indices = resample_indices(int(is_query.sum()), n_bootstrap, seed, f"retrieval/{cohort}/{phenotype}")
        for name, per_query in (("precision_at_1", model["precision_at_1"]), ("mean_rank", model["first_relevant_rank"]),
                                ("precision_at_1_minus_random", model["precision_at_1"] - random["precision_at_1"])):
            means = per_query[indices].mean(axis=1) if per_query.size else np.full(n_bootstrap, np.nan)
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = percentile_interval(means, ci)
        row["precision_at_1_minus_random"] = row["precision_at_1"] - row["random_precision_at_1"]
        rows.append(row)
        if log:
            log.info("%s retrieval %s: %d queries, %d studies, P@1 %.3f (random %.3f), mean rank %.2f (random %.2f)",
                     variant, phenotype, row["n_queries"], row["n_studies"], row["precision_at_1"],
                     row["random_precision_at_1"], row["mean_rank"], row["random_mean_rank"])
    return pd.DataFrame(rows)
