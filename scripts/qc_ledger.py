"""Rule qc_ledger: one ledger of every excluded record, counts per reason, read = kept + excluded."""
import datetime as dt

import _package_path  # noqa: F401

from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake
from echo2ecg.qc import combine_ledgers

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("qc_ledger", snakemake.log[0])
excluded, reconciliation, reasons = combine_ledgers(list(snakemake.input.excluded), list(snakemake.input.reconciliation))
excluded.to_parquet(snakemake.output.excluded, index=False)
reconciliation.to_csv(snakemake.output.reconciliation, index=False)
reasons.to_csv(snakemake.output.reasons, index=False)
log.info("excluded records by stage and reason:\n%s", reasons.to_string(index=False))
provenance_from_snakemake(snakemake, started_at=started, summary=reasons.to_dict("records"))
