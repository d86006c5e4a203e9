"""Write small files in the on-disk formats of FORMATS.md with the real writing libraries.

Used by the reader tests; every writer takes signals in the model lead order (mV) or frames
as uint8 (F, H, W, 3) / (F, H, W) and stores them the way the dataset does.
"""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import numpy as np
import wfdb
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    TwelveLeadECGWaveformStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from echo2ecg.leads import MODEL_LEAD_ORDER

MIMIC_LEAD_ORDER = ("I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6")


def distinct_leads(n_samples: int, sampling_rate: float, seed: int = 0) -> np.ndarray:
    """(12, T) mV in model order; every lead differs (own frequency, amplitude, offset)."""
    t = np.arange(n_samples) / sampling_rate
    k = np.arange(12)[:, None]
    rng = np.random.default_rng(seed)
    wave = (0.2 + 0.1 * k) * np.sin(2 * np.pi * (1.0 + 0.25 * k) * t) + 0.05 * k
    return (wave + rng.normal(0, 0.01, wave.shape)).round(3)


def stored_order(signal: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Rows of a model-order signal rearranged into the stored order ``names``."""
    return signal[[MODEL_LEAD_ORDER.index(n) for n in names]]


def write_wfdb(record_path: Path, signal_mv: np.ndarray, sampling_rate: float,
               names: tuple[str, ...] = MIMIC_LEAD_ORDER) -> Path:
    """A format-16 WFDB record (``.hea`` + ``.dat``) storing ``names`` in that order."""
    record_path.parent.mkdir(parents=True, exist_ok=True)
    stored = stored_order(signal_mv, names) if len(names) == 12 else signal_mv
    wfdb.wrsamp(
        record_path.name, fs=sampling_rate, units=["mV"] * len(names), sig_name=list(names),
        p_signal=np.ascontiguousarray(stored.T), fmt=["16"] * len(names),
        adc_gain=[1000.0] * len(names), baseline=[0] * len(names), write_dir=str(record_path.parent),
    )
    return record_path


def write_ecg_dicom(path: Path, signal_mv: np.ndarray, sampling_rate: float, *,
                    names: tuple[str, ...] = MODEL_LEAD_ORDER, sensitivity_uv: float = 2.5,
                    patient_id: str = "P1", acquired_at: str = "20200102030405",
                    label_style: str = "code_meaning") -> Dataset:
    """A DICOM 12-Lead ECG Waveform Storage file; values stored as int16 counts of
    ``sensitivity_uv`` microvolts; channel names as ``Lead I (Einthoven)`` style code
    meanings or as ChannelLabel."""
    stored = stored_order(signal_mv, names) if len(names) == 12 else signal_mv
    counts = np.round(stored * 1000.0 / sensitivity_uv).astype("<i2")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = TwelveLeadECGWaveformStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = TwelveLeadECGWaveformStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = patient_id
    ds.Modality = "ECG"
    ds.AcquisitionDateTime = acquired_at
    group = Dataset()
    group.MultiplexGroupLabel = "RHYTHM"
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = counts.shape[0]
    group.NumberOfWaveformSamples = counts.shape[1]
    group.SamplingFrequency = sampling_rate
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    channels = []
    for name in names:
        channel = Dataset()
        source = Dataset()
        source.CodeValue = "5.6.3-9-1"
        source.CodingSchemeDesignator = "SCPECG"
        source.CodeMeaning = f"Lead {name}" + (" (Einthoven)" if name in ("I", "II", "III") else "")
        channel.ChannelSourceSequence = [source]
        if label_style == "label":
            channel.ChannelLabel = name
        channel.ChannelSensitivity = sensitivity_uv
        units = Dataset()
        units.CodeValue = "uV"
        units.CodingSchemeDesignator = "UCUM"
        units.CodeMeaning = "microvolt"
        channel.ChannelSensitivityUnitsSequence = [units]
        channel.ChannelSensitivityCorrectionFactor = 1
        channel.ChannelBaseline = 0
        channel.WaveformBitsStored = 16
        channels.append(channel)
    group.ChannelDefinitionSequence = channels
    group.WaveformData = np.ascontiguousarray(counts.T).tobytes()
    ds.WaveformSequence = [group]
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds


def write_echo_dicom(path: Path, frames: np.ndarray, *, jpeg: bool = False, cine_rate: float | None = 30.0,
                     frame_time_ms: float | None = None, jpeg_frames: list[bytes] | None = None) -> Path:
    """An Ultrasound Multi-frame Image file: JPEG Baseline (YBR_FULL_422, one JPEG per frame,
    written by Pillow) or Explicit VR Little Endian RGB / MONOCHROME2. ``jpeg_frames`` replaces
    the encoded frames (to plant a corrupt one)."""
    colour = frames.ndim == 4
    n_frames, rows, columns = frames.shape[:3]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit if jpeg else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, n_frames
    ds.SamplesPerPixel = 3 if colour else 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if cine_rate is not None:
        ds.CineRate = int(cine_rate)
    if frame_time_ms is not None:
        ds.FrameTime = frame_time_ms
    if colour:
        ds.PlanarConfiguration = 0
    if jpeg:
        ds.PhotometricInterpretation = "YBR_FULL_422" if colour else "MONOCHROME2"
        encoded = jpeg_frames if jpeg_frames is not None else [jpeg_bytes(f) for f in frames]
        ds.PixelData = encapsulate(encoded)
        ds["PixelData"].VR = "OB"
    else:
        ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
        ds.PixelData = np.ascontiguousarray(frames).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def jpeg_bytes(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    if frame.ndim == 2:
        Image.fromarray(frame, mode="L").save(buffer, format="JPEG", quality=95)
    else:  # 4:2:2 chroma subsampling, as PhotometricInterpretation YBR_FULL_422 states
        Image.fromarray(frame, mode="RGB").save(buffer, format="JPEG", quality=95, subsampling=1)
    return buffer.getvalue()


def write_cardiology_xml(path: Path, signal_mv: np.ndarray, sampling_rate: float, *,
                         resolution_uv: float = 5.0, names: tuple[str, ...] = MODEL_LEAD_ORDER,
                         when: tuple[int, ...] = (2015, 3, 4, 10, 11, 12)) -> Path:
    """A CardiologyXML resting ECG: StripData with SampleRate, Resolution, WaveformData per lead
    (comma-separated integers, wrapped over lines as the GE export does)."""
    root = ET.Element("CardiologyXML")
    ET.SubElement(root, "ObservationType").text = "RestECG"
    observed = ET.SubElement(root, "ObservationDateTime")
    for tag, value in zip(("Year", "Month", "Day", "Hour", "Minute", "Second"), when):
        ET.SubElement(observed, tag).text = str(value)
    strip = ET.SubElement(root, "StripData")
    ET.SubElement(strip, "NumberOfLeads").text = str(len(names))
    ET.SubElement(strip, "SampleRate", units="Hz").text = str(int(sampling_rate))
    ET.SubElement(strip, "ChannelSampleCountTotal").text = str(signal_mv.shape[1])
    ET.SubElement(strip, "Resolution", units="uVperLsb").text = str(resolution_uv)
    stored = stored_order(signal_mv, names) if len(names) == 12 else signal_mv
    counts = np.round(stored * 1000.0 / resolution_uv).astype(int)
    for name, lead in zip(names, counts):
        chunks = [",".join(map(str, lead[i:i + 50])) for i in range(0, lead.size, 50)]
        ET.SubElement(strip, "WaveformData", lead=name).text = "\n\t\t" + ",\n\t\t".join(chunks) + "\n\t"
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="ISO-8859-1", xml_declaration=True)
    return path


def write_avi(path: Path, frames: np.ndarray, fps: int = 50, codec: str = "mjpeg") -> Path:
    """An AVI video of RGB frames (mjpeg or mpeg4 are lossy; ffv1 is lossless)."""
    pix_fmt = {"mjpeg": "yuvj444p", "mpeg4": "yuv420p", "ffv1": "bgr0"}[codec]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if codec in ("mjpeg", "mpeg4"):
            stream.codec_context.qmin, stream.codec_context.qmax = 1, 2
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def smooth_frames(n_frames: int, height: int, width: int, colour: bool = True) -> np.ndarray:
    """Frames that lossy codecs keep well (smooth gradients), each frame different."""
    yy, xx = np.mgrid[:height, :width]
    frames = []
    for i in range(n_frames):
        red = (xx * 200 // max(width - 1, 1) + 5 * i) % 256
        green = yy * 200 // max(height - 1, 1)
        blue = np.full_like(xx, 40 + 20 * i)
        frames.append(np.stack([red, green, blue], axis=-1))
    stack = np.clip(np.stack(frames), 0, 255).astype(np.uint8)
    return stack if colour else stack[..., 0].copy()

