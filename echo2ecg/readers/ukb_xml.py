"""UK Biobank resting ECGs (field 20205) as CardiologyXML files (see FORMATS.md).

The manifest comes from the file names in ``{root}/ecg`` (``{eid}_20205_{instance}_0.xml``)
and ``ukb_phenotypes.csv`` (age, sex). The acquisition time lives inside each XML
(``ObservationDateTime``), so the manifest leaves ``acquired_at`` empty and :func:`read_ecg`
returns it in ``ECGRecord.extra["acquired_at"]``.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd

from echo2ecg.qc import RecordFault
from echo2ecg.readers.base import (
    MIN_DURATION_S,
    checked_ecg_record,
    ECGRecord,
    millivolts_per_unit,
    one_line,
    opening_record,
)

ECG_FIELD = "20205"
_FILE_NAME = re.compile(rf"^(?P<eid>\d+)_{ECG_FIELD}_(?P<instance>\d+)_(?P<array>\d+)\.xml$")
_PHENOTYPE_FIELDS = {"22420": "lvef", "22421": "lvedv", "22422": "lvesv", "22423": "lvsv"}
IMAGING_INSTANCE = "2"  # the MRI volumes (fields 22420-22423) are from the imaging visit


def list_ecg_records(root: str | Path) -> pd.DataFrame:
    """Manifest of ``{root}/ecg/*_20205_*_0.xml`` with age and sex from ukb_phenotypes.csv."""
    root = Path(root)
    rows = []
    for path in sorted((root / "ecg").glob(f"*_{ECG_FIELD}_*.xml")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            continue
        rows.append({
            "record_id": path.stem,
            "patient_id": match["eid"],
            "acquired_at": None,
            "source_path": str(path),
            "source_files": [str(path)],
            "instance": match["instance"],
        })
    manifest = pd.DataFrame(
        rows, columns=["record_id", "patient_id", "acquired_at", "source_path", "source_files", "instance"]
    )
    phenotypes_file = root / "ukb_phenotypes.csv"
    if phenotypes_file.exists() and len(manifest):
        table = pd.read_csv(phenotypes_file, dtype=str).set_index("eid")
        eid = manifest["patient_id"]
        manifest["sex"] = eid.map(table["31-0.0"]) if "31-0.0" in table else None
        age = pd.Series(None, index=manifest.index, dtype="object")
        for instance in manifest["instance"].unique():
            column = f"21003-{instance}.0"
            if column in table:
                here = manifest["instance"] == instance
                age[here] = eid[here].map(table[column])
        manifest["age"] = age
    return manifest


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(parent: ET.Element, name: str) -> ET.Element | None:
    return next((e for e in parent if _local(e.tag) == name), None)


def read_ecg(row, *, min_duration_s: float = MIN_DURATION_S) -> ECGRecord:
    """Read the 10 s strip (``StripData``) of one CardiologyXML file, model lead order, mV."""
    path = str(row["source_path"])
    with opening_record(path, "is not well-formed, readable XML", (ET.ParseError, OSError)):
        tree = ET.parse(path)
    strip = next((e for e in tree.getroot().iter() if _local(e.tag) == "StripData"), None)
    if strip is None:
        raise RecordFault(f"unreadable file: {path} has no StripData element")
    rate_element = _child(strip, "SampleRate")
    resolution = _child(strip, "Resolution")
    if rate_element is None or resolution is None:
        raise RecordFault(f"unreadable file: {path} lacks StripData/SampleRate or StripData/Resolution")
    try:
        rate = float(rate_element.text)
        units_per_uv = float(resolution.text)
        names, leads = [], []
        for element in strip:
            if _local(element.tag) == "WaveformData":
                names.append(element.get("lead", ""))
                leads.append(np.array((element.text or "").split(","), dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise RecordFault(f"unreadable file: {path} holds a non-numeric value in StripData ({one_line(error)})") from error
    unit = (resolution.get("units") or "uVperLsb").lower().split("per")[0]
    scale = units_per_uv * millivolts_per_unit(unit, path)
    lengths = {len(lead) for lead in leads}
    if len(lengths) > 1:
        raise RecordFault(f"wrong shape: the leads in {path} have different lengths {sorted(lengths)}")
    stored = np.stack(leads) * scale if leads else np.empty((0, 0))
    return checked_ecg_record(
        stored,
        names,
        rate,
        record_id=row["record_id"],
        source_path=path,
        min_duration_s=min_duration_s,
        extra={"acquired_at": _observation_time(tree.getroot())},
    )


def _observation_time(root: ET.Element) -> str | None:
    """``ObservationDateTime`` as ISO text (naive, as stored), or None when absent."""
    when = next((e for e in root.iter() if _local(e.tag) == "ObservationDateTime"), None)
    if when is None:
        return None
    parts = {}
    for name in ("Year", "Month", "Day", "Hour", "Minute", "Second"):
        element = _child(when, name)
        text = (element.text or "").strip() if element is not None else ""
        if not text.isdigit():
            return None
        parts[name] = int(text)
    return (
        f"{parts['Year']:04d}-{parts['Month']:02d}-{parts['Day']:02d}T"
        f"{parts['Hour']:02d}:{parts['Minute']:02d}:{parts['Second']:02d}"
    )


def read_phenotypes(root: str | Path) -> pd.DataFrame:
    """Cardiac-MRI LV phenotypes (imaging visit, instance 2), one row per participant:
    entity_id = patient_id = eid."""
    table = pd.read_csv(Path(root) / "ukb_phenotypes.csv", dtype=str)
    frame = pd.DataFrame({"entity_id": table["eid"], "patient_id": table["eid"]})
    for field, name in _PHENOTYPE_FIELDS.items():
        column = f"{field}-{IMAGING_INSTANCE}.0"
        frame[name] = pd.to_numeric(table[column], errors="coerce") if column in table else np.nan
    frame["shd"] = np.nan
    return frame
