"""The OTiS stand-in: its own synthetic ECG corpus (cached by rule synthesize_ecg_standin_corpus) and its fit
(masked reconstruction, patient-contrastive or ECG machine measurements)."""
import numpy as np
import torch

import pytest

from echo2ecg.ecg_standin_corpus import StandinCorpus, synthesize_corpus
from echo2ecg.fit_ecg_encoder import MaskedReconstruction, PatientContrastive, fit_ecg_encoder
from echo2ecg.logs import stage_logger
from echo2ecg.model.ecg_encoder import ECGEncoder, ECGEncoderConfig
from echo2ecg.preprocess_ecg import ECGPreprocessing

ENCODER = {"patch_size": 48, "n_samples": 480, "embed_dim": 16, "depth": 1, "n_heads": 2, "drop_path": 0.0}
STANDIN = {"seed": 5, "n_patients": 60, "mask_ratio": 0.75, "decoder_dim": 16, "decoder_depth": 1, "steps": 40,
           "batch_size": 16, "lr": 3e-3, "weight_decay": 0.05}
LOG = stage_logger("test_fit_ecg_encoder")


def corpus_for(standin: dict) -> StandinCorpus:
    return StandinCorpus.synthesize(standin["n_patients"], standin["seed"], ECGPreprocessing(),
                                    standin.get("ecgs_per_patient", 1))


def fit_twice(standin: dict) -> dict:
    """Fit the stand-in twice on one thread: the two encoders are equal tensor for tensor and load
    strictly into the encoder the variants build (no head or decoder key); returns the metrics."""
    torch.set_num_threads(1)
    corpus = corpus_for(standin)
    checkpoint, metrics = fit_ecg_encoder(ENCODER, standin, corpus, LOG)
    again, _ = fit_ecg_encoder(ENCODER, standin, corpus, LOG)
    assert checkpoint["encoder"].keys() == again["encoder"].keys()
    assert all(torch.equal(checkpoint["encoder"][k], again["encoder"][k]) for k in checkpoint["encoder"])
    ECGEncoder(ECGEncoderConfig.from_dict(ENCODER)).load_state_dict(checkpoint["encoder"], strict=True)
    return metrics


def test_corpus_is_preprocessed_and_its_own():
    params = ECGPreprocessing()
    x, lvef = synthesize_corpus(8, seed=5, preprocessing=params)
    assert x.shape == (8, 12, 5000) and x.dtype == np.float32 and np.isfinite(x).all()
    # lead-group z-normalised, as every ECG the model sees
    np.testing.assert_allclose(x[:, :3].reshape(8, -1).mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(x[:, :3].reshape(8, -1).std(axis=1), 1.0, atol=1e-3)
    again, _ = synthesize_corpus(8, seed=5, preprocessing=params)
    other, _ = synthesize_corpus(8, seed=6, preprocessing=params)
    np.testing.assert_array_equal(x, again)
    assert not np.allclose(x, other) and lvef.shape == (8,)


def test_only_hidden_patches_count_in_the_reconstruction_loss():
    torch.manual_seed(0)
    model = MaskedReconstruction(ECGEncoder(ECGEncoderConfig.from_dict(ENCODER)), 16, 1, 2).eval()
    x = torch.randn(2, 12, 480)
    generator = torch.Generator().manual_seed(3)
    loss = model(x, 0.75, generator)
    assert loss.ndim == 0 and torch.isfinite(loss)
    # with almost nothing hidden the loss is over a handful of patches, with most hidden over many: both finite
    assert torch.isfinite(model(x, 0.01, torch.Generator().manual_seed(3)))
    assert model.patches(x).shape == (2, 12 * 10, 48)
    torch.testing.assert_close(model.patches(x)[0, 10], x[0, 1, :48])  # lead-major token order


def test_a_short_fit_is_deterministic_and_reconstructs_held_out_ecgs_better_than_its_start():
    mse = fit_twice(dict(STANDIN, objective="masked_reconstruction"))["held_out_objective"]
    assert mse["objective"] == "masked_reconstruction" and mse["fitted"] < 0.9 * mse["initial"], mse


def test_decoder_positions_are_the_encoders_token_positions():
    torch.manual_seed(0)
    encoder = ECGEncoder(ECGEncoderConfig.from_dict(ENCODER)).eval()
    model = MaskedReconstruction(encoder, 16, 1, 2)
    x = torch.randn(1, 12, 480)
    patches_only = encoder.patch_embed(x).flatten(1, 2)
    torch.testing.assert_close(encoder.tokenize(x) - patches_only, model.token_positions().expand(1, -1, -1))


def test_a_patients_ecgs_share_the_heart_not_the_recording():
    params = ECGPreprocessing()
    single, lvef = synthesize_corpus(6, seed=5, preprocessing=params)
    pairs, lvef_again = synthesize_corpus(6, seed=5, preprocessing=params, ecgs_per_patient=2)
    assert pairs.shape == (6, 2, 12, 5000)
    np.testing.assert_array_equal(pairs[:, 0], single)  # the first ECG does not depend on ecgs_per_patient
    np.testing.assert_array_equal(lvef, lvef_again)
    # the second is another recording of the same heart: correlated with the first, not equal to it
    first, second = pairs[:, 0].reshape(6, -1), pairs[:, 1].reshape(6, -1)
    assert not np.allclose(first, second)
    same = [np.corrcoef(np.abs(np.fft.rfft(a))[:500], np.abs(np.fft.rfft(b))[:500])[0, 1] for a, b in zip(first, second)]
    other = [np.corrcoef(np.abs(np.fft.rfft(a))[:500], np.abs(np.fft.rfft(b))[:500])[0, 1]
             for a, b in zip(first, np.roll(second, 1, axis=0))]
    assert np.mean(same) > np.mean(other), (same, other)


def test_patient_contrastive_loss_is_low_for_matched_ecgs_and_chance_for_shuffled_ones():
    torch.manual_seed(0)
    model = PatientContrastive(ECGEncoder(ECGEncoderConfig.from_dict(ENCODER)), 8, tau=0.1).eval()
    x = torch.randn(6, 12, 480)
    matched = model(x, x)
    shuffled = model(x, x[torch.tensor([1, 2, 3, 4, 5, 0])])
    assert matched < shuffled
    # identical inputs: each row's own logit is the largest (cosine 1 / tau)
    assert matched < np.log(6)


def test_a_short_contrastive_fit_is_deterministic_and_lowers_its_held_out_loss():
    standin = dict(STANDIN, objective="patient_contrastive", ecgs_per_patient=2, batch_size=8, projection_dim=8)
    loss = fit_twice(standin)["held_out_objective"]
    assert loss["objective"] == "patient_contrastive" and loss["fitted"] < loss["initial"], loss


def test_patient_contrastive_needs_two_ecgs_per_patient_and_a_known_objective():
    corpus = StandinCorpus.synthesize(4, 5, ECGPreprocessing())
    with pytest.raises(ValueError, match="ecgs_per_patient >= 2"):
        fit_ecg_encoder(ENCODER, dict(STANDIN, objective="patient_contrastive"), corpus, LOG)
    with pytest.raises(ValueError, match="objective must be one of"):
        fit_ecg_encoder(ENCODER, dict(STANDIN, objective="simclr"), corpus, LOG)


def test_the_cached_corpus_reads_back_as_written_and_a_corpus_of_another_size_is_refused(tmp_path):
    standin = dict(STANDIN, n_patients=6, ecgs_per_patient=2)
    corpus = corpus_for(standin)
    assert corpus.ecgs.shape == (6, 2, 12, 5000) and corpus.measurements.shape == (6, 6)
    corpus.save(tmp_path / "corpus.npy", tmp_path / "corpus_hearts.parquet")
    assert not list(tmp_path.glob(".*partial*"))
    again = StandinCorpus.load(tmp_path / "corpus.npy", tmp_path / "corpus_hearts.parquet")
    np.testing.assert_array_equal(again.ecgs, corpus.ecgs)
    np.testing.assert_array_equal(again.lvef, corpus.lvef)
    np.testing.assert_array_equal(again.measurements, corpus.measurements)
    # the fit refuses a corpus that is not the one its section describes (another size or K)
    for other in (dict(standin, n_patients=7), dict(standin, ecgs_per_patient=1)):
        with pytest.raises(ValueError, match="asks for"):
            fit_ecg_encoder(ENCODER, dict(other, objective="ecg_measurements"), corpus, LOG)
    # two files of different corpora are refused at load
    StandinCorpus.synthesize(5, 5, ECGPreprocessing()).save(tmp_path / "other.npy", tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="do not describe the same patients"):
        StandinCorpus.load(tmp_path / "corpus.npy", tmp_path / "other.parquet")


def test_the_measurement_targets_are_the_corpus_hearts_ecg_measurements_and_no_echo_value():
    from echo2ecg.ecg_standin_corpus import ECG_MEASUREMENTS, corpus_ecg_measurements
    from echo2ecg.synthesize_cohort.hearts import sample_hearts

    values = corpus_ecg_measurements(50, seed=5)
    hearts = sample_hearts(np.random.default_rng([5, 77]), 50)  # the corpus hearts, drawn independently here
    assert values.shape == (50, len(ECG_MEASUREMENTS))
    np.testing.assert_allclose(values[:, ECG_MEASUREMENTS.index("qrs_ms")], hearts["qrs_ms"], rtol=1e-6)
    np.testing.assert_allclose(np.arctan2(values[:, 1], values[:, 2]), np.deg2rad(hearts["axis_deg"]), atol=1e-5)
    # no target is an echo measurement: none is LVEF itself or a rescaling of it
    for column in range(values.shape[1]):
        assert abs(np.corrcoef(values[:, column], hearts["lvef"])[0, 1]) < 0.9


def test_a_short_measurement_fit_is_deterministic_and_predicts_held_out_measurements_better_than_their_mean():
    standin = dict(STANDIN, objective="ecg_measurements", n_patients=200, steps=150, batch_size=32)
    error = fit_twice(standin)["held_out_objective"]
    # z-scored targets: predicting their mean scores about 1. Measured: 0.81 with each ECG's own
    # measurements, 0.92 when training paired every ECG with its neighbour's (a misaligned target)
    assert error["objective"] == "ecg_measurements" and error["fitted"] < 0.87, error
