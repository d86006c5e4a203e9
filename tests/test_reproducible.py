"""Two from-scratch runs of the small preset's whole DAG on CPU (resources/presets/small.yaml:
evaluation enabled, so kNN, bootstrap, retrieval and the report are in it) give byte-identical
results: the session's shared --cores 2 run and a second --cores 2 run. A --cores 1 run does NOT
(see CORES below: a strict xfail that records the measured difference).

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
Some stages also write how long they took into a JSON summary or checkpoint; these files are
compared with exactly those timing fields left out (every other value, every tensor equal):
  * raw/synthetic/truth/summary.json            -- "seconds" (synthesize_cohort)
  * models/echo_encoder_standin.{pt,metrics.json} -- metrics "train_seconds" (fit_echo_encoder)
  * echo/view_embeddings/<cohort>/<shard>.json  -- "seconds", "views_per_s" (embed_echo_views)
  * models/ecg_encoder_standin.pt, models/<variant>/*.pt -- "seconds", "samples_per_s" in their
                                                   metrics (fit_ecg_encoder, pretrain)
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
TIMING_FIELDS = {"seconds", "train_seconds", "views_per_s", "samples_per_s"}


def without_timing(value):
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING_FIELDS}
    if isinstance(value, (list, tuple)):
        return [without_timing(v) for v in value]
    return value


def exactly_equal(x, y) -> bool:
    """Nested dicts and lists of tensors and plain values, every tensor bit for bit."""
    import torch

    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(exactly_equal(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return isinstance(y, (list, tuple)) and len(x) == len(y) and all(map(exactly_equal, x, y))
    if isinstance(x, torch.Tensor):
        return isinstance(y, torch.Tensor) and x.dtype == y.dtype and torch.equal(x, y)
    return x == y


def same_but_timing(a: Path, b: Path) -> bool:
    """Equal once the timing fields are left out (JSON summaries and torch checkpoints)."""
    import json

    if a.suffix == ".json":
        return without_timing(json.loads(a.read_text())) == without_timing(json.loads(b.read_text()))
    if a.suffix == ".pt":
        import torch

        return exactly_equal(*(without_timing(torch.load(p, weights_only=True)) for p in (a, b)))
    return False


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


# Measured 2026-12-07 (small preset): a --cores 1 run differs from a --cores 2 run from the stand-in
# encoders on (models/echo_encoder_standin.pt, ecg_encoder_standin.pt, the view embeddings, then every
# model, feature file, retrieval table and report figure downstream; knn.parquet and the records
# tables came out equal): fit_echo_encoder, fit_ecg_encoder and embed_echo_views train and encode
# with torch on `threads: 2`, which Snakemake lowers to 1 under --cores 1, and a float reduction
# over another thread count rounds differently. Strict: the day a job's torch thread count no
# longer follows --cores, this xfail turns into a failure and the mark must go.
CORES = [2, pytest.param(1, marks=pytest.mark.xfail(strict=True, reason=(
    "torch jobs compute with as many threads as Snakemake grants them, so --cores 1 rounds differently "
    "from --cores 2 (first in models/echo_encoder_standin.pt)")))]


@pytest.mark.parametrize("cores", CORES, ids=lambda c: f"cores{c}")
def test_a_run_from_scratch_is_byte_identical_to_the_shared_two_core_run(small_run, tmp_path, cores):
    run_from_scratch(tmp_path / "run", cores=cores)
    results_a, results_b = small_run / "results", tmp_path / "run/results"
    a, b = digests(results_a), digests(results_b)
    assert set(a) == set(b), sorted(set(a) ^ set(b))
    compared = [f for f in a if comparable(f)]
    kinds = {Path(f).suffix for f in compared}
    assert {".parquet", ".npy", ".csv", ".json", ".md", ".pt", ".png", ".html"} <= kinds, kinds
    # the evaluation and the report are among the compared files
    assert {"eval/knn.parquet", "eval/knn_paired.parquet", "eval/retrieval.parquet", "report/table3.csv"} <= set(compared)
    different = sorted(f for f in compared if a[f] != b[f])
    not_timing = [f for f in different if not same_but_timing(results_a / f, results_b / f)]
    assert not_timing == [], not_timing
    # what differs at all is only those summaries and the checkpoints that carry timings
    assert all(f.endswith((".json", ".pt")) for f in different), different
    # records tables: identical but for the raw files' mtimes
    records = [f for f in a if f.endswith(".records.parquet")]
    assert records and all(same_records_table(results_a / f, results_b / f) for f in records)
    # what is left out of the byte comparison records time, host or stat only
    skipped = [f for f in a if not comparable(f)]
    assert all(f.startswith(LEGITIMATELY_DIFFERENT) or f.endswith(LEGITIMATELY_DIFFERENT_SUFFIXES) for f in skipped)
