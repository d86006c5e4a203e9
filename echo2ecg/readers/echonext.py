"""EchoNext: one metadata table and one waveform array per split (see FORMATS.md).

``EchoNext_{split}_waveforms.npy`` has shape (N, 1, 2500, 12): rows in the order of that
split's metadata rows, leads in the model order, mV. Arrays are opened with
``mmap_mode="r"`` and read one row at a time.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from echo2ecg.leads import MODEL_LEAD_ORDER
from echo2ecg.qc import RecordFault
from echo2ecg.readers.base import MIN_DURATION_S, checked_ecg_record, ECGRecord, opening_record

METADATA_FILE = "echonext_metadata_100k.csv"
# All ECGs of a split live in one array file, so a record's content hash is taken over its own
# signal rather than over its (shared) source files.
RECORDS_SHARE_FILES = True
WAVEFORM_SPLITS = ("train", "val", "test")
# The arrays carry no header: the rate is the one the dataset documents (2500 samples in 10 s).
SAMPLING_RATE_HZ = 250.0
# The dataset gives only the acquisition year; an ECG is placed mid-year.
MID_YEAR = "07-01"


def waveform_file(root: str | Path, split: str) -> Path:
    return Path(root) / f"EchoNext_{split}_waveforms.npy"


def list_ecg_records(root: str | Path) -> pd.DataFrame:
    """Manifest of the ECGs that have a waveform row (splits train/val/test).

    Rows with split ``no_split`` have no waveform array and are not listed. ``npy_row`` is the
    row of the record in its split's array; ``sampling_rate`` is the documented 250 Hz.
    """
    meta = pd.read_csv(Path(root) / METADATA_FILE, dtype=str)
    meta = meta[meta["split"].isin(WAVEFORM_SPLITS)].reset_index(drop=True)
    year = meta["acquisition_year"].str.strip().str.split(".").str[0]
    source = [str(waveform_file(root, s)) for s in meta["split"]]
    manifest = pd.DataFrame({
        "record_id": meta["ecg_key"],
        "patient_id": meta["patient_key"],
        "acquired_at": (year + "-" + MID_YEAR).where(year.notna() & (year != "")),
        "source_path": source,
        "source_files": [[s] for s in source],
        "npy_row": meta.groupby("split", sort=False).cumcount().astype("int64"),
        "sampling_rate": SAMPLING_RATE_HZ,
        "age": pd.to_numeric(meta["age_at_ecg"], errors="coerce") if "age_at_ecg" in meta else np.nan,
    })
    extras = meta.drop(columns=["ecg_key", "patient_key"])
    return pd.concat([manifest, extras], axis=1)


@lru_cache(maxsize=4)
def _open_waveforms(path: str, mtime_ns: int, size: int) -> np.ndarray:
    """Memory-map one split's array (cached per file version)."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


def read_ecg(row, *, min_duration_s: float = MIN_DURATION_S) -> ECGRecord:
    """Read one row of a split's waveform array as a (12, 2500) float32 record in mV."""
    path = str(row["source_path"])
    index = int(row["npy_row"])
    with opening_record(path, "is no readable .npy array", (ValueError, OSError, EOFError)):
        stat = Path(path).stat()
        waves = _open_waveforms(path, stat.st_mtime_ns, stat.st_size)
    if waves.ndim != 4 or waves.shape[1] != 1 or waves.shape[3] != len(MODEL_LEAD_ORDER):
        raise RecordFault(f"wrong shape: {path} has shape {waves.shape}, expected (N, 1, T, 12)")
    if not np.issubdtype(waves.dtype, np.number):
        raise RecordFault(f"wrong shape: {path} holds {waves.dtype} values, expected numbers")
    if not 0 <= index < waves.shape[0]:
        raise RecordFault(
            f"wrong shape: {path} has {waves.shape[0]} rows, but record {row['record_id']} "
            f"is row {index} of its split's metadata"
        )
    stored = np.asarray(waves[index, 0], dtype=np.float32).T
    rate = row.get("sampling_rate", SAMPLING_RATE_HZ)
    return checked_ecg_record(
        stored,
        list(MODEL_LEAD_ORDER),
        SAMPLING_RATE_HZ if pd.isna(rate) else float(rate),
        record_id=row["record_id"],
        source_path=path,
        min_duration_s=min_duration_s,
        extra={"npy_row": index},
    )


def read_phenotypes(root: str | Path) -> pd.DataFrame:
    """Per-ECG labels: lvef = lvef_value, shd = shd_moderate_or_greater_flag."""
    meta = pd.read_csv(
        Path(root) / METADATA_FILE,
        dtype=str,
        usecols=["ecg_key", "patient_key", "lvef_value", "shd_moderate_or_greater_flag"],
    )
    return pd.DataFrame({
        "entity_id": meta["ecg_key"],
        "patient_id": meta["patient_key"],
        "lvef": pd.to_numeric(meta["lvef_value"], errors="coerce"),
        "lvedv": np.nan,
        "lvesv": np.nan,
        "lvsv": np.nan,
        "shd": _flag(meta["shd_moderate_or_greater_flag"]),
    })


def _flag(text: pd.Series) -> pd.Series:
    """0/1 from a flag column written as 0/1, 0.0/1.0 or False/True."""
    value = pd.to_numeric(text, errors="coerce")
    words = text.str.strip().str.lower().map({"true": 1.0, "false": 0.0})
    return value.fillna(words).astype("float64")
