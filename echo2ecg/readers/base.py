"""Types and checks shared by all readers. The API each reader module exposes is in FORMATS.md.

:func:`checked_ecg_record` holds the checks every ECG reader applies once the stored leads are
in memory, so that all readers reject a bad ECG with the same reasons."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from echo2ecg.leads import MODEL_LEAD_ORDER, canonical_lead_name, model_order_index
from echo2ecg.qc import RecordFault


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


MIN_DURATION_S = 9.5  # recipe: ECGs are 10 s; shorter ones are excluded

_MILLIVOLTS_PER = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "nv": 1e-6, "v": 1e3}


def one_line(error: BaseException) -> str:
    """A library's error message on one line, for the QC ledger."""
    return " ".join(str(error).split())


@contextmanager
def opening_record(path, unreadable_as: str, errors: tuple[type[BaseException], ...]):
    """Turn a missing file, and the given library errors raised while opening ``path``, into
    RecordFaults: ``missing file: <path> does not exist`` and
    ``unreadable file: <path> <unreadable_as> (<the library's message>)``."""
    try:
        yield
    except FileNotFoundError as error:
        raise RecordFault(f"missing file: {error.filename or path} does not exist") from error
    except errors as error:
        raise RecordFault(f"unreadable file: {path} {unreadable_as} ({one_line(error)})") from error


def millivolts_per_unit(unit: str, source: str) -> float:
    """Factor that turns values stored in ``unit`` (mV, uV, V, ...) into millivolts."""
    key = str(unit).strip().lower().replace("micro", "u").replace("milli", "m").replace("volts", "v")
    key = key.replace("volt", "v")
    if key not in _MILLIVOLTS_PER:
        raise RecordFault(f"unknown units: {source} stores values in {unit!r}, expected mV, uV or V")
    return _MILLIVOLTS_PER[key]


def checked_ecg_record(
    stored: np.ndarray,
    lead_names: list[str],
    sampling_rate: float,
    *,
    record_id: str,
    source_path: str,
    min_duration_s: float = MIN_DURATION_S,
    extra: dict | None = None,
) -> ECGRecord:
    """Map stored leads (``(n_leads, T)``, mV) onto the model order by name and check them.

    Raises RecordFault for missing leads, a bad sampling rate, a record shorter than
    ``min_duration_s``, a lead that is all NaN and a flat lead (all samples equal).
    """
    names = [str(n) for n in lead_names]
    if stored.ndim != 2 or stored.shape[0] != len(names):
        raise RecordFault(
            f"wrong shape: {source_path} holds a signal of shape {stored.shape} "
            f"for {len(names)} lead names"
        )
    present = {canonical_lead_name(n) for n in names}
    missing = [lead for lead in MODEL_LEAD_ORDER if lead not in present]
    if missing:
        raise RecordFault(
            f"missing leads: {source_path} lacks {', '.join(missing)} "
            f"(stored leads: {', '.join(names)})"
        )
    rate = float(sampling_rate)
    if not np.isfinite(rate) or rate <= 0:
        raise RecordFault(f"unreadable file: {source_path} states a sampling rate of {sampling_rate!r} Hz")
    signal = np.asarray(stored[model_order_index(names)], dtype=np.float32)
    duration = signal.shape[1] / rate
    if duration < min_duration_s:
        raise RecordFault(
            f"too short: {source_path} lasts {duration:.2f} s ({signal.shape[1]} samples at "
            f"{rate:g} Hz), below the minimum of {min_duration_s:g} s"
        )
    nan_leads = np.isnan(signal).all(axis=1)
    if nan_leads.any():
        leads = ", ".join(np.asarray(MODEL_LEAD_ORDER)[nan_leads])
        raise RecordFault(f"all-NaN lead: lead {leads} in {source_path} has no valid sample")
    with np.errstate(invalid="ignore"):
        flat = np.nanmax(signal, axis=1) == np.nanmin(signal, axis=1)
    if flat.any():
        leads = ", ".join(np.asarray(MODEL_LEAD_ORDER)[flat])
        raise RecordFault(f"flat lead: lead {leads} in {source_path} is flat (all samples equal)")
    return ECGRecord(
        record_id=str(record_id),
        signal=signal,
        sampling_rate=rate,
        source_path=str(source_path),
        extra=dict(extra or {}),
    )
