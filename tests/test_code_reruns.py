"""A code change reruns exactly what it invalidates; identical work gives identical bytes.

Unit tests of the static import closure (echo2ecg/code_lineage.py) on a small package written
here, and of the workflow's rule-to-module map. Then one full run of the tiny preset in a copy of
the repository (so that editing a module never touches the real tree), shared by dry runs after
a changed line in a module (each change reverted before the next), a `touch` of every module, and
a forced refit whose checkpoint, metrics and audit must come out unchanged.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from echo2ecg.code_lineage import BOOKKEEPING_MODULES, CodeLineage, code_digest
from echo2ecg.run_copies import link_finished_run

REPO = Path(__file__).resolve().parents[1]


# ---- the static import closure ----------------------------------------------------------------
FILES = {
    "echo2ecg/__init__.py": "",
    "echo2ecg/a.py": "from . import b\n\ndef f():\n    from .sub import c  # lazy\n    return c\n",
    "echo2ecg/b.py": "import numpy as np\nVALUE = 1\n",
    "echo2ecg/sub/__init__.py": "from ..b import VALUE\n",
    "echo2ecg/sub/c.py": "import echo2ecg.sub.d\n",
    "echo2ecg/sub/d.py": "X = 2\n",
    "echo2ecg/unused.py": "import echo2ecg.a\n",
    "echo2ecg/provenance.py": "import echo2ecg.b\nfrom echo2ecg import recorder\n",
    "echo2ecg/recorder.py": "",  # imported by bookkeeping only
    "echo2ecg/readers/__init__.py": ("import importlib\n\ndef reader(name):\n"
                                     "    return importlib.import_module(f'echo2ecg.readers.{name}')\n"),
    "echo2ecg/readers/one.py": "",
    "echo2ecg/readers/two.py": "from echo2ecg import other\n",
    "echo2ecg/other.py": "",
    "echo2ecg/lonely.py": "",
    "scripts/_package_path.py": "import sys\n",
    "scripts/job.py": ("import _package_path  # noqa\nimport pandas\nfrom echo2ecg.a import f\n"
                       "from echo2ecg import readers\nfrom echo2ecg.provenance import write\n"),
    "scripts/other_job.py": "import _package_path  # noqa\nfrom echo2ecg.sub.d import X\n",
}


@pytest.fixture
def package(tmp_path):
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_closure_follows_every_import_form(package):
    modules = CodeLineage(package).modules(package / "scripts/job.py")
    assert set(modules) == {
        "scripts/job.py", "scripts/_package_path.py",  # the script and its sibling helper
        "echo2ecg/__init__.py", "echo2ecg/a.py",  # from echo2ecg.a import f
        "echo2ecg/b.py",  # from . import b (relative, a module)
        "echo2ecg/sub/__init__.py", "echo2ecg/sub/c.py",  # a lazy relative import of a submodule
        "echo2ecg/sub/d.py",  # import echo2ecg.sub.d, from c
        "echo2ecg/readers/__init__.py", "echo2ecg/readers/one.py", "echo2ecg/readers/two.py",  # import_module(f"...{name}")
        "echo2ecg/other.py",  # from echo2ecg import other (in a reader)
    }  # not: unused.py, lonely.py, provenance.py (bookkeeping) and what only it imports, numpy or pandas
    assert modules["echo2ecg/sub/d.py"] == hashlib.sha256(b"X = 2\n").hexdigest()
    # `from echo2ecg.sub.d import X` runs sub/__init__ (which imports b) and the packages above it
    assert set(CodeLineage(package).modules(package / "scripts/other_job.py")) == {
        "scripts/other_job.py", "scripts/_package_path.py", "echo2ecg/__init__.py", "echo2ecg/sub/__init__.py",
        "echo2ecg/sub/d.py", "echo2ecg/b.py"}


def test_identity_follows_content_not_mtime(package):
    script = package / "scripts/job.py"
    before = CodeLineage(package).identity(script)
    for path in package.rglob("*.py"):  # a touch, as after a checkout
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**10))
    assert CodeLineage(package).identity(script) == before
    (package / "echo2ecg/lonely.py").write_text("Y = 3\n")  # a module the job never imports
    (package / "echo2ecg/provenance.py").write_text("import echo2ecg.b\nZ = 1\n")  # bookkeeping
    assert CodeLineage(package).identity(script) == before
    (package / "echo2ecg/sub/d.py").write_text("X = 3\n")  # imported three levels down
    changed = CodeLineage(package).identity(script)
    assert changed != before
    assert changed == code_digest(CodeLineage(package).modules(script))


def test_a_shell_rule_calling_the_package_runs_its_modules(package):
    from types import SimpleNamespace

    lineage = CodeLineage(package)
    rule = SimpleNamespace(script=None, snakefile=str(package / "Snakefile"),
                           shellcmd="python -m echo2ecg.sub.c {input} > {output} 2> {log}")
    assert set(lineage.modules(lineage.entry_points_of_rule(rule))) == {
        "echo2ecg/__init__.py", "echo2ecg/sub/__init__.py", "echo2ecg/sub/c.py", "echo2ecg/sub/d.py", "echo2ecg/b.py"}
    assert lineage.entry_points_of_rule(SimpleNamespace(script=None, shellcmd="cp {input} {output}")) == []


# ---- the workflow's rules ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def workflow_rules(parsed_workflow_rules):
    """The workflow's rules as Snakemake parses them (tiny preset; no job runs), by name."""
    return {rule.name: rule for rule in parsed_workflow_rules}


def rules_running(module: str, rules: dict) -> set[str]:
    lineage = CodeLineage(REPO)
    return {name for name, rule in rules.items() if module in lineage.modules(lineage.entry_points_of_rule(rule))}


def test_every_rule_that_runs_code_carries_the_digest_of_its_files(workflow_rules):
    lineage = CodeLineage(REPO)
    scripted = {name: rule for name, rule in workflow_rules.items() if rule.script}
    assert len(scripted) > 30
    for name, rule in scripted.items():
        files = lineage.modules(lineage.entry_points_of_rule(rule))
        assert any(f.startswith("scripts/") for f in files) and any(f.startswith("echo2ecg/") for f in files), name
        assert not set(files) & set(BOOKKEEPING_MODULES), name
        assert rule.params.code == code_digest(files), name
    assert "code" not in workflow_rules["all"].params.keys()  # runs no code


def test_rule_to_module_map(workflow_rules):
    # the evaluation rules, which the tiny preset's DAG leaves out (evaluation.enabled: false)
    assert rules_running("echo2ecg/evaluate/knn.py", workflow_rules) == {
        "knn", "knn_summary", "report_shd_figure", "report_training_curves", "report_feature_map"}
    encoder = rules_running("echo2ecg/model/ecg_encoder.py", workflow_rules)
    assert {"fit_ecg_encoder", "pretrain", "extract_ecg_features"} <= encoder
    assert not {name for name in encoder if name.startswith(("ingest", "preprocess", "embed_echo", "fit_echo"))}
    preprocessing = rules_running("echo2ecg/preprocess_ecg.py", workflow_rules)
    assert {"preprocess_ecg", "preprocess_ecgs", "synthesize_ecg_standin_corpus"} <= preprocessing
    # the stand-in's cached corpus: its own rule and the fit that reads it, nothing of the cohorts
    assert rules_running("echo2ecg/ecg_standin_corpus.py", workflow_rules) == {
        "synthesize_ecg_standin_corpus", "fit_ecg_encoder"}
    assert not {name for name in preprocessing if "echo" in name and name != "embed_own_ecgs"}
    # the assessment of the echo embeddings is its own module: a change to it reruns that rule only, not the
    # echo stand-in's fit (held_out_readout) or the clip preparation (clip_pixel_statistics) beside it
    assert rules_running("echo2ecg/assess_echo_embeddings.py", workflow_rules) == {"assess_echo_embeddings"}
    assert rules_running("echo2ecg/held_out_readout.py", workflow_rules) == {"fit_echo_encoder", "assess_echo_embeddings"}


# ---- one tiny run, dry runs after code changes ------------------------------------------------
PRESET = ["config.yaml", "resources/presets/tiny.yaml"]
SMALL_PRESET = ["config.yaml", "resources/presets/small.yaml"]
ECHO_RULES = {"list_echo_views", "ingest_echo_shard", "ingest_echos", "prepare_echo_clips", "fit_echo_encoder",
              "embed_echo_views", "gather_view_embeddings", "assess_echo_embeddings"}
UPSTREAM_OF_FEATURES = {"synthesize_cohort", "list_ecg_records", "ingest_ecg_shard", "ingest_ecgs", "ingest_phenotypes",
                        "preprocess_ecg", "preprocess_ecgs", "pair_ecg_echo", "split_patients", "summarize_cohort",
                        "qc_ledger"} | ECHO_RULES
_JOB = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")


def _env(repo: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(repo))


def snakemake(repo: Path, *args: str, configfiles=(), preset=PRESET) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--configfile", *preset, *configfiles, "--cores", "2", *args]
    return subprocess.run(command, cwd=repo, env=_env(repo), capture_output=True, text=True, timeout=1800)


def planned(repo: Path, configfiles=(), preset=PRESET) -> dict[str, set[str]]:
    """{rule: outputs} of every job a dry run plans (the target rule `all` left out)."""
    result = snakemake(repo, "-n", configfiles=configfiles, preset=preset)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs: dict[str, set[str]] = {}
    rule = None
    for line in (result.stdout + "\n" + result.stderr).splitlines():
        match = _JOB.match(line.strip())
        if match:
            rule = match.group(1)
            jobs.setdefault(rule, set())
        elif rule and line.strip().startswith("output:"):
            jobs[rule].update(p.strip() for p in line.split(":", 1)[1].split(","))
        elif not line.strip():
            rule = None
    jobs.pop("all", None)
    return jobs


def audit_stale(repo: Path) -> set[str]:
    command = [sys.executable, "-m", "echo2ecg.cli", "audit", "results", "--json"]
    result = subprocess.run(command, cwd=repo, env=_env(repo), capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return set(json.loads(result.stdout)["stale"])


def with_records(repo: Path, outputs) -> set[str]:
    """The outputs that carry a provenance record (what the audit can judge)."""
    return {o for o in outputs if (repo / f"{o}.prov.json").is_file()}


@contextmanager
def changed_line(repo: Path, module: str):
    path = repo / module
    original, stat = path.read_bytes(), path.stat()
    path.write_bytes(original + b"\n# a changed line\n")
    try:
        yield
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def repository_with_run(run: Path, repo: Path) -> Path:
    """A copy of the repository holding a finished run of the session (echo2ecg.run_copies.link_finished_run),
    so that a changed module never touches the real tree, and jobs rerun there never touch the shared run."""
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns(".git", "results", ".snakemake", ".venv", "__pycache__",
                                                              "*.egg-info", ".pytest_cache", "report.html"))
    return link_finished_run(run, repo)


@pytest.fixture(scope="module")
def tiny_run_copy(tiny_run, tmp_path_factory):
    """The session's tiny run (tests/conftest.py) in a copy of the repository."""
    repo = repository_with_run(tiny_run, tmp_path_factory.mktemp("code_reruns") / "repo")
    assert planned(repo) == {}
    assert audit_stale(repo) == set()
    return repo


@pytest.fixture(scope="module")
def small_run_copy(small_run, tmp_path_factory):
    """The session's small run (evaluation enabled, every stage run) in a copy of the repository."""
    repo = repository_with_run(small_run, tmp_path_factory.mktemp("code_reruns_small") / "repo")
    assert planned(repo, preset=SMALL_PRESET) == {}
    return repo


@pytest.mark.workflow
def test_knn_change_plans_the_knn_jobs_their_summary_and_report_figures_only(small_run_copy):
    with changed_line(small_run_copy, "echo2ecg/evaluate/knn.py"):
        jobs = planned(small_run_copy, preset=SMALL_PRESET)
        stale = audit_stale(small_run_copy)
    # the rules whose scripts import knn.py (test_rule_to_module_map), and what reads their outputs
    assert set(jobs) == {"knn", "knn_summary", "report_shd_figure", "report_training_curves", "report_feature_map",
                         "report_tables"}
    # every kNN job (each runs knn.py), and no retrieval or pre-training output
    assert jobs["knn"] == {str(p.relative_to(small_run_copy)) for p in (small_run_copy / "results/eval/knn").rglob("*.parquet")}
    assert stale == with_records(small_run_copy, set().union(*jobs.values()))  # the audit and the DAG agree


@pytest.mark.workflow
def test_encoder_change_plans_encoder_fits_pretraining_features_and_after(tiny_run_copy):
    with changed_line(tiny_run_copy, "echo2ecg/model/ecg_encoder.py"):
        jobs = planned(tiny_run_copy)
        stale = audit_stale(tiny_run_copy)
    assert {"fit_ecg_encoder", "pretrain", "extract_ecg_features"} <= set(jobs)
    assert not set(jobs) & UPSTREAM_OF_FEATURES
    planned_outputs = with_records(tiny_run_copy, set().union(*jobs.values()))
    assert "results/models/echo2ecg/seed42/best.pt" in planned_outputs
    assert stale == planned_outputs  # the audit and the DAG agree


@pytest.mark.workflow
def test_preprocessing_change_plans_ecg_shards_and_after_but_no_echo_job(tiny_run_copy):
    with changed_line(tiny_run_copy, "echo2ecg/preprocess_ecg.py"):
        jobs = planned(tiny_run_copy)
        stale = audit_stale(tiny_run_copy)
    assert {"preprocess_ecg", "preprocess_ecgs", "pretrain", "extract_ecg_features"} <= set(jobs)
    assert not set(jobs) & (ECHO_RULES | {"ingest_ecg_shard", "synthesize_cohort", "pair_ecg_echo"})
    assert stale == with_records(tiny_run_copy, set().union(*jobs.values()))


@pytest.mark.workflow
def test_touching_every_module_plans_nothing(tiny_run_copy):
    for path in (tiny_run_copy / "echo2ecg").rglob("*.py"):
        os.utime(path)
    assert planned(tiny_run_copy) == {}
    assert audit_stale(tiny_run_copy) == set()


def _digests(repo: Path, paths) -> dict[str, str]:
    return {p: hashlib.sha256((repo / p).read_bytes()).hexdigest() for p in paths}


@pytest.mark.workflow
def test_the_same_fits_give_the_same_bytes_and_the_audit_stays_clean(tiny_run_copy):
    # (last in this file: the refits leave their dependants older than them for Snakemake's mtime check)
    echo = ["results/models/echo_encoder_standin.pt", "results/models/echo_encoder_standin.metrics.json"]
    variant = [f"results/models/echo2ecg/seed42/{name}" for name in ("best.pt", "last.pt", "curve.parquet")]
    before = _digests(tiny_run_copy, echo + variant)
    # the variant first: once the echo stand-in is refitted, the view embeddings are older than it
    shutil.rmtree(tiny_run_copy / "results/interim/pretrain/echo2ecg/seed42")  # a fresh fit, not a resume
    result = snakemake(tiny_run_copy, "--force", "results/models/echo2ecg/seed42/best.pt")
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tiny_run_copy / "results/logs/pretrain/echo2ecg/seed42.log").read_text()  # the job's own log (mode "w")
    assert "epoch 2/2" in log and "resuming" not in log
    result = snakemake(tiny_run_copy, "--forcerun", "fit_echo_encoder", "--until", "fit_echo_encoder")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fit_echo_encoder" in result.stderr + result.stdout
    assert _digests(tiny_run_copy, echo + variant) == before
    assert audit_stale(tiny_run_copy) == set()
