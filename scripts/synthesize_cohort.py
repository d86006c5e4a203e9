"""Rule synthesize_cohort: write the synthetic demo cohort in the real on-disk layouts."""
import datetime as dt
import json
from pathlib import Path

import _package_path  # noqa: F401

from echo2ecg.logs import stage_logger
from echo2ecg.provenance import write_provenance
from echo2ecg.synthesize_cohort import synthesize_cohort

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("synthesize_cohort", snakemake.log[0])
out_root = Path(snakemake.output[0])
summary = synthesize_cohort(out_root, dict(snakemake.params.synthetic), log, n_workers=snakemake.threads)
summary_path = out_root / "truth" / "summary.json"
summary_path.write_text(json.dumps(summary, indent=2, default=str))
write_provenance([summary_path], rule=snakemake.rule, params=dict(snakemake.params.items()),
                 started_at=started, summary=summary)
