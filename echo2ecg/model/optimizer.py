"""AdamW with layer-wise lr decay on the ECG encoder, and the per-step lr schedule (RECIPE.md section 6).

Parameter groups (each carries ``lr_scale`` and ``weight_decay``; :func:`apply_lr` sets
``lr = base_lr * lr_scale``):

- ECG encoder block ``i`` of ``depth``: ``lr_scale = layer_decay ** (depth - 1 - i)``; the patch
  embedding, the CLS token and the variate embedding get block 0's scale (OTiS and the authors
  put position embeddings with the patch embedding); the encoder's final ``norm`` scale 1.
- Everything else (view aggregator, projection heads): scale 1.
- Weight decay per the authors' exclusion list (their ``exclude_from_wd``): none on 1-D
  parameters (biases, LayerNorm weights), on the CLS tokens (the encoder's and the CLS
  pooling's ``cls_token``), on the projection heads (``ecg_head``, ``echo_head``) and on the view
  aggregator (attention pooling, or whichever aggregator the variant has: all its parameters,
  its view projection included). Decayed: the ECG encoder's matrices (patch embedding, attention,
  MLP) and its variate embedding (2-D, decayed in OTiS and the authors' code).

Schedule per optimiser step: linear warm-up over ``warmup_epochs`` from ``start_ratio * lr`` to
``lr``, then a cosine down to ``min_ratio * lr`` at the end of the last epoch.
"""
from __future__ import annotations

import math

import torch
from torch import nn

NO_DECAY_NAMES = ("cls_token",)                                    # leaf names, wherever they are
NO_DECAY_MODULES = ("view_aggregator.", "ecg_head.", "echo_head.")  # every parameter below these


def decays(name: str, p: torch.Tensor) -> bool:
    """Whether the parameter ``name`` of an :class:`Echo2ECG` model gets weight decay (the authors' groups)."""
    return not (p.ndim <= 1 or name.split(".")[-1] in NO_DECAY_NAMES or name.startswith(NO_DECAY_MODULES))


def _encoder_scale(name: str, depth: int, layer_decay: float) -> float:
    """lr scale of an ECG-encoder parameter named relative to the encoder."""
    if name.startswith("blocks."):
        return layer_decay ** (depth - 1 - int(name.split(".")[1]))
    if name.startswith(("patch_embed.", "cls_token", "variate_embedding.")):
        return layer_decay ** (depth - 1)
    return 1.0


def param_groups(model: nn.Module, weight_decay: float, layer_decay: float) -> list[dict]:
    """AdamW parameter groups of an :class:`Echo2ECG` model, one per (lr scale, decay) pair."""
    depth = len(model.ecg_encoder.blocks)
    groups: dict[tuple[float, float], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("ecg_encoder."):
            scale = _encoder_scale(name[len("ecg_encoder."):], depth, layer_decay)
        else:
            scale = 1.0
        decay = weight_decay if decays(name, p) else 0.0
        group = groups.setdefault((scale, decay), {"params": [], "names": [], "lr_scale": scale, "weight_decay": decay})
        group["params"].append(p)
        group["names"].append(name)
    return list(groups.values())


def build_optimizer(model: nn.Module, lr: float = 5e-4, betas: tuple[float, float] = (0.9, 0.999),
                    weight_decay: float = 1e-7, layer_decay: float = 0.75, fused: bool = False) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`; ``fused`` selects PyTorch's fused kernel (CUDA)."""
    optimizer = torch.optim.AdamW(param_groups(model, weight_decay, layer_decay), lr=lr, betas=tuple(betas),
                                  fused=fused or None)
    apply_lr(optimizer, lr)
    return optimizer


def lr_at_step(step: int, steps_per_epoch: int, epochs: int, base_lr: float, warmup_epochs: float = 2,
               start_ratio: float = 0.1, min_ratio: float = 0.1) -> float:
    """The base lr at optimiser step ``step`` (0-based) of ``epochs * steps_per_epoch``."""
    warmup = warmup_epochs * steps_per_epoch
    total = epochs * steps_per_epoch
    if step < warmup:
        return base_lr * (start_ratio + (1 - start_ratio) * step / warmup)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base_lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def apply_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's lr to ``lr * lr_scale`` (scale 1 for groups without one)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
