"""Rule summarize_cohort: Table-1-style summary per cohort and split."""
import datetime as dt
from pathlib import Path

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake
from echo2ecg.summarize_cohort import add_mimic_demographics, summarize_cohorts, summary_markdown

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("summarize_cohort", snakemake.log[0])
tables = {name: pd.read_parquet(snakemake.input[name]) for name in ("ecgs", "studies", "views", "pairs", "splits")}
for name in snakemake.input.keys():
    if name.startswith("demographics_"):
        cohort = name.removeprefix("demographics_")
        tables["ecgs"] = add_mimic_demographics(tables["ecgs"], cohort, pd.read_csv(snakemake.input[name], dtype=str))
summary = summarize_cohorts(**tables, roles=snakemake.params.roles)
summary.to_csv(snakemake.output.csv, index=False)
Path(snakemake.output.markdown).write_text(summary_markdown(summary))
log.info("\n%s", summary.to_string(index=False))
provenance_from_snakemake(snakemake, started_at=started)
