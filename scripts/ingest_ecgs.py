"""Rule ingest_ecgs: gather the ECG shards into results/tables/ecgs.parquet and reconcile counts."""
import datetime as dt

import _package_path  # noqa: F401

from echo2ecg.ingest import count_listed_records, ecg_frame, merge_ingested_shards
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("ingest_ecgs", snakemake.log[0])
table, excluded, reconciliation = merge_ingested_shards(
    "ingest_ecgs", list(snakemake.input.index), list(snakemake.input.excluded),
    count_listed_records(snakemake.params.listings, "ecg"),
    empty=ecg_frame([]), id_column="ecg_id", max_excluded_fraction=snakemake.params.max_excluded_fraction, log=log,
)
table.to_parquet(snakemake.output.table, index=False)
excluded.to_parquet(snakemake.output.excluded, index=False)
reconciliation.to_csv(snakemake.output.reconciliation, index=False)
provenance_from_snakemake(snakemake, started_at=started, summary=reconciliation.to_dict("records"))
