"""Rule preprocess_ecg: the model inputs of one shard of ECGs."""
import datetime as dt

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg import readers
from echo2ecg.list_records import read_shard_records
from echo2ecg.logs import stage_logger
from echo2ecg.preprocess_ecg import ECGPreprocessing, preprocess_ecg_shard
from echo2ecg.provenance import provenance_from_snakemake, raw_records_table

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("preprocess_ecg", snakemake.log[0])
kept = pd.read_parquet(snakemake.input.kept)
records = read_shard_records(snakemake.input.manifest)
reader = readers.ecg_reader(snakemake.params.reader)
excluded = preprocess_ecg_shard(
    records, kept["ecg_id"], reader,
    snakemake.output.ecgs, snakemake.output.index, ECGPreprocessing.from_config(snakemake.params.preprocessing),
    cohort=snakemake.wildcards.cohort, log=log,
)
excluded.to_parquet(snakemake.output.excluded, index=False)
kept_ids = set(kept["ecg_id"])
read = [r for r in records if str(r["record_id"]) in kept_ids]
hashes = {} if getattr(reader, "RECORDS_SHARE_FILES", False) else dict(zip(kept["ecg_id"], kept["sha256"]))
provenance_from_snakemake(snakemake, started_at=started, records=raw_records_table(read, hashes),
                          summary={"read": len(kept), "written": len(kept) - len(excluded), "excluded": len(excluded)})
