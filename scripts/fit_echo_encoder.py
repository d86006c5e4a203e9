"""Rule fit_echo_encoder: train the synthetic stand-in for EchoPrime's echo encoder (used only when
no EchoPrime checkpoint is configured) on its own synthetic echo corpus, then freeze it."""
import datetime as dt
import json

import torch

import _package_path  # noqa: F401

from echo2ecg.fit_echo_encoder import fit_echo_encoder
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("fit_echo_encoder", snakemake.log[0])
torch.set_num_threads(snakemake.params.torch_threads)  # config torch_threads, not the cores granted
log.info("no EchoPrime weights configured: training the synthetic stand-in echo encoder")
cfg = dict(snakemake.params.standin, preset=snakemake.params.preset, clip_size=snakemake.params.clip_size,
           resize=snakemake.params.resize)
metrics = fit_echo_encoder(cfg, snakemake.output.checkpoint, log)
with open(snakemake.output.metrics, "w") as handle:
    json.dump(metrics, handle, indent=2, default=float)
provenance_from_snakemake(snakemake, started_at=started, summary=metrics)
