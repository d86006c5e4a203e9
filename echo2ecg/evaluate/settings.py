"""The evaluation's part of the configuration: checks a schema cannot express, and which jobs the
evaluation runs (rules in workflow/rules/evaluate.smk)."""
from __future__ import annotations

from echo2ecg.config import ConfigError


def lvef_cohorts(config: dict) -> list[str]:
    """Cohorts with an LVEF kNN evaluation (null in the config: every cohort)."""
    chosen = config["evaluation"]["lvef"]["cohorts"]
    return list(config["cohorts"]) if chosen is None else list(chosen)


def knn_jobs(config: dict) -> list[tuple[str, str]]:
    """(task, cohort) of every kNN evaluation, in config order."""
    return [("lvef", c) for c in lvef_cohorts(config)] + [("shd", c) for c in config["evaluation"]["shd"]["cohorts"]]


def check_evaluation_config(config: dict) -> None:
    """Raise ConfigError naming the key when the evaluation section contradicts itself or the cohorts."""
    ev = config["evaluation"]
    classes = ev["lvef"]["classes"]
    if classes["normal_min"] <= classes["reduced_max"]:
        raise ConfigError(f"config key evaluation.lvef.classes.normal_min: {classes['normal_min']} must be above "
                          f"reduced_max {classes['reduced_max']}")
    for key, cohorts in (("lvef.cohorts", ev["lvef"]["cohorts"] or []), ("shd.cohorts", ev["shd"]["cohorts"])):
        unknown = [c for c in cohorts if c not in config["cohorts"]]
        if unknown:
            raise ConfigError(f"config key evaluation.{key}: unknown cohort(s) {', '.join(unknown)} "
                              f"(configured: {', '.join(config['cohorts'])})")
    if ev["report"]["ablation_shd_fraction"] not in ev["shd"]["fractions"] and ev["shd"]["cohorts"]:
        raise ConfigError(f"config key evaluation.report.ablation_shd_fraction: {ev['report']['ablation_shd_fraction']} "
                          f"is not one of evaluation.shd.fractions {ev['shd']['fractions']}")


def evaluation_params(config: dict, task: str) -> dict:
    """The config keys one kNN task reads (so that a key of the other task reruns nothing here)."""
    ev = config["evaluation"]
    params = {"seed": ev["seed"], "knn": ev["knn"], "bootstrap": ev["bootstrap"]}
    return params | ({"lvef": ev["lvef"] | {"cohorts": None}} if task == "lvef" else {"shd": ev["shd"] | {"cohorts": None}})
