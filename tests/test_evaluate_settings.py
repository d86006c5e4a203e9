"""The evaluation's config section: schema and cross-key checks name the key; the jobs it plans;
each kNN task's params hold only its own keys."""
import pytest

from echo2ecg.config import ConfigError, validate_config
from echo2ecg.evaluate.knn import EvaluationConfig
from echo2ecg.evaluate.retrieval import RetrievalConfig
from echo2ecg.evaluate.settings import check_evaluation_config, evaluation_params, knn_jobs, report_targets


def test_default_evaluation_section_is_valid_and_holds_the_papers_numbers(default_config):
    validate_config(default_config)
    check_evaluation_config(default_config)
    ev = default_config["evaluation"]
    cfg = EvaluationConfig.from_dict(ev)
    assert (cfg.knn.k, cfg.knn.metric, cfg.knn.weights, cfg.knn.algorithm) == (5, "euclidean", "uniform", "brute")
    assert (cfg.lvef_classes.reduced_max, cfg.lvef_classes.normal_min) == (40, 50)
    assert (cfg.n_bootstrap, cfg.ci, cfg.lvef_train_size) == (1000, 0.95, 300)
    retrieval = RetrievalConfig.from_dict(ev["retrieval"])
    assert retrieval.tolerance_sd == 0.5 and retrieval.ks == (1, 3, 5, 10)


@pytest.mark.parametrize("mutate, key", [
    (lambda e: e["knn"].update(k=0), "evaluation.knn.k"),
    (lambda e: e["shd"].update(fractions=[0.0, 1.0]), "evaluation.shd.fractions"),
    (lambda e: e["shd"].update(fractions=[1.5]), "evaluation.shd.fractions"),
    (lambda e: e["bootstrap"].update(ci=1.0), "evaluation.bootstrap.ci"),
    (lambda e: e["retrieval"].update(phenotypes=["lvmass"]), "evaluation.retrieval.phenotypes"),
    (lambda e: e["lvef"].update(train_sizes=3), "evaluation.lvef.train_sizes"),
])
def test_bad_evaluation_values_fail_naming_the_key(default_config, mutate, key):
    mutate(default_config["evaluation"])
    with pytest.raises(ConfigError) as error:
        validate_config(default_config)
    assert key in str(error.value)


@pytest.mark.parametrize("mutate, key", [
    (lambda e: e["lvef"]["classes"].update(normal_min=35), "evaluation.lvef.classes.normal_min"),
    (lambda e: e["shd"].update(cohorts=["nowhere"]), "evaluation.shd.cohorts"),
    (lambda e: e["lvef"].update(cohorts=["mimic", "nowhere"]), "evaluation.lvef.cohorts"),
    (lambda e: e["report"].update(ablation_shd_fraction=0.3), "evaluation.report.ablation_shd_fraction"),
])
def test_contradictions_fail_naming_the_key(default_config, mutate, key):
    mutate(default_config["evaluation"])
    with pytest.raises(ConfigError) as error:
        check_evaluation_config(default_config)
    assert key in str(error.value)


def test_jobs_and_params(default_config):
    assert knn_jobs(default_config) == [("lvef", "mimic"), ("lvef", "echonext"), ("lvef", "ukb"), ("shd", "echonext")]
    default_config["evaluation"]["lvef"]["cohorts"] = ["ukb"]
    assert knn_jobs(default_config) == [("lvef", "ukb"), ("shd", "echonext")]
    lvef, shd = evaluation_params(default_config, "lvef"), evaluation_params(default_config, "shd")
    assert "shd" not in lvef and "lvef" not in shd
    assert lvef["lvef"]["cohorts"] is None  # the cohort list plans jobs; it is not a param of any one job
    assert report_targets("results", default_config, [], ["mimic"]) == []
    targets = report_targets("results", default_config, ["echo2ecg", "random_init"], ["mimic"])
    assert "results/report/table3.md" in targets and "results/report/figure2_shd_echonext.png" in targets
