"""Pre-training data assembly, the loop's determinism and resumption after a real kill, feature files."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from echo2ecg.extract_ecg_features import aligned_embeddings, cohort_features, encode_cohort_ecgs, variant_context
from echo2ecg.logs import stage_logger
from echo2ecg.pretrain import (
    CURVE_COLUMNS,
    PretrainConfig,
    VariantSpec,
    build_model,
    epoch_order,
    gather_rows,
    load_model_checkpoint,
    one_view_per_study,
    pair_tensors,
    pretrain_pairs,
    run_pretrain_variant,
)

REPO = Path(__file__).resolve().parents[1]
T_STORED, VIEW_DIM = 240, 16
ECG_SECTION = {"patch_size": 24, "n_samples": 96, "embed_dim": 16, "depth": 1, "n_heads": 2, "mlp_ratio": 2.0,
               "drop_path": 0.1, "ln_eps": 1e-6, "attention_layout": "fused", "otis_checkpoint": None,
               "otis_ecg_domain_offset": None}
PRETRAIN_SECTION = {"seed": 42, "batch_size": 4, "epochs": 3, "lr": 2e-3, "betas": [0.9, 0.999], "weight_decay": 1e-7,
                    "layer_decay": 0.75, "warmup_epochs": 1, "start_lr_ratio": 0.1, "min_lr_ratio": 0.1, "tau": 0.5,
                    "max_views": 4, "view_dim": VIEW_DIM, "aggregator_dim": 32, "aggregator_heads": 4,
                    "projection_dim": 8, "checkpoint": "best", "device": "cpu", "view_standardisation": "centre",
                    "augment": {}}
LOG = stage_logger("test_pretrain")


def write_cohort(root: Path, n_patients: int = 16, seed: int = 0) -> dict:
    """A small pre-training cohort on disk as the data half writes it: ECG and view-embedding
    shards (two each) with their indices, pairs, splits, ECG and study tables."""
    rng = np.random.default_rng(seed)
    ecg_rows, view_rows, pairs, splits, studies = [], [], [], [], []
    for p in range(n_patients):
        patient = f"P{p:03d}"
        splits.append({"cohort": "mimic", "patient_id": patient, "split": ["train", "train", "val", "test"][p % 4],
                       "split_source": "patient_hash"})
        for s in range(1 + p % 2):
            study = f"S{p:03d}{s}"
            studies.append({"study_id": study, "patient_id": patient, "cohort": "mimic"})
            # study 0 of patient 0 has more views than max_views (truncation), others 1..4 views
            n_views = 6 if (p, s) == (0, 0) else 1 + (p + s) % 4
            for v in range(n_views):
                view_rows.append({"view_id": f"{study}_{v:04d}", "study_id": study})
            for e in range(2):
                ecg = f"E{p:03d}{s}{e}"
                ecg_rows.append({"ecg_id": ecg, "patient_id": patient})
                pairs.append({"ecg_id": ecg, "study_id": study, "patient_id": patient, "cohort": "mimic",
                              "delta_days": 0.5})
    ecgs = pd.DataFrame(ecg_rows)
    views = pd.DataFrame(view_rows)
    data = {"ecg": {}, "view": {}}
    for kind, table, shape, folder in (("ecg", ecgs, (12, T_STORED), "ecg/mimic"),
                                       ("view", views, (VIEW_DIM,), "echo/view_embeddings/mimic")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        parts = []
        for shard in range(2):
            # reversed order inside shard 1, so rows are not in id order
            part = table.iloc[shard::2]
            part = part.iloc[::-1] if shard else part
            array = rng.normal(size=(len(part), *shape)).astype(np.float32)
            path = f"{folder}/{shard:04d}.npy"
            np.save(root / path, array)
            parts.append(part.assign(row=np.arange(len(part)), cohort="mimic", shard=f"{shard:04d}", npy_path=path))
            key = "ecg_id" if kind == "ecg" else "view_id"
            data[kind].update({i: a for i, a in zip(part[key], array)})
        pd.concat(parts).to_parquet(root / f"{folder.split('/')[0]}_{kind}_index.parquet", index=False)
    (root / "tables").mkdir(exist_ok=True)
    pd.DataFrame(pairs).to_parquet(root / "tables/pairs.parquet", index=False)
    pd.DataFrame(splits).to_parquet(root / "tables/splits.parquet", index=False)
    ecgs.assign(cohort="mimic").to_parquet(root / "tables/ecgs.parquet", index=False)
    pd.DataFrame(studies).to_parquet(root / "tables/echo_studies.parquet", index=False)
    return data


@pytest.fixture()
def cohort(tmp_path):
    data = write_cohort(tmp_path)
    return tmp_path, data


def paths(root: Path) -> dict:
    return {"pairs_path": root / "tables/pairs.parquet", "splits_path": root / "tables/splits.parquet",
            "ecg_index_path": root / "ecg_ecg_index.parquet", "view_index_path": root / "echo_view_index.parquet"}


def test_pairs_become_indices_into_unique_ecgs_and_padded_masked_studies(cohort):
    root, data = cohort
    table = pretrain_pairs(pd.read_parquet(root / "tables/pairs.parquet"), pd.read_parquet(root / "tables/splits.parquet"),
                           ["mimic"])
    assert set(table["split"]) == {"train", "val", "test"}
    train = table[table["split"] == "train"]
    tensors = pair_tensors(train, pd.read_parquet(root / "ecg_ecg_index.parquet"),
                           pd.read_parquet(root / "echo_view_index.parquet"), max_views=4, root=root)
    assert tensors.n_pairs == len(train)
    assert len(tensors.ecg_ids) == train["ecg_id"].nunique() and len(tensors.study_ids) == train["study_id"].nunique()
    views = pd.read_parquet(root / "echo_view_index.parquet")
    for i, (ecg_id, study_id) in enumerate(zip(train["ecg_id"], train["study_id"])):
        e, s = int(tensors.pair_ecg[i]), int(tensors.pair_study[i])
        assert tensors.ecg_ids[e] == ecg_id and tensors.study_ids[s] == study_id
        np.testing.assert_array_equal(tensors.ecgs[e].numpy(), data["ecg"][ecg_id])  # the shard row, whole length
        study_views = sorted(views.loc[views["study_id"] == study_id, "view_id"])[:4]
        n = len(study_views)
        assert tensors.valid[s].tolist() == [True] * n + [False] * (4 - n)
        for slot, view_id in enumerate(study_views):  # views in view_id order, truncated to max_views
            np.testing.assert_array_equal(tensors.views[s, slot].numpy(), data["view"][view_id])
        assert torch.all(tensors.views[s, n:] == 0)
    assert "S0000" in tensors.study_ids and int(tensors.valid[tensors.study_ids.index("S0000")].sum()) == 4


def _all_pairs(root: Path, max_views: int):
    """Every pair of the fixture cohort (all splits) and their tensors."""
    table = pretrain_pairs(pd.read_parquet(root / "tables/pairs.parquet"), pd.read_parquet(root / "tables/splits.parquet"),
                           ["mimic"])
    return table, pair_tensors(table, pd.read_parquet(root / "ecg_ecg_index.parquet"),
                               pd.read_parquet(root / "echo_view_index.parquet"), max_views=max_views, root=root)


def test_pairs_know_their_patient(cohort):
    table, tensors = _all_pairs(cohort[0], max_views=4)
    patients = table["patient_id"].astype(str).to_numpy()
    group = tensors.pair_group.numpy()
    for g in np.unique(group):  # one group per patient, and every patient in one group
        assert len(set(patients[group == g])) == 1
    assert len(np.unique(group)) == len(set(patients))


def test_distinct_patient_batching_uses_every_pair_once_and_separates_a_patients_pairs():
    generator = torch.Generator().manual_seed(3)
    # 40 patients with 1..9 pairs each
    counts = torch.tensor([1 + (7 * p) % 9 for p in range(40)])
    group = torch.repeat_interleave(torch.arange(40), counts)
    random_order = epoch_order(group, "random", torch.Generator().manual_seed(3))
    order = epoch_order(group, "distinct_patients", generator)
    assert sorted(order.tolist()) == list(range(len(group)))      # a permutation: every pair once
    assert not torch.equal(order, random_order)
    # rounds: the k-th occurrence of every patient comes after all (k-1)-th occurrences
    seen: dict[int, int] = {}
    rounds = []
    for i in order.tolist():
        g = int(group[i])
        seen[g] = seen.get(g, 0) + 1
        rounds.append(seen[g])
    assert rounds == sorted(rounds)
    # the first round (40 patients) cut into batches of 16 never repeats a patient inside a batch
    first = [int(group[i]) for i in order[:40]]
    for b in range(0, 32, 16):
        assert len(set(first[b:b + 16])) == 16
    # a random permutation does repeat patients in its batches here
    batches = [group[random_order[b:b + 16]] for b in range(0, len(group) - 15, 16)]
    assert any(len(set(batch.tolist())) < 16 for batch in batches)
    with pytest.raises(ValueError, match="batching"):
        epoch_order(group, "by_study", generator)


def test_gather_rows_rejects_unknown_ids(cohort):
    root, _ = cohort
    with pytest.raises(KeyError, match="not in the shard index"):
        gather_rows(pd.read_parquet(root / "ecg_ecg_index.parquet"), ["nope"], "ecg_id", root)


def test_single_view_draws_one_valid_view_per_study_in_training():
    valid = torch.tensor([[True, True, True, False], [False, True, False, True], [True, False, False, False]])
    generator = torch.Generator().manual_seed(0)
    drawn = torch.stack([one_view_per_study(valid, generator) for _ in range(300)])
    assert torch.all(drawn.sum(dim=2) == 1) and not torch.any(drawn & ~valid)
    counts = drawn.sum(dim=0)
    assert torch.all(counts[0, :3] > 60) and torch.all(counts[1, [1, 3]] > 100)  # every valid view gets drawn


def run_variant(root: Path, out: str, variant: str = "echo2ecg", spec: dict | None = None, **overrides) -> dict:
    spec = spec or {"aggregation": "attention", "init": "random", "align": True}
    return run_pretrain_variant(dict(PRETRAIN_SECTION, **overrides), ECG_SECTION, variant, spec, ["mimic"],
                                foundation=None, out_dir=root / out, state_dir=root / out / "state", log=LOG,
                                root=str(root), **paths(root))


def state_dicts_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_is_deterministic_and_writes_best_last_and_curve(cohort):
    root, _ = cohort
    torch.set_num_threads(1)
    summary = run_variant(root, "a")
    run_variant(root, "b")
    a, b = load_model_checkpoint(root / "a/last.pt"), load_model_checkpoint(root / "b/last.pt")
    assert state_dicts_equal(a["model"], b["model"])
    curve = pd.read_parquet(root / "a/curve.parquet")
    assert list(curve.columns) == CURVE_COLUMNS and curve["epoch"].tolist() == [1, 2, 3]
    assert curve["train_loss"].notna().all() and curve["val_loss"].notna().all()
    best = load_model_checkpoint(root / "a/best.pt")
    assert best["meta"]["epoch"] == summary["best_epoch"] == int(curve.loc[curve["val_loss"].idxmin(), "epoch"])
    assert (root / "a/curve.png").stat().st_size > 0
    initial, _ = build_model(PretrainConfig.from_dict(PRETRAIN_SECTION), ECG_SECTION,
                             VariantSpec("echo2ecg", init="random"))
    assert not state_dicts_equal(initial.state_dict(), a["model"])  # training changed the weights
    different = run_variant(root, "c", seed=7)
    assert different["best_val_loss"] != summary["best_val_loss"]


def test_variants_that_are_not_aligned_keep_the_initial_encoder(cohort):
    root, _ = cohort
    run_variant(root, "r", "random_init", {"aggregation": "attention", "init": "random", "align": False})
    saved = load_model_checkpoint(root / "r/last.pt")["model"]
    initial, _ = build_model(PretrainConfig.from_dict(PRETRAIN_SECTION), ECG_SECTION, VariantSpec("random_init", init="random"))
    # every weight as initialised; only the view standardisation is set, from the train split's views
    buffers = ("view_mean", "view_scale")
    assert state_dicts_equal({k: v for k, v in saved.items() if k not in buffers},
                             {k: v for k, v in initial.state_dict().items() if k not in buffers})
    assert not torch.equal(saved["view_mean"], initial.state_dict()["view_mean"])
    assert len(pd.read_parquet(root / "r/curve.parquet")) == 1


KILLED_RUN = """
import json, sys, torch
sys.path.insert(0, {repo!r})
from tests.test_pretrain import run_variant
from pathlib import Path
torch.set_num_threads(1)
run_variant(Path({root!r}), {out!r}, epochs={epochs})
"""


def test_a_killed_run_resumes_from_its_last_checkpoint_and_ends_bit_identical(cohort):
    """Kill a real training process after its first epoch checkpoint, rerun it, and compare
    its final weights with an uninterrupted run of the same config (CPU, fixed seed)."""
    root, _ = cohort
    epochs = 14
    script = root / "run.py"
    script.write_text(KILLED_RUN.format(repo=str(REPO), root=str(root), out="killed", epochs=epochs))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    state_dir = root / "killed/state"
    deadline = time.time() + 600
    while not list(state_dir.glob("epoch_*.pt")):
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        assert time.time() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = sorted(state_dir.glob("epoch_*.pt"))
    assert killed_at and not (root / "killed/last.pt").exists(), "the run finished before it was killed"
    epoch_killed = int(killed_at[-1].stem.split("_")[1])
    assert 1 <= epoch_killed < epochs

    rerun = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming echo2ecg from its epoch {epoch_killed} checkpoint" in rerun.stderr

    script.write_text(KILLED_RUN.format(repo=str(REPO), root=str(root), out="whole", epochs=epochs))
    whole = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=900)
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert "resuming" not in whole.stderr
    resumed, uninterrupted = (load_model_checkpoint(root / f"{d}/last.pt") for d in ("killed", "whole"))
    assert state_dicts_equal(resumed["model"], uninterrupted["model"])
    assert state_dicts_equal(load_model_checkpoint(root / "killed/best.pt")["model"],
                             load_model_checkpoint(root / "whole/best.pt")["model"])
    a, b = (pd.read_parquet(root / f"{d}/curve.parquet") for d in ("killed", "whole"))
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == epochs


def test_a_saved_state_resumes_only_for_the_same_data(cohort):
    """A state left by a run on other view embeddings (same ids, same config: the echo encoder was
    refitted) is not resumed: the run trains afresh; on the same data it resumes."""
    root, _ = cohort
    torch.set_num_threads(1)
    first = run_variant(root, "r")
    assert first["resumed_from_epoch"] == 0
    assert run_variant(root, "r")["resumed_from_epoch"] == PRETRAIN_SECTION["epochs"]  # same data: resumed
    views = pd.read_parquet(root / "echo_view_index.parquet")
    for npy_path in views["npy_path"].unique():
        embeddings = np.load(root / npy_path)
        np.save(root / npy_path, embeddings * 1.5 + 0.25)
    refitted = run_variant(root, "r")
    assert refitted["resumed_from_epoch"] == 0
    assert refitted["best_val_loss"] != first["best_val_loss"]


def test_feature_files_have_the_documented_columns_and_rows(cohort):
    root, _ = cohort
    run_variant(root, "m")
    spec = {"aggregation": "attention", "init": "random", "align": True}
    model, n_samples, cfg, device, meta = variant_context(PRETRAIN_SECTION, "echo2ecg", spec, root / "m/best.pt")
    ecg_index = pd.read_parquet(root / "ecg_ecg_index.parquet")
    ecgs, splits = pd.read_parquet(root / "tables/ecgs.parquet"), pd.read_parquet(root / "tables/splits.parquet")
    features = cohort_features(model, "mimic", ecg_index, ecgs, splits, n_samples, 5, device, LOG, root)
    width = ECG_SECTION["embed_dim"]
    assert list(features.columns) == ["ecg_id", "split"] + [f"f{i}" for i in range(width)]
    assert features["ecg_id"].dtype == "string" and all(features[f"f{i}"].dtype == np.float32 for i in range(width))
    assert sorted(features["ecg_id"]) == sorted(ecgs["ecg_id"]) and features["ecg_id"].is_unique
    split_of = ecgs.merge(splits, on="patient_id").set_index("ecg_id")["split"]
    assert (features.set_index("ecg_id")["split"] == split_of.loc[features["ecg_id"]]).all()
    # the representation of the first window, unaugmented, batch size does not matter
    again = cohort_features(model, "mimic", ecg_index, ecgs, splits, n_samples, 64, device, LOG, root)
    np.testing.assert_allclose(again.iloc[:, 2:].to_numpy(), features.iloc[:, 2:].to_numpy(), rtol=1e-5, atol=1e-6)
    row = ecg_index.set_index("ecg_id").loc[features["ecg_id"].iloc[0]]
    x = torch.from_numpy(np.load(root / row["npy_path"])[[int(row["row"])], :, :n_samples].copy())
    with torch.no_grad():
        np.testing.assert_allclose(model.encode_ecg(x).numpy()[0], features.iloc[0, 2:].to_numpy(dtype=np.float32),
                                   rtol=1e-5, atol=1e-6)

    aligned = aligned_embeddings(model, "mimic", ecg_index, ecgs, pd.read_parquet(root / "tables/echo_studies.parquet"),
                                 pd.read_parquet(root / "echo_view_index.parquet"), splits, n_samples, cfg.max_views,
                                 False, 5, device, LOG, root)
    dim = PRETRAIN_SECTION["projection_dim"]
    assert list(aligned.columns) == ["kind", "id", "split"] + [f"z{i}" for i in range(dim)]
    assert (aligned["kind"] == "ecg").sum() == len(ecgs) and (aligned["kind"] == "study").sum() == 24
    assert all(aligned[f"z{i}"].dtype == np.float32 for i in range(dim))
    norms = np.linalg.norm(aligned.iloc[:, 3:].to_numpy(), axis=1)
    assert not np.allclose(norms, 1.0)  # not normalised
    json.dumps(meta, default=str)

    # rule extract_ecg_features encodes a pre-training cohort's ECGs once for both files: the same bytes as
    # the feature file above and as the aligned ECG embeddings of embed_ecg on the same batches
    encoded = encode_cohort_ecgs(model, "mimic", ecg_index, ecgs, splits, n_samples, 5, device, LOG, aligned=True,
                                 root=root)
    pd.testing.assert_frame_equal(encoded.feature_frame(), features)
    rows = ecg_index.set_index("ecg_id").loc[encoded.ecg_ids]
    reference = []
    with torch.no_grad():
        for path, group in rows.reset_index().groupby("npy_path", sort=False):
            array = torch.from_numpy(np.load(root / path)[group["row"].to_numpy(), :, :n_samples].copy())
            reference += [model.embed_ecg(batch).numpy() for batch in array.split(5)]
    assert np.array_equal(encoded.aligned, np.concatenate(reference))
    reused = aligned_embeddings(model, "mimic", ecg_index, ecgs, pd.read_parquet(root / "tables/echo_studies.parquet"),
                                pd.read_parquet(root / "echo_view_index.parquet"), splits, n_samples, cfg.max_views,
                                False, 5, device, LOG, root, encoded=encoded)
    pd.testing.assert_frame_equal(reused, aligned)


def test_cutting_view_padding_changes_no_study_embedding(cohort):
    _, full = _all_pairs(cohort[0], max_views=8)
    cut = full.trimmed()
    assert cut.views.shape[1] == 6 < full.views.shape[1]
    for aggregation in ("attention", "mean", "cls"):
        model, _ = build_model(PretrainConfig.from_dict(dict(PRETRAIN_SECTION, max_views=8)), ECG_SECTION,
                               VariantSpec("x", aggregation=aggregation, init="random"))
        model.eval()  # the CLS layer's dropout acts in train mode only
        with torch.no_grad():
            torch.testing.assert_close(model.embed_study(cut.views, cut.valid), model.embed_study(full.views, full.valid))


def test_each_parameter_groups_lr_follows_the_schedule_at_every_step(cohort, monkeypatch):
    """The lr the optimiser applies at each step, read from its parameter groups as step() is
    called, equals lr_at_step times the group's layer-wise decay (computed here from the names)."""
    from echo2ecg.model.optimizer import lr_at_step

    root, _ = cohort
    torch.set_num_threads(1)
    seen = []
    original = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        seen.append([(list(group["names"]), group["lr"]) for group in self.param_groups])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    depth, layer_decay = 2, 0.5
    section = dict(PRETRAIN_SECTION, epochs=3, warmup_epochs=1, layer_decay=layer_decay, lr=2e-3)
    run_pretrain_variant(section, dict(ECG_SECTION, depth=depth), "echo2ecg",
                         {"aggregation": "attention", "init": "random", "align": True}, ["mimic"], foundation=None,
                         out_dir=root / "lr", state_dir=root / "lr/state", log=LOG, root=str(root), **paths(root))
    curve = pd.read_parquet(root / "lr/curve.parquet")
    total = int(curve["step"].iloc[-1])
    steps_per_epoch = total // section["epochs"]
    assert len(seen) == total == steps_per_epoch * section["epochs"] and steps_per_epoch >= 3

    def scale(name: str) -> float:
        inner = name[len("ecg_encoder."):] if name.startswith("ecg_encoder.") else None
        if inner is None or inner.startswith("norm."):
            return 1.0
        if inner.startswith("blocks."):
            return layer_decay ** (depth - 1 - int(inner.split(".")[1]))
        assert inner.startswith(("patch_embed.", "cls_token", "variate_embedding.")), name
        return layer_decay ** (depth - 1)

    scales_seen = set()
    for step, groups in enumerate(seen):
        base = lr_at_step(step, steps_per_epoch, section["epochs"], section["lr"],
                          warmup_epochs=section["warmup_epochs"], start_ratio=section["start_lr_ratio"],
                          min_ratio=section["min_lr_ratio"])
        for names, lr in groups:
            for name in names:
                assert lr == pytest.approx(base * scale(name), rel=1e-12), (step, name)
                scales_seen.add(scale(name))
    assert scales_seen == {1.0, 0.5}
    # the schedule the steps followed: warm-up from 0.1 x lr, then down to 0.1 x lr at the end
    first = [lr for names, lr in seen[0] if scale(names[0]) == 1.0][0]
    assert first == pytest.approx(0.1 * section["lr"])
    assert [lr for names, lr in seen[-1] if scale(names[0]) == 1.0][0] < section["lr"] * 0.2
    # the curve's lr is the last step's of each epoch
    for epoch, lr in zip(curve["epoch"], curve["lr"]):
        assert lr == pytest.approx(lr_at_step(epoch * steps_per_epoch - 1, steps_per_epoch, section["epochs"],
                                              section["lr"], warmup_epochs=1, start_ratio=0.1, min_ratio=0.1))


def test_the_adamw_kernel_follows_the_config_and_computes_the_same_update(cohort, monkeypatch):
    root, _ = cohort
    torch.set_num_threads(1)
    built = []

    class RecordingAdamW(torch.optim.AdamW):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(bool(self.defaults["fused"]))

    monkeypatch.setattr(torch.optim, "AdamW", RecordingAdamW)
    run_variant(root, "fused", epochs=2, adamw_kernel="fused")
    run_variant(root, "default", epochs=2, adamw_kernel="default")
    assert built == [True, False]
    # the same AdamW update in another order of float operations: the same losses, to rounding (weights
    # whose gradient is zero up to rounding, such as attention key biases, take rounding-driven steps)
    fused, default = (pd.read_parquet(root / f"{name}/curve.parquet") for name in ("fused", "default"))
    for column in ("train_loss", "val_loss"):
        assert fused[column].tolist() == pytest.approx(default[column].tolist(), rel=1e-4)
    with pytest.raises(ValueError, match="adamw_kernel"):
        run_variant(root, "unknown", epochs=1, adamw_kernel="sgd")


def test_an_unaligned_variants_checkpoint_holds_no_training_only_key(cohort):
    from echo2ecg.replicates import TRAINING_ONLY_KEYS

    root, _ = cohort
    torch.set_num_threads(1)
    unaligned = {"aggregation": "attention", "init": "random", "align": False}
    run_variant(root, "r1", "random_init", unaligned)
    run_variant(root, "r2", "random_init", unaligned, lr=1e-4, epochs=5, adamw_kernel="fused")
    first, second = (load_model_checkpoint(root / f"{name}/last.pt") for name in ("r1", "r2"))
    assert first["meta"] == second["meta"] and state_dicts_equal(first["model"], second["model"])
    assert not set(TRAINING_ONLY_KEYS) & set(first["meta"]["pretrain"])
    assert {"seed", "batch_size", "tau", "view_standardisation"} <= set(first["meta"]["pretrain"])
    # an aligned variant records what it was trained with
    run_variant(root, "a1", epochs=1)
    assert set(TRAINING_ONLY_KEYS) - {"augment"} <= set(load_model_checkpoint(root / "a1/last.pt")["meta"]["pretrain"])
