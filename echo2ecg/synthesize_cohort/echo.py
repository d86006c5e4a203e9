"""Echo cines of a latent heart: a beating heart inside a fan-shaped ultrasound sector.

Each view type shows a different part of the phenotype: apical views (A4C, A2C, A3C) the LV
long axis and cavity area over the cycle (volumes, EF), the parasternal long axis (PLAX) the
septum and posterior wall and the aortic and mitral valves (wall thickness, valve disease), the
parasternal short axis (PSAX) the LV ring (wall thickness, wall motion). Chamber cavities are
ellipses whose size follows the LV volume curve between EDV and ESV at the heart rate; the
myocardium keeps its area, so walls thicken in systole. Speckle is Rayleigh noise, smoothed
laterally. Text, a depth scale, a probe marker and an ECG trace with a moving cursor are burned
in outside the sector.

Rendering is vectorised over frames; each shape is evaluated only inside its bounding box.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from echo2ecg.synthesize_cohort.ecg import DOWER, beat_times, heart_vector

VIEW_TYPES: tuple[str, ...] = ("A4C", "A2C", "A3C", "PLAX", "PSAX")
APICAL_VIEWS = ("A4C", "A2C", "A3C")

# LV volume over the cardiac cycle, as a fraction of the stroke volume above ESV, against the
# phase since the R peak: isovolumic contraction, ejection to end-systole, rapid filling,
# diastasis, atrial kick.
_PHASE_KNOTS = np.array([0.0, 0.04, 0.2, 0.36, 0.48, 0.6, 0.84, 0.95, 1.0])
_FILL_KNOTS = np.array([1.0, 1.0, 0.55, 0.0, 0.42, 0.78, 0.83, 1.0, 1.0])

# Grey levels (before speckle) of the tissue classes.
TISSUE_LEVEL, MYOCARDIUM_LEVEL, CAVITY_LEVEL, VALVE_LEVEL = 80.0, 165.0, 16.0, 235.0


def volume_fraction(phase: np.ndarray) -> np.ndarray:
    """Filling fraction f in [0, 1] (1 = end-diastole) at cardiac phase in [0, 1)."""
    return np.interp(np.mod(phase, 1.0), _PHASE_KNOTS, _FILL_KNOTS)


def lv_axes(volume_ml: np.ndarray, edv_ml: float) -> tuple[np.ndarray, np.ndarray]:
    """Semi-axes (long, short) in cm of a prolate-ellipsoid LV of ``volume_ml`` (V = pi/6 L D^2)."""
    length_ed = 8.0 * (edv_ml / 120.0) ** (1.0 / 3.0)
    length = length_ed * (volume_ml / edv_ml) ** 0.15
    diameter = np.sqrt(6.0 * volume_ml / (np.pi * length))
    return length / 2.0, diameter / 2.0


@lru_cache(maxsize=16)
def _sector_geometry(height: int, width: int, depth_cm: float):
    """Pixel grid in cm (x lateral, y depth from the probe), sector mask, pixels per cm, apex."""
    apex_row = 0.05 * height
    radius_px = 0.8 * height
    half_angle = min(np.deg2rad(38.0), np.arcsin(min(1.0, 0.47 * width / radius_px)))
    px_per_cm = radius_px / depth_cm
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    x = (cols - width / 2.0) / px_per_cm
    y = (rows - apex_row) / px_per_cm
    r = np.hypot(x, y)
    sector = (r <= depth_cm) & (np.abs(np.arctan2(x, y)) <= half_angle) & (y > 0)
    return x, y, r, sector, px_per_cm, apex_row, half_angle


def _speckle(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Rayleigh speckle with mean 1, smoothed along the lateral axis (ultrasound grain)."""
    # Rayleigh(sigma) = sigma * sqrt(2 E) with E standard exponential; sigma sets the mean to 1
    s = rng.standard_exponential(shape, dtype=np.float32)
    np.sqrt(s * np.float32(4.0 / np.pi), out=s)
    s = (s + np.roll(s, 1, axis=-1) + np.roll(s, -1, axis=-1)) / 3.0
    return 0.35 + 0.65 * s


class _Canvas:
    """Frames (F, H, W) uint8 and the textures shapes are painted with."""

    def __init__(self, heart: dict, n_frames: int, height: int, width: int, depth_cm: float,
                 rng: np.random.Generator):
        self.x, self.y, r, self.sector, self.ppc, self.apex_row, self.half_angle = _sector_geometry(
            height, width, float(depth_cm))
        self.height, self.width = height, width
        gain = (1.05 - 0.45 * np.clip(r / depth_cm, 0, 1)).astype(np.float32)
        n_tex = min(n_frames, 3)
        tissue = TISSUE_LEVEL * gain[None] * _speckle(rng, (n_tex, height, width))
        tissue *= self.sector[None]
        self.frames = np.ascontiguousarray(
            np.clip(tissue, 0, 255).astype(np.uint8)[np.arange(n_frames) % n_tex])
        self.textures = {
            "myocardium": np.clip(MYOCARDIUM_LEVEL * gain * _speckle(rng, (height, width)), 0, 255).astype(np.uint8),
            "cavity": np.clip(CAVITY_LEVEL * _speckle(rng, (height, width)), 0, 255).astype(np.uint8),
            "valve": np.clip(VALVE_LEVEL * (0.85 + 0.15 * _speckle(rng, (height, width))), 0, 255).astype(np.uint8),
            "wall": np.clip(125.0 * gain * _speckle(rng, (height, width)), 0, 255).astype(np.uint8),
        }

    def ellipse(self, cx, cy, a, b, angle: float, texture: str) -> None:
        """Paint an ellipse per frame (centre cx, cy; semi-axis a along ``angle`` from depth, b across; cm)."""
        n = self.frames.shape[0]
        cx, cy, a, b = (np.broadcast_to(np.asarray(v, dtype=np.float32), (n,)) for v in (cx, cy, a, b))
        if not np.any(a > 0):
            return
        s, c = np.float32(np.sin(angle)), np.float32(np.cos(angle))
        half_x = np.sqrt((a * s) ** 2 + (b * c) ** 2)
        half_y = np.sqrt((a * c) ** 2 + (b * s) ** 2)
        col = lambda xv: xv * self.ppc + self.width / 2.0
        row = lambda yv: yv * self.ppc + self.apex_row
        c0 = int(max(0, np.floor(col((cx - half_x).min()))))
        c1 = int(min(self.width, np.ceil(col((cx + half_x).max())) + 1))
        r0 = int(max(0, np.floor(row((cy - half_y).min()))))
        r1 = int(min(self.height, np.ceil(row((cy + half_y).max())) + 1))
        if c1 <= c0 or r1 <= r0:
            return
        xs, ys = self.x[r0:r1, c0:c1], self.y[r0:r1, c0:c1]
        # rotated coordinates: u along the a axis (angle from the depth axis), v across
        u0, v0 = xs * s + ys * c, xs * c - ys * s
        uf, vf = cx * s + cy * c, cx * c - cy * s
        with np.errstate(divide="ignore"):
            ia2, ib2 = np.where(a > 0, 1.0 / a**2, 0.0), np.where(b > 0, 1.0 / b**2, 0.0)
        u = u0[None] - uf[:, None, None]
        v = v0[None] - vf[:, None, None]
        u *= u
        u *= ia2.astype(np.float32)[:, None, None]
        v *= v
        v *= ib2.astype(np.float32)[:, None, None]
        u += v
        inside = u < 1.0
        inside &= self.sector[r0:r1, c0:c1][None]
        inside &= (a > 0)[:, None, None]
        np.copyto(self.frames[:, r0:r1, c0:c1],
                  np.broadcast_to(self.textures[texture][r0:r1, c0:c1], inside.shape), where=inside)


def _cardiac_phase(heart_rate: float, n_frames: int, fps: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Phase since the last R peak at each frame time, and the first frame's time offset."""
    offset = rng.uniform(0.0, 60.0 / heart_rate)
    t = offset + np.arange(n_frames) / fps
    return t * heart_rate / 60.0, offset


def _chambers(canvas: _Canvas, heart: dict, view_type: str, fill: np.ndarray, rng: np.random.Generator) -> None:
    """Paint the chambers, walls and valves of ``view_type`` for filling fractions ``fill`` (F,)."""
    edv, esv = float(heart["lvedv"]), float(heart["lvesv"])
    shd = int(heart["shd"])
    w_ed = float(heart["wall_mm"]) / 10.0
    failing = float(np.clip((48.0 - float(heart["lvef"])) / 25.0, 0.0, 1.0))
    volume = esv + (edv - esv) * fill
    a, b = lv_axes(volume, edv)
    a_ed, b_ed = lv_axes(np.array([edv]), edv)
    a_ed, b_ed = float(a_ed[0]), float(b_ed[0])
    # constant myocardial area: the wall thickens as the cavity shrinks
    b_out = np.sqrt(b**2 + (b_ed + w_ed) ** 2 - b_ed**2)
    wall = b_out - b
    a_out = a + wall
    la = 1.9 * (1.0 + 0.25 * shd + 0.2 * failing) * (1.0 + 0.1 * (1.0 - fill))
    systole = np.gradient(fill) < 0 if len(fill) > 1 else np.array([fill[0] < 0.5])
    valve_on = np.where(systole | bool(shd), 1.0, 0.0)
    valve_thick = 0.12 + 0.22 * shd
    tilt = rng.normal(0.0, 0.08)
    apex_y = 1.0 + rng.uniform(0.0, 0.5)
    if view_type in APICAL_VIEWS:
        lv_x = {"A4C": 0.7 * (b_ed + w_ed), "A2C": 0.0, "A3C": -0.3 * b_ed}[view_type]
        lv_y = apex_y + a_out
        base_y = apex_y + a_out + a
        la_y = apex_y + 2.0 * (a_ed + w_ed) + 0.3 + la
        if view_type == "A4C":
            rv_x = -(0.7 * b_ed + 1.0)
            rv_a, rv_b = 0.8 * a, 0.75 * b_ed * (0.85 + 0.15 * fill)
            canvas.ellipse(rv_x, apex_y + 1.0 + rv_a, rv_a + 0.3, rv_b + 0.3, tilt, "wall")
            canvas.ellipse(rv_x, apex_y + 1.0 + rv_a, rv_a, rv_b, tilt, "cavity")
            canvas.ellipse(rv_x, la_y, 0.9 * la + 0.25, 0.9 * la + 0.25, 0.0, "wall")
            canvas.ellipse(rv_x, la_y, 0.9 * la, 0.9 * la, 0.0, "cavity")
        if view_type == "A3C":
            ao_x, ao_y = lv_x + b_ed + 1.4, apex_y + 2.0 * a_ed - 0.2
            canvas.ellipse(ao_x, ao_y, 2.2, 1.4, 0.6, "wall")
            canvas.ellipse(ao_x, ao_y, 1.9, 1.1, 0.6, "cavity")
            canvas.ellipse(ao_x, ao_y - 0.3, valve_on * 0.9, valve_thick, 0.6 + np.pi / 2, "valve")
        canvas.ellipse(lv_x, la_y, la + 0.25, la + 0.25, 0.0, "wall")
        canvas.ellipse(lv_x, la_y, la, la, 0.0, "cavity")
        canvas.ellipse(lv_x, lv_y, a_out, b_out, tilt, "myocardium")
        canvas.ellipse(lv_x, lv_y, a, b, tilt, "cavity")
        canvas.ellipse(lv_x, base_y + 0.15, valve_on * 0.9 * b, valve_thick, tilt + np.pi / 2, "valve")
    elif view_type == "PLAX":
        lv_x, lv_y = -1.2, 4.5 + b_ed + w_ed
        rv_y = lv_y - b_ed - w_ed - 1.0
        canvas.ellipse(lv_x, rv_y, 0.95, 3.6, 0.0, "wall")
        canvas.ellipse(lv_x, rv_y, 0.7, 3.3, 0.0, "cavity")
        ao_x, ao_y = lv_x + a_ed + 1.3, lv_y - 0.55 * b_ed
        la_x, la_y = lv_x + a_ed + 1.6, lv_y + 0.55 * b_ed + 0.4
        canvas.ellipse(la_x, la_y, la + 0.25, la + 0.25, 0.0, "wall")
        canvas.ellipse(la_x, la_y, la, la, 0.0, "cavity")
        canvas.ellipse(ao_x, ao_y, 1.35, 2.0, 0.0, "wall")
        canvas.ellipse(ao_x, ao_y, 1.1, 1.8, 0.0, "cavity")
        # aortic valve: closed in diastole (thin), thick and always seen when diseased
        aortic_on = np.where(~systole | bool(shd), 1.0, 0.0)
        canvas.ellipse(ao_x - 0.5, ao_y, aortic_on * 1.0, valve_thick, 0.0, "valve")
        canvas.ellipse(lv_x, lv_y, b_out, a_out, 0.0, "myocardium")
        canvas.ellipse(lv_x, lv_y, b, a, 0.0, "cavity")
        canvas.ellipse(lv_x + a + 0.1, lv_y, valve_on * 0.85 * b, valve_thick, 0.0, "valve")
    elif view_type == "PSAX":
        lv_x, lv_y = 0.3, 4.0 + b_ed + w_ed
        canvas.ellipse(lv_x - b_ed - 0.6, lv_y - 0.8, 1.0 + 1.2 * b_ed, 0.7 + 0.6 * b_ed, 0.9, "wall")
        canvas.ellipse(lv_x - b_ed - 0.6, lv_y - 0.8, 0.8 + 1.2 * b_ed, 0.5 + 0.6 * b_ed, 0.9, "cavity")
        canvas.ellipse(lv_x, lv_y, b_out, b_out, 0.0, "myocardium")
        canvas.ellipse(lv_x, lv_y, b, b, 0.0, "cavity")
        for side in (-1.0, 1.0):                                              # papillary muscles
            canvas.ellipse(lv_x + side * 0.45 * b, lv_y + 0.4 * b, 0.3 * b_ed, 0.22 * b_ed, 0.0, "myocardium")
    else:
        raise ValueError(f"unknown view type {view_type!r}; expected one of {VIEW_TYPES}")


@lru_cache(maxsize=4)
def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default()


def _overlay(heart: dict, view_type: str, canvas: _Canvas, depth_cm: float, label: str,
             trace_window_s: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Static burned-in overlay (H, W) uint8 and the ECG-trace strip rows (top, bottom)."""
    h, w = canvas.height, canvas.width
    image = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(image)
    font = _font()
    draw.text((2, 1), label, fill=200, font=font)
    draw.text((2, 1 + max(8, h // 14)), view_type, fill=170, font=font)
    draw.text((2, 1 + 2 * max(8, h // 14)), f"HR {int(round(float(heart['heart_rate'])))}", fill=150, font=font)
    # probe orientation marker (a small filled square) and the depth scale, right of the sector
    draw.rectangle([w - 9, 2, w - 4, 7], fill=220)
    scale_x = int(w / 2 + 0.8 * h * np.sin(canvas.half_angle) + 4)
    scale_x = min(scale_x, w - 3)
    top, bottom = int(canvas.apex_row), int(canvas.apex_row + 0.8 * h)
    draw.line([(scale_x, top), (scale_x, bottom)], fill=140)
    for cm in range(0, int(depth_cm) + 1):
        yy = int(canvas.apex_row + cm * canvas.ppc)
        draw.line([(scale_x, yy), (scale_x + (3 if cm % 5 else 5), yy)], fill=200)
    # ECG trace (lead II) across the bottom strip
    strip_top, strip_bottom = int(0.87 * h), h - 2
    n_pts = w
    t = np.linspace(0.0, trace_window_s, n_pts)
    r_times = beat_times(float(heart["heart_rate"]), trace_window_s, rng, hrv=0.0)
    lead_ii = (DOWER[1] @ heart_vector(heart, t, r_times))
    span = max(np.ptp(lead_ii), 1e-6)
    ys = strip_bottom - (lead_ii - lead_ii.min()) / span * (strip_bottom - strip_top)
    draw.line(list(zip(np.arange(n_pts).tolist(), ys.tolist())), fill=230)
    return np.asarray(image, dtype=np.uint8), np.array([strip_top, strip_bottom])


def render_echo_view(
    heart: dict,
    view_type: str,
    n_frames: int,
    fps: float,
    height: int,
    width: int,
    rng: np.random.Generator,
    depth_cm: float | None = None,
    label: str = "ECHO2ECG SYN",
) -> np.ndarray:
    """One grayscale cine (n_frames, height, width) uint8 of ``heart`` seen in ``view_type``."""
    if depth_cm is None:
        depth_cm = float(rng.choice([14.0, 15.0, 16.0, 17.0]))
    heart = dict(heart)
    canvas = _Canvas(heart, n_frames, height, width, depth_cm, rng)
    phase, _ = _cardiac_phase(float(heart["heart_rate"]), n_frames, fps, rng)
    _chambers(canvas, heart, view_type, volume_fraction(phase), rng)
    trace_window_s = max(2.5, n_frames / fps)
    overlay, strip = _overlay(heart, view_type, canvas, depth_cm, label, trace_window_s, rng)
    frames = canvas.frames
    np.maximum(frames, overlay[None], out=frames)
    # moving cursor on the ECG trace: one bright column per frame
    cursor = ((np.arange(n_frames) / fps) % trace_window_s / trace_window_s * (width - 1)).astype(np.int64)
    frames[np.arange(n_frames)[:, None], np.arange(strip[0], strip[1])[None, :], cursor[:, None]] = 255
    return frames


def tint(frames: np.ndarray, rgb: tuple[float, float, float] = (1.0, 0.93, 0.8)) -> np.ndarray:
    """Grayscale (F, H, W) -> RGB (F, H, W, 3) with the warm tint of many ultrasound machines."""
    weights = np.round(np.asarray(rgb) * 256.0).astype(np.uint16)
    lut = ((np.arange(256, dtype=np.uint16)[:, None] * weights) >> 8).astype(np.uint8)    # (256, 3)
    return np.take(lut, frames, axis=0)
