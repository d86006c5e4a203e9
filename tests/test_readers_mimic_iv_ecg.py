"""MIMIC-IV-ECG reader: WFDB records written with wfdb.wrsamp, read back by name."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from format_writers import MIMIC_LEAD_ORDER, distinct_leads, write_wfdb

from echo2ecg.qc import RecordFault, reason_kind
from echo2ecg.readers import mimic_iv_ecg

RATE = 500


def _cohort(root, records):
    """Write WFDB records and record_list.csv; records: (subject, study, signal, names)."""
    rows = []
    for subject, study, signal, names in records:
        relative = f"files/p{subject[:4]}/p{subject}/s{study}/{study}"
        write_wfdb(root / relative, signal, RATE, names)
        rows.append({"subject_id": subject, "study_id": study, "file_name": study,
                     "ecg_time": "2180-07-23 14:00:00", "path": relative})
    pd.DataFrame(rows).to_csv(root / "record_list.csv", index=False)
    return mimic_iv_ecg.list_ecg_records(root)


def _fault(row, **kwargs) -> str:
    with pytest.raises(RecordFault) as caught:
        mimic_iv_ecg.read_ecg(row, **kwargs)
    return str(caught.value)


def test_manifest_lists_records_without_opening_them(tmp_path):
    signal = distinct_leads(5000, RATE)
    manifest = _cohort(tmp_path, [("10000032", "40689238", signal, MIMIC_LEAD_ORDER)])
    row = manifest.iloc[0]
    assert row["record_id"] == "40689238" and row["patient_id"] == "10000032"
    assert row["acquired_at"] == "2180-07-23 14:00:00"
    base = str(tmp_path / "files/p1000/p10000032/s40689238/40689238")
    assert row["source_path"] == base
    assert row["source_files"] == [base + ".hea", base + ".dat"]
    assert row["file_name"] == "40689238"  # extra column passes through


def test_leads_are_mapped_by_name_avf_before_avl(tmp_path):
    signal = distinct_leads(5000, RATE)
    manifest = _cohort(tmp_path, [("10000032", "40689238", signal, MIMIC_LEAD_ORDER)])
    record = mimic_iv_ecg.read_ecg(manifest.iloc[0].to_dict())
    assert record.sampling_rate == RATE
    assert record.signal.dtype == np.float32 and record.signal.shape == (12, 5000)
    np.testing.assert_allclose(record.signal, signal, atol=1e-3)
    # on disk aVF is the 5th signal; in the model order aVL is the 5th row
    assert record.extra["stored_lead_names"][4] == "aVF"
    np.testing.assert_allclose(record.signal[4], signal[4], atol=1e-3)
    assert not np.allclose(signal[4], signal[5])


def test_sampling_rate_is_read_from_the_header(tmp_path):
    signal = distinct_leads(2500, 250)
    write_wfdb(tmp_path / "r", signal, 250)
    record = mimic_iv_ecg.read_ecg({"record_id": "r", "source_path": str(tmp_path / "r")})
    assert record.sampling_rate == 250 and record.duration_s == 10


@pytest.mark.parametrize("damage", ["truncated dat", "bad header"])
def test_corrupt_records_are_unreadable(tmp_path, damage):
    path = write_wfdb(tmp_path / "40000001", distinct_leads(5000, RATE), RATE)
    if damage == "truncated dat":
        data = (tmp_path / "40000001.dat").read_bytes()
        (tmp_path / "40000001.dat").write_bytes(data[: len(data) // 3])
    else:
        (tmp_path / "40000001.hea").write_text("this is not a header\n")
    reason = _fault({"record_id": "40000001", "source_path": str(path)})
    assert reason_kind(reason) == "unreadable file" and "40000001" in reason


def test_missing_dat_file(tmp_path):
    path = write_wfdb(tmp_path / "40000002", distinct_leads(5000, RATE), RATE)
    (tmp_path / "40000002.dat").unlink()
    reason = _fault({"record_id": "40000002", "source_path": str(path)})
    assert reason_kind(reason) == "missing file" and "40000002.dat" in reason


def test_missing_leads_are_named(tmp_path):
    names = ("I", "II", "III", "aVR", "aVF", "V1", "V2", "V4", "V5", "V6")
    signal = distinct_leads(5000, RATE)[[0, 1, 2, 3, 5, 6, 7, 9, 10, 11]]
    path = write_wfdb(tmp_path / "40000003", signal, RATE, names)
    reason = _fault({"record_id": "40000003", "source_path": str(path)})
    assert reason_kind(reason) == "missing leads"
    assert "aVL, V3" in reason and "40000003" in reason


def test_all_nan_lead(tmp_path):
    signal = distinct_leads(5000, RATE)
    signal[9] = np.nan  # V4
    path = write_wfdb(tmp_path / "40000004", signal, RATE)
    reason = _fault({"record_id": "40000004", "source_path": str(path)})
    assert reason_kind(reason) == "all-NaN lead" and "V4" in reason and "40000004" in reason


def test_flat_lead(tmp_path):
    signal = distinct_leads(5000, RATE)
    signal[4] = 0.25  # aVL, stored as the 6th signal
    path = write_wfdb(tmp_path / "40000005", signal, RATE)
    reason = _fault({"record_id": "40000005", "source_path": str(path)})
    assert reason_kind(reason) == "flat lead" and "lead aVL" in reason and "40000005" in reason


def test_too_short_uses_min_duration_argument(tmp_path):
    path = write_wfdb(tmp_path / "40000006", distinct_leads(4000, RATE), RATE)  # 8 s
    row = {"record_id": "40000006", "source_path": str(path)}
    reason = _fault(row)
    assert reason_kind(reason) == "too short" and "8.00 s" in reason and "40000006" in reason
    assert mimic_iv_ecg.read_ecg(row, min_duration_s=7.5).signal.shape == (12, 4000)
