"""Benchmark: echo views per second per core, decode-to-clip (RECIPE.md section 4).

Writes a JPEG Baseline multi-frame ultrasound DICOM (60 frames, 600 x 800, RGB stored as
YBR_FULL_422, fan with moving speckle plus burned-in text, depth ticks and a sweeping ECG
trace) to a temporary directory, then times, per view, on one thread:
probe header -> needed_frame_indices -> decode only those frames -> prepare_view_clip.
Also times decoding all 60 frames, to show what decoding only the needed ones saves, and an
inline decoder (pydicom for the fragments, Pillow for JPEG and YCbCr -> RGB) for comparison.
CPU time (time.process_time) is the per-core figure; wall time is also reported (the machine
may be shared).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_prepare_echo_clips.py [--views 30]

Prints the figures and writes benchmarks/results/prepare_echo_clips.json.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import io
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
import torch
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEGBaseline8Bit, UltrasoundMultiFrameImageStorage, generate_uid
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from echo2ecg.prepare_echo_clips import (  # noqa: E402
    EchoClipPreparation,
    needed_frame_indices,
    prepare_view_clip,
    ultrasound_sector_mask,
)

RESULTS = Path(__file__).resolve().parent / "results" / "prepare_echo_clips.json"


def synthetic_cine(n_frames: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB (F, H, W, 3) echo-like cine and its true sector mask (H, W)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    apex_y, apex_x, radius, half_angle = 0.06 * height, 0.5 * width, 0.85 * height, np.radians(38.0)
    sector = (np.hypot(yy - apex_y, xx - apex_x) <= radius) & (
        np.abs(np.arctan2(xx - apex_x, yy - apex_y)) <= half_angle) & (yy >= apex_y)
    texture = ndimage.gaussian_filter(rng.rayleigh(1.0, (height + 40, width + 40)).astype(np.float32), 1.0)
    texture = np.clip(100 + 120 * (texture - texture.mean()) / texture.std(), 0, 255)
    frames = np.zeros((n_frames, height, width, 3), dtype=np.uint8)
    cols = np.arange(int(0.08 * width), int(0.92 * width))
    for f in range(n_frames):
        dy, dx = int(round(6 * np.sin(2 * np.pi * f / 13))), int(round(4 * np.cos(2 * np.pi * f / 11)))
        image = texture[20 + dy:20 + dy + height, 20 + dx:20 + dx + width]
        image = image * rng.uniform(0.8, 1.2, (height, width)).astype(np.float32) * sector
        frames[f] = np.clip(image, 0, 255).astype(np.uint8)[..., None]
        frames[f, 8:30, 8:int(0.2 * width)] = 230  # static text block
        frames[f, 10:24, width - 40:width - 10] = (f * 37) % 256  # changing frame counter
        cursor = cols[0] + (f * 17) % len(cols)  # sweeping ECG trace below the fan
        rows = (0.955 * height + 0.02 * height * np.sin(cols / 15.0 + np.where(cols < cursor, 0, 1.3))).astype(int)
        frames[f, rows, cols] = (0, 255, 0)
        frames[f, rows + 1, cols] = (0, 255, 0)
    for r in np.arange(0.15, 0.85, 0.08) * height:  # depth ticks 8 px outside the right edge
        y = int(apex_y + r * np.cos(half_angle) - 8 * np.sin(half_angle))
        x = int(apex_x + r * np.sin(half_angle) + 8 * np.cos(half_angle))
        frames[:, y:y + 2, x:x + 5] = 200
    return frames, sector


def write_jpeg_dicom(path: Path, frames: np.ndarray, quality: int = 90, fps: float = 50.0) -> None:
    """A JPEG Baseline (YBR_FULL_422) Ultrasound Multi-frame Image Storage file."""
    encoded = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, "JPEG", quality=quality, subsampling="4:2:2")
        encoded.append(buffer.getvalue())
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.PatientID = "bench"
    ds.Rows, ds.Columns = frames.shape[1:3]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = len(frames)
    ds.FrameTime = f"{1000.0 / fps:.3f}"
    ds.CineRate = int(fps)
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)


def project_reader():
    """(probe, read, name) from the project's reader, or the inline PIL decoder if it is missing."""
    try:
        from echo2ecg.readers.mimic_iv_echo import probe_view, read_view_frames

        return (lambda p: probe_view(p).n_frames), read_view_frames, "echo2ecg.readers.mimic_iv_echo"
    except ImportError:
        return probe_inline, read_inline, "inline pydicom + PIL"


def probe_inline(path) -> int:
    return int(pydicom.dcmread(path, stop_before_pixels=True).NumberOfFrames)


def read_inline(path, indices) -> np.ndarray:
    """Decode only the listed JPEG frames; Pillow converts YCbCr to RGB in C."""
    ds = pydicom.dcmread(path)
    fragments = generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames))
    wanted = set(indices)
    decoded = {i: np.asarray(Image.open(io.BytesIO(f)).convert("RGB")) for i, f in enumerate(fragments) if i in wanted}
    return np.stack([decoded[i] for i in indices])


def time_views(probe, read, path, params, n_views) -> dict:
    """Wall and CPU seconds per view for decode (needed frames) and clip preparation."""
    wall = {"decode": 0.0, "prepare": 0.0}
    cpu = {"decode": 0.0, "prepare": 0.0}
    for _ in range(n_views):
        w0, c0 = time.perf_counter(), time.process_time()
        view_frames = read(path, needed_frame_indices(probe(path), params))
        w1, c1 = time.perf_counter(), time.process_time()
        prepare_view_clip(view_frames, params)
        w2, c2 = time.perf_counter(), time.process_time()
        wall["decode"] += w1 - w0
        wall["prepare"] += w2 - w1
        cpu["decode"] += c1 - c0
        cpu["prepare"] += c2 - c1
    per = lambda d: {k: 1e3 * v / n_views for k, v in d.items()}  # noqa: E731
    wall_ms, cpu_ms = per(wall), per(cpu)
    return {
        "views_per_second_per_core_cpu_time": 1e3 / sum(cpu_ms.values()),
        "views_per_second_wall": 1e3 / sum(wall_ms.values()),
        "cpu_ms_decode_needed_frames": cpu_ms["decode"],
        "cpu_ms_prepare_clip": cpu_ms["prepare"],
        "wall_ms_decode_needed_frames": wall_ms["decode"],
        "wall_ms_prepare_clip": wall_ms["prepare"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=30, help="views timed")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--height", type=int, default=600)
    parser.add_argument("--width", type=int, default=800)
    parser.add_argument("--clip-size", type=int, default=224)
    args = parser.parse_args()
    torch.set_num_threads(1)
    params = EchoClipPreparation(clip_size=args.clip_size)
    probe, read, reader_name = project_reader()

    frames, sector = synthetic_cine(args.frames, args.height, args.width)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "view.dcm"
        write_jpeg_dicom(path, frames)
        file_mb = path.stat().st_size / 1e6

        # sanity: the mask found on the decoded frames matches the drawn sector
        decoded = read(path, needed_frame_indices(probe(path), params))
        mask = ultrasound_sector_mask(decoded, params)
        sector_kept = float((mask & sector).sum() / sector.sum())
        outside_kept = int((mask & ~sector).sum())
        clip, n_valid = prepare_view_clip(decoded, params)  # warm-up

        project = time_views(probe, read, path, params, args.views)
        inline = time_views(probe_inline, read_inline, path, params, args.views)
        n_all = max(3, args.views // 5)
        c0 = time.process_time()
        for _ in range(n_all):
            read(path, list(range(probe(path))))
        cpu_decode_all = (time.process_time() - c0) / n_all

    result = {
        "benchmark": "prepare_echo_clips",
        "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_prepare_echo_clips.py "
                   + " ".join(sys.argv[1:]),
        "input": f"{args.frames}-frame {args.height}x{args.width} RGB cine, JPEG Baseline DICOM "
                 f"(YBR_FULL_422, quality 90, {file_mb:.2f} MB)",
        "clip": list(clip.shape),
        "n_valid": int(n_valid),
        "views_timed": args.views,
        "threads": 1,
        "target_views_per_second_per_core": 10.0,
        "reader": reader_name,
        **project,
        "cpu_ms_decode_all_frames_with_reader": 1e3 * cpu_decode_all,
        "inline_pil_decoder": inline,
        "sector_fraction_kept": sector_kept,
        "pixels_kept_outside_sector": outside_kept,
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pydicom": pydicom.__version__,
    }
    for key, value in result.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v:.2f}" for k, v in value.items())
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
