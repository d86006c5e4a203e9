"""Stable assignment of records to shards and of patients to splits.

Both use a keyed hash of the id (BLAKE2b), never the position of a record in a list, so that
adding records never moves an existing one to another shard or split.
"""
from __future__ import annotations

import hashlib

from pathlib import Path

import numpy as np
import pandas as pd


def keyed_unit_interval(record_id: str, key: str) -> float:
    """A number in [0, 1) that depends only on (key, record_id)."""
    digest = hashlib.blake2b(str(record_id).encode(), key=str(key).encode()[:64], digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def shard_of(record_id: str, n_shards: int, key: str = "echo2ecg-shard") -> int:
    """The shard (0..n_shards-1) of a record id."""
    return min(int(keyed_unit_interval(record_id, key) * n_shards), n_shards - 1)


def shards_of(record_ids, n_shards: int, key: str = "echo2ecg-shard") -> np.ndarray:
    ids = record_ids.tolist() if hasattr(record_ids, "tolist") else record_ids  # not per-element arrow access
    return np.array([shard_of(r, n_shards, key) for r in ids], dtype=np.int64)


def shard_name(shard: int) -> str:
    return f"{shard:04d}"


def gather_shard_indices(index_paths) -> pd.DataFrame:
    """Concatenate per-shard indices laid out as ``<dir>/<cohort>/<shard>.parquet`` beside their
    ``<shard>.npy`` arrays, adding cohort, shard and npy_path (string columns) to every row."""
    parts = [pd.read_parquet(path).assign(cohort=Path(path).parent.name, shard=Path(path).stem,
                                          npy_path=str(Path(path).with_suffix(".npy")))
             for path in index_paths]
    index = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["cohort", "shard", "npy_path"])
    return index.astype({"cohort": "string", "shard": "string", "npy_path": "string"})
