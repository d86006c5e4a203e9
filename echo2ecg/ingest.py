"""Ingest (rules ingest_ecg_shard, ingest_ecgs, ingest_echo_shard, ingest_echos, ingest_phenotypes).

Records are listed from each dataset's index files (a *manifest*, see readers/FORMATS.md),
assigned to shards by a keyed hash of their id, opened one at a time by the cohort's reader,
and either kept in an index table (with source path and content hash) or excluded into the QC
ledger with a reason. Per shard: read = kept + excluded.
"""
from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd

from echo2ecg.logs import Progress
from echo2ecg.provenance import sha256_of_files
from echo2ecg.qc import ExclusionLedger, RecordFault, ledger_frame, reconcile
from echo2ecg.sharding import shards_of

ECG_COLUMNS = ["ecg_id", "patient_id", "acquired_at", "dataset", "cohort", "source_path", "sha256",
               "sampling_rate", "n_samples", "duration_s", "shard"]
ECG_EXTRA_COLUMNS = ["age", "sex", "dataset_split", "npy_row"]
VIEW_COLUMNS = ["view_id", "study_id", "patient_id", "acquired_at", "dataset", "cohort", "source_path",
                "sha256", "n_frames", "fps", "height", "width", "samples_per_pixel", "compressed", "shard"]
STUDY_COLUMNS = ["study_id", "patient_id", "acquired_at", "dataset", "cohort", "n_views", "n_cine_views"]
PHENOTYPE_COLUMNS = ["entity", "entity_id", "patient_id", "dataset", "cohort", "lvef", "lvedv", "lvesv", "lvsv", "shd"]


# ----------------------------------------------------------------------------------------------
# manifests and shards
def shard_manifest(manifest: pd.DataFrame, n_shards: int) -> pd.DataFrame:
    """Add ``manifest_row`` (position in the index file) and ``shard`` (keyed hash of record_id)."""
    manifest = manifest.reset_index(drop=True).copy()
    manifest["record_id"] = manifest["record_id"].astype(str)
    manifest["patient_id"] = manifest["patient_id"].astype(str)
    manifest["manifest_row"] = np.arange(len(manifest), dtype=np.int64)
    manifest["shard"] = shards_of(manifest["record_id"], n_shards)
    return manifest


# The manifest columns a shard's ingest uses; other pass-through columns (e.g. EchoNext's condition
# flags) stay out of the job's params so that they neither bloat the job nor trigger reruns.
SHARD_RECORD_COLUMNS = ("record_id", "patient_id", "study_id", "acquired_at", "source_path", "source_files",
                        "manifest_row", "npy_row", "sampling_rate", "age", "sex", "split")


def manifest_rows(manifest: pd.DataFrame, shard: int) -> list[dict]:
    """The manifest rows of one shard as plain JSON-able dicts (a Snakemake ``params`` value)."""
    part = manifest.loc[manifest["shard"] == shard, [c for c in SHARD_RECORD_COLUMNS if c in manifest.columns]]
    rows = []
    for row in part.to_dict("records"):
        rows.append({k: _plain(v) for k, v in row.items()})
    return rows


def _plain(value):
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


# ----------------------------------------------------------------------------------------------
# timestamps
def parse_acquired_at(raw) -> pd.Timestamp:
    """Parse a stored timestamp into a timezone-aware UTC timestamp.

    Naive timestamps are taken as UTC (MIMIC's shifted dates carry no zone). Raises RecordFault
    ("unparsable timestamp: ...") for an empty or unreadable value.
    """
    if raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw).strip() == "":
        raise RecordFault("missing timestamp: the index file gives no acquisition time")
    try:
        stamp = pd.Timestamp(str(raw).strip())
    except (ValueError, TypeError) as error:
        raise RecordFault(f"unparsable timestamp: {raw!r} ({error})") from None
    if pd.isna(stamp):
        raise RecordFault(f"unparsable timestamp: {raw!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _first_occurrences(rows: list[dict], ledger: ExclusionLedger) -> list[dict]:
    """Drop repeated record ids (keeping the first in index-file order) into the ledger."""
    seen: dict[str, int] = {}
    unique = []
    for row in sorted(rows, key=lambda r: r["manifest_row"]):
        rid = str(row["record_id"])
        if rid in seen:
            ledger.exclude(rid, row.get("source_path"),
                           f"duplicate id: record {rid} appears again at index row {row['manifest_row']} "
                           f"(first at row {seen[rid]}); the first occurrence is kept")
            continue
        seen[rid] = row["manifest_row"]
        unique.append(row)
    return unique


def _as_float(value):
    try:
        out = float(value)
    except (TypeError, ValueError):
        return np.nan
    return out


# ----------------------------------------------------------------------------------------------
# ECGs
def ingest_ecg_shard(rows: list[dict], reader, *, cohort: str, dataset: str, shard: int,
                     min_duration_s: float, log: logging.Logger) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open every ECG of one shard; return (kept index rows, excluded ledger rows)."""
    ledger = ExclusionLedger(stage="ingest_ecgs", cohort=cohort)
    kept = []
    unique = _first_occurrences(rows, ledger)
    progress = Progress(log, len(unique), f"{cohort} ECG shard {shard}")
    for row in unique:
        progress.step()
        rid, path = str(row["record_id"]), row.get("source_path")
        try:
            record = reader.read_ecg(row, min_duration_s=min_duration_s)
            # UK Biobank XML carries its acquisition time inside the record, not in an index file
            acquired_at = parse_acquired_at(row.get("acquired_at") or record.extra.get("acquired_at"))
            digest = record_sha256(reader, row, record)
        except RecordFault as fault:
            ledger.exclude(rid, path, fault)
            continue
        kept.append({
            "ecg_id": rid,
            "patient_id": str(row["patient_id"]),
            "acquired_at": acquired_at,
            "dataset": dataset,
            "cohort": cohort,
            "source_path": str(path),
            "sha256": digest,
            "sampling_rate": float(record.sampling_rate),
            "n_samples": int(record.signal.shape[1]),
            "duration_s": float(record.duration_s),
            "shard": int(shard),
            "age": _as_float(row.get("age")),
            "sex": None if row.get("sex") is None else str(row.get("sex")),
            "dataset_split": None if row.get("split") is None else str(row.get("split")),
            "npy_row": None if row.get("npy_row") is None else int(row["npy_row"]),
        })
    log.info("%s ECG shard %d: read %d, kept %d, excluded %d", cohort, shard, len(rows), len(kept), len(ledger))
    return ecg_frame(kept), ledger.to_frame()


def record_sha256(reader, row: dict, record) -> str:
    """Content hash of one ECG: over its files, or over its signal where records share a file."""
    if getattr(reader, "RECORDS_SHARE_FILES", False):
        return hashlib.sha256(np.ascontiguousarray(record.signal).tobytes()).hexdigest()
    return sha256_of_files(row["source_files"])


def ecg_frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=ECG_COLUMNS + ECG_EXTRA_COLUMNS)
    frame["acquired_at"] = pd.to_datetime(frame["acquired_at"], utc=True)
    return frame.astype({
        "ecg_id": "string", "patient_id": "string", "dataset": "string", "cohort": "string",
        "source_path": "string", "sha256": "string", "sampling_rate": "float64", "n_samples": "int64",
        "duration_s": "float64", "shard": "int64", "age": "float64", "sex": "string",
        "dataset_split": "string", "npy_row": "Int64",
    })


# ----------------------------------------------------------------------------------------------
# echo views and studies
def ingest_echo_shard(rows: list[dict], reader, *, cohort: str, dataset: str, shard: int,
                      log: logging.Logger) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Probe every echo view (DICOM/AVI header, no pixel decoding) of one shard."""
    ledger = ExclusionLedger(stage="ingest_echos", cohort=cohort)
    kept = []
    unique = _first_occurrences(rows, ledger)
    progress = Progress(log, len(unique), f"{cohort} echo view shard {shard}")
    for row in unique:
        progress.step()
        rid, path = str(row["record_id"]), row.get("source_path")
        try:
            acquired_at = parse_acquired_at(row.get("acquired_at")) if row.get("acquired_at") not in (None, "") else pd.NaT
            header = reader.probe_view(path)
            if header.n_frames < 1:
                raise RecordFault(f"zero frames: {path} holds no image frame")
            digest = sha256_of_files(row["source_files"])
        except RecordFault as fault:
            ledger.exclude(rid, path, fault)
            continue
        kept.append({
            "view_id": rid, "study_id": str(row["study_id"]), "patient_id": str(row["patient_id"]),
            "acquired_at": acquired_at, "dataset": dataset, "cohort": cohort, "source_path": str(path),
            "sha256": digest, "n_frames": int(header.n_frames),
            "fps": np.nan if header.fps is None else float(header.fps),
            "height": int(header.height), "width": int(header.width),
            "samples_per_pixel": int(header.samples_per_pixel), "compressed": bool(header.compressed),
            "shard": int(shard),
        })
    log.info("%s echo shard %d: read %d, kept %d, excluded %d", cohort, shard, len(rows), len(kept), len(ledger))
    return view_frame(kept), ledger.to_frame()


def view_frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=VIEW_COLUMNS)
    frame["acquired_at"] = pd.to_datetime(frame["acquired_at"], utc=True)
    return frame.astype({
        "view_id": "string", "study_id": "string", "patient_id": "string", "dataset": "string",
        "cohort": "string", "source_path": "string", "sha256": "string", "n_frames": "int64",
        "fps": "float64", "height": "int64", "width": "int64", "samples_per_pixel": "int64",
        "compressed": "bool", "shard": "int64",
    })


def assemble_echo_studies(views: pd.DataFrame, study_manifest: pd.DataFrame, *, cohort: str,
                          dataset: str, study_list_path: str) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """One row per study with at least one readable view; returns (studies, excluded, n_read).

    Excluded: a repeated study id, a missing or unparsable study time, a study whose views were
    all unreadable (or that lists none).
    """
    ledger = ExclusionLedger(stage="ingest_echo_studies", cohort=cohort)
    n_views = views.groupby("study_id").size()
    n_cines = views[views["n_frames"] > 1].groupby("study_id").size()
    rows = []
    seen = set()
    for row in study_manifest.to_dict("records"):
        sid = str(row["study_id"])
        if sid in seen:
            ledger.exclude(sid, study_list_path, f"duplicate id: study {sid} is listed more than once; the first is kept")
            continue
        seen.add(sid)
        try:
            acquired_at = parse_acquired_at(row.get("acquired_at"))
        except RecordFault as fault:
            ledger.exclude(sid, study_list_path, fault)
            continue
        if sid not in n_views.index:
            ledger.exclude(sid, study_list_path, f"no readable views: study {sid} has no readable view file")
            continue
        rows.append({"study_id": sid, "patient_id": str(row["patient_id"]), "acquired_at": acquired_at,
                     "dataset": dataset, "cohort": cohort, "n_views": int(n_views[sid]),
                     "n_cine_views": int(n_cines.get(sid, 0))})
    studies = pd.DataFrame(rows, columns=STUDY_COLUMNS)
    studies["acquired_at"] = pd.to_datetime(studies["acquired_at"], utc=True)
    studies = studies.astype({"study_id": "string", "patient_id": "string", "dataset": "string",
                              "cohort": "string", "n_views": "int64", "n_cine_views": "int64"})
    return studies, ledger.to_frame(), len(study_manifest)


# ----------------------------------------------------------------------------------------------
# phenotypes
def ingest_phenotypes(raw: pd.DataFrame, *, entity: str, cohort: str, dataset: str,
                      source_path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep entities (studies, ECGs or patients) with at least one known phenotype; ledger the
    others (no parsable value, or a repeated id). Read = kept + excluded."""
    ledger = ExclusionLedger(stage="ingest_phenotypes", cohort=cohort)
    frame = raw.reset_index(drop=True).copy()
    frame["entity_id"] = frame["entity_id"].astype(str)
    for column in ("lvef", "lvedv", "lvesv", "lvsv", "shd"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce") if column in frame else np.nan
    frame["lvsv"] = frame["lvsv"].fillna(frame["lvedv"] - frame["lvesv"])
    known = frame[["lvef", "lvedv", "lvesv", "lvsv", "shd"]].notna().any(axis=1)
    duplicate = frame["entity_id"].duplicated(keep="first")
    for row in frame[duplicate].to_dict("records"):
        ledger.exclude(row["entity_id"], source_path,
                       f"duplicate id: {entity} {row['entity_id']} has more than one phenotype row; the first is kept")
    for row in frame[~known & ~duplicate].to_dict("records"):
        ledger.exclude(row["entity_id"], source_path,
                       f"missing phenotype: {entity} {row['entity_id']} has no parsable LVEF, volume or SHD value")
    kept = frame[known & ~duplicate].assign(entity=entity, cohort=cohort, dataset=dataset)
    kept = kept[PHENOTYPE_COLUMNS].astype({"entity": "string", "entity_id": "string", "patient_id": "string",
                                           "dataset": "string", "cohort": "string", "lvef": "float64",
                                           "lvedv": "float64", "lvesv": "float64", "lvsv": "float64",
                                           "shd": "float64"})
    return kept.reset_index(drop=True), ledger.to_frame()


def ingest_all_phenotypes(sources: dict, source_paths: dict, phenotype_readers: dict, *,
                          max_excluded_fraction: float, log: logging.Logger):
    """Phenotypes of every cohort. Returns (table, excluded, reconciliation)."""
    tables, ledgers, rows = [], [], []
    for cohort, source in sources.items():
        raw = phenotype_readers[cohort].read_phenotypes(source["root"])
        kept, excluded = ingest_phenotypes(raw, entity=source["entity"], cohort=cohort, dataset=source["reader"],
                                           source_path=source_paths[cohort])
        rows.append(reconcile("ingest_phenotypes", cohort, len(raw), len(kept), excluded, max_excluded_fraction))
        log.info("ingest_phenotypes %s: read %d %s rows, kept %d, excluded %d",
                 cohort, len(raw), source["entity"], len(kept), len(excluded))
        tables.append(kept)
        ledgers.append(excluded)
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=PHENOTYPE_COLUMNS)
    excluded = pd.concat([f for f in ledgers if len(f)] or [ledger_frame()], ignore_index=True)
    return table, excluded, pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# merging shards and reconciling counts
def concat_tables(paths, empty: pd.DataFrame | None = None) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in paths]
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty if empty is not None else ledger_frame()
    return pd.concat(frames, ignore_index=True)


def count_listed_records(listings: dict, kind: str) -> dict:
    """Records each cohort's index lists (the 'read' side of read = kept + excluded).

    ``listings`` maps cohort -> {"reader": name, "root": path}; ``kind`` is "ecg" or "echo".
    """
    from echo2ecg import readers

    counts = {}
    for cohort, listing in listings.items():
        reader = readers.reader_module(listing["reader"])
        manifest = reader.list_ecg_records(listing["root"]) if kind == "ecg" else reader.list_echo_views(listing["root"])
        counts[cohort] = len(manifest)
    return counts


def merge_ingested_shards(stage: str, index_paths, excluded_paths, records_read: dict, *, empty: pd.DataFrame,
                          id_column: str, max_excluded_fraction: float, log: logging.Logger):
    """Concatenate shard tables and ledgers; check read = kept + excluded and the exclusion fraction
    per cohort. Returns (table, excluded, reconciliation)."""
    table = concat_tables(index_paths, empty=empty)
    excluded = concat_tables(excluded_paths, empty=ledger_frame())
    rows = []
    for cohort, n_read in records_read.items():
        row = reconcile(stage, cohort, int(n_read), int((table["cohort"] == cohort).sum()),
                        excluded[excluded["cohort"] == cohort], max_excluded_fraction)
        rows.append(row)
        log.info("%s %s: read %d, kept %d, excluded %d", stage, cohort, row["read"], row["kept"], row["excluded"])
    duplicated = table.duplicated(["cohort", id_column])
    if duplicated.any():
        raise AssertionError(f"{stage}: ids kept twice across shards: {table.loc[duplicated, id_column].head().tolist()}")
    return table.reset_index(drop=True), excluded.reset_index(drop=True), pd.DataFrame(rows)


def assemble_all_echo_studies(views: pd.DataFrame, excluded_views: pd.DataFrame, reconciliation: pd.DataFrame,
                              roots: dict, echo_readers: dict, *, max_excluded_fraction: float,
                              log: logging.Logger):
    """Studies of every echo cohort from its study list and its readable views."""
    studies, ledgers, rows = [], [excluded_views], [reconciliation]
    for cohort, root in roots.items():
        reader = echo_readers[cohort]
        study_manifest = reader.list_echo_studies(root)
        study_list = str(study_manifest.attrs.get("source_path", root))
        c_studies, c_excluded, n_read = assemble_echo_studies(
            views[views["cohort"] == cohort], study_manifest, cohort=cohort, dataset=reader.__name__.rsplit(".", 1)[-1],
            study_list_path=study_list)
        rows.append(pd.DataFrame([reconcile("ingest_echo_studies", cohort, n_read, len(c_studies), c_excluded,
                                            max_excluded_fraction)]))
        log.info("ingest_echo_studies %s: read %d, kept %d, excluded %d", cohort, n_read, len(c_studies), len(c_excluded))
        studies.append(c_studies)
        ledgers.append(c_excluded)
    studies = pd.concat(studies, ignore_index=True) if studies else pd.DataFrame(columns=STUDY_COLUMNS)
    ledgers = [f for f in ledgers if len(f)]
    excluded = pd.concat(ledgers, ignore_index=True) if ledgers else ledger_frame()
    return studies, excluded, pd.concat(rows, ignore_index=True)
