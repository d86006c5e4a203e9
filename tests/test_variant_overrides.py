"""A variant entry may set its own view_standardisation and batching (unset: the pretrain-level
value), so that this workflow's additions run as variants beside the paper's method."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml

import echo2ecg.pretrain as pretrain_module
from echo2ecg.config import ConfigError, resolve_config, validate_config
from echo2ecg.logs import stage_logger
from echo2ecg.pretrain import PairTensors, PretrainConfig, VariantSpec, build_model, load_model_checkpoint, pretrain

REPO = Path(__file__).resolve().parents[1]
VIEW_DIM, N_SAMPLES = 8, 48
ECG_SECTION = {"patch_size": 24, "n_samples": N_SAMPLES, "embed_dim": 16, "depth": 1, "n_heads": 2, "mlp_ratio": 2.0,
               "drop_path": 0.0, "ln_eps": 1e-6, "otis_checkpoint": None, "otis_ecg_domain_offset": 0}
CFG = PretrainConfig.from_dict({"batch_size": 4, "epochs": 1, "warmup_epochs": 0, "max_views": 3, "view_dim": VIEW_DIM,
                                "aggregator_dim": 16, "aggregator_heads": 2, "projection_dim": 8, "device": "cpu",
                                "view_standardisation": "none", "batching": "random"})
LOG = stage_logger("test_variant_overrides")


def data(seed: int) -> PairTensors:
    g = torch.Generator().manual_seed(seed)
    views = torch.randn(8, 3, VIEW_DIM, generator=g) + 3.0  # a common offset, so centring shows
    return PairTensors(ecgs=torch.randn(8, 12, 96, generator=g), views=views, valid=torch.ones(8, 3, dtype=torch.bool),
                       pair_ecg=torch.arange(8), pair_study=torch.arange(8), ecg_ids=[f"E{i}" for i in range(8)],
                       study_ids=[f"S{i}" for i in range(8)], pair_patient=torch.arange(8) // 2)


def test_unset_keys_take_the_pretrain_level_value():
    plain = VariantSpec.from_config("echo2ecg", {"aggregation": "attention", "init": "random", "align": True})
    assert plain.pretrain_config(CFG) == CFG
    centred = VariantSpec.from_config("echo2ecg_centred", {"aggregation": "attention", "init": "random", "align": True,
                                                           "view_standardisation": "centre", "origin": "addition"})
    cfg = centred.pretrain_config(CFG)
    assert (cfg.view_standardisation, cfg.batching) == ("centre", "random")


def train(tmp_path: Path, spec: dict, monkeypatch) -> tuple[dict, list[str]]:
    batchings = []
    real = pretrain_module.epoch_order
    monkeypatch.setattr(pretrain_module, "epoch_order",
                        lambda group, batching, generator: batchings.append(batching) or real(group, batching, generator))
    variant = VariantSpec.from_config("v", spec)
    model, _ = build_model(CFG, ECG_SECTION, variant)
    pretrain(model, data(0), data(1), CFG, variant, N_SAMPLES, tmp_path / "state", tmp_path / "best.pt",
             tmp_path / "last.pt", {}, LOG, torch.device("cpu"))
    return load_model_checkpoint(tmp_path / "last.pt")["model"], batchings


def test_a_variant_trains_with_its_own_settings(tmp_path, monkeypatch):
    base = {"aggregation": "attention", "init": "random", "align": True}
    state, batchings = train(tmp_path / "paper", base, monkeypatch)
    assert batchings == ["random"] and torch.count_nonzero(state["view_mean"]) == 0
    state, batchings = train(tmp_path / "add", dict(base, view_standardisation="centre", batching="distinct_patients"),
                             monkeypatch)
    assert batchings == ["distinct_patients"]
    assert torch.allclose(state["view_mean"], data(0).views.reshape(-1, VIEW_DIM).mean(dim=0), atol=1e-5)


def test_schema_accepts_the_overrides_and_refuses_unknown_values():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["pretrain"]["variants"]["x"] = {"aggregation": "mean", "init": "foundation", "align": True,
                                          "view_standardisation": "per_dimension", "batching": "random",
                                          "origin": "addition"}
    validate_config(resolve_config(copy.deepcopy(config)))
    for key, value in (("batching", "by_study"), ("view_standardisation", "whiten"), ("origin", "ours")):
        bad = copy.deepcopy(config)
        bad["pretrain"]["variants"]["x"][key] = value
        with pytest.raises(ConfigError, match=f"pretrain.variants.x.{key}"):
            validate_config(resolve_config(bad))
