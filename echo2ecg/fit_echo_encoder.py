"""A stand-in for EchoPrime's pretrained echo encoder, for runs without its weights.

A randomly initialised, frozen MViT read through its class-token output carries only part of
a heart's morphology (held-out ridge R2 for LVEF about 0.1 at 112 px; 0.3-0.4 at 32 px, where
cavity size alone shows in the coarse patches). Without EchoPrime's
weights the workflow therefore first trains the echo encoder briefly, with supervision, on a
separate synthetic echo corpus: its own seed, its own patients (never the cohort's), single
views rendered by ``echo2ecg.synthesize_cohort`` and prepared exactly as real views are
(``echo2ecg.prepare_echo_clips.prepare_view_clip``). The encoder regresses z-scored echo
measurements (LVEDV, LVESV, LVEF, wall thickness, valve disease) from one view, with AdamW, for
a configured number of steps (never for a time: the same config gives the same encoder, on CPU
bit for bit, however fast the machine is). The readout is the embedding itself
(:class:`MeasurementReadout`): its first dimensions are trained to be the z-scored measurements,
so that what varies in the frozen 512-d embedding is the heart, as in a report-trained EchoPrime
embedding, and not what a random network also sees (tint, depth, clip length). With a separate
linear readout a change of some training clips turned a fit whose centred embedding was one LVEF
direction (97 % of its variance) into one whose largest directions followed tint, depth and clip
length. Which measurement dominates still depends on the fit's trajectory (on the demo, PC1's
correlation with LVEF was -0.70 in one fit and -0.22 after a further small change of the clips),
and so does how well the demo's pre-training aligns.

Training views are rendered afresh at every step (a new cine of a training patient: random
view type, frame rate, length, depth, phase and speckle), so the encoder never sees the same
clip twice. Held-out patients get ``views_per_patient`` views each, rendered once; the
returned metrics compare how well their frozen embeddings predict LVEF (cross-validated ridge
R2, grouped by patient) before and after training.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import r2_score
from torch import nn

from echo2ecg.held_out_readout import out_of_fold_predictions
from echo2ecg.echo_encoder import build_echo_encoder, normalise_clips
from echo2ecg.prepare_echo_clips import EchoClipPreparation, needed_frame_indices, prepare_view_clip
from echo2ecg.qc import RecordFault
from echo2ecg.synthesize_cohort.echo import VIEW_TYPES, render_echo_view, tint
from echo2ecg.synthesize_cohort.hearts import sample_hearts

DEFAULT_FIT_CONFIG: dict = {
    "seed": 1234,                      # the stand-in corpus's own seed (not the cohort's)
    "n_patients": 400,                 # corpus patients (training + held out)
    "held_out_fraction": 0.2,          # share of corpus patients kept for the metrics
    "views_per_patient": 3,            # held-out views rendered per held-out patient
    "steps": 120,                      # optimiser steps (the whole training; no wall-clock stop)
    "batch_size": 8,
    "lr": 1e-3,
    "weight_decay": 0.05,
    "warmup_steps": 10,
    "clip_size": 112,                  # must equal the clip size the workflow prepares views at
    "resize": "opencv_cubic",          # must equal the workflow's echo_clips.resize (RESIZE_METHODS)
    "preset": "demo",
    "targets": ["lvedv", "lvesv", "lvef", "wall_mm", "shd"],
    "frame_size": [128, 160],          # rendered cine [height, width], pixels
    "n_frames": [20, 72],              # [min, max] frames per rendered cine
    "fps": [30.0, 80.0],               # [min, max] frame rate
    "view_types": list(VIEW_TYPES),     # view types drawn for the corpus (echo2ecg.synthesize_cohort.echo)
    "tint_fraction": 0.5,              # share of views given an RGB tint (as colour machines store)
    "ridge_folds": 5,
}


def fit_config(cfg: dict | None) -> dict:
    """``cfg`` over the defaults; unknown keys are an error naming the key."""
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(DEFAULT_FIT_CONFIG))
    if unknown:
        raise ValueError(f"unknown fit_echo_encoder key(s): {', '.join(unknown)} (known: {', '.join(DEFAULT_FIT_CONFIG)})")
    merged = {**DEFAULT_FIT_CONFIG, **cfg}
    if merged["preset"] == "paper":
        merged["clip_size"] = 224
    return merged


def render_views(
    hearts: list[dict],
    rng: np.random.Generator,
    cfg: dict,
    preparation: EchoClipPreparation,
) -> tuple[np.ndarray, np.ndarray]:
    """One prepared view per heart: uint8 clips (B, 16, S, S, 3) and n_valid (B,).

    A view whose sector cannot be found is rendered again with a new draw.
    """
    height, width = cfg["frame_size"]
    clips = np.zeros((len(hearts), *preparation.clip_shape), dtype=np.uint8)
    n_valid = np.zeros(len(hearts), dtype=np.int64)
    for i, heart in enumerate(hearts):
        for _attempt in range(5):
            n_frames = int(rng.integers(cfg["n_frames"][0], cfg["n_frames"][1] + 1))
            fps = float(rng.uniform(*cfg["fps"]))
            view_type = str(rng.choice(cfg["view_types"]))
            frames = render_echo_view(heart, view_type, n_frames, fps, height, width, rng)
            if rng.random() < cfg["tint_fraction"]:
                frames = tint(frames)
            try:
                clips[i], n_valid[i] = prepare_view_clip(frames[needed_frame_indices(n_frames, preparation)], preparation)
                break
            except RecordFault:
                continue
        else:
            raise RuntimeError("fit_echo_encoder: five rendered views in a row had no detectable sector")
    return clips, n_valid


def embed_views(model: nn.Module, clips: np.ndarray, n_valid: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Frozen (eval-mode) 512-d embeddings of uint8 clips, fp32 on the model's device."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    with torch.inference_mode():
        for begin in range(0, len(clips), batch_size):
            x = normalise_clips(clips[begin:begin + batch_size], n_valid[begin:begin + batch_size], device=device)
            out.append(model(x).float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, model.head[-1].out_features), dtype=np.float32)


def ridge_r2(features: np.ndarray, target: np.ndarray, groups: np.ndarray, folds: int = 5) -> float:
    """Out-of-fold R2 of the workflow's ridge read-out (echo2ecg.assess_echo_embeddings: alpha by
    internal CV, predictions bounded by the training fold's range), folds grouped by patient."""
    return float(r2_score(target, out_of_fold_predictions(features, target, groups, folds)))


def held_out_metrics(features: np.ndarray, values: dict[str, np.ndarray], groups, folds: int) -> dict:
    """Ridge R2 of each measurement (LVEF included) from the frozen embeddings of held-out views."""
    return {name: ridge_r2(features, target, groups, folds) for name, target in values.items()}


class MeasurementReadout(nn.Module):
    """The stand-in's readout: the first ``n_targets`` dimensions of the embedding (no weights)."""

    def __init__(self, n_targets: int):
        super().__init__()
        self.n_targets = n_targets

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return embedding[:, :self.n_targets]


def held_out_readout_loss(features: np.ndarray, readout: nn.Module, values: np.ndarray) -> float:
    """MSE of the training objective (z-scored targets through the readout) on held-out views' embeddings."""
    with torch.inference_mode():
        return float(nn.functional.mse_loss(readout(torch.from_numpy(features)), torch.from_numpy(values)))


def held_out_evaluation(model: nn.Module, readout: nn.Module, clips, n_valid, values: dict[str, np.ndarray],
                        z_values: np.ndarray, groups, folds: int) -> tuple[dict, float]:
    """The held-out ridge R2 of every measurement and the held-out objective, from one pass of the
    held-out views through the encoder."""
    features = embed_views(model, clips, n_valid)
    return held_out_metrics(features, values, groups, folds), held_out_readout_loss(features, readout, z_values)


def _learning_rate(step: int, steps: int, lr: float, warmup_steps: int) -> float:
    """Linear warm-up, then cosine from ``lr`` to 0.1 * lr over the ``steps`` of training."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, steps - warmup_steps))
    return lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def fit_echo_encoder(cfg: dict | None, out_checkpoint: str | Path, log: logging.Logger | None = None) -> dict:
    """Train the stand-in echo encoder; save it to ``out_checkpoint``; return held-out metrics.

    The checkpoint is a dict ``{"state_dict", "preset", "targets", "metrics", "config"}``
    written with ``torch.save`` (plain tensors and Python values: loads with ``weights_only=True``).
    """
    log = log or logging.getLogger("echo2ecg.fit_echo_encoder")
    cfg = fit_config(cfg)
    rng = np.random.default_rng(cfg["seed"])
    torch.manual_seed(cfg["seed"])
    preparation = EchoClipPreparation(clip_size=cfg["clip_size"], resize=cfg["resize"])
    targets = list(cfg["targets"])

    hearts = sample_hearts(rng, cfg["n_patients"])
    missing = sorted(set(targets + ["lvef"]) - set(hearts.columns))
    if missing:
        raise ValueError(f"fit_echo_encoder: targets {missing} are not heart measurements ({list(hearts.columns)})")
    n_held_out = max(2, int(round(cfg["held_out_fraction"] * len(hearts))))
    if len(hearts) - n_held_out < 1:
        raise ValueError(f"fit_echo_encoder: n_patients={cfg['n_patients']} leaves no training patients")
    train_hearts, held_hearts = hearts.iloc[n_held_out:], hearts.iloc[:n_held_out]
    # z-scoring from the training patients only
    target_mean = train_hearts[targets].mean().to_numpy(dtype=np.float32)
    target_std = train_hearts[targets].std().replace(0.0, 1.0).to_numpy(dtype=np.float32)
    train_records = train_hearts.to_dict("records")
    train_values = ((train_hearts[targets].to_numpy(dtype=np.float32) - target_mean) / target_std)

    held_records = [h for h in held_hearts.to_dict("records") for _ in range(cfg["views_per_patient"])]
    held_groups = np.repeat(np.arange(n_held_out), cfg["views_per_patient"])
    start = time.perf_counter()
    held_clips, held_valid = render_views(held_records, rng, cfg, preparation)
    held_values = {name: np.asarray([h[name] for h in held_records], dtype=float) for name in ["lvef", *targets]}
    log.info("rendered %d held-out views of %d patients in %.1f s",
             len(held_records), n_held_out, time.perf_counter() - start)

    model = build_echo_encoder(cfg["preset"], clip_size=cfg["clip_size"], stochastic_depth_prob=0.0, dropout=0.0)
    if len(targets) > model.head[-1].out_features:
        raise ValueError(f"fit_echo_encoder: {len(targets)} targets for a {model.head[-1].out_features}-d embedding")
    readout = MeasurementReadout(len(targets))
    held_z = ((np.stack([held_values[name] for name in targets], 1) - target_mean) / target_std).astype(np.float32)
    metrics_before, loss_before = held_out_evaluation(model, readout, held_clips, held_valid, held_values, held_z,
                                                      held_groups, cfg["ridge_folds"])
    log.info("held-out ridge R2 before training: %s; held-out objective %.3f", _fmt(metrics_before), loss_before)

    parameters = list(model.parameters())  # the readout has no weights
    decay = [p for p in parameters if p.ndim >= 2]
    no_decay = [p for p in parameters if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg["lr"],
    )
    model.train()
    losses: list[float] = []
    train_start = time.perf_counter()
    for step in range(cfg["steps"]):
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, cfg["steps"], cfg["lr"], cfg["warmup_steps"])
        chosen = rng.integers(0, len(train_records), cfg["batch_size"])
        clips, n_valid = render_views([train_records[i] for i in chosen], rng, cfg, preparation)
        x = normalise_clips(clips, n_valid)
        y = torch.from_numpy(train_values[chosen])
        loss = nn.functional.mse_loss(readout(model(x)), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
        if (step + 1) % 25 == 0:
            log.info("step %d of %d, %.0f s: training loss (mean of last 25) %.3f", step + 1, cfg["steps"],
                     time.perf_counter() - train_start, float(np.mean(losses[-25:])))
    step = cfg["steps"]
    train_seconds = time.perf_counter() - train_start

    metrics_after, loss_after = held_out_evaluation(model, readout, held_clips, held_valid, held_values, held_z,
                                                    held_groups, cfg["ridge_folds"])
    log.info("held-out ridge R2 after %d steps (%.0f s): %s; held-out objective %.3f",
             step, train_seconds, _fmt(metrics_after), loss_after)
    window = max(1, min(25, len(losses) // 4))
    metrics = {
        "steps": step,  # no timings: the checkpoint and metrics of the same fit are the same bytes
        "train_loss_first": float(np.mean(losses[:window])) if losses else float("nan"),
        "train_loss_last": float(np.mean(losses[-window:])) if losses else float("nan"),
        "n_train_patients": len(train_records),
        "n_held_out_patients": n_held_out,
        "n_held_out_views": len(held_records),
        "held_out_loss_before": loss_before,
        "held_out_loss_after": loss_after,
        "ef_r2_before": metrics_before["lvef"],
        "ef_r2_after": metrics_after["lvef"],
        **{f"{name}_r2_before": value for name, value in metrics_before.items() if name != "lvef"},
        **{f"{name}_r2_after": value for name, value in metrics_after.items() if name != "lvef"},
    }
    out_checkpoint = Path(out_checkpoint)
    out_checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "preset": cfg["preset"],
        "targets": targets,
        "metrics": metrics,
        "config": {**cfg, "target_mean": target_mean.tolist(), "target_std": target_std.tolist()},
    }, out_checkpoint)
    log.info("saved the stand-in echo encoder to %s", out_checkpoint)
    return metrics


def _fmt(values: dict) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in values.items())
