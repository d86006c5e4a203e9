"""Tables 3-5 and the claims over pre-training seed replicates, on hand-made result tables."""
import numpy as np
import pandas as pd
import pytest

from echo2ecg.config import ConfigError, validate_config
from echo2ecg.evaluate.knn import summarise_knn
from echo2ecg.report import tables
from echo2ecg.report.replicates import paired_verdicts, spread
from echo2ecg.report.summary import claim_statements

SEEDS = [42, 43, 44]
# internal LVEF AUROC per variant and replicate: echo2ecg has the better mean, meanpool the better first replicate
AUROC = {"echo2ecg": {42: 0.70, 43: 0.74, 44: 0.78}, "meanpool": {42: 0.72, 43: 0.70, 44: 0.71},
         "random_init": {42: 0.50, 43: 0.52, 44: 0.54}}


def knn_rows(seeds=SEEDS):
    rows = []
    for variant, by_seed in AUROC.items():
        for seed in seeds:
            a = by_seed[seed]
            rows.append({"variant": variant, "replicate": seed, "task": "lvef", "cohort": "mimic",
                         "train_fraction": np.nan, "auroc": a, "ci_low": a - 0.1, "ci_high": a + 0.1, "auprc": 0.5,
                         "balanced_accuracy": 0.5, "n_train": 30, "n_test": 60, "n_resamples_degenerate": 0, "k": 5,
                         "n_bootstrap": 1000, "repeat_auroc_mean": a, "repeat_auroc_sd": np.nan})
    return pd.DataFrame(rows)


def paired_rows(ci_lows: dict):
    """echo2ecg minus random_init in every replicate, with the given CI lower bounds."""
    return pd.DataFrame([{"variant": "echo2ecg", "replicate": seed, "reference": "random_init", "task": "lvef",
                          "cohort": "mimic", "train_fraction": np.nan, "metric": "auroc", "auroc": 0.7,
                          "reference_auroc": 0.5, "auroc_difference": 0.2 + 0.01 * i, "ci_low": low, "ci_high": 0.3,
                          "n_resamples": 1000, "n_resamples_degenerate": 0, "share_not_better": 0.0, "n_test": 60}
                         for i, (seed, low) in enumerate(ci_lows.items())])


def test_spread_gives_mean_sd_min_max_and_the_first_replicate_in_config_order():
    agg = spread(knn_rows(), ["variant", "cohort"], "auroc", carry=("ci_low", "ci_high"), replicates=[43, 42, 44])
    row = agg.set_index("variant").loc["echo2ecg"]
    assert row["n_replicates"] == 3 and row["first_replicate"] == 43
    assert row["auroc"] == pytest.approx(0.74) and row["ci_low"] == pytest.approx(0.64)
    assert row["auroc_mean"] == pytest.approx(0.74) and row["auroc_sd"] == pytest.approx(0.04)
    assert (row["auroc_min"], row["auroc_max"]) == (pytest.approx(0.70), pytest.approx(0.78))


def test_table3_cells_hold_mean_sd_range_beside_the_first_replicates_ci_and_rank_by_the_mean():
    table = tables.table3(knn_rows(), ["mimic"], list(AUROC), replicates=SEEDS)
    cell = table.display.set_index("Method").loc["echo2ecg", "internal (mimic test patients)"]
    assert cell == "**0.740 ± 0.040 (0.700-0.780); seed 42: 0.700 [0.600, 0.800]**"
    ranked = table.csv.set_index("variant")["rank"]
    assert ranked["echo2ecg"] == 1 and ranked["meanpool"] == 2  # by the mean, though meanpool's seed 42 is higher
    assert any("mean ± SD (min-max) over 3 pre-training replicates (seeds 42, 43, 44)" in n for n in table.notes)


def test_one_replicate_reads_as_before_and_says_why_there_is_no_spread():
    table = tables.table3(knn_rows([42]), ["mimic"], list(AUROC), replicates=[42])
    cell = table.display.set_index("Method").loc["meanpool", "internal (mimic test patients)"]
    assert cell == "**0.720 [0.620, 0.820]**"
    assert table.csv["auroc_sd"].isna().all()
    assert any("One pre-training replicate (seed 42): SD and min-max" in n for n in table.notes)


def test_a_claim_is_reproduced_only_when_every_replicates_ci_excludes_zero():
    crossing = paired_rows({42: 0.05, 43: -0.02, 44: 0.01})
    verdict = paired_verdicts(crossing, SEEDS).iloc[0]
    assert (verdict["n_above"], verdict["n_replicates"], verdict["reproduced"]) == (2, 3, False)
    assert verdict["verdict"] == "not reproduced: CI above 0 in 2 of 3 replicates"
    claims = claim_statements(knn_rows(), crossing, None, main="echo2ecg", references=["random_init"],
                              internal="mimic", replicates=SEEDS)
    assert "NOT reproduced: the paired-difference CI lies above 0 in 2 of 3 replicates" in claims[1]
    assert "first replicate (seed 42): 0.200 [0.050, 0.300]" in claims[1]
    every = paired_rows({42: 0.05, 43: 0.02, 44: 0.01})
    assert paired_verdicts(every, SEEDS).iloc[0]["reproduced"]
    claims = claim_statements(knn_rows(), every, None, main="echo2ecg", references=["random_init"],
                              internal="mimic", replicates=SEEDS)
    assert "REPRODUCED: the paired-difference CI lies above 0 in every replicate (3 of 3)" in claims[1]


def test_table3_paired_lists_every_replicate_and_the_verdict():
    table = tables.table3_paired(paired_rows({42: 0.05, 43: -0.02, 44: 0.01}), ["mimic"], ["echo2ecg"],
                                 replicates=SEEDS)
    display = table.display.set_index("Replicate")
    column = "internal (mimic test patients): minus random_init"
    assert list(display.index) == ["seed 42", "seed 43", "seed 44", "verdict (3 replicates)"]
    assert display.loc["seed 42", column] == "0.200 [0.050, 0.300] (+)"
    assert display.loc["seed 43", column] == "0.210 [-0.020, 0.300]"
    assert display.loc["verdict (3 replicates)", column] == "not reproduced: CI above 0 in 2 of 3 replicates"


def test_table5_says_in_how_many_replicates_the_ordering_appears():
    knn = knn_rows()
    knn["variant"] = knn["variant"].replace({"random_init": "singleview"})
    labels = {"singleview": "single", "meanpool": "mean", "echo2ecg": "attention"}
    # singleview < meanpool < echo2ecg holds in seeds 43 and 44 only (seed 42: meanpool 0.72 > echo2ecg 0.70)
    table = tables.table5(knn, labels, ["singleview", "meanpool", "echo2ecg"], ["mimic"], 0.01, replicates=SEEDS)
    assert "does NOT appear in 2 of 3 replicates" in table.notes[0]
    knn.loc[(knn["variant"] == "meanpool") & (knn["replicate"] == 42), "auroc"] = 0.6
    table = tables.table5(knn, labels, ["singleview", "meanpool", "echo2ecg"], ["mimic"], 0.01, replicates=SEEDS)
    assert "APPEARS in 3 of 3 replicates" in table.notes[0]


def test_paired_differences_pair_a_replicate_with_the_references_same_replicate():
    """In replicate 1 the variant's scores equal the reference's (difference exactly 0); in replicate 2
    they differ. Pairing across replicates would give a non-zero difference in replicate 1."""
    rng = np.random.default_rng(0)
    labels = np.array([0, 1, 2] * 10)
    results, scores = [], []
    for replicate in (1, 2):
        reference = rng.dirichlet(np.ones(3), size=len(labels))
        for variant in ("echo2ecg", "random_init"):
            p = reference if (variant == "random_init" or replicate == 1) else rng.dirichlet(np.ones(3), size=len(labels))
            scores.append(pd.DataFrame({"variant": variant, "replicate": replicate, "task": "lvef", "cohort": "mimic",
                                        "train_fraction": np.nan, "ecg_id": [f"e{i}" for i in range(len(labels))],
                                        "label": labels, "p0": p[:, 0], "p1": p[:, 1], "p2": p[:, 2]}))
            results.append(pd.DataFrame({"variant": [variant], "replicate": [replicate]}))
    _, paired = summarise_knn(results, scores, references=["random_init"], seed=0,
                              bootstrap={"n_resamples": 50, "ci": 0.95})
    by_replicate = paired.set_index("replicate")
    assert list(by_replicate.index) == [1, 2]
    assert by_replicate.loc[1, "auroc_difference"] == 0 and by_replicate.loc[1, "ci_low"] == 0
    assert by_replicate.loc[2, "auroc_difference"] != 0


def test_pretrain_seed_is_replaced_by_replicates(tmp_path):
    import copy

    import yaml

    from echo2ecg.config import resolve_config
    from pathlib import Path

    config = resolve_config(yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text()))
    validate_config(copy.deepcopy(config))
    with pytest.raises(ConfigError, match=r"pretrain.seed: 7 is replaced by pretrain.replicates \(\[42\]\); "
                                          r"set pretrain.replicates: \[7\]"):
        validate_config({**config, "pretrain": {**config["pretrain"], "seed": 7}})
    validate_config({**config, "pretrain": {**config["pretrain"], "seed": 42}})  # the same seed: accepted
    with pytest.raises(ConfigError, match="pretrain.replicates"):
        validate_config({**config, "pretrain": {**config["pretrain"], "replicates": [42, 42]}})
    with pytest.raises(ConfigError, match="pretrain.replicates"):
        validate_config({**config, "pretrain": {**config["pretrain"], "replicates": []}})


def test_replicates_from_the_command_line_become_integers():
    """Snakemake passes --config 'pretrain={replicates: [42, 43]}' as strings; they must validate as seeds."""
    import yaml
    from pathlib import Path

    from echo2ecg.config import resolve_config

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    config["pretrain"]["replicates"] = ["42", "43"]
    validate_config(resolve_config(config))
    assert config["pretrain"]["replicates"] == [42, 43]
