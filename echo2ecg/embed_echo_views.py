"""Encode every prepared echo view once with the frozen echo encoder (RECIPE.md section 4).

Input: one clip shard written by ``echo2ecg.prepare_echo_clips.write_clip_shard``: a uint8
``.npy`` of shape (N, 16, S, S, 3) and a parquet index with at least ``view_id``, ``row`` (the
clip's row in the ``.npy``) and ``n_valid`` (how many of the 16 frames are real). Output: a
float32 ``.npy`` of shape (N, 512), one view embedding per row, and a parquet index
(``view_id``, ``row``, plus ``study_id`` when the clip index has it).

The encoder is frozen, so embeddings are computed once per view and stored; nothing
downstream re-encodes a video. :data:`ENCODED_VIEW_COUNT` counts the views passed through
the encoder in this process, so that a run can show each view was encoded exactly once.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from echo2ecg.checkpoints import CheckpointError, load_checkpoint, load_state
from echo2ecg.echo_encoder import (
    build_echo_encoder, clip_size_of, freeze, load_echoprime_state_dict, normalise_clips,
)

# Views passed through the echo encoder by this process (all shards together).
ENCODED_VIEW_COUNT = 0

STANDIN_DESCRIPTION = (
    "no EchoPrime weights configured; using the synthetic stand-in encoder trained by fit_echo_encoder"
)


def encoded_view_count() -> int:
    """How many views this process has passed through the echo encoder so far."""
    return ENCODED_VIEW_COUNT


def reset_encoded_view_count() -> None:
    global ENCODED_VIEW_COUNT
    ENCODED_VIEW_COUNT = 0


def load_standin_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """The stand-in encoder saved by ``fit_echo_encoder`` (loaded with ``weights_only=True``)."""
    path = Path(path)
    checkpoint = load_checkpoint(path, "stand-in echo encoder (fit_echo_encoder)", ("state_dict", "preset", "config"))
    model = build_echo_encoder(checkpoint["preset"], clip_size=checkpoint["config"].get("clip_size"))
    state = checkpoint["state_dict"]
    missing = sorted(set(model.state_dict()) ^ set(state))
    if missing:
        raise CheckpointError(f"stand-in echo encoder checkpoint {path} does not fit its preset: keys {missing[:8]} differ")
    load_state(model, state, path, "stand-in echo encoder")
    return model, checkpoint


def load_frozen_echo_encoder(cfg: dict, standin_checkpoint: str | Path | None = None) -> tuple[nn.Module, str]:
    """The frozen echo encoder a run uses, and a sentence saying which one it is.

    ``cfg``: ``preset`` (paper | demo), ``echoprime_checkpoint`` (path or None) and optionally
    ``clip_size`` (the demo preset's clip side). With a checkpoint, EchoPrime's weights load
    strictly into the preset's module. Without one, the
    synthetic stand-in trained by ``fit_echo_encoder`` is loaded from ``standin_checkpoint``.
    """
    preset = cfg.get("preset", "paper")
    echoprime = cfg.get("echoprime_checkpoint")
    if echoprime:
        model = load_echoprime_state_dict(build_echo_encoder(preset, clip_size=cfg.get("clip_size")), echoprime)
        description = f"EchoPrime echo encoder weights from {echoprime} (preset {preset}, loaded strictly)"
    else:
        if not standin_checkpoint:
            raise ValueError(
                "echo encoder: no EchoPrime weights configured (echo_encoder.echoprime_checkpoint is null) "
                "and no stand-in checkpoint from fit_echo_encoder was given"
            )
        model, checkpoint = load_standin_checkpoint(standin_checkpoint)
        if checkpoint["preset"] != preset:
            raise ValueError(
                f"echo encoder: configured preset {preset!r} but the stand-in checkpoint {standin_checkpoint} "
                f"was trained with preset {checkpoint['preset']!r}; refit it with the configured preset"
            )
        description = (
            f"{STANDIN_DESCRIPTION} (preset {preset}, clip size {clip_size_of(model)}, "
            f"checkpoint {standin_checkpoint})"
        )
    return freeze(model), description


def encode_clips(model: nn.Module, clips: np.ndarray, n_valid: np.ndarray, device: str | torch.device) -> np.ndarray:
    """512-d embeddings (float32, (B, 512)) of a batch of uint8 clips (B, 16, S, S, 3).

    bf16 autocast on CUDA, fp32 elsewhere; always under ``torch.inference_mode``.
    """
    global ENCODED_VIEW_COUNT
    device = torch.device(device)
    with torch.inference_mode():
        x = normalise_clips(torch.from_numpy(np.ascontiguousarray(clips)), n_valid, device=device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            embeddings = model(x)
    ENCODED_VIEW_COUNT += len(clips)
    return embeddings.float().cpu().numpy()


def embed_clip_shard(
    clips_npy: str | Path,
    clips_index_parquet: str | Path,
    model: nn.Module,
    out_npy: str | Path,
    out_index: str | Path,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    log: logging.Logger | None = None,
) -> dict:
    """Embed every view of one clip shard; write the (N, 512) float32 ``.npy`` and its index.

    Rows of the output follow the rows of the clip index. Returns a summary (``n_views``,
    ``encoded_view_count`` of this process); how long it took goes to the log only (the summary is
    written as a result file, and identical work must give identical bytes).
    """
    log = log or logging.getLogger("echo2ecg.embed_echo_views")
    clips = np.load(clips_npy, mmap_mode="r")
    index = pd.read_parquet(clips_index_parquet)
    for column in ("view_id", "row", "n_valid"):
        if column not in index.columns:
            raise ValueError(f"clip index {clips_index_parquet} has no column {column!r}")
    n_views = len(index)
    if n_views and (clips.ndim != 5 or clips.shape[-1] != 3 or clips.dtype != np.uint8):
        raise ValueError(f"{clips_npy}: expected uint8 clips (N, F, S, S, 3), found {clips.dtype} {clips.shape}")
    if n_views and clips.shape[2] != clip_size_of(model):
        raise ValueError(
            f"{clips_npy}: clips are {clips.shape[2]} px but the echo encoder takes {clip_size_of(model)} px; "
            "prepare the clips at the encoder's clip size"
        )
    model.eval().to(device)
    rows = index["row"].to_numpy(dtype=np.int64)
    n_valid = index["n_valid"].to_numpy(dtype=np.int64)
    embedding_dim = model.head[-1].out_features
    out_npy, out_index = Path(out_npy), Path(out_index)
    out_npy.parent.mkdir(parents=True, exist_ok=True)
    out_index.parent.mkdir(parents=True, exist_ok=True)
    embeddings = np.lib.format.open_memmap(out_npy, mode="w+", dtype=np.float32, shape=(n_views, embedding_dim))
    start = time.perf_counter()
    for begin in range(0, n_views, batch_size):
        chosen = rows[begin:begin + batch_size]
        embeddings[begin:begin + len(chosen)] = encode_clips(model, clips[chosen], n_valid[begin:begin + batch_size], device)
    embeddings.flush()
    del embeddings
    seconds = time.perf_counter() - start
    out = pd.DataFrame({"view_id": index["view_id"].astype(str).to_numpy(), "row": np.arange(n_views, dtype=np.int64)})
    if "study_id" in index.columns:
        out.insert(1, "study_id", index["study_id"].astype(str).to_numpy())
    out.to_parquet(out_index, index=False)
    summary = {"n_views": n_views, "encoded_view_count": ENCODED_VIEW_COUNT}
    log.info(
        "embedded %d views of %s in %.1f s (%.1f views/s); views encoded by this process so far: %d",
        n_views, clips_npy, seconds, n_views / seconds if seconds > 0 else float("nan"), ENCODED_VIEW_COUNT,
    )
    return summary


def select_device(device: str) -> str:
    """``auto`` -> cuda when available, else cpu."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("echo_encoder.device is cuda but no CUDA device is available")
    return device


def gather_view_embeddings(index_paths, summary_paths, excluded_paths, views_path, *, max_excluded_fraction: float,
                           log: logging.Logger | None = None):
    """One index of every view embedding (cohort, shard, row, view_id, study_id, npy_path), the
    prepare_echo_clips ledger, read (ingested views) = kept (embedded) + excluded per cohort, and
    which encoder made the embeddings with how many views each shard job encoded."""
    import json

    from echo2ecg.ingest import concat_tables
    from echo2ecg.qc import ledger_frame, reconcile
    from echo2ecg.sharding import gather_shard_indices

    log = log or logging.getLogger("echo2ecg.embed_echo_views")
    index = gather_shard_indices(index_paths).astype({"view_id": "string", "study_id": "string"})
    if index.duplicated(["cohort", "view_id"]).any():
        raise AssertionError("a view was embedded more than once")
    summaries = [json.loads(Path(p).read_text()) for p in summary_paths]
    descriptions = sorted({s["echo_encoder"] for s in summaries})
    encoder = {"echo_encoder": descriptions, "views_encoded": int(sum(s["n_views"] for s in summaries)),
               "views_encoded_per_job": [int(s["encoded_view_count"]) for s in summaries]}
    excluded = concat_tables(excluded_paths, empty=ledger_frame())
    views = pd.read_parquet(views_path)
    rows = []
    for cohort in sorted(set(index["cohort"]) | set(excluded["cohort"])):
        rows.append(reconcile("prepare_echo_clips", cohort, int((views["cohort"] == cohort).sum()),
                              int((index["cohort"] == cohort).sum()), excluded[excluded["cohort"] == cohort],
                              max_excluded_fraction))
    log.info("view embeddings: %d views by %s", len(index), "; ".join(descriptions))
    return index, excluded, pd.DataFrame(rows), encoder
