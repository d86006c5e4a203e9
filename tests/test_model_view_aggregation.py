"""Echo view aggregation: padding and view order change nothing; each kind pools as documented."""
import pytest
import torch

from echo2ecg.model.ecg_encoder import count_parameters
from echo2ecg.model.view_aggregation import KINDS, ViewAggregationConfig, build_view_aggregator, masked_mean

SMALL = dict(view_dim=16, dim=32, n_heads=4)


def studies(B=5, V=7, view_dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    views = torch.randn(B, V, view_dim, generator=g)
    valid = torch.rand(B, V, generator=g) < 0.6
    valid[:, 0] = True
    return views, valid


def aggregator(kind, **kw):
    torch.manual_seed(0)
    return build_view_aggregator(ViewAggregationConfig(kind=kind, **{**SMALL, **kw})).eval()


def test_paper_preset_attention_aggregator():
    cfg = ViewAggregationConfig()
    assert (cfg.kind, cfg.view_dim, cfg.dim, cfg.n_heads) == ("attention", 512, 1024, 4)
    module = build_view_aggregator(cfg)
    # Linear 512 -> 1024, then one 1024-d MHA (in_proj 3 x, out_proj 1 x); no norm, no feed-forward
    assert count_parameters(module) == (512 * 1024 + 1024) + 4 * (1024 * 1024 + 1024) == 4_723_712
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in module.modules())
    views = torch.randn(2, 128, 512)
    valid = torch.zeros(2, 128, dtype=torch.bool)
    valid[0, :128] = True
    valid[1, :3] = True
    assert module(views, valid).shape == (2, 1024)


@pytest.mark.parametrize("kind", KINDS)
def test_padded_views_change_nothing(kind):
    module = aggregator(kind)
    views, valid = studies()
    if kind == "single":
        valid = torch.zeros_like(valid)
        valid[torch.arange(5), torch.tensor([0, 3, 6, 2, 1])] = True
    out = module(views, valid)
    # other content in the padding slots, and more padding slots appended
    noisy = torch.where(valid.unsqueeze(-1), views, 100 * torch.randn_like(views))
    longer = torch.cat([noisy, torch.randn(5, 9, 16) * 50], dim=1)
    longer_valid = torch.cat([valid, torch.zeros(5, 9, dtype=torch.bool)], dim=1)
    assert torch.allclose(module(noisy, valid), out, atol=1e-5)
    assert torch.allclose(module(longer, longer_valid), out, atol=1e-5)


@pytest.mark.parametrize("kind", ["attention", "mean", "cls"])
def test_permuting_views_changes_nothing(kind):
    module = aggregator(kind)
    views, valid = studies()
    out = module(views, valid)
    for seed in range(3):
        perm = torch.randperm(views.shape[1], generator=torch.Generator().manual_seed(seed))
        assert torch.allclose(module(views[:, perm], valid[:, perm]), out, atol=1e-5)


def test_attention_pooling_by_hand():
    module = aggregator("attention", n_heads=1)
    views, valid = studies(B=1)
    h = module.proj(views[0][valid[0]])  # (n, dim)
    attn = module.attn
    Wq, Wk, Wv = attn.in_proj_weight.chunk(3)
    bq, bk, bv = attn.in_proj_bias.chunk(3)
    q = h.mean(0) @ Wq.T + bq  # query = mean of the valid projected views
    k, v = h @ Wk.T + bk, h @ Wv.T + bv
    weights = torch.softmax(k @ q / h.shape[1] ** 0.5, dim=0)
    expected = attn.out_proj(weights @ v)
    assert torch.allclose(module(views, valid)[0], expected, atol=1e-5)


def test_study_outputs_differ_between_kinds_and_depend_on_views():
    views, valid = studies()
    outs = {kind: aggregator(kind)(views, valid) for kind in ("attention", "mean", "cls")}
    assert not torch.allclose(outs["attention"], outs["mean"])
    assert not torch.allclose(outs["cls"], outs["attention"])
    # the cls query is learnable and shared; the attention query is the study's own mean
    assert aggregator("cls").query.requires_grad and aggregator("attention").query is None


def test_mean_and_single_pooling():
    module = aggregator("mean")
    views, valid = studies()
    expected = torch.stack([module.proj(views[b][valid[b]]).mean(0) for b in range(5)])
    assert torch.allclose(module(views, valid), expected, atol=1e-5)
    single = aggregator("single")
    one = torch.zeros_like(valid)
    one[:, 2] = True
    assert torch.allclose(single(views, one), single.proj(views[:, 2]), atol=1e-6)


def test_masked_mean_ignores_invalid_entries():
    x = torch.tensor([[[1.0], [3.0], [1000.0]]])
    assert masked_mean(x, torch.tensor([[True, True, False]])).item() == 2.0


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        build_view_aggregator(ViewAggregationConfig(kind="max"))
