"""DICOM 12-Lead ECG Waveform Storage reader: files written with pydicom, read via waveform_array."""
from __future__ import annotations

import numpy as np
import pytest
from format_writers import distinct_leads, write_ecg_dicom

from echo2ecg.qc import RecordFault, reason_kind
from echo2ecg.readers import dicom_ecg

RATE = 1000
DEVICE_ORDER = ("V1", "V2", "V3", "V4", "V5", "V6", "I", "II", "III", "aVR", "aVL", "aVF")


def test_manifest_from_headers(tmp_path):
    ds = write_ecg_dicom(tmp_path / "a" / "b" / "ecg1.dcm", distinct_leads(10000, RATE), RATE,
                         patient_id="P77", acquired_at="20210304050607")
    (tmp_path / "broken.dcm").write_bytes(b"not dicom at all")
    manifest = dicom_ecg.list_ecg_records(tmp_path).set_index("source_path")
    good = manifest.loc[str(tmp_path / "a" / "b" / "ecg1.dcm")]
    assert good["record_id"] == ds.SOPInstanceUID and good["patient_id"] == "P77"
    assert good["acquired_at"] == "20210304050607"
    assert good["source_files"] == [str(tmp_path / "a" / "b" / "ecg1.dcm")]
    broken = manifest.loc[str(tmp_path / "broken.dcm")]  # listed, excluded when read
    assert broken["record_id"] == "broken"


@pytest.mark.parametrize("label_style", ["code_meaning", "label"])
def test_1000_hz_uv_channels_scaled_to_mv_in_model_order(tmp_path, label_style):
    signal = distinct_leads(10000, RATE)
    write_ecg_dicom(tmp_path / "ecg.dcm", signal, RATE, names=DEVICE_ORDER, sensitivity_uv=2.5,
                    label_style=label_style)
    row = dicom_ecg.list_ecg_records(tmp_path).iloc[0]
    record = dicom_ecg.read_ecg(row)
    assert record.sampling_rate == RATE and record.duration_s == 10
    assert record.signal.dtype == np.float32 and record.signal.shape == (12, 10000)
    np.testing.assert_allclose(record.signal, signal, atol=1.25e-3 + 1e-6)
    assert record.extra["acquired_at"] == "20200102030405"


def _fault(path) -> str:
    with pytest.raises(RecordFault) as caught:
        dicom_ecg.read_ecg({"record_id": "x", "source_path": str(path)})
    return str(caught.value)


def test_truncated_not_dicom_and_missing(tmp_path):
    path = tmp_path / "cut.dcm"
    write_ecg_dicom(path, distinct_leads(10000, RATE), RATE)
    path.write_bytes(path.read_bytes()[:-5000])
    reason = _fault(path)
    assert reason_kind(reason) == "unreadable file" and "cut.dcm" in reason
    (tmp_path / "text.dcm").write_text("hello")
    reason = _fault(tmp_path / "text.dcm")
    assert reason_kind(reason) == "unreadable file" and "text.dcm" in reason
    reason = _fault(tmp_path / "gone.dcm")
    assert reason_kind(reason) == "missing file" and "gone.dcm" in reason


def test_missing_leads(tmp_path):
    names = DEVICE_ORDER[:9]  # no aVR, aVL, aVF
    order = [("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6").index(n) for n in names]
    path = tmp_path / "nine.dcm"
    write_ecg_dicom(path, distinct_leads(10000, RATE)[order], RATE, names=names)
    reason = _fault(path)
    assert reason_kind(reason) == "missing leads" and "aVR, aVL, aVF" in reason and "nine.dcm" in reason


@pytest.mark.parametrize("kind, n_samples", [("flat lead", 10000), ("too short", 5000)])
def test_flat_and_short(tmp_path, kind, n_samples):
    signal = distinct_leads(n_samples, RATE)
    if kind == "flat lead":
        signal[11] = 0.0  # V6
    path = tmp_path / "bad.dcm"
    write_ecg_dicom(path, signal, RATE)
    reason = _fault(path)
    assert reason_kind(reason) == kind and "bad.dcm" in reason
    if kind == "flat lead":
        assert "lead V6" in reason
