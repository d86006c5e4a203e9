"""The ``echo2ecg`` console command: a result's lineage, and an audit of stale results.

    echo2ecg lineage results/tables/pairs.parquet          # short readable tree
    echo2ecg lineage results/tables/pairs.parquet --json   # every upstream record, for machines
    echo2ecg audit [results_dir] [--json]                  # exit 1 when any result is stale

Both read the provenance sidecars (``<file>.prov.json``, see echo2ecg/provenance.py) and the raw
records tables they reference; neither runs Snakemake. Paths in the sidecars are relative to the
directory the workflow ran in; they are resolved against it wherever the command is run from.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

from echo2ecg.provenance import (
    MAX_HASHED_INPUT_BYTES,
    REPO_ROOT,
    is_recorded_output,
    sha256_of_file,
    sha256_of_files,
    sidecar_path,
)

MAX_PATHS_SHOWN = 3
MAX_VALUE_CHARS = 60


# ----------------------------------------------------------------------------------------------
# reading sidecars
class Sidecars:
    """Provenance records by recorded path, read once; ``base`` is the run's working directory."""

    def __init__(self, base: Path):
        self.base = base
        self._cache: dict[str, dict | None] = {}

    @classmethod
    def for_file(cls, path: str) -> "Sidecars":
        actual = Path(path).resolve()
        base = Path.cwd()
        try:
            recorded = json.loads(sidecar_path(actual).read_text()).get("output", "")
        except (OSError, ValueError):
            recorded = ""
        if recorded and not os.path.isabs(recorded) and actual.as_posix().endswith("/" + recorded):
            base = Path(actual.as_posix()[: -len(recorded) - 1])
        return cls(base)

    def resolve(self, path: str) -> Path:
        return Path(path) if os.path.isabs(path) else self.base / path

    def get(self, path: str) -> dict | None:
        if path not in self._cache:
            try:
                self._cache[path] = json.loads(sidecar_path(self.resolve(path)).read_text())
            except (OSError, ValueError):
                self._cache[path] = None
        return self._cache[path]

    def key(self, path: str) -> str:
        """The recorded (run-relative) form of a path given on the command line."""
        actual = Path(path).resolve()
        try:
            return actual.relative_to(self.base.resolve()).as_posix()
        except ValueError:
            return str(actual)


def _flatten(value, prefix="") -> dict:
    if isinstance(value, dict) and value:
        flat = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _code(record: dict) -> str:
    code = record.get("code") or {}
    commit = (code.get("git_commit") or "unknown")[:10]
    return commit + ("+dirty" if code.get("git_dirty") else "")


# ----------------------------------------------------------------------------------------------
# lineage
def lineage_graph(path: str) -> dict:
    """Every upstream record of ``path``: {"root", "base", "nodes": {path: node}} (a DAG, each
    record once; raw inputs are nodes without a rule)."""
    sidecars = Sidecars.for_file(path)
    root = sidecars.key(path)
    nodes: dict[str, dict] = {}
    queue = [root]
    while queue:
        current = queue.pop()
        if current in nodes:
            continue
        record = sidecars.get(current)
        if record is None:
            nodes[current] = {"rule": None, "raw": True, "generated_by": _generator_record(sidecars, current)}
            continue
        inputs = [entry["path"] for entry in record.get("inputs", []) if "path" in entry]
        nodes[current] = {
            "rule": record.get("rule"), "raw": False, "wildcards": record.get("wildcards", {}),
            "params": record.get("params", {}), "seeds": record.get("seeds", {}),
            "code": {k: v for k, v in (record.get("code") or {}).items() if k != "modules"},
            "finished_at": record.get("finished_at"), "output_sha256": record.get("output_sha256"),
            "records": record.get("records"), "inputs": inputs,
            "input_sha256": {e["path"]: e.get("sha256") for e in record.get("inputs", []) if "path" in e},
        }
        queue.extend(inputs)
    return {"root": root, "base": str(sidecars.base), "nodes": nodes}


def _generator_record(sidecars: Sidecars, path: str) -> dict | None:
    """For a raw file the synthetic generator wrote: its rule and seeds (from the record beside
    the generator's truth/summary.json in a parent directory)."""
    for parent in Path(path).parents:
        record = sidecars.get((parent / "truth" / "summary.json").as_posix())
        if record is not None:
            return {"rule": record.get("rule"), "seeds": record.get("seeds", {}),
                    "record": (parent / "truth" / "summary.json").as_posix()}
    return None


def _group_label(paths: list[str], nodes: dict) -> tuple[str, str]:
    rule = nodes[paths[0]]["rule"]
    more = f", +{len(paths) - MAX_PATHS_SHOWN} more" if len(paths) > MAX_PATHS_SHOWN else ""
    shown = ", ".join(paths[:MAX_PATHS_SHOWN]) + more
    if rule is None:
        return "raw", shown
    wildcards = defaultdict(set)
    for p in paths:
        for key, value in nodes[p]["wildcards"].items():
            wildcards[key].add(str(value))
    wc = ", ".join(f"{k}={'|'.join(sorted(v))}" for k, v in sorted(wildcards.items()))
    head = f"{rule}" + (f" [{wc}]" if wc else "")
    count = f"{len(paths)} files: " if len(paths) > 1 else ""
    return head, count + shown


def _group_params(paths: list[str], nodes: dict) -> list[str]:
    values = defaultdict(set)
    for p in paths:
        for key, value in _flatten(nodes[p]["params"]).items():
            values[key].add(_short(value))
    lines = []
    for key in sorted(values):
        if not key:
            continue
        found = values[key]
        lines.append(f"{key}={next(iter(found))}" if len(found) == 1 else f"{key}=<{len(found)} values>")
    return lines


def render_lineage(graph: dict) -> str:
    """A short tree: inputs are grouped by the rule that wrote them (raw files by themselves),
    each group's config values once, and a group already shown is not expanded again."""
    nodes = graph["nodes"]
    lines: list[str] = []
    expanded: set[str] = set()

    def describe(paths, prefix, last):
        head, shown = _group_label(paths, nodes)
        branch = "" if prefix is None else ("└─ " if last else "├─ ")
        lead = "" if prefix is None else prefix
        child_prefix = "" if prefix is None else prefix + ("   " if last else "│  ")
        node = nodes[paths[0]]
        if node["rule"] is None:
            origin = node.get("generated_by")
            note = ""
            if origin:
                seeds = ", ".join(f"{k}={v}" for k, v in sorted(origin["seeds"].items()))
                note = f"  (synthetic: written by {origin['rule']}" + (f", {seeds}" if seeds else "") + ")"
            lines.append(f"{lead}{branch}raw input: {shown}{note}")
            return
        code = {_code({"code": nodes[p]["code"]}) for p in paths}
        stamp = max((nodes[p]["finished_at"] or "")[:19] for p in paths)
        lines.append(f"{lead}{branch}{head}  (code {', '.join(sorted(code))}; {stamp})")
        lines.append(f"{child_prefix}   files: {shown}")
        if all(p in expanded for p in paths):
            lines.append(f"{child_prefix}   (inputs shown above)")
            return
        expanded.update(paths)
        params = _group_params(paths, nodes)
        if params:
            lines.append(f"{child_prefix}   config: " + "; ".join(params))
        seeds = {f"{k}={v}" for p in paths for k, v in nodes[p]["seeds"].items()}
        if seeds:
            lines.append(f"{child_prefix}   seeds: " + ", ".join(sorted(seeds)))
        tables = [nodes[p]["records"] for p in paths if nodes[p].get("records")]
        if tables:
            unique = {t["path"]: t for t in tables}
            n_records = sum(t["n_records"] for t in unique.values())
            n_files = sum(t["n_files"] for t in unique.values())
            first = next(iter(unique))
            lines.append(f"{child_prefix}   raw records read: {n_records} records in {n_files} files, listed in "
                         f"{first}" + (f" (+{len(unique) - 1} more tables)" if len(unique) > 1 else ""))
        inputs = []
        for p in paths:
            inputs.extend(i for i in nodes[p]["inputs"] if i not in inputs)
        groups = defaultdict(list)
        for i in inputs:
            node_i = nodes[i]
            groups[(node_i["rule"] or "", tuple(sorted(node_i.get("wildcards", {}))))].append(i)
        ordered = sorted(groups.values(), key=lambda g: (nodes[g[0]]["rule"] is None, nodes[g[0]]["rule"] or "", g[0]))
        for index, group in enumerate(ordered):
            describe(group, child_prefix, index == len(ordered) - 1)

    describe([graph["root"]], None, True)
    return "\n".join(lines)


def lineage(path: str, as_json: bool = False) -> int:
    if not sidecar_path(Path(path)).exists():
        print(f"no provenance record beside {path} (expected {sidecar_path(Path(path))})", file=sys.stderr)
        return 1
    graph = lineage_graph(path)
    print(json.dumps(graph, indent=2, sort_keys=True) if as_json else render_lineage(graph))
    return 0


# ----------------------------------------------------------------------------------------------
# audit
class Auditor:
    """Compares every recorded input, raw record and code hash with what is on disk."""

    def __init__(self, sidecars: Sidecars):
        self.sidecars = sidecars
        self._status: dict[str, list[str]] = {}
        self._file_hash: dict[Path, str] = {}

    def _hash(self, path: Path) -> str | None:
        if path not in self._file_hash:
            self._file_hash[path] = sha256_of_file(path) if path.stat().st_size <= MAX_HASHED_INPUT_BYTES else None
        return self._file_hash[path]

    def _changed(self, path: Path, entry: dict, size_key="bytes", mtime_key="mtime_ns", sha_key="sha256") -> bool:
        stat = path.stat()
        if entry.get(size_key) == stat.st_size and entry.get(mtime_key) == stat.st_mtime_ns:
            return False
        recorded = entry.get(sha_key)
        if recorded is None:
            return True
        return self._hash(path) != recorded

    def _records_changed(self, table_ref: dict) -> list[str]:
        import pandas as pd

        path = self.sidecars.resolve(table_ref["path"])
        if not path.exists():
            return [f"raw records table missing: {table_ref['path']}"]
        if sha256_of_file(path) != table_ref.get("sha256"):
            return [f"raw records table changed: {table_ref['path']}"]
        table = pd.read_parquet(path)
        changed_records = set()
        for row in table.itertuples(index=False):
            file = self.sidecars.resolve(str(row.path))
            try:
                stat = file.stat()
            except OSError:
                changed_records.add(row.record_id) if not pd.isna(row.bytes) else None
                continue
            if pd.isna(row.bytes) or int(row.bytes) != stat.st_size or int(row.mtime_ns) != stat.st_mtime_ns:
                changed_records.add(row.record_id)
        reasons = []
        for record_id in sorted(changed_records):
            files = table[table["record_id"] == record_id]
            recorded = files["sha256"].iloc[0]
            paths = [self.sidecars.resolve(str(p)) for p in files["path"]]
            if not pd.isna(recorded) and all(p.exists() for p in paths) and sha256_of_files(paths) == recorded:
                continue  # touched, same content
            reasons.append(f"raw record changed: {record_id} ({', '.join(str(p) for p in files['path'])})")
        return reasons

    def _code_changed(self, record: dict) -> list[str]:
        reasons = []
        for module, recorded in sorted(((record.get("code") or {}).get("modules") or {}).items()):
            path = REPO_ROOT / module
            if not path.exists():
                reasons.append(f"code removed: {module}")
            elif self._hash(path) != recorded:
                reasons.append(f"code changed: {module}")
        return reasons

    def reasons(self, path: str) -> list[str]:
        """Why ``path`` is stale (empty: up to date). Staleness propagates from inputs."""
        if path in self._status:
            return self._status[path]
        self._status[path] = []  # guards against cycles
        record = self.sidecars.get(path)
        reasons: list[str] = []
        actual = self.sidecars.resolve(path)
        if record is not None and actual.is_file() and record.get("output_bytes") is not None:
            stat = actual.stat()
            if not is_recorded_output(record, stat, sidecar_path(actual).stat().st_mtime_ns) and (
                    record.get("output_sha256") is None or self._hash(actual) != record["output_sha256"]):
                reasons.append("modified after the workflow wrote it")
        for entry in (record or {}).get("inputs", []):
            if "path" not in entry or entry.get("kind") == "directory":
                continue
            source = self.sidecars.resolve(entry["path"])
            produced = self.sidecars.get(entry["path"]) is not None
            if produced and self.reasons(entry["path"]):
                reasons.append(f"upstream stale: {entry['path']}")
                continue
            if not source.exists():
                if not produced:  # a temporary file the workflow wrote and removed is no change
                    reasons.append(f"input missing: {entry['path']}")
                continue
            if self._changed(source, entry):
                reasons.append(f"input changed: {entry['path']}")
        if record is not None and record.get("records"):
            reasons.extend(self._records_changed(record["records"]))
        if record is not None:
            reasons.extend(self._code_changed(record))
        self._status[path] = reasons
        return reasons


def audit_results(results_dir: str = "results") -> dict:
    """{"results": [every result with a record, on disk], "stale": {path: reasons}}."""
    root = Path(results_dir)
    sidecar_files = sorted(root.rglob("*.prov.json"))
    sidecars = Sidecars.for_file(str(sidecar_files[0])[: -len(".prov.json")]) if sidecar_files else Sidecars(Path.cwd())
    auditor = Auditor(sidecars)
    results, stale = [], {}
    for sidecar in sidecar_files:
        output = sidecars.key(str(sidecar)[: -len(".prov.json")])
        if not sidecars.resolve(output).exists():
            continue  # a temporary output, removed by the workflow
        results.append(output)
        reasons = auditor.reasons(output)
        if reasons:
            stale[output] = reasons
    return {"results": results, "stale": stale}


def audit(results_dir: str, as_json: bool = False) -> int:
    report = audit_results(results_dir)
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        for path, reasons in sorted(report["stale"].items()):
            more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
            print(f"STALE {path}: {reasons[0]}{more}")
        print(f"{len(report['stale'])} of {len(report['results'])} results stale" if report["stale"]
              else f"all {len(report['results'])} results up to date")
    return 1 if report["stale"] else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="echo2ecg", description="Lineage and audit of Echo2ECG results.")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("lineage", help="where a result file came from: a tree back to the raw listings")
    show.add_argument("file")
    show.add_argument("--json", action="store_true", help="every upstream record as JSON")
    check = commands.add_parser("audit", help="list results whose recorded inputs or code no longer match the disk")
    check.add_argument("results_dir", nargs="?", default="results")
    check.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "lineage":
        return lineage(args.file, args.json)
    return audit(args.results_dir, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
