"""Per-view-type phenotype table of the stand-in echo encoder on the generator's cines.

Fits the stand-in (``echo2ecg.fit_echo_encoder``, the config.yaml ``echo_encoder.standin``
section at the workflow's ``echo_clips.clip_size``), then renders every view type once for each
of ``--patients`` evaluation hearts (their own seed: neither the stand-in's training nor its
held-out patients), embeds them with the frozen encoder and scores each phenotype with the
workflow's own assessment (``echo2ecg.assess_echo_embeddings.phenotypes_by_view_type``:
patient-grouped out-of-fold ridge; R-squared, AUROC for SHD) from each view type, each view group
and the study (the mean of all its views). Writes ``<out>.json`` and ``<out>.md``.

It also reports the embedding's leading principal directions (issue 15: a stand-in whose largest
directions are the heart): the share of variance of the first three principal components of the
study embeddings (the mean of a study's five views) and each one's Pearson correlation with LVEF,
LVEDV and wall thickness.

    OMP_NUM_THREADS=2 nice -n 15 .venv/bin/python benchmarks/bench_echo_standin_views.py

Over stand-in seeds (``echo_encoder.standin.seed``; one process per seed, then the summary):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_echo_standin_views.py --standin-seed 1
    .venv/bin/python benchmarks/bench_echo_standin_views.py --summarize-seeds 1234 1 2
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from echo2ecg.assess_echo_embeddings import PC_PHENOTYPES, VIEW_GROUPS, leading_directions, phenotypes_by_view_type  # noqa: E402
from echo2ecg.embed_echo_views import load_standin_checkpoint  # noqa: E402
from echo2ecg.fit_echo_encoder import embed_views, fit_config, fit_echo_encoder, render_views  # noqa: E402
from echo2ecg.prepare_echo_clips import EchoClipPreparation  # noqa: E402
from echo2ecg.synthesize_cohort.echo import VIEW_TYPES  # noqa: E402
from echo2ecg.synthesize_cohort.hearts import sample_hearts  # noqa: E402

COLUMNS = ("study", *VIEW_TYPES, *VIEW_GROUPS)
SHOWN = ("lvef", "wall_mm", "shd", "lvedv")


def evaluation_table(model, cfg: dict, n_patients: int, seed: int) -> tuple[dict, int]:
    rng = np.random.default_rng(seed)
    hearts = sample_hearts(rng, n_patients).reset_index(drop=True)
    preparation = EchoClipPreparation(clip_size=cfg["clip_size"], resize=cfg["resize"])
    rows, embeddings = [], []
    for view_type in VIEW_TYPES:
        records = hearts.to_dict("records")
        clips, n_valid = render_views(records, rng, {**cfg, "view_types": [view_type]}, preparation)
        embeddings.append(embed_views(model, clips, n_valid))
        rows += [{"view_id": f"{i}-{view_type}", "study_id": str(i), "view_type": view_type} for i in range(len(records))]
    matrix = np.concatenate(embeddings)
    pcs = leading_directions(matrix.reshape(len(VIEW_TYPES), len(hearts), -1).mean(0), hearts)
    columns = [f"e{j}" for j in range(matrix.shape[1])]
    per_view = pd.concat([pd.DataFrame(rows), pd.DataFrame(matrix, columns=columns)], axis=1)
    targets = hearts[["lvef", "lvedv", "lvesv", "wall_mm", "shd"]].astype(float)
    targets.index = targets.index.astype(str)
    patient = pd.Series(targets.index, index=targets.index)
    return phenotypes_by_view_type(per_view, columns, targets, patient, 5), int(hearts["shd"].sum()), pcs


def pc_markdown(pcs: list[dict]) -> str:
    lines = ["| PC | share of variance | " + " | ".join(f"corr. {n}" for n in PC_PHENOTYPES) + " |",
             "|---" * (2 + len(PC_PHENOTYPES)) + "|"]
    for pc in pcs:
        lines.append(f"| {pc['pc']} | {pc['variance_share']:.2f} | "
                     + " | ".join(f"{pc['corr_' + n]:+.2f}" for n in PC_PHENOTYPES) + " |")
    return "\n".join(lines) + "\n"


BARS = (("lvef", "study", "r2", 0.6), ("wall_mm", "parasternal", "r2", 0.5), ("shd", "study", "auroc", 0.8))


def bar_value(result: dict, name: str, column: str, key: str) -> float:
    entry = result[name]
    scores = entry["study"] if column == "study" else entry["by_view_group"][column]
    return float(scores[key])


def summarize_seeds(out: Path, seeds: list[int]) -> str:
    """One table over stand-in seeds: the issue's bars, the fit's own metrics and the leading PCs."""
    runs = [json.loads(out.with_name(f"{out.name}_seed{seed}.json").read_text()) for seed in seeds]
    head = ["stand-in seed", *(f"{n} {c} {k.upper() if k == 'auroc' else 'R2'} (bar {b})" for n, c, k, b in BARS),
            "fit: held-out view LVEF R2", "fit CPU s", *(f"PC{k} share (corr. LVEF / LVEDV / wall)" for k in (1, 2, 3))]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for run in runs:
        cells = [str(run["standin_seed"])]
        for name, column, key, bar in BARS:
            value = bar_value(run["phenotypes"], name, column, key)
            cells.append(f"{value:.2f} {'(met)' if value >= bar else '(NOT met)'}")
        cells += [f"{run['fit_metrics']['ef_r2_after']:.2f}", f"{run['fit_cpu_seconds']:.0f}"]
        cells += [f"{pc['variance_share']:.2f} ({pc['corr_lvef']:+.2f} / {pc['corr_lvedv']:+.2f} / {pc['corr_wall_mm']:+.2f})"
                  for pc in run["leading_directions"]]
        lines.append("| " + " | ".join(cells) + " |")
    first = runs[0]
    header = (f"Stand-in echo encoder over stand-in seeds ({first['steps']} steps, clip {first['clip_size']} px, "
              f"config.yaml otherwise): {first['patients']} evaluation hearts (seed {first['seed']}), every view type "
              "once each; study = mean of its 5 views; patient-grouped 5-fold ridge (AUROC for SHD); PCs of the "
              "study embeddings. Per-seed tables: `" + out.name + "_seed<S>.md`.\n\n"
              "`" + "` then `".join(run["command"] for run in runs) + "`")
    return header + "\n\n" + "\n".join(lines) + "\n"


def markdown(result: dict, header: str) -> str:
    lines = [header, "", "| | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name in SHOWN:
        entry = result[name]
        key = "auroc" if name == "shd" else "r2"
        cells = []
        for column in COLUMNS:
            scores = entry.get("study") if column == "study" else (
                entry["by_view_type"].get(column) or entry["by_view_group"].get(column))
            cells.append(f"{scores[key]:.2f}" if scores else "-")
        lines.append(f"| {name}{' (AUROC)' if name == 'shd' else ' (R2)'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--steps", type=int, default=None, help="override echo_encoder.standin.steps")
    parser.add_argument("--patients", type=int, default=150, help="evaluation hearts (each: every view type once)")
    parser.add_argument("--seed", type=int, default=20261201, help="the evaluation hearts' seed")
    parser.add_argument("--standin-seed", type=int, default=None,
                        help="override echo_encoder.standin.seed; writes <out>_seed<S>.{md,json}")
    parser.add_argument("--summarize-seeds", type=int, nargs="+", default=None,
                        help="write <out>_seeds.md from the per-seed results of these seeds, and stop")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "echo_standin_views"))
    args = parser.parse_args()
    if args.summarize_seeds:
        out = Path(args.out)
        text = summarize_seeds(out, args.summarize_seeds)
        print(text)
        out.with_name(f"{out.name}_seeds.md").write_text(text)
        return
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", min(2, os.cpu_count() or 1))))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = yaml.safe_load(Path(args.config).read_text())
    standin = dict(config["echo_encoder"].get("standin") or {})
    standin["clip_size"] = int(config["echo_clips"]["clip_size"])
    standin["resize"] = config["echo_clips"].get("resize", "opencv_cubic")
    if args.steps is not None:
        standin["steps"] = args.steps
    if args.standin_seed is not None:
        standin["seed"] = args.standin_seed
    cfg = fit_config(standin)
    start, cpu_start = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        fit_metrics = fit_echo_encoder(standin, Path(tmp) / "standin.pt")
        model, _ = load_standin_checkpoint(Path(tmp) / "standin.pt")
    fit_seconds, fit_cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    start = time.perf_counter()
    result, n_shd, pcs = evaluation_table(model, cfg, args.patients, args.seed)
    eval_seconds = time.perf_counter() - start
    command = " ".join([f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '2')} nice -n 15 .venv/bin/python benchmarks/bench_echo_standin_views.py", *sys.argv[1:]])
    threads = torch.get_num_threads()
    header = (f"Stand-in echo encoder (stand-in seed {cfg['seed']}, {cfg['steps']} steps, clip {cfg['clip_size']} px), held-out per view type: "
              f"{args.patients} evaluation hearts (seed {args.seed}, {n_shd} with SHD), every view type once each; "
              f"study = mean of its 5 views; patient-grouped 5-fold ridge. Fit {fit_seconds:.0f} s, evaluation "
              f"{eval_seconds:.0f} s ({threads} thread(s), fit {fit_cpu_seconds:.0f} CPU s, shared machine).\n\n`{command}`")
    text = markdown(result, header) + "\nLeading principal directions of the study embeddings:\n\n" + pc_markdown(pcs)
    print(text)
    out = Path(args.out)
    if args.standin_seed is not None:
        out = out.with_name(f"{out.name}_seed{args.standin_seed}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps({
        "command": command, "steps": cfg["steps"], "clip_size": cfg["clip_size"], "patients": args.patients,
        "seed": args.seed, "standin_seed": cfg["seed"], "n_shd": n_shd, "fit_seconds": fit_seconds,
        "fit_cpu_seconds": fit_cpu_seconds, "eval_seconds": eval_seconds, "leading_directions": pcs,
        "fit_metrics": fit_metrics, "phenotypes": result}, indent=1))


if __name__ == "__main__":
    main()
