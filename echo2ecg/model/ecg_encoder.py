"""The ECG encoder: OTiS "tiny", a ViT over per-lead patches (RECIPE.md section 3).

An ECG ``(B, 12, T)`` is cut into patches of ``patch_size`` samples per lead
(``Conv2d(1 -> D, kernel = stride = (1, patch_size))``, then LayerNorm and GELU), giving
``12 x T / patch_size`` tokens (504 at T = 1008) plus one CLS token. Position is split over the
channels as in OTiS: the first ``D/2`` channels carry a learnable *variate embedding*
(``nn.Embedding(n_leads + 1, D/2, padding_idx=0)``, lead ids 1..12), the last ``D/2`` a fixed
1-D sin-cos *temporal embedding* over the patch index. The representation is
``LayerNorm(mean of the patch tokens)`` (CLS excluded).

Attention comes in two parameterisations (``attention_layout``, config
``ecg_encoder.attention_layout``), the same function at load, different models to fine-tune:

- ``otis``: OTiS's own module -- ``attn.qkv`` (Linear D -> 3D), then ``attn.mha`` (an
  ``nn.MultiheadAttention`` that projects q, k and v again with its ``in_proj`` and the output
  with its ``out_proj``), then ``attn.proj`` (Linear D -> D). An OTiS checkpoint loads key for
  key. 7,124,064 parameters at the paper preset (the paper's 7.1 M); the paper fine-tunes this.
- ``fused``: each stacked pair of linear maps as the one map it computes (``W = W_in W_qkv``,
  ``W = W_proj W_out``); an OTiS checkpoint is folded at load. 5,345,376 parameters at the paper
  preset, 4 D (D + 1) = 148,224 fewer per block; fewer FLOPs.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


ATTENTION_LAYOUTS = ("otis", "fused")


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
    attention_layout: str = "otis"  # "otis" (OTiS's qkv -> MultiheadAttention -> proj) or "fused"

    def __post_init__(self):
        if self.attention_layout not in ATTENTION_LAYOUTS:
            raise ValueError(f"attention_layout must be one of {ATTENTION_LAYOUTS}, got {self.attention_layout!r}")

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


def _check_heads(dim: int, n_heads: int) -> None:
    if dim % n_heads:
        raise ValueError(f"embed_dim {dim} is not divisible by n_heads {n_heads}")


class Attention(nn.Module):
    """``fused`` layout: one qkv projection and one output projection."""

    def __init__(self, dim: int, n_heads: int, qkv_bias: bool):
        super().__init__()
        _check_heads(dim, n_heads)
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)  # (B, H, N, D/H)
        return self.proj(x.transpose(1, 2).reshape(B, N, D))


class OTiSAttention(nn.Module):
    """``otis`` layout, OTiS's module: ``qkv`` -> ``mha`` (nn.MultiheadAttention, its own in_proj and
    out_proj) -> ``proj``; the state dict keys are OTiS's (``qkv.*``, ``mha.in_proj_*``,
    ``mha.out_proj.*``, ``proj.*``)."""

    def __init__(self, dim: int, n_heads: int, qkv_bias: bool):
        super().__init__()
        _check_heads(dim, n_heads)
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.mha = nn.MultiheadAttention(dim, n_heads, batch_first=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.proj(self.mha(q, k, v, need_weights=False)[0])


def build_attention(layout: str, dim: int, n_heads: int, qkv_bias: bool) -> nn.Module:
    if layout not in ATTENTION_LAYOUTS:
        raise ValueError(f"attention_layout must be one of {ATTENTION_LAYOUTS}, got {layout!r}")
    return (OTiSAttention if layout == "otis" else Attention)(dim, n_heads, qkv_bias)


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (timm ViT layout: norm1, attn, norm2, mlp.fc1, mlp.fc2)."""

    def __init__(self, dim: int, n_heads: int, mlp_ratio: float, qkv_bias: bool, drop_path: float, ln_eps: float,
                 attention_layout: str = "fused"):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=ln_eps)
        self.attn = build_attention(attention_layout, dim, n_heads, qkv_bias)
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
            Block(cfg.embed_dim, cfg.n_heads, cfg.mlp_ratio, cfg.qkv_bias, rate, cfg.ln_eps, cfg.attention_layout)
            for rate in rates
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
    """Parameters of OTiS's own module for ``cfg`` (the ``otis`` attention layout), whatever ``cfg``'s layout."""
    return count_parameters(ECGEncoder(dataclasses.replace(cfg, attention_layout="otis")))


# --- OTiS checkpoints ---------------------------------------------------------------------

OTIS_LAYOUT = ("an OTiS pre-training checkpoint, torch.save'd {'model': state_dict, 'domain_offsets': {'ecg': k, ...}, "
               "'args': ..., ...} whose state_dict has patch_embed.{proj,norm}.*, cls_token, pos_embed_x, "
               "pos_embed_y.weight (variate table of all domains), blocks.<i>.{norm1, attn.qkv, attn.mha.in_proj_*, "
               "attn.mha.out_proj, attn.proj, norm2, mlp.fc1, mlp.fc2}.* and norm.* (or fc_norm.*), and no "
               "classification head")
BLOCK_KEYS = ("norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias",
              "mlp.fc2.weight", "mlp.fc2.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.mha.in_proj_weight",
              "attn.mha.in_proj_bias", "attn.mha.out_proj.weight", "attn.mha.out_proj.bias", "attn.proj.weight",
              "attn.proj.bias")


class OTiSCheckpointError(ValueError):
    """A file that is not a usable OTiS pre-training checkpoint (the message names the file and the layout)."""


def _read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict of an OTiS file, or :class:`OTiSCheckpointError` naming the file and the expected layout."""
    path = Path(path)
    if not path.is_file():
        raise OTiSCheckpointError(f"{path}: no such OTiS checkpoint file")
    try:
        # OTiS/MAE checkpoints may carry their argparse Namespace next to the weights
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, pickle of other classes, not a torch file at all
        raise OTiSCheckpointError(f"{path}: cannot be read as a torch checkpoint with weights_only=True "
                                  f"({type(error).__name__}: {str(error).splitlines()[0][:200]}); expected "
                                  f"{OTIS_LAYOUT}") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        what = (f"a dict with keys {sorted(map(str, checkpoint))[:8]}" if isinstance(checkpoint, dict)
                else f"a {type(checkpoint).__name__}")
        hint = (" (this is an Echo2ECG checkpoint, not OTiS's: our own encoder weights load with load_state_dict)"
                if isinstance(checkpoint, dict) and ("encoder" in checkpoint or "meta" in checkpoint) else "")
        raise OTiSCheckpointError(f"{path}: holds {what}, no 'model' state dict{hint}; expected {OTIS_LAYOUT}")
    return checkpoint


def _check_otis_state(path: Path, checkpoint: dict, depth: int) -> None:
    """Refuse fine-tuned OTiS models and files missing encoder weights, listing what is wrong."""
    state = checkpoint["model"]
    head = sorted(k for k in state if k.startswith("head."))
    if head:
        raise OTiSCheckpointError(
            f"{path}: a fine-tuned OTiS model (classification head {', '.join(head)}"
            f"{'' if 'domain_offsets' in checkpoint else ', no domain_offsets'}); Echo2ECG starts from OTiS's "
            f"pre-trained weights: expected {OTIS_LAYOUT}")
    needed = ["patch_embed.proj.weight", "patch_embed.proj.bias", "patch_embed.norm.weight", "patch_embed.norm.bias",
              "cls_token", "pos_embed_x", "pos_embed_y.weight"]
    needed += [f"blocks.{i}.{k}" for i in range(depth) for k in BLOCK_KEYS]
    missing = [k for k in needed if k not in state]
    if "norm.weight" not in state and "fc_norm.weight" not in state:
        missing.append("norm.weight (or fc_norm.weight)")
    if missing:
        raise OTiSCheckpointError(f"{path}: the state dict lacks {len(missing)} encoder weight(s) for depth {depth}: "
                                  f"{', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}; expected {OTIS_LAYOUT}")
    extra = sorted({int(k.split(".")[1]) for k in state if k.startswith("blocks.")} - set(range(depth)))
    if extra:
        raise OTiSCheckpointError(f"{path}: the checkpoint has blocks {extra} beyond the encoder's depth {depth}: "
                                  f"a deeper OTiS than ecg_encoder.depth")


def load_otis_checkpoint(encoder: ECGEncoder, path: str | Path, ecg_domain_offset: int | None = None) -> dict:
    """Load an OTiS pre-training checkpoint (``{"model": state_dict, "domain_offsets": {"ecg": k}, ...}``) into ``encoder``.

    - variate table ``pos_embed_y.weight`` (39 rows over several domains in OTiS, row 0 padding):
      rows ``k + 1 .. k + n_leads`` of the ECG domain, plus a zero padding row. ``k`` is
      ``ecg_domain_offset`` when given (config ``ecg_encoder.otis_ecg_domain_offset``), else the
      checkpoint's ``domain_offsets["ecg"]`` (OTiS puts ECG at 4: rows 5-16);
    - temporal table ``pos_embed_x`` ``(1, 1 + P_ckpt, D/2)``: its CLS row is added to our
      ``cls_token``'s temporal half (OTiS adds it there), the rest cut or linearly interpolated
      to our patch count;
    - attention: ``otis`` layout key for key (``qkv``, ``mha.in_proj_*``, ``mha.out_proj.*``,
      ``proj``); ``fused`` layout folds each pair into one map (``W = W_in W_qkv``,
      ``W = W_proj W_out``; exactly the same function);
    - ``fc_norm`` if present, else ``norm`` -> ``norm``; decoder, mask token and anything else
      are reported as ignored.
    Returns a report of what was loaded (``summary``: one line for the logs). Raises
    :class:`OTiSCheckpointError` (naming the file and the expected layout) for a file that is not
    OTiS's pre-training checkpoint: unreadable or truncated, not a checkpoint dict, a fine-tuned
    model (classification head), missing or mis-shaped encoder weights, no ECG domain offset.
    """
    path = Path(path)
    cfg = encoder.cfg
    checkpoint = _read_checkpoint(path)
    _check_otis_state(path, checkpoint, cfg.depth)
    state = checkpoint["model"]
    offsets = checkpoint.get("domain_offsets")
    checkpoint_offset = offsets.get("ecg") if isinstance(offsets, dict) else None
    if ecg_domain_offset is None:
        if checkpoint_offset is None:
            raise OTiSCheckpointError(
                f"{path}: no domain_offsets['ecg'] in the checkpoint (domain_offsets = {offsets!r}), so the ECG rows of "
                f"its variate table are unknown; set ecg_encoder.otis_ecg_domain_offset (OTiS's own code puts ECG "
                f"at 4) or use OTiS's pre-training checkpoint")
        ecg_domain_offset, source = int(checkpoint_offset), f"domain_offsets['ecg'] = {int(checkpoint_offset)}"
    else:
        source = f"ecg_encoder.otis_ecg_domain_offset = {ecg_domain_offset}"
        if checkpoint_offset is not None and int(checkpoint_offset) != ecg_domain_offset:
            source += f", overriding the checkpoint's domain_offsets['ecg'] = {int(checkpoint_offset)}"
    ours = encoder.state_dict()
    new: dict[str, torch.Tensor] = {}
    used: set[str] = set()

    def take(key: str) -> torch.Tensor:
        used.add(key)
        return state[key].float()

    for name in ("patch_embed.proj.weight", "patch_embed.proj.bias", "patch_embed.norm.weight", "patch_embed.norm.bias"):
        new[name] = take(name)
    width, patch = new["patch_embed.proj.weight"].shape[0], new["patch_embed.proj.weight"].shape[-1]
    if (width, patch) != (cfg.embed_dim, cfg.patch_size):
        raise OTiSCheckpointError(f"{path}: checkpoint has embed_dim {width} and patch_size {patch}, the encoder "
                                  f"expects {cfg.embed_dim} and {cfg.patch_size}: shape mismatch")
    table = take("pos_embed_y.weight")
    first, last = ecg_domain_offset + 1, ecg_domain_offset + cfg.n_leads  # inclusive row numbers
    rows = table[first:last + 1]
    if rows.shape[0] != cfg.n_leads:
        raise OTiSCheckpointError(f"{path}: variate table has {table.shape[0]} rows, no {cfg.n_leads} ECG rows "
                                  f"after offset {ecg_domain_offset} ({source})")
    new["variate_embedding.weight"] = torch.cat([torch.zeros(1, table.shape[1]), rows])
    cls = take("cls_token").clone()
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
        attn = {k: take(b + "attn." + k) for k in ("qkv.weight", "qkv.bias", "mha.in_proj_weight", "mha.in_proj_bias",
                                                   "mha.out_proj.weight", "mha.out_proj.bias", "proj.weight", "proj.bias")}
        if cfg.attention_layout == "otis":  # OTiS's module: key for key
            new.update({b + "attn." + k: v for k, v in attn.items()})
            continue
        w_qkv, b_qkv, w_in, b_in = attn["qkv.weight"], attn["qkv.bias"], attn["mha.in_proj_weight"], attn["mha.in_proj_bias"]
        if w_qkv.shape != (3 * D, D) or w_in.shape != (3 * D, D):
            raise OTiSCheckpointError(f"{path}: {b}attn.qkv / attn.mha.in_proj_weight have shapes {tuple(w_qkv.shape)} / "
                                      f"{tuple(w_in.shape)}, the encoder expects {(3 * D, D)}: shape mismatch")
        w_parts, b_parts = [], []
        for j in range(3):  # q, k, v: in_proj's j-th block after qkv's j-th block
            wi, bi = w_in[j * D:(j + 1) * D], b_in[j * D:(j + 1) * D]
            w_parts.append(wi @ w_qkv[j * D:(j + 1) * D])
            b_parts.append(wi @ b_qkv[j * D:(j + 1) * D] + bi)
        w_proj, w_out = attn["proj.weight"], attn["mha.out_proj.weight"]
        new[b + "attn.qkv.weight"], new[b + "attn.qkv.bias"] = torch.cat(w_parts), torch.cat(b_parts)
        new[b + "attn.proj.weight"] = w_proj @ w_out
        new[b + "attn.proj.bias"] = w_proj @ attn["mha.out_proj.bias"] + attn["proj.bias"]
    norm = "fc_norm" if "fc_norm.weight" in state else "norm"
    new["norm.weight"], new["norm.bias"] = take(norm + ".weight"), take(norm + ".bias")
    for key, value in new.items():
        if key not in ours or ours[key].shape != value.shape:
            raise OTiSCheckpointError(f"{path}: {key} has shape {tuple(value.shape)}, the encoder expects "
                                      f"{tuple(ours[key].shape) if key in ours else 'no such key'}: shape mismatch")
    assert set(new) == set(ours), sorted(set(ours) ^ set(new))  # every encoder weight comes from the checkpoint
    encoder.load_state_dict(new, strict=True)
    interpolated = cfg.n_patches > temporal_rows
    attention = ("key for key (attention_layout otis)" if cfg.attention_layout == "otis"
                 else "qkv -> mha.in_proj and mha.out_proj -> proj folded (attention_layout fused)")
    fit = ("interpolated to" if interpolated else "cut to" if temporal_rows > cfg.n_patches else "as is,")
    summary = (f"OTiS checkpoint {path}: variate rows {first}-{last} of {table.shape[0]} ({source}); temporal "
               f"embedding of {temporal_rows} patches {fit} {cfg.n_patches}; attention {attention}; "
               f"representation norm from {norm}; "
               f"{len(set(state) - used)} other tensors ignored")
    return {
        "path": str(path),
        "summary": summary,
        "ecg_domain_offset": ecg_domain_offset,
        "ecg_domain_offset_source": source,
        "variate_rows": [first, last],
        "variate_table_rows": int(table.shape[0]),
        "temporal_patches_checkpoint": temporal_rows,
        "temporal_patches_model": cfg.n_patches,
        "temporal_interpolated": interpolated,
        "attention_layout": cfg.attention_layout,
        "folded_attention_blocks": cfg.depth if cfg.attention_layout == "fused" else 0,
        "representation_norm_from": norm,
        "ignored": sorted(set(state) - used),
    }
