"""Stage logs: a rule's failure lands in its log file."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FAILING_STEP = """
import sys
sys.path.insert(0, {repo!r})
from echo2ecg.logs import stage_logger
log = stage_logger("some_rule", {log!r})
log.info("started")
raise ValueError("/w/otis.pth: a fine-tuned OTiS model")
"""


def test_an_uncaught_exception_is_written_to_the_rule_log(tmp_path):
    log = tmp_path / "some_rule.log"
    result = subprocess.run([sys.executable, "-c", FAILING_STEP.format(repo=str(REPO), log=str(log))],
                            capture_output=True, text=True)
    assert result.returncode != 0
    text = log.read_text()
    assert "started" in text
    assert "CRITICAL" in text and "ValueError: /w/otis.pth: a fine-tuned OTiS model" in text
    assert "Traceback" in text  # where it failed, not only what
    assert "a fine-tuned OTiS model" in result.stderr  # and still on stderr for Snakemake's own report
