"""What the Slurm test costs: set-up of the single-node cluster, then the tiny preset's whole DAG
through `--profile slurm` (the users' profile), with each job's time in Slurm's accounting.

    .venv/bin/python benchmarks/bench_slurm_tiny_dag.py     # as root; writes benchmarks/results/slurm_tiny_dag.json

Starts its own cluster with tests/slurm/start_slurm.sh (packages already installed) and stops it
by its pids afterwards. Figures are measurements, never asserted in tests.
"""
from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _seconds(elapsed: str) -> int:
    days, _, clock = elapsed.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return (int(days) if days else 0) * 86400 + h * 3600 + m * 60 + s


def main() -> None:
    state = Path(tempfile.mkdtemp(prefix="echo2ecg-slurm-bench."))
    workdir = Path(tempfile.mkdtemp(prefix="echo2ecg-slurm-run."))
    began = time.monotonic()
    subprocess.run([str(REPO / "tests/slurm/start_slurm.sh"), str(state)], check=True, timeout=600)
    setup_s = time.monotonic() - began
    try:
        began = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "snakemake", "--profile", str(REPO / "slurm"), "-s", str(REPO / "Snakefile"),
             "--configfile", str(REPO / "config.yaml"), str(REPO / "resources/presets/tiny.yaml")],
            cwd=workdir, capture_output=True, text=True, timeout=3600)
        run_s = time.monotonic() - began
        if run.returncode != 0:
            sys.exit(run.stderr[-5000:])
        ids = re.findall(r"has been submitted with SLURM jobid (\d+)", run.stderr)
        steps = re.search(r"^(\d+) of (\d+) steps \(100%\) done$", run.stderr, re.M).group(2)
        sacct = subprocess.run(["sacct", "-X", "-P", "-n", "-j", ",".join(ids), "--format=JobIdRaw,Comment,Elapsed,AllocTRES"],
                               capture_output=True, text=True, check=True, timeout=60).stdout
    finally:
        subprocess.run([str(REPO / "tests/slurm/stop_slurm.sh"), str(state)], timeout=120)
    per_rule = defaultdict(lambda: {"jobs": 0, "elapsed_s": 0})
    for row in sacct.splitlines():
        _, comment, elapsed, tres = row.split("|")
        rule = re.match(r"rule_(\w+?)(?:_wildcards_.*)?$", comment).group(1)
        per_rule[rule]["jobs"] += 1
        per_rule[rule]["elapsed_s"] += _seconds(elapsed)
    result = {
        "benchmark": "slurm_tiny_dag",
        "command": ".venv/bin/python benchmarks/bench_slurm_tiny_dag.py",
        "machine": {"cpus": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
                    "platform": platform.platform()},
        "cluster_setup_s": round(setup_s, 1),
        "snakemake_steps": int(steps),
        "slurm_jobs": len(ids),
        "run_wall_s": round(run_s, 1),
        "sum_of_job_elapsed_s": sum(r["elapsed_s"] for r in per_rule.values()),
        "per_rule": dict(sorted(per_rule.items())),
    }
    out = REPO / "benchmarks/results/slurm_tiny_dag.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
