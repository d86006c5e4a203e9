"""Benchmark: echo views per second per core, decode-to-clip, and the sector mask's accuracy,
on the workflow's own cines (RECIPE.md section 4).

Cines are rendered by the cohort generator (``echo2ecg.synthesize_cohort.echo.render_echo_view``:
decorrelating speckle, dim far field, a quiet patch, burned-in text, depth scale, ECG trace and
cursor, ticks and a focus marker on the fan's edge), half of them tinted to RGB, and written as
the cohort writes them (``writers.write_dicom``: JPEG Baseline quality 90, or uncompressed). For
each frame size and view type, per view: the kept fraction of the generator's true fan
(``true_fan_mask``) and the spilled fraction (kept pixels outside it, of all kept pixels), on
the frames the workflow decodes. Timing, per view, on one thread: probe header ->
needed_frame_indices -> decode only those frames -> prepare_view_clip; CPU time
(time.process_time) is the per-core figure, the median of three passes over the views; wall
time is also reported (the machine may be shared).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_prepare_echo_clips.py [--views-per-type 6] [--demo-views-per-type 40]

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
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import torch
from PIL import Image
from pydicom.encaps import generate_frames

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from echo2ecg.prepare_echo_clips import (  # noqa: E402
    EchoClipPreparation,
    needed_frame_indices,
    prepare_view_clip,
)
from echo2ecg.synthesize_cohort.echo import VIEW_TYPES, render_echo_view, tint, true_fan_mask  # noqa: E402
from echo2ecg.synthesize_cohort.hearts import sample_hearts  # noqa: E402
from echo2ecg.synthesize_cohort.writers import write_dicom  # noqa: E402
from echo2ecg.ultrasound_sector_mask import ultrasound_sector_mask  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "prepare_echo_clips.json"


FRAME_SIZES = {"demo": (128, 160), "paper": (600, 800)}  # config synthetic.echo_frame_size; MIMIC-IV-ECHO's


def generator_views(height: int, width: int, n_per_type: int, n_frames: int, seed: int):
    """(view_type, frames, fps, compressed) of cines rendered and encoded as the cohort generator does."""
    rng = np.random.default_rng(seed)
    hearts = sample_hearts(rng, n_per_type * len(VIEW_TYPES)).to_dict("records")
    for i, heart in enumerate(hearts):
        view_type = VIEW_TYPES[i % len(VIEW_TYPES)]
        fps = float(rng.uniform(30.0, 80.0))
        frames = render_echo_view(heart, view_type, n_frames, fps, height, width, rng)
        if i % 2:
            frames = tint(frames)
        yield view_type, frames, fps, bool(i % 5 != 0)  # 80 % JPEG, as synthetic.jpeg_fraction


def mask_accuracy(views, probe, read, folder: Path, params, height: int, width: int) -> tuple[dict, list[Path]]:
    """Per view type: kept and spilled fractions (min, median) of the mask on decoded frames."""
    fan = true_fan_mask(height, width)
    rows, paths = [], []
    for k, (view_type, frames, fps, compressed) in enumerate(views):
        path = folder / f"view{k}.dcm"
        write_dicom(path, frames, fps, compressed, "bench", "1", datetime(2180, 1, 1), k + 1)
        paths.append(path)
        mask = ultrasound_sector_mask(read(path, needed_frame_indices(probe(path), params)), params.sector)
        kept = float((mask & fan).sum() / fan.sum())
        spilled = float((mask & ~fan).sum() / max(1, mask.sum()))
        rows.append((view_type, kept, spilled))
    table = {}
    for view_type in VIEW_TYPES:
        kept = np.array([r[1] for r in rows if r[0] == view_type])
        spilled = np.array([r[2] for r in rows if r[0] == view_type])
        table[view_type] = {"views": len(kept), "kept_min": float(kept.min()), "kept_median": float(np.median(kept)),
                            "spilled_max": float(spilled.max()), "spilled_median": float(np.median(spilled))}
    return table, paths


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


def time_views(probe, read, paths, params, repeats: int = 3) -> dict:
    """Wall and CPU milliseconds per view for decode (needed frames) and clip preparation: the
    median over ``repeats`` passes over all views (one pass is at the mercy of a shared machine)."""
    passes = []
    for _ in range(repeats):
        wall = {"decode": 0.0, "prepare": 0.0}
        cpu = {"decode": 0.0, "prepare": 0.0}
        for path in paths:
            w0, c0 = time.perf_counter(), time.process_time()
            view_frames = read(path, needed_frame_indices(probe(path), params))
            w1, c1 = time.perf_counter(), time.process_time()
            prepare_view_clip(view_frames, params)
            w2, c2 = time.perf_counter(), time.process_time()
            wall["decode"] += w1 - w0
            wall["prepare"] += w2 - w1
            cpu["decode"] += c1 - c0
            cpu["prepare"] += c2 - c1
        passes.append((wall, cpu))
    median = lambda table, key: 1e3 * float(np.median([p[table][key] for p in passes])) / len(paths)  # noqa: E731
    cpu_ms = {k: median(1, k) for k in ("decode", "prepare")}
    wall_ms = {k: median(0, k) for k in ("decode", "prepare")}
    return {
        "timing_passes": repeats,
        "views_per_second_per_core_cpu_time": 1e3 / sum(cpu_ms.values()),
        "views_per_second_wall": 1e3 / sum(wall_ms.values()),
        "cpu_ms_decode_needed_frames": cpu_ms["decode"],
        "cpu_ms_prepare_clip": cpu_ms["prepare"],
        "wall_ms_decode_needed_frames": wall_ms["decode"],
        "wall_ms_prepare_clip": wall_ms["prepare"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views-per-type", type=int, default=6, help="views per view type at the paper's frame size")
    parser.add_argument("--demo-views-per-type", type=int, default=40,
                        help="views per view type at the demo's frame size (cheap: the mask's accuracy is "
                             "measured on a larger sample there)")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--clip-size", type=int, default=224)
    args = parser.parse_args()
    torch.set_num_threads(1)
    params = EchoClipPreparation(clip_size=args.clip_size)
    probe, read, reader_name = project_reader()
    result = {
        "benchmark": "prepare_echo_clips",
        "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_prepare_echo_clips.py "
                   + " ".join(sys.argv[1:]),
        "input": f"{args.frames}-frame cines of the cohort generator, all five view types, half tinted RGB, "
                 "80 % JPEG Baseline (quality 90) DICOM, the rest uncompressed",
        "clip_size": args.clip_size,
        "threads": 1,
        "target_views_per_second_per_core": 10.0,
        "reader": reader_name,
        "mask_target": {"kept_min": 0.97, "spilled_max": 0.01},
    }
    for name, (height, width) in FRAME_SIZES.items():
        with tempfile.TemporaryDirectory() as tmp:
            per_type = args.demo_views_per_type if name == "demo" else args.views_per_type
            views = generator_views(height, width, per_type, args.frames, seed=len(name))
            accuracy, paths = mask_accuracy(views, probe, read, Path(tmp), params, height, width)
            prepare_view_clip(read(paths[0], needed_frame_indices(probe(paths[0]), params)), params)  # warm-up
            entry = {"frame_size": [height, width], "views": len(paths),
                     "mean_file_mb": float(np.mean([p.stat().st_size for p in paths]) / 1e6),
                     "mask_by_view_type": accuracy, **time_views(probe, read, paths, params)}
            if name == "paper":
                entry["inline_pil_decoder"] = time_views(probe_inline, read_inline,
                                                         [p for i, p in enumerate(paths) if i % 5], params)
                c0 = time.process_time()
                for path in paths[:5]:
                    read(path, list(range(probe(path))))
                entry["cpu_ms_decode_all_frames_with_reader"] = 1e3 * (time.process_time() - c0) / 5
        result[f"{name}_{height}x{width}"] = entry
    result |= {"load_average_1_5_15_min": list(os.getloadavg()), "cpu_count": os.cpu_count(),
               "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
               "torch": torch.__version__, "pydicom": pydicom.__version__}
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
