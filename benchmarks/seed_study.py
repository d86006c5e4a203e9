"""Seed study (issue 15, part 3): does the demo's conclusion hold for every seed?

Runs the workflow's default target once per stand-in seed (the echo stand-in's
``echo_encoder.standin.seed`` and the OTiS stand-in's ``ecg_encoder.standin.seed``), each with
several pre-training replicates (``pretrain.replicates``), and writes per stand-in seed and
replicate, from the workflow's own result files:

- ``echo2ecg`` minus ``random_init`` and minus ``otis_init`` on the internal LVEF kNN (paired
  bootstrap CI; ``results/eval/knn_paired.parquet``), and ``otis_init`` minus ``random_init``;
- ``echo2ecg``'s LVEF retrieval P@1 against random retrieval (CI of the difference;
  ``results/eval/retrieval.parquet``);
- the ablation order on the internal LVEF kNN (attention = echo2ecg, meanpool, clspool,
  singleview; the paper's order is attention > mean > CLS > single);
- each trained variant's best validation CLIP loss as a share of log(batch size) (chance), and the
  share of variance of the first principal component of each variant's internal test features;
- the stand-ins' own held-out figures.

The data half is shared: the first stand-in seed's run is built from scratch; every later seed
starts from a hard-linked copy of its results (echo2ecg.run_copies.link_finished_run), so Snakemake
reruns exactly what a stand-in seed invalidates (the echo stand-in, the view embeddings, the ECG
stand-in and everything after), never the synthesis, ingest or preprocessing. Run by hand, not in CI:

    nice .venv/bin/python benchmarks/seed_study.py                        # 3 stand-in seeds x 3 replicates
    .venv/bin/python benchmarks/seed_study.py --preset resources/presets/small.yaml \\
        --standin-seeds 1234:7321 1:1 --replicates 42 43 --workdir /tmp/seed_study_small   # a quick check

A finished run at some stand-in seeds (same config and replicates) can be read instead of run again:
``--reuse 1234:7321=/path/to/run`` takes its rows as they are and the later seeds start from a linked
copy of it; its wall time is not counted (the table says "reused").

Writes ``--out`` (markdown) and the same numbers as ``<out>.json``.

Its jobs run the scripts and the ``echo2ecg`` package of the checkout this file is in, at the moment each
job starts: editing that checkout during a study (an hour or more) mixes code into it. Run a study from a
checkout nobody edits, e.g. ``git worktree add --detach ../study HEAD`` and that worktree's copy of this file.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
ABLATION = ("echo2ecg", "meanpool", "clspool", "singleview")  # attention, mean, CLS, single view
MULTI_VIEW, SINGLE_VIEW = ("echo2ecg", "meanpool"), ("singleview",)


def standin_seed(text: str) -> tuple[int, int]:
    echo, _, ecg = text.partition(":")
    return int(echo), int(ecg or echo)


def run_workflow(workdir: Path, configfiles: list[Path], cores: int, log_path: Path) -> float:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
               *map(str, configfiles), "--cores", str(cores), "--rerun-incomplete"]  # a stopped study resumes
    started = time.perf_counter()
    with open(log_path, "w") as log:
        result = subprocess.run(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise SystemExit(f"the workflow failed in {workdir}: see {log_path}")
    return time.perf_counter() - started


def internal_cohort(config: dict) -> str:
    return next(name for name, spec in config["cohorts"].items() if spec["role"] == "pretrain")


def study_rows(workdir: Path, config: dict, seeds: tuple[int, int]) -> list[dict]:
    """One row per replicate: the figures of the module docstring, from the run's result files."""
    results = workdir / "results"
    cohort = internal_cohort(config)
    knn = pd.read_parquet(results / "eval/knn.parquet")
    paired = pd.read_parquet(results / "eval/knn_paired.parquet")
    retrieval = pd.read_parquet(results / "eval/retrieval.parquet")
    lvef_knn = knn[(knn["task"] == "lvef") & (knn["cohort"] == cohort)]
    lvef_paired = paired[(paired["task"] == "lvef") & (paired["cohort"] == cohort)]
    lvef_retrieval = retrieval[(retrieval["phenotype"] == "lvef") & (retrieval["cohort"] == cohort)
                               & (retrieval["split"] == "test")]
    batch = int(config["pretrain"]["batch_size"])
    rows = []
    for seed in config["pretrain"]["replicates"]:
        replicate = int(seed)  # the evaluation tables' replicate column holds the seed; paths say seed<seed>
        row: dict = {"echo_standin_seed": seeds[0], "ecg_standin_seed": seeds[1], "replicate": replicate}
        for variant, reference in (("echo2ecg", "random_init"), ("echo2ecg", "otis_init"), ("otis_init", "random_init")):
            hit = lvef_paired[(lvef_paired["replicate"] == replicate) & (lvef_paired["variant"] == variant)
                              & (lvef_paired["reference"] == reference)]
            if len(hit):
                first = hit.iloc[0]
                row[f"{variant}-{reference}"] = [float(first["auroc_difference"]), float(first["ci_low"]),
                                                 float(first["ci_high"])]
        auroc = {v: float(part["auroc"].iloc[0]) for v, part in lvef_knn[lvef_knn["replicate"] == replicate].groupby("variant")}
        row["lvef_auroc"] = auroc
        row["ablation_order"] = sorted((v for v in ABLATION if v in auroc), key=lambda v: -auroc[v])
        p_at_1 = {}
        for variant, part in lvef_retrieval[lvef_retrieval["replicate"] == replicate].groupby("variant"):
            first = part.iloc[0]
            p_at_1[variant] = [float(first["precision_at_1"]), float(first["random_precision_at_1"]),
                               float(first["precision_at_1_minus_random_ci_low"]),
                               float(first["precision_at_1_minus_random_ci_high"])]
        row["lvef_p_at_1"] = p_at_1
        row["best_val_loss_over_chance"], row["pc1_share"] = {}, {}
        for variant in sorted(auroc):
            curve = results / "models" / variant / f"seed{replicate}" / "curve.parquet"
            if config["pretrain"]["variants"].get(variant, {}).get("align", True) and curve.exists():  # trained ones
                row["best_val_loss_over_chance"][variant] = float(pd.read_parquet(curve)["val_loss"].min()) / math.log(batch)
            features = pd.read_parquet(results / "features" / variant / f"seed{replicate}" / f"{cohort}.parquet")
            x = features.loc[features["split"] == "test", [c for c in features.columns if c.startswith("f")
                                                           and c[1:].isdigit()]].to_numpy(float)
            singular = np.linalg.svd(x - x.mean(0), compute_uv=False)
            row["pc1_share"][variant] = float(singular[0] ** 2 / (singular ** 2).sum())
        rows.append(row)
    return rows


def standin_figures(workdir: Path) -> dict:
    """The stand-ins' own held-out figures, and the workflow's assessment of the echo stand-in's study embeddings
    on the pre-training cohort (rule assess_echo_embeddings: patient-grouped out-of-fold ridge; SHD by AUROC)."""
    models = workdir / "results/models"
    echo = json.loads((models / "echo_encoder_standin.metrics.json").read_text())
    ecg = json.loads((models / "ecg_encoder_standin.metrics.json").read_text())
    assessed = json.loads((workdir / "results/echo/echo_embedding_phenotype.json").read_text())
    from bench_echo_standin_views import BARS, bar_value  # issue 15's bars for the echo stand-in, as that bench reads them

    bars = {f"{name}_{pool}": [bar_value(assessed["phenotypes"], name, pool, key), bar] for name, pool, key, bar in BARS}
    return {"echo_ef_r2_after": echo.get("ef_r2_after"), "echo_wall_mm_r2_after": echo.get("wall_mm_r2_after"),
            "echo_assessed": bars, "echo_pixel_lvef_r2": float(assessed["pixel_statistics"]["r2"]),
            "echo_leading_directions": assessed.get("leading_directions"),
            "ecg_objective": ecg["held_out_objective"], "ecg_lvef_ridge_r2": ecg["held_out_lvef_ridge_r2"]}


def _diff(cell) -> str:
    if not cell:
        return "-"
    value, low, high = cell
    mark = " (+)" if low > 0 else " (-)" if high < 0 else ""
    return f"{value:+.3f} [{low:+.3f}, {high:+.3f}]{mark}"


def markdown(rows: list[dict], standins: dict, walls: dict, header: str) -> str:
    from bench_echo_standin_views import BARS

    lines = [header, "", "| stand-in seeds (echo:ECG) | replicate | echo2ecg - random_init | echo2ecg - otis_init | "
             "otis_init - random_init | echo2ecg LVEF P@1 vs random [CI of difference] | ablation order (internal LVEF) | "
             "best val loss / log(batch) | PC1 share of features |", "|---" * 9 + "|"]
    for row in rows:
        p = row["lvef_p_at_1"].get("echo2ecg")
        p_text = (f"{p[0]:.3f} vs {p[1]:.3f} [{p[2]:+.3f}, {p[3]:+.3f}]{' (+)' if p[2] > 0 else ''}" if p else "-")
        order = " > ".join(f"{v} {row['lvef_auroc'][v]:.3f}" for v in row["ablation_order"])
        losses = ", ".join(f"{v} {x:.2f}" for v, x in row["best_val_loss_over_chance"].items())
        pcs = ", ".join(f"{v} {x:.2f}" for v, x in row["pc1_share"].items())
        lines.append(f"| {row['echo_standin_seed']}:{row['ecg_standin_seed']} | seed {row['replicate']} | "
                     f"{_diff(row.get('echo2ecg-random_init'))} | {_diff(row.get('echo2ecg-otis_init'))} | "
                     f"{_diff(row.get('otis_init-random_init'))} | {p_text} | {order} | {losses} | {pcs} |")
    lines += ["", "Verdicts over every stand-in seed and replicate (a claim holds where its paired CI excludes 0):", ""]
    for key in ("echo2ecg-random_init", "echo2ecg-otis_init", "otis_init-random_init"):
        above = sum(1 for r in rows if r.get(key) and r[key][1] > 0)
        lines.append(f"- {key.replace('-', ' minus ')} on internal LVEF: CI above 0 in {above} of {len(rows)}")
    beats = sum(1 for r in rows if r["lvef_p_at_1"].get("echo2ecg") and r["lvef_p_at_1"]["echo2ecg"][2] > 0)
    lines.append(f"- echo2ecg LVEF P@1 above random retrieval (CI of the difference above 0): {beats} of {len(rows)}")
    paper = list(ABLATION)
    lines.append(f"- the paper's ablation order ({' > '.join(paper)}) on internal LVEF: "
                 f"{sum(r['ablation_order'] == paper for r in rows)} of {len(rows)}")
    multi = [np.mean([r["lvef_p_at_1"][v][0] for v in MULTI_VIEW if v in r["lvef_p_at_1"]]) for r in rows]
    single = [np.mean([r["lvef_p_at_1"][v][0] for v in SINGLE_VIEW if v in r["lvef_p_at_1"]]) for r in rows]
    lines.append(f"- LVEF retrieval P@1, multi-view alignment ({', '.join(MULTI_VIEW)}) vs single view, mean over all: "
                 f"{np.nanmean(multi):.3f} vs {np.nanmean(single):.3f}")
    lines += ["", "| stand-in seeds | echo stand-in held-out view LVEF R2 | wall R2 | ECG stand-in objective (initial -> fitted) "
              "| ECG stand-in LVEF ridge R2 (initial -> fitted) | wall time of this seed's run |", "|---" * 6 + "|"]
    for name, figures in standins.items():
        objective = figures["ecg_objective"]
        r2 = figures["ecg_lvef_ridge_r2"]
        lines.append(f"| {name} | {figures['echo_ef_r2_after']:.3f} | {figures['echo_wall_mm_r2_after']:.3f} | "
                     f"{objective['objective']} {objective['initial']:.3f} -> {objective['fitted']:.3f} | "
                     f"{r2['initial']:.3f} -> {r2['fitted']:.3f} | "
                     f"{'reused (not run here)' if walls[name] is None else f'{walls[name] / 60:.1f} min'} |")
    lines += ["", "The echo stand-in's study embeddings on the pre-training cohort (rule assess_echo_embeddings: held-out "
              "ridge R2, patient-grouped folds; SHD by AUROC; issue 15's bars in brackets), and their first three principal "
              "components (share of variance; correlation with LVEF / LVEDV / wall thickness, sign fixed by the largest "
              "loading):", "",
              "| stand-in seeds | " + " | ".join(f"{name} {pool} {key.upper() if key == 'auroc' else 'R2'} [{bar}]"
                                                  for name, pool, key, bar in BARS)
              + " | LVEF R2 from pixel statistics | PC1 | PC2 | PC3 |", "|---" * 8 + "|"]
    for name, figures in standins.items():
        cells = [f"{value:.3f} ({'met' if value >= bar else 'not met'})" for value, bar in figures["echo_assessed"].values()]
        pcs = figures.get("echo_leading_directions") or []
        pc_cells = [f"{pc['variance_share']:.2f} ({pc['corr_lvef']:+.2f} / {pc['corr_lvedv']:+.2f} / {pc['corr_wall_mm']:+.2f})"
                    for pc in pcs] + ["-"] * (3 - len(pcs))
        lines.append(f"| {name} | {' | '.join(cells)} | {figures['echo_pixel_lvef_r2']:.3f} | {' | '.join(pc_cells)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--standin-seeds", nargs="+", default=["1234:7321", "1:1", "2:2"],
                        help="ECHO[:ECG] stand-in seeds per run (the first pair is config.yaml's)")
    parser.add_argument("--replicates", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--preset", type=Path, default=None, help="a preset over config.yaml (e.g. the small one)")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks/seed_study_runs")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/seed_study.md")
    parser.add_argument("--reuse", nargs="*", default=[], metavar="ECHO:ECG=DIR",
                        help="a finished run at these stand-in seeds: read its results instead of running it")
    args = parser.parse_args()
    reuse = {}
    for item in args.reuse:
        text, _, directory = item.partition("=")
        seeds = standin_seed(text)
        reuse[f"{seeds[0]}:{seeds[1]}"] = Path(directory).resolve()
    configfiles = [REPO / "config.yaml", *([args.preset.resolve()] if args.preset else [])]
    from snakemake.utils import update_config

    from echo2ecg.config import resolve_config
    from echo2ecg.run_copies import link_finished_run

    rows, standins, walls, first_dir = [], {}, {}, None
    started = time.perf_counter()
    for text in args.standin_seeds:
        seeds = standin_seed(text)
        name = f"{seeds[0]}:{seeds[1]}"
        workdir = reuse.get(name, args.workdir / f"echo{seeds[0]}_ecg{seeds[1]}")
        if first_dir is not None and not (workdir / "results").exists():
            # resume states of other initial weights are never resumed: left out
            link_finished_run(first_dir, workdir, leave_out=("interim/pretrain",))
        workdir.mkdir(parents=True, exist_ok=True)
        override = args.workdir / f"seed_study_{seeds[0]}_{seeds[1]}.yaml" if name in reuse else workdir / "seed_study.yaml"
        override.parent.mkdir(parents=True, exist_ok=True)
        override.write_text(yaml.safe_dump({"echo_encoder": {"standin": {"seed": seeds[0]}},
                                            "ecg_encoder": {"standin": {"seed": seeds[1]}},
                                            "pretrain": {"replicates": args.replicates}}))
        if name in reuse:
            print(f"stand-in seeds {name}: reading the finished run in {workdir}", flush=True)
            walls[name] = None
        else:
            print(f"stand-in seeds {name}: running the workflow in {workdir}", flush=True)
            walls[name] = run_workflow(workdir, [*configfiles, override], args.cores, workdir / "seed_study.log")
        config = yaml.safe_load((REPO / "config.yaml").read_text())
        for extra in configfiles[1:] + [override]:
            update_config(config, yaml.safe_load(Path(extra).read_text()))
        config = resolve_config(config)
        rows += study_rows(workdir, config, seeds)
        standins[name] = standin_figures(workdir)
        first_dir = first_dir or workdir
        if walls[name] is not None:
            print(f"stand-in seeds {name}: {walls[name] / 60:.1f} min", flush=True)
    total = time.perf_counter() - started
    command = " ".join(["python benchmarks/seed_study.py", *sys.argv[1:]])
    timed = (f"{total / 60:.0f} min wall for the {len(args.standin_seeds) - len(reuse)} seed run(s) made here"
             + (f"; {len(reuse)} finished run(s) read, not run or timed here" if reuse else ""))
    header = (f"# Seed study: {len(args.standin_seeds)} stand-in seeds x {len(args.replicates)} pre-training replicates\n\n"
              f"`{command}` ({args.cores} cores; {timed}; the first seed's run builds the data "
              "half, later seeds reuse it). Internal = the pre-training cohort's test patients; differences are "
              "paired bootstrap AUROC differences [95 % CI]; (+) CI above 0, (-) below.")
    text = markdown(rows, standins, walls, header)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps({"command": command, "wall_s": total, "walls_s": walls,
                                                         "rows": rows, "standins": standins}, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
