"""Echo cines of a latent heart: a beating heart inside a fan-shaped ultrasound sector.

Each view type shows a different part of the phenotype: apical views (A4C, A2C, A3C) the LV
long axis and cavity area over the cycle (volumes, EF), the parasternal long axis (PLAX) the
septum and posterior wall and the aortic and mitral valves (wall thickness, valve disease), the
parasternal short axis (PSAX) the LV ring (wall thickness, wall motion). Chamber cavities are
ellipses whose size follows the LV volume curve between EDV and ESV at the heart rate; the
myocardium keeps its area, so walls thicken in systole.

Speckle is the magnitude of a laterally smoothed complex Gaussian field (Rayleigh distributed)
that partly decorrelates from frame to frame, as it does when tissue moves: each pixel's field
turns between two independent fields at its own rate, slowly in a quiet patch of tissue that
barely changes over the clip. Time-gain falls off with depth, so the far field is dim. Burned in
and static: text, a probe marker, a depth scale and an ECG trace (with a moving cursor) outside
the sector, and depth ticks and a focus marker on its edge. :func:`true_fan_mask` is the sector
every cine of a frame size is drawn in (the truth the sector mask of view preparation is tested
against).

Rendering is vectorised over frames; each shape is evaluated only inside its bounding box. The
canvas holds tissue classes (F, H, W); grey levels, depth gain and speckle are applied once.
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
TISSUE_LEVEL, MYOCARDIUM_LEVEL, CAVITY_LEVEL, VALVE_LEVEL = 96.0, 165.0, 16.0, 200.0


def volume_fraction(phase: np.ndarray) -> np.ndarray:
    """Filling fraction f in [0, 1] (1 = end-diastole) at cardiac phase in [0, 1)."""
    return np.interp(np.mod(phase, 1.0), _PHASE_KNOTS, _FILL_KNOTS)


def lv_axes(volume_ml: np.ndarray, edv_ml: float) -> tuple[np.ndarray, np.ndarray]:
    """Semi-axes (long, short) in cm of a prolate-ellipsoid LV of ``volume_ml`` (V = pi/6 L D^2)."""
    length_ed = 8.0 * (edv_ml / 120.0) ** (1.0 / 3.0)
    length = length_ed * (volume_ml / edv_ml) ** 0.15
    diameter = np.sqrt(6.0 * volume_ml / (np.pi * length))
    return length / 2.0, diameter / 2.0


# Tissue classes painted on the canvas, and their grey level (before gain and speckle) and speckle
# weight (the share of the level that speckle modulates; the rest is constant).
OUTSIDE, TISSUE, MYOCARDIUM, CAVITY, VALVE, WALL = range(6)
_CLASS_LEVEL = np.array([0.0, TISSUE_LEVEL, MYOCARDIUM_LEVEL, CAVITY_LEVEL, VALVE_LEVEL, 125.0], dtype=np.float32)
_CLASS_SPECKLE = np.array([0.0, 1.0, 1.0, 1.0, 0.3, 1.0], dtype=np.float32)
_TEXTURE_CLASS = {"myocardium": MYOCARDIUM, "cavity": CAVITY, "valve": VALVE, "wall": WALL, "tissue": TISSUE}

# Speckle: each pixel's complex field turns between two independent fields at SPECKLE_RATE (rad/s)
# times a smooth per-pixel factor in SPECKLE_RATE_RANGE; in the quiet patch the factor is
# QUIET_RATE (tissue that barely changes). Depth gain falls from GAIN_NEAR at the probe to
# GAIN_FAR at the full depth (dim far field). Intensity = level * gain * (1 - w + w * s), with
# s = 0.35 + 0.65 * Rayleigh(mean 1), w the class's speckle weight.
SPECKLE_RATE = 5.0
# How the phenotype shows (strengthened so that a 64-pixel clip shows it), as geometry only where
# the view shows it: the drawn wall is the true wall plus WALL_CONTRAST times its excess over
# WALL_NORMAL_MM (thin walls thinner, thick walls thicker) in the parasternal views, which cut the
# septum and posterior wall across the beam. Apical views see the walls side-on along the beam
# (foreshortened, poor lateral resolution): only APICAL_WALL_SHARE of the excess shows, blurred by
# a per-view error of APICAL_WALL_JITTER_CM, and the myocardium echoes weaker (APICAL_MYOCARDIUM_GAIN,
# the same for every heart: no grey level depends on the phenotype outside the structure it
# changes). A diseased valve (SHD) is thickened by VALVE_LESION_CM, calcified (grey level
# VALVE_LESION_LEVEL before depth gain: saturated), restricted (seen in every frame, never open)
# and has a calcified annulus nodule of VALVE_NODULE_CM radius; normal leaflets are thin, at VALVE_LEVEL.
WALL_NORMAL_MM, WALL_CONTRAST = 9.0, 1.0
APICAL_WALL_SHARE, APICAL_WALL_JITTER_CM, APICAL_MYOCARDIUM_GAIN = 0.25, 0.12, 0.8
VALVE_LESION_CM, VALVE_LESION_LEVEL, VALVE_NODULE_CM = 0.6, 420.0, 0.6
SPECKLE_RATE_RANGE = (0.5, 1.5)
QUIET_RATE = 0.03
GAIN_NEAR, GAIN_FAR = 1.05, 0.5


@lru_cache(maxsize=16)
def _sector_geometry(height: int, width: int, depth_cm: float):
    """Pixel grid in cm (x lateral, y depth from the probe), sector mask, pixels per cm, apex."""
    apex_row, radius_px, half_angle = fan_geometry(height, width)
    px_per_cm = radius_px / depth_cm
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    x = (cols - width / 2.0) / px_per_cm
    y = (rows - apex_row) / px_per_cm
    r = np.hypot(x, y)
    sector = (r <= depth_cm) & (np.abs(np.arctan2(x, y)) <= half_angle) & (y > 0)
    return x, y, r, sector, px_per_cm, apex_row, half_angle


def fan_geometry(height: int, width: int) -> tuple[float, float, float]:
    """(apex row, radius in pixels, half angle in radians) of the fan drawn in a height x width frame.

    The apex lies on the frame's vertical centre line (column width / 2); the fan does not depend
    on the depth setting (depth only sets the pixels per cm).
    """
    radius_px = 0.8 * height
    half_angle = float(min(np.deg2rad(38.0), np.arcsin(min(1.0, 0.47 * width / radius_px))))
    return 0.05 * height, radius_px, half_angle


def true_fan_mask(height: int, width: int) -> np.ndarray:
    """bool (H, W): the pixels inside the ultrasound fan of every cine rendered at this frame size."""
    return _sector_geometry(int(height), int(width), 15.0)[3].copy()


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A smooth random field in [0, 1] (bilinear upsampling of a coarse uniform grid)."""
    coarse = rng.random((4, 4)).astype(np.float32)
    rows = np.linspace(0, 3, shape[0], dtype=np.float32)
    cols = np.linspace(0, 3, shape[1], dtype=np.float32)
    r0, c0 = np.minimum(rows.astype(int), 2), np.minimum(cols.astype(int), 2)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    top = coarse[r0][:, c0] * (1 - fc) + coarse[r0][:, c0 + 1] * fc
    bottom = coarse[r0 + 1][:, c0] * (1 - fc) + coarse[r0 + 1][:, c0 + 1] * fc
    return top * (1 - fr) + bottom * fr


def _grain(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Two independent unit-variance Gaussian fields (2, H, W): real and imaginary part of one."""
    return rng.standard_normal((2, *shape), dtype=np.float32)


def speckle_frames(fields: np.ndarray, times_s: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Speckle (F, H, W) float32 at ``times_s`` (F,), mean about 1: Rayleigh magnitudes that decorrelate.

    ``fields``: (4, H, W) unit-variance Gaussian fields, the real and imaginary parts of two
    independent complex fields A and B (:func:`_grain`), independent from pixel to pixel. Pixel p at time t:
    ``|cos(theta) A_p + sin(theta) B_p|`` with ``theta = rate_p * t``, so every frame is Rayleigh
    and the correlation between frames falls as cos(rate * dt); magnitudes are then averaged over
    three neighbouring columns (lateral blur).
    """
    a_re, a_im, b_re, b_im = fields
    theta = np.asarray(times_s, dtype=np.float32)[:, None, None] * rate[None]
    c, s = np.cos(theta), np.sin(theta)
    re = c * a_re
    re += s * b_re
    c *= a_im
    s *= b_im
    c += s
    re *= re
    c *= c
    re += c
    np.sqrt(re, out=re)
    # the display's lateral blur makes the grain (and narrows its spread)
    re = (re + np.roll(re, 1, axis=-1) + np.roll(re, -1, axis=-1)) / np.float32(3.0)
    # |g| with unit-variance real and imaginary parts is Rayleigh(1): mean sqrt(pi / 2)
    re *= np.float32(0.65 / np.sqrt(np.pi / 2.0))
    re += np.float32(0.35)
    return re


class _Canvas:
    """Tissue classes (F, H, W) uint8, painted shape by shape, then turned into grey frames."""

    def __init__(self, heart: dict, n_frames: int, height: int, width: int, depth_cm: float,
                 rng: np.random.Generator):
        self.x, self.y, r, self.sector, self.ppc, self.apex_row, self.half_angle = _sector_geometry(
            height, width, float(depth_cm))
        self.height, self.width, self.depth_cm = height, width, float(depth_cm)
        self.radius = r
        self.levels = _CLASS_LEVEL.copy()  # grey level per tissue class (a heart may change them)
        self.classes = np.repeat((self.sector * np.uint8(TISSUE)).astype(np.uint8)[None], n_frames, axis=0)

    def ellipse(self, cx, cy, a, b, angle: float, texture: str) -> None:
        """Paint an ellipse per frame (centre cx, cy; semi-axis a along ``angle`` from depth, b across; cm)."""
        n = self.classes.shape[0]
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
        self.classes[:, r0:r1, c0:c1][inside] = _TEXTURE_CLASS[texture]

    def render(self, fps: float, rng: np.random.Generator) -> np.ndarray:
        """Grey frames (F, H, W) uint8: class level x depth gain x decorrelating speckle."""
        n, height, width = self.classes.shape
        depth = np.clip(self.radius / self.depth_cm, 0.0, 1.0)
        gain = (GAIN_NEAR - (GAIN_NEAR - GAIN_FAR) * depth).astype(np.float32)
        low, high = SPECKLE_RATE_RANGE
        rate = SPECKLE_RATE * (low + (high - low) * _smooth_field(rng, (height, width)))
        # a quiet patch of tissue inside the fan (mid depth, off axis) that barely changes
        q_r = rng.uniform(0.3, 0.6) * self.depth_cm
        q_angle = rng.uniform(-0.6, 0.6) * self.half_angle
        q_x, q_y, q_size = q_r * np.sin(q_angle), q_r * np.cos(q_angle), rng.uniform(0.08, 0.14) * self.depth_cm
        quiet = np.hypot(self.x - q_x, (self.y - q_y) * 1.4) <= q_size
        rate = np.where(quiet, SPECKLE_RATE * QUIET_RATE, rate).astype(np.float32)
        fields = np.concatenate([_grain(rng, (height, width)), _grain(rng, (height, width))])
        frames = np.empty((n, height, width), dtype=np.uint8)
        for begin in range(0, n, 16):  # bounded memory at large frame sizes
            end = min(n, begin + 16)
            speckle = speckle_frames(fields, np.arange(begin, end) / float(fps), rate)
            classes = self.classes[begin:end]
            weight = _CLASS_SPECKLE[classes]
            speckle *= weight
            speckle += 1.0 - weight
            speckle *= self.levels[classes]
            speckle *= gain[None]
            np.clip(speckle, 0, 255, out=speckle)
            frames[begin:end] = speckle.astype(np.uint8)
        return frames


def _cardiac_phase(heart_rate: float, n_frames: int, fps: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Phase since the last R peak at each frame time, and the first frame's time offset."""
    offset = rng.uniform(0.0, 60.0 / heart_rate)
    t = offset + np.arange(n_frames) / fps
    return t * heart_rate / 60.0, offset


def _chambers(canvas: _Canvas, heart: dict, view_type: str, fill: np.ndarray, rng: np.random.Generator) -> None:
    """Paint the chambers, walls and valves of ``view_type`` for filling fractions ``fill`` (F,)."""
    edv, esv = float(heart["lvedv"]), float(heart["lvesv"])
    shd = int(heart["shd"])
    wall_mm = float(heart["wall_mm"])
    tilt = rng.normal(0.0, 0.08)
    apex_y = 1.0 + rng.uniform(0.0, 0.5)
    # the wall's draw after the placement draws
    if view_type in APICAL_VIEWS:
        w_ed = max(0.3, (WALL_NORMAL_MM + APICAL_WALL_SHARE * (wall_mm - WALL_NORMAL_MM)) / 10.0
                   + rng.normal(0.0, APICAL_WALL_JITTER_CM))
        canvas.levels[MYOCARDIUM] = MYOCARDIUM_LEVEL * APICAL_MYOCARDIUM_GAIN
    else:
        w_ed = max(0.3, wall_mm + WALL_CONTRAST * (wall_mm - WALL_NORMAL_MM)) / 10.0
    if shd:
        canvas.levels[VALVE] = VALVE_LESION_LEVEL
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
    valve_thick = 0.12 + VALVE_LESION_CM * shd
    nodule = VALVE_NODULE_CM * shd
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
        canvas.ellipse(lv_x + 0.9 * b_ed, base_y + 0.15, nodule, nodule, 0.0, "valve")  # annulus calcification
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
        canvas.ellipse(lv_x, lv_y, b_out, a_out, 0.0, "myocardium")
        canvas.ellipse(lv_x, lv_y, b, a, 0.0, "cavity")
        canvas.ellipse(ao_x - 0.5, ao_y, aortic_on * 1.0, valve_thick, 0.0, "valve")
        canvas.ellipse(ao_x - 0.5, ao_y - 1.0, nodule, nodule, 0.0, "valve")  # calcified aortic annulus
        canvas.ellipse(lv_x + a + 0.1, lv_y, valve_on * 0.85 * b, valve_thick, 0.0, "valve")
        canvas.ellipse(lv_x + a + 0.1, lv_y + 0.85 * b_ed, nodule, nodule, 0.0, "valve")  # annulus calcification
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
    # on the fan's edge: depth ticks across the left edge every cm, a focus marker beside the right
    size = max(1.0, h / 128.0)
    apex = np.array([w / 2.0, canvas.apex_row])
    sin_a, cos_a = np.sin(canvas.half_angle), np.cos(canvas.half_angle)
    left, left_out = np.array([-sin_a, cos_a]), np.array([-cos_a, -sin_a])  # edge direction, outward normal
    for cm in range(1, int(depth_cm)):
        p = apex + cm * canvas.ppc * left
        draw.line([tuple(p - 1.0 * size * left_out), tuple(p + 3.0 * size * left_out)], fill=190)
    right, right_out = np.array([sin_a, cos_a]), np.array([cos_a, -sin_a])
    p = apex + rng.uniform(0.35, 0.65) * 0.8 * h * right
    draw.polygon([tuple(p + 1.0 * size * right_out), tuple(p + 5.0 * size * right_out + 2.5 * size * right),
                  tuple(p + 5.0 * size * right_out - 2.5 * size * right)], fill=210)
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
    frames = canvas.render(fps, rng)
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
