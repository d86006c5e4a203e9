"""Listing (rules list_ecg_records, list_echo_views): each cohort's records in per-shard manifests.

A shard job reads its records from its manifest file instead of carrying them in Snakemake
``params`` and listing every raw file as an input: the DAG of a MIMIC-IV-scale cohort then has
one job per shard (not per file) and Snakemake stores a few bytes per job. What makes a shard
rerun when one of its raw files changes is :func:`shard_file_digests`, a digest over the
(path, size, modification time) of the shard's files, given to the shard's jobs as a param: a
change to one file changes one shard's digest, so only that shard (and what depends on it) reruns.
"""
from __future__ import annotations

import hashlib
import os

import pandas as pd

from echo2ecg import readers
from echo2ecg.ingest import SHARD_RECORD_COLUMNS, manifest_rows, shard_manifest

def list_records(reader_name: str, kind: str, root: str, n_shards: int) -> pd.DataFrame:
    """The cohort's manifest (``kind`` "ecg" or "echo"), with manifest_row and shard."""
    reader = readers.reader_module(reader_name)
    manifest = reader.list_ecg_records(root) if kind == "ecg" else reader.list_echo_views(root)
    return shard_manifest(manifest, n_shards)


def shard_frame(manifest: pd.DataFrame, shard: int) -> pd.DataFrame:
    """The columns a shard job uses, for the records of one shard (index-file order)."""
    columns = [c for c in SHARD_RECORD_COLUMNS if c in manifest.columns]
    frame = pd.DataFrame(manifest_rows(manifest, shard), columns=columns)
    for column in ("manifest_row", "npy_row"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    frame["shard"] = pd.Series([shard] * len(frame), dtype="int64")
    return frame


def write_shard_manifests(manifest: pd.DataFrame, paths: dict[int, str]) -> dict[int, int]:
    """One manifest file per shard (also for empty shards); returns records per shard.

    The files are deterministic: a shard whose records did not change gets identical bytes.
    """
    counts = {}
    for shard, path in sorted(paths.items()):
        frame = shard_frame(manifest, shard)
        frame.to_parquet(path, index=False)
        counts[shard] = len(frame)
    return counts


def read_shard_records(path) -> list[dict]:
    """A shard's records as plain dicts (what :func:`echo2ecg.ingest.manifest_rows` gives)."""
    frame = pd.read_parquet(path)
    if frame.empty:
        return []
    return manifest_rows(frame, int(frame["shard"].iloc[0]))


def _file_line(path: str) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return f"{path}\tmissing\n"
    return f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n"


def shard_file_digests(manifest: pd.DataFrame, n_shards: int) -> dict[int, str]:
    """Per shard: SHA-256 over its records' ids and files' (path, size, mtime_ns).

    Stats each file once (no file is opened). A missing file enters as "missing" (the shard job
    ledgers it). Records are taken in index-file order, so the digest is independent of dict or
    set order.
    """
    digests = {s: hashlib.sha256() for s in range(n_shards)}
    for record_id, shard, files in zip(manifest["record_id"].tolist(), manifest["shard"].tolist(),
                                       manifest["source_files"].tolist()):
        lines = [f"{record_id}\n", *(_file_line(str(f)) for f in files)]
        digests[int(shard)].update("".join(lines).encode())
    return {s: d.hexdigest() for s, d in digests.items()}


def listing_digest(manifest: pd.DataFrame) -> str:
    """SHA-256 over what the listing yields (ids, shards, source paths): changes when a record is
    added, removed or moved, also for formats listed from a directory rather than an index file."""
    digest = hashlib.sha256()
    for record_id, shard, path in zip(manifest["record_id"].tolist(), manifest["shard"].tolist(),
                                      manifest["source_path"].tolist()):
        digest.update(f"{record_id}\t{shard}\t{path}\n".encode())
    return digest.hexdigest()
