"""The stand-in echo encoder: a short supervised fit on a separate synthetic corpus.

A fit long enough to show that the stand-in's embeddings beat a random encoder's (minutes of
CPU) is too slow for a unit test; ``fit_echo_encoder`` reports that comparison in its metrics
(``ef_r2_before`` / ``ef_r2_after``). Here a tiny fit checks the training loop, the checkpoint
contract and the metric itself.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from echo2ecg.echo_encoder import build_echo_encoder, clip_size_of
from echo2ecg.embed_echo_views import STANDIN_DESCRIPTION, load_frozen_echo_encoder
from echo2ecg.fit_echo_encoder import embed_views, fit_config, fit_echo_encoder, render_views, ridge_r2
from echo2ecg.prepare_echo_clips import EchoClipPreparation

TINY_FIT = {
    "seed": 5, "n_patients": 60, "held_out_fraction": 0.25, "views_per_patient": 2,
    "steps": 12, "batch_size": 4, "lr": 1e-3, "warmup_steps": 2,  # 2e-3 at batch 4 can diverge in 12 steps
    "clip_size": 32, "preset": "demo", "frame_size": [96, 120], "n_frames": [20, 40],
}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    path = tmp_path_factory.mktemp("standin") / "echo_encoder_standin.pt"
    metrics = fit_echo_encoder(TINY_FIT, path, logging.getLogger("test.fit_echo_encoder"))
    return path, metrics


def test_fit_config_names_unknown_keys():
    with pytest.raises(ValueError, match="unknown fit_echo_encoder key.*n_epochs"):
        fit_config({"n_epochs": 3})
    assert fit_config({"preset": "paper", "clip_size": 64})["clip_size"] == 224


def test_ridge_r2_separates_informative_from_uninformative_features():
    rng = np.random.default_rng(0)
    target = rng.normal(size=120)
    groups = np.repeat(np.arange(60), 2)
    informative = np.column_stack([target + 0.1 * rng.normal(size=120), rng.normal(size=(120, 20))])
    noise = rng.normal(size=(120, 21))
    assert ridge_r2(informative, target, groups) > 0.9
    assert ridge_r2(noise, target, groups) < 0.1


def test_render_views_prepares_clips_like_real_views():
    cfg = fit_config(TINY_FIT)
    rng = np.random.default_rng(1)
    hearts = [{"lvedv": 120.0, "lvesv": 50.0, "lvef": 58.3, "wall_mm": 9.0, "shd": 0, "heart_rate": 70.0,
               "axis_deg": 40.0, "qrs_ms": 90.0, "age": 60.0, "sex": 1}] * 3
    clips, n_valid = render_views(hearts, rng, cfg, EchoClipPreparation(clip_size=32))
    assert clips.shape == (3, 16, 32, 32, 3) and clips.dtype == np.uint8
    assert ((n_valid >= 10) & (n_valid <= 16)).all()  # 20-40 frame cines, every 2nd of the first 32
    for clip, valid in zip(clips, n_valid):
        assert clip[:valid].any() and not clip[valid:].any()  # padding frames are zero


def test_short_fit_trains_and_saves_a_loadable_standin(fitted):
    path, metrics = fitted
    assert metrics["steps"] == TINY_FIT["steps"]
    assert metrics["n_train_patients"] == 45 and metrics["n_held_out_views"] == 30
    for key in ("ef_r2_before", "ef_r2_after", "lvedv_r2_after", "held_out_loss_before", "held_out_loss_after"):
        assert np.isfinite(metrics[key]), key
    assert metrics["train_loss_last"] < metrics["train_loss_first"]

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert set(checkpoint) == {"state_dict", "preset", "targets", "metrics", "config"}
    assert checkpoint["preset"] == "demo" and checkpoint["targets"] == ["lvedv", "lvesv", "lvef", "wall_mm", "shd"]
    assert checkpoint["metrics"] == metrics
    assert checkpoint["config"]["clip_size"] == 32 and len(checkpoint["config"]["target_std"]) == 5

    model, description = load_frozen_echo_encoder({"preset": "demo", "echoprime_checkpoint": None}, path)
    assert description.startswith(STANDIN_DESCRIPTION)
    assert clip_size_of(model) == 32 and not model.training
    assert not any(p.requires_grad for p in model.parameters())

    # the weights moved away from the initialisation the fit started from (same seed)
    torch.manual_seed(TINY_FIT["seed"])
    initial = build_echo_encoder("demo", clip_size=32)
    assert not torch.equal(initial.head[-1].weight, model.head[-1].weight)

    # the stand-in embeds prepared views of new patients deterministically, as finite 512-d vectors
    rng = np.random.default_rng(99)
    hearts = [{"lvedv": 160.0, "lvesv": 110.0, "lvef": 31.0, "wall_mm": 13.0, "shd": 1, "heart_rate": 80.0,
               "axis_deg": 0.0, "qrs_ms": 120.0, "age": 70.0, "sex": 0}] * 2
    clips, n_valid = render_views(hearts, rng, fit_config(TINY_FIT), EchoClipPreparation(clip_size=32))
    first, second = embed_views(model, clips, n_valid), embed_views(model, clips, n_valid)
    assert first.shape == (2, 512) and np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)


def test_fitted_standin_generalises_its_objective_to_held_out_patients(tmp_path):
    """On held-out patients of the stand-in's own corpus, the training objective (z-scored EDV and
    ESV through the readout) before vs after a short fit of a fixed number of steps. (A random
    encoder's ridge R2 of the volumes is already high on the decorrelating-speckle cines, so the
    objective, not the ridge R2, is what the fit must improve.) Measured (2026-12-07, the default
    opencv_cubic resize): 1.235 -> 0.370; with pil_antialias 1.206 -> 0.414."""
    cfg = {"seed": 1, "clip_size": 32, "steps": 120, "n_patients": 200,
           "held_out_fraction": 0.3, "views_per_patient": 4, "view_types": ["A4C"], "targets": ["lvedv", "lvesv"],
           "frame_size": [64, 80], "n_frames": [20, 40], "batch_size": 8, "lr": 1e-3}
    metrics = fit_echo_encoder(cfg, tmp_path / "standin.pt", logging.getLogger("test"))
    assert metrics["steps"] == 120
    assert metrics["held_out_loss_after"] < 0.6 * metrics["held_out_loss_before"], metrics


def test_fit_is_reproducible_bit_for_bit_on_cpu(tmp_path):
    """The same config trains the same encoder: two fits give equal state dicts (steps, not seconds)."""
    cfg = {**TINY_FIT, "n_patients": 16, "views_per_patient": 1, "steps": 3, "batch_size": 2, "ridge_folds": 2}
    states = []
    for run in ("first", "second"):
        fit_echo_encoder(cfg, tmp_path / f"{run}.pt", logging.getLogger("test"))
        states.append(torch.load(tmp_path / f"{run}.pt", map_location="cpu", weights_only=True)["state_dict"])
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    # and a different seed trains a different encoder (the comparison can fail)
    fit_echo_encoder({**cfg, "seed": cfg["seed"] + 1}, tmp_path / "other.pt", logging.getLogger("test"))
    other = torch.load(tmp_path / "other.pt", map_location="cpu", weights_only=True)["state_dict"]
    assert not all(torch.equal(states[0][k], other[k]) for k in other)
