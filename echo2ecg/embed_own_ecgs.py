"""Embed your own ECGs (rule embed_own_ecgs): a directory of WFDB or DICOM ECGs -> features of a trained variant.

The records go through the workflow's own readers (``mimic_iv_ecg.read_ecg`` for WFDB records,
``dicom_ecg`` for DICOM waveforms: leads mapped by name, units to mV), the same QC (every
unreadable or faulty record is excluded with its reason into a ledger; see echo2ecg.qc) and
the same preprocessing (echo2ecg.preprocess_ecg: resampling, clipping, baseline removal,
lead-group normalisation) as the cohorts' ECGs; then the variant's encoder writes one row per
kept ECG: ``ecg_id`` (the record's path below the root, without extension), ``source_path``,
``f0 .. f{D-1}`` float32.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from echo2ecg.extract_ecg_features import FEATURE_PREFIX, encode_ecgs
from echo2ecg.model.echo2ecg_model import Echo2ECG
from echo2ecg.preprocess_ecg import ECGPreprocessing, preprocess_ecg_shard
from echo2ecg.readers import dicom_ecg, mimic_iv_ecg

FORMATS = ("wfdb", "dicom")


def list_own_ecgs(root: str | Path, fmt: str):
    """(reader module, manifest rows) of every ECG record below ``root`` (recursively)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"embed_own_ecgs.root {root} is not a directory")
    if fmt == "wfdb":
        rows = []
        for header in sorted(root.rglob("*.hea")):
            record = header.with_suffix("")
            rows.append({"record_id": str(record.relative_to(root)), "source_path": str(record),
                         "source_files": [str(header), str(record.with_suffix(".dat"))]})
        return mimic_iv_ecg, rows
    if fmt == "dicom":
        manifest = dicom_ecg.list_ecg_records(root)
        manifest["record_id"] = [str(Path(p).relative_to(root).with_suffix("")) for p in manifest["source_path"]]
        return dicom_ecg, manifest.to_dict("records")
    raise ValueError(f"unknown ECG format {fmt!r}; choose one of {FORMATS}")


def own_ecg_files(root: str | Path | None, fmt: str) -> list[str]:
    """The files the rule reads (declared as its inputs)."""
    if not root:
        return []
    _, rows = list_own_ecgs(root, fmt)
    return sorted({f for row in rows for f in row["source_files"] if Path(f).exists()})


def embed_own_ecgs(root: str | Path, fmt: str, model: Echo2ECG, n_samples: int, params: ECGPreprocessing,
                   npy_path, index_path, device: torch.device, batch_size: int, log: logging.Logger):
    """Read, check and preprocess the ECGs below ``root`` into a shard, then encode them.

    Returns (features table, excluded ledger); every listed record is in exactly one of them."""
    reader, rows = list_own_ecgs(root, fmt)
    log.info("embed_own_ecgs: %d %s records below %s", len(rows), fmt, root)
    excluded = preprocess_ecg_shard(rows, [r["record_id"] for r in rows], reader, npy_path, index_path, params,
                                    cohort="own_ecgs", log=log)
    index = pd.read_parquet(index_path)
    ecgs = np.load(npy_path, mmap_mode="r")
    values = encode_ecgs(model, ecgs, n_samples, batch_size, device)
    source = {str(r["record_id"]): str(r["source_path"]) for r in rows}
    ids = index.sort_values("row")["ecg_id"].astype(str).tolist()
    frame = pd.DataFrame({"ecg_id": pd.array(ids, dtype="string"),
                          "source_path": pd.array([source[i] for i in ids], dtype="string")}
                         | {f"{FEATURE_PREFIX}{j}": values[:, j] for j in range(values.shape[1])})
    if len(frame) + len(excluded) != len(rows):
        raise AssertionError(f"embed_own_ecgs: {len(rows)} listed, {len(frame)} embedded + {len(excluded)} excluded")
    log.info("embed_own_ecgs: %d ECGs embedded, %d excluded", len(frame), len(excluded))
    return frame, excluded
