"""Rule extract_ecg_features: one variant's (one replicate's) representation of every ECG of every cohort, and
the aligned ECG and echo-study embeddings of the pre-training cohorts."""
import datetime as dt

import pandas as pd
import torch

import _package_path  # noqa: F401

from echo2ecg.extract_ecg_features import aligned_embeddings, describe, encode_cohort_ecgs, variant_context
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
w, params = snakemake.wildcards, snakemake.params
log = stage_logger(f"extract_ecg_features.{w.variant}.{w.replicate}", snakemake.log[0])
torch.set_num_threads(params.torch_threads)  # config torch_threads, not the cores granted
model, n_samples, cfg, device, meta = variant_context(params.pretrain, w.variant, params.variant,
                                                      snakemake.input.checkpoint)
tables = {name: pd.read_parquet(snakemake.input[name])
          for name in ("ecg_index", "ecgs_table", "studies", "splits", "view_index")}
aligned_paths = dict(zip(params.pretrain_cohorts, snakemake.output.aligned, strict=True))
for cohort, path in zip(params.cohorts, snakemake.output.features, strict=True):
    encoded = encode_cohort_ecgs(model, cohort, tables["ecg_index"], tables["ecgs_table"], tables["splits"], n_samples,
                                 cfg.batch_size, device, log, aligned=cohort in aligned_paths)
    features = encoded.feature_frame()
    features.to_parquet(path, index=False)
    provenance_from_snakemake(snakemake, started_at=started, outputs=[path], summary={
        "cohort": cohort, "ecgs": len(features), "width": int(features.shape[1] - 2),
        "splits": {k: int(v) for k, v in features["split"].value_counts().sort_index().items()},
        "checkpoint": describe(meta)})
    if cohort in aligned_paths:
        aligned = aligned_embeddings(model, cohort, tables["ecg_index"], tables["ecgs_table"], tables["studies"],
                                     tables["view_index"], tables["splits"], n_samples, cfg.max_views,
                                     params.variant["aggregation"] == "single", cfg.batch_size, device, log,
                                     encoded=encoded)
        aligned.to_parquet(aligned_paths[cohort], index=False)
        provenance_from_snakemake(snakemake, started_at=started, outputs=[aligned_paths[cohort]], summary={
            "cohort": cohort, "rows": {k: int(v) for k, v in aligned["kind"].value_counts().sort_index().items()},
            "checkpoint": describe(meta)})
