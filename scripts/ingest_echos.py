"""Rule ingest_echos: gather the echo view shards, assemble studies, reconcile counts."""
import datetime as dt

import _package_path  # noqa: F401

from echo2ecg import readers
from echo2ecg.ingest import assemble_all_echo_studies, count_listed_records, merge_ingested_shards, view_frame
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("ingest_echos", snakemake.log[0])
views, excluded_views, reconciliation = merge_ingested_shards(
    "ingest_echos", list(snakemake.input.index), list(snakemake.input.excluded),
    count_listed_records({c: {"reader": r, "root": snakemake.params.roots[c]} for c, r in snakemake.params.readers.items()}, "echo"),
    empty=view_frame([]), id_column="view_id", max_excluded_fraction=snakemake.params.max_excluded_fraction, log=log,
)
roots = snakemake.params.roots
studies, excluded, reconciliation = assemble_all_echo_studies(
    views, excluded_views, reconciliation, roots,
    {cohort: readers.echo_reader(name) for cohort, name in snakemake.params.readers.items()},
    max_excluded_fraction=snakemake.params.max_excluded_fraction, log=log,
)
views.to_parquet(snakemake.output.views, index=False)
studies.to_parquet(snakemake.output.studies, index=False)
excluded.to_parquet(snakemake.output.excluded, index=False)
reconciliation.to_csv(snakemake.output.reconciliation, index=False)
provenance_from_snakemake(snakemake, started_at=started, summary=reconciliation.to_dict("records"))
