"""The workflow's own checkpoints (pre-training best.pt / last.pt and resume states, the ECG and
echo stand-ins) fail with a message naming the file when truncated or of the wrong kind, and a
truncated resume state is discarded with a log line: training starts afresh."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from test_pretrain import ECG_SECTION, PRETRAIN_SECTION, run_variant, state_dicts_equal, write_cohort

from echo2ecg.checkpoints import CheckpointError
from echo2ecg.embed_echo_views import load_standin_checkpoint
from echo2ecg.extract_ecg_features import load_variant
from echo2ecg.logs import failure_message
from echo2ecg.pretrain import PretrainConfig, VariantSpec, build_model, load_model_checkpoint

SPEC = {"aggregation": "attention", "init": "random", "align": True}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trained")
    write_cohort(root)
    torch.set_num_threads(1)
    run_variant(root, "a")
    return root


def truncated_copy(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def test_a_truncated_resume_state_is_discarded_and_training_starts_afresh(trained, tmp_path, caplog):
    # a copy of the run's data, and its finished state directory with the newest state truncated
    root = tmp_path
    write_cohort(root)
    torch.set_num_threads(1)
    state_dir = root / "b/state"
    state_dir.mkdir(parents=True)
    (newest,) = sorted((trained / "a/state").glob("epoch_*.pt"))
    truncated_copy(newest, state_dir / newest.name)
    caplog.set_level(logging.INFO)
    logger = logging.getLogger("echo2ecg.test_pretrain")
    logger.addHandler(caplog.handler)
    try:
        summary = run_variant(root, "b")
    finally:
        logger.removeHandler(caplog.handler)
    assert summary["resumed_from_epoch"] == 0
    discarded = [r.getMessage() for r in caplog.records if "discarding the resume state" in r.getMessage()]
    assert discarded and str(state_dir / newest.name) in discarded[0], caplog.text
    # afresh means the whole run again: the same weights as the first, uninterrupted run
    assert state_dicts_equal(load_model_checkpoint(root / "b/last.pt")["model"],
                             load_model_checkpoint(trained / "a/last.pt")["model"])


@pytest.mark.parametrize("name", ["best.pt", "last.pt"])
def test_a_truncated_model_checkpoint_fails_naming_the_file(trained, tmp_path, name):
    bad = truncated_copy(trained / "a" / name, tmp_path / name)
    with pytest.raises(CheckpointError, match="cannot be read") as error:
        load_model_checkpoint(bad)
    assert str(bad) in str(error.value)
    with pytest.raises(CheckpointError) as error:  # as feature extraction loads it
        load_variant(bad, PRETRAIN_SECTION, "echo2ecg", SPEC)
    assert str(bad) in str(error.value)
    # the rule's log gets the message alone, no traceback from inside torch
    assert "Traceback" not in failure_message(error.value, "extract_ecg_features")


def test_a_checkpoint_of_the_wrong_kind_fails_naming_the_file(trained, tmp_path):
    state = sorted((trained / "a/state").glob("epoch_*.pt"))[-1]
    with pytest.raises(CheckpointError, match="keys \\['meta'\\] are missing") as error:  # a resume state as best.pt
        load_model_checkpoint(state)
    assert str(state) in str(error.value)
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(CheckpointError, match="holds a Tensor"):
        load_variant(tensor, PRETRAIN_SECTION, "echo2ecg", SPEC)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.pt cannot be read"):
        load_model_checkpoint(text)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model_checkpoint(tmp_path / "missing.pt")


def test_a_model_checkpoint_of_another_config_fails_naming_the_file(trained, tmp_path):
    checkpoint = load_model_checkpoint(trained / "a/last.pt")
    bigger = {k: torch.cat([v, v]) if k.endswith("bias") else v for k, v in checkpoint["model"].items()}
    path = tmp_path / "other.pt"
    torch.save(dict(checkpoint, model=bigger), path)
    with pytest.raises(CheckpointError, match="does not fit the model") as error:
        load_variant(path, PRETRAIN_SECTION, "echo2ecg", SPEC)
    assert str(path) in str(error.value)


def test_truncated_stand_ins_fail_naming_the_file(trained, tmp_path):
    cfg = PretrainConfig.from_dict(PRETRAIN_SECTION)
    foundation = VariantSpec.from_config("echo2ecg", dict(SPEC, init="foundation"))
    encoder_state = {"encoder": build_model(cfg, ECG_SECTION, VariantSpec.from_config("r", SPEC))[0].ecg_encoder.state_dict()}
    whole = tmp_path / "ecg_encoder_standin.pt"
    torch.save(encoder_state, whole)
    build_model(cfg, ECG_SECTION, foundation, foundation=str(whole))  # the intact file loads
    bad = truncated_copy(whole, tmp_path / "ecg_truncated.pt")
    with pytest.raises(CheckpointError, match="ECG encoder stand-in") as error:
        build_model(cfg, ECG_SECTION, foundation, foundation=str(bad))
    assert str(bad) in str(error.value)
    with pytest.raises(CheckpointError, match="is not a ECG encoder stand-in .* keys \\['encoder'\\] are missing"):
        build_model(cfg, ECG_SECTION, foundation, foundation=str(trained / "a/last.pt"))
    with pytest.raises(CheckpointError, match="stand-in echo encoder") as error:
        load_standin_checkpoint(bad)
    assert str(bad) in str(error.value)
