"""Rule extract_aligned_embeddings: aligned 512-d ECG and echo-study embeddings of a pre-training cohort."""
import datetime as dt

import pandas as pd
import torch

import _package_path  # noqa: F401

from echo2ecg.extract_ecg_features import aligned_embeddings, describe, variant_context
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("extract_aligned_embeddings", snakemake.log[0])
torch.set_num_threads(snakemake.params.torch_threads)  # config torch_threads, not the cores granted
model, n_samples, cfg, device, meta = variant_context(snakemake.params.pretrain, snakemake.wildcards.variant,
                                                      snakemake.params.variant, snakemake.input.checkpoint)
aligned = aligned_embeddings(model, snakemake.wildcards.cohort, pd.read_parquet(snakemake.input.ecg_index),
                             pd.read_parquet(snakemake.input.ecgs_table), pd.read_parquet(snakemake.input.studies),
                             pd.read_parquet(snakemake.input.view_index), pd.read_parquet(snakemake.input.splits),
                             n_samples, cfg.max_views, snakemake.params.variant["aggregation"] == "single",
                             cfg.batch_size, device, log)
aligned.to_parquet(snakemake.output.aligned, index=False)
summary = {"rows": {k: int(v) for k, v in aligned["kind"].value_counts().sort_index().items()},
           "checkpoint": describe(meta)}
provenance_from_snakemake(snakemake, started_at=started, summary=summary)
