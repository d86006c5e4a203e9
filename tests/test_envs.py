"""Every rule has a conda environment in envs/, and its pins are those of requirements.txt."""
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _requirement_pins() -> dict:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


@pytest.mark.parametrize("env_file", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_pins_match_requirements(env_file):
    env = yaml.safe_load(env_file.read_text())
    assert env["channels"][0] == "conda-forge"
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pins = _requirement_pins()
    assert pip_section, env_file
    for requirement in pip_section:
        name, version = requirement.split("==")
        assert pins[name.lower()] == version, f"{env_file.name}: {requirement} differs from requirements.txt"


def test_every_rule_names_an_existing_env():
    referenced = set()
    for rules in (REPO / "workflow/rules").glob("*.smk"):
        text = rules.read_text()
        n_rules = len(re.findall(r"^(?:rule|checkpoint) \w+:", text, re.M))
        envs = re.findall(r'conda:\n\s+f"\{ENVS\}/(\w+\.yaml)"', text)
        assert len(envs) == n_rules, f"{rules.name}: {n_rules} rules but {len(envs)} conda: directives"
        referenced.update(envs)
    assert referenced <= {p.name for p in (REPO / "envs").glob("*.yaml")}
