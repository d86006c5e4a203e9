"""Rule knn_summary: every kNN result in one table, and the paired bootstrap differences of each
variant's AUROC against the reference variants (same resamples)."""
import datetime as dt

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg.evaluate.knn import summarise_knn
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("knn_summary", snakemake.log[0])
results = [pd.read_parquet(p) for p in snakemake.input.results]
scores = [pd.read_parquet(p) for p in snakemake.input.scores]
knn, paired = summarise_knn(results, scores, references=list(snakemake.params.references),
                            seed=snakemake.params.seed, bootstrap=snakemake.params.bootstrap, log=log)
knn.to_parquet(snakemake.output.knn, index=False)
paired.to_parquet(snakemake.output.paired, index=False)
provenance_from_snakemake(snakemake, started_at=started, summary={"n_results": len(knn), "n_paired": len(paired)})
