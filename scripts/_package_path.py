"""Make the repository's echo2ecg package importable from a rule's script in any environment
(the project's virtual environment installs it; a rule's conda environment does not), and send
the exception that ends the script, if any, to the rule's log (echo2ecg.logs). Every script in
scripts/ imports this module first (tests/test_failure_logs.py checks it)."""
import pathlib
import sys

import __main__

_REPO = str(pathlib.Path(__file__).resolve().parents[1])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from echo2ecg.logs import log_failures_to_rule_log  # noqa: E402

if getattr(__main__, "snakemake", None) is not None:  # run by Snakemake's script: directive
    log_failures_to_rule_log(list(__main__.snakemake.log), __main__.snakemake.rule)
