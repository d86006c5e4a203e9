"""Time one pre-training step of each aggregation with PyTorch's default AdamW and with the fused one
(config pretrain.adamw_kernel), on the demo's model sizes (config.yaml), one CPU thread, random data of the
demo's shapes (batch 16 ECGs of 12 x n_samples, 5 views a study). Prints a markdown table; with --json,
also writes the figures.

    .venv/bin/python benchmarks/bench_adamw_kernel.py --repeats 5 --steps 30 --json benchmarks/results/adamw_kernel.json

Each repeat times ``--steps`` steps of every (aggregation, kernel) in turn, after 3 warm-up steps; the
table gives the median over repeats and the ratio fused / default of the medians.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from echo2ecg.model.optimizer import build_optimizer  # noqa: E402
from echo2ecg.pretrain import PretrainConfig, VariantSpec, adamw_fused, batch_loss, build_model  # noqa: E402

VARIANTS = ("meanpool", "echo2ecg", "clspool")


def step_time(variant: str, kernel: str, config: dict, steps: int) -> tuple[float, int]:
    cfg = PretrainConfig.from_dict(config["pretrain"])
    spec = replace(VariantSpec.from_config(variant, config["pretrain"]["variants"][variant]), init="random")
    model, _ = build_model(cfg, config["ecg_encoder"], spec)
    optimizer = build_optimizer(model, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay,
                                layer_decay=cfg.layer_decay, fused=adamw_fused(kernel))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(cfg.batch_size, 12, config["ecg_encoder"]["n_samples"], generator=g)
    views = torch.randn(cfg.batch_size, 5, cfg.view_dim, generator=g)
    valid = torch.ones(cfg.batch_size, 5, dtype=torch.bool)

    def step():
        loss = batch_loss(model, x, views, valid, cfg.tau)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps, sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    times = {(v, k): [] for v in VARIANTS for k in ("default", "fused")}
    params = {}
    for _ in range(args.repeats):
        for (variant, kernel), series in times.items():
            seconds, params[variant] = step_time(variant, kernel, config, args.steps)
            series.append(seconds)
    rows = []
    print("| aggregation (variant) | parameters | default ms/step | fused ms/step | fused / default |")
    print("|---|---:|---:|---:|---:|")
    for variant in VARIANTS:
        default, fused = (statistics.median(times[(variant, k)]) for k in ("default", "fused"))
        rows.append({"variant": variant, "parameters": params[variant], "default_s": default, "fused_s": fused,
                     "ratio": fused / default, "all_default_s": times[(variant, "default")],
                     "all_fused_s": times[(variant, "fused")]})
        print(f"| {variant} | {params[variant] / 1e6:.2f} M | {default * 1e3:.1f} | {fused * 1e3:.1f} | {fused / default:.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"torch": torch.__version__, "threads": 1, "steps": args.steps,
                                         "repeats": args.repeats, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
