"""The evaluation and report rules end to end on a small synthetic cohort: the index tables come
from the workflow's own upstream rules; the feature files, training curves and echo-encoder record
are written by a fixture in the contract's shape (tests/eval_fixtures.py), with a known signal:
"echo2ecg" and the ablations carry the phenotypes (in decreasing strength: attention > mean > CLS >
single view), random_init nothing; two pre-training replicates (seeds 42 and 43, other noise). Then
the report is rendered in a real browser."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from eval_fixtures import write_contract_features, write_curve
from snakemake_runs import CONFIG as BASE_CONFIG
from snakemake_runs import run_snakemake

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow

STRENGTHS = {"echo2ecg": 2.0, "meanpool": 1.5, "clspool": 1.0, "singleview": 0.6, "random_init": 0.0, "otis_init": 0.3}
EVAL_RULES = ["knn", "knn_summary", "retrieval", "retrieval_summary", "report_tables", "report_shd_figure",
              "report_training_curves", "report_feature_map"]
CONFIG = """
synthetic:
  pretrain_patients: 200
  echonext_patients: 500
  ukb_patients: 300
  ecgs_per_patient: [1, 2]
  studies_per_patient: [1, 2]
  views_per_study: [1, 2]
  echo_frame_size: [64, 64]
  echo_frames: [8, 16]
  fault_rate: 0.01
ingest:
  n_shards: 2
split:
  fractions: {train: 0.5, val: 0.2, test: 0.3}
qc:
  max_excluded_fraction: 0.6
evaluation:
  lvef:
    train_size: 45
  shd:
    fractions: [0.1, 0.5, 1.0]
    repeat_seeds: [0, 1, 2]
  bootstrap:
    n_resamples: 200
  report:
    ablation_shd_fraction: 0.1
pretrain:
  replicates: [42, 43]
  variants:
""" + "".join(f"    {v}: {{}}\n" for v in STRENGTHS)
TABLES = ["ecgs", "echo_studies", "echo_views", "phenotypes", "pairs", "splits"]


def snakemake(workdir: Path, *args: str, config: Path) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, *args, configfiles=(BASE_CONFIG, config))


def report_files(workdir: Path) -> list[str]:
    names = ["table1", "table2", "table3", "table3_paired", "table4", "table5"]
    files = [f"results/report/{n}.{e}" for n in names for e in ("csv", "md")]
    return files + ["results/report/summary.html", "results/report/summary_fragment.html",
                    "results/report/figure2_shd_echonext.png", "results/report/training_curves.png",
                    "results/report/feature_map.png"]


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("eval_run")
    config = workdir / "eval.yaml"
    config.write_text(CONFIG)
    upstream = [f"results/tables/{t}.parquet" for t in TABLES] + ["results/tables/cohort_summary.csv"]
    result = snakemake(workdir, *upstream, config=config)
    assert result.returncode == 0, result.stderr[-4000:]
    results = workdir / "results"
    for replicate, noise_seed in (("seed42", 0), ("seed43", 100)):
        write_contract_features(results, STRENGTHS, ["mimic"], ["echonext", "ukb"], replicate=replicate,
                                noise_seed=noise_seed)
    for variant, strength in STRENGTHS.items():
        if variant not in ("random_init", "otis_init"):
            write_curve(results, variant, scale=1.0 / (1.0 + strength))  # the figure shows the first replicate
    (results / "echo").mkdir(exist_ok=True)
    (results / "echo" / "echo_encoder.json").write_text(json.dumps({"echo_encoder": [
        "no EchoPrime weights configured; using the synthetic stand-in encoder trained by fit_echo_encoder"]}))
    result = snakemake(workdir, *report_files(workdir), "--allowed-rules", *EVAL_RULES, config=config)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, config


def test_knn_and_retrieval_outputs_have_the_documented_columns(eval_run):
    workdir, _ = eval_run
    knn = pd.read_parquet(workdir / "results/eval/knn.parquet")
    for column in ["variant", "task", "cohort", "train_fraction", "auroc", "ci_low", "ci_high", "n_train", "n_test"]:
        assert column in knn.columns
    assert set(knn["variant"]) == set(STRENGTHS)
    assert sorted(knn.groupby(["variant", "task", "cohort", "train_fraction"], dropna=False)["replicate"]
                  .apply(tuple).unique()) == [(42, 43)]
    assert set(zip(knn["task"], knn["cohort"])) == {("lvef", "mimic"), ("lvef", "echonext"), ("lvef", "ukb"),
                                                    ("shd", "echonext")}
    retrieval = pd.read_parquet(workdir / "results/eval/retrieval.parquet")
    for column in ["variant", "replicate", "phenotype", "precision_at_1", "mean_rank", "n_queries"]:
        assert column in retrieval.columns
    assert set(retrieval["phenotype"]) == {"lvedv", "lvesv", "lvsv", "lvef"}
    assert (workdir / "results/eval/knn.parquet.prov.json").exists()


def test_the_known_signal_comes_out(eval_run):
    workdir, _ = eval_run
    knn = pd.read_parquet(workdir / "results/eval/knn.parquet")
    lvef = knn[knn["task"] == "lvef"].set_index(["variant", "replicate", "cohort"])
    for replicate in (42, 43):
        for cohort in ("mimic", "echonext", "ukb"):
            assert lvef.loc[("echo2ecg", replicate, cohort), "auroc"] > lvef.loc[("random_init", replicate, cohort), "auroc"]
    paired = pd.read_parquet(workdir / "results/eval/knn_paired.parquet")
    for replicate in (42, 43):
        for cohort in ("mimic", "echonext"):
            row = paired[(paired["variant"] == "echo2ecg") & (paired["reference"] == "random_init")
                         & (paired["task"] == "lvef") & (paired["cohort"] == cohort)
                         & (paired["replicate"] == replicate)].iloc[0]
            assert row["ci_low"] > 0, (cohort, replicate)
    summary = (workdir / "results/report/summary.html").read_text()
    assert "echo2ecg minus random_init, over 2 replicates" in summary
    assert "REPRODUCED: the paired-difference CI lies above 0 in every replicate (2 of 2)" in summary
    assert "APPEARS" in (workdir / "results/report/table5.md").read_text()
    retrieval = pd.read_parquet(workdir / "results/eval/retrieval.parquet").set_index(["variant", "replicate", "phenotype"])
    first = retrieval.loc[("echo2ecg", 42, "lvef")]
    assert first["precision_at_1"] > first["random_precision_at_1"]


def test_tables_aggregate_the_replicates(eval_run):
    workdir, _ = eval_run
    knn = pd.read_parquet(workdir / "results/eval/knn.parquet")
    table3 = pd.read_csv(workdir / "results/report/table3.csv").set_index(["variant", "cohort"])
    for (variant, cohort), part in knn[knn["task"] == "lvef"].groupby(["variant", "cohort"]):
        row = table3.loc[(variant, cohort)]
        assert row["n_replicates"] == 2 and row["first_replicate"] == 42
        assert row["auroc_mean"] == pytest.approx(part["auroc"].mean())
        assert row["auroc_sd"] == pytest.approx(part["auroc"].std(ddof=1))
        assert row["auroc"] == pytest.approx(part.loc[part["replicate"] == 42, "auroc"].iloc[0])
    assert " ± " in (workdir / "results/report/table3.md").read_text()
    paired_md = (workdir / "results/report/table3_paired.md").read_text()
    assert "seed 43" in paired_md and "verdict (2 replicates)" in paired_md


def test_table2_states_every_set_size(eval_run):
    workdir, _ = eval_run
    table2 = pd.read_csv(workdir / "results/report/table2.csv")
    knn = pd.read_parquet(workdir / "results/eval/knn.parquet")
    for (task, cohort), part in knn.groupby(["task", "cohort"]):
        row = table2[(table2["task"] == task) & (table2["cohort"] == cohort)].iloc[0]
        assert row["n_test"] == part["n_test"].iloc[0] and row["n_val"] == part["n_val"].iloc[0]
    markdown = (workdir / "results/report/table2.md").read_text()
    assert str(int(knn["n_test"].iloc[0])) in markdown


def test_evaluation_keys_rerun_only_evaluation_and_report(eval_run, tmp_path):
    workdir, config = eval_run
    changed = tmp_path / "k.yaml"
    changed.write_text(config.read_text().replace("evaluation:\n", "evaluation:\n  knn:\n    k: 7\n"))
    result = snakemake(workdir, "-n", *report_files(workdir), "--allowed-rules", *EVAL_RULES, config=changed)
    assert result.returncode == 0, result.stderr[-3000:]
    rules = set(re.findall(r"^(?:local)?rule (\w+):", result.stdout, re.M))
    assert rules and rules <= set(EVAL_RULES), rules
    assert "knn" in rules and "retrieval" not in rules  # k is a kNN key: retrieval stays
    # without the rule restriction, nothing upstream of the evaluation is planned either
    full = snakemake(workdir, "-n", *report_files(workdir), config=changed)
    planned = set(re.findall(r"^(?:local)?rule (\w+):", full.stdout, re.M))
    assert planned <= set(EVAL_RULES), planned


@pytest.fixture(scope="module")
def html_report(eval_run):
    workdir, config = eval_run
    # the report of the evaluation's targets (this run made none of the upstream stages' report items)
    result = snakemake(workdir, *report_files(workdir), "--report", "report.html", config=config)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir / "report.html"


def browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_report_is_self_contained_and_renders_every_table_title_in_a_browser(html_report, eval_run):
    from echo2ecg.report.tables import TITLES
    text = html_report.read_text()
    assert "SYNTHETIC DATA" in text and "STAND-IN" in text
    exe = browser()
    if exe is None:
        pytest.skip("no headless browser installed (.ci/run installs Debian's chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000"]
    dom = subprocess.run([exe, *flags, "--dump-dom", html_report.as_uri()], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = re.sub(r"<script\b.*?</script>", "", dom.stdout, flags=re.S)  # what the page shows, not its data
    for title in TITLES.values():
        assert title in rendered, title
    assert "SYNTHETIC DATA" in rendered
    shot = eval_run[0] / "report.png"
    subprocess.run([exe, *flags, "--window-size=1400,2400", f"--screenshot={shot}", html_report.as_uri()],
                   capture_output=True, timeout=180)
    assert shot.exists() and shot.stat().st_size > 10_000
    keep = REPO / ".pytest_cache" / "report_screenshot.png"   # to look at after the run
    keep.parent.mkdir(exist_ok=True)
    shutil.copy(shot, keep)


def _texts_of_report(html: str) -> list[str]:
    """The report's HTML without its base64 payloads, plus every text payload decoded (tables,
    pages); images are skipped."""
    texts = []
    for mime, payload in re.findall(r"data:([\w/+.-]+);(?:charset=[\w-]+;)?base64,([A-Za-z0-9+/=]+)", html):
        if not mime.startswith("image/"):
            texts.append(base64.b64decode(payload).decode("utf-8", errors="replace"))
    texts.append(re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,", html))
    return texts


def test_report_holds_no_identifiers(html_report, eval_run):
    workdir, _ = eval_run
    tables = workdir / "results/tables"
    ids = set()
    for name, columns in (("ecgs", ["ecg_id", "patient_id"]), ("echo_studies", ["study_id", "patient_id"]),
                          ("echo_views", ["view_id", "study_id"]), ("pairs", ["ecg_id", "study_id", "patient_id"]),
                          ("splits", ["patient_id"]), ("phenotypes", ["entity_id", "patient_id"])):
        frame = pd.read_parquet(tables / f"{name}.parquet")
        for column in columns:
            ids.update(frame[column].dropna().astype(str))
    assert len(ids) > 500
    texts = _texts_of_report(html_report.read_text())
    tokens = set()
    for text in texts:
        tokens.update(re.findall(r"[A-Za-z0-9_.-]+", text))
    leaked = sorted(ids & tokens)
    assert not leaked, leaked[:20]
