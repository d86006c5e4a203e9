"""A working directory started as a copy of a finished run, for reruns that must not touch the
original: result files hard-linked, what jobs write in place copied, Snakemake's metadata copied.
Used by the seed study (benchmarks/seed_study.py) and by the code-rerun tests; no rule imports it,
so it is in no job's code lineage."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

# What a job writes in place instead of replacing (its log, its benchmark file, a provenance
# sidecar): in a linked copy of a run these are copied, or a job rerun there would write into the
# original run's files. Paths relative to the results directory.
WRITTEN_IN_PLACE_DIRS = ("logs/", "benchmarks/")
WRITTEN_IN_PLACE_SUFFIX = ".prov.json"
# Snakemake metadata a copy does not take: a run's locks and incomplete marks, its own logs and caches.
METADATA_LEFT_OUT = ("locks", "incomplete", "log", "auxiliary")


def link_finished_run(source: str | os.PathLike, target: str | os.PathLike, results: str = "results",
                      leave_out: tuple[str, ...] = ()) -> Path:
    """Start the working directory ``target`` as the finished run in ``source``: its result files
    hard-linked (a job rerun in the copy replaces them, atomically, and never writes into a shared
    inode), what jobs write in place copied, its ``.snakemake`` metadata copied, so Snakemake in
    ``target`` sees the same outputs, mtimes and records and reruns only what a change there
    invalidates. ``leave_out``: paths relative to ``results`` not copied at all (e.g.
    ``interim/pretrain``, the resume states)."""
    source, target = Path(source), Path(target)
    source_results = source / results

    def relative(path: str) -> str:
        return Path(path).relative_to(source_results).as_posix()

    def link_or_copy(path: str, copy_to: str) -> None:
        name = relative(path)
        in_place = name.startswith(WRITTEN_IN_PLACE_DIRS) or name.endswith(WRITTEN_IN_PLACE_SUFFIX)
        (shutil.copy2 if in_place else os.link)(path, copy_to)

    def left_out(directory: str, names: list[str]) -> list[str]:
        return [n for n in names if relative(os.path.join(directory, n)) in leave_out]

    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source_results, target / results, copy_function=link_or_copy, ignore=left_out)
    shutil.copytree(source / ".snakemake", target / ".snakemake", ignore=shutil.ignore_patterns(*METADATA_LEFT_OUT))
    return target
