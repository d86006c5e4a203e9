"""AdamW parameter groups (layer-wise lr decay, no decay on biases/norms/tokens) and the lr schedule."""
import pytest
import torch

from echo2ecg.model import ECGEncoderConfig, ViewAggregationConfig, build_echo2ecg
from echo2ecg.model.optimizer import apply_lr, build_optimizer, lr_at_step


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_echo2ecg(ECGEncoderConfig(embed_dim=32, depth=12, n_heads=2),
                          ViewAggregationConfig(kind="cls", view_dim=16, dim=32, n_heads=4))


def group_of(optimizer):
    return {name: group for group in optimizer.param_groups for name in group["names"]}


def test_every_trainable_parameter_in_exactly_one_group(model):
    optimizer = build_optimizer(model)
    names = [n for g in optimizer.param_groups for n in g["names"]]
    assert sorted(names) == sorted(n for n, p in model.named_parameters() if p.requires_grad)
    assert len(names) == len(set(names))
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(names)


def test_layer_wise_lr_decay(model):
    lr, decay = 5e-4, 0.75
    groups = group_of(build_optimizer(model, lr=lr, layer_decay=decay))
    for i in range(12):
        for leaf in ("attn.qkv.weight", "mlp.fc2.bias", "norm1.weight"):
            group = groups[f"ecg_encoder.blocks.{i}.{leaf}"]
            assert group["lr_scale"] == pytest.approx(decay ** (11 - i))
            assert group["lr"] == pytest.approx(lr * decay ** (11 - i))
    for name in ("ecg_encoder.patch_embed.proj.weight", "ecg_encoder.patch_embed.norm.bias",
                 "ecg_encoder.cls_token", "ecg_encoder.variate_embedding.weight"):
        assert groups[name]["lr"] == pytest.approx(lr * decay ** 11)  # block 0's
    for name in ("ecg_encoder.norm.weight", "ecg_head.proj.weight", "echo_head.proj.weight",
                 "view_aggregator.proj.weight", "view_aggregator.attn.in_proj_weight", "view_aggregator.cls_token"):
        assert groups[name]["lr"] == pytest.approx(lr)


# The authors' exclude_from_wd, written out by hand: which parameters of a real Echo2ECG model
# (CLS pooling, small sizes) get no weight decay. Everything else is a matrix of the ECG encoder.
NO_DECAY_EXPECTED = {
    "ecg_encoder.cls_token",
    "ecg_encoder.patch_embed.proj.bias", "ecg_encoder.patch_embed.norm.weight", "ecg_encoder.patch_embed.norm.bias",
    "ecg_encoder.norm.weight", "ecg_encoder.norm.bias",
    "ecg_head.proj.weight", "echo_head.proj.weight",
    "view_aggregator.proj.weight", "view_aggregator.proj.bias", "view_aggregator.cls_token",
    "view_aggregator.attn.in_proj_weight", "view_aggregator.attn.in_proj_bias",
    "view_aggregator.attn.out_proj.weight", "view_aggregator.attn.out_proj.bias",
    "view_aggregator.norm1.weight", "view_aggregator.norm1.bias", "view_aggregator.norm2.weight",
    "view_aggregator.norm2.bias", "view_aggregator.mlp.0.weight", "view_aggregator.mlp.0.bias",
    "view_aggregator.mlp.2.weight", "view_aggregator.mlp.2.bias",
}
BLOCK_NO_DECAY = ("norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "attn.qkv.bias", "attn.proj.bias", "mlp.fc1.bias",
                  "mlp.fc2.bias")
BLOCK_DECAY = ("attn.qkv.weight", "attn.proj.weight", "mlp.fc1.weight", "mlp.fc2.weight")


def test_weight_decay_groups_are_the_authors(model):
    groups = group_of(build_optimizer(model, weight_decay=1e-7))
    no_decay = {name for name, g in groups.items() if g["weight_decay"] == 0.0}
    decayed = {name for name, g in groups.items() if g["weight_decay"] == 1e-7}
    assert no_decay | decayed == set(groups)
    for i in range(12):
        assert {f"ecg_encoder.blocks.{i}.{leaf}" for leaf in BLOCK_NO_DECAY} <= no_decay
        assert {f"ecg_encoder.blocks.{i}.{leaf}" for leaf in BLOCK_DECAY} <= decayed
    outside_blocks = {n for n in no_decay if not n.startswith("ecg_encoder.blocks.")}
    assert outside_blocks == NO_DECAY_EXPECTED
    # the decayed parameters: the encoder's matrices and its variate embedding, nothing else
    assert "ecg_encoder.variate_embedding.weight" in decayed and "ecg_encoder.patch_embed.proj.weight" in decayed
    assert all(n.startswith("ecg_encoder.") and groups[n]["params"][0].ndim >= 2 for n in decayed)


def test_attention_pooling_model_excludes_its_aggregator_and_heads():
    torch.manual_seed(0)
    attention = build_echo2ecg(ECGEncoderConfig(embed_dim=32, depth=2, n_heads=2),
                               ViewAggregationConfig(kind="attention", view_dim=16, dim=32, n_heads=4))
    groups = group_of(build_optimizer(attention, weight_decay=0.05))
    for name in ("view_aggregator.proj.weight", "view_aggregator.attn.in_proj_weight",
                 "view_aggregator.attn.out_proj.weight", "ecg_head.proj.weight", "echo_head.proj.weight"):
        assert groups[name]["weight_decay"] == 0.0, name
    assert groups["ecg_encoder.blocks.1.mlp.fc1.weight"]["weight_decay"] == 0.05


def test_optimizer_settings_and_apply_lr(model):
    optimizer = build_optimizer(model, lr=5e-4, betas=(0.9, 0.999))
    assert isinstance(optimizer, torch.optim.AdamW)
    assert all(g["betas"] == (0.9, 0.999) for g in optimizer.param_groups)
    apply_lr(optimizer, 1e-3)
    groups = group_of(optimizer)
    assert groups["ecg_head.proj.weight"]["lr"] == pytest.approx(1e-3)
    assert groups["ecg_encoder.blocks.10.attn.proj.weight"]["lr"] == pytest.approx(1e-3 * 0.75)


def test_schedule_values():
    base, spe, epochs = 5e-4, 100, 50  # warm-up: steps 0..199; cosine: 200..5000
    at = lambda step: lr_at_step(step, spe, epochs, base, warmup_epochs=2, start_ratio=0.1, min_ratio=0.1)
    assert at(0) == pytest.approx(0.1 * base)
    assert at(100) == pytest.approx(0.55 * base)  # half-way through the linear warm-up
    assert at(200) == pytest.approx(base)  # warm-up done: the peak
    assert at(200 + 2400) == pytest.approx(0.55 * base)  # half-way through the cosine
    assert at(5000) == pytest.approx(0.1 * base) and at(6000) == pytest.approx(0.1 * base)
    warm = [at(s) for s in range(0, 201)]
    cosine = [at(s) for s in range(200, 5001)]
    assert all(a < b for a, b in zip(warm, warm[1:]))
    assert all(a >= b for a, b in zip(cosine, cosine[1:]))
