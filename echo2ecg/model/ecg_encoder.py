"""The ECG encoder: OTiS "tiny", a ViT over per-lead patches (RECIPE.md section 3).

An ECG ``(B, 12, T)`` is cut into patches of ``patch_size`` samples per lead
(``Conv2d(1 -> D, kernel = stride = (1, patch_size))``, then LayerNorm and GELU), giving
``12 x T / patch_size`` tokens (504 at T = 1008) plus one CLS token. Position is split over the
channels as in OTiS: the first ``D/2`` channels carry a learnable *variate embedding*
(``nn.Embedding(n_leads + 1, D/2, padding_idx=0)``, lead ids 1..12), the last ``D/2`` a fixed
1-D sin-cos *temporal embedding* over the patch index. The representation is
``LayerNorm(mean of the patch tokens)`` (CLS excluded).

Parameters at the paper preset (12 blocks, 192-d, 3 heads): 5,345,376 -- not the 7.1 M the
paper quotes. The difference is OTiS's attention module: it feeds its own ``qkv`` projection
into an ``nn.MultiheadAttention`` that projects q, k and v *again* (``in_proj``) and projects
the output again (``out_proj``) before ``proj``; 4 D (D + 1) = 148,224 parameters per block,
1,778,688 in all, 7,124,064 with them. The two stacked linear maps compute exactly one linear
map, so this module has one projection each way and :func:`load_otis_checkpoint` folds the
pairs of an OTiS checkpoint into it (``W = W_in W_qkv``, ``W = W_proj W_out``): the same
function, fewer parameters and FLOPs. See :func:`otis_parameter_count`.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ECGEncoderConfig:
    n_leads: int = 12
    patch_size: int = 24  # samples per token
    n_samples: int = 1008  # model input length T (42 patches of 24)
    embed_dim: int = 192
    depth: int = 12
    n_heads: int = 3
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path: float = 0.1  # stochastic depth of the last block (linear in depth), training only
    ln_eps: float = 1e-6

    @property
    def n_patches(self) -> int:
        return self.n_samples // self.patch_size

    @classmethod
    def from_dict(cls, d: dict | None) -> "ECGEncoderConfig":
        """The model numbers of a config section (other keys of the section, e.g. checkpoint paths, are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in names})


def sincos_embedding(n_positions: int, dim: int) -> torch.Tensor:
    """MAE's 1-D sin-cos table ``(n_positions, dim)``: [sin(p w_k), cos(p w_k)], w_k = 10000^(-2k/dim)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = torch.arange(n_positions, dtype=torch.float64)[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def fit_temporal_table(table: torch.Tensor, n_patches: int) -> torch.Tensor:
    """A temporal table for ``n_patches``: its first rows, or linearly interpolated when longer (OTiS's rule)."""
    if n_patches <= table.shape[0]:
        return table[:n_patches]
    return F.interpolate(table.T[None], size=n_patches, mode="linear", align_corners=False)[0].T


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch per sample with probability ``p`` (training only)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)


class Attention(nn.Module):
    def __init__(self, dim: int, n_heads: int, qkv_bias: bool):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)  # (B, H, N, D/H)
        return self.proj(x.transpose(1, 2).reshape(B, N, D))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (timm ViT layout: norm1, attn, norm2, mlp.fc1, mlp.fc2)."""

    def __init__(self, dim: int, n_heads: int, mlp_ratio: float, qkv_bias: bool, drop_path: float, ln_eps: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=ln_eps)
        self.attn = Attention(dim, n_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=ln_eps)
        self.mlp = MLP(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Per-lead patches: Conv2d(1 -> D, (1, p), stride (1, p)), LayerNorm, GELU -> (B, leads, patches, D)."""

    def __init__(self, patch_size: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(1, dim, kernel_size=(1, patch_size), stride=(1, patch_size))
        self.norm = nn.LayerNorm(dim)  # OTiS's patch norm uses LayerNorm's default eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.norm(self.proj(x.unsqueeze(1)).permute(0, 2, 3, 1)))


class ECGEncoder(nn.Module):
    def __init__(self, cfg: ECGEncoderConfig | None = None):
        super().__init__()
        cfg = cfg or ECGEncoderConfig()
        if cfg.embed_dim % 4:
            raise ValueError(f"embed_dim must be divisible by 4 (two sin-cos halves), got {cfg.embed_dim}")
        self.cfg = cfg
        half = cfg.embed_dim // 2
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.variate_embedding = nn.Embedding(cfg.n_leads + 1, half, padding_idx=0)
        self.register_buffer("lead_ids", torch.arange(1, cfg.n_leads + 1), persistent=False)
        # fixed, but saved: an OTiS table (possibly interpolated) travels with our checkpoints
        self.register_buffer("temporal_embedding", sincos_embedding(cfg.n_patches, half))
        rates = torch.linspace(0, cfg.drop_path, cfg.depth).tolist()
        self.blocks = nn.ModuleList(
            Block(cfg.embed_dim, cfg.n_heads, cfg.mlp_ratio, cfg.qkv_bias, rate, cfg.ln_eps) for rate in rates
        )
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.ln_eps)
        self._init_weights()

    def _init_weights(self) -> None:
        """OTiS's initialisation: xavier-uniform linears (and patch conv, as a linear), zero biases, N(0, 0.02) tokens."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        w = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.proj.bias)
        nn.init.normal_(self.cls_token, std=0.02)
        with torch.no_grad():
            nn.init.trunc_normal_(self.variate_embedding.weight, std=0.02)
            self.variate_embedding.weight[0].zero_()

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens with variate and temporal embeddings, ``(B, leads * patches, D)``, lead-major order."""
        B, L, T = x.shape
        if L != self.cfg.n_leads or T % self.cfg.patch_size:
            raise ValueError(f"expected (B, {self.cfg.n_leads}, T) with T divisible by {self.cfg.patch_size}, got {tuple(x.shape)}")
        tokens = self.patch_embed(x)  # (B, L, P, D)
        P = tokens.shape[2]
        variate = self.variate_embedding(self.lead_ids)[:, None, :].expand(L, P, -1)
        temporal = fit_temporal_table(self.temporal_embedding, P)[None, :, :].expand(L, P, -1)
        position = torch.cat([variate, temporal.to(variate.dtype)], dim=-1)  # (L, P, D)
        return (tokens + position).flatten(1, 2)

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Prepend CLS and run the blocks over any subset of tokens (masked pre-training): ``(B, 1 + N, D)``."""
        x = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 12, T)`` ECGs -> ``(B, D)`` representation: LayerNorm of the mean patch token."""
        return self.norm(self.encode_tokens(self.tokenize(x))[:, 1:].mean(dim=1))


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def otis_parameter_count(cfg: ECGEncoderConfig) -> int:
    """Parameters OTiS's own module has for ``cfg``: ours plus the doubled attention projections.

    Per block OTiS adds ``nn.MultiheadAttention``'s in_proj (3 D x D + 3 D) and out_proj
    (D x D + D) on top of ``qkv`` and ``proj``; its pooled-feature norm matches our ``norm``.
    """
    D = cfg.embed_dim
    return count_parameters(ECGEncoder(cfg)) + cfg.depth * 4 * D * (D + 1)


# --- OTiS checkpoints ---------------------------------------------------------------------

def _read_checkpoint(path: str | Path) -> dict:
    # OTiS/MAE checkpoints may carry their argparse Namespace next to the weights
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(path, map_location="cpu", weights_only=True)


def load_otis_checkpoint(encoder: ECGEncoder, path: str | Path, ecg_domain_offset: int | None = None) -> dict:
    """Load an OTiS checkpoint (``{"model": state_dict, "domain_offsets": {"ecg": k}, ...}``) into ``encoder``.

    - variate table ``pos_embed_y.weight`` (e.g. 39 rows over several domains, row 0 padding):
      rows ``k + 1 .. k + n_leads`` of the ECG domain (offset ``k`` = ``ecg_domain_offset`` or the
      checkpoint's ``domain_offsets["ecg"]``), plus a zero padding row;
    - temporal table ``pos_embed_x`` ``(1, 1 + P_ckpt, D/2)``: its CLS row is added to our
      ``cls_token``'s temporal half (OTiS adds it there), the rest cut or linearly interpolated
      to our patch count;
    - attention: OTiS's ``qkv`` followed by ``mha.in_proj`` and ``mha.out_proj`` followed by
      ``proj`` are folded into our single ``qkv`` and ``proj`` (exactly the same function);
    - ``fc_norm`` (fine-tuned models) or else ``norm`` (pre-trained MAE encoders) -> ``norm``;
      decoder, heads and anything else are reported as ignored.
    Returns a report of what was loaded. Raises if an encoder weight is missing or mis-shaped.
    """
    checkpoint = _read_checkpoint(path)
    state = checkpoint.get("model", checkpoint)
    if ecg_domain_offset is None:
        offsets = checkpoint.get("domain_offsets") or {}
        if "ecg" not in offsets:
            raise ValueError(f"{path}: no domain_offsets['ecg'] in the checkpoint; configure ecg_encoder.otis_ecg_domain_offset")
        ecg_domain_offset = int(offsets["ecg"])
    cfg = encoder.cfg
    ours = encoder.state_dict()
    new: dict[str, torch.Tensor] = {}
    used: set[str] = set()

    def take(key: str) -> torch.Tensor:
        if key not in state:
            raise KeyError(f"{path}: OTiS checkpoint lacks {key}")
        used.add(key)
        return state[key].float()

    for name in ("patch_embed.proj.weight", "patch_embed.proj.bias", "patch_embed.norm.weight", "patch_embed.norm.bias"):
        new[name] = take(name)
    width, patch = new["patch_embed.proj.weight"].shape[0], new["patch_embed.proj.weight"].shape[-1]
    if (width, patch) != (cfg.embed_dim, cfg.patch_size):
        raise ValueError(f"{path}: checkpoint has embed_dim {width} and patch_size {patch}, the encoder expects "
                         f"{cfg.embed_dim} and {cfg.patch_size}: shape mismatch")
    table = take("pos_embed_y.weight")
    rows = table[ecg_domain_offset + 1: ecg_domain_offset + 1 + cfg.n_leads]
    if rows.shape[0] != cfg.n_leads:
        raise ValueError(f"{path}: variate table has {table.shape[0]} rows, no {cfg.n_leads} ECG rows after offset {ecg_domain_offset}")
    new["variate_embedding.weight"] = torch.cat([torch.zeros(1, table.shape[1]), rows])
    cls = take("cls_token").clone()
    temporal_rows = None
    if "pos_embed_x" in state:
        pos_x = take("pos_embed_x")[0]
        cls[..., cls.shape[-1] // 2:] += pos_x[0]
        temporal_rows = pos_x.shape[0] - 1
        new["temporal_embedding"] = fit_temporal_table(pos_x[1:], cfg.n_patches)
    new["cls_token"] = cls
    D = cfg.embed_dim
    for i in range(cfg.depth):
        b = f"blocks.{i}."
        for name in ("norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
                     "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"):
            new[b + name] = take(b + name)
        w_qkv, b_qkv = take(b + "attn.qkv.weight"), take(b + "attn.qkv.bias")
        w_proj, b_proj = take(b + "attn.proj.weight"), take(b + "attn.proj.bias")
        if b + "attn.mha.in_proj_weight" in state:  # OTiS's doubled projections: fold them
            w_in, b_in = take(b + "attn.mha.in_proj_weight"), take(b + "attn.mha.in_proj_bias")
            w_out, b_out = take(b + "attn.mha.out_proj.weight"), take(b + "attn.mha.out_proj.bias")
            w_parts, b_parts = [], []
            for j in range(3):
                wi, bi = w_in[j * D:(j + 1) * D], b_in[j * D:(j + 1) * D]
                w_parts.append(wi @ w_qkv[j * D:(j + 1) * D])
                b_parts.append(wi @ b_qkv[j * D:(j + 1) * D] + bi)
            w_qkv, b_qkv = torch.cat(w_parts), torch.cat(b_parts)
            w_proj, b_proj = w_proj @ w_out, w_proj @ b_out + b_proj
        new[b + "attn.qkv.weight"], new[b + "attn.qkv.bias"] = w_qkv, b_qkv
        new[b + "attn.proj.weight"], new[b + "attn.proj.bias"] = w_proj, b_proj
    norm = "fc_norm" if "fc_norm.weight" in state else "norm"
    new["norm.weight"], new["norm.bias"] = take(norm + ".weight"), take(norm + ".bias")
    for key, value in new.items():
        if key not in ours or ours[key].shape != value.shape:
            raise ValueError(f"{path}: {key} has shape {tuple(value.shape)}, the encoder expects "
                             f"{tuple(ours[key].shape) if key in ours else 'no such key'}")
    missing = sorted(set(ours) - set(new))  # only the temporal table, when the checkpoint has none
    encoder.load_state_dict({**ours, **new}, strict=True)
    return {
        "path": str(path),
        "ecg_domain_offset": ecg_domain_offset,
        "variate_rows": [ecg_domain_offset + 1, ecg_domain_offset + 1 + cfg.n_leads],
        "variate_table_rows": int(table.shape[0]),
        "temporal_patches_checkpoint": temporal_rows,
        "temporal_patches_model": cfg.n_patches,
        "temporal_interpolated": temporal_rows is not None and cfg.n_patches > temporal_rows,
        "folded_attention_blocks": sum(f"blocks.{i}.attn.mha.in_proj_weight" in state for i in range(cfg.depth)),
        "representation_norm_from": norm,
        "kept_initialised": missing,
        "ignored": sorted(set(state) - used),
    }
