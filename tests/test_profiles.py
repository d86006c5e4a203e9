"""The two Snakemake profiles: `--profile slurm` resolves as typed from the repository root, and
`--profile workstation` runs GPU jobs one at a time. (The Slurm run itself: tests/test_slurm.py.)"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_slurm_profile_resolves_as_typed_from_the_repository_root(tmp_path):
    """`snakemake --profile slurm` finds slurm/config.v8+.yaml from the repository root, and every
    setting in it is one Snakemake or the slurm executor plugin accepts (a dry run parses them all)."""
    profile = yaml.safe_load((REPO / "slurm/config.v8+.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] in ("sacct", "squeue")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "slurm", "--dry-run", "--directory", str(tmp_path),
         "--configfile", str(REPO / "config.yaml"), str(REPO / "resources/presets/tiny.yaml")],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Using profile {REPO / 'slurm'}" in result.stderr or "Using profile slurm" in result.stderr, result.stderr[:2000]
    assert "synthesize_cohort" in result.stdout + result.stderr


TOY_SNAKEFILE = """
rule all:
    input: expand("done_{i}.txt", i=range(4))

rule gpu_job:
    output: "done_{i}.txt"
    resources: gpu=1
    shell:
        # fails if another GPU job holds the device (the lock), as two processes on one GPU would
        "mkdir gpu.lock && sleep 1 && rmdir gpu.lock && echo {wildcards.i} > {output}"
"""


def test_workstation_profile_runs_gpu_jobs_one_at_a_time(tmp_path):
    (tmp_path / "Snakefile").write_text(TOY_SNAKEFILE)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(REPO / "workstation"), "--cores", "4"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "gpu=1" in result.stderr  # "Provided resources: gpu=1"
    assert sorted(p.name for p in tmp_path.glob("done_*.txt")) == [f"done_{i}.txt" for i in range(4)]
