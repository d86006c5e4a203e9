"""Rule gather_view_embeddings: one index of every view embedding, the clip ledger, and which
echo encoder made the embeddings."""
import datetime as dt
import json

import _package_path  # noqa: F401

from echo2ecg.embed_echo_views import gather_view_embeddings
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("gather_view_embeddings", snakemake.log[0])
index, excluded, reconciliation, encoder = gather_view_embeddings(
    list(snakemake.input.index), list(snakemake.input.summaries), list(snakemake.input.excluded), snakemake.input.views,
    max_excluded_fraction=snakemake.params.max_excluded_fraction, log=log,
)
index.to_parquet(snakemake.output.index, index=False)
excluded.to_parquet(snakemake.output.excluded, index=False)
reconciliation.to_csv(snakemake.output.reconciliation, index=False)
with open(snakemake.output.encoder, "w") as handle:
    json.dump(encoder, handle, indent=2)
provenance_from_snakemake(snakemake, started_at=started, summary=dict(encoder, reconciliation=reconciliation.to_dict("records")))
