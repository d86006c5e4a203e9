"""EchoNext reader: metadata CSV + one (N, 1, 2500, 12) .npy per split, read with mmap."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from format_writers import distinct_leads

from echo2ecg.qc import RecordFault, reason_kind
from echo2ecg.readers import echonext

RATE = 250


def _cohort(root):
    """train: 3 ECGs, val: 1, test: 1, no_split: 1 (no waveform). Metadata rows interleaved."""
    splits = ["train", "val", "train", "no_split", "test", "train"]
    meta = pd.DataFrame({
        "ecg_key": [f"E{i}" for i in range(6)],
        "patient_key": ["P0", "P1", "P0", "P2", "P3", "P4"],
        "age_at_ecg": ["61", "70", "62", "55", "48", "80"],
        "sex": ["M", "F", "M", "F", "F", "M"],
        "acquisition_year": ["2015", "2016", "2017", "2018", "2019", "2020"],
        "split": splits,
        "lvef_lte_45_flag": ["0", "1", "0", "0", "0", "1"],
        "shd_moderate_or_greater_flag": ["0", "1", "0", "1", "0", "1"],
        "lvef_value": ["60.0", "35.5", "", "58", "62", "40"],
    })
    meta.to_csv(root / echonext.METADATA_FILE, index=False)
    signals = {}
    for split in ("train", "val", "test"):
        keys = meta.loc[meta["split"] == split, "ecg_key"]
        # model lead order on the last axis, in mV
        rows = [distinct_leads(2500, RATE, seed=int(k[1:])).T[None] for k in keys]
        np.save(root / f"EchoNext_{split}_waveforms.npy", np.stack(rows).astype(np.float32))
        signals.update({k: r[0].T for k, r in zip(keys, rows)})
    return echonext.list_ecg_records(root), signals


def test_manifest_rows_point_at_their_split_array_rows(tmp_path):
    manifest, _ = _cohort(tmp_path)
    assert list(manifest["record_id"]) == ["E0", "E1", "E2", "E4", "E5"]  # no_split has no waveform
    assert list(manifest["npy_row"]) == [0, 0, 1, 0, 2]
    e2 = manifest.set_index("record_id").loc["E2"]
    assert e2["patient_id"] == "P0" and e2["acquired_at"] == "2017-07-01"
    assert e2["source_path"] == str(tmp_path / "EchoNext_train_waveforms.npy")
    assert e2["source_files"] == [e2["source_path"]]
    assert e2["age_at_ecg"] == "62" and e2["sex"] == "M" and e2["split"] == "train"


def test_read_ecg_returns_the_right_row_at_250_hz(tmp_path):
    manifest, signals = _cohort(tmp_path)
    for row in manifest.to_dict("records"):
        record = echonext.read_ecg(row)
        assert record.sampling_rate == RATE and record.duration_s == 10
        assert record.signal.dtype == np.float32 and record.signal.shape == (12, 2500)
        np.testing.assert_allclose(record.signal, signals[row["record_id"]], atol=1e-6)


def test_phenotypes_per_ecg(tmp_path):
    _cohort(tmp_path)
    phenotypes = echonext.read_phenotypes(tmp_path).set_index("entity_id")
    assert phenotypes.loc["E1", "lvef"] == 35.5 and phenotypes.loc["E1", "shd"] == 1
    assert np.isnan(phenotypes.loc["E2", "lvef"]) and phenotypes.loc["E2", "shd"] == 0
    assert phenotypes.loc["E3", "patient_id"] == "P2"
    assert phenotypes[["lvedv", "lvesv", "lvsv"]].isna().all().all()


def _fault(row, **kwargs) -> str:
    with pytest.raises(RecordFault) as caught:
        echonext.read_ecg(row, **kwargs)
    return str(caught.value)


def test_missing_and_corrupt_arrays(tmp_path):
    manifest, _ = _cohort(tmp_path)
    rows = manifest.set_index("record_id")
    (tmp_path / "EchoNext_val_waveforms.npy").unlink()
    reason = _fault({**rows.loc["E1"].to_dict(), "record_id": "E1"})
    assert reason_kind(reason) == "missing file" and "EchoNext_val_waveforms.npy" in reason
    test_file = tmp_path / "EchoNext_test_waveforms.npy"
    test_file.write_bytes(test_file.read_bytes()[:200])  # header kept, data cut
    reason = _fault({**rows.loc["E4"].to_dict(), "record_id": "E4"})
    assert reason_kind(reason) == "unreadable file" and "EchoNext_test_waveforms.npy" in reason


def test_wrong_shape_and_row_beyond_array(tmp_path):
    path = tmp_path / "EchoNext_train_waveforms.npy"
    np.save(path, np.zeros((2, 2500, 12), np.float32))
    reason = _fault({"record_id": "E0", "source_path": str(path), "npy_row": 0})
    assert reason_kind(reason) == "wrong shape" and path.name in reason
    np.save(path, distinct_leads(2500, RATE).T[None, None].astype(np.float32))
    reason = _fault({"record_id": "E9", "source_path": str(path), "npy_row": 3})
    assert reason_kind(reason) == "wrong shape" and "row 3" in reason


@pytest.mark.parametrize("kind", ["all-NaN lead", "flat lead", "too short"])
def test_signal_faults(tmp_path, kind):
    signal = distinct_leads(2500, RATE)
    if kind == "all-NaN lead":
        signal[7] = np.nan  # V2
    elif kind == "flat lead":
        signal[5] = 0.0  # aVF
    path = tmp_path / f"EchoNext_{kind.replace(' ', '_')}.npy"
    waves = signal.T[None, None].astype(np.float32)
    np.save(path, waves[:, :, :2000] if kind == "too short" else waves)
    reason = _fault({"record_id": "E0", "source_path": str(path), "npy_row": 0})
    assert reason_kind(reason) == kind and path.name in reason
    if kind == "all-NaN lead":
        assert "V2" in reason
    if kind == "flat lead":
        assert "aVF" in reason
