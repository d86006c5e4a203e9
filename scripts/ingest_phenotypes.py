"""Rule ingest_phenotypes: LVEF, LV volumes and SHD per study (or ECG / patient) of every cohort."""
import datetime as dt

import _package_path  # noqa: F401

from echo2ecg import readers
from echo2ecg.ingest import ingest_all_phenotypes
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("ingest_phenotypes", snakemake.log[0])
sources = snakemake.params.sources
table, excluded, reconciliation = ingest_all_phenotypes(
    sources,
    {cohort: snakemake.input[f"phenotypes_{cohort}"][0] for cohort in sources},
    {cohort: readers.reader_module(source["reader"]) for cohort, source in sources.items()},
    max_excluded_fraction=snakemake.params.max_excluded_fraction,
    log=log,
)
table.to_parquet(snakemake.output.table, index=False)
excluded.to_parquet(snakemake.output.excluded, index=False)
reconciliation.to_csv(snakemake.output.reconciliation, index=False)
provenance_from_snakemake(snakemake, started_at=started, summary=reconciliation.to_dict("records"))
