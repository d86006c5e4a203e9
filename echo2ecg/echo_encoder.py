"""The frozen echo encoder (EchoPrime's video MViT, RECIPE.md section 4).

EchoPrime encodes one echo view (16 frames, 224 x 224, RGB) with torchvision's ``mvit_v2_s``
whose last head layer is replaced by ``Linear(768, 512)``; the 512-d output of the
class-token path is the view embedding. ``build_echo_encoder("paper")`` builds exactly that
module, so EchoPrime's state dict loads into it strictly. ``build_echo_encoder("demo")``
builds a small MViT from the same torchvision class (the first 5 blocks of ``mvit_v2_s``, at
16 x 112 x 112) for CPU-sized runs, with the same 512-d head.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision.models.video.mvit import MSBlockConfig, MViT

# EchoPrime's pixel normalisation, on the 0-255 scale, RGB order.
ECHOPRIME_MEAN = (29.110628, 28.076836, 29.096405)
ECHOPRIME_STD = (47.989223, 46.456997, 47.20083)

EMBEDDING_DIM = 512
CLIP_FRAMES = 16

# mvit_v2_s's 16 blocks (torchvision's table, written per block; all kernels are 3 x 3 x 3).
_MVIT_V2_S_HEADS = (1, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 8)
_MVIT_V2_S_IN = (96, 96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768)
_MVIT_V2_S_OUT = (96, 192, 192, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 384, 768, 768)
_MVIT_V2_S_STRIDE_Q = {1: (1, 2, 2), 3: (1, 2, 2), 14: (1, 2, 2)}  # others (1, 1, 1)
_MVIT_V2_S_STRIDE_KV = ((1, 8, 8), (1, 4, 4), (1, 4, 4)) + ((1, 2, 2),) * 11 + ((1, 1, 1),) * 2

# Architecture switches of mvit_v2_s (torchvision passes these to MViT).
_MVIT_V2_FLAGS = dict(residual_pool=True, residual_with_cls_embed=False, rel_pos_embed=True, proj_after_attn=True)

PRESETS = {
    # preset: (number of mvit_v2_s blocks, clip side in pixels)
    "paper": (16, 224),
    "demo": (5, 112),
}


def mvit_v2_s_block_setting(n_blocks: int = 16) -> list[MSBlockConfig]:
    """The block configurations of torchvision's ``mvit_v2_s``, truncated to its first ``n_blocks``."""
    if not 1 <= n_blocks <= len(_MVIT_V2_S_HEADS):
        raise ValueError(f"n_blocks must be in 1..{len(_MVIT_V2_S_HEADS)}, got {n_blocks}")
    return [
        MSBlockConfig(
            num_heads=_MVIT_V2_S_HEADS[i],
            input_channels=_MVIT_V2_S_IN[i],
            output_channels=_MVIT_V2_S_OUT[i],
            kernel_q=[3, 3, 3],
            kernel_kv=[3, 3, 3],
            stride_q=list(_MVIT_V2_S_STRIDE_Q.get(i, (1, 1, 1))),
            stride_kv=list(_MVIT_V2_S_STRIDE_KV[i]),
        )
        for i in range(n_blocks)
    ]


def _attach_embedding_head(model: MViT, embedding_dim: int) -> MViT:
    """Replace the last head layer by ``Linear(width, embedding_dim)`` (EchoPrime's change)."""
    model.head[-1] = nn.Linear(model.head[-1].in_features, embedding_dim)
    return model


def build_echo_encoder(
    preset: str = "paper",
    clip_size: int | None = None,
    n_frames: int = CLIP_FRAMES,
    embedding_dim: int = EMBEDDING_DIM,
    stochastic_depth_prob: float = 0.2,
    dropout: float = 0.5,
) -> MViT:
    """The echo encoder of a preset: ``paper`` (EchoPrime's module) or ``demo`` (5-block MViT at 112 px).

    ``clip_size`` overrides the demo preset's clip side (the positional tables depend on it, so a
    checkpoint only loads into a model of the clip size it was trained at); the paper preset is
    fixed at 16 x 224 x 224, as EchoPrime's weights are.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown echo encoder preset {preset!r}; choose one of {sorted(PRESETS)}")
    n_blocks, default_size = PRESETS[preset]
    size = int(clip_size or default_size)
    if preset == "paper":
        if (size, n_frames) != (default_size, CLIP_FRAMES):
            raise ValueError(
                f"the paper echo encoder (EchoPrime's mvit_v2_s) takes {CLIP_FRAMES} x {default_size} x "
                f"{default_size} clips; got {n_frames} x {size} x {size}"
            )
        model = torchvision.models.video.mvit_v2_s(
            weights=None, stochastic_depth_prob=stochastic_depth_prob, dropout=dropout,
        )
    else:
        model = MViT(
            spatial_size=(size, size), temporal_size=n_frames, block_setting=mvit_v2_s_block_setting(n_blocks),
            stochastic_depth_prob=stochastic_depth_prob, dropout=dropout, **_MVIT_V2_FLAGS,
        )
    return _attach_embedding_head(model, embedding_dim)


def clip_size_of(model: MViT) -> int:
    """The clip side (pixels) a built encoder expects."""
    return int(model.pos_encoding.spatial_size[0] * model.conv_proj.stride[1])


# EchoPrime's 11 coarse view classes (RECIPE.md section 4): its view classifier is the same
# mvit_v2_s backbone with an 11-class head; its echo encoder (echo_prime_encoder.pt) has a 512-d one.
ECHOPRIME_VIEW_CLASSES = (
    "A2C", "A3C", "A4C", "A5C", "Apical_Doppler", "Doppler_Parasternal_Long", "Doppler_Parasternal_Short",
    "Parasternal_Long", "Parasternal_Short", "SSN", "Subcostal",
)
KINETICS_CLASSES = 400  # torchvision's own mvit_v2_s head (Kinetics-400 actions)
ECHOPRIME_ENCODER_FILE = "echo_prime_encoder.pt"
# where a checkpoint may hold its state dict, besides bare
_STATE_DICT_KEYS = ("model", "state_dict", "model_state_dict")


def _head_key(model: nn.Module) -> str:
    return f"head.{len(model.head) - 1}"


def expected_layout(model: MViT) -> str:
    """What a checkpoint for ``model`` must hold, in words (for error messages and FORMATS.md)."""
    n_blocks = len(model.blocks)
    head = model.head[-1]
    size = clip_size_of(model)
    backbone = "torchvision mvit_v2_s" if n_blocks == len(_MVIT_V2_S_HEADS) else f"the first {n_blocks} blocks of mvit_v2_s"
    return (
        f"a state dict (bare, or under {' / '.join(repr(k) for k in _STATE_DICT_KEYS)}) of {backbone} at "
        f"{size} x {size} px with head[-1] = Linear({head.in_features}, {head.out_features}): "
        f"{len(model.state_dict())} tensors, keys conv_proj.*, pos_encoding.*, blocks.0..{n_blocks - 1}.*, norm.*, "
        f"{_head_key(model)}.weight ({head.out_features}, {head.in_features}), {_head_key(model)}.bias "
        f"({head.out_features},)" + (f" (EchoPrime's {ECHOPRIME_ENCODER_FILE})" if n_blocks == len(_MVIT_V2_S_HEADS) else "")
    )


def _unwrap_state_dict(obj) -> dict:
    """The tensor dict inside a checkpoint (a bare state dict, or one under 'model' / 'state_dict').

    Raises TypeError saying what was found instead when there is none.
    """
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for key in _STATE_DICT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
        shown = ", ".join(repr(k) for k in list(obj)[:8]) + (" ..." if len(obj) > 8 else "")
        raise TypeError(f"it is not a state dict: a dict of {len(obj)} entries [{shown}] that are not all tensors, "
                        f"with no tensor dict under {' / '.join(repr(k) for k in _STATE_DICT_KEYS)}")
    raise TypeError(f"it is not a state dict: it holds a {type(obj).__name__}")


def _strip_common_prefix(state: dict, expected: set[str]) -> dict:
    """Remove a wrapper prefix (``module.``, ``model.``, ...) shared by every key, when that makes keys match."""
    for prefix in ("module.", "model.", "echo_encoder.", "encoder."):
        if state and all(k.startswith(prefix) for k in state) and not any(k.startswith(prefix) for k in expected):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def _another_head(state: dict, model: nn.Module, path: Path) -> str:
    """A sentence naming what a checkpoint with this backbone but another head is, or ''."""
    key = f"{_head_key(model)}.weight"
    if key not in state or state[key].ndim != 2 or state[key].shape[0] == model.head[-1].out_features:
        return ""
    n_out = int(state[key].shape[0])
    if n_out == len(ECHOPRIME_VIEW_CLASSES):
        what = (f"EchoPrime's view classifier ({n_out} view classes: {', '.join(ECHOPRIME_VIEW_CLASSES)}), "
                f"not its echo encoder ({ECHOPRIME_ENCODER_FILE}, a {model.head[-1].out_features}-d head)")
    elif n_out == KINETICS_CLASSES:
        what = f"torchvision's Kinetics-{n_out} mvit_v2_s classifier, not EchoPrime's echo encoder"
    else:
        what = f"a model with a {n_out}-output head, not the {model.head[-1].out_features}-d echo encoder"
    return f"{path} looks like {what}. "


def load_echoprime_state_dict(model: nn.Module, path: str | Path) -> nn.Module:
    """Load EchoPrime's encoder weights (or any checkpoint of this module) strictly into ``model``.

    Uses ``torch.load(weights_only=True)``. Every failure is a ``ValueError`` naming the file and
    the layout expected (:func:`expected_layout`), without the loader's stack trace: a file torch
    cannot read (truncated, not a checkpoint, or holding objects other than tensors), a file
    that holds no state dict, and one whose keys or shapes do not fit the module (missing,
    unexpected and mis-shaped keys listed; EchoPrime's 11-class view classifier and torchvision's
    Kinetics classifier named as such). Nothing is loaded unless every key fits.
    """
    path = Path(path)
    layout = f"expected {expected_layout(model)}"
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # missing, truncated, not a torch file, or unsafe pickle content
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(
            f"cannot load echo encoder checkpoint {path}: torch.load(weights_only=True) failed "
            f"({type(error).__name__}: {first_line}); the file is missing, truncated, not a torch checkpoint, "
            f"or holds objects other than tensors; {layout}"
        ) from None
    try:
        state = _unwrap_state_dict(obj)
    except TypeError as error:
        raise ValueError(f"echo encoder checkpoint {path}: {error}; {layout}") from None
    expected = model.state_dict()
    state = _strip_common_prefix(state, set(expected))
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mis_shaped = sorted(
        f"{k} {tuple(state[k].shape)} (model {tuple(expected[k].shape)})"
        for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or mis_shaped:
        def listing(keys):
            return ", ".join(keys[:8]) + (f" ... (+{len(keys) - 8} more)" if len(keys) > 8 else "") or "none"
        raise ValueError(
            f"{_another_head(state, model, path)}"
            f"echo encoder checkpoint {path} does not fit the {type(model).__name__} module: "
            f"{len(missing)} missing keys [{listing(missing)}]; {len(unexpected)} unexpected keys "
            f"[{listing(unexpected)}]; {len(mis_shaped)} keys with another shape [{listing(mis_shaped)}]; {layout}"
        )
    model.load_state_dict(state, strict=True)
    return model


def freeze(model: nn.Module) -> nn.Module:
    """Evaluation mode, no gradients: the encoder is frozen during Echo2ECG pre-training."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def normalise_clips(
    clips,
    n_valid,
    mean: tuple[float, float, float] = ECHOPRIME_MEAN,
    std: tuple[float, float, float] = ECHOPRIME_STD,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """uint8 clips (B, F, S, S, 3) -> float32 model input (B, 3, F, S, S), EchoPrime-normalised.

    Frames at index >= ``n_valid[b]`` are padding: they are set to exactly 0 after
    normalisation (the recipe zero-pads after normalising).
    """
    if not isinstance(clips, torch.Tensor):
        clips = torch.from_numpy(np.ascontiguousarray(clips))
    if device is not None:
        clips = clips.to(device, non_blocking=True)
    if clips.ndim != 5 or clips.shape[-1] != 3:
        raise ValueError(f"expected clips of shape (B, F, S, S, 3), got {tuple(clips.shape)}")
    if not isinstance(n_valid, torch.Tensor):
        n_valid = torch.tensor(np.asarray(n_valid, dtype=np.int64))
    n_valid = n_valid.to(clips.device).long().reshape(-1)
    if n_valid.shape[0] != clips.shape[0]:
        raise ValueError(f"n_valid has {n_valid.shape[0]} entries for {clips.shape[0]} clips")
    mean_t = torch.tensor(mean, dtype=torch.float32, device=clips.device)
    std_t = torch.tensor(std, dtype=torch.float32, device=clips.device)
    x = (clips.float() - mean_t) / std_t  # (B, F, S, S, 3)
    valid = torch.arange(clips.shape[1], device=clips.device)[None, :] < n_valid[:, None]  # (B, F)
    x = torch.where(valid[:, :, None, None, None], x, torch.zeros((), dtype=x.dtype, device=x.device))
    return x.permute(0, 4, 1, 2, 3).contiguous()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
