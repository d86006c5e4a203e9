"""Rule retrieval: phenotype-aware ECG-to-echo retrieval with one variant's aligned embeddings."""
import datetime as dt

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg.evaluate.retrieval import RetrievalConfig, evaluate_retrieval
from echo2ecg.logs import stage_logger
from echo2ecg.replicates import replicate_seed, with_replicate
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
w = snakemake.wildcards
log = stage_logger(f"retrieval.{w.variant}.{w.replicate}.{w.cohort}", snakemake.log[0])
result = evaluate_retrieval(pd.read_parquet(snakemake.input.aligned), pd.read_parquet(snakemake.input.pairs),
                            pd.read_parquet(snakemake.input.phenotypes), variant=w.variant, cohort=w.cohort,
                            cfg=RetrievalConfig.from_dict(snakemake.params.retrieval), seed=snakemake.params.seed,
                            n_bootstrap=snakemake.params.bootstrap["n_resamples"], ci=snakemake.params.bootstrap["ci"],
                            log=log)
result = with_replicate(result, replicate_seed(w.replicate))
result.to_parquet(snakemake.output[0], index=False)
provenance_from_snakemake(snakemake, started_at=started, summary={"results": result.to_dict("records")})
