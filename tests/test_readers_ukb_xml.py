"""UK Biobank CardiologyXML reader: files written with xml.etree, read back in mV."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from format_writers import distinct_leads, write_cardiology_xml

from echo2ecg.qc import RecordFault, reason_kind
from echo2ecg.readers import ukb_xml

RATE = 500
GE_ORDER = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
SHUFFLED = ("V6", "aVF", "I", "V1", "aVL", "II", "V2", "III", "V3", "aVR", "V4", "V5")


def _cohort(root):
    signal = distinct_leads(5000, RATE)
    write_cardiology_xml(root / "ecg" / "1000001_20205_2_0.xml", signal, RATE, names=SHUFFLED)
    write_cardiology_xml(root / "ecg" / "1000002_20205_3_0.xml", signal, RATE, when=(2019, 11, 30, 8, 5, 0))
    (root / "ecg" / "notes.txt").write_text("not an ECG")
    pd.DataFrame({
        "eid": ["1000001", "1000002"], "31-0.0": ["0", "1"], "21003-2.0": ["64", "70"],
        "21003-3.0": ["", "72"], "22420-2.0": ["58.5", ""], "22421-2.0": ["140", "150"],
        "22422-2.0": ["58", "70"], "22423-2.0": ["82", "80"],
    }).to_csv(root / "ukb_phenotypes.csv", index=False)
    return signal, ukb_xml.list_ecg_records(root)


def test_manifest_from_file_names_and_phenotype_table(tmp_path):
    _, manifest = _cohort(tmp_path)
    assert list(manifest["record_id"]) == ["1000001_20205_2_0", "1000002_20205_3_0"]
    assert list(manifest["patient_id"]) == ["1000001", "1000002"]
    assert list(manifest["instance"]) == ["2", "3"]
    assert list(manifest["sex"]) == ["0", "1"] and list(manifest["age"]) == ["64", "72"]
    path = str(tmp_path / "ecg" / "1000001_20205_2_0.xml")
    assert manifest.loc[0, "source_path"] == path and manifest.loc[0, "source_files"] == [path]


def test_leads_scaled_to_mv_and_mapped_by_name(tmp_path):
    signal, manifest = _cohort(tmp_path)
    for row in manifest.to_dict("records"):
        record = ukb_xml.read_ecg(row)
        assert record.sampling_rate == RATE and record.signal.shape == (12, 5000)
        assert record.signal.dtype == np.float32
        # stored as integer counts of 5 uV
        np.testing.assert_allclose(record.signal, signal, atol=2.5e-3 + 1e-6)
    assert record.extra["acquired_at"] == "2019-11-30T08:05:00"


def test_sampling_rate_and_resolution_are_read(tmp_path):
    signal = distinct_leads(2500, 250)
    path = write_cardiology_xml(tmp_path / "ecg" / "7_20205_2_0.xml", signal, 250, resolution_uv=1.0)
    record = ukb_xml.read_ecg({"record_id": "7_20205_2_0", "source_path": str(path)})
    assert record.sampling_rate == 250
    np.testing.assert_allclose(record.signal, signal, atol=0.5e-3 + 1e-6)


def test_phenotypes_per_participant_from_imaging_visit(tmp_path):
    _cohort(tmp_path)
    phenotypes = ukb_xml.read_phenotypes(tmp_path).set_index("entity_id")
    first = phenotypes.loc["1000001"]
    assert (first["lvef"], first["lvedv"], first["lvesv"], first["lvsv"]) == (58.5, 140, 58, 82)
    assert np.isnan(phenotypes.loc["1000002", "lvef"]) and phenotypes["shd"].isna().all()


def _fault(path) -> str:
    with pytest.raises(RecordFault) as caught:
        ukb_xml.read_ecg({"record_id": path.stem, "source_path": str(path)})
    return str(caught.value)


def test_bad_xml_and_missing_file(tmp_path):
    path = write_cardiology_xml(tmp_path / "1_20205_2_0.xml", distinct_leads(5000, RATE), RATE)
    path.write_bytes(path.read_bytes()[:-2000])
    reason = _fault(path)
    assert reason_kind(reason) == "unreadable file" and path.name in reason
    reason = _fault(tmp_path / "2_20205_2_0.xml")
    assert reason_kind(reason) == "missing file" and "2_20205_2_0.xml" in reason


def test_missing_leads(tmp_path):
    signal = distinct_leads(5000, RATE)
    keep = [i for i, n in enumerate(GE_ORDER) if n not in ("V5", "aVR")]
    path = write_cardiology_xml(tmp_path / "3_20205_2_0.xml", signal[keep], RATE,
                                names=tuple(GE_ORDER[i] for i in keep))
    reason = _fault(path)
    assert reason_kind(reason) == "missing leads" and "aVR, V5" in reason and path.name in reason


@pytest.mark.parametrize("kind, n_samples", [("flat lead", 5000), ("too short", 4000)])
def test_flat_and_short(tmp_path, kind, n_samples):
    signal = distinct_leads(n_samples, RATE)
    if kind == "flat lead":
        signal[2] = 0.1  # III
    path = write_cardiology_xml(tmp_path / "4_20205_2_0.xml", signal, RATE)
    reason = _fault(path)
    assert reason_kind(reason) == kind and path.name in reason
    if kind == "flat lead":
        assert "lead III" in reason
