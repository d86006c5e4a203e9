"""Time the demo synthetic cohort (200 + 150 + 100 patients) and optionally measure LVEF recoverability.

    python benchmarks/bench_synthesize_cohort.py [OUT_DIR] [--workers 2] [--recoverability]
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

from echo2ecg.synthesize_cohort import synthesize_cohort
from echo2ecg.synthesize_cohort.recoverability import measure_recoverability

DEMO = dict(seed=7, pretrain_patients=200, echonext_patients=150, ukb_patients=100, ecgs_per_patient=[1, 4],
            studies_per_patient=[1, 3], views_per_study=[3, 12], echo_frame_size=[128, 160], echo_frames=[20, 72],
            echo_fps=[30, 80], jpeg_fraction=0.8, still_fraction=0.05, fault_rate=0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--recoverability", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = args.out or Path(tempfile.mkdtemp(prefix="echo2ecg-synthetic-"))
    if out.exists():
        shutil.rmtree(out)
    started = time.perf_counter()
    summary = synthesize_cohort(out, DEMO, logging.getLogger("bench"), n_workers=args.workers)
    seconds = time.perf_counter() - started
    size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    print(json.dumps({"seconds": round(seconds, 1), "megabytes": round(size_mb), **summary}, indent=2))
    if args.recoverability:
        started = time.perf_counter()
        figures = measure_recoverability(out)
        print(json.dumps({"recoverability": figures, "seconds": round(time.perf_counter() - started, 1)}, indent=2))
    if args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
