"""Echo view aggregation: a study's view embeddings -> one study embedding (RECIPE.md section 5).

Every aggregator first projects each 512-d view embedding to ``dim`` (1024) with one Linear,
then pools the valid views of each study (``valid`` is ``(B, V)`` bool, False = padding):

- ``attention`` (Echo2ECG): query = masked mean of the study's valid projected views; keys and
  values = all its projected views; one ``nn.MultiheadAttention(dim, n_heads)`` with the key
  padding mask. No LayerNorm, no feed-forward, no residual.
- ``mean``: masked mean of the valid projected views.
- ``cls`` (the authors' CLS pooling, paper Table 5): one learnable token (``cls_token``,
  shape ``(1, 1, dim)``, ``trunc_normal_(std=cls_init_std)`` with std 0.02 and
  the call's default bounds +-2, as the authors call it) shared by all studies
  goes through one post-norm transformer layer over the study's projected views:
  ``t = LayerNorm(token + MHA(token, views, views))`` (``n_heads`` heads, attention dropout
  ``cls_dropout`` 0.1, key padding mask), then
  ``out = LayerNorm(t + Dropout(Linear(GELU(Linear(t)))))`` with a hidden width of
  ``cls_mlp_ratio`` (4) x ``dim`` and dropout ``cls_dropout``. The token attends to the views
  only (cross-attention; the views are not updated, since only the token's output is used).
  Dropout acts in train mode only.
- ``single``: in training the data loader passes exactly one valid view per study (drawn per
  step); for evaluation (validation loss, retrieval) it passes all valid views, and the module's
  masked mean is then the mean of the study's view embeddings, as the authors' retrieval
  switches to mean pooling for a model without an aggregator (paper section 4.3).

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
    cls_dropout: float = 0.1     # the authors' CLS layer: attention and feed-forward dropout
    cls_mlp_ratio: float = 4.0   # feed-forward width / dim
    cls_init_std: float = 0.02   # truncated-normal std of the learnable token


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
    """Query = masked mean of the projected views, one MHA over the views."""

    def __init__(self, cfg: ViewAggregationConfig):
        super().__init__()
        self.proj = nn.Linear(cfg.view_dim, cfg.dim)
        self.attn = nn.MultiheadAttention(cfg.dim, cfg.n_heads, batch_first=True)

    def forward(self, views: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        h = self.proj(views)  # (B, V, dim)
        q = masked_mean(h, valid).unsqueeze(1)
        out, _ = self.attn(q, h, h, key_padding_mask=~valid, need_weights=False)
        return out[:, 0]


class ClsPooling(nn.Module):
    """The authors' CLS pooling: a learnable token through one post-norm transformer layer that
    attends over the study's projected views (see the module docstring)."""

    def __init__(self, cfg: ViewAggregationConfig):
        super().__init__()
        self.proj = nn.Linear(cfg.view_dim, cfg.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        nn.init.trunc_normal_(self.cls_token, std=cfg.cls_init_std)
        self.attn = nn.MultiheadAttention(cfg.dim, cfg.n_heads, dropout=cfg.cls_dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(cfg.dim)
        hidden = int(round(cfg.cls_mlp_ratio * cfg.dim))
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, hidden), nn.GELU(), nn.Linear(hidden, cfg.dim),
                                 nn.Dropout(cfg.cls_dropout))
        self.norm2 = nn.LayerNorm(cfg.dim)

    def forward(self, views: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        h = self.proj(views)  # (B, V, dim)
        token = self.cls_token.expand(h.shape[0], -1, -1).to(h.dtype)
        attended, _ = self.attn(token, h, h, key_padding_mask=~valid, need_weights=False)
        t = self.norm1(token + attended)          # post-norm: residual, then LayerNorm
        return self.norm2(t + self.mlp(t))[:, 0]


def build_view_aggregator(cfg: ViewAggregationConfig | None = None) -> nn.Module:
    """The aggregator of ``cfg.kind``: ``forward(views (B, V, view_dim), valid (B, V) bool) -> (B, dim)``."""
    cfg = cfg or ViewAggregationConfig()
    if cfg.kind == "attention":
        return AttentionPooling(cfg)
    if cfg.kind == "cls":
        return ClsPooling(cfg)
    if cfg.kind in ("mean", "single"):
        return MeanPooling(cfg)
    raise ValueError(f"unknown view aggregation kind {cfg.kind!r} (one of {', '.join(KINDS)})")
