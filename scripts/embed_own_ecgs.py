"""Rule embed_own_ecgs: features of a directory of your own WFDB or DICOM ECGs by a trained variant."""
import datetime as dt

import torch

import _package_path  # noqa: F401

from echo2ecg.embed_own_ecgs import embed_own_ecgs
from echo2ecg.extract_ecg_features import describe, variant_context
from echo2ecg.logs import ExpectedFailure, stage_logger
from echo2ecg.preprocess_ecg import ECGPreprocessing
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("embed_own_ecgs", snakemake.log[0])
torch.set_num_threads(snakemake.params.torch_threads)  # config torch_threads, not the cores granted
if not snakemake.params.root:
    raise ExpectedFailure("embed_own_ecgs.root is not set: name a directory of WFDB or DICOM ECGs (see README)")
model, n_samples, cfg, device, meta = variant_context(snakemake.params.pretrain, snakemake.params.variant,
                                                      snakemake.params.variant_spec, snakemake.input.checkpoint)
features, excluded = embed_own_ecgs(snakemake.params.root, snakemake.params.format, model, n_samples,
                                    ECGPreprocessing.from_config(snakemake.params.preprocessing),
                                    snakemake.output.ecgs, snakemake.output.index, device, cfg.batch_size, log)
features.to_parquet(snakemake.output.features, index=False)
excluded.to_parquet(snakemake.output.excluded, index=False)
summary = {"embedded": len(features), "excluded": len(excluded), "checkpoint": describe(meta)}
provenance_from_snakemake(snakemake, started_at=started, summary=summary)
