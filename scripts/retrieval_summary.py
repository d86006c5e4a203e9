"""Rule retrieval_summary: every retrieval result in one table (results/eval/retrieval.parquet)."""
import datetime as dt

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("retrieval_summary", snakemake.log[0])
table = pd.concat([pd.read_parquet(p) for p in snakemake.input], ignore_index=True)
table.to_parquet(snakemake.output[0], index=False)
log.info("%d retrieval results", len(table))
provenance_from_snakemake(snakemake, started_at=started, summary={"n_results": len(table)})
