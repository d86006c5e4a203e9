"""The small preset's whole DAG (synthesis, ingest, both stand-in encoders, every pre-training
variant, features, kNN, retrieval, report) run by Snakemake from scratch: the evaluation reads
features that the workflow itself trained, and every configured variant comes out evaluated."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from small_dag import (EVAL_TABLES, default_variants, feature_files, model_files, pretrain_cohorts, replicates,
                       report_files, small_config, small_snakemake)

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def config():
    return small_config()


def test_every_model_feature_evaluation_and_report_file_is_written(small_run, config):
    expected = [f for v in default_variants(config) for r in replicates(config)
                for f in model_files(v, r) + feature_files(config, v, r)]
    expected += list(EVAL_TABLES.values()) + report_files(config)
    missing = [f for f in expected if not (small_run / f).is_file() or (small_run / f).stat().st_size == 0]
    assert not missing, missing
    assert not [f for f in expected if not (small_run / f"{f}.prov.json").is_file()]
    # nothing is left to do
    dry = small_snakemake(small_run, "-n")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]


def test_every_variant_is_evaluated_on_every_task_cohort_and_fraction(small_run, config):
    from echo2ecg.evaluate.settings import lvef_cohorts, shd_cohorts

    variants = default_variants(config)
    knn = pd.read_parquet(small_run / EVAL_TABLES["knn"])
    fractions = config["evaluation"]["shd"]["fractions"]
    seeds = [int(s) for s in config["pretrain"]["replicates"]]
    expected = {(v, s, "lvef", c, None) for v in variants for s in seeds for c in lvef_cohorts(config)}
    expected |= {(v, s, "shd", c, f) for v in variants for s in seeds for c in shd_cohorts(config) for f in fractions}
    got = {(r.variant, r.replicate, r.task, r.cohort, None if np.isnan(r.train_fraction) else r.train_fraction)
           for r in knn.itertuples()}
    assert got == expected and len(knn) == len(expected)
    assert shd_cohorts(config) and len(lvef_cohorts(config)) == 3
    # every LVEF class in every balanced training draw, both SHD classes in every test set:
    # each AUROC is defined and lies inside its interval
    lvef = knn[knn["task"] == "lvef"]
    for counts in lvef["train_classes"]:   # balanced: the same count of each class, none missing
        per_class = [int(n) for n in counts.split("/")]
        assert len(set(per_class)) == 1 and per_class[0] > 0, counts
        assert sum(per_class) <= config["evaluation"]["lvef"]["train_size"]
    assert lvef["test_classes"].map(lambda c: min(int(n) for n in c.split("/")) > 0).all(), lvef["test_classes"]
    assert knn["auroc"].between(0, 1).all() and knn["ci_low"].notna().all()
    assert (knn["ci_low"] <= knn["auroc"]).all() and (knn["auroc"] <= knn["ci_high"]).all()
    # the test ECGs are the feature file's labelled test ECGs of that cohort
    for (variant, replicate, cohort), part in knn[knn["task"] == "lvef"].groupby(["variant", "replicate", "cohort"]):
        features = pd.read_parquet(small_run / f"results/features/{variant}/seed{replicate}/{cohort}.parquet",
                                   columns=["split"])
        assert part["n_test"].iloc[0] <= (features["split"] == "test").sum()
    shd = knn[knn["task"] == "shd"]
    repeat_seeds = config["evaluation"]["shd"]["repeat_seeds"]
    assert (shd["n_repeats"] == np.where(shd["train_fraction"] < 1, len(repeat_seeds), 1)).all()
    # paired differences: every variant against every configured reference, on every (task, cohort, fraction)
    paired = pd.read_parquet(small_run / EVAL_TABLES["knn_paired"])
    references = [r for r in config["evaluation"]["paired_references"] if r in variants]
    assert references
    for reference in references:
        mine = paired[paired["reference"] == reference]
        assert set(mine["variant"]) == set(variants) - {reference}
        assert set(mine["replicate"]) == set(seeds)  # a variant's replicate against the reference's same one
        assert len(mine) == (len(variants) - 1) * len(knn[knn["variant"] == reference])
    assert paired["auroc_difference"].notna().all()


def test_retrieval_covers_every_variant_and_phenotype(small_run, config):
    retrieval = pd.read_parquet(small_run / EVAL_TABLES["retrieval"])
    variants = default_variants(config)
    phenotypes = config["evaluation"]["retrieval"]["phenotypes"]
    seeds = [int(s) for s in config["pretrain"]["replicates"]]
    assert set(zip(retrieval["variant"], retrieval["replicate"], retrieval["phenotype"])) == {
        (v, s, p) for v in variants for s in seeds for p in phenotypes}
    assert set(retrieval["cohort"]) == set(pretrain_cohorts(config))
    assert (retrieval["n_queries"] > 0).all() and (retrieval["n_studies"] > 1).all()
    for k in config["evaluation"]["retrieval"]["ks"]:
        assert retrieval[f"precision_at_{k}"].between(0, 1).all()
    assert retrieval["mean_rank"].between(1, retrieval["n_studies"] + 1).all()
    assert (retrieval["mean_rank_ci_low"] <= retrieval["mean_rank"]).all()


def test_the_report_names_every_variant_and_renders(small_run, config):
    from echo2ecg.report.tables import TITLES

    variants = default_variants(config)
    table3 = pd.read_csv(small_run / "results/report/table3.csv")
    assert set(table3["variant"]) == set(variants)
    n = len(replicates(config))  # every cell is over every replicate, with its spread
    assert (table3["n_replicates"] == n).all() and table3["auroc_sd"].notna().all() == (n > 1)
    paired_md = (small_run / "results/report/table3_paired.md").read_text()
    assert all(f"| {variant} | verdict ({n} replicates) |" in paired_md for variant in variants)
    table3_md = (small_run / "results/report/table3.md").read_text()
    assert all(f"| {variant} |" in table3_md for variant in variants), table3_md[:2000]
    table5 = (small_run / "results/report/table5.md").read_text()
    for variant, label in config["evaluation"]["report"]["ablations"].items():
        if variant in variants:
            assert label in table5, label
    summary = (small_run / "results/report/summary.html").read_text()
    assert config["evaluation"]["report"]["main_variant"] in summary
    # Snakemake's HTML report of the run
    result = small_snakemake(small_run, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (small_run / "report.html").read_text()
    assert len(html) > 100_000
    import base64
    import re

    decoded = " ".join(base64.b64decode(p).decode("utf-8", errors="replace")
                       for mime, p in re.findall(r"data:([\w/+.-]+);(?:charset=[\w-]+;)?base64,([A-Za-z0-9+/=]+)",
                                                 html) if not mime.startswith("image/"))
    for title in TITLES.values():   # the tables are embedded as base64 payloads
        assert title in decoded + html, title
