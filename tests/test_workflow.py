"""The workflow itself, run end to end with Snakemake on the tiny synthetic preset."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from snakemake_runs import tiny_snakemake as snakemake  # the tiny preset, in a workdir
from echo2ecg.sharding import shard_name, shard_of

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow


def planned_jobs(result: subprocess.CompletedProcess) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", result.stdout):
        match = re.match(r"(?:local)?rule (\w+):", block.strip())
        if not match:
            continue
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        parsed = dict(item.split("=", 1) for item in wildcards.group(1).split(", ")) if wildcards else {}
        jobs.append((match.group(1), parsed))
    return jobs


def test_lint_reports_nothing():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def restore(path: Path, content: bytes, stat) -> None:
    """Put a raw file back as it was: content and modification time."""
    path.write_bytes(content)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def override(path: Path, text: str) -> tuple[str, ...]:
    path.write_text(text)
    return (str(path),)


def test_bad_config_fails_before_any_job_naming_the_key(tmp_path):
    result = snakemake(tmp_path, extra_config=override(tmp_path / "bad.yaml", "pairing:\n  window_days: -1\n"))
    assert result.returncode != 0
    assert "config key pairing.window_days: -1 is less than the minimum of 0" in result.stderr
    assert not (tmp_path / "results").exists()


DOCUMENTED = {
    "tables/ecgs.parquet": ["ecg_id", "patient_id", "acquired_at", "dataset", "source_path", "sha256", "sampling_rate"],
    "tables/echo_studies.parquet": ["study_id", "patient_id", "acquired_at", "dataset"],
    "tables/echo_views.parquet": ["view_id", "study_id", "source_path", "sha256", "n_frames"],
    "tables/phenotypes.parquet": ["lvef", "lvedv", "lvesv", "lvsv", "shd"],
    "tables/pairs.parquet": ["ecg_id", "study_id", "patient_id", "delta_days"],
    "tables/splits.parquet": ["patient_id", "split"],
    "qc/excluded.parquet": ["stage", "record_id", "source_path", "reason"],
}


def test_documented_outputs_with_columns_types_and_provenance(tiny_run):
    results = tiny_run / "results"
    for name, columns in DOCUMENTED.items():
        table = pd.read_parquet(results / name)
        assert set(columns) <= set(table.columns), name
        assert (results / f"{name}.prov.json").exists(), name
        for column in [c for c in table.columns if c.endswith("_id")]:
            assert pd.api.types.is_string_dtype(table[column]), (name, column)
        for column in [c for c in table.columns if c.endswith("acquired_at")]:
            assert str(table[column].dt.tz) == "UTC", (name, column)
    assert (results / "tables/cohort_summary.md").read_text().startswith("# Cohort summary")


def test_every_injected_fault_is_in_the_ledger_and_counts_reconcile(tiny_run):
    results = tiny_run / "results"
    faults = pd.read_csv(results / "raw/synthetic/truth/faults.csv", dtype=str)
    ledger = pd.read_parquet(results / "qc/excluded.parquet")
    expected_reason = {"corrupt_wfdb_dat": "unreadable file", "corrupt_wfdb_header": "unreadable file",
                       "truncated_dicom": "unreadable file", "flat_lead": "flat lead", "nan_lead": "all-NaN lead",
                       "missing_timestamp": "missing timestamp", "duplicate_id": "duplicate id"}
    assert set(faults["kind"]) == set(expected_reason)
    for fault in faults.itertuples():
        reasons = ledger.loc[ledger["record_id"] == fault.record_id, "reason"]
        assert reasons.str.startswith(expected_reason[fault.kind]).any(), (fault.kind, fault.record_id, list(reasons))
    reconciliation = pd.read_csv(results / "qc/reconciliation.csv")
    assert (reconciliation["read"] == reconciliation["kept"] + reconciliation["excluded"]).all()
    assert {"ingest_ecgs", "ingest_echos", "ingest_echo_studies", "ingest_phenotypes"} <= set(reconciliation["stage"])


def test_pairs_follow_the_window_on_the_generated_timing_cases(tiny_run):
    results = tiny_run / "results"
    pairs = pd.read_parquet(results / "tables/pairs.parquet")
    ecgs = pd.read_parquet(results / "tables/ecgs.parquet")
    studies = pd.read_parquet(results / "tables/echo_studies.parquet")
    both = ecgs.merge(studies, on=["cohort", "patient_id"], suffixes=("_ecg", "_study"))
    within = (both["acquired_at_study"] - both["acquired_at_ecg"]).abs() <= pd.Timedelta(days=7)
    assert set(zip(pairs["ecg_id"], pairs["study_id"])) == set(zip(both.loc[within, "ecg_id"], both.loc[within, "study_id"]))
    assert np.isclose(pairs["delta_days"].abs(), 7.0).any(), "the 7.0-day boundary case pairs"
    gaps = (both["acquired_at_study"] - both["acquired_at_ecg"]).abs() / pd.Timedelta(days=1)
    assert np.isclose(gaps, 7.1).any(), "a 7.1-day case exists in the cohort"
    assert not np.isclose(pairs["delta_days"].abs(), 7.1).any()
    splits = pd.read_parquet(results / "tables/splits.parquet")
    assert not splits.duplicated(["cohort", "patient_id"]).any()


def test_changing_one_raw_ecg_reruns_only_its_shard(tiny_run):
    results = tiny_run / "results"
    assert planned_jobs(snakemake(tiny_run, "-n")) == []
    ecgs = pd.read_parquet(results / "tables/ecgs.parquet")
    record = ecgs[ecgs["cohort"] == "mimic"].iloc[0]
    dat = tiny_run / f"{record['source_path']}.dat"
    original, stat = dat.read_bytes(), dat.stat()
    data = bytearray(original)
    data[2000] ^= 0x01  # one sample changes
    dat.write_bytes(bytes(data))
    try:
        jobs = planned_jobs(snakemake(tiny_run, "-n"))
    finally:
        restore(dat, original, stat)
    n_shards = 2
    expected = [{"cohort": "mimic", "shard": shard_name(shard_of(record["ecg_id"], n_shards))}]
    assert [w for rule, w in jobs if rule == "ingest_ecg_shard"] == expected
    assert [w for rule, w in jobs if rule == "preprocess_ecg"] == expected
    assert not any(rule in {"synthesize_cohort", "ingest_echo_shard"} for rule, _ in jobs)
    # the original file back (content and modification time, as a restore from backup gives):
    # its shard's digest of (path, size, mtime) matches again, nothing reruns
    assert planned_jobs(snakemake(tiny_run, "-n")) == []


def test_changing_one_echo_view_reruns_only_its_shard(tiny_run):
    results = tiny_run / "results"
    views = pd.read_parquet(results / "tables/echo_views.parquet")
    view = views[views["n_frames"] > 1].iloc[0]
    path = tiny_run / view["source_path"]
    original, stat = path.read_bytes(), path.stat()
    data = bytearray(original)
    data[-100] ^= 0x01
    path.write_bytes(bytes(data))
    try:
        jobs = planned_jobs(snakemake(tiny_run, "-n"))
    finally:
        restore(path, original, stat)
    expected = [{"cohort": "mimic", "shard": shard_name(shard_of(view["view_id"], 2))}]
    for rule in ("ingest_echo_shard", "prepare_echo_clips", "embed_echo_views"):
        assert [w for r, w in jobs if r == rule] == expected, rule
    assert not any(rule in {"synthesize_cohort", "fit_echo_encoder", "ingest_ecg_shard", "preprocess_ecg"} for rule, _ in jobs)


def test_each_view_is_encoded_once_in_a_whole_run(tiny_run):
    results = tiny_run / "results"
    index = pd.read_parquet(results / "echo/view_embeddings.parquet")
    encoder = json.loads((results / "echo/echo_encoder.json").read_text())
    views = pd.read_parquet(results / "tables/echo_views.parquet")
    cines = views[views["n_frames"] > 1]
    assert index["view_id"].is_unique
    # every encoder call of the run, summed over its jobs, is one per embedded view
    assert sum(encoder["views_encoded_per_job"]) == len(index) == encoder["views_encoded"]
    ledger = pd.read_parquet(results / "qc/excluded.parquet")
    clip_excluded = set(ledger.loc[ledger["stage"] == "prepare_echo_clips", "record_id"])
    assert set(index["view_id"]) | clip_excluded == set(views["view_id"])
    assert set(views.loc[views["n_frames"] == 1, "view_id"]) <= clip_excluded
    assert set(index["view_id"]) <= set(cines["view_id"])
    assert "no EchoPrime weights configured" in encoder["echo_encoder"][0]
    for npy_path, part in index.groupby("npy_path"):
        embeddings = np.load(tiny_run / npy_path, mmap_mode="r")
        assert embeddings.shape == (len(part), 512) and embeddings.dtype == np.float32
        assert np.isfinite(embeddings).all()
    # temporary clips are gone; nothing is left to do
    assert not list((results / "interim/echo_clips").glob("*/*.npy"))


def test_a_config_change_reruns_exactly_the_rules_that_use_it(tiny_run, tmp_path):
    jobs = planned_jobs(snakemake(tiny_run, "-n", extra_config=override(tmp_path / "window.yaml", "pairing:\n  window_days: 3.0\n")))
    rules = {rule for rule, _ in jobs}
    assert "pair_ecg_echo" in rules and "summarize_cohort" in rules
    assert not rules & {"synthesize_cohort", "ingest_ecg_shard", "ingest_ecgs", "ingest_echo_shard", "split_patients",
                        "preprocess_ecg", "prepare_echo_clips", "fit_echo_encoder", "embed_echo_views"}
    jobs = planned_jobs(snakemake(tiny_run, "-n", extra_config=override(tmp_path / "clip.yaml",
                                                                         "ecg_preprocessing:\n  clip_sd: 3.0\n")))
    rules = {rule for rule, _ in jobs}
    assert sum(rule == "preprocess_ecg" for rule, _ in jobs) == 3 * 2  # every cohort's every shard
    assert not rules & {"synthesize_cohort", "ingest_ecg_shard", "ingest_ecgs", "pair_ecg_echo", "split_patients",
                        "prepare_echo_clips", "embed_echo_views"}
    # the stand-in's corpus is preprocessed as every ECG is: it follows the preprocessing ...
    assert {"synthesize_ecg_standin_corpus", "fit_ecg_encoder"} <= rules
    # ... and the corpus size, but not the fit: a change of the fit refits on the cached corpus
    for change, corpus_rerun in (("steps: 7", False), ("lr: 2.0e-3", False), ("n_patients: 41", True)):
        yaml_text = f"ecg_encoder:\n  standin:\n    {change}\n"
        rules = {rule for rule, _ in planned_jobs(snakemake(tiny_run, "-n", extra_config=override(
            tmp_path / "standin.yaml", yaml_text)))}
        assert "fit_ecg_encoder" in rules and "pretrain" in rules, (change, rules)
        assert ("synthesize_ecg_standin_corpus" in rules) == corpus_rerun, (change, rules)
        assert not rules & {"synthesize_cohort", "preprocess_ecg", "embed_echo_views", "fit_echo_encoder"}, rules


def test_preprocessed_ecgs_are_memory_mappable_model_inputs(tiny_run):
    results = tiny_run / "results"
    index = pd.read_parquet(results / "ecg/index.parquet")
    ecgs = pd.read_parquet(results / "tables/ecgs.parquet")
    ledger = pd.read_parquet(results / "qc/excluded.parquet")
    preprocess_excluded = set(ledger.loc[ledger["stage"] == "preprocess_ecg", "record_id"])
    assert set(index["ecg_id"]) | preprocess_excluded == set(ecgs["ecg_id"])
    for npy_path, part in index.groupby("npy_path"):
        array = np.load(tiny_run / npy_path, mmap_mode="r")
        assert array.dtype == np.float32 and array.shape == (len(part), 12, 5000)
        assert list(part.sort_values("row")["row"]) == list(range(len(part)))
        groups = [array[:, :3], array[:, 3:6], array[:, 6:]]
        for group in groups:
            assert np.allclose(group.mean(axis=(1, 2)), 0, atol=1e-4)
            assert np.allclose(group.std(axis=(1, 2)), 1, atol=1e-3)


# ---- provenance, lineage, audit and minimal reruns (issue 9) ---------------------------------
def planned_outputs(result: subprocess.CompletedProcess) -> set[str]:
    """Every output file of every job a dry run lists."""
    outputs = set()
    for line in result.stdout.splitlines():
        match = re.match(r"^\s+output: (.*)$", line)
        if match:
            outputs.update(p.strip() for p in match.group(1).split(", "))
    return outputs


def echo2ecg_command(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """The `echo2ecg` console command (pyproject's entry point echo2ecg.cli:main)."""
    return subprocess.run([sys.executable, "-m", "echo2ecg.cli", *args], cwd=workdir, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_rerun_with_nothing_changed_schedules_nothing(tiny_run):
    result = snakemake(tiny_run, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned_jobs(result) == []
    assert "Nothing to be done" in result.stdout + result.stderr


def test_results_dir_elsewhere_moves_the_synthetic_roots_with_it(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    result = snakemake(tmp_path, "-n", extra_config=override(tmp_path / "dir.yaml", f"results_dir: {elsewhere}\n"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"output: {elsewhere}/raw/synthetic" in result.stdout
    assert " results/" not in result.stdout


def test_every_result_has_a_small_sidecar_with_its_full_provenance(tiny_run):
    results = tiny_run / "results"
    sidecars = sorted(results.rglob("*.prov.json"))
    assert len(sidecars) > 60
    for path in sidecars:
        record = json.loads(path.read_text())
        assert path.stat().st_size < 32_000, (path, path.stat().st_size)  # record lists live in tables
        for key in ("rule", "wildcards", "params", "seeds", "inputs", "code", "software", "host",
                    "started_at", "finished_at"):
            assert key in record, (path, key)
        assert len(record["code"]["git_commit"]) == 40 and isinstance(record["code"]["git_dirty"], bool)
        assert record["host"]["cpu"] and "gpus" in record["host"]
        if record["rule"] != "synthesize_cohort":
            assert any(m.startswith("scripts/") for m in record["code"]["modules"]), path
    split = json.loads((results / "tables/splits.parquet.prov.json").read_text())
    assert split["seeds"] == {"seed": 42}
    assert split["params"]["fractions"]["train"] == tiny_config()["split"]["fractions"]["train"]
    # an input the workflow wrote is identified by the hash its own sidecar recorded
    pairs = json.loads((results / "tables/pairs.parquet.prov.json").read_text())
    ecgs = json.loads((results / "tables/ecgs.parquet.prov.json").read_text())
    entry = next(e for e in pairs["inputs"] if e["path"].endswith("tables/ecgs.parquet"))
    assert entry["sha256_from"] == "sidecar" and entry["sha256"] == ecgs["output_sha256"]
    # a shard's raw records: a table referenced by hash, one row per raw file read
    shard = json.loads((results / "interim/ingest/mimic/ecgs/0000.parquet.prov.json").read_text())
    table_path = tiny_run / shard["records"]["path"]
    from echo2ecg.provenance import sha256_of_file

    assert sha256_of_file(table_path) == shard["records"]["sha256"]
    table = pd.read_parquet(table_path)
    manifest = pd.read_parquet(results / "interim/manifests/mimic/ecgs/0000.parquet")
    assert set(table["record_id"]) == set(manifest["record_id"])
    assert set(table["path"]) == {f for files in manifest["source_files"] for f in files}


def test_lineage_is_a_short_tree_back_to_the_listing_files(tiny_run):
    result = echo2ecg_command(tiny_run, "lineage", "results/tables/pairs.parquet")
    assert result.returncode == 0, result.stderr
    tree = result.stdout
    assert len(tree.splitlines()) < 80, tree
    assert tree.splitlines()[0].startswith("pair_ecg_echo")
    for expected in ("window_days=7.0", "ingest_ecgs", "ingest_ecg_shard", "list_ecg_records",
                     "mimic-iv-ecg/record_list.csv", "mimic-iv-echo/echo-record-list.csv", "raw records read"):
        assert expected in tree, expected
    graph = json.loads(echo2ecg_command(tiny_run, "lineage", "results/tables/pairs.parquet", "--json").stdout)
    nodes = graph["nodes"]
    assert graph["root"] == "results/tables/pairs.parquet"
    assert nodes["results/raw/synthetic/mimic-iv-ecg/record_list.csv"]["raw"]
    assert {n["rule"] for n in nodes.values() if not n["raw"]} >= {"pair_ecg_echo", "ingest_ecgs", "ingest_ecg_shard",
                                                                   "list_ecg_records", "ingest_echos"}


def test_console_command_is_installed_by_the_package():
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["echo2ecg"].split(":")
    import importlib

    assert callable(getattr(importlib.import_module(module), function))


def test_audit_names_exactly_the_results_that_depend_on_a_changed_raw_file(tiny_run):
    clean = echo2ecg_command(tiny_run, "audit", "results")
    assert clean.returncode == 0, clean.stdout[-3000:]
    assert "results up to date" in clean.stdout
    ecgs = pd.read_parquet(tiny_run / "results/tables/ecgs.parquet")
    record = ecgs[ecgs["cohort"] == "ukb"].iloc[0]
    path = tiny_run / record["source_path"]
    original, stat = path.read_bytes(), path.stat()
    data = bytearray(original)
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    try:
        audit = echo2ecg_command(tiny_run, "audit", "results", "--json")
        plan = snakemake(tiny_run, "-n")
    finally:
        restore(path, original, stat)
    assert audit.returncode == 1
    stale = set(json.loads(audit.stdout)["stale"])
    # what depends on the file is what Snakemake would rerun: every output of those jobs that is
    # on disk with a provenance record (logs and benchmarks have none)
    dependants = {p for p in planned_outputs(plan) if (tiny_run / f"{p}.prov.json").exists()}
    shard = shard_name(shard_of(record["ecg_id"], 2))
    assert f"results/interim/ingest/ukb/ecgs/{shard}.parquet" in stale
    assert f"results/ecg/ukb/{shard}.npy" in stale
    assert stale == dependants
    assert not any("/mimic/" in p or "/echonext/" in p for p in stale)
    assert echo2ecg_command(tiny_run, "audit", "results").returncode == 0


def test_audit_names_the_results_of_changed_code(tiny_run):
    """The run's records audited as if one module had changed since (the recorded hash differs)."""
    from echo2ecg.cli import Auditor, Sidecars

    sidecars = Sidecars(tiny_run)
    auditor = Auditor(sidecars)
    assert auditor.reasons("results/tables/pairs.parquet") == []
    record = sidecars.get("results/tables/pairs.parquet")
    record["code"]["modules"]["echo2ecg/pair_ecg_echo.py"] = "0" * 64  # as if the module had changed since
    auditor = Auditor(sidecars)
    assert "code changed: echo2ecg/pair_ecg_echo.py" in auditor.reasons("results/tables/pairs.parquet")
    summary = Auditor(sidecars).reasons("results/tables/cohort_summary.csv")
    assert "upstream stale: results/tables/pairs.parquet" in summary
    assert Auditor(Sidecars(tiny_run)).reasons("results/tables/ecgs.parquet") == []


def _changed_value(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 0.5 if value else 0.1
    return None


def _leaf_keys(sections=("evaluation", "pretrain")) -> list:
    default = __import__("yaml").safe_load((REPO / "config.yaml").read_text())
    keys = []
    for section in sections:
        def walk(value, path):
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(v, (*path, k))
            elif _changed_value(value) is not None:
                keys.append(path)
        walk(default.get(section, {}), (section,))
    return keys


def _nested(path, value) -> dict:
    out = value
    for key in reversed(path):
        out = {key: out}
    return out


# the stages before pre-training: never rerun for an evaluation or pre-training parameter
UPSTREAM_OUTPUTS = ("results/raw/", "results/interim/", "results/tables/", "results/qc/", "results/ecg/",
                    "results/echo/")
# what pre-training writes (CONTRACT.md): never rerun for an evaluation parameter
PRETRAIN_OUTPUTS = ("results/models/", "results/features/")


def _reasons(result: subprocess.CompletedProcess) -> list[tuple[str, str]]:
    """(rule, reason) of every job a dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", result.stdout):
        match = re.match(r"(?:local)?rule (\w+):", block.strip())
        if match:
            reason = re.search(r"^\s+reason: (.*)$", block, re.M)
            jobs.append((match.group(1), reason.group(1) if reason else ""))
    return jobs


# the rules whose params hold each evaluation key (workflow/rules/evaluate.smk, report.smk): a
# change of the key must plan them, for their params changed; keys not listed (added later) must
# plan at least one job whose params changed
READS = {
    ("evaluation", "seed"): {"knn", "knn_summary", "retrieval"},
    ("evaluation", "knn", "k"): {"knn"},
    ("evaluation", "lvef", "classes", "reduced_max"): {"knn"},
    ("evaluation", "lvef", "classes", "normal_min"): {"knn"},
    ("evaluation", "lvef", "train_size"): {"knn"},
    ("evaluation", "shd", "min_train_ecgs"): {"knn"},
    ("evaluation", "bootstrap", "n_resamples"): {"knn", "knn_summary", "retrieval"},
    ("evaluation", "bootstrap", "ci"): {"knn", "knn_summary", "retrieval"},
    ("evaluation", "retrieval", "tolerance_sd"): {"retrieval"},
    ("evaluation", "report", "ablation_shd_fraction"): {"report_tables"},
}


# changed values that the config checks would reject otherwise (normal_min above reduced_max, the
# ablation's fraction one of evaluation.shd.fractions)
VALID_CHANGE = {("evaluation", "lvef", "classes", "normal_min"): 55.0,
                ("evaluation", "report", "ablation_shd_fraction"): 1.0}


def _changed_config(tmp_path: Path, key: tuple, base: dict | None = None) -> Path:
    import yaml

    value = base or yaml.safe_load((REPO / "config.yaml").read_text())
    for part in key:
        value = value[part]
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(_nested(key, VALID_CHANGE.get(key, _changed_value(value)))))
    return changed


@pytest.mark.parametrize("key", _leaf_keys(("evaluation",)), ids=lambda k: ".".join(k))
def test_an_evaluation_parameter_reruns_the_rules_that_read_it_and_nothing_before(small_run, tmp_path, key):
    """Against a run with the evaluation enabled (the small preset's whole DAG)."""
    from small_dag import EVAL_RULES, small_config, small_snakemake

    changed = _changed_config(tmp_path, key, base=small_config())
    result = small_snakemake(small_run, "-n", extra_config=(str(changed),))
    if result.returncode != 0 and ("config key" in result.stderr + result.stdout or "ConfigError" in result.stderr):
        pytest.skip(f"the changed value of {'.'.join(key)} is rejected by the config checks")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = _reasons(result)
    if key == ("evaluation", "enabled"):   # switched off: the default target stops at the features
        assert jobs == [], jobs
        return
    # the rules reading the key are planned (a job whose inputs are rerun anyway is listed for
    # that reason, not for its params), and at least one job is planned for its changed params
    assert {rule for rule, _ in jobs} >= READS.get(key, set()), (key, jobs)
    assert any("Params have changed" in reason for _, reason in jobs), (key, jobs)
    assert {rule for rule, _ in jobs} <= EVAL_RULES, (key, jobs)
    outputs = planned_outputs(result)
    assert not [p for p in outputs if p.startswith(UPSTREAM_OUTPUTS + PRETRAIN_OUTPUTS)], sorted(outputs)[:5]


@pytest.mark.parametrize("key", _leaf_keys(("pretrain",)) or [pytest.param(None, marks=pytest.mark.skip(
    reason="no rule reads `pretrain` yet"))], ids=lambda k: ".".join(k) if k else "none")
def test_a_pretraining_parameter_reruns_only_what_follows(tiny_run, tmp_path, key):
    result = snakemake(tiny_run, "-n", extra_config=(str(_changed_config(tmp_path, key)),))
    if result.returncode != 0 and ("config key" in result.stderr + result.stdout or "ConfigError" in result.stderr):
        pytest.skip(f"the changed value of {'.'.join(key)} is rejected by the config checks")
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = planned_outputs(result)
    upstream = sorted(p for p in outputs if p.startswith(UPSTREAM_OUTPUTS) and "/models/echo_encoder" not in p)
    assert not upstream, f"{'.'.join(key)} reruns preprocessing, embeddings or tables: {upstream[:5]}"
    assert not any(p.startswith("results/models/echo_encoder") for p in outputs)


# A pretrain key that only steers the training loop (echo2ecg.replicates.TRAINING_ONLY_KEYS) reruns the
# aligned variants and what follows them, never a variant that is not aligned (its encoder is written as
# initialised); a key such a variant reads (tau: its validation loss) reruns every variant.
TRAINING_ONLY_CHANGES = {("pretrain", "lr"): 1.0e-3, ("pretrain", "epochs"): 3,
                         ("pretrain", "augment", "jitter_sigma"): 0.1, ("pretrain", "adamw_kernel"): "fused",
                         ("pretrain", "batching"): "random", ("pretrain", "tau"): 0.25}


@pytest.mark.parametrize("key", sorted(TRAINING_ONLY_CHANGES), ids=lambda k: ".".join(k))
def test_a_training_only_parameter_reruns_only_the_aligned_variants(tiny_run, tmp_path, key):
    from echo2ecg.replicates import TRAINING_ONLY_KEYS

    changed = tmp_path / "changed.yaml"
    changed.write_text(__import__("yaml").safe_dump(_nested(key, TRAINING_ONLY_CHANGES[key])))
    result = snakemake(tiny_run, "-n", extra_config=(str(changed),))
    assert result.returncode == 0, result.stderr[-3000:]
    variants = tiny_config()["pretrain"]["variants"]
    rerun = {path.split("/")[2] for path in planned_outputs(result)
             if path.startswith(("results/models/", "results/features/")) and path.count("/") >= 4}
    aligned = {name for name, spec in variants.items() if spec["align"]}
    assert aligned and aligned != set(variants)
    assert rerun == (aligned if key[1] in TRAINING_ONLY_KEYS else set(variants)), (key, sorted(rerun))


def tiny_config() -> dict:
    import yaml
    from snakemake.utils import update_config

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "resources/presets/tiny.yaml").read_text()))
    return config


def test_every_variant_has_checkpoints_curve_and_feature_files(tiny_run):
    import torch

    results = tiny_run / "results"
    config = tiny_config()
    width, aligned_width = config["ecg_encoder"]["embed_dim"], config["pretrain"]["projection_dim"]
    index = pd.read_parquet(results / "ecg/index.parquet")
    ecgs = pd.read_parquet(results / "tables/ecgs.parquet")
    splits = pd.read_parquet(results / "tables/splits.parquet")
    with_split = ecgs.merge(splits, on=["cohort", "patient_id"])
    studies = pd.read_parquet(results / "tables/echo_studies.parquet")
    embedded_studies = set(pd.read_parquet(results / "echo/view_embeddings.parquet")["study_id"])
    standin = json.loads((results / "models/ecg_encoder_standin.metrics.json").read_text())
    assert standin["train_patients"] + standin["held_out_patients"] == config["ecg_encoder"]["standin"]["n_patients"]
    assert standin["held_out_objective"]["objective"] == config["ecg_encoder"]["standin"]["objective"]
    replicate = f"seed{config['pretrain']['replicates'][0]}"
    for variant, spec in config["pretrain"]["variants"].items():
        models = results / "models" / variant / replicate
        best = torch.load(models / "best.pt", weights_only=True)
        last = torch.load(models / "last.pt", weights_only=True)
        assert best["meta"]["encoder"]["embed_dim"] == width and last["model"].keys() == best["model"].keys()
        curve = pd.read_parquet(models / "curve.parquet")
        assert list(curve.columns[:5]) == ["epoch", "step", "train_loss", "val_loss", "lr"]
        assert len(curve) == (config["pretrain"]["epochs"] if spec["align"] else 1)
        assert (models / "curve.png").stat().st_size > 0
        assert ("stand-in" in best["meta"]["origin"]["foundation"]) == (spec["init"] == "foundation")
        for cohort in config["cohorts"]:
            features = pd.read_parquet(results / "features" / variant / replicate / f"{cohort}.parquet")
            assert list(features.columns) == ["ecg_id", "split"] + [f"f{i}" for i in range(width)]
            expected = set(index.loc[index["cohort"] == cohort, "ecg_id"]) & set(with_split["ecg_id"])
            assert set(features["ecg_id"]) == expected and features["ecg_id"].is_unique
            assert set(features["split"]) <= {"train", "val", "test"}
            assert (features.iloc[:, 2:].dtypes == np.float32).all() and np.isfinite(features.iloc[:, 2:]).all().all()
        aligned = pd.read_parquet(results / "features" / variant / replicate / "aligned_mimic.parquet")
        assert list(aligned.columns) == ["kind", "id", "split"] + [f"z{i}" for i in range(aligned_width)]
        mimic = pd.read_parquet(results / "features" / variant / replicate / "mimic.parquet")
        assert set(aligned.loc[aligned["kind"] == "ecg", "id"]) == set(mimic["ecg_id"])
        assert set(aligned.loc[aligned["kind"] == "study", "id"]) == set(studies["study_id"]) & embedded_studies
    # aligned variants moved away from their start; the unaligned ones are their start
    start = torch.load(results / f"models/otis_init/{replicate}/best.pt", weights_only=True)["model"]
    trained = torch.load(results / f"models/echo2ecg/{replicate}/last.pt", weights_only=True)["model"]
    encoder_keys = [k for k in start if k.startswith("ecg_encoder.")]
    assert any(not torch.equal(start[k], trained[k]) for k in encoder_keys)
    standin_weights = torch.load(results / "models/ecg_encoder_standin.pt", weights_only=True)["encoder"]
    assert all(torch.equal(start[f"ecg_encoder.{k}"], v) for k, v in standin_weights.items())


def test_adding_a_variant_is_a_config_change(tiny_run, tmp_path):
    extra = override(tmp_path / "variant.yaml",
                     "pretrain:\n  variants:\n    meanpool_random: {aggregation: mean, init: random, align: true}\n")
    jobs = planned_jobs(snakemake(tiny_run, "-n", extra_config=extra))
    assert {rule for rule, _ in jobs} == {"pretrain", "extract_ecg_features", "all"}
    assert {w.get("variant") for rule, w in jobs if rule != "all"} == {"meanpool_random"}
    # one feature job for the new variant writes every cohort's file; the other variants' are not planned
    features = [w for rule, w in jobs if rule == "extract_ecg_features"]
    assert len(features) == 1 and features[0]["variant"] == "meanpool_random"


def file_states(root: Path) -> dict[str, tuple[int, int, str]]:
    """(size, mtime, SHA-256) of every file under root."""
    import hashlib

    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in root.rglob("*") if p.is_file()}


def test_adding_a_replicate_runs_only_that_replicates_jobs(tiny_run, tmp_path):
    import shutil

    import torch

    first = tiny_config()["pretrain"]["replicates"][0]
    added = ("--config", f"pretrain={{replicates: [{first}, {first + 1}]}}")
    jobs = planned_jobs(snakemake(tiny_run, "-n", *added))
    # the tiny preset stops at the feature files (evaluation disabled): no summary or report job to rerun;
    # nothing of the data half, the echo encoder or the ECG stand-in (shared by every replicate)
    assert {rule for rule, _ in jobs} == {"pretrain", "extract_ecg_features", "all"}
    assert {w.get("replicate") for rule, w in jobs if rule != "all"} == {f"seed{first + 1}"}
    assert sum(rule == "pretrain" for rule, _ in jobs) == len(tiny_config()["pretrain"]["variants"])
    # run two of the new replicate's jobs in a copy: the first replicate's results stay as they were
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    before = file_states(workdir / "results")
    new = [f"results/models/{v}/seed{first + 1}/best.pt" for v in ("echo2ecg", "random_init")]
    result = snakemake(workdir, *new, *added)
    assert result.returncode == 0, result.stderr[-4000:]
    after = file_states(workdir / "results")
    assert {path: after.get(path) for path in before} == before
    # random_init is the encoder initialised from the replicate's seed; the aligned variant trains from it
    for variant in ("echo2ecg", "random_init"):
        old, fresh = (torch.load(workdir / f"results/models/{variant}/seed{s}/best.pt", weights_only=True)["model"]
                      for s in (first, first + 1))
        assert any(not torch.equal(old[k], fresh[k]) for k in old if k.startswith("ecg_encoder.")), variant
