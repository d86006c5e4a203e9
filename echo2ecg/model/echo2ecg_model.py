"""The Echo2ECG model: ECG encoder, echo view aggregator and two projection heads (paper Fig. 1).

The frozen echo encoder is not part of it: studies arrive as their stored 512-d view
embeddings. Trainable parameters at the paper preset: 12,470,368, the paper's "12.5 M" (ECG
encoder 7,124,064 with OTiS's attention module, attention aggregator 4,723,712, heads 98,304 +
524,288); 10,691,680 with the encoder's ``fused`` attention layout (see ``ecg_encoder``).
"""
from __future__ import annotations

import torch
from torch import nn

from echo2ecg.model.ecg_encoder import ECGEncoder, ECGEncoderConfig
from echo2ecg.model.projection import ProjectionHead, clip_loss
from echo2ecg.model.view_aggregation import ViewAggregationConfig, build_view_aggregator


# How the stored view embeddings are standardised before the aggregator (config pretrain.view_standardisation).
VIEW_STANDARDISATION = ("centre", "per_dimension", "none")


class Echo2ECG(nn.Module):
    def __init__(self, ecg_encoder: nn.Module, view_aggregator: nn.Module, ecg_head: nn.Module,
                 echo_head: nn.Module, tau: float = 0.5):
        super().__init__()
        self.ecg_encoder = ecg_encoder
        self.view_aggregator = view_aggregator
        self.ecg_head = ecg_head
        self.echo_head = echo_head
        self.tau = tau
        # Standardisation of the frozen view embeddings (from the training split's views; identity
        # until set_view_statistics): an affine map in front of the aggregator's first Linear, i.e.
        # a reparametrisation of that layer, not a new layer. Stored embeddings can share one large
        # common component (the demo's: 87 % of their norm) that otherwise grows through the
        # aggregator until every study embeds alike and the CLIP loss sits at log(batch), as the
        # demo's did before this map existed.
        dim = view_aggregator.proj.in_features
        self.register_buffer("view_mean", torch.zeros(dim))
        self.register_buffer("view_scale", torch.ones(dim))

    @torch.no_grad()
    def set_view_statistics(self, views: torch.Tensor, valid: torch.Tensor, mode: str = "centre",
                            eps: float = 1e-6) -> None:
        """Set the view standardisation from ``views (S, V, D)`` and their ``valid (S, V)`` mask:
        ``centre`` subtracts the mean view and divides by one overall SD (the directions keep their
        relative variance), ``per_dimension`` divides each dimension by its own SD, ``none`` resets."""
        if mode not in VIEW_STANDARDISATION:
            raise ValueError(f"view standardisation must be one of {VIEW_STANDARDISATION}, not {mode!r}")
        real = views[valid].float()
        if mode == "none" or len(real) < 2:
            self.view_mean.zero_()
            self.view_scale.fill_(1.0)
            return
        mean = real.mean(dim=0)
        spread = real.std(dim=0) if mode == "per_dimension" else (real - mean).pow(2).mean().sqrt().expand_as(mean)
        self.view_mean.copy_(mean)
        self.view_scale.copy_(spread + eps)

    def encode_ecg(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 12, T)`` -> ``(B, D)``: the representation the features use (no head, no L2 norm)."""
        return self.ecg_encoder(x)

    def embed_ecg(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 12, T)`` -> ``(B, 512)`` aligned ECG embedding (not normalised)."""
        return self.ecg_head(self.ecg_encoder(x))

    def embed_study(self, views: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``(B, V, 512)`` view embeddings and ``(B, V)`` valid mask -> ``(B, 512)`` aligned study embedding."""
        zero = torch.zeros((), dtype=views.dtype, device=views.device)
        views = torch.where(valid[..., None], (views - self.view_mean) / self.view_scale, zero)
        return self.echo_head(self.view_aggregator(views, valid))

    def forward(self, x: torch.Tensor, views: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """CLIP loss of a batch of pairs (row i of ``x`` is paired with study i)."""
        return clip_loss(self.embed_ecg(x), self.embed_study(views, valid), self.tau)


def build_echo2ecg(ecg_cfg: ECGEncoderConfig | None = None, aggregation_cfg: ViewAggregationConfig | None = None,
                   shared_dim: int = 512, tau: float = 0.5) -> Echo2ECG:
    """The model from its configs (paper defaults): encoder, aggregator, ECG D -> 512 and echo 1024 -> 512 heads."""
    ecg_cfg = ecg_cfg or ECGEncoderConfig()
    aggregation_cfg = aggregation_cfg or ViewAggregationConfig()
    return Echo2ECG(
        ECGEncoder(ecg_cfg),
        build_view_aggregator(aggregation_cfg),
        ProjectionHead(ecg_cfg.embed_dim, shared_dim),
        ProjectionHead(aggregation_cfg.dim, shared_dim),
        tau=tau,
    )
