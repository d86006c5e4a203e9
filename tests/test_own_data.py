"""Your own data with one config file: a hand-written MIMIC-IV layout (written here with wfdb and
pydicom, not by the generator), named in one --configfile, runs end to end and touches nothing
synthetic; adding patients later leaves every existing split assignment as it was."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from format_writers import distinct_leads, smooth_frames, write_echo_dicom, write_wfdb
from snakemake_runs import run_snakemake

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow
RATE = 500


def _patient(ecg_root: Path, echo_root: Path, subject: int, day: int):
    """One patient: two ECGs (one 2 days before the study, one 40 days after) and one study of
    two cine views; returns (record_list rows, echo-record-list rows, study row, measurements)."""
    ecgs, views = [], []
    study = 90000000 + subject
    study_time = pd.Timestamp("2180-01-01 10:00:00") + pd.Timedelta(days=day)
    for k, offset in enumerate((-2, 40)):
        ecg = 40000000 + 10 * subject + k
        relative = f"files/p{str(subject)[:4]}/p{subject}/s{ecg}/{ecg}"
        write_wfdb(ecg_root / relative, distinct_leads(5000, RATE, seed=ecg), RATE)
        ecgs.append({"subject_id": subject, "study_id": ecg, "file_name": ecg,
                     "ecg_time": str(study_time + pd.Timedelta(days=offset)), "path": relative})
    for v in range(2):
        relative = f"files/p{str(subject)[:2]}/p{subject}/s{study}/{study}_{v:04d}.dcm"
        write_echo_dicom(echo_root / relative, smooth_frames(20 + 4 * v, 48, 64), jpeg=v == 0)
        views.append({"subject_id": subject, "study_id": study,
                      "acquisition_datetime": str(study_time + pd.Timedelta(minutes=v)), "dicom_filepath": relative})
    lvef = 30.0 if subject % 2 else 62.0
    measurements = [
        {"subject_id": subject, "measurement_id": f"M{subject}", "measurement_datetime": str(study_time),
         "measurement": "lvef", "result": str(lvef), "test_type": "tte"},
        {"subject_id": subject, "measurement_id": f"M{subject}", "measurement_datetime": str(study_time),
         "measurement": "biplane_lvedv", "result": str(100 + subject % 7), "test_type": "tte"},
        {"subject_id": subject, "measurement_id": f"M{subject}", "measurement_datetime": str(study_time),
         "measurement": "biplane_lvesv", "result": str(40 + subject % 5), "test_type": "tte"},
    ]
    study_row = {"subject_id": subject, "study_id": study, "study_datetime": str(study_time),
                 "measurement_id": f"M{subject}"}
    return ecgs, views, study_row, measurements


def write_mimic_layout(root: Path, subjects) -> None:
    """MIMIC-IV-ECG and MIMIC-IV-ECHO index files and records for ``subjects`` (see FORMATS.md)."""
    ecg_root, echo_root = root / "mimic-iv-ecg", root / "mimic-iv-echo"
    ecgs, views, studies, measurements = [], [], [], []
    for subject in subjects:
        e, v, s, m = _patient(ecg_root, echo_root, subject, day=subject % 50)
        ecgs += e
        views += v
        studies.append(s)
        measurements += m
    pd.DataFrame(ecgs).to_csv(ecg_root / "record_list.csv", index=False)
    pd.DataFrame(views).to_csv(echo_root / "echo-record-list.csv", index=False)
    pd.DataFrame(studies).to_csv(echo_root / "echo-study-list.csv", index=False)
    pd.DataFrame(measurements).to_csv(echo_root / "structured-measurement.csv.gz", index=False, compression="gzip")


def own_config(data: Path) -> dict:
    """The one config file a user writes: their cohort, small shard count and stand-in fit."""
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    standin = {"n_patients": 8, "views_per_patient": 1, "batch_size": 4}
    if "time_budget_s" in default["echo_encoder"]["standin"]:  # until the step-count change merges
        standin.update(time_budget_s=100000, max_steps=4)
    else:
        standin["steps"] = 4
    return {
        "cohorts": {"mine": {
            "role": "pretrain", "synthetic": False,
            "ecg_reader": "mimic_iv_ecg", "ecg_root": str(data / "mimic-iv-ecg"),
            "echo_reader": "mimic_iv_echo", "echo_root": str(data / "mimic-iv-echo"),
            "split_source": "patient_hash",
        }},
        "ingest": {"n_shards": 2},
        "echo_encoder": {"batch_size": 4, "standin": standin},
    }


def snakemake(workdir: Path, configfile: Path, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, *args, configfiles=(configfile,))


DATA_HALF = [f"results/{name}" for name in (
    "tables/ecgs.parquet", "tables/pairs.parquet", "tables/splits.parquet", "tables/phenotypes.parquet",
    "tables/cohort_summary.md", "qc/excluded.parquet", "qc/reconciliation.csv", "ecg/index.parquet",
    "echo/view_embeddings.parquet")]
SUBJECTS = [10000032 + 17 * i for i in range(10)]
NEW_SUBJECTS = [19990001 + 13 * i for i in range(4)]


def test_one_config_file_runs_a_hand_written_mimic_layout_end_to_end(tmp_path):
    data, work = tmp_path / "data", tmp_path / "work"
    work.mkdir()
    write_mimic_layout(data, SUBJECTS)
    configfile = tmp_path / "mine.yaml"
    configfile.write_text(yaml.safe_dump(own_config(data)))

    plan = snakemake(work, configfile, "-n")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "synthesize_cohort" not in plan.stdout

    # the whole DAG plans without anything synthetic (above); the run builds the data half and the
    # frozen echo embeddings (pre-training and the kNN evaluation need more than 10 patients)
    result = snakemake(work, configfile, *DATA_HALF)
    assert result.returncode == 0, result.stderr[-5000:]
    results = work / "results"
    assert not (results / "raw").exists(), "nothing synthetic is written"
    assert not (results / "logs/synthesize_cohort.log").exists()
    ecgs = pd.read_parquet(results / "tables/ecgs.parquet")
    assert set(ecgs["cohort"]) == {"mine"} and set(ecgs["patient_id"]) == {str(s) for s in SUBJECTS}
    assert len(ecgs) == 2 * len(SUBJECTS)
    assert all(p.startswith(str(data)) for p in ecgs["source_path"])
    pairs = pd.read_parquet(results / "tables/pairs.parquet")
    assert len(pairs) == len(SUBJECTS)  # the ECG 2 days before each study pairs, the one 40 days after not
    assert (pairs["delta_days"] == 2).all()
    embeddings = pd.read_parquet(results / "echo/view_embeddings.parquet")
    assert len(embeddings) == 2 * len(SUBJECTS)
    array = np.load(work / embeddings["npy_path"].iloc[0])
    assert array.shape[1] == 512 and np.isfinite(array).all()
    phenotypes = pd.read_parquet(results / "tables/phenotypes.parquet")
    assert sorted(phenotypes["lvef"].unique()) == [30.0, 62.0]
    summary = (results / "tables/cohort_summary.md").read_text()
    assert "mine" in summary and "echonext" not in summary and "ukb" not in summary

    # nothing changed: nothing to do
    again = snakemake(work, configfile, "-n", *DATA_HALF)
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]

    # new patients arrive: every existing patient keeps its split (end to end, through the workflow)
    splits_before = pd.read_parquet(results / "tables/splits.parquet")
    write_mimic_layout(data, SUBJECTS + NEW_SUBJECTS)
    grown = snakemake(work, configfile, "results/tables/splits.parquet", "results/tables/pairs.parquet")
    assert grown.returncode == 0, grown.stderr[-5000:]
    splits_after = pd.read_parquet(results / "tables/splits.parquet")
    assert set(splits_after["patient_id"]) == {str(s) for s in SUBJECTS + NEW_SUBJECTS}
    merged = splits_before.merge(splits_after, on=["cohort", "patient_id"], suffixes=("_before", "_after"))
    assert len(merged) == len(SUBJECTS)
    assert (merged["split_before"] == merged["split_after"]).all()
    pairs_after = pd.read_parquet(results / "tables/pairs.parquet")
    old = pairs_after[pairs_after["patient_id"].isin([str(s) for s in SUBJECTS])]
    assert set(zip(old["ecg_id"], old["study_id"])) == set(zip(pairs["ecg_id"], pairs["study_id"]))
