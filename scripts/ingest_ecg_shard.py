"""Rule ingest_ecg_shard: open each ECG of one shard; keep it in the index or ledger it."""
import datetime as dt

import _package_path  # noqa: F401

from echo2ecg import readers
from echo2ecg.ingest import ingest_ecg_shard
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("ingest_ecg_shard", snakemake.log[0])
kept, excluded = ingest_ecg_shard(
    snakemake.params.records,
    readers.ecg_reader(snakemake.params.reader),
    cohort=snakemake.wildcards.cohort,
    dataset=snakemake.params.reader,
    shard=int(snakemake.wildcards.shard),
    min_duration_s=snakemake.params.min_duration_s,
    log=log,
)
kept.to_parquet(snakemake.output.index, index=False)
excluded.to_parquet(snakemake.output.excluded, index=False)
# raw records are identified by the content hashes in the index itself
provenance_from_snakemake(snakemake, started_at=started, input_records=[
    {"path": str(p), "sha256": h} for p, h in zip(kept["source_path"], kept["sha256"])
], summary={"read": len(snakemake.params.records), "kept": len(kept), "excluded": len(excluded)})
