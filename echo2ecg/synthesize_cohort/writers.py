"""Writers of the published on-disk layouts (echo2ecg/readers/FORMATS.md): WFDB, DICOM, CardiologyXML."""
from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

from echo2ecg.leads import MODEL_LEAD_ORDER
from echo2ecg.synthesize_cohort.ecg import MIMIC_FROM_MODEL, MIMIC_LEAD_ORDER

ULTRASOUND_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"
WFDB_ADC_GAIN = 200.0  # units per mV (5 uV resolution), as MIMIC-IV-ECG


def write_wfdb(record_path: Path, signal: np.ndarray, fs: float = 500.0) -> None:
    """Write a (12, T) model-order mV signal as WFDB record ``record_path`` (.hea/.dat), MIMIC lead order.

    Format 16 (little-endian int16, interleaved), 200 units per mV, baseline 0: the header and
    data bytes are those ``wfdb.wrsamp`` writes, without its per-record overhead.
    """
    record_path.parent.mkdir(parents=True, exist_ok=True)
    p_signal = np.asarray(signal, dtype=np.float64)[MIMIC_FROM_MODEL].T           # (T, 12)
    digital = np.round(p_signal * WFDB_ADC_GAIN)
    digital = np.clip(np.nan_to_num(digital, nan=-32768.0), -32768, 32767).astype(np.int64)
    name = record_path.name
    checksums = digital.sum(axis=0) % 65536
    lines = [f"{name} {len(MIMIC_LEAD_ORDER)} {fs:g} {digital.shape[0]}"]
    lines += [
        f"{name}.dat 16 {WFDB_ADC_GAIN:.1f}(0)/mV 16 0 {digital[0, i]} {checksums[i]} 0 {lead}"
        for i, lead in enumerate(MIMIC_LEAD_ORDER)
    ]
    record_path.with_name(f"{name}.hea").write_text("\n".join(lines) + "\n")
    record_path.with_name(f"{name}.dat").write_bytes(digital.astype("<i2").tobytes())


def _jpeg_frame(frame: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    if frame.ndim == 2:
        Image.fromarray(frame, mode="L").save(buffer, format="JPEG", quality=quality)
    else:  # 4:2:2 chroma subsampling, matching PhotometricInterpretation YBR_FULL_422
        Image.fromarray(frame, mode="RGB").save(buffer, format="JPEG", quality=quality, subsampling=1)
    return buffer.getvalue()


def write_dicom(
    path: Path,
    frames: np.ndarray,
    fps: float,
    compressed: bool,
    patient_id: str,
    study_id: str,
    acquired: datetime,
    instance_number: int,
    jpeg_quality: int = 90,
) -> None:
    """Write a cine (F, H, W) or (F, H, W, 3) uint8 as an Ultrasound Multi-frame Image DICOM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    color = frames.ndim == 4
    n_frames, height, width = frames.shape[:3]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ULTRASOUND_MULTIFRAME_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path.name), study_id])
    meta.TransferSyntaxUID = JPEGBaseline8Bit if compressed else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[study_id])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[study_id, str(instance_number)])
    ds.Modality = "US"
    ds.Manufacturer = "Echo2ECG synthetic"
    ds.PatientID = str(patient_id)
    ds.StudyID = str(study_id)[-8:]
    ds.InstanceNumber = int(instance_number)
    ds.StudyDate = acquired.strftime("%Y%m%d")
    ds.StudyTime = acquired.strftime("%H%M%S")
    ds.AcquisitionDateTime = acquired.strftime("%Y%m%d%H%M%S")
    ds.Rows, ds.Columns = height, width
    ds.NumberOfFrames = n_frames
    ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
    ds.FrameTime = f"{1000.0 / fps:.4f}"
    ds.CineRate = int(round(fps))
    ds.RecommendedDisplayFrameRate = int(round(fps))
    ds.SamplesPerPixel = 3 if color else 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if color:
        ds.PlanarConfiguration = 0
    if compressed:
        ds.PhotometricInterpretation = "YBR_FULL_422" if color else "MONOCHROME2"
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ds.PixelData = encapsulate([_jpeg_frame(f, jpeg_quality) for f in frames])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    else:
        ds.PhotometricInterpretation = "RGB" if color else "MONOCHROME2"
        ds.PixelData = np.ascontiguousarray(frames).tobytes()
        ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)


def write_ukb_xml(path: Path, signal: np.ndarray, fs: float, acquired: datetime, resolution_uv: float = 5.0) -> None:
    """Write a (12, T) model-order mV signal as a CardiologyXML resting ECG (UK Biobank field 20205)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = np.round(np.asarray(signal, dtype=np.float64) * 1000.0 / resolution_uv).astype(np.int64)
    leads = "\n".join(
        f'    <WaveformData lead="{name}">{",".join(map(str, counts[i].tolist()))}</WaveformData>'
        for i, name in enumerate(MODEL_LEAD_ORDER)
    )
    text = f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<CardiologyXML>
  <ObservationType>RestECG</ObservationType>
  <ObservationDateTime>
    <Hour>{acquired.hour}</Hour>
    <Minute>{acquired.minute}</Minute>
    <Second>{acquired.second}</Second>
    <Day>{acquired.day}</Day>
    <Month>{acquired.month}</Month>
    <Year>{acquired.year}</Year>
  </ObservationDateTime>
  <PatientVisit><VisitType>Resting</VisitType></PatientVisit>
  <StripData>
    <NumberOfLeads>12</NumberOfLeads>
    <SampleRate units="Hz">{int(fs)}</SampleRate>
    <ChannelSampleCountTotal>{counts.shape[1]}</ChannelSampleCountTotal>
    <Resolution units="uVperLsb">{resolution_uv:g}</Resolution>
{leads}
  </StripData>
</CardiologyXML>
"""
    path.write_text(text, encoding="ISO-8859-1")
