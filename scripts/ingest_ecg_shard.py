"""Rule ingest_ecg_shard: open each ECG of one shard; keep it in the index or ledger it."""
import datetime as dt

import _package_path  # noqa: F401

from echo2ecg import readers
from echo2ecg.ingest import ingest_ecg_shard
from echo2ecg.list_records import read_shard_records
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake, raw_records_table

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("ingest_ecg_shard", snakemake.log[0])
records = read_shard_records(snakemake.input.manifest)
reader = readers.ecg_reader(snakemake.params.reader)
kept, excluded = ingest_ecg_shard(
    records,
    reader,
    cohort=snakemake.wildcards.cohort,
    dataset=snakemake.params.reader,
    shard=int(snakemake.wildcards.shard),
    min_duration_s=snakemake.params.min_duration_s,
    log=log,
)
kept.to_parquet(snakemake.output.index, index=False)
excluded.to_parquet(snakemake.output.excluded, index=False)
# the raw files read, in a table beside the sidecar (with the records' hashes where taken over files)
hashes = {} if getattr(reader, "RECORDS_SHARE_FILES", False) else dict(zip(kept["ecg_id"], kept["sha256"]))
provenance_from_snakemake(snakemake, started_at=started, records=raw_records_table(records, hashes),
                          summary={"read": len(records), "kept": len(kept), "excluded": len(excluded)})
