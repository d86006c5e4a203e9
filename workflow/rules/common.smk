# Shared set-up and input functions of the Echo2ECG workflow (no rules in this file).
import functools
import os
import sys

sys.path.insert(0, workflow.basedir)

from echo2ecg import readers
from echo2ecg.config import ConfigError, validate_config, check_synthetic_roots, pretrain_variants
from echo2ecg.ingest import manifest_rows, shard_manifest
from echo2ecg.sharding import shard_name

# A bad config fails here, before any job runs, with a message naming the key.
validate_config(config)

RESULTS = config["results_dir"]
SYNTHETIC_ROOT = f"{RESULTS}/raw/synthetic"
check_synthetic_roots(config, SYNTHETIC_ROOT)

COHORTS = list(config["cohorts"])
ECHO_COHORTS = [c for c, spec in config["cohorts"].items() if "echo_reader" in spec]
SHARDS = [shard_name(i) for i in range(config["ingest"]["n_shards"])]
ENVS = f"{workflow.basedir}/envs"
# Pre-training and evaluation roles, and the pre-training variants (each a {variant} wildcard value).
PRETRAIN_COHORTS = [c for c, spec in config["cohorts"].items() if spec["role"] == "pretrain"]
DOWNSTREAM_COHORTS = [c for c, spec in config["cohorts"].items() if spec["role"] == "downstream"]
VARIANTS = pretrain_variants(config)
# the variants the default target builds (the others: target all_variants)
DEFAULT_VARIANTS = [v for v in VARIANTS if config["pretrain"]["variants"][v].get("in_default_target", True)]


wildcard_constraints:
    cohort="|".join(COHORTS),
    variant="|".join(VARIANTS),
    shard=r"\d{4}",


def cohort_spec(cohort):
    return config["cohorts"][cohort]


def _index_paths(root, names):
    return [os.path.join(root, name) for name in names]


def _index_mtime(paths):
    return tuple(os.path.getmtime(p) if os.path.exists(p) else None for p in paths)


def _ensure_raw_data(cohort):
    """For synthetic cohorts, wait for synthesize_cohort (a checkpoint) before listing records."""
    if cohort_spec(cohort)["synthetic"]:
        checkpoints.synthesize_cohort.get()


@functools.cache
def _ecg_manifest(cohort, index_mtime):
    spec = cohort_spec(cohort)
    reader = readers.ecg_reader(spec["ecg_reader"])
    manifest = reader.list_ecg_records(spec["ecg_root"])
    return shard_manifest(manifest, config["ingest"]["n_shards"])


@functools.cache
def _echo_manifest(cohort, index_mtime):
    spec = cohort_spec(cohort)
    reader = readers.echo_reader(spec["echo_reader"])
    manifest = reader.list_echo_views(spec["echo_root"])
    return shard_manifest(manifest, config["ingest"]["n_shards"])


def ecg_manifest(cohort):
    _ensure_raw_data(cohort)
    spec = cohort_spec(cohort)
    index = _index_paths(spec["ecg_root"], readers.INDEX_FILES[spec["ecg_reader"]])
    if spec["ecg_reader"] in readers.LISTED_BY_DIRECTORY:  # a new file changes the directory's mtime
        index += [os.path.join(dirpath, name) for dirpath, dirs, _ in os.walk(spec["ecg_root"]) for name in dirs] + [spec["ecg_root"]]
    return _ecg_manifest(cohort, _index_mtime(index))


def echo_manifest(cohort):
    _ensure_raw_data(cohort)
    spec = cohort_spec(cohort)
    index = _index_paths(spec["echo_root"], readers.INDEX_FILES[spec["echo_reader"]])
    return _echo_manifest(cohort, _index_mtime(index))


def _shard_files(manifest, shard):
    """Source files of one shard's records (of all records when shard is None)."""
    part = manifest if shard is None else manifest[manifest["shard"] == int(shard)]
    return sorted({f for files in part["source_files"] for f in files})


# ---- input functions and params of the ingest rules ------------------------------------------
def ecg_shard_files(wildcards):
    return _shard_files(ecg_manifest(wildcards.cohort), wildcards.shard)


def ecg_shard_records(wildcards):
    return manifest_rows(ecg_manifest(wildcards.cohort), int(wildcards.shard))


def echo_shard_files(wildcards):
    return _shard_files(echo_manifest(wildcards.cohort), wildcards.shard)


def echo_shard_records(wildcards):
    return manifest_rows(echo_manifest(wildcards.cohort), int(wildcards.shard))


def ecg_listing_files(wildcards):
    """The files each cohort's ECGs are listed from (index files, or the records themselves
    for formats listed by directory): ingest_ecgs lists them again to count records read."""
    files = []
    for cohort in COHORTS:
        _ensure_raw_data(cohort)
        spec = cohort_spec(cohort)
        files += _index_paths(spec["ecg_root"], readers.INDEX_FILES[spec["ecg_reader"]])
        if spec["ecg_reader"] in readers.LISTED_BY_DIRECTORY:
            files += _shard_files(ecg_manifest(cohort), None)
    return files


def echo_listing_files(wildcards):
    files = []
    for cohort in ECHO_COHORTS:
        _ensure_raw_data(cohort)
        spec = cohort_spec(cohort)
        files += _index_paths(spec["echo_root"], readers.INDEX_FILES[spec["echo_reader"]])
    return files


def raw_index_file(cohort, kind, names_by_reader):
    spec = cohort_spec(cohort)
    reader = spec[f"{kind}_reader"]
    return _index_paths(spec[f"{kind}_root"], names_by_reader[reader])


def echo_study_list_files(wildcards):
    files = {}
    for cohort in ECHO_COHORTS:
        _ensure_raw_data(cohort)
        files[cohort] = raw_index_file(cohort, "echo", readers.STUDY_LIST_FILES)[0]
    return files


def phenotype_source(cohort):
    spec = cohort_spec(cohort)
    kind = "echo" if "echo_reader" in spec else "ecg"
    return kind, spec[f"{kind}_reader"], spec[f"{kind}_root"]


def phenotype_files(wildcards):
    files = {}
    for cohort in COHORTS:
        _ensure_raw_data(cohort)
        kind, reader, root = phenotype_source(cohort)
        if reader in readers.PHENOTYPE_FILES:
            files[cohort] = _index_paths(root, readers.PHENOTYPE_FILES[reader])
    return files


def phenotype_sources(wildcards):
    sources = {}
    for cohort in COHORTS:
        kind, reader, root = phenotype_source(cohort)
        if reader in readers.PHENOTYPE_FILES:
            sources[cohort] = {"reader": reader, "root": root, "entity": readers.PHENOTYPE_ENTITY[reader]}
    return sources


def demographics_files(wildcards):
    """Optional demographics tables, named demographics_<cohort>."""
    files = {}
    for cohort, spec in config["cohorts"].items():
        if "demographics" in spec:
            _ensure_raw_data(cohort)
            files[f"demographics_{cohort}"] = spec["demographics"]
    return files


def echo_encoder_weights(wildcards):
    """EchoPrime's weights when configured, else the stand-in that fit_echo_encoder trains."""
    echoprime = config["echo_encoder"]["echoprime_checkpoint"]
    return echoprime if echoprime else f"{RESULTS}/models/echo_encoder_standin.pt"


# ---- pre-training and features (rules in pretrain.smk) -----------------------------------------
ECG_STANDIN = f"{RESULTS}/models/ecg_encoder_standin.pt"


def variant_spec(variant):
    """A variant's entry as its jobs see it (whether the default target builds it is not their business)."""
    return {k: v for k, v in config["pretrain"]["variants"][variant].items() if k != "in_default_target"}


def ecg_foundation(wildcards):
    """Where a variant's ECG encoder starts: OTiS's weights when configured, else the stand-in that
    fit_ecg_encoder trains; nothing for variants that start from random weights."""
    if variant_spec(wildcards.variant)["init"] != "foundation":
        return []
    otis = config["ecg_encoder"]["otis_checkpoint"]
    return otis if otis else ECG_STANDIN


def pretrain_section(leave_out=("variants",)):
    """config pretrain without the variants (each job gets only its own variant's entry)."""
    return {k: v for k, v in config["pretrain"].items() if k not in leave_out}


def variant_checkpoint(variant):
    """The checkpoint features use (pretrain.checkpoint: best or last)."""
    return f"{RESULTS}/models/{variant}/{config['pretrain']['checkpoint']}.pt"


def own_ecg_files(wildcards):
    """The record files below embed_own_ecgs.root (none while it is unset)."""
    from echo2ecg.embed_own_ecgs import own_ecg_files as listed

    own = config["embed_own_ecgs"]
    return listed(own["root"], own["format"])


def model_targets(variants=None):
    targets = []
    for variant in DEFAULT_VARIANTS if variants is None else variants:
        targets += [f"{RESULTS}/models/{variant}/{name}" for name in ("best.pt", "last.pt", "curve.parquet", "curve.png")]
        targets += [f"{RESULTS}/features/{variant}/{cohort}.parquet" for cohort in COHORTS]
        targets += [f"{RESULTS}/features/{variant}/aligned_{cohort}.parquet" for cohort in PRETRAIN_COHORTS]
    return targets


def all_targets():
    targets = [
        f"{RESULTS}/tables/ecgs.parquet",
        f"{RESULTS}/tables/echo_studies.parquet",
        f"{RESULTS}/tables/echo_views.parquet",
        f"{RESULTS}/tables/phenotypes.parquet",
        f"{RESULTS}/tables/pairs.parquet",
        f"{RESULTS}/tables/splits.parquet",
        f"{RESULTS}/tables/cohort_summary.csv",
        f"{RESULTS}/tables/cohort_summary.md",
        f"{RESULTS}/qc/excluded.parquet",
        f"{RESULTS}/qc/reconciliation.csv",
        f"{RESULTS}/ecg/index.parquet",
        f"{RESULTS}/echo/view_embeddings.parquet",
        f"{RESULTS}/echo/echo_embedding_phenotype.json",
    ]
    targets += model_targets()
    return targets
