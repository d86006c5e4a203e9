"""Provenance sidecars: hashes reused from upstream records, raw record tables, seeds, host."""
from __future__ import annotations

import json
import os

import pandas as pd

from echo2ecg.provenance import (
    describe_input,
    raw_records_table,
    seeds_in,
    sha256_of_file,
    sha256_of_files,
    write_provenance,
)


def test_an_input_written_by_the_workflow_is_not_hashed_again(tmp_path):
    upstream = tmp_path / "a.npy"
    upstream.write_bytes(b"x" * 1000)
    write_provenance([upstream], rule="make_a")
    entry = describe_input(upstream)
    assert entry["sha256_from"] == "sidecar" and entry["sha256"] == sha256_of_file(upstream)
    stat = upstream.stat()
    os.utime(upstream, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))  # Snakemake's touch after the job
    assert describe_input(upstream)["sha256_from"] == "sidecar"
    upstream.write_bytes(b"y" * 1001)  # changed after its record: hashed afresh
    entry = describe_input(upstream)
    assert "sha256_from" not in entry and entry["sha256"] == sha256_of_file(upstream)
    upstream.write_bytes(b"z" * 1000)  # same size, much later: hashed afresh
    os.utime(upstream, ns=(stat.st_atime_ns, stat.st_mtime_ns + 3600 * 10**9))
    assert "sha256_from" not in describe_input(upstream)


def test_raw_records_go_to_a_table_referenced_by_hash(tmp_path):
    files = []
    for i in range(3):
        for ext in ("hea", "dat"):
            path = tmp_path / f"r{i}.{ext}"
            path.write_bytes(bytes([i]) * (10 + i))
            files.append(str(path))
    records = [{"record_id": f"r{i}", "source_files": files[2 * i:2 * i + 2]} for i in range(3)]
    hashes = {r["record_id"]: sha256_of_files(r["source_files"]) for r in records}
    out = tmp_path / "shard.parquet"
    out.write_bytes(b"result")
    write_provenance([out], rule="ingest_ecg_shard", records=raw_records_table(records, hashes),
                     params={"split": {"seed": 7}, "model": {"init_seed": 3, "lr": 0.1}})
    sidecar = json.loads((tmp_path / "shard.parquet.prov.json").read_text())
    table = pd.read_parquet(sidecar["records"]["path"])
    assert sidecar["records"]["sha256"] == sha256_of_file(sidecar["records"]["path"])
    assert (sidecar["records"]["n_records"], sidecar["records"]["n_files"]) == (3, 6)
    assert list(table["path"]) == files
    assert list(table["bytes"]) == [os.stat(f).st_size for f in files]
    assert table.loc[table["record_id"] == "r1", "sha256"].unique().tolist() == [hashes["r1"]]
    assert "r0.hea" not in json.dumps(sidecar)  # the list is not copied into the sidecar
    assert sidecar["seeds"] == {"split.seed": 7, "model.init_seed": 3}
    assert sidecar["host"]["cpu"] and sidecar["finished_at"]
    assert sidecar["output_sha256"] == sha256_of_file(out)


def test_seeds_are_found_at_any_depth():
    assert seeds_in({"seed": 1, "a": {"b": {"standin_seed": 2}, "c": [1, 2]}, "lr": 0.1}) == {
        "seed": 1, "a.b.standin_seed": 2}


def test_a_same_size_rewrite_inside_the_touch_window_is_the_documented_limit(tmp_path):
    """What provenance.py and the README state: a workflow-written file rewritten with the same
    size while its mtime stays within SNAKEMAKE_TOUCH_WINDOW_NS after its record is taken as
    unchanged (the recorded hash is reused, by the records and by the audit); one second past the
    window, or with another size, it is hashed afresh."""
    from echo2ecg.cli import Auditor, Sidecars
    from echo2ecg.provenance import SNAKEMAKE_TOUCH_WINDOW_NS

    results = tmp_path / "results"
    results.mkdir()
    upstream = results / "a.npy"
    upstream.write_bytes(b"x" * 1000)
    write_provenance([upstream], rule="make_a")
    recorded = sha256_of_file(upstream)
    sidecar_mtime = (tmp_path / "results/a.npy.prov.json").stat().st_mtime_ns
    record_mtime = json.loads((tmp_path / "results/a.npy.prov.json").read_text())["output_mtime_ns"]
    edge = max(record_mtime, sidecar_mtime) + SNAKEMAKE_TOUCH_WINDOW_NS

    upstream.write_bytes(b"y" * 1000)                          # same size, other content ...
    os.utime(upstream, ns=(edge, edge))                        # ... at the window's last nanosecond
    entry = describe_input(upstream)
    assert entry["sha256_from"] == "sidecar" and entry["sha256"] == recorded != sha256_of_file(upstream)
    assert Auditor(Sidecars(tmp_path)).reasons("results/a.npy") == []   # the audit does not see it either

    os.utime(upstream, ns=(edge + 10**9, edge + 10**9))        # one second past the window: hashed
    entry = describe_input(upstream)
    assert "sha256_from" not in entry and entry["sha256"] == sha256_of_file(upstream)
    assert "modified after the workflow wrote it" in Auditor(Sidecars(tmp_path)).reasons("results/a.npy")

    upstream.write_bytes(b"y" * 1001)                          # another size inside the window: hashed
    os.utime(upstream, ns=(record_mtime, record_mtime))
    assert "sha256_from" not in describe_input(upstream)
