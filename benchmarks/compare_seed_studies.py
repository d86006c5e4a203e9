"""Two seed studies side by side (issue 16 part 3 against issue 15): did a change of the demo's training
budget keep its conclusions?

Reads the JSON that ``benchmarks/seed_study.py`` writes beside its table (``--study LABEL=JSON``, two or
more) and, optionally, the run directories behind each study (``--runs LABEL=DIR [DIR ...]``) for the
pre-training jobs' own seconds (Snakemake's benchmark files). Writes one markdown table: per study, how
many of its stand-in seed x replicate cells show each claim (paired CI above 0), and the mean (SD,
min-max) of each variant's internal LVEF kNN AUROC, of ``echo2ecg``'s best validation loss over log(batch)
and of its LVEF P@1.

    python benchmarks/compare_seed_studies.py --study "16 epochs=old.json" "10 epochs=new.json" \\
        --runs "16 epochs=/runs16/a /runs16/b" "10 epochs=/runs10/a /runs10/b" --out comparison.md
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

CLAIMS = {
    "echo2ecg - random_init, CI above 0": lambda row: row["echo2ecg-random_init"][1] > 0,
    "echo2ecg - otis_init, CI above 0": lambda row: row["echo2ecg-otis_init"][1] > 0,
    "otis_init - random_init, CI above 0": lambda row: row["otis_init-random_init"][1] > 0,
    "echo2ecg LVEF P@1 above random (CI)": lambda row: row["lvef_p_at_1"]["echo2ecg"][2] > 0,
    "paper's ablation order": lambda row: row["ablation_order"] == ["echo2ecg", "meanpool", "clspool", "singleview"],
    "echo2ecg first in the ablation": lambda row: row["ablation_order"][0] == "echo2ecg",
}


def spread(values) -> str:
    values = np.asarray(list(values), dtype=float)
    return f"{values.mean():.3f} ({values.std(ddof=1):.3f}), {values.min():.3f}-{values.max():.3f}"


def pretrain_seconds(run_dirs: list[Path]) -> pd.DataFrame:
    """Each trained pre-training job's own seconds (``results/benchmarks/pretrain/{variant}/{replicate}.tsv``)."""
    rows = []
    for run in run_dirs:
        for tsv in sorted((run / "results/benchmarks/pretrain").glob("*/*.tsv")):
            seconds = float(pd.read_csv(tsv, sep="\t")["s"].iloc[-1])
            rows.append({"run": run.name, "variant": tsv.parent.name, "replicate": tsv.stem, "s": seconds})
    return pd.DataFrame(rows, columns=["run", "variant", "replicate", "s"])


def comparison(studies: dict[str, dict], runs: dict[str, list[Path]]) -> str:
    labels = list(studies)
    lines = ["| | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    rows = {label: study["rows"] for label, study in studies.items()}
    lines.append("| stand-in seed x replicate cells | " + " | ".join(str(len(rows[k])) for k in labels) + " |")
    for claim, holds in CLAIMS.items():
        lines.append(f"| {claim} | " + " | ".join(f"{sum(map(holds, rows[k]))} of {len(rows[k])}" for k in labels) + " |")
    variants = sorted({v for k in labels for row in rows[k] for v in row["lvef_auroc"]})
    for variant in variants:
        lines.append(f"| internal LVEF AUROC, {variant}: mean (SD), min-max | "
                     + " | ".join(spread(row["lvef_auroc"][variant] for row in rows[k]) for k in labels) + " |")
    for name, pick in (("echo2ecg - random_init (point)", lambda row: row["echo2ecg-random_init"][0]),
                       ("echo2ecg - otis_init (point)", lambda row: row["echo2ecg-otis_init"][0]),
                       ("echo2ecg best val loss / log(batch)", lambda row: row["best_val_loss_over_chance"]["echo2ecg"]),
                       ("echo2ecg LVEF P@1", lambda row: row["lvef_p_at_1"]["echo2ecg"][0])):
        lines.append(f"| {name}: mean (SD), min-max | " + " | ".join(spread(map(pick, rows[k])) for k in labels) + " |")
    if runs:
        seconds = {label: pretrain_seconds(dirs) for label, dirs in runs.items()}
        trained = {label: frame[~frame["variant"].isin(["random_init", "otis_init"])] for label, frame in seconds.items()}
        lines.append("| trained pre-training job, s: median (min-max) | " + " | ".join(
            f"{trained[k]['s'].median():.0f} ({trained[k]['s'].min():.0f}-{trained[k]['s'].max():.0f}), "
            f"{len(trained[k])} jobs" if k in trained and len(trained[k]) else "-" for k in labels) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", nargs="+", required=True, metavar="LABEL=JSON")
    parser.add_argument("--runs", nargs="*", default=[], metavar="LABEL=DIR [DIR ...]",
                        help="a study's run directories, separated by spaces inside one argument")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    studies = {label: json.loads(Path(path).read_text())
               for label, _, path in (item.partition("=") for item in args.study)}
    runs = {label: [Path(p) for p in dirs.split()] for label, _, dirs in (item.partition("=") for item in args.runs)}
    text = comparison(studies, runs)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
