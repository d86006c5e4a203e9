# Shared set-up and input functions of the Echo2ECG workflow (no rules in this file).
import functools
import os
import sys

sys.path.insert(0, workflow.basedir)

from echo2ecg import readers
from echo2ecg.code_lineage import add_code_params
from echo2ecg.config import ConfigError, check_synthetic_roots, pretrain_variants, resolve_config, synthetic_root, validate_config
from echo2ecg.evaluate.settings import report_targets
from echo2ecg.list_records import list_records, listing_digest, shard_file_digests
from echo2ecg.replicates import (
    TRAINING_ONLY_KEYS,
    pretrain_replicates,
    replicate_name,
    replicate_pretrain_section,
    replicate_seed,
)
from echo2ecg.sharding import shard_name

# A user's `cohorts` replaces demo_cohorts as a whole; synthetic roots follow results_dir.
resolve_config(config)
# A bad config fails here, before any job runs, with a message naming the key.
validate_config(config)

RESULTS = config["results_dir"]
SYNTHETIC_ROOT = synthetic_root(config)
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
# Seed replicates of pre-training (each a {replicate} wildcard value, seed<seed>); the first is the
# report's first replicate (figures, and the bootstrap CIs shown beside the mean over replicates).
REPLICATE_SEEDS = pretrain_replicates(config)
REPLICATES = [replicate_name(s) for s in REPLICATE_SEEDS]
FIRST_REPLICATE = REPLICATES[0]


wildcard_constraints:
    cohort="|".join(COHORTS),
    variant="|".join(VARIANTS),
    replicate="|".join(REPLICATES),
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


# What the DAG needs of a listing (ids, shards, files); the shard jobs read the full rows from
# their manifest files.
DAG_MANIFEST_COLUMNS = ["record_id", "shard", "source_path", "source_files"]


@functools.cache
def _ecg_manifest(cohort, index_mtime):
    spec = cohort_spec(cohort)
    return list_records(spec["ecg_reader"], "ecg", spec["ecg_root"], config["ingest"]["n_shards"])[DAG_MANIFEST_COLUMNS]


@functools.cache
def _echo_manifest(cohort, index_mtime):
    spec = cohort_spec(cohort)
    return list_records(spec["echo_reader"], "echo", spec["echo_root"], config["ingest"]["n_shards"])[DAG_MANIFEST_COLUMNS]


def _ecg_index_mtime(cohort):
    spec = cohort_spec(cohort)
    index = _index_paths(spec["ecg_root"], readers.INDEX_FILES[spec["ecg_reader"]])
    if spec["ecg_reader"] in readers.LISTED_BY_DIRECTORY:  # a new file changes the directory's mtime
        index += [os.path.join(dirpath, name) for dirpath, dirs, _ in os.walk(spec["ecg_root"]) for name in dirs] + [
            spec["ecg_root"]
        ]
    return _index_mtime(index)


def _echo_index_mtime(cohort):
    spec = cohort_spec(cohort)
    return _index_mtime(_index_paths(spec["echo_root"], readers.INDEX_FILES[spec["echo_reader"]]))


def ecg_manifest(cohort):
    _ensure_raw_data(cohort)
    return _ecg_manifest(cohort, _ecg_index_mtime(cohort))


def echo_manifest(cohort):
    _ensure_raw_data(cohort)
    return _echo_manifest(cohort, _echo_index_mtime(cohort))


# Per-shard digests of the records' files (path, size, mtime), computed once per DAG build: a
# shard job's params, so that a changed raw file reruns only its shard (see echo2ecg/list_records.py).
@functools.cache
def _ecg_digests(cohort, index_mtime):
    return shard_file_digests(_ecg_manifest(cohort, index_mtime), config["ingest"]["n_shards"])


@functools.cache
def _echo_digests(cohort, index_mtime):
    return shard_file_digests(_echo_manifest(cohort, index_mtime), config["ingest"]["n_shards"])


# ---- input functions and params of the listing and ingest rules -------------------------------
def ecg_index_files(wildcards):
    _ensure_raw_data(wildcards.cohort)
    spec = cohort_spec(wildcards.cohort)
    return _index_paths(spec["ecg_root"], readers.INDEX_FILES[spec["ecg_reader"]])


def echo_index_files(wildcards):
    _ensure_raw_data(wildcards.cohort)
    spec = cohort_spec(wildcards.cohort)
    return _index_paths(spec["echo_root"], readers.INDEX_FILES[spec["echo_reader"]])


def ecg_listing_digest(wildcards):
    return listing_digest(ecg_manifest(wildcards.cohort))


def echo_listing_digest(wildcards):
    return listing_digest(echo_manifest(wildcards.cohort))


def ecg_shard_digest(wildcards):
    _ensure_raw_data(wildcards.cohort)
    return _ecg_digests(wildcards.cohort, _ecg_index_mtime(wildcards.cohort))[int(wildcards.shard)]


def echo_shard_digest(wildcards):
    _ensure_raw_data(wildcards.cohort)
    return _echo_digests(wildcards.cohort, _echo_index_mtime(wildcards.cohort))[int(wildcards.shard)]


def ecg_shard_manifest(wildcards):
    """A shard's manifest (an input function: for a synthetic cohort its digest param needs the
    synthesize_cohort checkpoint, and Snakemake wants that dependency among the inputs)."""
    _ensure_raw_data(wildcards.cohort)
    return f"{RESULTS}/interim/manifests/{wildcards.cohort}/ecgs/{wildcards.shard}.parquet"


def echo_shard_manifest(wildcards):
    _ensure_raw_data(wildcards.cohort)
    return f"{RESULTS}/interim/manifests/{wildcards.cohort}/echo_views/{wildcards.shard}.parquet"


def ecg_listing_files(wildcards):
    """The files each cohort's ECGs are listed from (index files) and the shard manifests that
    list them: ingest_ecgs lists them again to count records read."""
    files = []
    for cohort in COHORTS:
        _ensure_raw_data(cohort)
        spec = cohort_spec(cohort)
        files += _index_paths(spec["ecg_root"], readers.INDEX_FILES[spec["ecg_reader"]])
        files += [f"{RESULTS}/interim/manifests/{cohort}/ecgs/{shard}.parquet" for shard in SHARDS]
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


def echo_truth_files(wildcards):
    """The generator's truth (view types, wall thickness) when an echo cohort is synthetic; else none."""
    if not any(cohort_spec(cohort)["synthetic"] for cohort in ECHO_COHORTS):
        return {}
    checkpoints.synthesize_cohort.get()
    return {"truth_views": f"{SYNTHETIC_ROOT}/truth/views.parquet", "truth_hearts": f"{SYNTHETIC_ROOT}/truth/hearts.parquet"}


# ---- pre-training and features (rules in pretrain.smk) -----------------------------------------
ECG_STANDIN = f"{RESULTS}/models/ecg_encoder_standin.pt"
ECG_STANDIN_CORPUS = {  # the stand-in's own ECG corpus (rule synthesize_ecg_standin_corpus)
    "ecgs": f"{RESULTS}/ecg_standin/corpus.npy",
    "hearts": f"{RESULTS}/ecg_standin/corpus_hearts.parquet",
}


def variant_spec(variant):
    """A variant's entry as its jobs see it (whether the default target builds it, and whether it is
    the paper's or an addition (its report marker), are not their business)."""
    return {k: v for k, v in config["pretrain"]["variants"][variant].items() if k not in ("in_default_target", "origin")}


def ecg_foundation(wildcards):
    """Where a variant's ECG encoder starts: OTiS's weights when configured, else the stand-in that
    fit_ecg_encoder trains; nothing for variants that start from random weights."""
    if variant_spec(wildcards.variant)["init"] != "foundation":
        return []
    otis = config["ecg_encoder"]["otis_checkpoint"]
    return otis if otis else ECG_STANDIN


def pretrain_section(replicate, leave_out=("variants",)):
    """config pretrain as one replicate's jobs see it: without the variants (each job gets only its own
    variant's entry) and the replicate list, with seed = the replicate's seed (so adding a replicate
    changes no existing job's params)."""
    return replicate_pretrain_section(config["pretrain"], replicate_seed(replicate), leave_out)


def pretrain_job_section(variant, replicate):
    """config pretrain as one pre-training job reads it: which checkpoint features use is not its business,
    and a variant that is not aligned reads none of the training-only keys (echo2ecg.replicates)."""
    training_only = () if variant_spec(variant)["align"] else TRAINING_ONLY_KEYS
    return pretrain_section(replicate, leave_out=("variants", "checkpoint", *training_only))


def extraction_section(replicate):
    """config pretrain as a feature or embedding extraction job reads it (no training-only key: a change
    of one reaches these jobs only through the checkpoints it changes)."""
    return pretrain_section(replicate, leave_out=("variants", *TRAINING_ONLY_KEYS))


def variant_checkpoint(variant, replicate):
    """The checkpoint features use (pretrain.checkpoint: best or last)."""
    return f"{RESULTS}/models/{variant}/{replicate}/{config['pretrain']['checkpoint']}.pt"


def own_ecg_files(wildcards):
    """The record files below embed_own_ecgs.root (none while it is unset)."""
    from echo2ecg.embed_own_ecgs import own_ecg_files as listed

    own = config["embed_own_ecgs"]
    return listed(own["root"], own["format"])


def model_targets(variants=None):
    targets = []
    for variant in DEFAULT_VARIANTS if variants is None else variants:
        for replicate in REPLICATES:
            models, features = f"{RESULTS}/models/{variant}/{replicate}", f"{RESULTS}/features/{variant}/{replicate}"
            targets += [f"{models}/{name}" for name in ("best.pt", "last.pt", "curve.parquet", "curve.png")]
            targets += [f"{features}/{cohort}.parquet" for cohort in COHORTS]
            targets += [f"{features}/aligned_{cohort}.parquet" for cohort in PRETRAIN_COHORTS]
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
    targets += report_targets(RESULTS, config, VARIANTS, PRETRAIN_COHORTS)  # evaluation and report
    return targets


def gpus_for(device):
    """GPUs a job asks its executor for (resources gpu=): one unless its stage is configured for
    the CPU. "auto" runs on CUDA where the node has it, so on a cluster it asks for one
    (Slurm: --gpus=1); the workstation profile's resources gpu=1 runs such jobs one at a time."""
    return 0 if device == "cpu" else 1
