"""The OTiS-tiny ECG encoder: size, shapes, round trip, and the OTiS checkpoint adapter."""
import argparse
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from echo2ecg.model import ViewAggregationConfig, build_echo2ecg
from echo2ecg.model.ecg_encoder import (
    ECGEncoder,
    ECGEncoderConfig,
    OTiSCheckpointError,
    count_parameters,
    load_otis_checkpoint,
    otis_parameter_count,
    sincos_embedding,
)
from echo2ecg.model.optimizer import param_groups

SMALL = ECGEncoderConfig(patch_size=24, n_samples=240, embed_dim=32, depth=2, n_heads=2, drop_path=0.0)


def test_paper_preset_numbers_are_the_recipe():
    cfg = ECGEncoderConfig()
    assert (cfg.n_leads, cfg.patch_size, cfg.n_samples, cfg.embed_dim, cfg.depth, cfg.n_heads) == (12, 24, 1008, 192, 12, 3)
    assert (cfg.mlp_ratio, cfg.qkv_bias, cfg.drop_path, cfg.ln_eps) == (4.0, True, 0.1, 1e-6)
    assert cfg.n_patches == 42 and cfg.n_leads * cfg.n_patches == 504


def test_parameter_count_paper_preset_under_both_attention_layouts():
    # the architecture's arithmetic (RECIPE section 3): embed 192, depth 12, MLP 4, 12 leads x 42 patches of 24
    D, depth, p, leads = 192, 12, 24, 12

    def linear(n_in, n_out):
        return n_in * n_out + n_out

    outside = linear(p, D) + 2 * D + D + (leads + 1) * D // 2 + 2 * D  # patch conv + norm, cls, variates, norm
    shared = linear(D, 4 * D) + linear(4 * D, D) + 2 * 2 * D          # MLP, norm1, norm2
    fused_block = shared + linear(D, 3 * D) + linear(D, D)            # qkv, proj
    otis_block = fused_block + linear(D, 3 * D) + linear(D, D)        # + mha.in_proj, mha.out_proj
    otis = ECGEncoder(ECGEncoderConfig(attention_layout="otis"))
    fused = ECGEncoder(ECGEncoderConfig(attention_layout="fused"))
    assert count_parameters(otis) == outside + depth * otis_block
    assert count_parameters(fused) == outside + depth * fused_block
    assert abs(count_parameters(otis) - 7.1e6) < 0.1e6  # the paper's 7.1 M
    assert ECGEncoderConfig().attention_layout == "otis"  # the dataclass default is the paper's module
    assert otis_parameter_count(ECGEncoderConfig(attention_layout="fused")) == count_parameters(otis)
    # OTiS's attention module, by name
    attn = otis.blocks[0].attn
    assert isinstance(attn.mha, nn.MultiheadAttention) and attn.qkv.bias is not None
    assert {k for k in otis.state_dict() if k.startswith("blocks.0.attn.")} == {
        f"blocks.0.attn.{k}" for k in ("qkv.weight", "qkv.bias", "mha.in_proj_weight", "mha.in_proj_bias",
                                       "mha.out_proj.weight", "mha.out_proj.bias", "proj.weight", "proj.bias")}


def test_unknown_attention_layout_is_refused():
    with pytest.raises(ValueError, match="attention_layout"):
        ECGEncoderConfig(attention_layout="timm")


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


@pytest.mark.parametrize("layout", ["otis", "fused"])
def test_own_checkpoint_round_trips_exactly(tmp_path, layout):
    cfg = dataclasses.replace(SMALL, attention_layout=layout)
    torch.manual_seed(0)
    encoder = ECGEncoder(cfg).eval()
    torch.save(encoder.state_dict(), tmp_path / "encoder.pt")
    torch.manual_seed(1)
    other = ECGEncoder(cfg).eval()
    x = torch.randn(2, 12, 240)
    assert not torch.equal(other(x), encoder(x))
    other.load_state_dict(torch.load(tmp_path / "encoder.pt", weights_only=True))
    assert torch.equal(other(x), encoder(x))


def test_from_dict_takes_model_numbers_and_ignores_other_keys():
    cfg = ECGEncoderConfig.from_dict({"depth": 4, "embed_dim": 96, "otis_checkpoint": None, "standin": {"steps": 3}})
    assert (cfg.depth, cfg.embed_dim, cfg.n_heads) == (4, 96, 3)


# --- OTiS checkpoints ----------------------------------------------------------------------

# OTiS's variate table: row 0 padding, then every domain's variates; ECG at offset 4 (rows 5-16)
OTIS_DOMAINS = {"eeg_small": 0, "ecg": 4, "other": 16}
OTIS_TABLE_ROWS = 39


def otis_state(cfg, table_rows=OTIS_TABLE_ROWS, temporal_patches=20, norm="norm"):
    """A state dict in OTiS's exact layout (pre-training: encoder, decoder, mask token); variate row r
    carries the tag r / 100 in its first channel, so the rows taken can be read back."""
    g = torch.Generator().manual_seed(7)
    D, half = cfg.embed_dim, cfg.embed_dim // 2

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.2

    table = torch.cat([torch.zeros(1, half), r(table_rows - 1, half)])
    table[:, 0] = torch.arange(table_rows) / 100
    state = {
        "cls_token": r(1, 1, D),
        "pos_embed_x": torch.cat([r(1, half), sincos_embedding(temporal_patches, half) + r(temporal_patches, half)])[None],
        "pos_embed_y.weight": table,
        "patch_embed.proj.weight": r(D, 1, 1, cfg.patch_size), "patch_embed.proj.bias": r(D),
        "patch_embed.norm.weight": 1 + r(D), "patch_embed.norm.bias": r(D),
        f"{norm}.weight": 1 + r(D), f"{norm}.bias": r(D),
        "mask_token": r(1, 1, 8), "decoder_embed.weight": r(8, D), "decoder_embed.bias": r(8),
        "decoder_pred.weight": r(cfg.patch_size, 8), "decoder_pred.bias": r(cfg.patch_size),
    }
    for i in range(cfg.depth):
        b = f"blocks.{i}."
        state.update({
            b + "norm1.weight": 1 + r(D), b + "norm1.bias": r(D),
            b + "attn.qkv.weight": r(3 * D, D), b + "attn.qkv.bias": r(3 * D),
            b + "attn.mha.in_proj_weight": r(3 * D, D), b + "attn.mha.in_proj_bias": r(3 * D),
            b + "attn.mha.out_proj.weight": r(D, D), b + "attn.mha.out_proj.bias": r(D),
            b + "attn.proj.weight": r(D, D), b + "attn.proj.bias": r(D),
            b + "norm2.weight": 1 + r(D), b + "norm2.bias": r(D),
            b + "mlp.fc1.weight": r(4 * D, D), b + "mlp.fc1.bias": r(4 * D),
            b + "mlp.fc2.weight": r(D, 4 * D), b + "mlp.fc2.bias": r(D),
        })
    return state


def write_otis_checkpoint(path, cfg, domain_offsets=OTIS_DOMAINS, **kwargs):
    """The file OTiS's pre-training saves: {"model", "domain_offsets", "args", ...} (argparse args)."""
    state = otis_state(cfg, **kwargs)
    checkpoint = {"model": state, "epoch": 3, "args": argparse.Namespace(model="otis_tiny", input_size=(1, 12, 1008))}
    if domain_offsets is not None:
        checkpoint["domain_offsets"] = dict(domain_offsets)
    torch.save(checkpoint, path)
    return state


def otis_reference_forward(state, cfg, offset, x):
    """OTiS's forward written independently in plain tensor ops from the checkpoint's tensors:
    patch conv, LN, GELU, variate half + temporal half, blocks with qkv -> mha (in_proj, per-head
    softmax attention, out_proj) -> proj, MLP, mean over patch tokens, LayerNorm."""
    D, half, L, H = cfg.embed_dim, cfg.embed_dim // 2, cfg.n_leads, cfg.n_heads
    h = F.conv2d(x.unsqueeze(1), state["patch_embed.proj.weight"], state["patch_embed.proj.bias"], stride=(1, cfg.patch_size))
    h = F.gelu(F.layer_norm(h.permute(0, 2, 3, 1), (D,), state["patch_embed.norm.weight"], state["patch_embed.norm.bias"]))
    B, P = h.shape[0], h.shape[2]
    pos_x = state["pos_embed_x"][0]
    temporal = pos_x[1:]
    if temporal.shape[0] < P:  # OTiS interpolates its temporal table to a longer input
        temporal = F.interpolate(temporal.T[None], size=P, mode="linear", align_corners=False)[0].T
    variates = state["pos_embed_y.weight"][offset + 1 + torch.arange(L)]
    pos = torch.cat([variates[:, None].expand(L, P, half), temporal[:P][None].expand(L, P, half)], -1)
    h = (h + pos).flatten(1, 2)
    cls = state["cls_token"] + torch.cat([torch.zeros(half), pos_x[0]])
    h = torch.cat([cls.expand(B, -1, -1), h], 1)

    def heads(t):
        return t.view(B, -1, H, D // H).transpose(1, 2)

    for i in range(cfg.depth):
        b = f"blocks.{i}."
        y = F.layer_norm(h, (D,), state[b + "norm1.weight"], state[b + "norm1.bias"], eps=cfg.ln_eps)
        q, k, v = (y @ state[b + "attn.qkv.weight"].T + state[b + "attn.qkv.bias"]).chunk(3, dim=-1)
        w_in, b_in = state[b + "attn.mha.in_proj_weight"].chunk(3), state[b + "attn.mha.in_proj_bias"].chunk(3)
        q, k, v = (heads(t @ w.T + c) for t, w, c in zip((q, k, v), w_in, b_in))
        a = torch.softmax(q @ k.transpose(-1, -2) / (D // H) ** 0.5, dim=-1) @ v
        a = a.transpose(1, 2).reshape(B, -1, D) @ state[b + "attn.mha.out_proj.weight"].T + state[b + "attn.mha.out_proj.bias"]
        h = h + a @ state[b + "attn.proj.weight"].T + state[b + "attn.proj.bias"]
        y = F.layer_norm(h, (D,), state[b + "norm2.weight"], state[b + "norm2.bias"], eps=cfg.ln_eps)
        y = F.gelu(y @ state[b + "mlp.fc1.weight"].T + state[b + "mlp.fc1.bias"])
        h = h + y @ state[b + "mlp.fc2.weight"].T + state[b + "mlp.fc2.bias"]
    norm = "fc_norm" if "fc_norm.weight" in state else "norm"
    return F.layer_norm(h[:, 1:].mean(1), (D,), state[norm + ".weight"], state[norm + ".bias"], eps=cfg.ln_eps)


@pytest.mark.parametrize("layout", ["otis", "fused"])
def test_otis_checkpoint_loads_with_the_ecg_rows_and_computes_otis_forward(tmp_path, layout):
    cfg = dataclasses.replace(SMALL, attention_layout=layout)
    state = write_otis_checkpoint(tmp_path / "otis.pth", cfg)
    # the file itself loads with weights_only=True (OTiS's args Namespace allowed, nothing else)
    with torch.serialization.safe_globals([argparse.Namespace]):
        assert set(torch.load(tmp_path / "otis.pth", weights_only=True)["model"]) == set(state)
    encoder = ECGEncoder(cfg).eval()
    report = load_otis_checkpoint(encoder, tmp_path / "otis.pth")  # offset from the checkpoint's domain_offsets
    assert report["ecg_domain_offset"] == 4 and report["variate_rows"] == [5, 16]
    assert "variate rows 5-16 of 39 (domain_offsets['ecg'] = 4)" in report["summary"]
    # the ECG domain's 12 rows (tags 5..16) of the 39, plus a zero padding row
    tags = torch.round(encoder.variate_embedding.weight[:, 0] * 100).long()
    assert tags.tolist() == [0] + list(range(5, 17))
    assert torch.equal(encoder.variate_embedding.weight[1:], state["pos_embed_y.weight"][5:17])
    assert torch.equal(encoder.variate_embedding.weight[0], torch.zeros(cfg.embed_dim // 2))
    assert {"decoder_embed.weight", "decoder_pred.weight", "mask_token"} <= set(report["ignored"])
    ours = encoder.state_dict()
    if layout == "otis":  # key for key, nothing folded
        assert report["folded_attention_blocks"] == 0 and "key for key" in report["summary"]
        for key in (k for k in state if k.startswith("blocks.")):
            assert torch.equal(ours[key], state[key]), key
    else:
        assert report["folded_attention_blocks"] == cfg.depth and "folded" in report["summary"]
        assert not any(".mha." in k for k in ours)
    x = torch.randn(3, 12, 240)
    with torch.no_grad():
        expected = otis_reference_forward(state, cfg, 4, x)
        assert torch.allclose(encoder(x), expected, atol=1e-4), (encoder(x) - expected).abs().max()
        # a wrong offset gives another function: the check above can tell the rows apart
        assert not torch.allclose(otis_reference_forward(state, cfg, 0, x), expected, atol=1e-4)


@pytest.mark.parametrize("layout", ["otis", "fused"])
def test_otis_offset_integer_overrides_the_checkpoint(tmp_path, layout):
    cfg = dataclasses.replace(SMALL, attention_layout=layout)
    state = write_otis_checkpoint(tmp_path / "otis.pth", cfg)
    encoder = ECGEncoder(cfg)
    report = load_otis_checkpoint(encoder, tmp_path / "otis.pth", ecg_domain_offset=20)
    assert report["variate_rows"] == [21, 32]
    assert "variate rows 21-32 of 39 (ecg_encoder.otis_ecg_domain_offset = 20" in report["summary"]
    assert "domain_offsets['ecg'] = 4" in report["summary"]  # says what it overrode
    assert torch.equal(encoder.variate_embedding.weight[1:], state["pos_embed_y.weight"][21:33])
    with pytest.raises(ValueError, match="rows"):
        load_otis_checkpoint(ECGEncoder(cfg), tmp_path / "otis.pth", ecg_domain_offset=30)


def test_otis_checkpoint_without_domain_offsets_needs_a_configured_offset(tmp_path):
    path = tmp_path / "no_offsets.pth"
    state = write_otis_checkpoint(path, SMALL, domain_offsets=None)
    with pytest.raises(OTiSCheckpointError, match=r"no_offsets\.pth.*no domain_offsets\['ecg'\].*otis_ecg_domain_offset"):
        load_otis_checkpoint(ECGEncoder(SMALL), path)
    encoder = ECGEncoder(SMALL)
    assert load_otis_checkpoint(encoder, path, ecg_domain_offset=4)["variate_rows"] == [5, 16]
    assert torch.equal(encoder.variate_embedding.weight[1:], state["pos_embed_y.weight"][5:17])


@pytest.mark.parametrize("layout", ["otis", "fused"])
def test_otis_temporal_embedding_interpolated_when_the_checkpoint_has_fewer_patches(tmp_path, layout):
    cfg = dataclasses.replace(SMALL, attention_layout=layout)
    state = write_otis_checkpoint(tmp_path / "otis.pth", cfg, temporal_patches=5, norm="fc_norm")
    encoder = ECGEncoder(cfg).eval()  # 10 patches
    report = load_otis_checkpoint(encoder, tmp_path / "otis.pth")
    assert report["temporal_interpolated"] and report["temporal_patches_checkpoint"] == 5
    assert "5 patches interpolated to 10" in report["summary"]
    assert report["representation_norm_from"] == "fc_norm"
    table = state["pos_embed_x"][0, 1:]
    expected = F.interpolate(table.T[None], size=10, mode="linear", align_corners=False)[0].T
    assert torch.allclose(encoder.temporal_embedding, expected)
    x = torch.randn(2, 12, 240)
    with torch.no_grad():
        assert torch.allclose(encoder(x), otis_reference_forward(state, cfg, 4, x), atol=1e-4)
    # and the interpolated table travels with our own checkpoint
    torch.save(encoder.state_dict(), tmp_path / "ours.pt")
    again = ECGEncoder(cfg)
    again.load_state_dict(torch.load(tmp_path / "ours.pt", weights_only=True))
    assert torch.equal(again.temporal_embedding, encoder.temporal_embedding)


def test_otis_checkpoint_of_another_width_is_refused(tmp_path):
    write_otis_checkpoint(tmp_path / "otis.pth", SMALL)
    wider = ECGEncoderConfig(**{**SMALL.__dict__, "embed_dim": 64})
    with pytest.raises(OTiSCheckpointError, match=r"otis\.pth.*shape"):
        load_otis_checkpoint(ECGEncoder(wider), tmp_path / "otis.pth")


def _expect_refusal(path, match):
    encoder = ECGEncoder(SMALL)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    with pytest.raises(OTiSCheckpointError, match=match) as caught:
        load_otis_checkpoint(encoder, path)
    message = str(caught.value)
    assert str(path) in message
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())  # nothing loaded, not even partly
    return message


def test_fine_tuned_otis_is_refused(tmp_path):
    state = otis_state(SMALL, norm="fc_norm")
    state = {k: v for k, v in state.items() if not k.startswith(("decoder_", "mask_token"))}
    state.update({"head.weight": torch.zeros(3, SMALL.embed_dim), "head.bias": torch.zeros(3)})
    path = tmp_path / "otis_finetuned_lvef.pth"
    torch.save({"model": state, "epoch": 10, "args": argparse.Namespace(nb_classes=3)}, path)
    message = _expect_refusal(path, "fine-tuned OTiS")
    assert "head.weight" in message and "pre-trained" in message and "expected an OTiS pre-training checkpoint" in message


@pytest.mark.parametrize("content,what", [
    (torch.zeros(3, 4), "a Tensor"),
    ([1, 2, 3], "a list"),
    ({"weights": {"w": torch.zeros(1)}}, "no 'model' state dict"),
    ({"encoder": {"w": torch.zeros(1)}, "config": {}}, "Echo2ECG checkpoint, not OTiS's"),
])
def test_file_that_is_not_an_otis_checkpoint_dict_is_refused(tmp_path, content, what):
    path = tmp_path / "not_otis.pth"
    torch.save(content, path)
    message = _expect_refusal(path, "expected an OTiS pre-training checkpoint")
    assert what in message


def test_truncated_otis_file_is_refused(tmp_path):
    write_otis_checkpoint(tmp_path / "full.pth", SMALL)
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    _expect_refusal(tmp_path / "truncated.pth", "cannot be read as a torch checkpoint.*expected an OTiS pre-training")


def test_otis_file_missing_encoder_weights_is_refused(tmp_path):
    # e.g. a checkpoint already folded (no mha) or of another model: every missing key counted, none loaded
    state = {k: v for k, v in otis_state(SMALL).items() if ".mha." not in k}
    torch.save({"model": state, "domain_offsets": OTIS_DOMAINS}, tmp_path / "folded.pth")
    message = _expect_refusal(tmp_path / "folded.pth", "lacks 8 encoder weight")
    assert "blocks.0.attn.mha.in_proj_weight" in message
    deeper = otis_state(dataclasses.replace(SMALL, depth=SMALL.depth + 1))
    torch.save({"model": deeper, "domain_offsets": OTIS_DOMAINS}, tmp_path / "deeper.pth")
    _expect_refusal(tmp_path / "deeper.pth", "beyond the encoder's depth")


def test_layer_decay_finds_every_otis_attention_parameter_in_its_block_group():
    torch.manual_seed(0)
    cfg = dataclasses.replace(SMALL, depth=3, attention_layout="otis")
    model = build_echo2ecg(cfg, ViewAggregationConfig(view_dim=16, dim=32, n_heads=4))
    decay = 0.75
    groups = param_groups(model, weight_decay=0.05, layer_decay=decay)
    scale_of = {name: g["lr_scale"] for g in groups for name in g["names"]}
    encoder_names = [f"ecg_encoder.{n}" for n, p in model.ecg_encoder.named_parameters() if p.requires_grad]
    assert len(scale_of) == sum(len(g["names"]) for g in groups)  # no parameter in two groups
    assert set(encoder_names) <= set(scale_of)                     # and none left out
    mha = [n for n in encoder_names if ".attn.mha." in n]
    assert len(mha) == 4 * cfg.depth  # in_proj weight + bias, out_proj weight + bias per block
    for name in encoder_names:
        if name.startswith("ecg_encoder.blocks."):
            block = int(name.split(".")[2])
            assert scale_of[name] == pytest.approx(decay ** (cfg.depth - 1 - block)), name
    # an in_proj matrix is decayed like qkv's, its bias is not
    decay_of = {name: g["weight_decay"] for g in groups for name in g["names"]}
    assert decay_of["ecg_encoder.blocks.1.attn.mha.in_proj_weight"] == decay_of["ecg_encoder.blocks.1.attn.qkv.weight"] > 0
    assert decay_of["ecg_encoder.blocks.1.attn.mha.in_proj_bias"] == 0.0


# --- our own checkpoints through pre-training and feature extraction, both layouts -----------

PRETRAIN_SECTION = {"seed": 42, "batch_size": 4, "epochs": 1, "lr": 1e-3, "betas": [0.9, 0.999], "weight_decay": 1e-7,
                    "layer_decay": 0.75, "warmup_epochs": 1, "start_lr_ratio": 0.1, "min_lr_ratio": 0.1, "tau": 0.5,
                    "max_views": 2, "view_dim": 16, "aggregator_dim": 32, "aggregator_heads": 4,
                    "projection_dim": 8, "checkpoint": "best", "device": "cpu", "augment": {}}
OTIS_INIT = {"aggregation": "attention", "init": "foundation", "align": False}


@pytest.mark.parametrize("layout", ["otis", "fused"])
def test_standin_and_otis_weights_reach_a_variant_and_its_checkpoint_round_trips(tmp_path, layout):
    from echo2ecg.extract_ecg_features import load_variant
    from echo2ecg.pretrain import PretrainConfig, VariantSpec, build_model, model_checkpoint

    section = {**{f.name: getattr(SMALL, f.name) for f in dataclasses.fields(SMALL)}, "attention_layout": layout,
               "otis_checkpoint": None, "otis_ecg_domain_offset": None}
    cfg = PretrainConfig.from_dict(PRETRAIN_SECTION)
    variant = VariantSpec.from_config("otis_init", OTIS_INIT)
    # the stand-in's file (fit_ecg_encoder): {"encoder": state dict, "config": ...}
    torch.manual_seed(5)
    standin = ECGEncoder(ECGEncoderConfig.from_dict(section)).eval()
    torch.save({"encoder": standin.state_dict(), "config": dataclasses.asdict(standin.cfg)}, tmp_path / "standin.pt")
    model, origin = build_model(cfg, section, variant, foundation=str(tmp_path / "standin.pt"))
    x = torch.randn(2, 12, 240)
    with torch.no_grad():
        assert torch.equal(model.eval().encode_ecg(x), standin(x))
    assert any(".mha." in k for k in model.state_dict()) == (layout == "otis")
    # best.pt as pre-training writes it; feature extraction rebuilds the model from its meta
    meta = {"encoder": dataclasses.asdict(ECGEncoderConfig.from_dict(section)), "pretrain": PRETRAIN_SECTION}
    torch.save(model_checkpoint(model, meta), tmp_path / "best.pt")
    again, _ = load_variant(tmp_path / "best.pt", PRETRAIN_SECTION, "otis_init", OTIS_INIT)
    with torch.no_grad():
        assert torch.equal(again.encode_ecg(x), standin(x))
    # OTiS weights in place of the stand-in: the variant's origin names the rows taken
    state = write_otis_checkpoint(tmp_path / "otis.pth", SMALL)
    model, origin = build_model(cfg, {**section, "otis_checkpoint": str(tmp_path / "otis.pth")}, variant)
    assert "variate rows 5-16 of 39 (domain_offsets['ecg'] = 4)" in origin["foundation"]
    with torch.no_grad():
        assert torch.allclose(model.eval().encode_ecg(x), otis_reference_forward(state, SMALL, 4, x), atol=1e-4)


def test_a_variant_checkpoint_from_before_the_layout_key_loads_as_fused(tmp_path):
    from echo2ecg.extract_ecg_features import load_variant
    from echo2ecg.pretrain import PretrainConfig, VariantSpec, build_model, model_checkpoint

    section = {f.name: getattr(SMALL, f.name) for f in dataclasses.fields(SMALL) if f.name != "attention_layout"}
    model, _ = build_model(PretrainConfig.from_dict(PRETRAIN_SECTION), {**section, "attention_layout": "fused"},
                           VariantSpec.from_config("random_init", {**OTIS_INIT, "init": "random"}))
    torch.save(model_checkpoint(model, {"encoder": section, "pretrain": PRETRAIN_SECTION}), tmp_path / "old.pt")
    again, _ = load_variant(tmp_path / "old.pt", PRETRAIN_SECTION, "random_init", {**OTIS_INIT, "init": "random"})
    x = torch.randn(2, 12, 240)
    with torch.no_grad():
        assert torch.equal(again.encode_ecg(x), model.eval().encode_ecg(x))
