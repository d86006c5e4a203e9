"""Two from-scratch runs of the test configuration on CPU give byte-identical results.

Compared by SHA-256: every file under results/ -- the generated raw files, manifests, tables,
QC ledgers, preprocessed ECG arrays, echo view embeddings, the stand-in encoder checkpoint and
its metrics, reports -- except the files that legitimately differ, and why:
  * logs/**                 -- timestamped log lines
  * benchmarks/**           -- wall-clock time and memory of each job
  * *.prov.json             -- start and end times, durations, the host
  * *.records.parquet       -- the raw files' modification times (provenance: each run generated
                               its raw files at another moment)
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
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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


def same_but_timing(a: Path, b: Path) -> bool:
    """Equal once the timing fields are left out (JSON summaries and torch checkpoints)."""
    import json

    if a.suffix == ".json":
        return without_timing(json.loads(a.read_text())) == without_timing(json.loads(b.read_text()))
    if a.suffix == ".pt":
        import torch

        x, y = (without_timing(torch.load(p, weights_only=True)) for p in (a, b))
        tensors_x = {k: v for k, v in x.pop("state_dict").items()}
        tensors_y = {k: v for k, v in y.pop("state_dict").items()}
        return x == y and tensors_x.keys() == tensors_y.keys() and all(
            torch.equal(tensors_x[k], tensors_y[k]) for k in tensors_x)
    return False


def step_bound_config(path: Path) -> Path:
    """The tiny preset with the stand-in fit bound by its step count alone (until the echo branch
    replaces the wall-clock budget time_budget_s by a step count, a time budget could end the fit
    at a different step in each run)."""
    tiny = yaml.safe_load((REPO / "resources/presets/tiny.yaml").read_text())
    standin = tiny.get("echo_encoder", {}).get("standin", {})
    if "time_budget_s" in yaml.safe_load((REPO / "config.yaml").read_text())["echo_encoder"]["standin"]:
        standin = {"time_budget_s": 1_000_000, "max_steps": min(standin.get("max_steps", 8), 8)}
        path.write_text(yaml.safe_dump({"echo_encoder": {"standin": standin}}))
    else:
        path.write_text("{}\n")
    return path


def run_from_scratch(workdir: Path, extra: Path) -> None:
    workdir.mkdir()
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
               str(REPO / "config.yaml"), str(REPO / "resources/presets/tiny.yaml"), str(extra), "--cores", "2"]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-5000:]


def digests(results: Path) -> dict[str, str]:
    out = {}
    for path in sorted(p for p in results.rglob("*") if p.is_file()):
        relative = path.relative_to(results).as_posix()
        out[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def comparable(relative: str) -> bool:
    return not relative.startswith(LEGITIMATELY_DIFFERENT) and not relative.endswith(LEGITIMATELY_DIFFERENT_SUFFIXES)


def test_two_runs_from_scratch_are_byte_identical(tmp_path):
    extra = step_bound_config(tmp_path / "steps.yaml")
    run_from_scratch(tmp_path / "a", extra)
    run_from_scratch(tmp_path / "b", extra)
    a, b = digests(tmp_path / "a/results"), digests(tmp_path / "b/results")
    assert set(a) == set(b), sorted(set(a) ^ set(b))
    compared = [f for f in a if comparable(f)]
    kinds = {Path(f).suffix for f in compared}
    assert {".parquet", ".npy", ".csv", ".json", ".md", ".pt"} <= kinds, kinds
    different = sorted(f for f in compared if a[f] != b[f])
    results_a, results_b = tmp_path / "a/results", tmp_path / "b/results"
    not_timing = [f for f in different if not same_but_timing(results_a / f, results_b / f)]
    assert not_timing == [], not_timing
    # what differs at all is only those summaries and the checkpoint that carry timings
    assert all(f.endswith((".json", ".pt")) for f in different), different
    # what is left out of the comparison differs only where it records time, host or stat
    skipped = [f for f in a if not comparable(f)]
    assert all(f.startswith(LEGITIMATELY_DIFFERENT) or f.endswith(LEGITIMATELY_DIFFERENT_SUFFIXES) for f in skipped)
