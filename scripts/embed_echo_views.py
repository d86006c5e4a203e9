"""Rule embed_echo_views: 512-d embeddings of one shard of clips by the frozen echo encoder."""
import datetime as dt
import json

import torch

import _package_path  # noqa: F401

from echo2ecg.embed_echo_views import embed_clip_shard, load_frozen_echo_encoder, select_device
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("embed_echo_views", snakemake.log[0])
torch.set_num_threads(snakemake.params.torch_threads)  # config torch_threads, not the cores granted
cfg = snakemake.params.encoder
model, description = load_frozen_echo_encoder(cfg, standin_checkpoint=snakemake.input.encoder)
log.info("echo encoder: %s", description)
summary = embed_clip_shard(snakemake.input.clips, snakemake.input.index, model, snakemake.output.embeddings,
                           snakemake.output.index, batch_size=cfg["batch_size"], device=select_device(cfg["device"]),
                           log=log)
summary = dict(summary, echo_encoder=description)
with open(snakemake.output.summary, "w") as handle:
    json.dump(summary, handle, indent=2)
provenance_from_snakemake(snakemake, started_at=started, summary=summary)
