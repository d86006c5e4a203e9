"""MIMIC-IV-ECHO reader: DICOM views written with pydicom (JPEG Baseline through Pillow,
uncompressed RGB and MONOCHROME2), index CSVs and structured measurements."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pydicom
import pytest
from format_writers import jpeg_bytes, smooth_frames, write_echo_dicom

from echo2ecg.qc import RecordFault, reason_kind
from echo2ecg.readers import mimic_iv_echo

H, W = 48, 64


def test_manifests_from_index_files(tmp_path):
    pd.DataFrame({
        "subject_id": ["10000032", "10000032"], "study_id": ["90000001", "90000001"],
        "acquisition_datetime": ["2180-07-23 14:05:11", "2180-07-23 14:06:40"],
        "dicom_filepath": ["files/p10/p10000032/s90000001/90000001_0001.dcm",
                           "files/p10/p10000032/s90000001/90000001_0002.dcm"],
    }).to_csv(tmp_path / "echo-record-list.csv", index=False)
    pd.DataFrame({"subject_id": ["10000032"], "study_id": ["90000001"],
                  "study_datetime": ["2180-07-23 14:00:00"], "note_id": ["N1"]}
                 ).to_csv(tmp_path / "echo-study-list.csv", index=False)
    views = mimic_iv_echo.list_echo_views(tmp_path)
    assert list(views["record_id"]) == ["90000001_0001", "90000001_0002"]
    assert list(views["acquired_at"]) == ["2180-07-23 14:05:11", "2180-07-23 14:06:40"]
    first = views.iloc[0]
    path = str(tmp_path / "files/p10/p10000032/s90000001/90000001_0001.dcm")
    assert (first["study_id"], first["patient_id"], first["source_path"]) == ("90000001", "10000032", path)
    assert first["source_files"] == [path]
    studies = mimic_iv_echo.list_echo_studies(tmp_path)
    assert studies.iloc[0].to_dict() == {"study_id": "90000001", "patient_id": "10000032",
                                         "acquired_at": "2180-07-23 14:00:00", "note_id": "N1"}


def test_jpeg_baseline_ybr_cine(tmp_path):
    frames = smooth_frames(6, H, W)
    path = write_echo_dicom(tmp_path / "90000001_0001.dcm", frames, jpeg=True, cine_rate=42)
    header = mimic_iv_echo.probe_view(path)
    assert (header.n_frames, header.height, header.width) == (6, H, W)
    assert header.fps == 42 and header.samples_per_pixel == 3 and header.compressed
    out = mimic_iv_echo.read_view_frames(path, [3, 1, 3])
    assert out.dtype == np.uint8 and out.shape == (3, H, W, 3)
    for got, index in zip(out, [3, 1, 3]):  # YBR decoded back to RGB, close to what was written
        assert np.abs(got.astype(int) - frames[index]).mean() < 3
    assert np.abs(out[1].astype(int) - frames[3]).mean() > 5  # and a different frame is far


def test_jpeg_baseline_grayscale_is_expanded_to_three_channels(tmp_path):
    gray = smooth_frames(3, H, W, colour=False)
    path = write_echo_dicom(tmp_path / "gray_jpeg.dcm", gray, jpeg=True)
    header = mimic_iv_echo.probe_view(path)
    assert header.samples_per_pixel == 1 and header.compressed
    out = mimic_iv_echo.read_view_frames(path, [1])
    assert out.shape == (1, H, W, 3)
    assert (out[0, ..., 0] == out[0, ..., 2]).all()
    assert np.abs(out[0, ..., 1].astype(int) - gray[1]).mean() < 2


def test_only_requested_frames_are_decoded(tmp_path):
    frames = smooth_frames(5, H, W)
    encoded = [jpeg_bytes(f) for f in frames[:4]] + [b"\xff\xd8 this frame is corrupt \xff\xd9"]
    path = write_echo_dicom(tmp_path / "90000001_0002.dcm", frames, jpeg=True, jpeg_frames=encoded)
    out = mimic_iv_echo.read_view_frames(path, [0, 2])  # the corrupt frame 4 is never decoded
    assert np.abs(out[1].astype(int) - frames[2]).mean() < 3
    with pytest.raises(RecordFault) as caught:
        mimic_iv_echo.read_view_frames(path, [4])
    assert reason_kind(str(caught.value)) == "unreadable file" and path.name in str(caught.value)


def test_uncompressed_rgb_and_monochrome(tmp_path):
    rgb = smooth_frames(4, H, W)
    path = write_echo_dicom(tmp_path / "rgb.dcm", rgb, cine_rate=None, frame_time_ms=20.0)
    header = mimic_iv_echo.probe_view(path)
    assert header.fps == 50 and not header.compressed and header.samples_per_pixel == 3
    np.testing.assert_array_equal(mimic_iv_echo.read_view_frames(path), rgb)
    gray = smooth_frames(3, H, W, colour=False)
    path = write_echo_dicom(tmp_path / "gray.dcm", gray)
    assert mimic_iv_echo.probe_view(path).samples_per_pixel == 1
    out = mimic_iv_echo.read_view_frames(path, [2])
    assert out.shape == (1, H, W, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[0, ..., channel], gray[2])


def test_single_frame_still_without_number_of_frames(tmp_path):
    still = smooth_frames(1, H, W)
    path = write_echo_dicom(tmp_path / "still.dcm", still, cine_rate=None)
    ds = pydicom.dcmread(path)
    del ds.NumberOfFrames
    ds.save_as(path)
    header = mimic_iv_echo.probe_view(path)
    assert header.n_frames == 1 and header.fps is None
    np.testing.assert_array_equal(mimic_iv_echo.read_view_frames(path), still)


def _fault(call, *args) -> str:
    with pytest.raises(RecordFault) as caught:
        call(*args)
    return str(caught.value)


def test_faults_name_the_file(tmp_path):
    frames = smooth_frames(4, H, W)
    path = write_echo_dicom(tmp_path / "cut.dcm", frames)
    path.write_bytes(path.read_bytes()[: -H * W * 3 - 10])  # last frame and a bit cut off
    reason = _fault(mimic_iv_echo.read_view_frames, path, [3])
    assert reason_kind(reason) == "unreadable file" and "cut.dcm" in reason
    path.write_bytes(path.read_bytes()[:150])  # header cut
    reason = _fault(mimic_iv_echo.probe_view, path)
    assert reason_kind(reason) == "unreadable file" and "cut.dcm" in reason
    (tmp_path / "text.dcm").write_text("not a DICOM file")
    assert reason_kind(_fault(mimic_iv_echo.probe_view, tmp_path / "text.dcm")) == "unreadable file"
    reason = _fault(mimic_iv_echo.read_view_frames, tmp_path / "gone.dcm")
    assert reason_kind(reason) == "missing file" and "gone.dcm" in reason
    empty = write_echo_dicom(tmp_path / "empty.dcm", frames)
    ds = pydicom.dcmread(empty)
    ds.NumberOfFrames = 0
    ds.save_as(empty)
    reason = _fault(mimic_iv_echo.probe_view, empty)
    assert reason_kind(reason) == "zero frames" and "empty.dcm" in reason


def test_out_of_range_frame_is_a_caller_error(tmp_path):
    path = write_echo_dicom(tmp_path / "v.dcm", smooth_frames(2, H, W))
    with pytest.raises(IndexError):
        mimic_iv_echo.read_view_frames(path, [2])


def test_phenotypes_from_structured_measurements(tmp_path):
    pd.DataFrame({
        "subject_id": ["1", "1", "2", "3"],
        "study_id": ["S1", "S2", "S3", "S4"],
        "study_datetime": ["2180-01-01 10:00:00", "2181-05-05 09:30:00", "2170-02-02 08:00:00",
                           "2175-03-03 12:00:00"],
        "measurement_id": ["", "", "", "M9"],
    }).to_csv(tmp_path / "echo-study-list.csv", index=False)
    rows = [
        ("1", "M1", "2180-01-01 10:00:00", "lvef", "55"),
        ("1", "M1", "2180-01-01 10:00:00", "biplane_lvef", "50"),  # lvef wins
        ("1", "M1", "2180-01-01 10:00:00", "biplane_lvedv", "120"),
        ("1", "M1", "2180-01-01 10:00:00", "biplane_lvesv", "50"),
        ("1", "M1", "2180-01-01 10:00:00", "lvedd", "4.8"),  # not a phenotype used
        ("1", "M2", "2181-05-05 09:30:00", "biplane_lvef", "35"),  # no lvef: biplane used
        ("1", "M2", "2181-05-05 09:30:00", "biplane_lvedv", "see note"),  # unparsable
        ("2", "M3", "2170-02-02 08:00:00", "lvef", "55-65"),  # a range: its middle
        ("2", "M4", "2170-02-03 08:00:00", "lvef", "20"),  # no study at that time
        ("3", "M9", "2175-03-04 00:00:00", "lvef", ">75"),  # linked by id; unparsable
        ("3", "M9", "2175-03-04 00:00:00", "biplane_lvesv", "40"),
    ]
    pd.DataFrame(rows, columns=["subject_id", "measurement_id", "measurement_datetime", "measurement",
                                "result"]).assign(test_type="tte").to_csv(
        tmp_path / "structured-measurement.csv.gz", index=False, compression="gzip")
    phenotypes = mimic_iv_echo.read_phenotypes(tmp_path, chunksize=4).set_index("entity_id")
    assert sorted(phenotypes.index) == ["S1", "S2", "S3", "S4"]
    s1 = phenotypes.loc["S1"]
    assert (s1["patient_id"], s1["lvef"], s1["lvedv"], s1["lvesv"], s1["lvsv"]) == ("1", 55, 120, 50, 70)
    assert phenotypes.loc["S2", "lvef"] == 35 and np.isnan(phenotypes.loc["S2", "lvedv"])
    assert np.isnan(phenotypes.loc["S2", "lvsv"])
    assert phenotypes.loc["S3", "lvef"] == 60
    assert np.isnan(phenotypes.loc["S4", "lvef"]) and phenotypes.loc["S4", "lvesv"] == 40
    assert phenotypes["shd"].isna().all()


@pytest.mark.parametrize("jpeg", [True, False])
def test_probe_rejects_a_file_cut_inside_its_pixel_data(tmp_path, jpeg):
    path = write_echo_dicom(tmp_path / "cut.dcm", smooth_frames(10, 32, 40), jpeg=jpeg)
    mimic_iv_echo.probe_view(path)  # intact: accepted
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - len(data) // 3])
    with pytest.raises(RecordFault) as fault:
        mimic_iv_echo.probe_view(path)
    assert reason_kind(str(fault.value)) == "unreadable file"
    assert "cut short" in str(fault.value) and "cut.dcm" in str(fault.value)
