"""EchoNet-Dynamic reader: AVIs encoded with PyAV (mjpeg, mpeg4, ffv1), FileList.csv."""
from __future__ import annotations

import re

import av
import numpy as np
import pandas as pd
import pytest
from format_writers import smooth_frames, write_avi

from echo2ecg.qc import RecordFault, reason_kind
from echo2ecg.readers import echonet_dynamic

SIDE = 112


def _cohort(root):
    pd.DataFrame({
        "FileName": ["0X1A", "0X2B.avi"], "EF": ["62.5", "30"], "ESV": ["40", "105"],
        "EDV": ["106.7", "150"], "FrameHeight": ["112", "112"], "FrameWidth": ["112", "112"],
        "FPS": ["50", "50"], "NumberOfFrames": ["12", "12"], "Split": ["TRAIN", "TEST"],
    }).to_csv(root / "FileList.csv", index=False)


def test_manifests_and_phenotypes(tmp_path):
    _cohort(tmp_path)
    views = echonet_dynamic.list_echo_views(tmp_path)
    assert list(views["record_id"]) == ["0X1A", "0X2B"]  # '.avi' in FileName is dropped
    assert (views["study_id"] == views["record_id"]).all() and (views["patient_id"] == views["record_id"]).all()
    path = str(tmp_path / "Videos" / "0X2B.avi")
    assert views.loc[1, "source_path"] == path and views.loc[1, "source_files"] == [path]
    assert views["acquired_at"].isna().all() and list(views["Split"]) == ["TRAIN", "TEST"]
    studies = echonet_dynamic.list_echo_studies(tmp_path)
    assert list(studies["study_id"]) == ["0X1A", "0X2B"] and list(studies["split"]) == ["TRAIN", "TEST"]
    phenotypes = echonet_dynamic.read_phenotypes(tmp_path).set_index("entity_id")
    assert phenotypes.loc["0X1A", "lvef"] == 62.5 and phenotypes.loc["0X2B", "lvsv"] == 45
    assert phenotypes.loc["0X1A", "lvsv"] == pytest.approx(66.7) and phenotypes["shd"].isna().all()


@pytest.mark.parametrize("codec, tolerance", [("mjpeg", 3.0), ("mpeg4", 4.0), ("ffv1", 0.0)])
def test_probe_and_read_frames(tmp_path, codec, tolerance):
    frames = smooth_frames(12, SIDE, SIDE)
    path = write_avi(tmp_path / "Videos" / "0X1A.avi", frames, fps=50, codec=codec)
    header = echonet_dynamic.probe_view(path)
    assert (header.n_frames, header.height, header.width, header.fps) == (12, SIDE, SIDE, 50)
    assert header.samples_per_pixel == 3 and header.compressed
    out = echonet_dynamic.read_view_frames(path, [6, 0, 6, 2])
    assert out.dtype == np.uint8 and out.shape == (4, SIDE, SIDE, 3)
    for got, index in zip(out, [6, 0, 6, 2]):
        assert np.abs(got.astype(int) - frames[index]).mean() <= tolerance
    assert np.abs(out[1].astype(int) - frames[6]).mean() > 10
    every = echonet_dynamic.read_view_frames(path)
    assert every.shape == (12, SIDE, SIDE, 3)


class _CountingContainer:
    """Wraps a PyAV input container and counts the frames its decoder yields."""

    decoded = 0

    def __init__(self, container):
        self._container = container

    def __getattr__(self, name):
        return getattr(self._container, name)

    def decode(self, *args, **kwargs):
        for frame in self._container.decode(*args, **kwargs):
            _CountingContainer.decoded += 1
            yield frame


def test_decoding_stops_after_the_last_requested_frame(tmp_path, monkeypatch):
    path = write_avi(tmp_path / "v.avi", smooth_frames(12, SIDE, SIDE), codec="mjpeg")
    real_open = av.open
    monkeypatch.setattr(echonet_dynamic.av, "open", lambda *a, **k: _CountingContainer(real_open(*a, **k)))
    _CountingContainer.decoded = 0
    echonet_dynamic.read_view_frames(path, [1, 3])
    assert _CountingContainer.decoded == 4


def _fault(call, *args) -> str:
    with pytest.raises(RecordFault) as caught:
        call(*args)
    return str(caught.value)


def test_faults_name_the_file(tmp_path):
    reasons = {}
    for codec in ("mjpeg", "mpeg4"):  # header intact, second half of the frames cut off
        path = write_avi(tmp_path / f"cut_{codec}.avi", smooth_frames(12, SIDE, SIDE), codec=codec)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        reasons[codec] = _fault(echonet_dynamic.read_view_frames, path)
        assert reason_kind(reasons[codec]) == "unreadable file" and path.name in reasons[codec]
    assert re.search(r"ends after \d+ of 12 frames", reasons["mjpeg"])  # MJPEG ends at a frame boundary
    (tmp_path / "junk.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI " + b"\x00" * 64)
    assert reason_kind(_fault(echonet_dynamic.probe_view, tmp_path / "junk.avi")) == "unreadable file"
    reason = _fault(echonet_dynamic.read_view_frames, tmp_path / "gone.avi")
    assert reason_kind(reason) == "missing file" and "gone.avi" in reason
    short = write_avi(tmp_path / "short.avi", smooth_frames(3, SIDE, SIDE), codec="mjpeg")
    reason = _fault(echonet_dynamic.read_view_frames, short, [5])
    assert reason_kind(reason) == "unreadable file" and "short.avi" in reason


def test_video_without_frames(tmp_path):
    path = tmp_path / "empty.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=50)
        stream.width, stream.height, stream.pix_fmt = SIDE, SIDE, "yuvj444p"
        container.start_encoding()  # writes the header of a stream that gets no frame
    for call in (echonet_dynamic.probe_view, echonet_dynamic.read_view_frames):
        reason = _fault(call, path)
        assert reason_kind(reason) == "zero frames" and "empty.avi" in reason
