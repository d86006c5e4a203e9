"""A from-scratch run of the small preset's whole DAG on ONE core gives the same bytes as the
session's shared --cores 2 run (resources/presets/small.yaml: evaluation enabled, so kNN, bootstrap,
retrieval and the report are in it). Torch jobs compute with config torch_threads (pretrain.threads
for pre-training), not with the cores Snakemake grants, so --cores 1 rounds exactly as --cores 2.

Compared by SHA-256: every file under results/ -- the generated raw files, manifests, tables,
QC ledgers, preprocessed ECG arrays, echo view embeddings, the stand-in encoder checkpoints and
their metrics, the pre-training checkpoints and curves, feature files, the evaluation tables, the
report's tables and figures -- except the files that legitimately differ, and why:
  * logs/**                 -- timestamped log lines
  * benchmarks/**           -- wall-clock time and memory of each job
  * *.prov.json             -- start and end times, durations, the host
  * *.records.parquet       -- the raw files' modification times (each run generated its raw files
                               at another moment): compared as tables with exact equality, only
                               the mtime_ns column left out
No result file carries a timing (checkpoints and metrics included), so nothing else is exempt.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from small_dag import small_snakemake

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow

LEGITIMATELY_DIFFERENT = ("logs/", "benchmarks/")
LEGITIMATELY_DIFFERENT_SUFFIXES = (".prov.json", ".records.parquet", ".log")


def run_from_scratch(workdir: Path, cores: int) -> None:
    workdir.mkdir()
    result = small_snakemake(workdir, cores=cores)
    assert result.returncode == 0, result.stderr[-5000:]


def digests(results: Path) -> dict[str, str]:
    out = {}
    for path in sorted(p for p in results.rglob("*") if p.is_file()):
        relative = path.relative_to(results).as_posix()
        out[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def comparable(relative: str) -> bool:
    return not relative.startswith(LEGITIMATELY_DIFFERENT) and not relative.endswith(LEGITIMATELY_DIFFERENT_SUFFIXES)


def same_records_table(a: Path, b: Path) -> bool:
    """Records tables: equal in every column but the raw files' modification times."""
    import pandas as pd

    x, y = (pd.read_parquet(p) for p in (a, b))
    assert "mtime_ns" in x.columns, a
    return x.drop(columns="mtime_ns").equals(y.drop(columns="mtime_ns"))


def test_a_one_core_run_from_scratch_is_byte_identical_to_the_shared_two_core_run(small_run, tmp_path):
    run_from_scratch(tmp_path / "run", cores=1)
    results_a, results_b = small_run / "results", tmp_path / "run/results"
    a, b = digests(results_a), digests(results_b)
    assert set(a) == set(b), sorted(set(a) ^ set(b))
    compared = [f for f in a if comparable(f)]
    kinds = {Path(f).suffix for f in compared}
    assert {".parquet", ".npy", ".csv", ".json", ".md", ".pt", ".png", ".html"} <= kinds, kinds
    # the evaluation and the report are among the compared files
    assert {"eval/knn.parquet", "eval/knn_paired.parquet", "eval/retrieval.parquet", "report/table3.csv"} <= set(compared)
    different = sorted(f for f in compared if a[f] != b[f])
    assert different == [], different
    # records tables: identical but for the raw files' mtimes
    records = [f for f in a if f.endswith(".records.parquet")]
    assert records and all(same_records_table(results_a / f, results_b / f) for f in records)
    # what is left out of the byte comparison records time, host or stat only
    skipped = [f for f in a if not comparable(f)]
    assert all(f.startswith(LEGITIMATELY_DIFFERENT) or f.endswith(LEGITIMATELY_DIFFERENT_SUFFIXES) for f in skipped)
