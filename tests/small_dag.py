"""The small preset's whole DAG (resources/presets/small.yaml): how to run it, and every output
path the tests read from it, in one place (seed replicates or new outputs change only this file).

One run from scratch is shared by the tests of a session (the ``small_run`` fixture in conftest.py):
tests/test_small_dag.py asserts on its outputs, tests/test_reproducible.py compares it with a
``--cores 1`` run, tests/test_workflow.py dry-runs evaluation-key changes against it."""
from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from snakemake_runs import CONFIG, REPO, run_snakemake

SMALL_PRESET = REPO / "resources/presets/small.yaml"


def small_snakemake(workdir: Path, *args: str, cores: int = 2, extra_config: tuple[str, ...] = (),
                    timeout: int = 2400) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, *args, configfiles=(CONFIG, SMALL_PRESET, *extra_config), cores=cores,
                         timeout=timeout)


def small_config() -> dict:
    """config.yaml with the small preset layered on top, cohorts resolved as the workflow does."""
    from snakemake.utils import update_config

    from echo2ecg.config import resolve_config

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load(SMALL_PRESET.read_text()))
    return resolve_config(config)


def default_variants(config: dict) -> list[str]:
    """The variants the default target builds (and evaluates)."""
    return [v for v, spec in config["pretrain"]["variants"].items() if spec.get("in_default_target", True)]


def pretrain_cohorts(config: dict) -> list[str]:
    return [c for c, spec in config["cohorts"].items() if spec["role"] == "pretrain"]


def replicates(config: dict) -> list[str]:
    """The replicate wildcard values (seed<seed>) in config order."""
    return [f"seed{int(seed)}" for seed in config["pretrain"]["replicates"]]


def model_files(variant: str, replicate: str) -> list[str]:
    return [f"results/models/{variant}/{replicate}/{name}" for name in ("best.pt", "last.pt", "curve.parquet")]


def feature_files(config: dict, variant: str, replicate: str) -> list[str]:
    return ([f"results/features/{variant}/{replicate}/{cohort}.parquet" for cohort in config["cohorts"]]
            + [f"results/features/{variant}/{replicate}/aligned_{cohort}.parquet" for cohort in pretrain_cohorts(config)])


EVAL_TABLES = {"knn": "results/eval/knn.parquet", "knn_paired": "results/eval/knn_paired.parquet",
               "retrieval": "results/eval/retrieval.parquet"}
REPORT_TABLES = ["table1", "table2", "table3", "table3_paired", "table4", "table5"]


def report_files(config: dict) -> list[str]:
    files = [f"results/report/{name}.{ext}" for name in REPORT_TABLES for ext in ("csv", "md")]
    shd = [c for c, spec in config["cohorts"].items() if spec.get("ecg_reader") == "echonext"]
    return files + [f"results/report/figure2_shd_{c}.png" for c in shd] + [
        "results/report/summary.html", "results/report/training_curves.png", "results/report/feature_map.png"]


# rules of the evaluation and the report: the only ones an evaluation key may rerun
EVAL_RULES = {"knn", "knn_summary", "retrieval", "retrieval_summary", "report_tables", "report_shd_figure",
              "report_training_curves", "report_feature_map", "all"}
