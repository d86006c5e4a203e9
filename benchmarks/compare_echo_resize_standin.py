"""Does the clip resize (echo_clips.resize) change what the stand-in echo encoder learns?

Fits the stand-in (``echo2ecg.fit_echo_encoder``) once per resize on the configuration of
tests/test_fit_echo_encoder.py's generalisation test (32 px clips of 64 x 80 A4C cines, 200
patients, 120 steps, seed 1; ``--demo``: 64 px clips of 128 x 160 cines, as the demo) and prints
its held-out metrics (objective before / after, ridge R2) as one JSON line per resize, appended to
benchmarks/results/echo_resize_standin.jsonl. One seed: a difference smaller than the spread
between seeds means nothing.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compare_echo_resize_standin.py [--demo]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from echo2ecg.fit_echo_encoder import fit_echo_encoder  # noqa: E402
from echo2ecg.prepare_echo_clips import RESIZE_METHODS  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "echo_resize_standin.jsonl"
TEST_FIT = {"seed": 1, "clip_size": 32, "steps": 120, "n_patients": 200, "held_out_fraction": 0.3,
            "views_per_patient": 4, "view_types": ["A4C"], "targets": ["lvedv", "lvesv"], "frame_size": [64, 80],
            "n_frames": [20, 40], "batch_size": 8, "lr": 1e-3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="64 px clips of 128 x 160 cines (the demo's sizes)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = TEST_FIT | ({"clip_size": 64, "frame_size": [128, 160]} if args.demo else {})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for resize in RESIZE_METHODS:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            metrics = fit_echo_encoder({**cfg, "resize": resize}, Path(tmp) / "standin.pt", logging.getLogger("bench"))
        row = {"sizes": "demo" if args.demo else "test", "resize": resize,
               **{k: v for k, v in metrics.items() if isinstance(v, (int, float))},
               "wall_s": round(time.perf_counter() - start)}
        print(json.dumps(row), flush=True)
        with open(RESULTS, "a") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
