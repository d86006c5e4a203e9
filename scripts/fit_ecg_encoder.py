"""Rule fit_ecg_encoder: the synthetic stand-in for OTiS (used only when no OTiS checkpoint is
configured), fitted (ecg_encoder.standin.objective) on its own cached synthetic ECG corpus."""
import datetime as dt
import json

import torch

import _package_path  # noqa: F401

from echo2ecg.ecg_standin_corpus import StandinCorpus
from echo2ecg.fit_ecg_encoder import fit_ecg_encoder
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("fit_ecg_encoder", snakemake.log[0])
torch.set_num_threads(snakemake.params.torch_threads)  # config torch_threads, not the cores granted
corpus = StandinCorpus.load(snakemake.input.ecgs, snakemake.input.hearts)
checkpoint, metrics = fit_ecg_encoder(snakemake.params.encoder, snakemake.params.standin, corpus, log)
torch.save(checkpoint, snakemake.output.checkpoint)
with open(snakemake.output.metrics, "w") as handle:
    json.dump(metrics, handle, indent=2, default=float)
provenance_from_snakemake(snakemake, started_at=started, summary=metrics)
