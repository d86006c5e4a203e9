"""The 12 ECG leads in the model's order, and mapping of stored lead names onto it.

Recipe section 2: the model reads I, II, III, aVR, aVL, aVF, V1..V6. Datasets store leads
in other orders (MIMIC-IV-ECG stores aVF before aVL), so leads are always mapped by name.
"""
from __future__ import annotations

import numpy as np

MODEL_LEAD_ORDER: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)

# Lead groups for the lead-group z-normalisation (recipe section 2, step 4).
LEAD_GROUPS: tuple[tuple[str, ...], ...] = (
    ("I", "II", "III"),
    ("aVR", "aVL", "aVF"),
    ("V1", "V2", "V3", "V4", "V5", "V6"),
)

# Spellings seen in WFDB headers, CardiologyXML and DICOM waveform channel labels.
_ALIASES = {
    "i": "I", "ii": "II", "iii": "III",
    "avr": "aVR", "avl": "aVL", "avf": "aVF",
    "v1": "V1", "v2": "V2", "v3": "V3", "v4": "V4", "v5": "V5", "v6": "V6",
    "lead i": "I", "lead ii": "II", "lead iii": "III",
    "lead avr": "aVR", "lead avl": "aVL", "lead avf": "aVF",
    "lead v1": "V1", "lead v2": "V2", "lead v3": "V3",
    "lead v4": "V4", "lead v5": "V5", "lead v6": "V6",
}


def canonical_lead_name(name: str) -> str | None:
    """Return the model's spelling of a stored lead name, or None when it is no 12-lead name."""
    key = " ".join(str(name).strip().replace("_", " ").replace("-", " ").split()).lower()
    if key in _ALIASES:
        return _ALIASES[key]
    # DICOM channel labels look like "Lead I (Einthoven)" or "Lead aVR"
    key = key.split("(")[0].strip()
    return _ALIASES.get(key)


def model_order_index(stored_names: list[str]) -> np.ndarray:
    """Indices into the stored lead axis that give the model's lead order.

    Raises KeyError naming the missing leads when a 12-lead name is absent.
    """
    canon = [canonical_lead_name(n) for n in stored_names]
    position = {c: i for i, c in enumerate(canon) if c is not None}
    missing = [lead for lead in MODEL_LEAD_ORDER if lead not in position]
    if missing:
        raise KeyError(f"missing leads {missing} (stored leads: {list(stored_names)})")
    return np.array([position[lead] for lead in MODEL_LEAD_ORDER], dtype=np.int64)
