"""CPU pre-training speed of the demo preset: samples/s, peak memory, and the share of step time
spent assembling the batch (gather + random window + augmentation + view draw) at steady state.

The data are random tensors shaped like the demo's train split (pairs, unique ECGs of 12 x 5000,
studies with 3-5 of max_views views); the model and optimiser are those of config.yaml's
pre-training (or a preset layered on it). The step is echo2ecg.pretrain's own training_batch and
optimisation_step. Wall time is measured with the CPU time of the process beside it, because the
machine may be shared (CPU time per sample does not grow with other processes' load).

    python benchmarks/bench_pretrain.py [--preset resources/presets/x.yaml] [--threads 2] [--steps 30]

Writes benchmarks/results/bench_pretrain.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from echo2ecg.augment import AugmentConfig  # noqa: E402
from echo2ecg.model.optimizer import build_optimizer  # noqa: E402
from echo2ecg.pretrain import (  # noqa: E402
    adamw_fused,
    PairTensors,
    PretrainConfig,
    VariantSpec,
    build_model,
    encoder_config,
    optimisation_step,
    training_batch,
)


def load_config(preset: str | None) -> dict:
    from snakemake.utils import update_config

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    if preset:
        update_config(config, yaml.safe_load(Path(preset).read_text()))
    return config


def demo_shaped_data(n_pairs: int, n_studies: int, max_views: int, view_dim: int, generator: torch.Generator) -> PairTensors:
    ecgs = torch.randn(n_pairs, 12, 5000, generator=generator)
    n_views = torch.randint(3, 6, (n_studies,), generator=generator)
    valid = torch.arange(max_views)[None, :] < n_views[:, None]
    views = torch.randn(n_studies, max_views, view_dim, generator=generator) * valid[..., None]
    return PairTensors(ecgs, views, valid, torch.arange(n_pairs), torch.randint(0, n_studies, (n_pairs,), generator=generator),
                       [str(i) for i in range(n_pairs)], [str(i) for i in range(n_studies)]).trimmed()


def measure(config: dict, aggregation: str, steps: int, warmup: int, n_pairs: int, n_studies: int) -> dict:
    cfg = PretrainConfig.from_dict(config["pretrain"])
    enc = encoder_config(config["ecg_encoder"])
    variant = VariantSpec("bench", aggregation=aggregation, init="random", align=True)
    model, _ = build_model(cfg, config["ecg_encoder"], variant)
    optimizer = build_optimizer(model, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay,
                                layer_decay=cfg.layer_decay, fused=adamw_fused(cfg.adamw_kernel))
    generator = torch.Generator().manual_seed(0)
    data = demo_shaped_data(n_pairs, n_studies, cfg.max_views, cfg.view_dim, generator)
    augment = AugmentConfig(**cfg.augment)
    device = torch.device("cpu")
    model.train()
    data_wall = step_wall = data_cpu = step_cpu = 0.0
    for step in range(warmup + steps):
        w0, c0 = time.perf_counter(), time.process_time()
        idx = torch.randint(0, data.n_pairs, (cfg.batch_size,), generator=generator)
        batch = training_batch(data, idx, enc.n_samples, augment, generator, aggregation == "single")
        w1, c1 = time.perf_counter(), time.process_time()
        optimisation_step(model, optimizer, batch, cfg.tau, device)
        w2, c2 = time.perf_counter(), time.process_time()
        if step >= warmup:
            data_wall += w1 - w0
            step_wall += w2 - w0
            data_cpu += c1 - c0
            step_cpu += c2 - c0
    samples = steps * cfg.batch_size
    return {
        "aggregation": aggregation,
        "batch_size": cfg.batch_size,
        "steps_measured": steps,
        "samples_per_s_wall": round(samples / step_wall, 1),
        "samples_per_cpu_s": round(samples / step_cpu, 1),
        "data_share_of_step_wall": round(data_wall / step_wall, 4),
        "data_share_of_step_cpu": round(data_cpu / step_cpu, 4),
        "trained_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=1100, help="train pairs (the demo's train split)")
    parser.add_argument("--studies", type=int, default=380, help="unique train studies")
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/bench_pretrain"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.preset)
    rows = [measure(config, aggregation, args.steps, args.warmup, args.pairs, args.studies)
            for aggregation in ("attention", "single")]
    cfg, enc = config["pretrain"], config["ecg_encoder"]
    epoch_pairs = args.pairs // cfg["batch_size"] * cfg["batch_size"]
    result = {
        "command": "python benchmarks/bench_pretrain.py " + " ".join(sys.argv[1:]),
        "preset": args.preset or "config.yaml (demo)",
        "threads": args.threads,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_at_end": os.getloadavg()[0],
        "encoder": {k: enc[k] for k in ("patch_size", "n_samples", "embed_dim", "depth", "n_heads")},
        "epochs": cfg["epochs"],
        "train_pairs": args.pairs,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "variants": rows,
        "implied_training_s_at_cpu_rate": {
            r["aggregation"]: round(cfg["epochs"] * epoch_pairs / r["samples_per_cpu_s"] / args.threads, 1) for r in rows},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    lines = [f"# Pre-training speed on CPU ({result['preset']}, {args.threads} threads)", "",
             f"`{result['command']}` on {result['machine']} (load average {result['load_average_at_end']:.1f} at the end: "
             "other processes shared the cores, so the CPU-time columns are the comparable ones).", "",
             f"Encoder {result['encoder']}; batch {cfg['batch_size']}; {args.pairs} train pairs; "
             f"peak RSS {result['peak_rss_mb']} MB.", "",
             "| aggregation | samples/s (wall) | samples per CPU-s | data share of step (wall) | data share (CPU) | "
             "implied pre-training at CPU rate, s |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['aggregation']} | {r['samples_per_s_wall']} | {r['samples_per_cpu_s']} | "
                     f"{100 * r['data_share_of_step_wall']:.1f} % | {100 * r['data_share_of_step_cpu']:.1f} % | "
                     f"{result['implied_training_s_at_cpu_rate'][r['aggregation']]} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
