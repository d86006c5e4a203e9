import pandas as pd
import pytest

from echo2ecg.qc import ExclusionLedger, TooManyExclusions, check_exclusion_fraction, combine_ledgers, reconcile


def _ledger(reasons):
    ledger = ExclusionLedger(stage="ingest_ecgs", cohort="mimic")
    for i, reason in enumerate(reasons):
        ledger.exclude(f"r{i}", f"files/r{i}.hea", reason)
    return ledger.to_frame()


def test_exclusion_fraction_failure_names_the_top_reasons():
    excluded = _ledger(["unreadable file: a"] * 3 + ["flat lead: V1"] * 2 + ["too short: 4 s"])
    check_exclusion_fraction("ingest_ecgs", 60, excluded, 0.1)
    with pytest.raises(TooManyExclusions) as error:
        check_exclusion_fraction("ingest_ecgs", 20, excluded, 0.1)
    message = str(error.value)
    assert "6 of 20" in message and "unreadable file (3)" in message and "flat lead (2)" in message
    assert message.index("unreadable file") < message.index("flat lead")


def test_combined_ledger_reconciles_and_counts_reasons(tmp_path):
    excluded = _ledger(["unreadable file: x", "unreadable file: y", "duplicate id: r1"])
    excluded.to_parquet(tmp_path / "a.parquet")
    pd.DataFrame([{"stage": "ingest_ecgs", "cohort": "mimic", "read": 10, "kept": 7, "excluded": 3}]).to_csv(tmp_path / "a.csv", index=False)
    ledger, reconciliation, reasons = combine_ledgers([tmp_path / "a.parquet"], [tmp_path / "a.csv"])
    assert len(ledger) == 3
    assert dict(zip(reasons["reason_kind"], reasons["records"])) == {"unreadable file": 2, "duplicate id": 1}
    pd.DataFrame([{"stage": "ingest_ecgs", "cohort": "mimic", "read": 10, "kept": 8, "excluded": 3}]).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(AssertionError, match="do not reconcile"):
        combine_ledgers([tmp_path / "a.parquet"], [tmp_path / "b.csv"])


def test_reconcile_checks_counts_and_the_exclusion_fraction():
    excluded = _ledger(["unreadable file: a", "flat lead: V2"])
    assert reconcile("preprocess_ecg", "mimic", 10, 8, excluded, 0.5) == {
        "stage": "preprocess_ecg", "cohort": "mimic", "read": 10, "kept": 8, "excluded": 2}
    with pytest.raises(AssertionError, match="read 10 != kept 7 \\+ excluded 2"):
        reconcile("preprocess_ecg", "mimic", 10, 7, excluded, 0.5)
    with pytest.raises(TooManyExclusions, match=r"preprocess_ecg \(mimic\)"):
        reconcile("preprocess_ecg", "mimic", 4, 2, excluded, 0.25)
