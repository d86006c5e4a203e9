"""Projection heads and the CLIP loss against a hand computation of the paper's equation 1."""
import math

import pytest
import torch

from echo2ecg.model.projection import ProjectionHead, clip_loss


def direction_loss_by_hand(a, b, tau):
    """Equation 1: -1/B sum_i log(exp(cos(a_i, b_i)/tau) / sum_j exp(cos(a_i, b_j)/tau)), in plain Python."""
    rows = a.tolist()
    cols = b.tolist()

    def cos(u, v):
        dot = sum(x * y for x, y in zip(u, v))
        return dot / math.sqrt(sum(x * x for x in u)) / math.sqrt(sum(y * y for y in v))

    total = 0.0
    for i, u in enumerate(rows):
        sims = [math.exp(cos(u, v) / tau) for v in cols]
        total += -math.log(sims[i] / sum(sims))
    return total / len(rows)


@pytest.mark.parametrize("tau", [0.5, 0.1])
def test_clip_loss_is_equation_1_both_ways(tau):
    g = torch.Generator().manual_seed(0)
    ecg, echo = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    expected = 0.5 * direction_loss_by_hand(ecg, echo, tau) + 0.5 * direction_loss_by_hand(echo, ecg, tau)
    assert clip_loss(ecg, echo, tau=tau).item() == pytest.approx(expected, rel=1e-5)


def test_clip_loss_weighting_and_normalisation():
    g = torch.Generator().manual_seed(1)
    ecg, echo = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    e2s = direction_loss_by_hand(ecg, echo, 0.5)
    s2e = direction_loss_by_hand(echo, ecg, 0.5)
    assert e2s != pytest.approx(s2e)  # the two directions differ, so the weighting matters
    assert clip_loss(ecg, echo, ecg_weight=1.0).item() == pytest.approx(e2s, rel=1e-5)
    assert clip_loss(ecg, echo, ecg_weight=0.0).item() == pytest.approx(s2e, rel=1e-5)
    # L2-normalised inside: the scale of the embeddings does not matter
    assert torch.allclose(clip_loss(3 * ecg, 0.1 * echo), clip_loss(ecg, echo))


def test_clip_loss_is_low_for_aligned_pairs_and_chance_for_identical_ones():
    eye = torch.eye(8)
    # aligned, orthogonal pairs at tau 0.5: each row's own logit is 2, the others 0
    assert clip_loss(eye, eye).item() == pytest.approx(-math.log(math.e ** 2 / (math.e ** 2 + 7)), rel=1e-6)
    same = torch.ones(8, 4)
    assert clip_loss(same, same).item() == pytest.approx(math.log(8), rel=1e-6)


def test_projection_head_is_a_bias_free_linear():
    head = ProjectionHead(192)
    assert head.proj.bias is None and head.proj.weight.shape == (512, 192)
    assert sum(p.numel() for p in ProjectionHead(1024).parameters()) == 1024 * 512
    x = torch.randn(3, 192)
    assert torch.allclose(head(2 * x), 2 * head(x))  # linear, no offset
