"""Rule split_patients: patient-level train / val / test split."""
import datetime as dt

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake
from echo2ecg.split_patients import split_patients

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("split_patients", snakemake.log[0])
splits = split_patients(
    pd.read_parquet(snakemake.input.ecgs),
    pd.read_parquet(snakemake.input.studies),
    snakemake.params.split_sources,
    snakemake.params.fractions,
    snakemake.params.seed,
    log=log,
)
counts = splits.groupby(["cohort", "split"]).size().to_dict()
log.info("patients per cohort and split: %s", counts)
splits.to_parquet(snakemake.output.splits, index=False)
provenance_from_snakemake(snakemake, started_at=started, summary={f"{c}/{s}": n for (c, s), n in counts.items()})
