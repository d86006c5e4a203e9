"""The assembled Echo2ECG model: trainable size at the paper preset, embeddings, and that it learns."""
import pytest
import torch

from echo2ecg.model import ECGEncoderConfig, ViewAggregationConfig, build_echo2ecg, clip_loss
from echo2ecg.model.ecg_encoder import count_parameters, otis_parameter_count

TINY = ECGEncoderConfig(patch_size=24, n_samples=96, embed_dim=32, depth=2, n_heads=2, drop_path=0.0)
TINY_AGG = ViewAggregationConfig(view_dim=16, dim=32, n_heads=4)


def test_trainable_parameters_at_the_paper_preset():
    model = build_echo2ecg()  # OTiS's attention module (attention_layout otis), as the paper
    total = count_parameters(model)
    assert count_parameters(model.ecg_encoder) == otis_parameter_count(ECGEncoderConfig())
    assert count_parameters(model.view_aggregator) == 4_723_712
    assert count_parameters(model.ecg_head) == 192 * 512 and count_parameters(model.echo_head) == 1024 * 512
    assert abs(total - 12.5e6) < 0.1e6  # the paper's 12.5 M
    # the fused layout: 4 D (D + 1) fewer per block
    fused = build_echo2ecg(ECGEncoderConfig(attention_layout="fused"))
    assert total - count_parameters(fused) == 12 * 4 * 192 * 193


def batch(B=6, V=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, 12, 96, generator=g)
    views = torch.randn(B, V, 16, generator=g)
    valid = torch.rand(B, V, generator=g) < 0.7
    valid[:, 0] = True
    return x, views, valid


def test_embeddings_and_loss():
    torch.manual_seed(0)
    model = build_echo2ecg(TINY, TINY_AGG).eval()
    x, views, valid = batch()
    assert model.encode_ecg(x).shape == (6, 32)
    assert model.embed_ecg(x).shape == (6, 512) and model.embed_study(views, valid).shape == (6, 512)
    assert torch.allclose(model.embed_ecg(x), model.ecg_head(model.encode_ecg(x)))
    expected = clip_loss(model.embed_ecg(x), model.embed_study(views, valid), tau=0.5)
    assert torch.allclose(model(x, views, valid), expected)


@pytest.mark.parametrize("kind", ["attention", "mean", "cls"])
def test_a_few_steps_lower_the_loss_on_a_fixed_batch(kind):
    torch.manual_seed(0)
    model = build_echo2ecg(TINY, ViewAggregationConfig(kind=kind, view_dim=16, dim=32, n_heads=4))
    x, views, valid = batch(B=16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = model(x, views, valid).item()
    for _ in range(50):
        optimizer.zero_grad()
        loss = model(x, views, valid)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.6 * first  # chance is log(16) = 2.77, the floor at tau 0.5 about 0.24



@pytest.mark.parametrize("mode", ["centre", "per_dimension"])
def test_view_standardisation_removes_a_common_component_and_scale(mode):
    """Stored embeddings dominated by one shared vector embed like the same embeddings without it."""
    torch.manual_seed(0)
    model = build_echo2ecg(TINY, TINY_AGG).eval()
    _, views, valid = batch(B=40)
    model.set_view_statistics(views, valid, mode)
    reference = model.embed_study(views, valid)
    g = torch.Generator().manual_seed(1)
    common = 20.0 * torch.randn(16, generator=g)
    # centre removes one overall scale, per_dimension each dimension's own
    scale = torch.rand(16, generator=g) * 3.0 + 0.1 if mode == "per_dimension" else torch.tensor(2.7)
    shifted = views * scale + common
    model.set_view_statistics(shifted, valid, mode)
    assert torch.allclose(model.embed_study(shifted, valid), reference, atol=1e-4)
    # padded slots stay padding: what lies there changes nothing
    garbage = torch.where(valid[..., None], shifted, torch.full_like(shifted, 1e3))
    assert torch.allclose(model.embed_study(garbage, valid), reference, atol=1e-4)
    # without statistics the map is the identity, and none resets to it
    fresh = build_echo2ecg(TINY, TINY_AGG)
    assert torch.equal(fresh.view_mean, torch.zeros(16)) and torch.equal(fresh.view_scale, torch.ones(16))
    model.set_view_statistics(shifted, valid, "none")
    assert torch.equal(model.view_mean, torch.zeros(16)) and torch.equal(model.view_scale, torch.ones(16))
    with pytest.raises(ValueError, match="standardisation"):
        model.set_view_statistics(views, valid, "whiten")


def test_centring_keeps_the_relative_variance_of_directions():
    """A dominant direction stays dominant under centre (per_dimension would equalise it)."""
    model = build_echo2ecg(TINY, TINY_AGG)
    g = torch.Generator().manual_seed(2)
    views = torch.randn(30, 5, 16, generator=g) * torch.tensor([10.0] + [0.1] * 15)
    valid = torch.ones(30, 5, dtype=torch.bool)
    model.set_view_statistics(views, valid, "centre")
    standardised = (views - model.view_mean) / model.view_scale
    spread = standardised.reshape(-1, 16).std(dim=0)
    assert spread[0] > 50 * spread[1:].max()
    assert abs(standardised.pow(2).mean().item() - 1.0) < 0.05
