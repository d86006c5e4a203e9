"""Throughput of the embedding step (paper preset, EchoPrime's mvit_v2_s) on a GPU.

Measures views/s of ``echo2ecg.embed_echo_views.encode_clips`` (uint8 clips in, 512-d float32
embeddings out, bf16 autocast, inference mode: exactly what ``embed_clip_shard`` runs per
batch) at each batch size, and the peak GPU memory (``torch.cuda.max_memory_allocated``).
Prints one JSON object. Meant to finish in well under 5 minutes on one GPU:

    .venv/bin/python benchmarks/gpu_embed_echo_views.py                 # batches 32 and 128
    .venv/bin/python benchmarks/gpu_embed_echo_views.py --cpu-smoke     # tiny check, CPU
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from echo2ecg import embed_echo_views
from echo2ecg.echo_encoder import build_echo_encoder, count_parameters, freeze


def measure(model, batch_size: int, clip_size: int, device: torch.device, warmup: int, batches: int) -> dict:
    """Views/s and peak memory of encode_clips at one batch size (clips drawn once, reused)."""
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (batch_size, 16, clip_size, clip_size, 3), dtype=np.uint8)
    n_valid = rng.integers(8, 17, batch_size)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        embed_echo_views.encode_clips(model, clips, n_valid, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(batches):
        out = embed_echo_views.encode_clips(model, clips, n_valid, device)  # returns host numpy: synchronous
    seconds = time.perf_counter() - start
    result = {
        "batch_size": batch_size,
        "batches": batches,
        "seconds": round(seconds, 4),
        "views_per_s": round(batch_size * batches / seconds, 2),
        "embedding_shape": list(out.shape),
        "finite": bool(np.isfinite(out).all()),
    }
    if device.type == "cuda":
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--batches", type=int, default=10, help="timed batches per batch size")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--preset", default="paper", choices=["paper", "demo"])
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="run on CPU with the demo preset at 32 px, batch 2, one batch (checks the script only)")
    args = parser.parse_args()

    if args.cpu_smoke:
        device, preset, clip_size = torch.device("cpu"), "demo", 32
        batch_sizes, batches, warmup = [2], 1, 1
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: run with --cpu-smoke for a CPU check")
        device, preset, batch_sizes, batches, warmup = (
            torch.device("cuda"), args.preset, args.batch_sizes, args.batches, args.warmup)
        clip_size = 224 if preset == "paper" else 112
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    model = freeze(build_echo_encoder(preset, clip_size=None if preset == "paper" else clip_size)).to(device)
    results = [measure(model, b, clip_size, device, warmup, batches) for b in batch_sizes]
    report = {
        "benchmark": "embed_echo_views",
        "preset": preset,
        "clip": [16, clip_size, clip_size, 3],
        "parameters": count_parameters(model),
        "precision": "bf16 autocast" if device.type == "cuda" else "fp32",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "results": results,
        "views_encoded": embed_echo_views.encoded_view_count(),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
