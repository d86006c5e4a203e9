"""Provenance records: for every result file, which inputs, which config, which code, which software.

Each output ``X`` gets a sidecar ``X.prov.json``: rule, wildcards, params (the resolved config
values the rule used), seeds found in them, code version (git commit, dirty flag, and the hash of
every package module its script imports, see code_lineage.py), inputs with content hashes (an input the workflow wrote is
identified by the hash its own sidecar recorded, so big arrays are not hashed twice), software
versions, host, CPU and GPU model, start and end time. The raw records a job read are listed in
a table beside the sidecar (``X.records.parquet``, referenced by path and hash), not copied into
every sidecar. Read them with the console commands (see echo2ecg/cli.py)::

    echo2ecg lineage results/tables/pairs.parquet      # a short tree back to the raw listings
    echo2ecg audit results                             # every stale result, exit 1 if any
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from echo2ecg.code_lineage import BOOKKEEPING_MODULES, CodeLineage

REPO_ROOT = Path(__file__).resolve().parents[1]
SIDECAR_SUFFIX = ".prov.json"
RECORDS_SUFFIX = ".records.parquet"
# inputs larger than this are identified by size and mtime instead of a content hash
MAX_HASHED_INPUT_BYTES = 512 * 1024 * 1024
# Snakemake touches a job's outputs after the job ends (after its sidecars were written), so an
# output's mtime moves forward once, shortly after its record; a later change moves it again.
# An output whose size is the recorded one and whose mtime lies between the recorded mtime and
# this long after its sidecar was written is the file the record describes.
# LIMIT (pinned by tests/test_provenance.py): a rewrite of such a file with the SAME size within
# this window cannot be told from Snakemake's touch by size and mtime, so it is taken as unchanged
# and its recorded hash is reused (by describe_input and by `echo2ecg audit`). Only an edit outside
# the workflow, within 10 minutes of the job that wrote the file, can do this; a different size or
# a later mtime is always hashed afresh. Telling the two apart would mean hashing every
# workflow-written input again, which is what the reuse avoids.
SNAKEMAKE_TOUCH_WINDOW_NS = 600 * 10**9
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


@functools.cache
def _git_version() -> dict:
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


def code_modules(script: str | None = None) -> dict:
    """SHA-256 of the rule's script and of every package module it runs, by path relative to the
    repository (what `echo2ecg audit` compares with the files on disk). With a script, the modules
    are its static import closure (echo2ecg/code_lineage.py), the same files whose digest is the
    rule's param ``code``, so the audit and Snakemake judge code by the same files; without one,
    the repository modules loaded in this process."""
    if script:
        return CodeLineage(REPO_ROOT).modules(script)
    files = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.endswith(".py"):
            files.add(Path(path).resolve())
    modules = {}
    for path in sorted(files):
        try:
            relative = path.relative_to(REPO_ROOT).as_posix()
        except ValueError:
            continue
        if relative.startswith((".venv/", ".snakemake/")) or relative in BOOKKEEPING_MODULES or not path.exists():
            continue
        modules[relative] = sha256_of_file(path)
    return modules


def code_version(script: str | None = None) -> dict:
    """The git commit of the workflow's code, whether the work tree differs from it, and the
    hashes of the code the job ran (see :func:`code_modules`)."""
    return dict(_git_version(), modules=code_modules(script))


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.cache
def software_versions() -> dict:
    versions = {"python": platform.python_version()}
    versions.update({name: _version(name) for name in _SOFTWARE})
    return {k: v for k, v in versions.items() if v is not None}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_description() -> dict:
    """Host name, OS, CPU model and count, and the GPUs this job could see (only when torch is
    already imported: describing GPUs never costs a job a torch import)."""
    info = {"name": socket.gethostname(), "platform": platform.platform(), "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(), "slurm_job_id": os.environ.get("SLURM_JOB_ID")}
    torch = sys.modules.get("torch")
    gpus = []
    if torch is not None:
        try:
            if torch.cuda.is_available():
                gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        except Exception:  # noqa: BLE001 - a broken CUDA set-up must not fail the job's bookkeeping
            gpus = []
    info["gpus"] = gpus
    return info


def seeds_in(params) -> dict:
    """Every value under a key containing "seed" in the params, by dotted key."""
    found = {}

    def walk(value, prefix):
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{prefix}{key}"
                if "seed" in str(key).lower() and not isinstance(item, (dict, list, tuple)):
                    found[name] = item
                walk(item, name + ".")

    walk(_jsonable(params), "")
    return found


def is_recorded_output(record: dict, stat: os.stat_result, sidecar_mtime_ns: int) -> bool:
    """Whether a file with ``stat`` is still the output ``record`` describes, judged by size and
    mtime alone (see SNAKEMAKE_TOUCH_WINDOW_NS)."""
    recorded = record.get("output_mtime_ns")
    if record.get("output_bytes") != stat.st_size or recorded is None:
        return False
    return recorded <= stat.st_mtime_ns <= max(recorded, sidecar_mtime_ns) + SNAKEMAKE_TOUCH_WINDOW_NS


def _recorded_output_hash(path: Path, stat: os.stat_result) -> str | None:
    """The hash an input's own sidecar recorded, when the file is still the one it describes."""
    sidecar = sidecar_path(path)
    try:
        record = json.loads(sidecar.read_text())
        sidecar_mtime = sidecar.stat().st_mtime_ns
    except (OSError, ValueError):
        return None
    return record.get("output_sha256") if is_recorded_output(record, stat, sidecar_mtime) else None


def describe_input(path) -> dict:
    """Path, size, mtime and content hash of one input (the hash of a workflow-written input is
    taken from its own sidecar when size and mtime still match it)."""
    path = Path(path)
    if path.is_dir():
        return {"path": str(path), "kind": "directory"}
    stat = path.stat()
    entry = {"path": str(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    reused = _recorded_output_hash(path, stat)
    if reused:
        entry["sha256"] = reused
        entry["sha256_from"] = "sidecar"
    elif stat.st_size <= MAX_HASHED_INPUT_BYTES:
        entry["sha256"] = sha256_of_file(path)
    return entry


def raw_records_table(records, record_sha256: dict | None = None):
    """The raw files a job read, one row per (record, file): record_id, path, bytes, mtime_ns and
    the record's content hash over its files in order (as ingest computed it; null where records
    share a file, e.g. EchoNext's arrays). Files are statted, never re-read."""
    import pandas as pd

    rows = []
    for record in records:
        record_id = str(record["record_id"])
        sha = (record_sha256 or {}).get(record_id)
        for path in record.get("source_files") or [record.get("source_path")]:
            try:
                stat = os.stat(path)
                size, mtime = stat.st_size, stat.st_mtime_ns
            except OSError:
                size, mtime = None, None
            rows.append({"record_id": record_id, "path": str(path), "bytes": size, "mtime_ns": mtime, "sha256": sha})
    return pd.DataFrame(rows, columns=["record_id", "path", "bytes", "mtime_ns", "sha256"]).astype(
        {"record_id": "string", "path": "string", "bytes": "Int64", "mtime_ns": "Int64", "sha256": "string"})


def _write_records_table(records, outputs) -> dict | None:
    import pandas as pd

    if records is None:
        return None
    if not isinstance(records, pd.DataFrame):  # the former list of {"path", "sha256"} entries
        records = pd.DataFrame(list(records)).assign(record_id=lambda f: f["path"]).reindex(
            columns=["record_id", "path", "bytes", "mtime_ns", "sha256"])
    path = Path(str(outputs[0]) + RECORDS_SUFFIX)
    records.to_parquet(path, index=False)
    return {"path": str(path), "sha256": sha256_of_file(path), "n_records": int(records["record_id"].nunique()),
            "n_files": int(len(records))}


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
                     input_records=None, records=None, script: str | None = None,
                     threads: int | None = None, resources: dict | None = None) -> list[Path]:
    """Write ``<output>.prov.json`` beside each output file.

    ``inputs`` are described by :func:`describe_input`. ``records`` (a :func:`raw_records_table`)
    lists the raw files the job read; it is written once to ``<first output>.records.parquet``
    and referenced by hash. ``input_records`` (a list of {"path", "sha256"}) is still accepted
    and stored the same way.
    """
    outputs = [Path(o) for o in outputs]
    described = [describe_input(p) for p in inputs]
    table = _write_records_table(records if records is not None else input_records, outputs)
    params = _jsonable(dict(params or {}))
    finished_at = dt.datetime.now(dt.timezone.utc)
    record = {
        "rule": rule,
        "wildcards": _jsonable(dict(wildcards or {})),
        "params": params,
        "seeds": seeds_in(params),
        "inputs": described,
        "records": table,
        "code": code_version(script or _repository_script()),
        "software": software_versions(),
        "host": host_description(),
        "threads": threads,
        "resources": _jsonable(resources or {}),
        "started_at": started_at.isoformat() if started_at else None,
        "finished_at": finished_at.isoformat(),
        "duration_s": round((finished_at - started_at).total_seconds(), 3) if started_at else None,
        "summary": _jsonable(summary or {}),
    }
    written = []
    for output in outputs:
        entry = dict(record, output=str(output))
        if output.is_file():
            stat = output.stat()
            entry["output_bytes"] = stat.st_size
            entry["output_mtime_ns"] = stat.st_mtime_ns
            entry["output_sha256"] = sha256_of_file(output) if stat.st_size <= MAX_HASHED_INPUT_BYTES else None
        path = sidecar_path(output)
        path.write_text(json.dumps(entry, indent=2, sort_keys=True))
        written.append(path)
    return written


def _script_path() -> str | None:
    """The rule's script (Snakemake sets ``__file__`` of a script job to the original file)."""
    main = sys.modules.get("__main__")
    return getattr(main, "__file__", None)


def _repository_script() -> str | None:
    """The running rule script, when this process runs one of the repository's scripts/."""
    script = _script_path()
    if script and Path(script).resolve().parent == REPO_ROOT / "scripts":
        return script
    return None


def provenance_from_snakemake(smk, *, started_at=None, summary=None, outputs=None, input_records=None, records=None):
    """Convenience for scripts: write sidecars for every output of a Snakemake job."""
    params = {k: v for k, v in smk.params.items()}
    resources = {k: v for k, v in smk.resources.items() if k not in ("_cores", "_nodes", "tmpdir")}
    return write_provenance(
        list(outputs if outputs is not None else smk.output),
        rule=smk.rule,
        inputs=list(smk.input),
        params=params,
        wildcards=dict(smk.wildcards.items()),
        started_at=started_at,
        summary=summary,
        input_records=input_records,
        records=records,
        script=_script_path(),
        threads=smk.threads,
        resources=resources,
    )


def read_provenance(output) -> dict:
    return json.loads(sidecar_path(output).read_text())


def main(argv=None) -> int:
    """``python -m echo2ecg.provenance FILE [--upstream]``: the lineage of FILE (see echo2ecg.cli)."""
    from echo2ecg import cli

    parser = argparse.ArgumentParser(description="Show where a result file came from.")
    parser.add_argument("output", help="a result file written by the workflow")
    parser.add_argument("--upstream", action="store_true", help="the whole lineage, as JSON")
    args = parser.parse_args(argv)
    return cli.main(["lineage", args.output, *(["--json"] if args.upstream else [])])


if __name__ == "__main__":
    raise SystemExit(main())
