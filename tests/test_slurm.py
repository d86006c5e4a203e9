"""The tiny preset's whole DAG through the Slurm executor, with the profile users run.

`snakemake --profile slurm` (slurm/config.v8+.yaml, unchanged) on a real Slurm cluster: in CI
the single-node one of tests/slurm/start_slurm.sh (.ci/run starts and stops it). Asserts that
every job that runs code was an sbatch job, that Slurm's accounting (sacct) records each one
as COMPLETED under the rule Snakemake ran, with the CPUs and GPUs the rule declares, and that
nothing is left to do afterwards. Skipped without a cluster, except under CI (CI=true), where
a missing cluster fails the test.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "slurm"
# The whole run is bounded: a status command that never answers must fail the test, not hang CI.
RUN_TIMEOUT_S = int(os.environ.get("ECHO2ECG_SLURM_TEST_TIMEOUT_S", "2700"))
pytestmark = [pytest.mark.workflow, pytest.mark.slurm]


def _slurm_unavailable() -> str | None:
    """Why no usable Slurm cluster answers here (None when one does)."""
    for tool in ("sbatch", "sinfo", "sacct", "scancel"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    for probe in (["sinfo", "-h", "-o", "%P %a"], ["sacct", "-n", "-X", "-S", "now-1minutes", "-o", "JobIdRaw"]):
        try:
            result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return f"{probe[0]} did not answer within 30 s"
        if result.returncode != 0:
            return f"{' '.join(probe)} failed: {result.stderr.strip()[-300:]}"
    return None


def _snakemake(workdir: Path, *args: str, timeout: int) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--profile", str(PROFILE), "-s", str(REPO / "Snakefile"),
               "--configfile", str(REPO / "config.yaml"), str(REPO / "resources/presets/tiny.yaml"), *args]
    try:
        return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        log = (expired.stderr or b"").decode() if isinstance(expired.stderr, bytes) else (expired.stderr or "")
        run_id = re.search(r"SLURM run ID: (\S+)", log)
        if run_id:  # the jobs of this run only (their Slurm job name is the run id)
            subprocess.run(["scancel", "--name", run_id.group(1)], timeout=60)
        pytest.fail(f"snakemake --profile slurm did not finish within {timeout} s:\n{log[-5000:]}")


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory) -> tuple[Path, str]:
    reason = _slurm_unavailable()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI runs the Slurm test, but no Slurm cluster answers: {reason} "
                        "(tests/slurm/start_slurm.sh starts one)")
        pytest.skip(f"no Slurm cluster: {reason} (tests/slurm/start_slurm.sh starts one)")
    workdir = tmp_path_factory.mktemp("slurm_run")
    result = _snakemake(workdir, timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-8000:]
    return workdir, result.stderr


def _jobs(log: str) -> dict[str, dict]:
    """Snakemake job id -> rule, whether it ran locally, its threads and gpu (from the run's log)."""
    jobs = {}
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?(?:rule|checkpoint) \w+:)", log):
        header = re.search(r"^(local)?(?:rule|checkpoint) (\w+):$", block, re.M)
        jobid = re.search(r"^\s+jobid: (\d+)$", block, re.M)
        if not header or not jobid:
            continue
        threads = re.search(r"^\s+threads: (\d+)$", block, re.M)
        gpu = re.search(r"^\s+resources: .*\bgpu=(\d+)", block, re.M)
        jobs[jobid.group(1)] = {"rule": header.group(2), "local": bool(header.group(1)),
                                "threads": int(threads.group(1)) if threads else 1,
                                "gpu": int(gpu.group(1)) if gpu else 0}
    return jobs


def test_every_job_ran_as_a_slurm_job_recorded_by_slurm(slurm_run):
    workdir, log = slurm_run
    jobs = _jobs(log)
    done = re.search(r"^(\d+) of (\d+) steps \(100%\) done$", log, re.M)
    assert done and done.group(1) == done.group(2), log[-3000:]
    assert len(jobs) == int(done.group(2)), "every job of the DAG is in the log"
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: ", log))
    remote = {jobid for jobid, job in jobs.items() if not job["local"]}
    assert remote and set(submitted) == remote, "every job that runs code went to Slurm, each once"
    assert {job["rule"] for job in jobs.values() if job["local"]} <= {"all"}
    assert any(jobs[j]["gpu"] for j in remote), "the DAG has GPU jobs, so --gpus is exercised"

    # Slurm's own records: the accounting database, by job id.
    ids = ",".join(submitted.values())
    sacct = subprocess.run(["sacct", "-X", "-P", "-n", "-j", ids, "--format=JobIdRaw,JobName,State,Comment,AllocTRES"],
                           capture_output=True, text=True, timeout=60, check=True)
    records = {row.split("|")[0]: row.split("|") for row in sacct.stdout.splitlines() if row}
    assert set(records) == set(submitted.values()), "sacct knows every job id the run reported"
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    for jobid, slurm_id in submitted.items():
        job = jobs[jobid]
        _, name, state, comment, tres = records[slurm_id]
        assert name == run_id and state == "COMPLETED", records[slurm_id]
        assert re.fullmatch(rf"rule_{job['rule']}(_wildcards_.*)?", comment), (job, comment)
        assert f"cpu={job['threads']}," in tres, (job, tres)
        assert (f"gres/gpu={job['gpu']}" in tres) == bool(job["gpu"]), (job, tres)
        slurm_log = workdir / ".snakemake/slurm_logs" / f"rule_{job['rule']}"
        assert list(slurm_log.rglob(f"{slurm_id}.log")), f"Slurm's job log of {slurm_id} is kept"


def test_the_run_leaves_nothing_to_do(slurm_run):
    workdir, _ = slurm_run
    result = _snakemake(workdir, "--dry-run", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr
    assert (workdir / "results/tables/pairs.parquet").exists()
    assert list((workdir / "results/echo/view_embeddings").rglob("*.npy"))
