"""How the tests run the workflow: one Snakemake command line, whatever the presets.

``run_snakemake(workdir, *args, configfiles=...)`` runs the repository's Snakefile in ``workdir``
with config.yaml and the given presets layered in that order (targets and options go in ``args``,
after ``--cores``, so that ``--configfile`` never takes a target for a config file);
``tiny_snakemake`` is the tiny preset's run (tests/small_dag.py has the small preset's)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config.yaml"
TINY_PRESET = REPO / "resources/presets/tiny.yaml"


def snakemake_command(*args: str, configfiles: tuple[Path | str, ...] = (CONFIG,), cores: int = 2) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
            *map(str, configfiles), "--cores", str(cores), *args]


def run_snakemake(workdir: Path, *args: str, configfiles: tuple[Path | str, ...] = (CONFIG,), cores: int = 2,
                  timeout: int = 1800, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_command(*args, configfiles=configfiles, cores=cores), cwd=workdir,
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def tiny_snakemake(workdir: Path, *args: str, extra_config: tuple[Path | str, ...] = (),
                   timeout: int = 1800) -> subprocess.CompletedProcess:
    """Snakemake on the tiny preset (evaluation off: the DAG stops at the feature files), in workdir."""
    return run_snakemake(workdir, *args, configfiles=(CONFIG, TINY_PRESET, *extra_config), timeout=timeout)
