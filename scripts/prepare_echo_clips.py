"""Rule prepare_echo_clips: the uint8 clips of one shard of echo views."""
import datetime as dt

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg import readers
from echo2ecg.list_records import read_shard_records
from echo2ecg.logs import stage_logger
from echo2ecg.prepare_echo_clips import EchoClipPreparation, prepare_clip_shard
from echo2ecg.provenance import provenance_from_snakemake, raw_records_table

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("prepare_echo_clips", snakemake.log[0])
views = pd.read_parquet(snakemake.input.views)
excluded = prepare_clip_shard(
    views, readers.echo_reader(snakemake.params.reader), snakemake.output.clips, snakemake.output.index,
    EchoClipPreparation.from_config(snakemake.params.clips), cohort=snakemake.wildcards.cohort,
    stats_path=snakemake.output.stats, log=log,
)
excluded.to_parquet(snakemake.output.excluded, index=False)
read = [r for r in read_shard_records(snakemake.input.manifest) if str(r["record_id"]) in set(views["view_id"])]
provenance_from_snakemake(snakemake, started_at=started,
                          records=raw_records_table(read, dict(zip(views["view_id"], views["sha256"]))),
                          summary={"read": len(views), "excluded": len(excluded)})
