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
    # the cls token is learnable and shared; the attention query is the study's own mean (no parameter)
    assert aggregator("cls").cls_token.requires_grad
    assert not any("token" in n or "query" in n for n, _ in aggregator("attention").named_parameters())


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


# ---- the authors' CLS pooling (RECIPE section 5) ------------------------------------------------
def test_cls_pooling_is_one_post_norm_layer_by_hand():
    module = aggregator("cls", n_heads=1)
    views, valid = studies(B=1)
    h = module.proj(views[0][valid[0]])  # (n, dim)
    attn = module.attn
    Wq, Wk, Wv = attn.in_proj_weight.chunk(3)
    bq, bk, bv = attn.in_proj_bias.chunk(3)
    token = module.cls_token[0, 0]
    q, k, v = token @ Wq.T + bq, h @ Wk.T + bk, h @ Wv.T + bv
    attended = attn.out_proj(torch.softmax(k @ q / h.shape[1] ** 0.5, dim=0) @ v)
    ln = torch.nn.functional.layer_norm
    t = ln(token + attended, (32,), module.norm1.weight, module.norm1.bias)      # residual, THEN LayerNorm
    ffn = module.mlp[2](torch.nn.functional.gelu(module.mlp[0](t)))
    expected = ln(t + ffn, (32,), module.norm2.weight, module.norm2.bias)
    assert torch.allclose(module(views, valid)[0], expected, atol=1e-5)
    # post-norm: the output is layer-normalised (a pre-norm layer would end on the raw residual sum)
    assert torch.allclose(expected, ln(expected, (32,), module.norm2.weight, module.norm2.bias), atol=1e-4)


def test_cls_pooling_structure_and_shape():
    module = aggregator("cls")
    assert module.mlp[0].out_features == 4 * 32 and isinstance(module.mlp[1], torch.nn.GELU)
    assert module.attn.dropout == 0.1 and module.mlp[3].p == 0.1
    assert module.cls_token.shape == (1, 1, 32)
    views, valid = studies(B=3, V=5)
    assert module(views, valid).shape == (3, 32)
    # trunc_normal_(std=0.02) as the authors call it (bounds +-2 in absolute units): spread 0.02, mean 0
    wide = build_view_aggregator(ViewAggregationConfig(kind="cls", view_dim=8, dim=4096, n_heads=4)).cls_token.detach()
    assert 0.019 < float(wide.std()) < 0.021 and abs(float(wide.mean())) < 0.002


def test_cls_pooling_dropout_only_in_train_mode():
    module = aggregator("cls")
    views, valid = studies()
    module.eval()
    assert torch.equal(module(views, valid), module(views, valid))
    module.train()
    torch.manual_seed(1)
    first = module(views, valid)
    torch.manual_seed(2)
    assert not torch.allclose(first, module(views, valid), atol=1e-4)
    no_dropout = build_view_aggregator(ViewAggregationConfig(kind="cls", cls_dropout=0.0, **SMALL)).train()
    assert torch.equal(no_dropout(views, valid), no_dropout(views, valid))
