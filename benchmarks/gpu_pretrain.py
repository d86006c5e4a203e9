"""Throughput of Echo2ECG pre-training at the paper preset on one GPU (issue 7, section 4).

Runs the real training step -- random 1008-sample windows and the five augmentations on the
device, the paper's model (OTiS-tiny ECG encoder, 504 tokens + CLS; attention pooling over up to
128 views; bias-free heads; CLIP loss), bf16 autocast, AdamW with layer-wise lr decay and the
per-step schedule -- on random tensors shaped like the real data and resident on the device:
ECGs ``(N, 12, 5000)`` float32 (11,859 x 12 x 5000 = 2.8 GB) and studies of up to 128 x 512 view
embeddings. Prints one JSON object: samples/s, step time, peak memory, model FLOP utilisation
(FLOPs counted analytically, :func:`train_flops_per_sample`) and the implied wall time of
``--epochs`` (50) epochs over ``--pairs`` (11,859) pairs.

    .venv/bin/python benchmarks/gpu_pretrain.py                      # paper preset, 300 timed steps
    .venv/bin/python benchmarks/gpu_pretrain.py --compile            # the same under torch.compile
    .venv/bin/python benchmarks/gpu_pretrain.py --cpu-smoke          # a few tiny steps on the CPU
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from echo2ecg.augment import AugmentConfig, augment_ecg_batch, random_window  # noqa: E402
from echo2ecg.model import ECGEncoderConfig, ViewAggregationConfig, build_echo2ecg  # noqa: E402
from echo2ecg.model.ecg_encoder import count_parameters  # noqa: E402
from echo2ecg.model.optimizer import apply_lr, build_optimizer, lr_at_step  # noqa: E402

# dense bf16 tensor-core peak (no sparsity), TFLOP/s, by device name
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0}


def train_flops_per_sample(enc: ECGEncoderConfig, agg: ViewAggregationConfig, views: int, shared_dim: int = 512) -> float:
    """Matmul FLOPs of one training sample (forward x 3 for forward + backward), padded views included."""
    D, N = enc.embed_dim, enc.n_leads * enc.n_patches + 1
    hidden = int(enc.mlp_ratio * D)
    per_block = 2 * N * (3 * D * D + D * D + 2 * D * hidden) + 2 * 2 * N * N * D  # projections + QK^T and AV
    encoder = enc.depth * per_block + 2 * (N - 1) * enc.patch_size * D
    A = agg.dim
    aggregator = 2 * views * agg.view_dim * A + 2 * (A * A + 2 * views * A * A) + 2 * 2 * views * A + 2 * A * A
    heads = 2 * (D + A) * shared_dim
    return 3.0 * (encoder + aggregator + heads)


def synthetic_data(n_ecgs: int, n_studies: int, n_pairs: int, max_views: int, view_dim: int, T_full: int,
                   device: torch.device, seed: int) -> dict:
    g = torch.Generator(device=device).manual_seed(seed)
    return {
        "ecgs": torch.randn(n_ecgs, 12, T_full, device=device, generator=g),
        "views": torch.randn(n_studies, max_views, view_dim, device=device, generator=g),
        "n_views": torch.randint(1, max_views + 1, (n_studies,), device=device, generator=g),
        "pair_ecg": torch.randint(0, n_ecgs, (n_pairs,), device=device, generator=g),
        "pair_study": torch.randint(0, n_studies, (n_pairs,), device=device, generator=g),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="timed steps")
    parser.add_argument("--warmup", type=int, default=30, help="untimed steps first (and compilation)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=11_859, help="pairs per epoch (paper Table 1)")
    parser.add_argument("--ecgs", type=int, default=11_859, help="ECGs resident on the device")
    parser.add_argument("--studies", type=int, default=8_712)
    parser.add_argument("--max-views", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--cpu-smoke", action="store_true", help="a few steps of a tiny model on the CPU")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    enc, agg = ECGEncoderConfig(), ViewAggregationConfig()
    if args.cpu_smoke:
        enc = ECGEncoderConfig(embed_dim=32, depth=2, n_heads=2)
        agg = ViewAggregationConfig(dim=64, n_heads=4)
        args.steps, args.warmup, args.batch_size = 3, 1, 8
        args.ecgs, args.studies, args.pairs, args.max_views = 32, 16, 64, 8
        device = torch.device("cpu")
        torch.set_num_threads(2)
    else:
        if not torch.cuda.is_available():
            sys.exit("no CUDA device: run with --cpu-smoke for a CPU check")
        device = torch.device("cuda")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    use_bf16 = device.type == "cuda"

    torch.manual_seed(args.seed)
    data = synthetic_data(args.ecgs, args.studies, args.pairs, args.max_views, agg.view_dim, 5000, device, args.seed)
    model = build_echo2ecg(enc, agg).to(device).train()
    optimizer = build_optimizer(model, fused=device.type == "cuda")
    step_fn = torch.compile(model) if args.compile else model
    augment = AugmentConfig()
    generator = torch.Generator(device=device).manual_seed(args.seed)
    steps_per_epoch = args.pairs // args.batch_size  # drop_last
    slots = torch.arange(args.max_views, device=device)

    def train_step(step: int) -> torch.Tensor:
        batch = torch.randint(0, args.pairs, (args.batch_size,), device=device, generator=generator)
        x = random_window(data["ecgs"][data["pair_ecg"][batch]], enc.n_samples, generator)
        x = augment_ecg_batch(x, augment, generator)
        study = data["pair_study"][batch]
        views, valid = data["views"][study], slots[None, :] < data["n_views"][study][:, None]
        apply_lr(optimizer, lr_at_step(step, steps_per_epoch, args.epochs, 5e-4))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = step_fn(x, views, valid)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    compile_start = time.perf_counter()
    for step in range(args.warmup):
        loss = train_step(step)
    sync()
    warmup_s = time.perf_counter() - compile_start
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for step in range(args.warmup, args.warmup + args.steps):
        loss = train_step(step)
    sync()
    seconds = time.perf_counter() - start

    samples_per_s = args.steps * args.batch_size / seconds
    flops = train_flops_per_sample(enc, agg, args.max_views)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "mode": "cpu-smoke" if args.cpu_smoke else "paper preset",
        "torch": torch.__version__,
        "compile": args.compile,
        "bf16_autocast": use_bf16,
        "batch_size": args.batch_size,
        "tokens": enc.n_leads * enc.n_patches,
        "max_views": args.max_views,
        "ecgs_resident": list(data["ecgs"].shape),
        "trainable_parameters": count_parameters(model),
        "warmup_steps": args.warmup,
        "warmup_s": round(warmup_s, 2),
        "timed_steps": args.steps,
        "seconds": round(seconds, 3),
        "step_ms": round(1000 * seconds / args.steps, 2),
        "samples_per_s": round(samples_per_s, 1),
        "final_loss": round(float(loss), 4),
        "train_tflops_per_sample": flops / 1e12,
        "achieved_tflops": round(flops * samples_per_s / 1e12, 2),
        f"implied_{args.epochs}_epochs_s": round(args.epochs * steps_per_epoch * args.batch_size / samples_per_s, 1),
        "pairs_per_epoch": args.pairs,
    }
    if device.type == "cuda":
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
        name = torch.cuda.get_device_name(device)
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        if peak:
            result["peak_bf16_tflops"] = peak
            result["model_flop_utilisation"] = round(flops * samples_per_s / (peak * 1e12), 4)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
