"""Types shared by all readers. The API each reader module exposes is in FORMATS.md."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from echo2ecg.leads import MODEL_LEAD_ORDER


@dataclass
class ECGRecord:
    """One 12-lead ECG in the model's lead order, in millivolts, at its stored rate."""

    record_id: str
    signal: np.ndarray  # float32 (12, T), model lead order, mV
    sampling_rate: float  # Hz, as read from the file
    source_path: str
    lead_names: tuple[str, ...] = MODEL_LEAD_ORDER
    extra: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.signal.shape[1] / self.sampling_rate


@dataclass
class ViewHeader:
    """What a view file says about itself without decoding pixel data."""

    source_path: str
    n_frames: int
    height: int
    width: int
    fps: float | None  # None when the file states no frame rate
    samples_per_pixel: int  # 1 (grayscale) or 3 (colour)
    compressed: bool
