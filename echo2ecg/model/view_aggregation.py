"""Echo view aggregation: a study's view embeddings -> one study embedding (RECIPE.md section 5).

Every aggregator first projects each 512-d view embedding to ``dim`` (1024) with one Linear,
then pools the valid views of each study (``valid`` is ``(B, V)`` bool, False = padding):

- ``attention`` (Echo2ECG): query = masked mean of the study's valid projected views; keys and
  values = all its projected views; one ``nn.MultiheadAttention(dim, n_heads)`` with the key
  padding mask. No LayerNorm, no feed-forward, no residual.
- ``mean``: masked mean of the valid projected views.
- ``cls``: as ``attention``, but the query is one learnable token (``query``, shape
  ``(1, 1, dim)``, N(0, 0.02)) shared by all studies instead of the study's mean, so the
  ablation changes only where the query comes from. (The authors' code puts that token
  through a post-norm transformer layer with a feed-forward and dropout 0.1; the recipe names
  only "a learnable token", and we keep the aggregator otherwise identical to ``attention``.)
- ``single``: the data loader passes exactly one valid view per study (drawn per step in
  training, a fixed one for evaluation); the module projects it (masked mean over one view).

Padding views have no effect on any kind (masked out of the mean and of the attention), and
``mean`` and ``attention`` are invariant to the order of the views.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

KINDS = ("attention", "mean", "cls", "single")


@dataclass
class ViewAggregationConfig:
    kind: str = "attention"
    view_dim: int = 512
    dim: int = 1024
    n_heads: int = 4


def masked_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of ``x`` ``(B, V, D)`` over the entries where ``valid`` ``(B, V)`` is True."""
    w = valid.to(x.dtype).unsqueeze(-1)
    return (x * w).sum(dim=1) / w.sum(dim=1).clamp(min=1)


class MeanPooling(nn.Module):
    def __init__(self, cfg: ViewAggregationConfig):
        super().__init__()
        self.proj = nn.Linear(cfg.view_dim, cfg.dim)

    def forward(self, views: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return masked_mean(self.proj(views), valid)


class AttentionPooling(nn.Module):
    """Query = masked mean of the projected views (or a learnable token), one MHA over the views."""

    def __init__(self, cfg: ViewAggregationConfig, learned_query: bool = False):
        super().__init__()
        self.proj = nn.Linear(cfg.view_dim, cfg.dim)
        self.attn = nn.MultiheadAttention(cfg.dim, cfg.n_heads, batch_first=True)
        self.query = nn.Parameter(torch.randn(1, 1, cfg.dim) * 0.02) if learned_query else None

    def forward(self, views: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        h = self.proj(views)  # (B, V, dim)
        if self.query is None:
            q = masked_mean(h, valid).unsqueeze(1)
        else:
            q = self.query.expand(h.shape[0], -1, -1).to(h.dtype)
        out, _ = self.attn(q, h, h, key_padding_mask=~valid, need_weights=False)
        return out[:, 0]


def build_view_aggregator(cfg: ViewAggregationConfig | None = None) -> nn.Module:
    """The aggregator of ``cfg.kind``: ``forward(views (B, V, view_dim), valid (B, V) bool) -> (B, dim)``."""
    cfg = cfg or ViewAggregationConfig()
    if cfg.kind == "attention":
        return AttentionPooling(cfg)
    if cfg.kind == "cls":
        return AttentionPooling(cfg, learned_query=True)
    if cfg.kind in ("mean", "single"):
        return MeanPooling(cfg)
    raise ValueError(f"unknown view aggregation kind {cfg.kind!r} (one of {', '.join(KINDS)})")
