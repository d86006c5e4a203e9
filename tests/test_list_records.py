"""Per-shard manifests and digests (rules list_ecg_records, list_echo_views)."""
from __future__ import annotations

import os

import pandas as pd
from format_writers import distinct_leads, write_wfdb

from echo2ecg.ingest import manifest_rows
from echo2ecg.list_records import (
    list_records,
    listing_digest,
    read_shard_records,
    shard_file_digests,
    write_shard_manifests,
)

N_SHARDS = 4


def _mimic(root, n=12):
    rows = []
    for i in range(n):
        study = str(40000000 + i)
        relative = f"files/p1000/p100000{i:02d}/s{study}/{study}"
        write_wfdb(root / relative, distinct_leads(500, 500, seed=i), 500)
        rows.append({"subject_id": f"100000{i:02d}", "study_id": study, "file_name": study,
                     "ecg_time": "2180-07-23 14:00:00", "path": relative})
    pd.DataFrame(rows).to_csv(root / "record_list.csv", index=False)
    return list_records("mimic_iv_ecg", "ecg", root, N_SHARDS)


def test_a_changed_file_changes_only_its_shards_digest(tmp_path):
    manifest = _mimic(tmp_path)
    before = shard_file_digests(manifest, N_SHARDS)
    assert len(set(before.values())) == N_SHARDS
    row = manifest.iloc[3]
    dat = row["source_files"][1]
    stat = os.stat(dat)
    with open(dat, "r+b") as handle:
        handle.seek(10)
        handle.write(b"\x01")
    os.utime(dat, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = shard_file_digests(manifest, N_SHARDS)
    assert {s for s in before if before[s] != after[s]} == {int(row["shard"])}
    os.utime(dat, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size and mtime back: same digest
    assert shard_file_digests(manifest, N_SHARDS) == before
    os.remove(dat)  # a missing file changes its shard's digest too
    assert shard_file_digests(manifest, N_SHARDS)[int(row["shard"])] != before[int(row["shard"])]


def test_shard_manifests_round_trip_and_are_byte_stable(tmp_path):
    manifest = _mimic(tmp_path / "data")
    paths = {s: str(tmp_path / f"{s}.parquet") for s in range(N_SHARDS)}
    counts = write_shard_manifests(manifest, paths)
    assert sum(counts.values()) == len(manifest)
    for shard, path in paths.items():
        assert read_shard_records(path) == manifest_rows(manifest, shard)
    first = {s: open(p, "rb").read() for s, p in paths.items()}
    write_shard_manifests(manifest, paths)
    assert {s: open(p, "rb").read() for s, p in paths.items()} == first


def test_listing_digest_follows_what_is_listed(tmp_path):
    manifest = _mimic(tmp_path)
    assert listing_digest(manifest) == listing_digest(manifest.copy())
    assert listing_digest(manifest.iloc[:-1]) != listing_digest(manifest)
