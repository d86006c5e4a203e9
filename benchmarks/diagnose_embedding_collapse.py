"""Does a variant's pre-training collapse? Trains one variant as rule `pretrain` does (same data,
config, seed, optimiser, schedule, batches) in a finished run's directory, without writing anything,
and prints every --every steps the mean training loss and the mean pairwise cosine of 64 validation
studies' embeddings and of their ECGs' embeddings (about 0: spread; 1: every input embeds alike, and
the CLIP loss sits at log(batch)). Run by hand, e.g. on the demo's run:

    .venv/bin/python benchmarks/diagnose_embedding_collapse.py --workdir <demo run> --variant clspool
    .venv/bin/python benchmarks/diagnose_embedding_collapse.py --workdir <demo run> --variant clspool \\
        --override '{"lr": 5e-4}'

Results: benchmarks/results/demo_lr_replicates.md."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from echo2ecg import pretrain as P  # noqa: E402
from echo2ecg.augment import AugmentConfig, first_window  # noqa: E402
from echo2ecg.config import resolve_config  # noqa: E402
from echo2ecg.model.optimizer import apply_lr, build_optimizer, lr_at_step  # noqa: E402


def mean_pairwise_cosine(z: torch.Tensor) -> float:
    z = F.normalize(z.float(), dim=-1)
    similarity = z @ z.T
    return float(similarity[~torch.eye(len(z), dtype=torch.bool)].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="a finished run's directory (results/ inside)")
    parser.add_argument("--variant", default="clspool")
    parser.add_argument("--replicate", type=int, default=42)
    parser.add_argument("--override", default="{}", help="JSON of pretrain keys to change, e.g. '{\"lr\": 5e-4}'")
    parser.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: the whole schedule)")
    parser.add_argument("--every", type=int, default=73)
    parser.add_argument("--configfile", type=Path, default=REPO / "config.yaml")
    args = parser.parse_args()

    config = resolve_config(yaml.safe_load(args.configfile.read_text()))
    torch.set_num_threads(int(config["pretrain"]["threads"]))
    section = dict(config["pretrain"], seed=args.replicate, **json.loads(args.override))
    ecg_section = {k: v for k, v in config["ecg_encoder"].items() if k != "standin"}
    variant = P.VariantSpec.from_config(args.variant, config["pretrain"]["variants"][args.variant])
    cfg = variant.pretrain_config(P.PretrainConfig.from_dict(section))
    results = args.workdir / "results"
    cohorts = [name for name, spec in config["cohorts"].items() if spec["role"] == "pretrain"]
    table = P.pretrain_pairs(pd.read_parquet(results / "tables/pairs.parquet"),
                             pd.read_parquet(results / "tables/splits.parquet"), cohorts)
    ecg_index = pd.read_parquet(results / "ecg/index.parquet")
    view_index = pd.read_parquet(results / "echo/view_embeddings.parquet")
    train = P.pair_tensors(table[table["split"] == "train"], ecg_index, view_index, cfg.max_views, args.workdir)
    val = P.pair_tensors(table[table["split"] == "val"], ecg_index, view_index, cfg.max_views, args.workdir)
    model, _ = P.build_model(cfg, ecg_section, variant, str(results / "models/ecg_encoder_standin.pt"))
    model.set_view_statistics(train.views, train.valid, cfg.view_standardisation)
    train, val = train.trimmed(), val.trimmed()
    n_samples = P.encoder_config(ecg_section).n_samples
    steps_per_epoch = train.n_pairs // cfg.batch_size
    optimizer = build_optimizer(model, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay,
                                layer_decay=cfg.layer_decay, fused=P.adamw_fused(cfg.adamw_kernel))
    generator = torch.Generator()
    generator.manual_seed(cfg.seed)
    augment = AugmentConfig(**cfg.augment)
    single_view = variant.aggregation == "single"
    probe = torch.arange(min(64, val.n_pairs))

    def spread() -> str:
        model.eval()
        with torch.no_grad():
            studies = model.embed_study(val.views[val.pair_study[probe]], val.valid[val.pair_study[probe]])
            ecgs = model.embed_ecg(first_window(val.ecgs[val.pair_ecg[probe]], n_samples))
        model.train()
        return f"mean pairwise cosine: studies {mean_pairwise_cosine(studies):+.3f}, ECGs {mean_pairwise_cosine(ecgs):+.3f}"

    print(f"{args.variant}, lr {cfg.lr}, {steps_per_epoch} steps/epoch x {cfg.epochs}; at initialisation: {spread()}")
    losses, step, last = [], 0, args.steps or steps_per_epoch * cfg.epochs
    for epoch in range(cfg.epochs):
        order = P.epoch_order(train.pair_group, cfg.batching, generator)
        for b in range(steps_per_epoch):
            lr = lr_at_step(step, steps_per_epoch, cfg.epochs, cfg.lr, warmup_epochs=cfg.warmup_epochs,
                            start_ratio=cfg.start_lr_ratio, min_ratio=cfg.min_lr_ratio)
            apply_lr(optimizer, lr)
            batch = P.training_batch(train, order[b * cfg.batch_size:(b + 1) * cfg.batch_size], n_samples,
                                     augment, generator, single_view)
            losses.append(float(P.optimisation_step(model, optimizer, batch, cfg.tau, torch.device("cpu"))))
            step += 1
            if step % args.every == 0 or step == last:
                print(f"step {step} (lr {lr:.2g}): train loss {np.mean(losses[-args.every:]):.4f}, {spread()}", flush=True)
            if step == last:
                break
        if step == last:
            break
    val_loss = P.validation_loss(model, val, cfg, n_samples, single_view, torch.device("cpu"))
    print(f"validation loss {val_loss:.4f} (log {cfg.batch_size} = {np.log(cfg.batch_size):.4f})")


if __name__ == "__main__":
    main()
