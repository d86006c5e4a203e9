"""Ingest on small datasets written in their real formats: read = kept + excluded, a reason per
excluded record, timestamps timezone-aware, content hashes of the files."""
import logging

import numpy as np
import pandas as pd
import pytest

from echo2ecg import readers
from echo2ecg.ingest import (
    assemble_echo_studies, ingest_echo_shard, ingest_ecg_shard, ingest_phenotypes, manifest_rows,
    merge_ingested_shards, parse_acquired_at, ecg_frame, shard_manifest,
)
from echo2ecg.provenance import sha256_of_files
from echo2ecg.qc import RecordFault, TooManyExclusions
from format_writers import distinct_leads, smooth_frames, write_echo_dicom, write_wfdb

LOG = logging.getLogger("test")


@pytest.fixture
def mimic_ecg_root(tmp_path):
    root = tmp_path / "mimic-iv-ecg"
    rows = []
    for i, (subject, study) in enumerate([("10000032", "40000001"), ("10000032", "40000002"), ("10000033", "40000003"),
                                         ("10000034", "40000004"), ("10000035", "40000005")]):
        rel = f"files/p1000/p{subject}/s{study}/{study}"
        signal = distinct_leads(5000, 500.0, seed=i)
        if study == "40000004":
            signal[4] = 0.0  # aVL flat
        write_wfdb(root / rel, signal, 500.0)
        rows.append({"subject_id": subject, "study_id": study, "file_name": study,
                     "ecg_time": f"2150-01-0{i + 1} 10:00:00", "path": rel})
    dat = root / "files/p1000/p10000033/s40000003/40000003.dat"
    dat.write_bytes(dat.read_bytes()[:1000])  # corrupt: truncated signal file
    rows.append(dict(rows[0]))  # duplicate id
    rows[1]["ecg_time"] = ""  # missing timestamp
    pd.DataFrame(rows).to_csv(root / "record_list.csv", index=False)
    return root


def _ingest_all_shards(manifest, n_shards, **kwargs):
    reader = readers.ecg_reader("mimic_iv_ecg")
    kept, excluded = [], []
    for shard in range(n_shards):
        k, e = ingest_ecg_shard(manifest_rows(manifest, shard), reader, cohort="mimic", dataset="mimic_iv_ecg",
                                shard=shard, min_duration_s=9.5, log=LOG, **kwargs)
        kept.append(k)
        excluded.append(e)
    return kept, excluded


def test_ecg_ingest_keeps_good_records_and_ledgers_each_fault(mimic_ecg_root, tmp_path):
    manifest = shard_manifest(readers.ecg_reader("mimic_iv_ecg").list_ecg_records(mimic_ecg_root), n_shards=3)
    kept, excluded = _ingest_all_shards(manifest, 3)
    paths = []
    for i, (k, e) in enumerate(zip(kept, excluded)):
        k.to_parquet(tmp_path / f"k{i}.parquet")
        e.to_parquet(tmp_path / f"e{i}.parquet")
        paths.append((tmp_path / f"k{i}.parquet", tmp_path / f"e{i}.parquet"))
    table, ledger, reconciliation = merge_ingested_shards(
        "ingest_ecgs", [p for p, _ in paths], [p for _, p in paths], {"mimic": len(manifest)},
        empty=ecg_frame([]), id_column="ecg_id", max_excluded_fraction=0.9, log=LOG)
    assert len(manifest) == 6
    assert reconciliation.to_dict("records") == [{"stage": "ingest_ecgs", "cohort": "mimic", "read": 6, "kept": 2, "excluded": 4}]
    assert set(table["ecg_id"]) == {"40000001", "40000005"}
    reasons = dict(zip(ledger["record_id"], ledger["reason"]))
    assert reasons["40000002"].startswith("missing timestamp")
    assert reasons["40000003"].startswith("unreadable file") and "40000003" in reasons["40000003"]
    assert reasons["40000004"].startswith("flat lead") and "aVL" in reasons["40000004"]
    assert ledger.loc[ledger["record_id"] == "40000001", "reason"].iloc[0].startswith("duplicate id")
    row = table.set_index("ecg_id").loc["40000001"]
    base = mimic_ecg_root / "files/p1000/p10000032/s40000001/40000001"
    assert row["sha256"] == sha256_of_files([f"{base}.hea", f"{base}.dat"])
    assert row["sampling_rate"] == 500.0 and row["n_samples"] == 5000
    assert str(table["acquired_at"].dt.tz) == "UTC"
    with pytest.raises(TooManyExclusions, match="ingest_ecgs"):
        merge_ingested_shards("ingest_ecgs", [p for p, _ in paths], [p for _, p in paths], {"mimic": 6},
                              empty=ecg_frame([]), id_column="ecg_id", max_excluded_fraction=0.5, log=LOG)


def test_shards_are_stable_when_records_are_added(mimic_ecg_root):
    manifest = readers.ecg_reader("mimic_iv_ecg").list_ecg_records(mimic_ecg_root)
    small = shard_manifest(manifest.iloc[:3], n_shards=4).set_index("record_id")["shard"]
    grown = shard_manifest(pd.concat([manifest.iloc[3:], manifest.iloc[:3]]), n_shards=4)
    grown = grown.drop_duplicates("record_id").set_index("record_id")["shard"]
    assert (grown.loc[small.index] == small).all()


def test_timestamps_parse_to_utc_and_faults_are_named():
    assert parse_acquired_at("2150-01-01 10:00:00") == pd.Timestamp("2150-01-01 10:00:00", tz="UTC")
    assert parse_acquired_at("2150-01-01T10:00:00+02:00") == pd.Timestamp("2150-01-01 08:00:00", tz="UTC")
    for bad, kind in [("", "missing timestamp"), (None, "missing timestamp"), ("not a date", "unparsable timestamp")]:
        with pytest.raises(RecordFault, match=kind):
            parse_acquired_at(bad)


def test_echo_ingest_probes_views_and_assembles_studies(tmp_path):
    root = tmp_path / "mimic-iv-echo"
    records, studies = [], []
    for s, (subject, study) in enumerate([("10000032", "90000001"), ("10000033", "90000002"), ("10000034", "90000003")]):
        studies.append({"subject_id": subject, "study_id": study, "study_datetime": f"2150-01-0{s + 1} 12:00:00"})
        for v in range(2):
            rel = f"files/p10/p{subject}/s{study}/{study}_{v + 1:04d}.dcm"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            write_echo_dicom(root / rel, smooth_frames(1 if v == 1 else 8, 32, 40), jpeg=(v == 0))
            records.append({"subject_id": subject, "study_id": study,
                            "acquisition_datetime": f"2150-01-0{s + 1} 12:0{v}:00", "dicom_filepath": rel})
    # study 90000003: both views truncated -> no readable views
    for v in range(2):
        path = root / f"files/p10/p10000034/s90000003/90000003_{v + 1:04d}.dcm"
        path.write_bytes(path.read_bytes()[:300])
    pd.DataFrame(records).to_csv(root / "echo-record-list.csv", index=False)
    pd.DataFrame(studies).to_csv(root / "echo-study-list.csv", index=False)
    reader = readers.echo_reader("mimic_iv_echo")
    manifest = shard_manifest(reader.list_echo_views(root), n_shards=1)
    views, excluded = ingest_echo_shard(manifest_rows(manifest, 0), reader, cohort="mimic", dataset="mimic_iv_echo",
                                        shard=0, log=LOG)
    assert len(views) + len(excluded) == 6 and len(excluded) == 2
    assert excluded["reason"].str.startswith("unreadable file").all()
    assert sorted(views["n_frames"]) == [1, 1, 8, 8]
    assert views["compressed"].sum() == 2
    table, study_excluded, n_read = assemble_echo_studies(views, reader.list_echo_studies(root), cohort="mimic",
                                                          dataset="mimic_iv_echo", study_list_path="echo-study-list.csv")
    assert n_read == 3 and list(table["study_id"]) == ["90000001", "90000002"]
    assert (table["n_views"] == 2).all() and (table["n_cine_views"] == 1).all()
    assert study_excluded["reason"].iloc[0].startswith("no readable views")


def test_phenotypes_keep_known_values_and_ledger_the_rest():
    raw = pd.DataFrame({"entity_id": ["s1", "s2", "s3", "s1"], "patient_id": ["p1", "p2", "p3", "p1"],
                        "lvef": [55.0, np.nan, np.nan, 40.0], "lvedv": [120.0, 100.0, np.nan, np.nan],
                        "lvesv": [54.0, 40.0, np.nan, np.nan]})
    kept, excluded = ingest_phenotypes(raw, entity="study", cohort="mimic", dataset="mimic_iv_echo", source_path="m.csv.gz")
    assert list(kept["entity_id"]) == ["s1", "s2"]
    assert kept.set_index("entity_id").loc["s2", "lvsv"] == 60.0
    reasons = dict(zip(excluded["record_id"], excluded["reason"]))
    assert reasons["s3"].startswith("missing phenotype") and reasons["s1"].startswith("duplicate id")
    assert len(kept) + len(excluded) == len(raw)
