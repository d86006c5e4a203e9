"""Snakemake conventions: the rule files are snakefmt-formatted, `snakemake --lint` finds nothing,
and every report() item sits in one of the paper's sections (category and subcategory)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

from echo2ecg.evaluate.settings import REPORT_CATEGORIES, REPORT_TABLE_SECTIONS, REPORT_TABLES

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name):
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name)


def test_rule_files_are_snakefmt_formatted():
    result = subprocess.run([_tool("snakefmt"), "--check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakemake_lint_is_clean(tmp_path):
    result = subprocess.run([_tool("snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--lint"],
                            capture_output=True, text=True, cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out


def _report_calls(text):
    """The argument text of every report(...) call in a rule file (balanced parentheses)."""
    calls = []
    for match in re.finditer(r"\breport\(", text):
        depth, i = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        calls.append(text[match.end():i - 1])
    return calls


def test_every_report_item_names_a_section_of_the_paper_and_a_subcategory():
    calls = [(path.name, call) for path in sorted((REPO / "workflow" / "rules").glob("*.smk"))
             for call in _report_calls(path.read_text())]
    assert len(calls) >= 7, calls  # tables, summary, figure 2, curves, feature map, echo, cohort, QC
    for name, call in calls:
        assert "subcategory=" in call, (name, call)
        category = re.search(r"\bcategory=([^,\n]+)", call).group(1).strip()
        if category.startswith('"'):
            assert category.strip('"') in REPORT_CATEGORIES, (name, category)
        else:  # the tables take theirs from REPORT_TABLE_SECTIONS
            assert category.startswith("REPORT_TABLE_SECTIONS"), (name, category)
    assert set(REPORT_TABLE_SECTIONS) == set(REPORT_TABLES)
    assert {c for c, _ in REPORT_TABLE_SECTIONS.values()} <= set(REPORT_CATEGORIES)
