"""Rule pretrain: contrastive pre-training of one variant (or its initial encoder, for variants
that are not aligned); resumes from the newest epoch checkpoint of a killed run."""
import datetime as dt

import _package_path  # noqa: F401

from echo2ecg.logs import stage_logger
from echo2ecg.pretrain import run_pretrain_variant
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
variant = snakemake.wildcards.variant
log = stage_logger("pretrain", snakemake.log[0])
foundation = snakemake.input.foundation if snakemake.input.get("foundation") else None
summary = run_pretrain_variant(
    snakemake.params.pretrain, snakemake.params.ecg_encoder, variant, snakemake.params.variant,
    snakemake.params.cohorts, pairs_path=snakemake.input.pairs, splits_path=snakemake.input.splits,
    ecg_index_path=snakemake.input.ecg_index, view_index_path=snakemake.input.view_index, foundation=foundation,
    out_dir=str(snakemake.output.best).rsplit("/", 1)[0], state_dir=snakemake.params.state_dir, log=log,
    threads=snakemake.params.pretrain["threads"])  # pretrain.threads, not the cores granted
provenance_from_snakemake(snakemake, started_at=started, summary=summary)
