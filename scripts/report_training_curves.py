"""Rule report_training_curves: training and validation loss of every pre-trained variant."""
import datetime as dt

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake
from echo2ecg.report.figures import training_curves_figure

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("report_training_curves", snakemake.log[0])
curves = {v: pd.read_parquet(path) for v, path in zip(snakemake.params.variants, snakemake.input.curves)}
training_curves_figure(curves, snakemake.output[0], replicate=snakemake.params.replicate)
log.info("wrote %s", snakemake.output[0])
provenance_from_snakemake(snakemake, started_at=started)
