"""Report tables, statements and figures on small hand-made result tables."""
import numpy as np
import pandas as pd
import pytest

from echo2ecg.report import figures, tables
from echo2ecg.report.summary import claim_statements, model_statements, summary_fragment


def knn_rows():
    rows = []
    aurocs = {"singleview": 0.70, "clspool": 0.72, "meanpool": 0.75, "echo2ecg": 0.80, "random_init": 0.52}
    for variant, auroc in aurocs.items():
        for cohort in ("mimic", "echonext"):
            rows.append({"variant": variant, "task": "lvef", "cohort": cohort, "train_fraction": np.nan, "draw": "balanced",
                         "auroc": auroc - (0.05 if cohort == "echonext" else 0), "ci_low": auroc - 0.1,
                         "ci_high": auroc + 0.05, "n_train": 30, "n_train_pool": 200, "n_val": 40, "n_test": 60,
                         "n_test_patients": 45, "train_classes": "10/10/10", "val_classes": "5/5/30",
                         "test_classes": "10/10/40", "k": 5, "n_bootstrap": 1000, "auprc": 0.5,
                         "balanced_accuracy": 0.5, "n_resamples_degenerate": 0, "n_repeats": 1,
                         "repeat_auroc_mean": auroc, "repeat_auroc_sd": np.nan})
        for fraction, n in ((0.01, 20), (1.0, 2000)):
            rows.append({**rows[-1], "task": "shd", "cohort": "echonext", "train_fraction": fraction, "draw": "fraction",
                         "auroc": auroc + fraction / 10, "n_train": n, "n_train_pool": 2000, "train_classes": f"{n // 2}/{n - n // 2}",
                         "val_classes": "20/20", "test_classes": "30/30", "n_repeats": 5 if fraction < 1 else 1,
                         "repeat_auroc_mean": auroc, "repeat_auroc_sd": 0.01 if fraction < 1 else np.nan})
    return pd.DataFrame(rows)


def test_best_and_second_best_are_marked_and_ranked():
    table = tables.table3(knn_rows(), ["mimic"], ["echo2ecg", "meanpool", "clspool", "singleview", "random_init"])
    display = table.display.set_index("Method")
    column = "internal (mimic test patients)"
    assert display.loc["echo2ecg", column].startswith("**0.800 [0.700, 0.850]")
    assert display.loc["meanpool", column].startswith("<u>0.750")
    assert "**" not in display.loc["clspool", column] and "<u>" not in display.loc["clspool", column]
    ranked = table.csv[table.csv["cohort"] == "mimic"].set_index("variant")["rank"]
    assert ranked["echo2ecg"] == 1 and ranked["random_init"] == 5
    assert table.markdown.startswith("# Table 3: LVEF classification")


def test_table2_gives_every_set_size_and_class_shares():
    table = tables.table2(knn_rows(), None, ["mimic"])
    row = table.csv[(table.csv["task"] == "lvef") & (table.csv["cohort"] == "mimic")].iloc[0]
    assert (row["n_train"], row["n_val"], row["n_test"]) == (30, 40, 60)
    assert "30 (33/33/33 %" in row["Train (N)"] and row["Test (N)"] == "60 (17/17/67 %)"
    shd = table.csv[table.csv["task"] == "shd"].iloc[0]
    assert "1 %: 20" in shd["Train (N)"] and "100 %: 2000" in shd["Train (N)"]


def test_table2_refuses_sets_that_differ_between_variants():
    knn = knn_rows()
    knn.loc[knn.index[0], "n_test"] = 59
    with pytest.raises(ValueError, match="differ between variants"):
        tables.table2(knn, None, ["mimic"])


def test_table5_says_whether_the_papers_ordering_appears():
    ordering = ["singleview", "clspool", "meanpool", "echo2ecg"]
    labels = {"singleview": "single view", "meanpool": "mean pool", "clspool": "CLS pool", "echo2ecg": "attention pool"}
    table = tables.table5(knn_rows(), labels, ordering, ["mimic"], 0.01)
    assert list(table.display["Alignment / view aggregation"]) == list(labels.values())
    ordering_notes = [note for note in table.notes if "the paper's ordering" in note]
    assert len(ordering_notes) == 2 and all("APPEARS" in note for note in ordering_notes)
    knn = knn_rows()
    knn.loc[(knn["variant"] == "meanpool") & (knn["task"] == "lvef"), "auroc"] = 0.9
    notes = tables.table5(knn, labels, ordering, ["mimic"], 0.01).notes
    assert "does NOT appear" in notes[0] and "APPEARS" in notes[1]


def test_ordering_needs_strict_increase_and_finite_values():
    assert tables.ordering_holds([0.6, 0.7, 0.8])
    assert not tables.ordering_holds([0.6, 0.6, 0.8])
    assert not tables.ordering_holds([0.6, np.nan, 0.8])


def paired_rows(ci_low):
    return pd.DataFrame([{"variant": "echo2ecg", "reference": ref, "task": "lvef", "cohort": "mimic", "train_fraction": np.nan,
                          "metric": "auroc", "auroc": 0.8, "reference_auroc": 0.6, "auroc_difference": 0.2,
                          "ci_low": ci_low, "ci_high": 0.3, "n_resamples": 1000, "n_resamples_degenerate": 0,
                          "share_not_better": 0.0, "n_test": 60} for ref in ("random_init", "otis_init")])


def test_claims_state_the_paired_interval_and_the_verdict():
    claims = claim_statements(knn_rows(), paired_rows(0.05), None, main="echo2ecg",
                              references=["random_init", "otis_init"], internal="mimic")
    assert "echo2ecg minus random_init: 0.200 [0.050, 0.300]" in claims[0] and "REPRODUCED" in claims[0]
    assert "paper Table 3: 0.785 vs OTiS 0.688" in claims[1]
    claims = claim_statements(knn_rows(), paired_rows(-0.05), None, main="echo2ecg", references=["random_init"],
                              internal="mimic")
    assert "NOT reproduced" in claims[0]
    table = tables.table3_paired(paired_rows(0.05), ["mimic"], ["echo2ecg"])
    assert table.display.iloc[0, 2] == "0.200 [0.050, 0.300] (+)"


def test_model_statements_say_synthetic_and_stand_in_plainly():
    cohorts = {"mimic": {"synthetic": True}, "real": {"synthetic": False}}
    lines = model_statements(cohorts, {"echo_encoder": ["the synthetic stand-in encoder"]}, {"echoprime_checkpoint": None},
                             {"otis_checkpoint": None}, {"echo2ecg": {}, "random_init": {}})
    text = " ".join(lines)
    assert "SYNTHETIC DATA: the cohorts mimic" in text and "real are read" in text
    assert "ECHO ENCODER IS A STAND-IN" in text and "ECG ENCODER START IS A STAND-IN" in text
    assert "random_init: RANDOMLY INITIALISED" in text
    lines = model_statements({"m": {"synthetic": False}}, {"echo_encoder": ["EchoPrime echo encoder weights"]},
                             {"echoprime_checkpoint": "/w/e.pt"}, {"otis_checkpoint": "/w/o.pt"}, {})
    assert not any("STAND-IN" in line or "SYNTHETIC" in line for line in lines)


def test_summary_fragment_shows_every_table_title_and_escapes_text():
    knn = knn_rows()
    t3 = tables.table3(knn, ["mimic"], ["echo2ecg", "meanpool"])
    fragment = summary_fragment(["SYNTHETIC DATA: <x>"], ["claim"], [t3])
    assert tables.TITLES["table3"] in fragment
    assert "&lt;x&gt;" in fragment and "<b>0.800" in fragment and "<u>0.750" in fragment


def test_figures_are_written(tmp_path):
    knn = knn_rows()
    figures.shd_scaling_figure(knn, tmp_path / "f2.png", cohort="echonext", synthetic=True)
    curve = pd.DataFrame({"epoch": [1, 2, 3], "step": [1, 2, 3], "train_loss": [3, 2, 1.5], "val_loss": [3.1, 2.2, 1.9],
                          "lr": [1e-4] * 3})
    figures.training_curves_figure({"echo2ecg": curve}, tmp_path / "curves.png")
    rng = np.random.default_rng(0)
    figures.feature_map_figure({"echo2ecg": (rng.normal(size=(40, 8)), rng.uniform(20, 70, 40))}, tmp_path / "map.png",
                               cohort="mimic", synthetic=True)
    for name in ("f2.png", "curves.png", "map.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_each_figure_names_the_replicate_it_shows(tmp_path, monkeypatch):
    """The figures show one pre-training replicate (the first): each title says which, as the rules pass it."""
    titles = {}

    def keep_titles(fig, path):
        titles[path.name] = " ".join([fig.get_suptitle()] + [ax.get_title() for ax in fig.axes])
        figures.plt.close(fig)

    monkeypatch.setattr(figures, "_save", keep_titles)
    knn = pd.concat([knn_rows().assign(replicate=42), knn_rows().assign(replicate=43)])
    figures.shd_scaling_figure(knn, tmp_path / "f2.png", cohort="echonext", synthetic=True, replicate=43)
    figures.shd_scaling_figure(knn, tmp_path / "f2_first.png", cohort="echonext", synthetic=True)
    curve = pd.DataFrame({"epoch": [1, 2], "step": [1, 2], "train_loss": [3, 2], "val_loss": [3.1, 2.2], "lr": [1e-4] * 2})
    figures.training_curves_figure({"echo2ecg": curve}, tmp_path / "curves.png", replicate="seed43")
    rng = np.random.default_rng(0)
    figures.feature_map_figure({"echo2ecg": (rng.normal(size=(40, 8)), rng.uniform(20, 70, 40))}, tmp_path / "map.png",
                               cohort="mimic", synthetic=True, replicate="seed43")
    assert "replicate seed43" in titles["f2.png"] and "replicate seed42" in titles["f2_first.png"]
    assert "(replicate seed43)" in titles["curves.png"]
    assert "replicate seed43" in titles["map.png"]
