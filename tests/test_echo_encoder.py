"""The frozen echo encoder: EchoPrime's module, strict loading, normalisation, and the embedding step."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from torch import nn

from echo2ecg import embed_echo_views
from echo2ecg.echo_encoder import (
    ECHOPRIME_MEAN, ECHOPRIME_STD, ECHOPRIME_VIEW_CLASSES, build_echo_encoder, clip_size_of, count_parameters,
    load_echoprime_state_dict, mvit_v2_s_block_setting, normalise_clips,
)
from echo2ecg.embed_echo_views import (
    STANDIN_DESCRIPTION, embed_clip_shard, encode_clips, encoded_view_count, load_frozen_echo_encoder,
)
from echo2ecg.prepare_echo_clips import write_clip_shard


@pytest.fixture(scope="module")
def paper_encoder() -> nn.Module:
    return build_echo_encoder("paper")


def test_paper_preset_is_mvit_v2_s_with_a_512_d_head(paper_encoder):
    head = paper_encoder.head[-1]
    assert isinstance(head, nn.Linear)
    assert (head.in_features, head.out_features) == (768, 512)
    # torchvision's mvit_v2_s has 34,537,744 parameters with its 400-class head; ours has a 512-d one
    assert count_parameters(paper_encoder) == 34_537_744 - 400 * 769 + 512 * 769
    assert clip_size_of(paper_encoder) == 224


@pytest.fixture(scope="module")
def echoprime_module() -> nn.Module:
    """EchoPrime's echo encoder as its authors build it (RECIPE.md section 4): torchvision's mvit_v2_s
    with head[-1] replaced by Linear(768, 512), here with seeded random weights, in evaluation mode."""
    torch.manual_seed(20261206)
    model = torchvision.models.video.mvit_v2_s(weights=None)
    model.head[-1] = nn.Linear(768, 512)
    return model.eval()


@pytest.fixture(scope="module")
def one_clip_and_reference(echoprime_module):
    """One uint8 clip (12 valid frames of 16) and the torchvision module's output for it."""
    clip = np.random.default_rng(3).integers(0, 256, (1, 16, 224, 224, 3), dtype=np.uint8)
    clip[:, 12:] = 0
    with torch.inference_mode():
        reference = echoprime_module(normalise_clips(clip, [12]))
    return clip, reference


def test_echoprime_checkpoint_with_its_exact_keys_loads_strictly_and_gives_the_same_output(
        echoprime_module, one_clip_and_reference, paper_encoder, tmp_path, monkeypatch):
    """echo_prime_encoder.pt as EchoPrime saves it (bare), and the same inside {"model": ...}: loaded with
    weights_only=True into the paper preset's module, the embedding equals torchvision's module's."""
    state = echoprime_module.state_dict()
    assert state["head.1.weight"].shape == (512, 768) and state["head.1.bias"].shape == (512,)
    assert {k.split(".")[0] for k in state} == {"conv_proj", "pos_encoding", "blocks", "norm", "head"}
    assert {int(k.split(".")[1]) for k in state if k.startswith("blocks.")} == set(range(16))
    assert "pos_encoding.class_token" in state
    clip, reference = one_clip_and_reference
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    for name, saved in (("bare", state), ("wrapped", {"model": state, "epoch": 60})):
        path = tmp_path / f"{name}_echo_prime_encoder.pt"
        torch.save(saved, path)
        with torch.no_grad():
            for parameter in paper_encoder.parameters():
                parameter.normal_()  # nothing of the previous weights may survive the load
        load_echoprime_state_dict(paper_encoder, path)
        loaded = paper_encoder.eval()
        for key, value in state.items():
            assert torch.equal(loaded.state_dict()[key], value), (name, key)
        if name == "bare":  # one forward pass (mvit_v2_s is slow on CPU); the wrapped file loads the same tensors
            embedding = encode_clips(loaded, clip, np.array([12]), "cpu")
            torch.testing.assert_close(torch.from_numpy(embedding), reference, rtol=1e-5, atol=1e-6)
    assert calls == [True, True]


def _expect_clear_failure(model, path, *fragments):
    """The load fails with a ValueError naming the file and the expected layout, and no chained torch error."""
    with pytest.raises(ValueError) as error:
        load_echoprime_state_dict(model, path)
    message = str(error.value)
    assert str(path) in message
    assert "expected a state dict" in message and "head[-1] = Linear" in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    chained = error.value.__cause__ or (None if error.value.__suppress_context__ else error.value.__context__)
    assert chained is None, chained  # no torch stack trace below it
    return message


def test_echoprime_view_classifier_is_refused_and_named(echoprime_module, paper_encoder, tmp_path):
    """EchoPrime's view classifier: the same backbone with an 11-class head."""
    state = dict(echoprime_module.state_dict())
    state["head.1.weight"] = torch.zeros(len(ECHOPRIME_VIEW_CLASSES), 768)
    state["head.1.bias"] = torch.zeros(len(ECHOPRIME_VIEW_CLASSES))
    path = tmp_path / "view_classifier.pt"
    torch.save(state, path)
    before = paper_encoder.head[-1].weight.clone()
    _expect_clear_failure(paper_encoder, path, "EchoPrime's view classifier (11 view classes: A2C,",
                          "head.1.weight (11, 768) (model (512, 768))", "echo_prime_encoder.pt",
                          "torchvision mvit_v2_s at 224 x 224 px with head[-1] = Linear(768, 512)")
    assert torch.equal(paper_encoder.head[-1].weight, before)  # nothing was loaded


def test_truncated_checkpoint_is_refused_with_a_clear_message(tmp_path):
    model = build_echo_encoder("demo", clip_size=32)
    whole = tmp_path / "whole.pt"
    torch.save(model.state_dict(), whole)
    data = whole.read_bytes()
    path = tmp_path / "echo_prime_encoder.pt"
    path.write_bytes(data[: len(data) // 2])
    _expect_clear_failure(model, path, "cannot load echo encoder checkpoint", "truncated")


@pytest.mark.parametrize("content", ["tensor", "metadata", "list"])
def test_a_file_that_is_not_a_state_dict_is_refused_with_a_clear_message(tmp_path, content):
    model = build_echo_encoder("demo", clip_size=32)
    saved = {"tensor": torch.zeros(3), "metadata": {"epoch": 3, "lr": 0.1}, "list": [torch.zeros(2)]}[content]
    path = tmp_path / f"{content}.pt"
    torch.save(saved, path)
    _expect_clear_failure(model, path, "it is not a state dict")


def test_block_table_matches_torchvision(monkeypatch):
    """The 16-block table the demo preset truncates is the one torchvision's mvit_v2_s builds."""
    captured = {}

    def capture(block_setting, **kwargs):
        captured["block_setting"] = block_setting
        return nn.Identity()

    monkeypatch.setattr(torchvision.models.video.mvit, "_mvit", capture)
    torchvision.models.video.mvit.mvit_v2_s(weights=None)
    assert captured["block_setting"] == mvit_v2_s_block_setting(16)
    assert mvit_v2_s_block_setting(5) == captured["block_setting"][:5]


def test_echoprime_state_dict_round_trips_strictly(paper_encoder, tmp_path):
    saved = {k: v.clone() for k, v in paper_encoder.state_dict().items()}
    path = tmp_path / "echo_prime_encoder.pt"
    torch.save({f"module.{k}": v for k, v in saved.items()}, path)  # with a DataParallel prefix
    with torch.no_grad():
        for parameter in paper_encoder.parameters():
            parameter.zero_()
    load_echoprime_state_dict(paper_encoder, path)
    restored = paper_encoder.state_dict()
    assert set(restored) == set(saved)
    for key, value in saved.items():
        assert torch.equal(restored[key], value), key


def test_wrong_keys_fail_with_a_message_naming_file_and_keys(paper_encoder, tmp_path):
    state = dict(paper_encoder.state_dict())
    state["head.2.weight"] = state.pop("head.1.weight")
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(ValueError) as error:
        load_echoprime_state_dict(paper_encoder, path)
    message = str(error.value)
    assert str(path) in message
    assert "missing keys [head.1.weight]" in message
    assert "unexpected keys [head.2.weight]" in message


def test_kinetics_head_shape_fails_naming_the_shape(paper_encoder, tmp_path):
    state = dict(paper_encoder.state_dict())
    state["head.1.weight"] = torch.zeros(400, 768)
    state["head.1.bias"] = torch.zeros(400)
    path = tmp_path / "kinetics.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"head\.1\.weight \(400, 768\) \(model \(512, 768\)\)"):
        load_echoprime_state_dict(paper_encoder, path)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"model": logging.getLogger("x")}, path)  # arbitrary object: weights_only refuses it
    with pytest.raises(ValueError, match="cannot load echo encoder checkpoint"):
        load_echoprime_state_dict(build_echo_encoder("demo", clip_size=32), path)


def test_demo_preset_outputs_512_d_embeddings():
    model = build_echo_encoder("demo").eval()
    assert 4.0e6 < count_parameters(model) < 5.5e6
    assert clip_size_of(model) == 112
    clips = np.random.default_rng(0).integers(0, 256, (2, 16, 112, 112, 3), dtype=np.uint8)
    with torch.inference_mode():
        out = model(normalise_clips(clips, [16, 9]))
    assert out.shape == (2, 512)
    assert torch.isfinite(out).all()


def test_paper_preset_refuses_other_clip_sizes():
    with pytest.raises(ValueError, match="16 x 224 x 224"):
        build_echo_encoder("paper", clip_size=112)
    with pytest.raises(ValueError, match="unknown echo encoder preset"):
        build_echo_encoder("large")


def test_normalise_clips_values_and_exact_zero_padding():
    rng = np.random.default_rng(1)
    clips = rng.integers(0, 256, (3, 16, 8, 8, 3), dtype=np.uint8)
    clips[1, 5:] = 0  # padding frames as prepare_echo_clips stores them
    n_valid = np.array([16, 5, 0])
    x = normalise_clips(clips, n_valid)
    assert x.shape == (3, 3, 16, 8, 8) and x.dtype == torch.float32
    mean = np.asarray(ECHOPRIME_MEAN, dtype=np.float32)
    std = np.asarray(ECHOPRIME_STD, dtype=np.float32)
    expected = ((clips.astype(np.float32) - mean) / std).transpose(0, 4, 1, 2, 3)
    np.testing.assert_allclose(x[0].numpy(), expected[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x[1, :, :5].numpy(), expected[1, :, :5], rtol=1e-6, atol=1e-6)
    # padding is exactly zero after normalisation (not -mean/std)
    assert (x[1, :, 5:] == 0).all() and not torch.signbit(x[1, :, 5:]).any()
    assert (x[2] == 0).all()
    assert (x[1, :, :5] != 0).any()


def _write_shard(tmp_path, n_views: int, size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n_views):
        n_valid = int(rng.integers(1, 17))
        clip = np.zeros((16, size, size, 3), dtype=np.uint8)
        clip[:n_valid] = rng.integers(0, 256, (n_valid, size, size, 3), dtype=np.uint8)
        items.append((f"view{i:03d}", clip, n_valid))
    npy, index = tmp_path / "clips.npy", tmp_path / "clips.parquet"
    write_clip_shard(items, npy, index, clip_shape=(16, size, size, 3))
    return npy, index, items


def test_embed_clip_shard_writes_embeddings_and_encodes_each_view_once(tmp_path, caplog):
    torch.manual_seed(0)
    model = build_echo_encoder("demo", clip_size=32).eval()
    npy, index, items = _write_shard(tmp_path, n_views=7, size=32)
    before = encoded_view_count()
    with caplog.at_level(logging.INFO, logger="echo2ecg.embed_echo_views"):
        summary = embed_clip_shard(npy, index, model, tmp_path / "emb.npy", tmp_path / "emb.parquet",
                                   batch_size=3, device="cpu", log=logging.getLogger("echo2ecg.embed_echo_views"))
    assert encoded_view_count() - before == 7 == summary["n_views"]
    assert embed_echo_views.ENCODED_VIEW_COUNT == encoded_view_count()
    assert f"views encoded by this process so far: {encoded_view_count()}" in caplog.text

    embeddings = np.load(tmp_path / "emb.npy")
    assert embeddings.shape == (7, 512) and embeddings.dtype == np.float32
    out_index = pd.read_parquet(tmp_path / "emb.parquet")
    assert list(out_index.columns) == ["view_id", "row"]
    assert list(out_index["view_id"]) == [view_id for view_id, _, _ in items]
    assert list(out_index["row"]) == list(range(7))
    # each row is that view's embedding (same as encoding it alone, fp32)
    view_id, clip, n_valid = items[4]
    with torch.inference_mode():
        alone = model(normalise_clips(clip[None], [n_valid])).numpy()
    np.testing.assert_allclose(embeddings[4], alone[0], rtol=1e-4, atol=1e-5)


def test_embed_clip_shard_rejects_clips_of_another_size(tmp_path):
    model = build_echo_encoder("demo", clip_size=32).eval()
    npy, index, _ = _write_shard(tmp_path, n_views=2, size=48)
    with pytest.raises(ValueError, match="clips are 48 px but the echo encoder takes 32 px"):
        embed_clip_shard(npy, index, model, tmp_path / "e.npy", tmp_path / "e.parquet", 2, "cpu", None)


def test_embed_empty_shard(tmp_path):
    model = build_echo_encoder("demo", clip_size=32).eval()
    npy, index, _ = _write_shard(tmp_path, n_views=0, size=32)
    summary = embed_clip_shard(npy, index, model, tmp_path / "e.npy", tmp_path / "e.parquet", 4, "cpu", None)
    assert summary["n_views"] == 0
    assert np.load(tmp_path / "e.npy").shape == (0, 512)
    assert len(pd.read_parquet(tmp_path / "e.parquet")) == 0


def test_load_frozen_echo_encoder_with_echoprime_weights(tmp_path):
    source = build_echo_encoder("demo", clip_size=32)
    path = tmp_path / "echoprime.pt"
    torch.save(source.state_dict(), path)
    model, description = load_frozen_echo_encoder(
        {"preset": "demo", "echoprime_checkpoint": str(path), "clip_size": 32})
    assert "EchoPrime" in description and str(path) in description
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert torch.equal(model.head[-1].weight, source.head[-1].weight)
    # at the preset's own clip size (112 px) the positional tables differ: the strict load fails
    with pytest.raises(ValueError, match="keys with another shape"):
        load_frozen_echo_encoder({"preset": "demo", "echoprime_checkpoint": str(path)})


def test_load_frozen_echo_encoder_uses_the_standin_and_says_so(tmp_path):
    trained = build_echo_encoder("demo", clip_size=32)
    path = tmp_path / "standin.pt"
    torch.save({"state_dict": trained.state_dict(), "preset": "demo", "targets": ["lvedv"],
                "metrics": {"ef_r2_after": 0.5}, "config": {"clip_size": 32}}, path)
    model, description = load_frozen_echo_encoder({"preset": "demo", "echoprime_checkpoint": None}, path)
    assert description.startswith(STANDIN_DESCRIPTION)
    assert "no EchoPrime weights configured; using the synthetic stand-in encoder trained by fit_echo_encoder" in description
    assert clip_size_of(model) == 32
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert torch.equal(model.head[-1].weight, trained.head[-1].weight)
    with pytest.raises(ValueError, match="preset 'paper'.*preset 'demo'"):
        load_frozen_echo_encoder({"preset": "paper", "echoprime_checkpoint": None}, path)
    with pytest.raises(ValueError, match="no stand-in checkpoint"):
        load_frozen_echo_encoder({"preset": "demo", "echoprime_checkpoint": None}, None)
