"""CPU training throughput of ECG-encoder presets (to choose the demo preset), 2 threads.

For each encoder preset (depth x width / patch length) measures one Echo2ECG training step --
forward, backward and AdamW (layer-wise lr decay groups) -- at batch 64, T = 1008:

- ``model``: the whole Echo2ECG model (encoder, paper attention aggregator over ``--views``
  views of 512-d, both heads, CLIP loss);
- ``encoder``: the ECG encoder and its head alone against a fixed target (what the aggregator
  costs on top is the difference).

The machine is shared, so each figure is the fastest of ``--repeats`` timed blocks of
``--steps`` steps (wall clock), with the process CPU time alongside; on a machine busy with other
jobs the wall-clock figures fall, while samples per CPU-second (and ``2 x`` that, the rate two
free threads would give) stay comparable between presets. Writes JSON:

    nice -n 10 .venv/bin/python benchmarks/bench_model_cpu.py benchmarks/results/model_cpu_throughput.json
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "2"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo2ecg.model import ECGEncoderConfig, ViewAggregationConfig, build_echo2ecg  # noqa: E402
from echo2ecg.model.ecg_encoder import count_parameters  # noqa: E402
from echo2ecg.model.optimizer import build_optimizer  # noqa: E402

# attention_layout: the paper's OTiS module for the paper preset, the demo's fused layout for the demo
# candidates (benchmarks/bench_attention_layout.py compares the two)
PRESETS = {
    "paper_12x192_p24": dict(depth=12, embed_dim=192, n_heads=3, patch_size=24, attention_layout="otis"),
    "4x96_p24": dict(depth=4, embed_dim=96, n_heads=3, patch_size=24, attention_layout="fused"),
    "4x96_p48": dict(depth=4, embed_dim=96, n_heads=3, patch_size=48, attention_layout="fused"),
    "3x64_p24": dict(depth=3, embed_dim=64, n_heads=2, patch_size=24, attention_layout="fused"),
    "3x64_p48_h4": dict(depth=3, embed_dim=64, n_heads=4, patch_size=48, attention_layout="fused"),  # config.yaml's demo encoder today
}


def time_steps(step, steps: int, repeats: int) -> dict:
    step()  # warm-up (allocations, AdamW state)
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return {"wall_s_per_step": best_wall / steps, "cpu_s_per_step": best_cpu / steps}


def measure(name: str, spec: dict, batch: int, T: int, views: int, steps: int, repeats: int) -> dict:
    torch.manual_seed(0)
    enc = ECGEncoderConfig(n_samples=T, **spec)
    model = build_echo2ecg(enc, ViewAggregationConfig()).train()
    optimizer = build_optimizer(model)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 12, T, generator=g)
    v = torch.randn(batch, views, 512, generator=g)
    valid = torch.ones(batch, views, dtype=torch.bool)
    target = torch.randn(batch, 512, generator=g)

    def model_step():
        optimizer.zero_grad(set_to_none=True)
        model(x, v, valid).backward()
        optimizer.step()

    def encoder_step():
        optimizer.zero_grad(set_to_none=True)
        (model.embed_ecg(x) - target).square().mean().backward()
        optimizer.step()

    row = {
        "preset": name, **spec, "tokens": 12 * T // spec["patch_size"],
        "encoder_parameters": count_parameters(model.ecg_encoder), "model_parameters": count_parameters(model),
    }
    for kind, fn in (("model", model_step), ("encoder", encoder_step)):
        t = time_steps(fn, steps, repeats)
        row[f"{kind}_samples_per_s"] = round(batch / t["wall_s_per_step"], 2)
        row[f"{kind}_wall_s_per_step"] = round(t["wall_s_per_step"], 3)
        row[f"{kind}_cpu_s_per_step"] = round(t["cpu_s_per_step"], 3)
        # robust to other jobs on the machine: samples per second of this process's CPU time, and
        # what 2 fully-used threads would give (an upper bound; spin-waiting threads make it conservative)
        row[f"{kind}_samples_per_cpu_s"] = round(batch / t["cpu_s_per_step"], 2)
        row[f"{kind}_samples_per_s_2_free_threads"] = round(2 * batch / t["cpu_s_per_step"], 1)
        print(f"{name:18s} {kind:8s} {row[f'{kind}_samples_per_s']:8.2f} samples/s wall, "
              f"{row[f'{kind}_samples_per_cpu_s']:8.2f} per CPU-s", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", nargs="?", default="benchmarks/results/model_cpu_throughput.json")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-samples", type=int, default=1008)
    parser.add_argument("--views", type=int, default=16, help="valid views per study for the aggregator")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = [measure(n, PRESETS[n], args.batch_size, args.n_samples, args.views, args.steps, args.repeats)
            for n in args.presets]
    result = {
        "what": "one training step (forward + backward + AdamW with LLRD groups), fp32, CPU",
        "batch_size": args.batch_size, "n_samples": args.n_samples, "views_per_study": args.views,
        "threads": torch.get_num_threads(), "timing": f"fastest of {args.repeats} blocks of {args.steps} steps, wall clock",
        "load_average_at_end": os.getloadavg(), "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(), "torch": torch.__version__,
        "presets": rows,
        "command": "nice -n 10 .venv/bin/python benchmarks/bench_model_cpu.py " + " ".join(sys.argv[1:]),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
