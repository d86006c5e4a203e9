"""Projection heads into the shared 512-d space and the CLIP loss (RECIPE.md sections 5 and 6).

The loss is the paper's equation 1 in both directions: with L2-normalised ``z_ecg`` and
``z_echo`` and ``s_ij = cos(z_ecg^i, z_echo^j) / tau``,
``L_ECG->Echo = -1/B sum_i log(exp(s_ii) / sum_j exp(s_ij))``, ``L_Echo->ECG`` the same on
``s^T``, and ``L = 0.5 L_ECG->Echo + 0.5 L_Echo->ECG`` with tau = 0.5 fixed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ProjectionHead(nn.Module):
    """A bias-free Linear ``in_dim -> out_dim``."""

    def __init__(self, in_dim: int, out_dim: int = 512):
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def clip_logits(ecg_z: torch.Tensor, echo_z: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """``(B, B)`` cosine similarities / tau, ECG i against echo study j (computed in float32)."""
    return F.normalize(ecg_z.float(), dim=-1) @ F.normalize(echo_z.float(), dim=-1).T / tau


def clip_loss(ecg_z: torch.Tensor, echo_z: torch.Tensor, tau: float = 0.5,
              ecg_weight: float = 0.5) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of pairs (row i of both is one pair); ``ecg_weight`` on ECG->Echo."""
    logits = clip_logits(ecg_z, echo_z, tau)
    target = torch.arange(logits.shape[0], device=logits.device)
    return ecg_weight * F.cross_entropy(logits, target) + (1 - ecg_weight) * F.cross_entropy(logits.T, target)
