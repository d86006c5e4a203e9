"""A job killed while writing leaves no output that a later run takes for complete: the package's
writers go through echo2ecg.outputs.atomic_path (a temporary name, then os.replace), and
Snakemake marks the outputs of a job that did not finish as incomplete and plans it again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from echo2ecg.outputs import atomic_path, partial_name
from snakemake_runs import CONFIG, TINY_PRESET, run_snakemake, snakemake_command

REPO = Path(__file__).resolve().parents[1]
SLOW_WRITER = """
import sys, time
sys.path.insert(0, {repo!r})
from echo2ecg.outputs import atomic_path
with atomic_path({path!r}) as tmp:
    with open(tmp, "wb") as handle:
        for _ in range(1000):
            handle.write(b"x" * 1024)
            handle.flush()
            time.sleep(0.01)
"""


def test_a_writer_killed_mid_write_leaves_no_file_under_the_final_name(tmp_path):
    final = tmp_path / "table.parquet"
    process = subprocess.Popen([sys.executable, "-c", SLOW_WRITER.format(repo=str(REPO), path=str(final))])
    deadline = time.time() + 120
    while not (partial_name(final).exists() and partial_name(final).stat().st_size > 0) and not final.exists():
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not final.exists(), "a partly written file has the final name"
    assert partial_name(final).exists() and partial_name(final).name.startswith(".")


def test_a_failed_writer_leaves_neither_file_and_a_finished_one_the_final_file(tmp_path):
    final = tmp_path / "curve.parquet"
    with pytest.raises(ZeroDivisionError):
        with atomic_path(final) as tmp:
            tmp.write_bytes(b"half")
            1 / 0
    assert not final.exists() and not partial_name(final).exists()
    with atomic_path(final) as tmp:
        pd.DataFrame({"a": [1]}).to_parquet(tmp)
    assert pd.read_parquet(final)["a"].tolist() == [1] and not partial_name(final).exists()


def _snakemake(workdir: Path, *args: str, command_only: bool = False):
    configfiles = (CONFIG, TINY_PRESET, workdir / "slow.yaml")
    if command_only:
        return snakemake_command(*args, configfiles=configfiles)
    return run_snakemake(workdir, *args, configfiles=configfiles)


@pytest.mark.workflow
def test_a_pretrain_job_killed_while_writing_its_outputs_is_planned_again(tmp_path):
    """Kill Snakemake and its job (SIGKILL to the process group) once the pretrain job has written
    the first of its four outputs (last.pt): the final-named files that exist are complete, a dry
    run refuses the incomplete outputs and plans the job again with --rerun-incomplete, and the
    rerun finishes (resuming from the epoch state) with every output."""
    (tmp_path / "slow.yaml").write_text("pretrain:\n  epochs: 30\n")
    models = tmp_path / "results/models/echo2ecg/seed42"
    target = "results/models/echo2ecg/seed42/curve.png"
    with open(tmp_path / "run.stderr", "w") as stderr:
        process = subprocess.Popen(_snakemake(tmp_path, target, command_only=True), cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    deadline = time.time() + 1500
    try:
        while not (models / "last.pt").exists():
            assert process.poll() is None, (tmp_path / "run.stderr").read_text()[-5000:]
            assert time.time() < deadline
            time.sleep(0.002)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    written = sorted(p.name for p in models.iterdir() if not p.name.startswith("."))
    assert "curve.png" not in written, f"the job had finished writing when it was killed: {written}"
    for name in written:  # whatever carries a final name is complete
        if name.endswith(".pt"):
            torch.load(models / name, map_location="cpu", weights_only=True)
        elif name.endswith(".parquet"):
            pd.read_parquet(models / name)

    refused = _snakemake(tmp_path, target, "--dry-run")
    assert refused.returncode != 0 and "incomplete" in (refused.stdout + refused.stderr).lower()
    assert "last.pt" in refused.stdout + refused.stderr
    planned = _snakemake(tmp_path, target, "--dry-run", "--rerun-incomplete")
    assert planned.returncode == 0 and "rule pretrain:" in planned.stdout, planned.stdout[-3000:]
    assert _snakemake(tmp_path, "--unlock").returncode == 0  # the killed run's lock, as a user lifts it
    rerun = _snakemake(tmp_path, target, "--rerun-incomplete")
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    assert {"best.pt", "last.pt", "curve.parquet", "curve.png"} <= {p.name for p in models.iterdir()}
    assert "resuming echo2ecg from its epoch 30 checkpoint" in (tmp_path / "results/logs/pretrain/echo2ecg/seed42.log").read_text()
