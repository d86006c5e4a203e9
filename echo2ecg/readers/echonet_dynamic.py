"""EchoNet-Dynamic: apical-4-chamber AVI videos listed in ``FileList.csv`` (see FORMATS.md).

One view per study and one study per patient: view_id = study_id = patient_id = FileName.
The dataset has no dates, so ``acquired_at`` is empty. Videos are read with PyAV.
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pandas as pd

from echo2ecg.qc import RecordFault
from echo2ecg.readers.base import one_line, opening_record, ViewHeader

_GRAY_FORMATS = {"gray", "gray8", "gray16le", "gray16be", "ya8"}
_AV_ERRORS = (av.FFmpegError, OSError, ValueError)


def _file_list(root: Path) -> pd.DataFrame:
    table = pd.read_csv(root / "FileList.csv", dtype=str)
    table["FileName"] = table["FileName"].str.strip().str.removesuffix(".avi")
    return table


def list_echo_views(root: str | Path) -> pd.DataFrame:
    """Manifest of the videos in ``FileList.csv`` (videos are not opened)."""
    root = Path(root)
    table = _file_list(root)
    source = [str(root / "Videos" / f"{name}.avi") for name in table["FileName"]]
    manifest = pd.DataFrame({
        "record_id": table["FileName"],
        "study_id": table["FileName"],
        "patient_id": table["FileName"],
        "acquired_at": pd.Series(pd.NA, index=table.index, dtype="string"),
        "source_path": source,
        "source_files": [[s] for s in source],
    })
    return pd.concat([manifest, table.drop(columns=["FileName"])], axis=1)


def list_echo_studies(root: str | Path) -> pd.DataFrame:
    """One study per video, with the dataset's split."""
    table = _file_list(Path(root))
    return pd.DataFrame({
        "study_id": table["FileName"],
        "patient_id": table["FileName"],
        "acquired_at": pd.Series(pd.NA, index=table.index, dtype="string"),
        "split": table["Split"] if "Split" in table else None,
    })


def _open(path: str):
    with opening_record(path, "is no readable video", _AV_ERRORS):
        container = av.open(path)
    if not container.streams.video:
        container.close()
        raise RecordFault(f"unreadable file: {path} holds no video stream")
    return container


def probe_view(path: str | Path) -> ViewHeader:
    """Frame count, size and frame rate from the container; frames are not decoded."""
    path = str(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        n_frames = stream.frames
        if n_frames <= 0:  # no frame count in the container: count packets (no decoding)
            n_frames = sum(1 for packet in container.demux(stream) if packet.size > 0)
        rate = stream.average_rate or stream.guessed_rate
        codec = stream.codec_context
        header = ViewHeader(
            source_path=path,
            n_frames=int(n_frames),
            height=int(codec.height),
            width=int(codec.width),
            fps=float(rate) if rate else None,
            samples_per_pixel=1 if (codec.pix_fmt or "") in _GRAY_FORMATS else 3,
            compressed=codec.name != "rawvideo",
        )
    except _AV_ERRORS as error:
        raise RecordFault(f"unreadable file: {path} cannot be demuxed ({one_line(error)})") from error
    finally:
        container.close()
    if header.n_frames == 0:
        raise RecordFault(f"zero frames: {path} holds no video frame")
    return header


def read_view_frames(path: str | Path, frame_indices=None) -> np.ndarray:
    """Decode the requested frames (all when None) as uint8 RGB, shape (F, H, W, 3).

    Decoding stops after the last requested frame. Indices may repeat and come in any order.
    """
    path = str(path)
    wanted = None if frame_indices is None else np.asarray(frame_indices, dtype=np.int64)
    if wanted is not None and (wanted.ndim != 1 or (wanted.size and wanted.min() < 0)):
        raise IndexError(f"frame indices {wanted.tolist()} are not non-negative frame numbers of {path}")
    last = None if wanted is None else (int(wanted.max()) if wanted.size else -1)
    needed = None if wanted is None else set(wanted.tolist())
    decoded: dict[int, np.ndarray] = {}
    n_seen = 0
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stated = int(stream.frames)  # 0 when the container states no count
        size = (int(stream.codec_context.height), int(stream.codec_context.width))
        for i, frame in enumerate(container.decode(video=0)):
            n_seen = i + 1
            if needed is None or i in needed:
                decoded[i] = frame.to_ndarray(format="rgb24")
            if last is not None and i >= last:
                break
    except _AV_ERRORS as error:
        raise RecordFault(f"unreadable file: {path} fails after {n_seen} decoded frames ({one_line(error)})") from error
    finally:
        container.close()
    if n_seen == 0:
        raise RecordFault(f"zero frames: {path} decodes to no frame")
    if last is not None and last >= n_seen:
        raise RecordFault(f"unreadable file: {path} ends after {n_seen} frames, frame {last} was requested")
    if last is None and n_seen < stated:
        raise RecordFault(f"unreadable file: {path} ends after {n_seen} of {stated} frames (truncated)")
    order = range(n_seen) if wanted is None else wanted.tolist()
    if not order:
        return np.empty((0, *size, 3), dtype=np.uint8)
    return np.stack([decoded[i] for i in order])


def read_phenotypes(root: str | Path) -> pd.DataFrame:
    """EF, EDV, ESV per video (= study); lvsv = EDV - ESV."""
    table = _file_list(Path(root))
    lvedv = pd.to_numeric(table["EDV"], errors="coerce")
    lvesv = pd.to_numeric(table["ESV"], errors="coerce")
    return pd.DataFrame({
        "entity_id": table["FileName"],
        "patient_id": table["FileName"],
        "lvef": pd.to_numeric(table["EF"], errors="coerce"),
        "lvedv": lvedv,
        "lvesv": lvesv,
        "lvsv": lvedv - lvesv,
        "shd": np.nan,
    })
