"""What the param `code` costs a DAG build: the static import closure and content hashes of every
rule script (echo2ecg/code_lineage.py), computed afresh as the Snakefile does once per build.

    .venv/bin/python benchmarks/bench_code_lineage.py            # median of 5 builds

Figures: benchmarks/results/code_lineage.json (CPU time; never asserted in tests).
"""
from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from echo2ecg.code_lineage import CodeLineage  # noqa: E402


def one_build() -> tuple[float, float, int, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    lineage = CodeLineage(REPO)
    scripts = sorted((REPO / "scripts").glob("*.py"))
    sizes = [len(lineage.modules(script)) for script in scripts]
    return time.process_time() - cpu, time.perf_counter() - wall, len(scripts), max(sizes)


def main() -> None:
    runs = [one_build() for _ in range(5)]
    result = {
        "what": "CodeLineage over every script under scripts/ (one DAG build's add_code_params)",
        "scripts": runs[0][2],
        "largest_closure_files": runs[0][3],
        "cpu_s_median": round(statistics.median(r[0] for r in runs), 3),
        "wall_s_median": round(statistics.median(r[1] for r in runs), 3),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    out = REPO / "benchmarks/results/code_lineage.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
