"""Rule report_tables: Tables 1-5 as CSV and Markdown, and the report's summary (statements on the
data and the encoders, the paper's claims checked, every table)."""
import datetime as dt
import json
from pathlib import Path

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake
from echo2ecg.report.tables import variant_origins
from echo2ecg.report.summary import (build_tables, claim_statements, model_statements, summary_fragment,
                                     summary_page)

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("report_tables", snakemake.log[0])
p = snakemake.params
knn, paired = pd.read_parquet(snakemake.input.knn), pd.read_parquet(snakemake.input.paired)
retrieval = pd.read_parquet(snakemake.input.retrieval)
tables = build_tables(knn, paired, retrieval, pd.read_csv(snakemake.input.cohort_summary),
                      pretrain_cohorts=p.pretrain_cohorts, variants=p.variants, ablations=p.report["ablations"],
                      ablation_ordering=p.report["ablation_ordering"],
                      ablation_shd_fraction=p.report["ablation_shd_fraction"], replicates=list(p.replicates),
                      origins=variant_origins(p.variant_specs))
for table in tables:
    table.csv.to_csv(snakemake.output[f"{table.name}_csv"], index=False)
    Path(snakemake.output[f"{table.name}_md"]).write_text(table.markdown)
    log.info("\n%s", table.markdown)
statements = model_statements(p.cohorts, json.loads(Path(snakemake.input.echo_encoder).read_text()), p.echo_encoder,
                              p.ecg_encoder, p.variant_specs)
claims = claim_statements(knn, paired, retrieval, main=p.report["main_variant"], references=list(p.references),
                          internal=p.pretrain_cohorts[0] if p.pretrain_cohorts else None,
                          ablation_notes=next(t for t in tables if t.name == "table5").notes,
                          replicates=list(p.replicates))
for line in statements + claims:
    log.info("%s", line)
fragment = summary_fragment(statements, claims, tables)
Path(snakemake.output.fragment).write_text(fragment)
Path(snakemake.output.summary).write_text(summary_page(fragment))
provenance_from_snakemake(snakemake, started_at=started, summary={"statements": statements, "claims": claims})
