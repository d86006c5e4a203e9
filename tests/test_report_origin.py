"""Tables 3-5 mark which rows are the paper's method and which are this workflow's additions
(config pretrain.variants.<v>.origin), with the legend in the table notes."""
import numpy as np
import pandas as pd

from echo2ecg.report import tables
from echo2ecg.report.summary import claim_statements

SPECS = {"echo2ecg": {"aggregation": "attention"}, "echo2ecg_centred": {"aggregation": "attention", "origin": "addition"},
         "meanpool": {"aggregation": "mean", "origin": "paper"}, "random_init": {"origin": "addition"}}
ORIGINS = tables.variant_origins(SPECS)
VARIANTS = list(SPECS)


def knn():
    rows = []
    for i, variant in enumerate(VARIANTS):
        base = {"variant": variant, "task": "lvef", "cohort": "mimic", "train_fraction": np.nan, "auroc": 0.6 + i / 20,
                "ci_low": 0.5, "ci_high": 0.9, "auprc": 0.5, "balanced_accuracy": 0.5, "n_train": 30, "n_test": 60,
                "n_resamples_degenerate": 0, "k": 5, "n_bootstrap": 1000, "repeat_auroc_mean": 0.6, "repeat_auroc_sd": np.nan}
        rows += [base, {**base, "task": "shd", "cohort": "echonext", "train_fraction": 0.01}]
    return pd.DataFrame(rows)


def retrieval():
    return pd.DataFrame([{"variant": v, "cohort": "mimic", "phenotype": "lvedv", "precision_at_1": 0.3 + i / 20,
                          "precision_at_1_ci_low": 0.2, "precision_at_1_ci_high": 0.5, "mean_rank": 4.0 - i / 10,
                          "random_precision_at_1": 0.25, "random_mean_rank": 4.5, "n_studies": 20,
                          "candidates": "test_pairs", "sigma_ddof": 1} for i, v in enumerate(VARIANTS)])


def test_origins_default_to_paper():
    assert ORIGINS == {"echo2ecg": "paper", "echo2ecg_centred": "addition", "meanpool": "paper", "random_init": "addition"}


def test_tables_3_to_5_show_the_origin_of_every_row():
    t3 = tables.table3(knn(), ["mimic"], VARIANTS, origins=ORIGINS)
    assert t3.display.set_index("Method")["Origin"].to_dict() == ORIGINS
    assert t3.display.columns[1] == "Origin"
    assert t3.csv.set_index("variant")["origin"].to_dict() == ORIGINS
    t4 = tables.table4(retrieval(), VARIANTS, origins=ORIGINS)
    shown = t4.display.set_index("Method")["Origin"]
    assert shown.iloc[0] == "-" and shown.iloc[1:].to_dict() == ORIGINS  # the random row is neither
    labels = {"echo2ecg": "attention pool", "meanpool": "mean pool", "echo2ecg_centred": "attention pool, centred"}
    t5 = tables.table5(knn(), labels, ["meanpool", "echo2ecg"], ["mimic"], 0.01, origins=ORIGINS)
    assert t5.display.set_index("Alignment / view aggregation")["Origin"].to_dict() == {
        "attention pool": "paper", "mean pool": "paper", "attention pool, centred": "addition"}
    for table in (t3, t4, t5):
        assert any(n.startswith("Origin: paper") and "addition" in n for n in table.notes), table.name
        assert "| Origin |" in table.markdown.splitlines()[2]


def test_without_origins_the_tables_are_unchanged_and_claims_skip_the_legend():
    assert "Origin" not in tables.table3(knn(), ["mimic"], VARIANTS).display.columns
    assert "origin" not in tables.table4(retrieval(), VARIANTS).csv.columns
    t5 = tables.table5(knn(), {"echo2ecg": "a", "meanpool": "m"}, ["meanpool", "echo2ecg"], ["mimic"], 0.01, origins=ORIGINS)
    claims = claim_statements(knn(), pd.DataFrame(columns=["variant", "reference", "task", "cohort"]), retrieval(),
                              main="echo2ecg", references=[], internal=None, ablation_notes=t5.notes)
    assert not any(c.startswith("Origin:") for c in claims)
