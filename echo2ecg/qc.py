"""The QC ledger: every record a stage rejects, with a reason a person understands.

Readers raise :class:`RecordFault`; stages catch it, record the record in the ledger and go
on. Counts reconcile: read = kept + excluded. Above a configured fraction of exclusions a
stage fails with :class:`TooManyExclusions`, naming the most frequent reasons.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from echo2ecg.logs import ExpectedFailure

LEDGER_COLUMNS = ["stage", "cohort", "record_id", "source_path", "reason"]


class RecordFault(Exception):
    """A single record cannot be used. The message is the reason written into the ledger.

    Write it for a person: which file, what is wrong (``"lead aVL is flat (all samples equal)"``).
    """


class TooManyExclusions(ExpectedFailure, RuntimeError):
    """More records were excluded than the configured fraction allows (the rule's log gets the
    message, which names the counts, the threshold and the most frequent reasons)."""


@dataclass
class ExclusionLedger:
    stage: str
    cohort: str = ""
    rows: list[dict] = field(default_factory=list)

    def exclude(self, record_id, source_path, reason) -> None:
        self.rows.append({
            "stage": self.stage,
            "cohort": self.cohort,
            "record_id": "" if record_id is None else str(record_id),
            "source_path": "" if source_path is None else str(source_path),
            "reason": str(reason),
        })

    def __len__(self) -> int:
        return len(self.rows)

    def to_frame(self) -> pd.DataFrame:
        return ledger_frame(self.rows)


def ledger_frame(rows=()) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=LEDGER_COLUMNS)
    return frame.astype({c: "string" for c in LEDGER_COLUMNS})


def reason_kind(reason: str) -> str:
    """The reason's kind: the text before the first colon (``"unreadable WFDB record: ..."``)."""
    return str(reason).split(":", 1)[0].strip()


def check_exclusion_fraction(stage: str, n_read: int, excluded: pd.DataFrame, max_fraction: float) -> None:
    """Raise TooManyExclusions when excluded / read exceeds ``max_fraction``."""
    n_excluded = len(excluded)
    if n_read == 0:
        raise TooManyExclusions(f"{stage}: no records were read")
    fraction = n_excluded / n_read
    if fraction > max_fraction:
        top = Counter(reason_kind(r) for r in excluded["reason"]).most_common(5)
        listing = "; ".join(f"{kind} ({count})" for kind, count in top)
        raise TooManyExclusions(
            f"{stage}: {n_excluded} of {n_read} records excluded ({fraction:.1%}), above the "
            f"configured qc.max_excluded_fraction of {max_fraction:.1%}. Top reasons: {listing}"
        )


def reconcile(stage: str, cohort: str, n_read: int, n_kept: int, excluded: pd.DataFrame,
              max_excluded_fraction: float) -> dict:
    """One stage's counts for one cohort: read = kept + excluded (AssertionError otherwise), and
    the exclusion-fraction check (TooManyExclusions). Returns the reconciliation row."""
    n_excluded = len(excluded)
    if n_read != n_kept + n_excluded:
        raise AssertionError(f"{stage} {cohort}: read {n_read} != kept {n_kept} + excluded {n_excluded}")
    check_exclusion_fraction(f"{stage} ({cohort})", n_read, excluded, max_excluded_fraction)
    return {"stage": stage, "cohort": cohort, "read": int(n_read), "kept": int(n_kept), "excluded": int(n_excluded)}


def combine_ledgers(excluded_paths, reconciliation_paths):
    """One ledger of all stages, the read/kept/excluded counts, and counts per stage and reason kind."""
    frames = [pd.read_parquet(p) for p in excluded_paths]
    frames = [f for f in frames if len(f)]
    excluded = pd.concat(frames, ignore_index=True) if frames else ledger_frame()
    reconciliation = pd.concat([pd.read_csv(p) for p in reconciliation_paths], ignore_index=True)
    bad = reconciliation[reconciliation["read"] != reconciliation["kept"] + reconciliation["excluded"]]
    if len(bad):
        raise AssertionError(f"counts do not reconcile (read != kept + excluded):\n{bad.to_string(index=False)}")
    reasons = (excluded.assign(reason_kind=excluded["reason"].map(reason_kind))
               .groupby(["stage", "cohort", "reason_kind"]).size().rename("records").reset_index())
    return excluded, reconciliation, reasons
