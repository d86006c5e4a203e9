"""Rule pair_ecg_echo: ECG-study pairs of the same patient within the pairing window."""
import datetime as dt

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg.logs import stage_logger
from echo2ecg.pair_ecg_echo import pair_ecgs_with_studies
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("pair_ecg_echo", snakemake.log[0])
ecgs = pd.read_parquet(snakemake.input.ecgs)
studies = pd.read_parquet(snakemake.input.studies)
pairs = pair_ecgs_with_studies(ecgs, studies, snakemake.params.window_days)
summary = {"pairs": len(pairs), "ecgs": pairs["ecg_id"].nunique(), "studies": pairs["study_id"].nunique(),
           "patients": pairs["patient_id"].nunique()}
log.info("pairs within %.2f days: %s", snakemake.params.window_days, summary)
pairs.to_parquet(snakemake.output.pairs, index=False)
provenance_from_snakemake(snakemake, started_at=started, summary=summary)
