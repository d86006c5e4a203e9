"""Seed replicates of pre-training (config ``pretrain.replicates``).

Each (variant, replicate) is its own pre-training job, feature files and evaluation; a replicate is
named by its seed as a ``{replicate}`` wildcard value (``seed42``). What comes before pre-training
(the data half, the frozen echo encoder, the ECG stand-in) is shared by every replicate. The
pre-training job of one replicate sees ``pretrain`` without ``replicates`` and with ``seed`` set to
its own seed, so adding a replicate changes no existing job's params (nothing of theirs reruns).
"""
from __future__ import annotations

import re

import pandas as pd

PREFIX = "seed"
NAME_PATTERN = re.compile(rf"^{PREFIX}(\d+)$")


def replicate_name(seed: int) -> str:
    """The ``{replicate}`` wildcard value of a seed: ``seed42``."""
    return f"{PREFIX}{int(seed)}"


def replicate_seed(name: str) -> int:
    """The seed of a ``{replicate}`` wildcard value (``seed42`` -> 42)."""
    match = NAME_PATTERN.match(name)
    if not match:
        raise ValueError(f"replicate {name!r} is not of the form {PREFIX}<seed>")
    return int(match.group(1))


def pretrain_replicates(config: dict) -> list[int]:
    """The seeds of ``pretrain.replicates``, in config order (the first is the report's first replicate)."""
    return [int(s) for s in config["pretrain"]["replicates"]]


def replicate_names(config: dict) -> list[str]:
    return [replicate_name(s) for s in pretrain_replicates(config)]


# pretrain keys that only steer the training loop (schedule, optimiser, augmentations, batching, its length).
# A variant that is not aligned writes its encoder as initialised and reads none of them, and no feature
# extraction reads them: those jobs' params and checkpoints leave them out, so a change of one reruns only
# the aligned variants and what follows them. (batch_size and tau stay: they fix the validation loss that
# every variant's checkpoint records.)
TRAINING_ONLY_KEYS = ("epochs", "lr", "betas", "weight_decay", "layer_decay", "warmup_epochs", "start_lr_ratio",
                      "min_lr_ratio", "augment", "batching", "adamw_kernel")


def replicate_pretrain_section(pretrain: dict, seed: int, leave_out=("variants",)) -> dict:
    """config ``pretrain`` as one replicate's jobs see it: without ``replicates`` (and ``leave_out``),
    with ``seed`` = the replicate's seed."""
    section = {k: v for k, v in pretrain.items() if k not in {"replicates", "seed", *leave_out}}
    return {"seed": int(seed), **section}


def with_replicate(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``frame`` with an integer ``replicate`` column (the seed) after ``variant`` (or first)."""
    out = frame.drop(columns=["replicate"], errors="ignore")
    at = list(out.columns).index("variant") + 1 if "variant" in out.columns else 0
    out.insert(at, "replicate", int(seed))
    return out
