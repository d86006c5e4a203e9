"""Rule ingest_echo_shard: probe each echo view (header only) of one shard."""
import datetime as dt

import _package_path  # noqa: F401

from echo2ecg import readers
from echo2ecg.ingest import ingest_echo_shard
from echo2ecg.list_records import read_shard_records
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake, raw_records_table

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("ingest_echo_shard", snakemake.log[0])
records = read_shard_records(snakemake.input.manifest)
kept, excluded = ingest_echo_shard(
    records,
    readers.echo_reader(snakemake.params.reader),
    cohort=snakemake.wildcards.cohort,
    dataset=snakemake.params.reader,
    shard=int(snakemake.wildcards.shard),
    log=log,
)
kept.to_parquet(snakemake.output.index, index=False)
excluded.to_parquet(snakemake.output.excluded, index=False)
# the raw files read, in a table beside the sidecar (one file per view: its hash is the view's)
provenance_from_snakemake(snakemake, started_at=started,
                          records=raw_records_table(records, dict(zip(kept["view_id"], kept["sha256"]))),
                          summary={"read": len(records), "kept": len(kept), "excluded": len(excluded)})
