"""Which self-supervised objective makes the OTiS stand-in learn cardiac structure within a CPU budget.

Fits the stand-in (echo2ecg.fit_ecg_encoder, the demo's encoder from config.yaml) under each
named setting and stand-in seed and records the held-out metrics the fit itself writes (its
objective before / after, the cross-validated ridge R-squared of LVEF from the representation of
held-out corpus patients, the encoder as initialised against the fitted one) and the fit's CPU
seconds (process time, one thread). The settings:

    mae            OTiS's masked reconstruction, the demo's objective until now (config.yaml values)
    mae_long       the same, 3x the steps
    mae_mask50     the same at mask ratio 0.5
    contrast_b32   patient-contrastive, two ECGs per patient, 32 patients a step, 300 steps
    contrast_b64   the same, 64 patients a step
    measure_b32    ECG machine measurements regressed from the representation, 32 ECGs a step, 300 steps
    measure_b64    the same, 64 ECGs a step

    .venv/bin/python benchmarks/ecg_standin_objectives.py --settings mae contrast_b32 --seeds 7321 1 2 \\
        --out benchmarks/results/ecg_standin_objectives.jsonl

Figures only; never asserted in tests. The workflow-level check (the demo's otis_init against
random_init on internal LVEF kNN) is in benchmarks/results/ecg_standin_objectives.md.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from echo2ecg.ecg_standin_corpus import StandinCorpus  # noqa: E402
from echo2ecg.fit_ecg_encoder import fit_ecg_encoder  # noqa: E402
from echo2ecg.preprocess_ecg import ECGPreprocessing  # noqa: E402

SETTINGS = {
    "mae": {},
    "mae_long": {"steps": 900},
    "mae_mask50": {"mask_ratio": 0.5},
    "contrast_b32": {"objective": "patient_contrastive", "ecgs_per_patient": 2, "batch_size": 32},
    "contrast_b64": {"objective": "patient_contrastive", "ecgs_per_patient": 2, "batch_size": 64},
    "measure_b32": {"objective": "ecg_measurements", "batch_size": 32},
    "measure_b64": {"objective": "ecg_measurements", "batch_size": 64},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[7321])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/ecg_standin_objectives.jsonl")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    encoder = {k: v for k, v in config["ecg_encoder"].items() if k != "standin"}
    preprocessing = ECGPreprocessing.from_config(config["ecg_preprocessing"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for name in args.settings:
            standin = dict(config["ecg_encoder"]["standin"], **SETTINGS[name], seed=seed)
            started = time.process_time()
            corpus = StandinCorpus.synthesize(standin["n_patients"], seed, preprocessing, standin.get("ecgs_per_patient", 1))
            _, metrics = fit_ecg_encoder(encoder, standin, corpus, logging.getLogger(name))
            row = {"setting": name, "seed": seed, "standin": standin, "threads": args.threads,
                   "cpu_s": round(time.process_time() - started, 1),
                   "held_out_objective": metrics["held_out_objective"],
                   "held_out_lvef_ridge_r2": metrics["held_out_lvef_ridge_r2"]}
            print(json.dumps(row), flush=True)
            with args.out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
