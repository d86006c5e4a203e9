"""Faults on a real Slurm cluster, through the profile users run (slurm/config.v8+.yaml, whose
`retries: 1` lets Snakemake resubmit a failed job once):

* the pre-training job of one variant is killed (`scancel --signal=TERM`: its running step's
  processes get SIGTERM, the job is not cancelled) once its first epoch state exists; Snakemake's retry
  resumes it from that state and it ends with the weights of an uninterrupted local CPU run of the
  same variant (torch.equal on every tensor); Slurm's accounting shows the FAILED and the
  COMPLETED job;
* one ingest shard job fails once (an injected, transient fault); its retry completes, and its
  outputs equal a clean local rerun's.

The shard fault is injected from outside the workflow, without any hook in its code: the test puts
a `sitecustomize.py` on the PYTHONPATH that the Slurm jobs inherit (the plugin submits with
--export=ALL); Python imports it at start-up, and in the first process that runs the rule
ingest_ecg_shard's script (Snakemake's copy of it is named `*.ingest_ecg_shard.py`) it claims a
marker file and exits with status 75, as a node fault would end a job. Every later process finds
the marker and runs normally. Skipped without a cluster, except under CI (CI=true).

Why not a plain `scancel` (or `--signal=KILL`, which Slurm treats as a cancel): sacct then reports
the job as `CANCELLED by <uid>`, which
snakemake-executor-plugin-slurm 2.8.0 does not match against its failure states (it compares the
whole string with "CANCELLED"), so it takes the job for still running and the run waits forever
(seen here: 3 minutes after the cancel, no retry and no error). A job the user cancels therefore
needs Snakemake stopped and started again (the restart resumes the same way).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_slurm import PROFILE, REPO, RUN_TIMEOUT_S, _slurm_unavailable

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]
VARIANT = "echo2ecg"
REPLICATE = "seed42"  # the tiny preset's one pre-training seed
# epochs long enough that the job is still training when the poll below sees its first state
SLOW_PRETRAIN = "pretrain:\n  epochs: 40\n"
FAULT = '''import os, sys
if sys.argv and os.path.basename(sys.argv[0]).endswith(".ingest_ecg_shard.py"):
    try:
        fd = os.open({marker!r}, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        pass
    else:
        os.write(fd, " ".join(sys.argv).encode())
        os.close(fd)
        sys.stderr.write("injected transient fault (tests/test_slurm_faults.py)\\n")
        os._exit(75)
'''


def _command(workdir: Path, *args: str, profile: bool) -> list[str]:
    # targets and options first: --configfile takes every word after it
    return [sys.executable, "-m", "snakemake", *args, *(["--profile", str(PROFILE)] if profile else ["--cores", "2"]),
            "-s", str(REPO / "Snakefile"), "--configfile", str(REPO / "config.yaml"),
            str(REPO / "resources/presets/tiny.yaml"), str(workdir / "slow_pretrain.yaml")]


def _sacct(ids) -> dict[str, list[str]]:
    result = subprocess.run(["sacct", "-X", "-P", "-n", "-j", ",".join(ids), "--format=JobIdRaw,State,Comment,ExitCode"],
                            capture_output=True, text=True, timeout=60, check=True)
    return {row.split("|")[0]: row.split("|") for row in result.stdout.splitlines() if row}


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    reason = _slurm_unavailable()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI runs the Slurm fault test, but no Slurm cluster answers: {reason}")
        pytest.skip(f"no Slurm cluster: {reason} (tests/slurm/start_slurm.sh starts one)")
    workdir = tmp_path_factory.mktemp("slurm_faults")
    (workdir / "slow_pretrain.yaml").write_text(SLOW_PRETRAIN)
    inject = workdir / "inject"
    inject.mkdir()
    marker = workdir / "shard_fault.marker"
    (inject / "sitecustomize.py").write_text(FAULT.format(marker=str(marker)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(inject), os.environ.get("PYTHONPATH")])))
    target = f"results/models/{VARIANT}/{REPLICATE}/last.pt"
    stderr_path = workdir / "snakemake.stderr"
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(_command(workdir, target, profile=True), cwd=workdir, env=env,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    state_dir = workdir / f"results/interim/pretrain/{VARIANT}/{REPLICATE}"
    deadline = time.time() + RUN_TIMEOUT_S
    cancelled = None
    try:
        while cancelled is None:  # the pretrain job's first epoch state, then cancel that job
            assert process.poll() is None, stderr_path.read_text()[-5000:]
            assert time.time() < deadline, "no epoch state appeared"
            if list(state_dir.glob("epoch_*.pt")):
                queue = subprocess.run(["squeue", "-h", "-o", "%i|%k"], capture_output=True, text=True, timeout=60)
                ids = [line.split("|")[0] for line in queue.stdout.splitlines()
                       if line.split("|")[1] == f"rule_pretrain_wildcards_{VARIANT}_{REPLICATE}"]
                assert len(ids) == 1, queue.stdout
                cancelled = ids[0]
                subprocess.run(["scancel", "--signal=TERM", cancelled], check=True, timeout=60)
                cancelled_after = sorted(p.name for p in state_dir.glob("epoch_*.pt"))
            time.sleep(0.2)
        process.wait(timeout=max(60, deadline - time.time()))
    finally:
        if process.poll() is None:
            process.kill()
            run_id = re.search(r"SLURM run ID: (\S+)", stderr_path.read_text())
            if run_id:
                subprocess.run(["scancel", "--name", run_id.group(1)], timeout=60)
    log = stderr_path.read_text()
    assert process.returncode == 0, log[-8000:]
    return workdir, log, cancelled, cancelled_after, marker


def _submissions(log: str, rule: str) -> dict[str, list[str]]:
    """wildcards -> the Slurm job ids of every submission of ``rule``'s job, in order."""
    jobs = {}
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?(?:rule|checkpoint) \w+:)", log):
        if re.search(rf"^(?:rule|checkpoint) {rule}:$", block, re.M):
            jobid = re.search(r"^\s+jobid: (\d+)$", block, re.M).group(1)
            wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
            jobs[jobid] = wildcards.group(1) if wildcards else ""
    out: dict[str, list[str]] = {}
    for jobid, slurm_id in re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: ", log):
        if jobid in jobs:
            out.setdefault(jobs[jobid], []).append(slurm_id)
    return out


def test_a_killed_pretrain_job_is_retried_and_resumes_to_the_uninterrupted_weights(faulty_run):
    workdir, log, cancelled, cancelled_after, _ = faulty_run
    (submitted,) = _submissions(log, "pretrain").values()
    assert len(submitted) == 2 and submitted[0] == cancelled, (submitted, cancelled)
    records = _sacct(submitted)
    print("sacct (pretrain):", *("|".join(records[i]) for i in submitted), sep="\n  ")
    assert records[submitted[0]][1] == "FAILED", records
    assert records[submitted[1]][1] == "COMPLETED", records
    killed_epoch = int(cancelled_after[-1].split("_")[1].split(".")[0])
    pretrain_log = (workdir / f"results/logs/pretrain/{VARIANT}/{REPLICATE}.log").read_text()
    resumed = re.search(rf"resuming {VARIANT} from its epoch (\d+) checkpoint", pretrain_log)
    assert resumed and 1 <= killed_epoch <= int(resumed.group(1)) < 40, pretrain_log[-3000:]

    # the same variant uninterrupted, locally on the CPU (no resume state left to take up)
    models = workdir / f"results/models/{VARIANT}/{REPLICATE}"
    slurm_weights = {name: torch.load(models / name, map_location="cpu", weights_only=True)["model"]
                     for name in ("best.pt", "last.pt")}
    shutil.rmtree(workdir / f"results/interim/pretrain/{VARIANT}/{REPLICATE}")
    local = subprocess.run(_command(workdir, f"results/models/{VARIANT}/{REPLICATE}/last.pt", "--forcerun", "pretrain",
                                    profile=False), cwd=workdir, capture_output=True, text=True, timeout=1800)
    assert local.returncode == 0, local.stderr[-5000:]
    assert "resuming" not in (workdir / f"results/logs/pretrain/{VARIANT}/{REPLICATE}.log").read_text()
    for name, weights in slurm_weights.items():
        uninterrupted = torch.load(models / name, map_location="cpu", weights_only=True)["model"]
        assert weights.keys() == uninterrupted.keys()
        assert all(torch.equal(weights[k], uninterrupted[k]) for k in weights), name


def test_a_shard_job_that_fails_once_is_retried_and_its_outputs_equal_a_clean_run(faulty_run):
    workdir, log, _, _, marker = faulty_run
    assert marker.exists() and marker.read_text().endswith(".ingest_ecg_shard.py"), "the fault was injected"
    retried = {wc: ids for wc, ids in _submissions(log, "ingest_ecg_shard").items() if len(ids) > 1}
    assert len(retried) == 1, retried
    ((wildcards, ids),) = retried.items()
    records = _sacct(ids)
    print("sacct (ingest_ecg_shard):", *("|".join(records[i]) for i in ids), sep="\n  ")
    assert [records[i][1] for i in ids] == ["FAILED", "COMPLETED"], records
    failed_log = list((workdir / ".snakemake/slurm_logs/rule_ingest_ecg_shard").rglob(f"{ids[0]}.log"))
    assert failed_log and "injected transient fault" in failed_log[0].read_text(), "it failed by the injected fault"

    found = dict(item.split("=", 1) for item in wildcards.split(", "))
    folder = workdir / f"results/interim/ingest/{found['cohort']}/ecgs"
    outputs = [folder / f"{found['shard']}.parquet", folder / f"{found['shard']}.excluded.parquet"]
    after_retry = [pd.read_parquet(path) for path in outputs]
    targets = [str(path.relative_to(workdir)) for path in outputs]  # as the rule names them
    local = subprocess.run(_command(workdir, *targets, "--forcerun", "ingest_ecg_shard", profile=False),
                           cwd=workdir, capture_output=True, text=True, timeout=900)
    assert local.returncode == 0, local.stderr[-5000:]
    assert "ingest_ecg_shard" in local.stderr, "the clean run ran the shard again"
    for frame, path in zip(after_retry, outputs):
        pd.testing.assert_frame_equal(frame, pd.read_parquet(path))
