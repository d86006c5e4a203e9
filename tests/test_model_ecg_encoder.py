"""The OTiS-tiny ECG encoder: size, shapes, round trip, and the OTiS checkpoint adapter."""
import argparse

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from echo2ecg.model.ecg_encoder import (
    ECGEncoder,
    ECGEncoderConfig,
    count_parameters,
    load_otis_checkpoint,
    otis_parameter_count,
    sincos_embedding,
)

SMALL = ECGEncoderConfig(patch_size=24, n_samples=240, embed_dim=32, depth=2, n_heads=2, drop_path=0.0)


def test_paper_preset_numbers_are_the_recipe():
    cfg = ECGEncoderConfig()
    assert (cfg.n_leads, cfg.patch_size, cfg.n_samples, cfg.embed_dim, cfg.depth, cfg.n_heads) == (12, 24, 1008, 192, 12, 3)
    assert (cfg.mlp_ratio, cfg.qkv_bias, cfg.drop_path, cfg.ln_eps) == (4.0, True, 0.1, 1e-6)
    assert cfg.n_patches == 42 and cfg.n_leads * cfg.n_patches == 504


def test_parameter_count_paper_preset():
    D, depth, p = 192, 12, 24
    block = (D * 3 * D + 3 * D) + (D * D + D) + (D * 4 * D + 4 * D) + (4 * D * D + D) + 2 * 2 * D
    by_hand = (p * D + D) + 2 * D + D + 13 * D // 2 + depth * block + 2 * D  # patch conv+norm, cls, variates, blocks, norm
    encoder = ECGEncoder()
    assert count_parameters(encoder) == by_hand == 5_345_376
    # the paper's 7.1 M counts OTiS's doubled attention projections (MHA in_proj + out_proj per block)
    assert abs(otis_parameter_count(ECGEncoderConfig()) - 7.1e6) < 0.1e6
    assert otis_parameter_count(ECGEncoderConfig()) - by_hand == depth * 4 * D * (D + 1)


@pytest.mark.parametrize("cfg,T", [
    (SMALL, 240), (SMALL, 96), (SMALL, 480),  # shorter and longer than the configured 240 samples
    (ECGEncoderConfig(patch_size=48, n_samples=1008, embed_dim=64, depth=3, n_heads=4, drop_path=0.0), 1008),
])
def test_shapes_for_any_length_divisible_by_the_patch(cfg, T):
    torch.manual_seed(0)
    encoder = ECGEncoder(cfg).eval()
    x = torch.randn(3, 12, T)
    assert encoder.tokenize(x).shape == (3, 12 * T // cfg.patch_size, cfg.embed_dim)
    out = encoder(x)
    assert out.shape == (3, cfg.embed_dim) and torch.isfinite(out).all()


def test_rejects_a_length_not_divisible_by_the_patch():
    with pytest.raises(ValueError, match="divisible"):
        ECGEncoder(SMALL)(torch.randn(1, 12, 250))


def test_position_layout_variate_first_half_temporal_second_half():
    torch.manual_seed(0)
    encoder = ECGEncoder(SMALL)
    x = torch.zeros(1, 12, 240)
    patch = encoder.patch_embed(x)  # zero input: every patch token is the same vector
    tokens = encoder.tokenize(x).view(12, 10, 32) - patch[0]
    half = 16
    # variate half: one learnable row per lead (ids 1..12), the same at every patch
    assert torch.allclose(tokens[:, :, :half], encoder.variate_embedding.weight[1:, None, :].expand(12, 10, half))
    # temporal half: fixed sin-cos over the patch index, the same for every lead
    assert torch.allclose(tokens[:, :, half:], sincos_embedding(10, half)[None].expand(12, 10, half), atol=1e-6)
    assert torch.equal(encoder.variate_embedding.weight[0], torch.zeros(half))  # padding row
    assert not encoder.temporal_embedding.requires_grad


def test_representation_is_layernorm_of_the_mean_patch_token():
    torch.manual_seed(0)
    encoder = ECGEncoder(SMALL).eval()
    x = torch.randn(2, 12, 240)
    tokens = encoder.encode_tokens(encoder.tokenize(x))
    assert tokens.shape == (2, 1 + 120, 32)
    assert torch.allclose(encoder(x), encoder.norm(tokens[:, 1:].mean(1)))


def test_drop_path_only_in_training():
    torch.manual_seed(0)
    encoder = ECGEncoder(ECGEncoderConfig(**{**SMALL.__dict__, "drop_path": 0.5}))
    x = torch.randn(4, 12, 240)
    encoder.eval()
    assert torch.equal(encoder(x), encoder(x))
    encoder.train()
    assert not torch.allclose(encoder(x), encoder(x))


def test_initialisation_is_seeded():
    torch.manual_seed(3)
    a = ECGEncoder(SMALL).state_dict()
    torch.manual_seed(3)
    b = ECGEncoder(SMALL).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_own_checkpoint_round_trips_exactly(tmp_path):
    torch.manual_seed(0)
    encoder = ECGEncoder(SMALL).eval()
    torch.save(encoder.state_dict(), tmp_path / "encoder.pt")
    torch.manual_seed(1)
    other = ECGEncoder(SMALL).eval()
    x = torch.randn(2, 12, 240)
    assert not torch.equal(other(x), encoder(x))
    other.load_state_dict(torch.load(tmp_path / "encoder.pt", weights_only=True))
    assert torch.equal(other(x), encoder(x))


def test_from_dict_takes_model_numbers_and_ignores_other_keys():
    cfg = ECGEncoderConfig.from_dict({"depth": 4, "embed_dim": 96, "otis_checkpoint": None, "standin": {"steps": 3}})
    assert (cfg.depth, cfg.embed_dim, cfg.n_heads) == (4, 96, 3)


# --- OTiS checkpoints ----------------------------------------------------------------------

def write_otis_checkpoint(path, cfg, offset, table_rows=39, temporal_patches=20, norm="fc_norm"):
    """A checkpoint in OTiS's layout: doubled attention projections, multi-domain variate table."""
    g = torch.Generator().manual_seed(7)
    D, half = cfg.embed_dim, cfg.embed_dim // 2

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.2

    state = {
        "patch_embed.proj.weight": r(D, 1, 1, cfg.patch_size), "patch_embed.proj.bias": r(D),
        "patch_embed.norm.weight": 1 + r(D), "patch_embed.norm.bias": r(D),
        "cls_token": r(1, 1, D),
        "pos_embed_x": torch.cat([r(1, half), sincos_embedding(temporal_patches, half)])[None],
        "pos_embed_y.weight": torch.cat([torch.zeros(1, half), r(table_rows - 1, half)]),
        f"{norm}.weight": 1 + r(D), f"{norm}.bias": r(D),
        "decoder_embed.weight": r(8, D), "mask_token": r(1, 1, 8),
    }
    for i in range(cfg.depth):
        b = f"blocks.{i}."
        state.update({
            b + "norm1.weight": 1 + r(D), b + "norm1.bias": r(D), b + "norm2.weight": 1 + r(D), b + "norm2.bias": r(D),
            b + "attn.qkv.weight": r(3 * D, D), b + "attn.qkv.bias": r(3 * D),
            b + "attn.mha.in_proj_weight": r(3 * D, D), b + "attn.mha.in_proj_bias": r(3 * D),
            b + "attn.mha.out_proj.weight": r(D, D), b + "attn.mha.out_proj.bias": r(D),
            b + "attn.proj.weight": r(D, D), b + "attn.proj.bias": r(D),
            b + "mlp.fc1.weight": r(4 * D, D), b + "mlp.fc1.bias": r(4 * D),
            b + "mlp.fc2.weight": r(D, 4 * D), b + "mlp.fc2.bias": r(D),
        })
    torch.save({"model": state, "domain_offsets": {"eeg": 0, "ecg": offset}, "epoch": 3,
                "args": argparse.Namespace(model="otis_tiny")}, path)
    return state


def otis_reference_forward(state, cfg, offset, x):
    """OTiS's forward written independently from its weights: qkv -> MultiheadAttention -> proj."""
    D, half, L = cfg.embed_dim, cfg.embed_dim // 2, cfg.n_leads
    h = F.conv2d(x.unsqueeze(1), state["patch_embed.proj.weight"], state["patch_embed.proj.bias"], stride=(1, cfg.patch_size))
    h = F.gelu(F.layer_norm(h.permute(0, 2, 3, 1), (D,), state["patch_embed.norm.weight"], state["patch_embed.norm.bias"]))
    P = h.shape[2]
    pos_x = state["pos_embed_x"][0]
    variates = state["pos_embed_y.weight"][offset + 1 + torch.arange(L)]
    pos = torch.cat([variates[:, None].expand(L, P, half), pos_x[1:P + 1][None].expand(L, P, half)], -1)
    h = (h + pos).flatten(1, 2)
    cls = state["cls_token"] + torch.cat([torch.zeros(half), pos_x[0]])
    h = torch.cat([cls.expand(h.shape[0], -1, -1), h], 1)
    for i in range(cfg.depth):
        b = f"blocks.{i}."
        mha = nn.MultiheadAttention(D, cfg.n_heads, batch_first=True)
        mha.load_state_dict({"in_proj_weight": state[b + "attn.mha.in_proj_weight"], "in_proj_bias": state[b + "attn.mha.in_proj_bias"],
                             "out_proj.weight": state[b + "attn.mha.out_proj.weight"], "out_proj.bias": state[b + "attn.mha.out_proj.bias"]})
        y = F.layer_norm(h, (D,), state[b + "norm1.weight"], state[b + "norm1.bias"], eps=cfg.ln_eps)
        q, k, v = F.linear(y, state[b + "attn.qkv.weight"], state[b + "attn.qkv.bias"]).chunk(3, dim=-1)
        a, _ = mha(q, k, v)
        h = h + F.linear(a, state[b + "attn.proj.weight"], state[b + "attn.proj.bias"])
        y = F.layer_norm(h, (D,), state[b + "norm2.weight"], state[b + "norm2.bias"], eps=cfg.ln_eps)
        y = F.linear(F.gelu(F.linear(y, state[b + "mlp.fc1.weight"], state[b + "mlp.fc1.bias"])),
                     state[b + "mlp.fc2.weight"], state[b + "mlp.fc2.bias"])
        h = h + y
    return F.layer_norm(h[:, 1:].mean(1), (D,), state["fc_norm.weight"], state["fc_norm.bias"], eps=cfg.ln_eps)


def test_otis_checkpoint_loads_to_the_same_function(tmp_path):
    offset = 4
    state = write_otis_checkpoint(tmp_path / "otis.pth", SMALL, offset)
    encoder = ECGEncoder(SMALL).eval()
    report = load_otis_checkpoint(encoder, tmp_path / "otis.pth")  # offset from the checkpoint's domain table
    assert report["ecg_domain_offset"] == offset and report["variate_table_rows"] == 39
    assert report["folded_attention_blocks"] == SMALL.depth
    assert "decoder_embed.weight" in report["ignored"] and "mask_token" in report["ignored"]
    assert report["kept_initialised"] == []
    # the ECG domain's 12 rows of the 39, plus a zero padding row
    assert torch.equal(encoder.variate_embedding.weight[1:], state["pos_embed_y.weight"][offset + 1:offset + 13])
    assert torch.equal(encoder.variate_embedding.weight[0], torch.zeros(SMALL.embed_dim // 2))
    x = torch.randn(3, 12, 240)
    with torch.no_grad():
        assert torch.allclose(encoder(x), otis_reference_forward(state, SMALL, offset, x), atol=1e-4)


def test_otis_offset_argument_overrides_the_checkpoint(tmp_path):
    state = write_otis_checkpoint(tmp_path / "otis.pth", SMALL, offset=4)
    encoder = ECGEncoder(SMALL)
    report = load_otis_checkpoint(encoder, tmp_path / "otis.pth", ecg_domain_offset=20)
    assert report["variate_rows"] == [21, 33]
    assert torch.equal(encoder.variate_embedding.weight[1:], state["pos_embed_y.weight"][21:33])
    with pytest.raises(ValueError, match="rows"):
        load_otis_checkpoint(ECGEncoder(SMALL), tmp_path / "otis.pth", ecg_domain_offset=30)


def test_otis_temporal_embedding_interpolated_when_the_checkpoint_has_fewer_patches(tmp_path):
    state = write_otis_checkpoint(tmp_path / "otis.pth", SMALL, offset=4, temporal_patches=5, norm="norm")
    encoder = ECGEncoder(SMALL)  # 10 patches
    report = load_otis_checkpoint(encoder, tmp_path / "otis.pth")
    assert report["temporal_interpolated"] and report["temporal_patches_checkpoint"] == 5
    assert report["representation_norm_from"] == "norm"  # a pre-trained MAE encoder has no fc_norm
    table = state["pos_embed_x"][0, 1:]
    expected = F.interpolate(table.T[None], size=10, mode="linear", align_corners=False)[0].T
    assert torch.allclose(encoder.temporal_embedding, expected)
    # and the interpolated table travels with our own checkpoint
    torch.save(encoder.state_dict(), tmp_path / "ours.pt")
    again = ECGEncoder(SMALL)
    again.load_state_dict(torch.load(tmp_path / "ours.pt", weights_only=True))
    assert torch.equal(again.temporal_embedding, encoder.temporal_embedding)


def test_otis_checkpoint_of_another_width_is_refused(tmp_path):
    write_otis_checkpoint(tmp_path / "otis.pth", SMALL, offset=4)
    wider = ECGEncoderConfig(**{**SMALL.__dict__, "embed_dim": 64})
    with pytest.raises(ValueError, match="shape"):
        load_otis_checkpoint(ECGEncoder(wider), tmp_path / "otis.pth")
