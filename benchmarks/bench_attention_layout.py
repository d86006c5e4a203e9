"""CPU cost of the ECG encoder's two attention layouts (``ecg_encoder.attention_layout``), one thread.

For the demo encoder (config.yaml's ``ecg_encoder`` numbers) and the paper's (OTiS "tiny",
``ECGEncoderConfig()``), times one forward + backward of the encoder in training mode (drop path
as configured) on random ECGs of ``n_samples`` samples, under ``otis`` (qkv -> MultiheadAttention
-> proj) and ``fused`` (one projection each way). The layouts alternate within each repeat so that
load from other jobs on the shared machine hits both alike; each figure is the median over
``--repeats`` timed blocks of ``--steps`` steps (wall clock and process CPU time). Writes JSON and
a Markdown table:

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/bench_attention_layout.py
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from echo2ecg.model.ecg_encoder import ECGEncoder, ECGEncoderConfig, count_parameters  # noqa: E402

LAYOUTS = ("otis", "fused")


def sizes(batch_demo: int, batch_paper: int) -> dict:
    demo = ECGEncoderConfig.from_dict(yaml.safe_load((REPO / "config.yaml").read_text())["ecg_encoder"])
    return {"demo (config.yaml)": (demo, batch_demo), "paper (OTiS tiny)": (ECGEncoderConfig(), batch_paper)}


def measure(cfg: ECGEncoderConfig, batch: int, steps: int, repeats: int) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, cfg.n_leads, cfg.n_samples, generator=g)
    encoders = {}
    for layout in LAYOUTS:
        torch.manual_seed(0)
        encoders[layout] = ECGEncoder(dataclasses.replace(cfg, attention_layout=layout)).train()

    def step(encoder):
        encoder.zero_grad(set_to_none=True)
        encoder(x).square().mean().backward()

    for encoder in encoders.values():
        step(encoder)  # warm-up
    wall = {layout: [] for layout in LAYOUTS}
    cpu = {layout: [] for layout in LAYOUTS}
    for _ in range(repeats):
        for layout, encoder in encoders.items():
            w, c = time.perf_counter(), time.process_time()
            for _ in range(steps):
                step(encoder)
            wall[layout].append((time.perf_counter() - w) / steps)
            cpu[layout].append((time.process_time() - c) / steps)
    out = {}
    for layout, encoder in encoders.items():
        out[layout] = {
            "parameters": count_parameters(encoder),
            "median_wall_s_per_step": round(statistics.median(wall[layout]), 4),
            "median_cpu_s_per_step": round(statistics.median(cpu[layout]), 4),
            "wall_s_per_step_runs": [round(v, 4) for v in wall[layout]],
            "samples_per_s": round(batch / statistics.median(wall[layout]), 2),
        }
    out["otis_over_fused_wall"] = round(out["otis"]["median_wall_s_per_step"] / out["fused"]["median_wall_s_per_step"], 3)
    out["otis_over_fused_cpu"] = round(out["otis"]["median_cpu_s_per_step"] / out["fused"]["median_cpu_s_per_step"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="benchmarks/results/attention_layout_cpu")
    parser.add_argument("--batch-demo", type=int, default=16, help="config.yaml's pretrain.batch_size")
    parser.add_argument("--batch-paper", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=["demo", "paper"], default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name, (cfg, batch) in sizes(args.batch_demo, args.batch_paper).items():
        if args.only and not name.startswith(args.only):
            continue
        result = measure(cfg, batch, args.steps, args.repeats)
        row = {"encoder": name, "depth": cfg.depth, "embed_dim": cfg.embed_dim, "n_heads": cfg.n_heads,
               "patch_size": cfg.patch_size, "tokens": cfg.n_leads * cfg.n_patches, "batch": batch, **result}
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {
        "what": "ECG encoder forward + backward (training mode), fp32, CPU, 1 thread; median over repeats, "
                "layouts alternating within each repeat",
        "steps_per_repeat": args.steps, "repeats": args.repeats, "threads": torch.get_num_threads(),
        "load_average_at_end": os.getloadavg(), "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(), "torch": torch.__version__, "rows": rows,
        "command": "OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/bench_attention_layout.py "
                   + " ".join(sys.argv[1:]),
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# ECG encoder attention layout: CPU forward + backward, 1 thread", "",
             f"`{result['command']}` (torch {torch.__version__}, {os.cpu_count()} shared cores, load average at end "
             f"{', '.join(f'{v:.2f}' for v in result['load_average_at_end'])}). Median of {args.repeats} blocks of "
             f"{args.steps} steps; the two layouts alternate within each block.", "",
             "| encoder | tokens | batch | layout | parameters | s / step (wall) | s / step (CPU) | otis / fused (wall) |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for layout in LAYOUTS:
            r = row[layout]
            lines.append(f"| {row['encoder']} {row['depth']}x{row['embed_dim']} p{row['patch_size']} h{row['n_heads']} "
                         f"| {row['tokens']} | {row['batch']} | {layout} | {r['parameters']:,} | "
                         f"{r['median_wall_s_per_step']:.4f} | {r['median_cpu_s_per_step']:.4f} | "
                         f"{row['otis_over_fused_wall'] if layout == 'otis' else ''} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
