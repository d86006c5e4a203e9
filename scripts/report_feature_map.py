"""Rule report_feature_map: 2-D PCA of the internal test ECGs' features, coloured by LVEF."""
import datetime as dt

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake
from echo2ecg.report.figures import feature_map_figure, test_feature_maps

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("report_feature_map", snakemake.log[0])
tables = {name: pd.read_parquet(snakemake.input[name]) for name in ("ecgs", "pairs", "phenotypes", "splits")}
features = {v: pd.read_parquet(path) for v, path in zip(snakemake.params.variants, snakemake.input.features)}
maps = test_feature_maps(features, tables, cohort=snakemake.params.cohort)
feature_map_figure(maps, snakemake.output[0], cohort=snakemake.params.cohort, synthetic=snakemake.params.synthetic,
                   replicate=snakemake.params.replicate)
log.info("wrote %s (%s)", snakemake.output[0], {v: len(m[1]) for v, m in maps.items()})
provenance_from_snakemake(snakemake, started_at=started)
