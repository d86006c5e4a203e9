"""Rule preprocess_ecgs: one index of every preprocessed ECG (cohort, shard, row, ecg_id), and its ledger."""
import datetime as dt

import _package_path  # noqa: F401

from echo2ecg.logs import stage_logger
from echo2ecg.preprocess_ecg import merge_preprocessed_shards
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("preprocess_ecgs", snakemake.log[0])
index, excluded, reconciliation = merge_preprocessed_shards(
    list(snakemake.input.index), list(snakemake.input.excluded), list(snakemake.input.kept),
    max_excluded_fraction=snakemake.params.max_excluded_fraction, log=log,
)
index.to_parquet(snakemake.output.index, index=False)
excluded.to_parquet(snakemake.output.excluded, index=False)
reconciliation.to_csv(snakemake.output.reconciliation, index=False)
provenance_from_snakemake(snakemake, started_at=started, summary=reconciliation.to_dict("records"))
