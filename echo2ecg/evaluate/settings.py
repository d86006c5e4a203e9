"""The evaluation's part of the configuration: checks a schema cannot express, and which jobs the
evaluation runs (rules in workflow/rules/evaluate.smk)."""
from __future__ import annotations

from echo2ecg.config import ConfigError


def lvef_cohorts(config: dict) -> list[str]:
    """Cohorts with an LVEF kNN evaluation (null in the config: every cohort)."""
    chosen = config["evaluation"]["lvef"]["cohorts"]
    return list(config["cohorts"]) if chosen is None else list(chosen)


def shd_cohorts(config: dict) -> list[str]:
    """Cohorts with an SHD kNN evaluation (null in the config: every configured cohort whose ECG
    reader carries ECG-level labels, as EchoNext does), so a user's own cohort set never inherits
    the demo's cohort names."""
    from echo2ecg.readers import PHENOTYPE_ENTITY

    chosen = config["evaluation"]["shd"]["cohorts"]
    if chosen is not None:
        return list(chosen)
    return [c for c, spec in config["cohorts"].items()
            if "echo_reader" not in spec and PHENOTYPE_ENTITY.get(spec.get("ecg_reader")) == "ecg"]


def knn_jobs(config: dict) -> list[tuple[str, str]]:
    """(task, cohort) of every kNN evaluation, in config order."""
    return [("lvef", c) for c in lvef_cohorts(config)] + [("shd", c) for c in shd_cohorts(config)]


def check_evaluation_config(config: dict) -> None:
    """Raise ConfigError naming the key when the evaluation section contradicts itself or the cohorts."""
    ev = config["evaluation"]
    classes = ev["lvef"]["classes"]
    if classes["normal_min"] <= classes["reduced_max"]:
        raise ConfigError(f"config key evaluation.lvef.classes.normal_min: {classes['normal_min']} must be above "
                          f"reduced_max {classes['reduced_max']}")
    for key, cohorts in (("lvef.cohorts", ev["lvef"]["cohorts"] or []), ("shd.cohorts", ev["shd"]["cohorts"] or [])):
        unknown = [c for c in cohorts if c not in config["cohorts"]]
        if unknown:
            raise ConfigError(f"config key evaluation.{key}: unknown cohort(s) {', '.join(unknown)} "
                              f"(configured: {', '.join(config['cohorts'])})")
    if ev["report"]["ablation_shd_fraction"] not in ev["shd"]["fractions"] and shd_cohorts(config):
        raise ConfigError(f"config key evaluation.report.ablation_shd_fraction: {ev['report']['ablation_shd_fraction']} "
                          f"is not one of evaluation.shd.fractions {ev['shd']['fractions']}")


def evaluation_params(config: dict, task: str) -> dict:
    """The config keys one kNN task reads (so that a key of the other task reruns nothing here)."""
    ev = config["evaluation"]
    params = {"seed": ev["seed"], "knn": ev["knn"], "bootstrap": ev["bootstrap"]}
    return params | ({"lvef": ev["lvef"] | {"cohorts": None}} if task == "lvef" else {"shd": ev["shd"] | {"cohorts": None}})


REPORT_TABLES = ("table1", "table2", "table3", "table3_paired", "table4", "table5")

# The report's navigation follows the paper's sections: every report() item of the workflow names one
# of these categories (in this order) and a subcategory.
REPORT_CATEGORIES = ("Data", "Echo encoder", "Pre-training", "Evaluation")
REPORT_TABLE_SECTIONS = {
    "table1": ("Data", "Table 1: cohorts and splits"),
    "table2": ("Data", "Table 2: evaluation sets"),
    "table3": ("Evaluation", "Table 3: LVEF kNN"),
    "table3_paired": ("Evaluation", "Table 3b: paired differences"),
    "table4": ("Evaluation", "Table 4: retrieval"),
    "table5": ("Evaluation", "Table 5: ablations"),
}


def knn_outputs(results: str, variants: list[str], replicates: list[str], config: dict, kind: str) -> list[str]:
    """The per-job outputs of rule knn (kind: results | scores) of every variant, replicate and (task, cohort)."""
    suffix = {"results": "parquet", "scores": "scores.parquet"}[kind]
    return [f"{results}/eval/knn/{v}/{r}/{task}_{cohort}.{suffix}" for v in variants for r in replicates
            for task, cohort in knn_jobs(config)]


def curve_variants(config: dict, variants: list[str]) -> list[str]:
    """Variants with a training curve: all but evaluation.report.untrained_variants."""
    return [v for v in variants if v not in config["evaluation"]["report"]["untrained_variants"]]


def map_variants(config: dict, variants: list[str]) -> list[str]:
    """Variants of the PCA feature map that are configured."""
    return [v for v in config["evaluation"]["report"]["feature_map_variants"] if v in variants]


def report_targets(results: str, config: dict, variants: list[str], pretrain_cohorts: list[str]) -> list[str]:
    """What `all` asks of the evaluation and report (nothing without variants, or when
    evaluation.enabled is false: a cohort too small for kNN statistics, such as the tests' tiny preset)."""
    if not variants or not config["evaluation"]["enabled"]:
        return []
    report = f"{results}/report"
    targets = [f"{report}/{name}.{ext}" for name in REPORT_TABLES for ext in ("csv", "md")]
    targets += [f"{report}/summary.html", f"{report}/summary_fragment.html"]
    targets += [f"{report}/figure2_shd_{cohort}.png" for cohort in shd_cohorts(config)]
    targets += [f"{report}/training_curves.png"] if curve_variants(config, variants) else []
    targets += [f"{report}/feature_map.png"] if map_variants(config, variants) and pretrain_cohorts else []
    return targets
