"""Loading the workflow's own checkpoints (pre-training best.pt / last.pt and its interim resume
states, the ECG and echo stand-ins) so that a truncated file, a file that is not a torch
checkpoint, or a checkpoint of another kind fails with a :class:`CheckpointError` that names the
file and what is wrong with it, not with a traceback from inside torch. The loaders of the
foundation models' published weights (OTiS, EchoPrime) live with their models."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from echo2ecg.logs import ExpectedFailure


class CheckpointError(ExpectedFailure, ValueError):
    """A checkpoint file that cannot be used; the message names the file."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def load_checkpoint(path: str | os.PathLike, kind: str, keys: tuple[str, ...] = ()) -> dict:
    """``torch.load(path, weights_only=True)`` on the CPU of a dict holding ``keys``.

    ``kind`` says in words what the file should be (``"pre-training model"``); it goes into the
    message of the :class:`CheckpointError` raised for a missing, unreadable (truncated, not written
    by ``torch.save``) or wrong-kind file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{kind} checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated zip archive, another format, a pickle of disallowed types
        raise CheckpointError(f"{kind} checkpoint {path} cannot be read ({path.stat().st_size} bytes; truncated, "
                              f"or not written by torch.save): {_first_line(error)}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} is not a {kind} checkpoint: it holds a {type(obj).__name__}, not a dict")
    missing = [key for key in keys if key not in obj]
    if missing:
        raise CheckpointError(f"{path} is not a {kind} checkpoint: keys {missing} are missing "
                              f"(it holds {sorted(map(str, obj))[:8]})")
    return obj


def load_state(module: nn.Module, state: dict, path: str | os.PathLike, kind: str) -> None:
    """``module.load_state_dict(state, strict=True)``, failing with a :class:`CheckpointError` naming
    ``path`` when the checkpoint's tensors do not fit the module (another config or model)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a {kind} checkpoint: its weights are a {type(state).__name__}")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{kind} checkpoint {path} does not fit the model this config builds (written by "
                              f"another config?): {_first_line(error)[:600]}") from None
