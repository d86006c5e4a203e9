"""Contrastive pre-training of the ECG encoder against multi-view echo studies (rule pretrain).

Data: the train / val pairs of the pre-training cohort (``pairs.parquet`` joined to the patient
``splits.parquet``). Each pair indexes one ECG (rows of the memory-mapped preprocessed shards,
``(12, 5000)``) and one echo study (its stored 512-d view embeddings, padded or truncated to
``max_views`` with a validity mask). Unique ECGs and studies are held once, as tensors on the
training device; every step gathers its batch by index, cuts a random window and augments on
the device (one ``torch.Generator`` drives windows, augmentations, view draws and the epoch
order), so no step does host work.

Checkpoints: after every epoch the full training state (model, optimiser, epoch, step, curve,
best validation loss, and every RNG state: the data generator, torch's global CPU RNG that drop
path draws from, and CUDA's) is written to the variant's state directory, atomically. A rerun
of a killed job resumes from the newest one; on CPU with a fixed seed the resumed run ends with
weights bit-identical to an uninterrupted run. ``best.pt`` (lowest validation loss) and
``last.pt`` hold the model's state dict and what built it; they load with ``weights_only=True``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from echo2ecg.augment import AugmentConfig, augment_ecg_batch, first_window, random_window
from echo2ecg.checkpoints import CheckpointError, load_checkpoint, load_state
from echo2ecg.model.echo2ecg_model import Echo2ECG
from echo2ecg.model.ecg_encoder import ECGEncoder, ECGEncoderConfig, load_otis_checkpoint
from echo2ecg.model.optimizer import apply_lr, build_optimizer, lr_at_step
from echo2ecg.model.projection import ProjectionHead, clip_loss
from echo2ecg.model.view_aggregation import ViewAggregationConfig, build_view_aggregator
from echo2ecg.outputs import atomic_path
from echo2ecg.replicates import TRAINING_ONLY_KEYS

CURVE_COLUMNS = ["epoch", "step", "train_loss", "val_loss", "lr"]  # no timings: a result never depends on machine speed
STATE_PREFIX = "epoch_"


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------

@dataclass
class PretrainConfig:
    """The ``pretrain`` section of config.yaml (recipe sections 5 and 6; defaults are the paper's)."""

    seed: int = 42
    batch_size: int = 256
    epochs: int = 50
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-7
    layer_decay: float = 0.75
    warmup_epochs: float = 2
    start_lr_ratio: float = 0.1
    min_lr_ratio: float = 0.1
    tau: float = 0.5
    max_views: int = 128
    view_dim: int = 512
    aggregator_dim: int = 1024
    aggregator_heads: int = 4
    cls_dropout: float = 0.1
    cls_mlp_ratio: float = 4.0
    cls_init_std: float = 0.02
    projection_dim: int = 512
    checkpoint: str = "best"
    device: str = "auto"
    adamw_kernel: str = "default"
    batching: str = "random"
    view_standardisation: str = "none"
    augment: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, section: dict) -> "PretrainConfig":
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in section.items() if k in names}
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)


@dataclass(frozen=True)
class VariantSpec:
    """One ``pretrain.variants`` entry: how the study is pooled, where the encoder starts, aligned or
    not, and optionally its own ``view_standardisation`` and ``batching`` (None: the pretrain-level
    value), so that this workflow's additions run as variants beside the paper's."""

    name: str
    aggregation: str = "attention"
    init: str = "foundation"
    align: bool = True
    view_standardisation: str | None = None
    batching: str | None = None

    @classmethod
    def from_config(cls, name: str, spec: dict) -> "VariantSpec":
        return cls(name=name, aggregation=spec["aggregation"], init=spec["init"], align=bool(spec["align"]),
                   view_standardisation=spec.get("view_standardisation"), batching=spec.get("batching"))

    def pretrain_config(self, cfg: "PretrainConfig") -> "PretrainConfig":
        """``cfg`` with this variant's own view standardisation and batching, where it sets them."""
        overrides = {k: getattr(self, k) for k in VARIANT_OVERRIDES if getattr(self, k) is not None}
        return replace(cfg, **overrides)


# PyTorch's AdamW implementations (config pretrain.adamw_kernel): the same update, another order of float
# operations. default = torch's own choice (per-tensor loops on CPU, foreach on CUDA: the authors' code);
# fused = one kernel per parameter group, on CPU as on CUDA (6-21 % less time a step on the CPU demo's
# models: benchmarks/results/adamw_kernel.md).
ADAMW_KERNELS = ("default", "fused")


def adamw_fused(kernel: str) -> bool:
    """Whether ``pretrain.adamw_kernel`` asks for PyTorch's fused AdamW."""
    if kernel not in ADAMW_KERNELS:
        raise ValueError(f"pretrain.adamw_kernel must be one of {ADAMW_KERNELS}, not {kernel!r}")
    return kernel == "fused"


# pretrain keys a variant entry may set for itself (config pretrain.variants.<name>)
VARIANT_OVERRIDES = ("view_standardisation", "batching")


def select_device(device: str) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("pretrain.device is cuda but no CUDA device is available")
    return torch.device(device)


# ---------------------------------------------------------------------------------------------
# Data: pairs -> tensors
# ---------------------------------------------------------------------------------------------

@dataclass
class PairTensors:
    """The pairs of one split as indices into unique ECGs and unique studies (all tensors)."""

    ecgs: torch.Tensor          # (E, 12, T) float32, preprocessed ECGs
    views: torch.Tensor         # (S, max_views, view_dim) float32, zero where padded
    valid: torch.Tensor         # (S, max_views) bool, True for a real view
    pair_ecg: torch.Tensor      # (P,) int64 row into ecgs
    pair_study: torch.Tensor    # (P,) int64 row into views / valid
    ecg_ids: list[str]
    study_ids: list[str]
    pair_patient: torch.Tensor | None = None  # (P,) int64 patient of each pair (None: its study stands for it)

    @property
    def n_pairs(self) -> int:
        return int(self.pair_ecg.shape[0])

    def trimmed(self) -> "PairTensors":
        """The same pairs with the view axis cut to the widest study: views beyond it are padding
        in every study, masked anyway, so the model's outputs do not change (only its cost)."""
        width = max(1, int(self.valid.sum(dim=1).max())) if len(self.valid) else 1
        return PairTensors(self.ecgs, self.views[:, :width].contiguous(), self.valid[:, :width].contiguous(),
                           self.pair_ecg, self.pair_study,
                           self.ecg_ids, self.study_ids, self.pair_patient)

    def to(self, device) -> "PairTensors":
        return PairTensors(self.ecgs.to(device), self.views.to(device), self.valid.to(device),
                           self.pair_ecg.to(device), self.pair_study.to(device), self.ecg_ids, self.study_ids,
                           None if self.pair_patient is None else self.pair_patient.to(device))

    @property
    def pair_group(self) -> torch.Tensor:
        """The patient of each pair (its study when patients are not known)."""
        return self.pair_study if self.pair_patient is None else self.pair_patient


def pretrain_pairs(pairs: pd.DataFrame, splits: pd.DataFrame, cohorts: list[str]) -> pd.DataFrame:
    """Pairs of the pre-training cohorts with their patient's split (train/val/test), sorted stably."""
    pairs = pairs[pairs["cohort"].isin(cohorts)]
    split_of = splits[["cohort", "patient_id", "split"]].astype(str)
    table = pairs.astype({"ecg_id": str, "study_id": str, "patient_id": str, "cohort": str}).merge(
        split_of, on=["cohort", "patient_id"], how="left", validate="many_to_one")
    if table["split"].isna().any():
        missing = table.loc[table["split"].isna(), "patient_id"].iloc[0]
        raise ValueError(f"patient {missing} of a pair has no split in splits.parquet")
    return table.sort_values(["cohort", "patient_id", "ecg_id", "study_id"], kind="stable").reset_index(drop=True)


def _memmap(path: str, cache: dict) -> np.ndarray:
    if path not in cache:
        cache[path] = np.load(path, mmap_mode="r")
    return cache[path]


def gather_rows(index: pd.DataFrame, ids: list[str], id_column: str, root: str | os.PathLike = ".") -> np.ndarray:
    """Rows ``ids`` (in that order) of memory-mapped shards listed by ``index`` (id, npy_path, row)."""
    located = index.astype({id_column: str}).drop_duplicates(id_column).set_index(id_column)
    missing = [i for i in ids if i not in located.index]
    if missing:
        raise KeyError(f"{len(missing)} {id_column}s are not in the shard index (e.g. {missing[0]})")
    cache: dict[str, np.ndarray] = {}
    shape = _memmap(os.path.join(root, str(located["npy_path"].iloc[0])), cache).shape[1:] if len(located) else (0,)
    located = located.loc[ids]
    out = np.empty((len(ids), *shape), dtype=np.float32)
    for path, group in located.reset_index().groupby("npy_path", sort=True):
        array = _memmap(os.path.join(root, str(path)), cache)
        positions = np.flatnonzero(located["npy_path"].to_numpy() == path)
        rows = group["row"].to_numpy(dtype=np.int64)
        order = np.argsort(rows, kind="stable")  # read each shard in file order
        out[positions[order]] = array[rows[order]]
    return out


def study_view_tensors(view_index: pd.DataFrame, study_ids: list[str], max_views: int,
                       root: str | os.PathLike = ".") -> tuple[np.ndarray, np.ndarray]:
    """Each study's view embeddings ``(S, max_views, D)`` (views in view_id order, truncated to
    ``max_views``, zero-padded) and the validity mask ``(S, max_views)``."""
    views = view_index.astype({"view_id": str, "study_id": str})
    views = views[views["study_id"].isin(set(study_ids))].sort_values(["study_id", "view_id"], kind="stable")
    views = views.assign(slot=views.groupby("study_id").cumcount())
    views = views[views["slot"] < max_views]
    missing = set(study_ids) - set(views["study_id"])
    if missing:
        raise KeyError(f"{len(missing)} paired studies have no view embedding (e.g. {sorted(missing)[0]})")
    embeddings = gather_rows(view_index, views["view_id"].tolist(), "view_id", root)
    position = {s: i for i, s in enumerate(study_ids)}
    out = np.zeros((len(study_ids), max_views, embeddings.shape[1]), dtype=np.float32)
    valid = np.zeros((len(study_ids), max_views), dtype=bool)
    s = views["study_id"].map(position).to_numpy(dtype=np.int64)
    v = views["slot"].to_numpy(dtype=np.int64)
    out[s, v] = embeddings
    valid[s, v] = True
    return out, valid


def pair_tensors(pairs: pd.DataFrame, ecg_index: pd.DataFrame, view_index: pd.DataFrame, max_views: int,
                 root: str | os.PathLike = ".") -> PairTensors:
    """Tensors of ``pairs`` (one split): unique ECGs and studies once, pairs as indices into them."""
    ecg_ids = sorted(pairs["ecg_id"].astype(str).unique())
    study_ids = sorted(pairs["study_id"].astype(str).unique())
    ecgs = gather_rows(ecg_index, ecg_ids, "ecg_id", root)
    views, valid = study_view_tensors(view_index, study_ids, max_views, root)
    ecg_pos = {e: i for i, e in enumerate(ecg_ids)}
    study_pos = {s: i for i, s in enumerate(study_ids)}
    return PairTensors(
        ecgs=torch.from_numpy(ecgs), views=torch.from_numpy(views), valid=torch.from_numpy(valid),
        pair_ecg=torch.tensor(pairs["ecg_id"].astype(str).map(ecg_pos).to_numpy(dtype=np.int64)),
        pair_study=torch.tensor(pairs["study_id"].astype(str).map(study_pos).to_numpy(dtype=np.int64)),
        ecg_ids=ecg_ids, study_ids=study_ids,
        pair_patient=torch.tensor(pd.factorize(pairs["patient_id"].astype(str), sort=True)[0], dtype=torch.int64))


def epoch_order(pair_group: torch.Tensor, batching: str, generator: torch.Generator) -> torch.Tensor:
    """The order of one epoch's pairs: a random permutation (``batching: random``), or
    (``distinct_patients``) the same permutation regrouped into rounds of at most one pair per
    patient (round r holds every patient's (r+1)-th pair in permuted order, patients in permuted
    order), so a batch rarely holds two pairs of one patient: the ECGs of the same heart would
    otherwise be each other's negatives in the CLIP loss (false negatives). Every pair is still
    used once per epoch."""
    perm = torch.randperm(len(pair_group), generator=generator, device=pair_group.device)
    if batching == "random":
        return perm
    if batching != "distinct_patients":
        raise ValueError(f"pretrain.batching must be random or distinct_patients, not {batching!r}")
    group = pair_group[perm]
    by_group = torch.argsort(group, stable=True)                 # positions grouped, permuted order inside
    counts = torch.bincount(group)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(group)
    rank[by_group] = torch.arange(len(group), device=group.device) - starts[group[by_group]]
    return perm[torch.argsort(rank, stable=True)]


def one_view_per_study(valid: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A one-hot validity mask choosing one valid view per study uniformly at random (training of
    single-view variants). Evaluation does not use it: there a single-view study is the mean of its
    valid views."""
    scores = torch.rand(valid.shape, generator=generator, device=valid.device)
    choice = torch.where(valid, scores, torch.full_like(scores, -1.0)).argmax(dim=1)
    return nn.functional.one_hot(choice, valid.shape[1]).bool() & valid


# ---------------------------------------------------------------------------------------------
# The model of a variant
# ---------------------------------------------------------------------------------------------

def encoder_config(ecg_section: dict) -> ECGEncoderConfig:
    return ECGEncoderConfig.from_dict(ecg_section)


def build_model(cfg: PretrainConfig, ecg_section: dict, variant: VariantSpec, foundation: str | None = None,
                log: logging.Logger | None = None) -> tuple[Echo2ECG, dict]:
    """The variant's model, initialised from ``cfg.seed``; the encoder then loaded from the
    foundation weights when ``variant.init == 'foundation'`` (an OTiS checkpoint when
    ``ecg_section['otis_checkpoint']`` is set, else the stand-in state dict at ``foundation``)."""
    torch.manual_seed(cfg.seed)
    encoder = ECGEncoder(encoder_config(ecg_section))
    aggregation = "single" if variant.aggregation == "single" else variant.aggregation
    aggregator = build_view_aggregator(ViewAggregationConfig(
        kind=aggregation, view_dim=cfg.view_dim, dim=cfg.aggregator_dim, n_heads=cfg.aggregator_heads,
        cls_dropout=cfg.cls_dropout, cls_mlp_ratio=cfg.cls_mlp_ratio, cls_init_std=cfg.cls_init_std))
    model = Echo2ECG(encoder, aggregator, ProjectionHead(encoder.cfg.embed_dim, cfg.projection_dim),
                     ProjectionHead(cfg.aggregator_dim, cfg.projection_dim))
    origin = {"init": variant.init}
    if variant.init == "foundation":
        otis = ecg_section.get("otis_checkpoint")
        if otis:
            origin["otis"] = load_otis_checkpoint(encoder, otis, ecg_section.get("otis_ecg_domain_offset"))
            origin["foundation"] = origin["otis"]["summary"]  # names the variate rows taken and the attention load
        else:
            if not foundation:
                raise ValueError("variant init 'foundation' needs the fit_ecg_encoder stand-in (or an OTiS checkpoint)")
            kind = "ECG encoder stand-in (fit_ecg_encoder)"
            load_state(encoder, load_checkpoint(foundation, kind, ("encoder",))["encoder"], foundation, kind)
            origin["foundation"] = f"synthetic stand-in for OTiS (fit_ecg_encoder) {foundation}"
    else:
        origin["foundation"] = f"random initialisation (seed {cfg.seed})"
    if log:
        log.info("variant %s: aggregation %s, encoder from %s, %s", variant.name, variant.aggregation,
                 origin["foundation"], "aligned" if variant.align else "not aligned")
    return model, origin


# ---------------------------------------------------------------------------------------------
# Steps and evaluation
# ---------------------------------------------------------------------------------------------

def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def batch_loss(model: Echo2ECG, x: torch.Tensor, views: torch.Tensor, valid: torch.Tensor, tau: float) -> torch.Tensor:
    return clip_loss(model.embed_ecg(x), model.embed_study(views, valid), tau=tau)


def training_batch(data: PairTensors, idx: torch.Tensor, n_samples: int, augment: AugmentConfig,
                   generator: torch.Generator, single_view: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step's batch, all on the data's device: a random window of each pair's ECG, augmented,
    and its study's views and mask (one drawn view for single-view variants)."""
    x = augment_ecg_batch(random_window(data.ecgs[data.pair_ecg[idx]], n_samples, generator), augment, generator)
    study = data.pair_study[idx]
    valid = data.valid[study]
    if single_view:
        valid = one_view_per_study(valid, generator)
    return x, data.views[study], valid


def optimisation_step(model: Echo2ECG, optimizer: torch.optim.Optimizer, batch, tau: float,
                      device: torch.device) -> torch.Tensor:
    """Forward (bf16 autocast on CUDA), backward and one AdamW step; returns the detached loss."""
    with _autocast(device):
        loss = batch_loss(model, *batch, tau)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


@torch.no_grad()
def validation_loss(model: Echo2ECG, data: PairTensors, cfg: PretrainConfig, n_samples: int, single_view: bool,
                    device: torch.device) -> float:
    """Mean CLIP loss over fixed batches of the split's pairs (first window, no augmentation); NaN
    when the split has fewer than 2 pairs. A single-view variant's study is the mean of its valid
    views, as in retrieval (the authors' evaluation of a model without an aggregator); only training
    draws one view per study. ``single_view`` is kept for callers; it changes nothing here."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, data.n_pairs, cfg.batch_size):
        idx = torch.arange(start, min(start + cfg.batch_size, data.n_pairs), device=device)
        if len(idx) < 2:
            break
        x = first_window(data.ecgs[data.pair_ecg[idx]], n_samples)
        valid = data.valid[data.pair_study[idx]]  # every valid view, single-view variants included (their mean)
        with _autocast(device):
            loss = batch_loss(model, x, data.views[data.pair_study[idx]], valid, cfg.tau)
        total += float(loss) * len(idx)
        count += len(idx)
    return total / count if count else float("nan")


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------

def fingerprint(*parts) -> str:
    """A short hash of what a run depends on (config and data); a saved state resumes only when it matches."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def content_digest(*tensors_or_modules) -> str:
    """sha256 (16 hex digits) of the bytes of tensors (or a module's state dict): a saved state must
    come from the same data and the same initial weights, not only from the same ids and config."""
    digest = hashlib.sha256()
    for item in tensors_or_modules:
        tensors = item.state_dict().values() if isinstance(item, torch.nn.Module) else [item]
        for tensor in tensors:
            array = tensor.detach().cpu().contiguous().reshape(-1)
            digest.update(str((array.dtype, tuple(array.shape))).encode())
            digest.update(array.view(torch.uint8).numpy().tobytes() if array.numel() else b"")
    return digest.hexdigest()[:16]


def _atomic_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _rng_states(generator: torch.Generator, device: torch.device) -> dict:
    states = {"data": generator.get_state(), "torch_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["torch_cuda"] = torch.cuda.get_rng_state(device)
    return states


def _restore_rng(states: dict, generator: torch.Generator, device: torch.device) -> None:
    generator.set_state(states["data"])
    torch.set_rng_state(states["torch_cpu"])
    if device.type == "cuda" and "torch_cuda" in states:
        torch.cuda.set_rng_state(states["torch_cuda"], device)


def latest_state(state_dir: Path) -> Path | None:
    states = sorted(state_dir.glob(f"{STATE_PREFIX}*.pt"))
    return states[-1] if states else None


def model_checkpoint(model: nn.Module, meta: dict) -> dict:
    """What best.pt / last.pt hold: the model's state dict (CPU tensors) and plain metadata."""
    return {"model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, "meta": meta}


MODEL_CHECKPOINT = "pre-training model (best.pt / last.pt)"
RESUME_STATE_KEYS = ("run_key", "epoch", "model", "optimizer", "rng", "best_val_loss", "best_epoch", "curve")


def load_model_checkpoint(path: str | os.PathLike) -> dict:
    """best.pt / last.pt; a CheckpointError names a truncated or wrong-kind file."""
    checkpoint = load_checkpoint(path, MODEL_CHECKPOINT, ("model", "meta"))
    if not isinstance(checkpoint["meta"], dict):
        raise CheckpointError(f"{path} is not a {MODEL_CHECKPOINT} checkpoint: its meta is not a dict")
    return checkpoint


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------

@dataclass
class PretrainResult:
    curve: pd.DataFrame
    best_epoch: int
    best_val_loss: float
    resumed_from_epoch: int
    seconds: float
    samples_per_s: float


def pretrain(model: Echo2ECG, train: PairTensors, val: PairTensors, cfg: PretrainConfig, variant: VariantSpec,
             n_samples: int, state_dir: str | os.PathLike, best_path: str | os.PathLike, last_path: str | os.PathLike,
             meta: dict, log: logging.Logger, device: torch.device | None = None) -> PretrainResult:
    """Train ``model`` on ``train`` for ``cfg.epochs`` (or write it unchanged when the variant is
    not aligned), checkpointing every epoch into ``state_dir``; resume from the newest state there."""
    started = time.perf_counter()
    cfg = variant.pretrain_config(cfg)  # the variant's own view standardisation and batching, where set
    device = device or select_device(cfg.device)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    # what a resumed state must share: the data's and the initial weights' bytes, besides the config
    # (hashed here, on the host, before the tensors move; unaligned variants never resume)
    data_key = content_digest(train.ecgs, train.views, train.valid, train.pair_ecg, train.pair_study,
                              val.ecgs, val.views, val.valid, val.pair_ecg, val.pair_study,
                              model) if variant.align else None
    # from the training split's views, before anything is trained or saved
    model.set_view_statistics(train.views, train.valid, cfg.view_standardisation)
    model.to(device)
    train, val = train.trimmed().to(device), val.trimmed().to(device)
    single_view = variant.aggregation == "single"
    meta = dict(meta, variant=asdict(variant))

    if not variant.align:
        val_loss = validation_loss(model, val, cfg, n_samples, single_view, device)
        curve = pd.DataFrame([{"epoch": 0, "step": 0, "train_loss": float("nan"), "val_loss": val_loss,
                               "lr": 0.0}], columns=CURVE_COLUMNS)
        checkpoint = model_checkpoint(model, dict(meta, epoch=0, step=0, val_loss=val_loss))
        _atomic_save(checkpoint, Path(best_path))
        _atomic_save(checkpoint, Path(last_path))
        log.info("variant %s is not aligned: the initial encoder is written unchanged (val loss %.4f)",
                 variant.name, val_loss)
        return PretrainResult(curve, 0, val_loss, 0, time.perf_counter() - started, float("nan"))

    run_key = fingerprint(asdict(cfg), meta.get("encoder"), asdict(variant), train.n_pairs, val.n_pairs,
                          train.ecg_ids, train.study_ids, data_key)
    steps_per_epoch = train.n_pairs // cfg.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"{train.n_pairs} training pairs are fewer than one batch of {cfg.batch_size}")
    total_steps = steps_per_epoch * cfg.epochs
    optimizer = build_optimizer(model, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay,
                                layer_decay=cfg.layer_decay, fused=adamw_fused(cfg.adamw_kernel))
    generator = torch.Generator(device=device)
    generator.manual_seed(cfg.seed)
    augment = AugmentConfig(**cfg.augment)
    curve_rows: list[dict] = []
    best_val, best_epoch, start_epoch = float("inf"), -1, 0
    best_state_path = state_dir / "best_model.pt"

    resume = latest_state(state_dir)
    if resume is not None:
        try:
            state = load_checkpoint(resume, "pre-training resume state", RESUME_STATE_KEYS)
        except CheckpointError as error:  # e.g. truncated by a full disk: the data are not lost, only time
            log.warning("discarding the resume state, training %s starts afresh: %s", variant.name, error)
            state = {"run_key": None}
        if state["run_key"] == run_key:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            _restore_rng(state["rng"], generator, device)
            curve_rows = [dict(zip(CURVE_COLUMNS, row)) for row in state["curve"].tolist()]
            best_val, best_epoch, start_epoch = float(state["best_val_loss"]), int(state["best_epoch"]), int(state["epoch"])
            log.info("resuming %s from its epoch %d checkpoint %s", variant.name, start_epoch, resume)
        else:
            if "epoch" in state:
                log.info("ignoring %s: it was written by a different config or data", resume)
            for stale in state_dir.glob(f"{STATE_PREFIX}*.pt"):
                stale.unlink()
            start_epoch = 0
    log.info("pre-training %s: %d train pairs (%d ECGs, %d studies), %d val pairs, batch %d, %d steps/epoch, "
             "%d epochs, device %s", variant.name, train.n_pairs, len(train.ecg_ids), len(train.study_ids),
             val.n_pairs, cfg.batch_size, steps_per_epoch, cfg.epochs, device)

    sample_rate = float("nan")
    for epoch in range(start_epoch, cfg.epochs):
        epoch_started = time.perf_counter()
        model.train()
        order = epoch_order(train.pair_group, cfg.batching, generator)
        losses = torch.zeros(steps_per_epoch, device=device)
        lr = cfg.lr
        for b in range(steps_per_epoch):
            step = epoch * steps_per_epoch + b
            lr = lr_at_step(step, steps_per_epoch, cfg.epochs, cfg.lr, warmup_epochs=cfg.warmup_epochs,
                            start_ratio=cfg.start_lr_ratio, min_ratio=cfg.min_lr_ratio)
            apply_lr(optimizer, lr)
            batch = training_batch(train, order[b * cfg.batch_size:(b + 1) * cfg.batch_size], n_samples, augment,
                                   generator, single_view)
            losses[b] = optimisation_step(model, optimizer, batch, cfg.tau, device)
        train_loss = float(losses.mean())
        val_loss = validation_loss(model, val, cfg, n_samples, single_view, device)
        seconds = time.perf_counter() - epoch_started
        sample_rate = steps_per_epoch * cfg.batch_size / seconds
        curve_rows.append({"epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch, "train_loss": train_loss,
                           "val_loss": val_loss, "lr": lr})
        # without validation pairs (NaN loss) the best checkpoint follows the last epoch
        if math.isnan(val_loss) or val_loss < best_val:
            best_val, best_epoch = val_loss, epoch + 1
            _atomic_save(model_checkpoint(model, dict(meta, epoch=epoch + 1, step=(epoch + 1) * steps_per_epoch,
                                                      val_loss=val_loss)), best_state_path)
        state = {
            "run_key": run_key, "epoch": epoch + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "rng": _rng_states(generator, device), "best_val_loss": best_val, "best_epoch": best_epoch,
            "curve": torch.tensor([[float(r[c]) for c in CURVE_COLUMNS] for r in curve_rows], dtype=torch.float64),
        }
        path = state_dir / f"{STATE_PREFIX}{epoch + 1:04d}.pt"
        _atomic_save(state, path)
        for older in state_dir.glob(f"{STATE_PREFIX}*.pt"):  # the newest state is all a resume needs
            if older != path:
                older.unlink()
        eta = (cfg.epochs - epoch - 1) * seconds
        log.info("epoch %d/%d: train loss %.4f, val loss %.4f, lr %.3g, %.1f samples/s, ETA %.0f s",
                 epoch + 1, cfg.epochs, train_loss, val_loss, lr, sample_rate, eta)

    last = model_checkpoint(model, dict(meta, epoch=cfg.epochs, step=total_steps, val_loss=curve_rows[-1]["val_loss"]))
    _atomic_save(last, Path(last_path))
    best = load_checkpoint(best_state_path, "best epoch's model (resume state)", ("model", "meta"))
    _atomic_save(best, Path(best_path))
    curve = pd.DataFrame(curve_rows, columns=CURVE_COLUMNS).astype({"epoch": "int64", "step": "int64"})
    log.info("best validation loss %.4f at epoch %d", best_val, best_epoch)
    return PretrainResult(curve, best_epoch, best_val, start_epoch, time.perf_counter() - started, sample_rate)


# ---------------------------------------------------------------------------------------------
# Curves
# ---------------------------------------------------------------------------------------------

def plot_curve(curve: pd.DataFrame, path: str | os.PathLike, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    if curve["train_loss"].notna().any():
        ax.plot(curve["epoch"], curve["train_loss"], marker="o", label="train")
    ax.plot(curve["epoch"], curve["val_loss"], marker="s", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("CLIP loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# The rule's driver
# ---------------------------------------------------------------------------------------------

def run_pretrain_variant(pretrain_section: dict, ecg_section: dict, variant_name: str, variant_spec: dict,
                         cohorts: list[str], *, pairs_path, splits_path, ecg_index_path, view_index_path,
                         foundation: str | None, out_dir, state_dir, log: logging.Logger, root: str = ".",
                         threads: int | None = None) -> dict:
    """Assemble the data, build the variant's model, train (or not), write best/last/curve; returns a summary.

    ``pretrain_section`` is config ``pretrain`` (its ``variants`` are not read: the variant's own
    entry is ``variant_spec``, so adding a variant changes nothing for the others)."""
    variant = VariantSpec.from_config(variant_name, variant_spec)
    cfg = variant.pretrain_config(PretrainConfig.from_dict(pretrain_section))
    device = select_device(cfg.device)
    if threads:
        torch.set_num_threads(threads)
    table = pretrain_pairs(pd.read_parquet(pairs_path), pd.read_parquet(splits_path), cohorts)
    ecg_index, view_index = pd.read_parquet(ecg_index_path), pd.read_parquet(view_index_path)
    loaded = time.perf_counter()
    train = pair_tensors(table[table["split"] == "train"], ecg_index, view_index, cfg.max_views, root)
    val = pair_tensors(table[table["split"] == "val"], ecg_index, view_index, cfg.max_views, root)
    log.info("data: %d train pairs, %d val pairs (%.1f s to gather into tensors)", train.n_pairs, val.n_pairs,
             time.perf_counter() - loaded)
    model, origin = build_model(cfg, ecg_section, variant, foundation, log)
    enc = encoder_config(ecg_section)
    # what the checkpoint records of config pretrain (a variant that is not aligned reads no training-only key)
    left_out = {"augment", *(() if variant.align else TRAINING_ONLY_KEYS)}
    meta = {"encoder": asdict(enc), "pretrain": {k: v for k, v in asdict(cfg).items() if k not in left_out},
            "origin": {k: v for k, v in origin.items() if k != "otis"}}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = pretrain(model, train, val, cfg, variant, enc.n_samples, state_dir, out_dir / "best.pt",
                      out_dir / "last.pt", meta, log, device)
    with atomic_path(out_dir / "curve.parquet") as tmp:
        result.curve.to_parquet(tmp, index=False)
    with atomic_path(out_dir / "curve.png") as tmp:
        plot_curve(result.curve, tmp, f"{variant_name}: contrastive pre-training")
    return {"variant": variant_name, "train_pairs": train.n_pairs, "val_pairs": val.n_pairs,
            "train_ecgs": len(train.ecg_ids), "train_studies": len(train.study_ids),
            "best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss,
            "resumed_from_epoch": result.resumed_from_epoch, "seconds": round(result.seconds, 2),
            "samples_per_s": result.samples_per_s, "device": str(device), "encoder_from": origin["foundation"]}
