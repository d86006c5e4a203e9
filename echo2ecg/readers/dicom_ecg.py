"""DICOM 12-Lead ECG Waveform Storage files under ``{root}/**/*.dcm`` (see FORMATS.md).

There is no index file: the manifest reads the few header elements it needs
(SOPInstanceUID, PatientID, acquisition time) and skips the waveform data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from pydicom.errors import InvalidDicomError

from echo2ecg.leads import MODEL_LEAD_ORDER, canonical_lead_name
from echo2ecg.qc import RecordFault
from echo2ecg.readers.base import (
    MIN_DURATION_S,
    checked_ecg_record,
    ECGRecord,
    millivolts_per_unit,
    one_line,
    opening_record,
)

_HEADER_TAGS = [
    "SOPInstanceUID", "PatientID", "AcquisitionDateTime", "AcquisitionDate", "AcquisitionTime",
    "ContentDate", "ContentTime",
]
_READ_ERRORS = (InvalidDicomError, EOFError, ValueError, OSError)


def _acquired_at(ds: pydicom.Dataset) -> str | None:
    """Raw acquisition time: AcquisitionDateTime, else date + time (acquisition, then content)."""
    if ds.get("AcquisitionDateTime"):
        return str(ds.AcquisitionDateTime)
    for prefix in ("Acquisition", "Content"):
        date = ds.get(f"{prefix}Date")
        if date:
            return f"{date}{ds.get(f'{prefix}Time') or ''}"
    return None


def list_ecg_records(root: str | Path) -> pd.DataFrame:
    """Manifest of ``{root}/**/*.dcm`` from each file's header (waveform data not read).

    A file whose header cannot be read is still listed (record_id = file stem) so that
    :func:`read_ecg` excludes it with a reason.
    """
    rows = []
    for path in sorted(Path(root).rglob("*.dcm")):
        try:
            ds = pydicom.dcmread(path, specific_tags=_HEADER_TAGS)
            record_id = ds.get("SOPInstanceUID") or path.stem
            patient_id, acquired_at = ds.get("PatientID"), _acquired_at(ds)
        except _READ_ERRORS:
            record_id, patient_id, acquired_at = path.stem, None, None
        rows.append({
            "record_id": str(record_id),
            "patient_id": None if patient_id in (None, "") else str(patient_id),
            "acquired_at": acquired_at,
            "source_path": str(path),
            "source_files": [str(path)],
        })
    return pd.DataFrame(rows, columns=["record_id", "patient_id", "acquired_at", "source_path", "source_files"])


def _channel_label(channel: pydicom.Dataset) -> str:
    """The lead name of a channel: ChannelLabel, else the meaning of its source code."""
    if channel.get("ChannelLabel"):
        return str(channel.ChannelLabel)
    source = channel.get("ChannelSourceSequence")
    return str(source[0].get("CodeMeaning", "")) if source else ""


def _channel_unit(channel: pydicom.Dataset) -> str:
    units = channel.get("ChannelSensitivityUnitsSequence")
    return str(units[0].get("CodeValue", "uV")) if units else "uV"


def _pick_group(groups) -> int:
    """The multiplex group to read: the longest one that holds all 12 leads (the rhythm strip)."""
    best, best_samples = 0, -1
    for i, group in enumerate(groups):
        labels = {canonical_lead_name(_channel_label(c)) for c in group.get("ChannelDefinitionSequence", [])}
        samples = int(group.get("NumberOfWaveformSamples", 0) or 0)
        if all(lead in labels for lead in MODEL_LEAD_ORDER) and samples > best_samples:
            best, best_samples = i, samples
    return best


def read_ecg(row, *, min_duration_s: float = MIN_DURATION_S) -> ECGRecord:
    """Read one DICOM ECG: leads by channel label, values scaled to mV, rate from the file."""
    path = str(row["source_path"])
    with opening_record(path, "is no readable DICOM file", _READ_ERRORS):
        ds = pydicom.dcmread(path)
    groups = ds.get("WaveformSequence")
    if not groups:
        raise RecordFault(f"unreadable file: {path} has no WaveformSequence (not a DICOM ECG)")
    index = _pick_group(groups)
    group = groups[index]
    channels = group.get("ChannelDefinitionSequence") or []
    n_channels = int(group.get("NumberOfWaveformChannels", 0) or 0)
    if len(channels) != n_channels:
        raise RecordFault(
            f"wrong shape: {path} defines {len(channels)} channels but states "
            f"NumberOfWaveformChannels {n_channels}"
        )
    if not group.get("SamplingFrequency"):
        raise RecordFault(f"unreadable file: {path} states no SamplingFrequency")
    try:
        values = ds.waveform_array(index)  # (samples, channels), scaled by ChannelSensitivity
    except (AttributeError, KeyError, ValueError) as error:
        raise RecordFault(f"unreadable file: the waveform data in {path} cannot be decoded ({one_line(error)})") from error
    scale = np.array([millivolts_per_unit(_channel_unit(c), path) for c in channels])
    stored = (values * scale).T
    return checked_ecg_record(
        stored,
        [_channel_label(c) for c in channels],
        float(group.SamplingFrequency),
        record_id=row["record_id"],
        source_path=path,
        min_duration_s=min_duration_s,
        extra={"acquired_at": _acquired_at(ds), "patient_id": ds.get("PatientID")},
    )
