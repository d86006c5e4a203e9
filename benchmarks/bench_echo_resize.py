"""Benchmark: the two clip resizes (echo_clips.resize), speed and difference, on the generator's cines.

For the paper's frame size (600 x 800: the 600 x 600 centre square less 10 % a side = 480 x 480,
shrunk to 224) and the demo's (128 x 160 -> 104 x 104 -> 64), on cines rendered by the cohort
generator (``echo2ecg.synthesize_cohort.echo.render_echo_view``, grey and tinted RGB), times
``echo2ecg.prepare_echo_clips.resize_frames`` for ``opencv_cubic`` (EchoPrime's
``cv2.resize(..., INTER_CUBIC)``) and ``pil_antialias`` (PIL's anti-aliased bicubic) on one thread:
milliseconds per frame, the median of ``--repeats`` passes (each pass resizes every cine once).
Also reports, per size, how far each resize is from an area-averaged reference
(``cv2.INTER_AREA``: every source pixel weighted by its overlap, no aliasing) and from each other
(mean and max absolute grey-level difference; the share of pixels more than one level apart).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_echo_resize.py [--cines 10] [--repeats 7]

Prints the figures and writes benchmarks/results/echo_resize.json.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import PIL

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from echo2ecg.prepare_echo_clips import RESIZE_METHODS, centre_crop_box, resize_frames  # noqa: E402
from echo2ecg.synthesize_cohort.echo import VIEW_TYPES, render_echo_view, tint  # noqa: E402
from echo2ecg.synthesize_cohort.hearts import sample_hearts  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "echo_resize.json"
SIZES = {"paper": ((600, 800), 224), "demo": ((128, 160), 64)}  # frame size -> clip_size (config / paper preset)
ZOOM = 0.1


def cropped_cines(height: int, width: int, n_cines: int, n_frames: int, seed: int) -> list[np.ndarray]:
    """Centre-square, zoom-cropped uint8 (F, S, S, C) cines: half grey (C = 1), half tinted RGB (C = 3)."""
    rng = np.random.default_rng(seed)
    hearts = sample_hearts(rng, n_cines).to_dict("records")
    top, bottom, left, right = centre_crop_box(height, width, ZOOM)
    cines = []
    for i, heart in enumerate(hearts):
        frames = render_echo_view(heart, VIEW_TYPES[i % len(VIEW_TYPES)], n_frames, 50.0, height, width, rng)
        frames = tint(frames) if i % 2 else frames[..., None]
        cines.append(np.ascontiguousarray(frames[:, top:bottom, left:right]))
    return cines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cines", type=int, default=10, help="cines per frame size (half grey, half RGB)")
    parser.add_argument("--frames", type=int, default=16, help="frames per cine (a clip's 16)")
    parser.add_argument("--repeats", type=int, default=7, help="timing passes; the median is reported")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    result = {"benchmark": "echo_resize",
              "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_echo_resize.py " + " ".join(sys.argv[1:]),
              "threads": 1, "timing": f"median of {args.repeats} passes over all cines, CPU time (time.process_time) "
                                     "and wall time, per frame"}
    for name, ((height, width), size) in SIZES.items():
        cines = cropped_cines(height, width, args.cines, args.frames, seed=size)
        n_frames = sum(len(c) for c in cines)
        entry = {"frame_size": [height, width], "cropped_to": list(cines[0].shape[1:3]), "clip_size": size,
                 "cines": len(cines), "frames": n_frames}
        outputs = {}
        for method in RESIZE_METHODS:
            outputs[method] = [resize_frames(c, size, method) for c in cines]  # warm-up, and the outputs
            walls, cpus = [], []
            for _ in range(args.repeats):
                w0, c0 = time.perf_counter(), time.process_time()
                for cine in cines:
                    resize_frames(cine, size, method)
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
            entry[method] = {"cpu_ms_per_frame": 1e3 * float(np.median(cpus)) / n_frames,
                             "wall_ms_per_frame": 1e3 * float(np.median(walls)) / n_frames}
        reference = [np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA).reshape(size, size, -1)
                               for f in c]) for c in cines]

        def difference(a, b):
            d = np.concatenate([np.abs(x.astype(np.int16) - y).ravel() for x, y in zip(a, b)])
            return {"mean_abs": float(d.mean()), "max_abs": int(d.max()), "share_above_1": float((d > 1).mean())}

        for method in RESIZE_METHODS:
            entry[method]["vs_area_reference"] = difference(outputs[method], reference)
        entry["opencv_cubic_vs_pil_antialias"] = difference(outputs["opencv_cubic"], outputs["pil_antialias"])
        entry["speedup_opencv_over_pil_cpu"] = (entry["pil_antialias"]["cpu_ms_per_frame"]
                                                / entry["opencv_cubic"]["cpu_ms_per_frame"])
        result[f"{name}_{height}x{width}_to_{size}"] = entry
    result |= {"load_average_1_5_15_min": list(os.getloadavg()), "cpu_count": os.cpu_count(),
               "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
               "opencv": cv2.__version__, "pillow": PIL.__version__}
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
