import copy
from pathlib import Path

import pytest
import yaml

from echo2ecg.config import resolve_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def default_config():
    with open(REPO / "config.yaml") as handle:
        # the effective default: demo_cohorts as cohorts (see echo2ecg.config.resolve_config)
        return resolve_config(copy.deepcopy(yaml.safe_load(handle)))


@pytest.fixture(scope="session")
def parsed_workflow_rules(tmp_path_factory) -> list:
    """The workflow's rules as Snakemake parses them (tiny preset; no job runs), once per session."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, ResourceSettings

    workdir = tmp_path_factory.mktemp("parse")
    with SnakemakeApi() as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[REPO / "config.yaml", REPO / "resources/presets/tiny.yaml"]),
            snakefile=REPO / "Snakefile",
            workdir=workdir,
        )
        rules = list(workflow_api._workflow.rules)
    assert len(rules) > 5
    return rules


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """The small preset's whole DAG, from scratch with --cores 2, once per session (read only:
    tests that change files work on their own runs)."""
    import os

    from small_dag import small_snakemake

    reuse = os.environ.get("ECHO2ECG_SMALL_RUN")   # a finished small run's directory, to iterate on the tests
    if reuse:
        return Path(reuse)
    workdir = tmp_path_factory.mktemp("small_run")
    result = small_snakemake(workdir, cores=2)
    (workdir / "snakemake.stderr").write_text(result.stderr)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir
