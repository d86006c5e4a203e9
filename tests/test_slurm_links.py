"""tests/slurm/clear_stale_links.sh: what start_slurm.sh removes from /etc/slurm before it starts.

A CI run killed before stop_slurm.sh leaves /etc/slurm/slurm.conf and gres.conf linked to its dead
cluster; the next start must remove exactly those links, and never a file or link it did not make
or one of a cluster that still runs. Run against a temporary directory in place of /etc/slurm.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tests/slurm/clear_stale_links.sh"
NAMES = ("slurm.conf", "gres.conf")


def cluster_state(root: Path, name: str, daemons: list[tuple[str, int]] | None) -> Path:
    """A test cluster's state directory as start_slurm.sh leaves it (marker, etc/, pids)."""
    state = root / name
    (state / "etc").mkdir(parents=True)
    (state / ".echo2ecg-slurm").touch()
    for conf in NAMES:
        (state / "etc" / conf).write_text("# test\n")
    if daemons is not None:
        (state / "pids").write_text("".join(f"{daemon} {pid}\n" for daemon, pid in daemons))
    return state


def link_to(etc: Path, state: Path) -> None:
    for conf in NAMES:
        (etc / conf).symlink_to(state / "etc" / conf)


def clear(etc: Path, state: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(etc), str(state)], capture_output=True, text=True, timeout=60)


@pytest.fixture
def etc(tmp_path) -> Path:
    (tmp_path / "etc_slurm").mkdir()
    return tmp_path / "etc_slurm"


@pytest.fixture
def dead_pid() -> int:
    """A pid that ran and has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_links_to_a_stopped_cluster_are_removed(tmp_path, etc, dead_pid):
    old = cluster_state(tmp_path, "echo2ecg-slurm.old", [("munged", dead_pid), ("slurmctld", dead_pid)])
    link_to(etc, old)
    result = clear(etc, tmp_path / "echo2ecg-slurm.new")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in etc.iterdir()) == []
    for conf in NAMES:  # each removal is named
        assert f"removing {etc / conf}, a stale link to the stopped test cluster {old}" in result.stderr
    assert (old / "etc" / "slurm.conf").exists()  # the old state is not touched


def test_dangling_links_to_a_removed_cluster_directory_are_removed(tmp_path, etc, dead_pid):
    old = cluster_state(tmp_path, "echo2ecg-slurm.gone", [("munged", dead_pid)])
    link_to(etc, old)
    subprocess.run(["rm", "-rf", str(old)], check=True)
    result = clear(etc, tmp_path / "echo2ecg-slurm.new")
    assert result.returncode == 0, result.stderr
    assert list(etc.iterdir()) == []


def test_links_to_a_running_cluster_are_kept(tmp_path, etc, dead_pid):
    daemon = subprocess.Popen(["sleep", "60"])
    try:
        old = cluster_state(tmp_path, "echo2ecg-slurm.live", [("munged", dead_pid), ("sleep", daemon.pid)])
        link_to(etc, old)
        result = clear(etc, tmp_path / "echo2ecg-slurm.new")
    finally:
        daemon.kill()
        daemon.wait()
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in etc.iterdir()) == sorted(NAMES)
    assert all((etc / conf).is_symlink() for conf in NAMES)


def test_files_and_foreign_links_are_kept(tmp_path, etc, dead_pid):
    (etc / "slurm.conf").write_text("ClusterName=site\n")  # the machine's own configuration
    foreign = tmp_path / "site-slurm" / "etc"  # a link into a directory that is not a test cluster's
    foreign.mkdir(parents=True)
    (foreign / "gres.conf").write_text("# site\n")
    (etc / "gres.conf").symlink_to(foreign / "gres.conf")
    result = clear(etc, tmp_path / "echo2ecg-slurm.new")
    assert result.returncode == 0, result.stderr
    assert (etc / "slurm.conf").read_text() == "ClusterName=site\n"
    assert (etc / "gres.conf").resolve() == (foreign / "gres.conf").resolve()
    assert result.stderr == ""


def test_links_to_this_cluster_are_kept(tmp_path, etc):
    state = cluster_state(tmp_path, "echo2ecg-slurm.this", None)
    link_to(etc, state)
    result = clear(etc, state)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in etc.iterdir()) == sorted(NAMES)
