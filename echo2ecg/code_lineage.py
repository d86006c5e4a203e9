"""Which repository code a rule's job runs, and its identity (a hash of the files' contents).

Snakemake reruns a job when its script changes, not when a module the script imports changes. The
code a job runs is its script plus, transitively, every ``echo2ecg`` module it imports, found
statically (``ast``) over the script and the package:

* ``import echo2ecg.a.b`` and ``from echo2ecg.a import b`` (``b`` a submodule or a name), relative
  imports inside the package, imports inside functions (a lazy import runs in some jobs);
* importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` too, so they count;
* ``importlib.import_module(f"echo2ecg.readers.{name}")`` counts every module of that package
  (which reader runs is config; all of them could);
* a script's sibling helpers (``import _package_path``) count as code of the script.

The identity of a job's code is the SHA-256 of each of these files' bytes, not their mtimes: a
``touch`` or a fresh checkout changes nothing, a changed line changes the modules' identity. The
workflow hands the digest to every rule as the param ``code`` (see workflow/rules/common.smk), so
Snakemake's params trigger reruns exactly the jobs whose code changed, and their dependants. The
provenance sidecar records the same per-file hashes (``code.modules``), which ``echo2ecg audit``
compares with the files on disk: the audit and the DAG judge code by the same files.

Modules that only keep records (provenance, logs, the console command, this module) compute no
result and are left out, with what only they import: changing how a sidecar is written does not
make a result stale.
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "echo2ecg"
# package modules that write records or logs but compute no result: not part of a result's code,
# and neither is what only they import (this module, imported by provenance)
BOOKKEEPING_MODULES = ("echo2ecg/provenance.py", "echo2ecg/logs.py", "echo2ecg/cli.py", "echo2ecg/code_lineage.py")
# `python -m echo2ecg.x ...` or the `echo2ecg` console command in a rule's shell command
_SHELL_MODULE = re.compile(r"-m\s+(echo2ecg(?:\.\w+)*)")
_SHELL_COMMAND = re.compile(r"(?:^|[\s;&|(])echo2ecg\s")


class CodeLineage:
    """Static import closure and content hashes of the repository's code, memoised per instance
    (make one per DAG build or audit: files are read and hashed once each)."""

    def __init__(self, repo_root: str | Path = REPO_ROOT):
        self.root = Path(repo_root).resolve()
        self._imports: dict[Path, frozenset[Path]] = {}
        self._hashes: dict[Path, str] = {}

    # -- resolving names to files --------------------------------------------------------------
    def module_file(self, name: str) -> Path | None:
        """The file of an echo2ecg module or package (None if it is not one)."""
        parts = name.split(".")
        if parts[0] != PACKAGE or not all(parts):
            return None
        base = self.root.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def _module_files(self, name: str) -> list[Path]:
        """A module's file and those of the packages above it (importing a.b.c runs a, a.b too)."""
        parts = name.split(".")
        files = [self.module_file(".".join(parts[:i])) for i in range(1, len(parts) + 1)]
        return [f for f in files if f is not None]

    def _module_name(self, path: Path) -> str | None:
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return None
        if relative.parts[0] != PACKAGE:
            return None
        parts = list(relative.with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def _package_members(self, package: str) -> list[str]:
        directory = self.root.joinpath(*package.split("."))
        return [f"{package}.{p.stem}" for p in sorted(directory.glob("*.py")) if p.stem != "__init__"]

    # -- one file's imports ---------------------------------------------------------------------
    def imports_of(self, path: str | Path) -> frozenset[Path]:
        """The repository files a file imports directly (package modules and sibling helpers)."""
        path = Path(path).resolve()
        if path in self._imports:
            return self._imports[path]
        tree = ast.parse(path.read_bytes(), filename=str(path))
        own = self._module_name(path)
        is_package = path.name == "__init__.py"
        names: set[str] = set()
        siblings: set[Path] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names.add(alias.name)
                    sibling = path.parent / f"{alias.name}.py"
                    if own is None and "." not in alias.name and sibling.is_file():
                        siblings.add(sibling)  # a script's helper beside it (import _package_path)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    if own is None:
                        continue
                    base = own.split(".")
                    base = base[: len(base) - node.level + (1 if is_package else 0)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                names.add(stem)
                names.update(f"{stem}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) \
                    == "import_module" and node.args:
                argument = node.args[0]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    names.add(argument.value)
                elif isinstance(argument, ast.JoinedStr) and argument.values and isinstance(
                        argument.values[0], ast.Constant) and str(argument.values[0].value).endswith("."):
                    names.update(self._package_members(str(argument.values[0].value).rstrip(".")))
        files = set(siblings)
        for name in names:
            if name.split(".")[0] == PACKAGE:
                files.update(self._module_files(name))
        files.discard(path)
        self._imports[path] = frozenset(files)
        return self._imports[path]

    # -- a job's code ---------------------------------------------------------------------------
    def files(self, entry_points) -> list[Path]:
        """Every repository file the entry points (scripts or module files) run, transitively (not
        following the imports of the bookkeeping modules)."""
        if isinstance(entry_points, (str, Path)):
            entry_points = [entry_points]
        seen: set[Path] = set()
        queue = [Path(p).resolve() for p in entry_points]
        while queue:
            path = queue.pop()
            if path in seen:
                continue
            seen.add(path)
            if self.relative(path) not in BOOKKEEPING_MODULES:
                queue.extend(self.imports_of(path) - seen)
        return sorted(seen)

    def relative(self, path: Path) -> str:
        path = Path(path).resolve()
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def sha256(self, path: Path) -> str:
        path = Path(path).resolve()
        if path not in self._hashes:
            self._hashes[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        return self._hashes[path]

    def modules(self, entry_points) -> dict[str, str]:
        """{path relative to the repository: SHA-256 of its bytes} of the code the entry points run,
        without the bookkeeping modules (see BOOKKEEPING_MODULES)."""
        hashes = {}
        for path in self.files(entry_points):
            relative = self.relative(path)
            if relative not in BOOKKEEPING_MODULES:
                hashes[relative] = self.sha256(path)
        return hashes

    def identity(self, entry_points) -> str:
        """One digest of :meth:`modules` (the param ``code`` of a rule)."""
        return code_digest(self.modules(entry_points))

    def entry_points_of_rule(self, rule) -> list[Path]:
        """The files a Snakemake rule runs: its script, or the echo2ecg modules its shell command
        calls (``python -m echo2ecg.x``, the ``echo2ecg`` console command). Empty for rules that
        run no code of the repository."""
        if getattr(rule, "script", None):
            return [(Path(rule.snakefile).parent / rule.script).resolve()]
        points = []
        shell = getattr(rule, "shellcmd", None) or ""
        for name in _SHELL_MODULE.findall(shell):
            file = self.module_file(name)
            if file is not None:
                points.append(file)
        if _SHELL_COMMAND.search(shell):
            points.append(self.root / "echo2ecg" / "cli.py")
        return points


def code_digest(modules: dict[str, str]) -> str:
    """The digest of a {relative path: sha256} map (what the param ``code`` holds)."""
    return hashlib.sha256(json.dumps(dict(sorted(modules.items()))).encode()).hexdigest()


def add_code_params(rules, lineage: CodeLineage | None = None) -> dict[str, list[str]]:
    """Give every rule that runs repository code a param ``code``: the digest of the files it runs
    (Snakemake's params trigger then reruns a job whose code changed). Returns {rule: files}."""
    lineage = lineage or CodeLineage()
    ran = {}
    for rule in rules:
        points = lineage.entry_points_of_rule(rule)
        if not points:
            continue
        if "code" in rule.params.keys():
            raise ValueError(f"rule {rule.name} already has a param named 'code'")
        rule.set_params(code=lineage.identity(points))
        ran[rule.name] = sorted(lineage.modules(points))
    return ran
