"""Per-rule conda environments, checked statically (no conda channel is needed).

Every rule that runs code declares log:, benchmark: and conda: with a file in envs/; each env
file parses and pins exactly the versions of requirements.txt; and it lists every third-party
distribution its rules' scripts import, directly or through the echo2ecg modules they import
(followed transitively with ast, including lazy imports in functions and the reader modules
that echo2ecg.readers loads by name). The rules come from Snakemake's own parse of the workflow,
so rules added later are covered without changing this file.
"""
from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "echo2ecg"
# Import names whose distribution is named differently, for when the distribution is not installed
# here (importlib.metadata answers for the installed ones).
DISTRIBUTION_OF_IMPORT = {"yaml": "pyyaml", "sklearn": "scikit-learn", "PIL": "pillow", "av": "av", "cv2": "opencv-python-headless",
                          "skimage": "scikit-image"}
# Distributions a module needs without importing them: pandas' parquet engine.
PARQUET_CALLS = {"read_parquet", "to_parquet"}
LOCAL_MODULES = {"_package_path"}  # scripts/_package_path.py


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_pins() -> dict:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
        if match:
            pins[_normalise(match.group(1))] = match.group(2)
    return pins


def _env_pip_pins(env_file: Path) -> dict:
    env = yaml.safe_load(env_file.read_text())
    assert isinstance(env, dict) and isinstance(env.get("dependencies"), list), f"{env_file.name}: no dependencies list"
    assert env.get("channels") and env["channels"][0] == "conda-forge", env_file.name
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1 and pip_sections[0], f"{env_file.name}: one non-empty pip: section"
    pins = {}
    for requirement in pip_sections[0]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", requirement)
        assert match, f"{env_file.name}: {requirement!r} is not pinned with =="
        pins[_normalise(match.group(1))] = match.group(2)
    return pins


@cache
def _installed_distributions() -> dict:
    return importlib.metadata.packages_distributions()


def _distribution(import_name: str) -> str:
    installed = _installed_distributions().get(import_name)
    if installed:
        return _normalise(installed[0])
    return _normalise(DISTRIBUTION_OF_IMPORT.get(import_name, import_name))


def _module_file(module: str) -> Path | None:
    """The file of an echo2ecg module or package (None if it is not one)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = REPO.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_modules(package: str) -> list[str]:
    directory = REPO.joinpath(*package.split("."))
    return [f"{package}.{p.stem}" for p in sorted(directory.glob("*.py")) if p.stem != "__init__"]


@cache
def _imports_of_file(path: Path) -> tuple[frozenset, frozenset, bool]:
    """(top-level third-party/stdlib import names, echo2ecg modules, reads or writes parquet)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module_name = ".".join(path.relative_to(REPO).with_suffix("").parts)
    if path.name == "__init__.py":
        module_name = module_name.rsplit(".", 1)[0]
    external, internal, parquet = set(), set(), False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside the package
                base = module_name.split(".")
                base = base[: len(base) - node.level + (1 if path.name == "__init__.py" else 0)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            if stem == "__future__":
                continue
            names = [stem] + [f"{stem}.{alias.name}" for alias in node.names]  # `from pkg import submodule`
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module":
            # importlib.import_module(f"echo2ecg.readers.{name}"): any module of that package
            argument = node.args[0] if node.args else None
            prefix = argument.values[0].value if isinstance(argument, ast.JoinedStr) and argument.values \
                and isinstance(argument.values[0], ast.Constant) else getattr(argument, "value", None)
            if isinstance(prefix, str) and prefix.startswith(f"{PACKAGE}."):
                package = prefix.rstrip(".") if prefix.endswith(".") else prefix
                internal.update(_package_modules(package) if prefix.endswith(".") else [package])
            continue
        elif isinstance(node, ast.Attribute) and node.attr in PARQUET_CALLS:
            parquet = True
            continue
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top == PACKAGE:
                if _module_file(name):
                    internal.add(name)
            elif top not in LOCAL_MODULES:
                external.add(top)
    return frozenset(external), frozenset(internal), parquet


def distributions_imported_by(script: Path) -> dict[str, str]:
    """Third-party distribution -> the first file (relative to the repository) that needs it."""
    needed, seen, queue = {}, set(), [script]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        external, internal, parquet = _imports_of_file(path)
        where = str(path.relative_to(REPO))
        for name in sorted(external):
            if name not in sys.stdlib_module_names:
                needed.setdefault(_distribution(name), where)
        if parquet:
            needed.setdefault("pyarrow", where)
        for module in internal:
            parts = module.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__ too
                file = _module_file(".".join(parts[:i]))
                if file:
                    queue.append(file)
    return needed


@pytest.fixture(scope="module")
def workflow_rules(parsed_workflow_rules):
    return parsed_workflow_rules


def _runs_code(rule) -> bool:
    return bool(rule.script or rule.shellcmd or rule.wrapper or rule.notebook or not rule.norun)


def _script_path(rule) -> Path:
    return (Path(rule.snakefile).parent / rule.script).resolve()


ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_parses_and_pins_match_requirements(env_file):
    pins = _requirement_pins()
    for name, version in _env_pip_pins(env_file).items():
        assert name in pins, f"{env_file.name}: {name} is not pinned in requirements.txt"
        assert pins[name] == version, f"{env_file.name}: {name}=={version}, requirements.txt has {pins[name]}"


def test_every_rule_that_runs_code_declares_conda_log_benchmark_resources(workflow_rules):
    code_rules = [rule for rule in workflow_rules if _runs_code(rule)]
    assert code_rules
    for rule in code_rules:
        assert rule.conda_env, f"rule {rule.name} has no conda:"
        env = Path(rule.conda_env)
        assert env.parent == REPO / "envs" and env.is_file(), f"rule {rule.name}: conda: {env} is not a file in envs/"
        assert rule.log, f"rule {rule.name} has no log:"
        assert rule.benchmark, f"rule {rule.name} has no benchmark:"
        assert {"mem_mb", "runtime"} <= set(rule.resources), f"rule {rule.name} declares no mem_mb/runtime resources"
        assert rule.script, f"rule {rule.name}: code lives in scripts/ (script:), so that its imports can be checked"
    assert {Path(rule.conda_env).name for rule in code_rules} <= {p.name for p in ENV_FILES}


def test_each_env_lists_every_distribution_its_rules_import(workflow_rules):
    missing = []
    for rule in workflow_rules:
        if not (_runs_code(rule) and rule.script and rule.conda_env):
            continue
        listed = set(_env_pip_pins(Path(rule.conda_env)))
        for distribution, where in distributions_imported_by(_script_path(rule)).items():
            if distribution not in listed:
                missing.append(f"rule {rule.name}: {Path(rule.conda_env).name} lacks {distribution} (imported by {where})")
    assert not missing, "\n".join(missing)


def test_the_import_scan_follows_the_package_and_maps_names(tmp_path):
    """The scan itself: it must see what a script needs through the package, or the check above
    would pass vacuously."""
    embed = distributions_imported_by(REPO / "scripts/embed_echo_views.py")
    assert {"torch", "torchvision", "numpy", "pandas", "pyarrow"} <= set(embed)
    ingest = distributions_imported_by(REPO / "scripts/ingest_ecg_shard.py")
    assert {"wfdb", "pydicom"} <= set(ingest), "reader modules loaded by name via importlib are followed"
    assert _distribution("yaml") == "pyyaml" and _distribution("sklearn") == "scikit-learn"
    assert _distribution("PIL") == "pillow" and _distribution("av") == "av"
    assert not {"os", "json", "echo2ecg", "_package_path"} & set(embed)
