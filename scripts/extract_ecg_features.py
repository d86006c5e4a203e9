"""Rule extract_ecg_features: the representation of every ECG of one cohort by one variant."""
import datetime as dt

import pandas as pd
import torch

import _package_path  # noqa: F401

from echo2ecg.extract_ecg_features import cohort_features, describe, variant_context
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("extract_ecg_features", snakemake.log[0])
torch.set_num_threads(snakemake.params.torch_threads)  # config torch_threads, not the cores granted
model, n_samples, cfg, device, meta = variant_context(snakemake.params.pretrain, snakemake.wildcards.variant,
                                                      snakemake.params.variant, snakemake.input.checkpoint)
features = cohort_features(model, snakemake.wildcards.cohort, pd.read_parquet(snakemake.input.ecg_index),
                           pd.read_parquet(snakemake.input.ecgs_table), pd.read_parquet(snakemake.input.splits),
                           n_samples, cfg.batch_size, device, log)
features.to_parquet(snakemake.output.features, index=False)
summary = {"ecgs": len(features), "width": int(features.shape[1] - 2),
           "splits": {k: int(v) for k, v in features["split"].value_counts().sort_index().items()},
           "checkpoint": describe(meta)}
provenance_from_snakemake(snakemake, started_at=started, summary=summary)
