"""Rule report_shd_figure: Figure 2 analogue, SHD kNN AUROC against the training fraction."""
import datetime as dt

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake
from echo2ecg.report.figures import shd_scaling_figure

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("report_shd_figure", snakemake.log[0])
shd_scaling_figure(pd.read_parquet(snakemake.input.knn), snakemake.output[0], cohort=snakemake.wildcards.cohort,
                   synthetic=snakemake.params.synthetic, replicate=snakemake.params.replicate)
log.info("wrote %s", snakemake.output[0])
provenance_from_snakemake(snakemake, started_at=started)
