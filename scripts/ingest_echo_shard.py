"""Rule ingest_echo_shard: probe each echo view (header only) of one shard."""
import datetime as dt

import _package_path  # noqa: F401

from echo2ecg import readers
from echo2ecg.ingest import ingest_echo_shard
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("ingest_echo_shard", snakemake.log[0])
kept, excluded = ingest_echo_shard(
    snakemake.params.records,
    readers.echo_reader(snakemake.params.reader),
    cohort=snakemake.wildcards.cohort,
    dataset=snakemake.params.reader,
    shard=int(snakemake.wildcards.shard),
    log=log,
)
kept.to_parquet(snakemake.output.index, index=False)
excluded.to_parquet(snakemake.output.excluded, index=False)
provenance_from_snakemake(snakemake, started_at=started, input_records=[
    {"path": str(p), "sha256": h} for p, h in zip(kept["source_path"], kept["sha256"])
], summary={"read": len(snakemake.params.records), "kept": len(kept), "excluded": len(excluded)})
