"""Rule preprocess_ecg: the model inputs of one shard of ECGs."""
import datetime as dt

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg import readers
from echo2ecg.logs import stage_logger
from echo2ecg.preprocess_ecg import ECGPreprocessing, preprocess_ecg_shard
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("preprocess_ecg", snakemake.log[0])
kept = pd.read_parquet(snakemake.input.kept)
excluded = preprocess_ecg_shard(
    snakemake.params.records, kept["ecg_id"], readers.ecg_reader(snakemake.params.reader),
    snakemake.output.ecgs, snakemake.output.index, ECGPreprocessing.from_config(snakemake.params.preprocessing),
    cohort=snakemake.wildcards.cohort, log=log,
)
excluded.to_parquet(snakemake.output.excluded, index=False)
provenance_from_snakemake(snakemake, started_at=started, input_records=[
    {"path": str(p), "sha256": h} for p, h in zip(kept["source_path"], kept["sha256"])
], summary={"read": len(kept), "written": len(kept) - len(excluded), "excluded": len(excluded)})
