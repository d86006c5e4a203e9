"""Loading and validating the workflow configuration.

The schema (workflow/schemas/config.schema.yaml) rejects wrong types, unknown keys and
impossible values; :func:`validate_config` adds the checks a schema cannot express (ranges
with min <= max, split fractions summing to 1) and names the offending key in every message.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid. The message names the key."""


def _key_path(path) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in path]
    return ".".join(parts).replace(".[", "[") or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        where = f"{key}." if error.absolute_path else ""
        return f"unknown config key {', '.join(where + u for u in unknown)} (allowed here: {', '.join(sorted(allowed))})"
    if error.validator == "required":
        return f"config key {key}: {error.message}"
    return f"config key {key}: {error.message}"


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def validate_config(config: dict, schema_path: Path = SCHEMA_PATH) -> dict:
    """Validate ``config`` in place of running any job; raise ConfigError naming the key."""
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        # the deepest error is the most specific one (e.g. inside a cohort, not "not valid under ...")
        deepest = max(errors, key=lambda e: len(e.absolute_path))
        raise ConfigError(_describe(deepest))
    _check_ranges(config)
    return config


def _check_ranges(config: dict) -> None:
    synthetic = config["synthetic"]
    for key in ("ecgs_per_patient", "studies_per_patient", "views_per_study", "echo_frames", "echo_fps"):
        low, high = synthetic[key]
        if low > high:
            raise ConfigError(f"config key synthetic.{key}: minimum {low} is above maximum {high}")
    if synthetic["views_per_study"][0] < 1:
        raise ConfigError("config key synthetic.views_per_study: a study needs at least one view")
    fractions = config["split"]["fractions"]
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"config key split.fractions: fractions sum to {total:g}, not 1")
    encoder = config["echo_encoder"]
    if encoder["preset"] == "paper" and config["echo_clips"]["clip_size"] != 224:
        raise ConfigError("config key echo_clips.clip_size: the paper echo encoder (mvit_v2_s) takes 224 px clips, "
                          f"got {config['echo_clips']['clip_size']}")
    if encoder["echoprime_checkpoint"] and encoder["preset"] != "paper":
        raise ConfigError("config key echo_encoder.preset: EchoPrime weights load only into the paper preset (mvit_v2_s)")
    roles = [c["role"] for c in config["cohorts"].values()]
    if "pretrain" not in roles:
        raise ConfigError("config key cohorts: no cohort has role 'pretrain'")
    _check_pretrain(config)


def _check_pretrain(config: dict) -> None:
    """Model shapes the schema cannot check, and names that must refer to configured variants."""
    ecg = config["ecg_encoder"]
    if ecg["n_samples"] % ecg["patch_size"]:
        raise ConfigError(f"config key ecg_encoder.patch_size: {ecg['patch_size']} does not divide "
                          f"ecg_encoder.n_samples {ecg['n_samples']}")
    if ecg["embed_dim"] % ecg["n_heads"] or ecg["embed_dim"] % 2:
        raise ConfigError(f"config key ecg_encoder.embed_dim: {ecg['embed_dim']} must be even and divisible by "
                          f"ecg_encoder.n_heads {ecg['n_heads']}")
    if ecg["n_samples"] > config["ecg_preprocessing"]["n_samples"]:
        raise ConfigError(f"config key ecg_encoder.n_samples: {ecg['n_samples']} is longer than the preprocessed "
                          f"ECGs (ecg_preprocessing.n_samples {config['ecg_preprocessing']['n_samples']})")
    pretrain = config["pretrain"]
    replicates = pretrain["replicates"]
    if "seed" in pretrain and pretrain["seed"] != replicates[0]:
        raise ConfigError(f"config key pretrain.seed: {pretrain['seed']} is replaced by pretrain.replicates "
                          f"({replicates}); set pretrain.replicates: [{pretrain['seed']}] (or list several seeds) "
                          "and remove pretrain.seed")
    if pretrain["aggregator_dim"] % pretrain["aggregator_heads"]:
        raise ConfigError(f"config key pretrain.aggregator_heads: {pretrain['aggregator_heads']} does not divide "
                          f"pretrain.aggregator_dim {pretrain['aggregator_dim']}")
    own = config["embed_own_ecgs"]["variant"]
    if own not in pretrain["variants"]:
        raise ConfigError(f"config key embed_own_ecgs.variant: {own!r} is not a configured variant "
                          f"(pretrain.variants: {', '.join(pretrain['variants'])})")


def pretrain_variants(config: dict) -> list[str]:
    """The names of the configured pre-training variants (each a ``{variant}`` wildcard value)."""
    return list(config["pretrain"]["variants"])


def trained_variants(config: dict) -> list[str]:
    """The variants that are contrastively aligned (the others are their initial encoder)."""
    return [name for name, spec in config["pretrain"]["variants"].items() if spec["align"]]


SYNTHETIC_SUBDIR = ("raw", "synthetic")
ROOT_KEYS = ("ecg_root", "echo_root", "demographics")


def synthetic_root(config: dict) -> str:
    """Where synthesize_cohort writes: ``<results_dir>/raw/synthetic`` (follows results_dir)."""
    return os.path.join(config["results_dir"], *SYNTHETIC_SUBDIR)


def resolve_config(config: dict) -> dict:
    """The effective cohort set, in place (run before :func:`validate_config`).

    * ``cohorts`` empty or absent: the cohorts are a copy of ``demo_cohorts``. ``cohorts`` naming
      any cohort replaces the demo set as a whole: Snakemake merges config files key by key, so a
      user's file cannot remove the default's entries; keeping the demo set in its own key means
      no demo cohort, and no demo path such as ``demographics``, reaches a user's cohort.
    * ``pretrain.replicates`` given on the command line (strings of digits) become integers.
    * Roots of synthetic cohorts given as relative paths are relative to :func:`synthetic_root`;
      a root already under it is kept (idempotent).
    """
    if not config.get("cohorts"):
        config["cohorts"] = copy.deepcopy(config.get("demo_cohorts") or {})
    pretrain = config.get("pretrain")
    if isinstance(pretrain, dict) and isinstance(pretrain.get("replicates"), list):
        # --config 'pretrain={replicates: [42, 43]}' arrives as strings (Snakemake parses nested values as text)
        pretrain["replicates"] = [int(s) if isinstance(s, str) and s.isdigit() else s for s in pretrain["replicates"]]
    base = os.path.normpath(synthetic_root(config))
    for spec in config["cohorts"].values():
        if not isinstance(spec, dict) or not spec.get("synthetic"):
            continue
        for key in ROOT_KEYS:
            value = spec.get(key)
            if isinstance(value, str) and not os.path.isabs(value) and \
                    not os.path.normpath(value).startswith(base + os.sep):
                spec[key] = os.path.join(base, value)
    return config


def check_synthetic_roots(config: dict, synthetic_root: str) -> None:
    """Cohorts marked synthetic must read from the directory that synthesize_cohort writes."""
    prefix = os.path.normpath(synthetic_root)
    for name, spec in config["cohorts"].items():
        if not spec["synthetic"]:
            continue
        for key in ROOT_KEYS:
            if key in spec and not os.path.normpath(spec[key]).startswith(prefix + os.sep):
                raise ConfigError(f"config key cohorts.{name}.{key}: a synthetic cohort's root must lie under "
                                  f"{synthetic_root}/ (where synthesize_cohort writes), got {spec[key]!r}")

