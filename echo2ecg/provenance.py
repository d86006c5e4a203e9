"""Provenance records: for every result file, which inputs, which config, which code, which software.

Each output ``X`` gets a sidecar ``X.prov.json``. Read one (and, with ``--upstream``, the records
of its inputs, recursively) with::

    python -m echo2ecg.provenance results/tables/pairs.parquet [--upstream]
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SIDECAR_SUFFIX = ".prov.json"
# inputs larger than this are identified by size and mtime instead of a content hash
MAX_HASHED_INPUT_BYTES = 512 * 1024 * 1024
_SOFTWARE = ("numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "torch", "torchvision",
             "snakemake", "pybaselines", "pydicom", "wfdb", "av", "pillow", "matplotlib", "pyyaml")


def sha256_of_file(path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of_files(paths) -> str:
    """One digest over several files (e.g. a WFDB record's .hea and .dat), in the given order."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def sidecar_path(output) -> Path:
    return Path(str(output) + SIDECAR_SUFFIX)


def code_version() -> dict:
    """The git commit of the workflow's code and whether the work tree differs from it."""
    info = {"package_version": _version("echo2ecg")}
    try:
        commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            info["git_dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def software_versions() -> dict:
    versions = {"python": platform.python_version()}
    versions.update({name: _version(name) for name in _SOFTWARE})
    return {k: v for k, v in versions.items() if v is not None}


def describe_input(path) -> dict:
    path = Path(path)
    if path.is_dir():
        return {"path": str(path), "kind": "directory"}
    stat = path.stat()
    entry = {"path": str(path), "bytes": stat.st_size}
    if stat.st_size <= MAX_HASHED_INPUT_BYTES:
        entry["sha256"] = sha256_of_file(path)
    else:
        entry["mtime"] = dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc).isoformat()
    return entry


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def write_provenance(outputs, *, rule: str, inputs=(), params=None, wildcards=None,
                     started_at: dt.datetime | None = None, summary: dict | None = None,
                     input_records=None) -> list[Path]:
    """Write ``<output>.prov.json`` beside each output file.

    ``inputs`` are hashed (see MAX_HASHED_INPUT_BYTES); ``input_records`` may be given instead
    for inputs already hashed by the caller (e.g. raw records hashed during ingest).
    """
    described = list(input_records) if input_records is not None else [describe_input(p) for p in inputs]
    record = {
        "rule": rule,
        "wildcards": _jsonable(dict(wildcards or {})),
        "params": _jsonable(dict(params or {})),
        "inputs": described,
        "code": code_version(),
        "software": software_versions(),
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "started_at": started_at.isoformat() if started_at else None,
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "summary": _jsonable(summary or {}),
        "command": sys.argv[:1],
    }
    written = []
    for output in outputs:
        output = Path(output)
        entry = dict(record, output=str(output))
        if output.is_file():
            entry["output_sha256"] = sha256_of_file(output) if output.stat().st_size <= MAX_HASHED_INPUT_BYTES else None
        path = sidecar_path(output)
        path.write_text(json.dumps(entry, indent=2, sort_keys=True))
        written.append(path)
    return written


def provenance_from_snakemake(smk, *, started_at=None, summary=None, outputs=None, input_records=None):
    """Convenience for scripts: write sidecars for every output of a Snakemake job."""
    params = {k: v for k, v in smk.params.items()}
    return write_provenance(
        list(outputs if outputs is not None else smk.output),
        rule=smk.rule,
        inputs=list(smk.input),
        params=params,
        wildcards=dict(smk.wildcards.items()),
        started_at=started_at,
        summary=summary,
        input_records=input_records,
    )


def read_provenance(output) -> dict:
    return json.loads(sidecar_path(output).read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Show where a result file came from.")
    parser.add_argument("output", help="a result file written by the workflow")
    parser.add_argument("--upstream", action="store_true", help="also show the records of its inputs, recursively")
    args = parser.parse_args(argv)
    seen = set()
    queue = [args.output]
    while queue:
        path = queue.pop(0)
        if path in seen or not sidecar_path(path).exists():
            continue
        seen.add(path)
        record = read_provenance(path)
        print(json.dumps(record, indent=2, sort_keys=True))
        if args.upstream:
            queue.extend(entry["path"] for entry in record.get("inputs", []) if "path" in entry)
    if not seen:
        print(f"no provenance record beside {args.output}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
