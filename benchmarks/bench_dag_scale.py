"""How long `snakemake -n` takes, and how much memory, for a MIMIC-IV-scale cohort.

Writes MIMIC-IV-ECG and MIMIC-IV-ECHO index tables only (record_list.csv, echo-record-list.csv,
echo-study-list.csv, structured-measurement.csv.gz; no waveform or DICOM file exists), a config
naming that one cohort, and times a dry run of the whole workflow from an empty results
directory. Also reports the job count by rule and what one shard job carries (its params and its
manifest file) against what it carried before (every record as a param, every raw file an input).

    .venv/bin/python benchmarks/bench_dag_scale.py                       # 800,000 ECGs, 7,000 studies, 500,000 views
    .venv/bin/python benchmarks/bench_dag_scale.py --ecgs 100000 --views 60000 --studies 1000 --shards 64

Figures: benchmarks/results/dag_scale.json (never asserted in tests).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_index_tables(root: Path, n_ecgs: int, n_studies: int, n_views: int, seed: int = 0) -> dict:
    """MIMIC-IV-layout index tables of the given sizes (patients: one per 5 ECGs, as in MIMIC-IV-ECG)."""
    rng = np.random.default_rng(seed)
    ecg_root, echo_root = root / "mimic-iv-ecg", root / "mimic-iv-echo"
    ecg_root.mkdir(parents=True, exist_ok=True)
    echo_root.mkdir(parents=True, exist_ok=True)
    n_patients = max(1, n_ecgs // 5)
    subjects = 10_000_000 + rng.choice(9_000_000, size=n_patients, replace=False)
    ecg_subject = subjects[rng.integers(0, n_patients, n_ecgs)]
    ecg_id = 40_000_000 + np.arange(n_ecgs)
    base = pd.Timestamp("2150-01-01")
    ecg_time = base + pd.to_timedelta(rng.integers(0, 365 * 30 * 24 * 60, n_ecgs), unit="min")
    sub = ecg_subject.astype(str)
    ids = ecg_id.astype(str)
    paths = [f"files/p{s[:4]}/p{s}/s{e}/{e}" for s, e in zip(sub, ids)]
    pd.DataFrame({"subject_id": sub, "study_id": ids, "file_name": ids,
                  "ecg_time": ecg_time.strftime("%Y-%m-%d %H:%M:%S"), "path": paths}).to_csv(
        ecg_root / "record_list.csv", index=False)

    study_subject = subjects[rng.integers(0, min(n_patients, max(1, n_studies)), n_studies)].astype(str)
    study_id = (90_000_000 + np.arange(n_studies)).astype(str)
    study_time = base + pd.to_timedelta(rng.integers(0, 365 * 30 * 24 * 60, n_studies), unit="min")
    pd.DataFrame({"subject_id": study_subject, "study_id": study_id,
                  "study_datetime": study_time.strftime("%Y-%m-%d %H:%M:%S"),
                  "measurement_id": [f"M{s}" for s in study_id]}).to_csv(echo_root / "echo-study-list.csv", index=False)
    view_study = rng.integers(0, n_studies, n_views)
    view_number = pd.Series(view_study).groupby(view_study).cumcount().to_numpy()
    dicom = [f"files/p{study_subject[s][:2]}/p{study_subject[s]}/s{study_id[s]}/{study_id[s]}_{v:04d}.dcm"
             for s, v in zip(view_study, view_number)]
    pd.DataFrame({"subject_id": study_subject[view_study], "study_id": study_id[view_study],
                  "acquisition_datetime": study_time[view_study].strftime("%Y-%m-%d %H:%M:%S"),
                  "dicom_filepath": dicom}).to_csv(echo_root / "echo-record-list.csv", index=False)
    pd.DataFrame({"subject_id": study_subject, "measurement_id": [f"M{s}" for s in study_id],
                  "measurement_datetime": study_time.strftime("%Y-%m-%d %H:%M:%S"), "measurement": "lvef",
                  "result": rng.integers(20, 75, n_studies).astype(str), "test_type": "tte"}).to_csv(
        echo_root / "structured-measurement.csv.gz", index=False, compression="gzip")
    return {"ecg_root": str(ecg_root), "echo_root": str(echo_root), "patients": n_patients}


def per_job_payload(roots: dict, n_shards: int) -> dict:
    """Bytes one ECG shard job carries now (params, manifest) and before (records param, inputs)."""
    from echo2ecg.ingest import manifest_rows
    from echo2ecg.list_records import list_records, shard_file_digests, shard_frame

    manifest = list_records("mimic_iv_ecg", "ecg", roots["ecg_root"], n_shards)
    digest = shard_file_digests(manifest, n_shards)[0]
    params_now = {"files_digest": digest, "reader": "mimic_iv_ecg", "min_duration_s": 9.5}
    rows = manifest_rows(manifest, 0)
    before = {"records": rows, "reader": "mimic_iv_ecg", "min_duration_s": 9.5}
    frame = shard_frame(manifest, 0)
    path = Path(roots["ecg_root"]).parent / "shard0.parquet"
    frame.to_parquet(path, index=False)
    return {
        "records_in_shard_0": len(rows),
        "params_bytes_now": len(json.dumps(params_now)),
        "params_bytes_before": len(json.dumps(before)),
        "raw_file_inputs_before": sum(len(r["source_files"]) for r in rows),
        "raw_file_inputs_now": 0,
        "manifest_file_bytes_now": path.stat().st_size,
    }


def dry_run(workdir: Path, configfile: Path, cores: int) -> dict:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
               str(REPO / "config.yaml"), str(configfile), "--cores", str(cores), "-n", "--quiet", "rules"]
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, peak_kib = usage_before.ru_maxrss, usage.ru_maxrss
    cpu_s = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    jobs = {}
    for line in (result.stdout + result.stderr).splitlines():
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if match and match.group(1) not in ("job", "count"):
            jobs[match.group(1)] = int(match.group(2))
    total = jobs.pop("total", sum(jobs.values()))
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu_s, 2), "load_average_1min": os.getloadavg()[0],
            "peak_rss_mb": round(max(peak_kib, before) / 1024, 1), "jobs": total,
            "jobs_by_rule": jobs, "command": " ".join(command)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ecgs", type=int, default=800_000)
    parser.add_argument("--studies", type=int, default=7_000)
    parser.add_argument("--views", type=int, default=500_000)
    parser.add_argument("--shards", type=int, default=256)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/echo2ecg_dag_scale"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/dag_scale.json")
    parser.add_argument("--reuse-data", action="store_true", help="keep index tables already in --workdir")
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    data = args.workdir / "data"
    if args.reuse_data and (data / "mimic-iv-ecg/record_list.csv").exists():
        roots = {"ecg_root": str(data / "mimic-iv-ecg"), "echo_root": str(data / "mimic-iv-echo"),
                 "patients": max(1, args.ecgs // 5)}
    else:
        roots = write_index_tables(data, args.ecgs, args.studies, args.views)
    written_s = time.perf_counter() - start
    configfile = args.workdir / "mimic_scale.yaml"
    configfile.write_text(yaml.safe_dump({
        "cohorts": {"mimic": {"role": "pretrain", "synthetic": False, "ecg_reader": "mimic_iv_ecg",
                              "ecg_root": roots["ecg_root"], "echo_reader": "mimic_iv_echo",
                              "echo_root": roots["echo_root"], "split_source": "patient_hash"}},
        "ingest": {"n_shards": args.shards},
    }))
    run_dir = args.workdir / "run"
    run_dir.mkdir(exist_ok=True)
    result = dry_run(run_dir, configfile, args.cores)
    figures = {
        "what": "snakemake -n of the whole workflow, one MIMIC-IV-layout cohort, index tables only, empty results",
        "ecgs": args.ecgs, "echo_studies": args.studies, "echo_views": args.views, "patients": roots["patients"],
        "shards": args.shards, "index_tables_written_s": round(written_s, 1),
        "dry_run": result, "per_shard_job": per_job_payload(roots, args.shards),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "reference_before": "main at 6978690: 100,000 ECGs (empty WFDB files), 64 shards: 49 s, 1.1 GB "
                            "(issue 9); each shard job listed ~3,000 raw files as inputs",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
