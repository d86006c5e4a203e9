"""echo2ecg.run_copies.link_finished_run: a working directory started as a finished run, for reruns
that must not touch the original (the seed study, the code-rerun tests)."""
from __future__ import annotations

import os
from pathlib import Path

from echo2ecg.run_copies import link_finished_run

FILES = {
    "results/tables/pairs.parquet": "linked",
    "results/models/echo2ecg/seed42/best.pt": "linked",
    "results/models/echo2ecg/seed42/best.pt.prov.json": "copied",
    "results/logs/pretrain/echo2ecg/seed42.log": "copied",
    "results/benchmarks/pretrain/echo2ecg/seed42.tsv": "copied",
    "results/interim/pretrain/echo2ecg/seed42/epoch_0001.pt": "left out",
    "results/interim/echo_clips/a.npy": "linked",
    ".snakemake/metadata/abc": "copied",
    ".snakemake/locks/0.input.lock": "left out",
    ".snakemake/incomplete/xyz": "left out",
}


def finished_run(root: Path) -> Path:
    """A run directory holding FILES, each file's text its own name."""
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    return root


def test_results_are_linked_what_jobs_write_in_place_is_copied_and_left_out_paths_are_absent(tmp_path):
    run = finished_run(tmp_path / "run")
    copy = link_finished_run(run, tmp_path / "copy", leave_out=("interim/pretrain",))
    assert copy == tmp_path / "copy"
    for name, how in FILES.items():
        original, copied = run / name, copy / name
        if how == "left out":
            assert not copied.exists(), name
            continue
        assert copied.read_text() == name
        assert os.path.samefile(original, copied) == (how == "linked"), name
        assert copied.stat().st_mtime_ns == original.stat().st_mtime_ns, name  # Snakemake sees the same ages
    assert (copy / "results/interim/echo_clips").is_dir()  # only the named path is left out
    assert not (copy / "results/interim/pretrain").exists()


def test_without_leave_out_every_result_is_there(tmp_path: Path):
    copy = link_finished_run(finished_run(tmp_path / "run"), tmp_path / "copy")
    assert (copy / "results/interim/pretrain/echo2ecg/seed42/epoch_0001.pt").read_text().endswith("epoch_0001.pt")
