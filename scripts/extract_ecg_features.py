"""Rule extract_ecg_features: the representation of every ECG of every cohort by one variant (one replicate)."""
import datetime as dt

import pandas as pd
import torch

import _package_path  # noqa: F401

from echo2ecg.extract_ecg_features import cohort_features, describe, variant_context
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
w = snakemake.wildcards
log = stage_logger(f"extract_ecg_features.{w.variant}.{w.replicate}", snakemake.log[0])
torch.set_num_threads(snakemake.params.torch_threads)  # config torch_threads, not the cores granted
model, n_samples, cfg, device, meta = variant_context(snakemake.params.pretrain, w.variant, snakemake.params.variant,
                                                      snakemake.input.checkpoint)
ecg_index, ecgs_table, splits = (pd.read_parquet(snakemake.input[name]) for name in ("ecg_index", "ecgs_table", "splits"))
for cohort, path in zip(snakemake.params.cohorts, snakemake.output.features, strict=True):
    features = cohort_features(model, cohort, ecg_index, ecgs_table, splits, n_samples, cfg.batch_size, device, log)
    features.to_parquet(path, index=False)
    summary = {"cohort": cohort, "ecgs": len(features), "width": int(features.shape[1] - 2),
               "splits": {k: int(v) for k, v in features["split"].value_counts().sort_index().items()},
               "checkpoint": describe(meta)}
    provenance_from_snakemake(snakemake, started_at=started, summary=summary, outputs=[path])
