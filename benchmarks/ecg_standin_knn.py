"""The OTiS stand-in judged as the workflow judges it: otis_init minus random_init on the demo's kNN tasks.

In a directory where the demo has run (results/ complete), for each stand-in setting of
benchmarks/ecg_standin_objectives.py and each stand-in seed: refits the stand-in through the
workflow (a config file layered on config.yaml), rebuilds only `otis_init`'s model, features and
kNN results (random_init does not depend on the stand-in), and computes the paired bootstrap
AUROC difference otis_init - random_init on every kNN task with the workflow's own code
(echo2ecg.evaluate.knn.summarise_knn, the demo's bootstrap settings). Appends one JSON row per
(setting, seed, task, cohort, fraction) to --out.

    .venv/bin/python benchmarks/ecg_standin_knn.py --run /path/to/demo --settings mae contrast_b32 \\
        --seeds 7321 1 2 --out benchmarks/results/ecg_standin_knn.jsonl

The run directory's otis_init outputs are left as the last setting made them (rerun the demo's
`snakemake --cores 2` there to restore them). Figures only; never asserted in tests.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from ecg_standin_objectives import SETTINGS  # noqa: E402

from echo2ecg.evaluate.knn import summarise_knn  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a directory where the demo ran (its Snakefile, results/)")
    parser.add_argument("--settings", nargs="+", default=["mae", "contrast_b32"], choices=list(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[7321])
    parser.add_argument("--replicate", default="seed42")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/ecg_standin_knn.jsonl")
    args = parser.parse_args()
    run = args.run.resolve()
    config = yaml.safe_load((run / "config.yaml").read_text())
    evaluation = config["evaluation"]
    knn_dir = run / "results/eval/knn"
    tasks = sorted(p.name.removesuffix(".scores.parquet")
                   for p in (knn_dir / "random_init" / args.replicate).glob("*.scores.parquet"))
    for seed in args.seeds:
        for name in args.settings:
            standin = dict(config["ecg_encoder"]["standin"], **SETTINGS[name], seed=seed)
            override = run / f"standin_{name}_{seed}.yaml"
            override.write_text(yaml.safe_dump({"ecg_encoder": {"standin": standin}}))
            targets = [f"results/eval/knn/otis_init/{args.replicate}/{t}{ext}" for t in tasks
                       for ext in (".parquet", ".scores.parquet")]
            command = [sys.executable, "-m", "snakemake", *targets, "--cores", "2", "--configfile", "config.yaml",
                       str(override)]  # targets first: --configfile takes every path after it
            done = subprocess.run(command, cwd=run, capture_output=True, text=True,
                                  env=dict(os.environ, PYTHONPATH=str(run)))
            if done.returncode:
                raise SystemExit(done.stderr[-4000:])
            metrics = json.loads((run / "results/models/ecg_encoder_standin.metrics.json").read_text())
            results, scores = [], []
            for variant in ("random_init", "otis_init"):
                for task in tasks:
                    results.append(pd.read_parquet(knn_dir / variant / args.replicate / f"{task}.parquet"))
                    scores.append(pd.read_parquet(knn_dir / variant / args.replicate / f"{task}.scores.parquet"))
            knn, paired = summarise_knn(results, scores, references=["random_init"], seed=evaluation["seed"],
                                        bootstrap=evaluation["bootstrap"])
            for row in paired.itertuples(index=False):
                record = {"setting": name, "seed": seed, "task": row.task, "cohort": row.cohort,
                          "train_fraction": row.train_fraction, "otis_init": row.auroc,
                          "random_init": row.reference_auroc, "difference": row.auroc_difference,
                          "ci_low": row.ci_low, "ci_high": row.ci_high,
                          "standin_lvef_ridge_r2": metrics["held_out_lvef_ridge_r2"],
                          "standin_objective": metrics.get("held_out_objective")}
                print(json.dumps(record), flush=True)
                with args.out.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
