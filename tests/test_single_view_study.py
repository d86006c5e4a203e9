"""Single-view variants: training draws one view per study per step; evaluation (the validation
loss that picks best.pt, and the aligned study embeddings retrieval ranks) uses the mean of the
study's valid views, as the authors' retrieval does for a model without an aggregator."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from echo2ecg.augment import AugmentConfig
from echo2ecg.extract_ecg_features import encode_studies
from echo2ecg.pretrain import (
    PairTensors,
    PretrainConfig,
    VariantSpec,
    batch_loss,
    build_model,
    training_batch,
    validation_loss,
)

VIEW_DIM, N_SAMPLES = 8, 48
ECG_SECTION = {"patch_size": 24, "n_samples": N_SAMPLES, "embed_dim": 16, "depth": 1, "n_heads": 2, "mlp_ratio": 2.0,
               "drop_path": 0.0, "ln_eps": 1e-6, "otis_checkpoint": None, "otis_ecg_domain_offset": 0}
CFG = PretrainConfig.from_dict({"batch_size": 8, "max_views": 4, "view_dim": VIEW_DIM, "aggregator_dim": 16,
                                "aggregator_heads": 2, "projection_dim": 8, "device": "cpu"})


@pytest.fixture(scope="module")
def single():
    model, _ = build_model(CFG, ECG_SECTION, VariantSpec("singleview", aggregation="single", init="random"))
    return model.eval()


@pytest.fixture(scope="module")
def data():
    """6 pairs of 6 studies with 2-4 valid views each; a study's first view is far from its others,
    so the first view and the mean of the views embed differently."""
    g = torch.Generator().manual_seed(0)
    views = torch.randn(6, 4, VIEW_DIM, generator=g)
    views[:, 0] += 5.0
    valid = torch.tensor([[True, True, False, False], [True, True, True, False], [True, True, True, True],
                          [True, False, True, False], [True, True, True, True], [True, True, False, True]])
    views = torch.where(valid[..., None], views, torch.zeros(()))
    ecgs = torch.randn(6, 12, 96, generator=g)
    return PairTensors(ecgs=ecgs, views=views, valid=valid, pair_ecg=torch.arange(6), pair_study=torch.arange(6),
                       ecg_ids=[f"E{i}" for i in range(6)], study_ids=[f"S{i}" for i in range(6)])


def first_view_only(valid: torch.Tensor) -> torch.Tensor:
    first = torch.zeros_like(valid)
    first[torch.arange(len(valid)), valid.to(torch.int8).argmax(dim=1)] = True
    return first


def test_study_embedding_is_the_mean_of_its_view_embeddings(single, data):
    study_z = encode_studies(single, data.views.numpy(), data.valid.numpy(), True, 4, torch.device("cpu"))
    with torch.no_grad():
        # by hand: every valid view embedded on its own, then averaged
        expected = []
        for s in range(6):
            one = [single.embed_study(data.views[s:s + 1], torch.nn.functional.one_hot(torch.tensor([v]), 4).bool())
                   for v in torch.nonzero(data.valid[s]).flatten().tolist()]
            expected.append(torch.cat(one).mean(dim=0))
        first = single.embed_study(data.views, first_view_only(data.valid)).numpy()
    np.testing.assert_allclose(study_z, torch.stack(expected).numpy(), rtol=1e-5, atol=1e-5)
    assert np.abs(study_z - first).max() > 0.1  # the fixture separates the two readings


def test_validation_loss_uses_the_mean_of_the_views(single, data):
    loss = validation_loss(single, data, CFG, N_SAMPLES, True, torch.device("cpu"))
    x = data.ecgs[:, :, :N_SAMPLES]
    with torch.no_grad():
        mean_loss = float(batch_loss(single, x, data.views, data.valid, CFG.tau))
        first_loss = float(batch_loss(single, x, data.views, first_view_only(data.valid), CFG.tau))
    assert loss == pytest.approx(mean_loss, rel=1e-5)
    assert abs(mean_loss - first_loss) > 1e-3


def test_training_still_draws_one_random_view_per_study(single, data):
    g = torch.Generator().manual_seed(1)
    drawn = [training_batch(data, torch.arange(6), N_SAMPLES, AugmentConfig(), g, True)[2] for _ in range(200)]
    drawn = torch.stack(drawn)
    assert torch.all(drawn.sum(dim=2) == 1) and not torch.any(drawn & ~data.valid)
    assert torch.equal(drawn.any(dim=0), data.valid)  # every valid view is drawn at some step
