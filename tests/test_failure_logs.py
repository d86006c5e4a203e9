"""A rule that stops writes why into its own log file (the one Snakemake points to), not only to
stderr: the mechanism (scripts/_package_path.py -> echo2ecg.logs.log_failures_to_rule_log) that
every script goes through, checked statically, and two failures through Snakemake on the tiny
preset: an expected stop (the QC threshold of ingest_ecgs) and an unexpected one (a corrupted
shard table read by ingest_ecgs)."""
from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
from snakemake_runs import tiny_snakemake

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (REPO / "scripts").glob("*.py") if p.name != "_package_path.py")


def _imports(tree: ast.Module) -> list[str]:
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_sends_its_failure_to_the_rule_log(script):
    tree = ast.parse(script.read_text())
    imports = [name for name in _imports(tree) if name != "__future__"]
    # _package_path first of the project's imports: everything after it (echo2ecg's imports too)
    # fails into the rule's log
    first_project = next(i for i, name in enumerate(imports) if name == "_package_path" or name.startswith("echo2ecg"))
    assert imports[first_project] == "_package_path", f"{script.name} imports {imports[first_project]} before _package_path"
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "stage_logger"]
    assert calls and all(ast.unparse(call.args[1]) == "snakemake.log[0]" for call in calls), \
        f"{script.name} logs through stage_logger into the rule's log"
    # SystemExit never reaches the hook: a script stops by raising (echo2ecg.logs.ExpectedFailure)
    assert "SystemExit" not in script.read_text() and "sys.exit" not in script.read_text(), script.name


def test_every_rule_runs_a_script_and_has_a_log():
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        text = smk.read_text()
        n_rules = len(re.findall(r"^(?:rule|checkpoint) \w+:", text, re.M))
        assert text.count("\n    script:") == text.count("\n    log:") == n_rules, smk.name


def _snakemake(workdir: Path, *args: str, configfiles: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    return tiny_snakemake(workdir, *args, extra_config=configfiles, timeout=900)


@pytest.mark.workflow
def test_expected_and_unexpected_failures_land_in_the_rule_log(tmp_path):
    log = tmp_path / "results/logs/ingest_ecgs.log"
    # expected: no exclusion allowed, and the tiny cohort injects faults into its ECGs
    strict = tmp_path / "strict_qc.yaml"
    strict.write_text("qc:\n  max_excluded_fraction: 0.0\n")
    result = _snakemake(tmp_path, "results/tables/ecgs.parquet", configfiles=(strict,))
    assert result.returncode != 0
    assert "logs/ingest_ecgs.log" in result.stderr, "Snakemake points to the rule's log"
    text = log.read_text()
    assert "ERROR echo2ecg.ingest_ecgs: ingest_ecgs stopped: " in text, text
    assert "above the configured qc.max_excluded_fraction of 0.0%" in text, text
    assert "Traceback" not in text, "an expected stop is reported by its message"
    assert not (tmp_path / "results/tables/ecgs.parquet").exists()

    # unexpected: a shard's table is not parquet; the default threshold passes the QC
    shard = sorted((tmp_path / "results/interim/ingest").rglob("ecgs/*[0-9].parquet"))[0]
    shard.write_bytes(b"not a parquet file")
    result = _snakemake(tmp_path, "results/tables/ecgs.parquet")
    assert result.returncode != 0
    text = log.read_text()
    assert "ingest_ecgs failed with an unexpected error: " in text, text
    assert "Traceback (most recent call last)" in text and str(shard.name) in text, text
    assert not (tmp_path / "results/tables/ecgs.parquet").exists()
