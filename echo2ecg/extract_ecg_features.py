"""Feature files of a trained variant (rules extract_ecg_features, embed_own_ecgs).

Rule extract_ecg_features writes both kinds of file for a variant in one job, and a pre-training
cohort's ECGs go through the encoder once for both (``encode_cohort_ecgs(..., aligned=True)``).

- ``results/features/{variant}/{replicate}/{cohort}.parquet``: one row per preprocessed ECG of the cohort
  whose patient has a split: ``ecg_id`` (str), ``split`` (train/val/test), ``f0 .. f{D-1}``
  float32 -- the ECG encoder's representation (LayerNorm of the mean patch token), no projection
  head, no L2 normalisation; the first ``n_samples`` samples, no augmentation.
- ``results/features/{variant}/{replicate}/aligned_{cohort}.parquet`` (pre-training cohorts): ``kind``
  (``ecg`` | ``study``), ``id``, ``split``, ``z0 .. z{511}`` float32: the aligned ECG embeddings
  and the aligned study embeddings (all the study's stored view embeddings, up to ``max_views``;
  for single-view variants the mean of the study's valid views, as the authors' retrieval switches
  to mean pooling for a model without an aggregator), not normalised.
ECGs are read from the memory-mapped shards in batches, never all at once.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from echo2ecg.augment import first_window
from echo2ecg.checkpoints import CheckpointError, load_state
from echo2ecg.model.echo2ecg_model import Echo2ECG
from echo2ecg.pretrain import (
    PretrainConfig,
    VariantSpec,
    build_model,
    load_model_checkpoint,
    select_device,
    study_view_tensors,
)

FEATURE_PREFIX, ALIGNED_PREFIX = "f", "z"


def load_variant(checkpoint_path: str | os.PathLike, pretrain_section: dict, variant_name: str,
                 variant_spec: dict) -> tuple[Echo2ECG, dict]:
    """The variant's model with the checkpoint's weights (built from the numbers the checkpoint records)."""
    checkpoint = load_model_checkpoint(checkpoint_path)
    meta = checkpoint["meta"]
    if not {"pretrain", "encoder"} <= set(meta):
        raise CheckpointError(f"{checkpoint_path} is not a pre-training model checkpoint: its meta lacks "
                              f"{sorted({'pretrain', 'encoder'} - set(meta))}")
    cfg = PretrainConfig.from_dict(dict(pretrain_section, **meta["pretrain"]))
    variant = VariantSpec.from_config(variant_name, variant_spec)
    shell = VariantSpec(variant.name, variant.aggregation, "random", variant.align)  # weights come from the checkpoint
    # checkpoints written before ecg_encoder.attention_layout existed hold the fused layout
    model, _ = build_model(cfg, dict({"attention_layout": "fused"}, **meta["encoder"], otis_checkpoint=None), shell)
    load_state(model, checkpoint["model"], checkpoint_path, "pre-training model")
    return model.eval(), meta


@torch.no_grad()
def encode_ecgs(model: Echo2ECG, ecgs: np.ndarray, n_samples: int, batch_size: int, device: torch.device,
                aligned: bool = False) -> np.ndarray:
    """``(N, 12, T)`` ECGs (a memory map is fine) -> ``(N, D)`` representations, or the aligned
    ``(N, 512)`` embeddings when ``aligned``; first ``n_samples`` samples, batched."""
    representations, embeddings = encode_ecgs_twice(model, ecgs, n_samples, batch_size, device, aligned)
    return embeddings if aligned else representations


@torch.no_grad()
def encode_ecgs_twice(model: Echo2ECG, ecgs: np.ndarray, n_samples: int, batch_size: int, device: torch.device,
                      aligned: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """One pass of the encoder over ``(N, 12, T)`` ECGs: their ``(N, D)`` representations and, when
    ``aligned``, their ``(N, 512)`` aligned embeddings (the ECG head on the same batch's
    representations: ``embed_ecg`` is ``ecg_head(encode_ecg)``), else None."""
    model.eval().to(device)
    representations, embeddings = [], []
    for start in range(0, len(ecgs), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(ecgs[start:start + batch_size, :, :n_samples], dtype=np.float32))
        z = model.encode_ecg(first_window(x.to(device), n_samples))
        representations.append(z.float().cpu().numpy())
        if aligned:
            embeddings.append(model.ecg_head(z).float().cpu().numpy())

    def stacked(parts: list[np.ndarray], dim: int) -> np.ndarray:
        return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros((0, dim), dtype=np.float32)

    head_dim = next(model.ecg_head.parameters()).shape[0]
    return (stacked(representations, model.ecg_encoder.cfg.embed_dim),
            stacked(embeddings, head_dim) if aligned else None)


@torch.no_grad()
def encode_studies(model: Echo2ECG, views: np.ndarray, valid: np.ndarray, single_view: bool, batch_size: int,
                   device: torch.device) -> np.ndarray:
    """Aligned study embeddings from every valid view. A single-view variant's aggregator is the
    masked mean, so its study embedding is the mean of its views' embeddings (every map after the
    mean is linear); ``single_view`` is kept for callers and changes nothing."""
    model.eval().to(device)
    out = []
    for start in range(0, len(views), batch_size):
        v = torch.from_numpy(views[start:start + batch_size]).to(device)
        m = torch.from_numpy(valid[start:start + batch_size]).to(device)
        out.append(model.embed_study(v, m).float().cpu().numpy())
    if not out:
        return np.zeros((0, next(model.echo_head.parameters()).shape[0]), dtype=np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


def _cohort_ecgs(ecg_index: pd.DataFrame, cohort: str) -> pd.DataFrame:
    rows = ecg_index[ecg_index["cohort"].astype(str) == cohort].astype({"ecg_id": str, "npy_path": str})
    return rows.sort_values(["npy_path", "row"], kind="stable").reset_index(drop=True)


def ecg_splits(ecgs: pd.DataFrame, splits: pd.DataFrame, cohort: str) -> pd.Series:
    """The split of each ECG of ``cohort`` (its patient's), indexed by ecg_id; ECGs of patients
    without a split (e.g. EchoNext's no_split) are absent."""
    ecgs = ecgs[ecgs["cohort"].astype(str) == cohort][["ecg_id", "patient_id"]].astype(str)
    split = splits[splits["cohort"].astype(str) == cohort][["patient_id", "split"]].astype(str)
    return ecgs.merge(split, on="patient_id", how="inner").set_index("ecg_id")["split"]


def _feature_frame(ids, splits, values: np.ndarray, prefix: str, id_column: str, kind: str | None = None) -> pd.DataFrame:
    columns = {f"{prefix}{i}": values[:, i] for i in range(values.shape[1])}
    head = {"kind": kind} if kind else {}
    head |= {id_column: pd.array([str(i) for i in ids], dtype="string")}
    if splits is not None:
        head |= {"split": pd.array(list(splits), dtype="string")}
    frame = pd.DataFrame(head | columns)
    if kind:
        frame["kind"] = frame["kind"].astype("string")
    return frame


def _encode_rows(model, rows: pd.DataFrame, n_samples: int, batch_size: int, device, aligned: bool,
                 root: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Representations (and aligned embeddings when ``aligned``) of ``rows``, shard by shard."""
    parts = []
    for path, group in rows.groupby("npy_path", sort=False):
        array = np.load(os.path.join(root, path), mmap_mode="r")
        parts.append(encode_ecgs_twice(model, array[group["row"].to_numpy()] if len(group) < len(array)
                                       else array, n_samples, batch_size, device, aligned))
    if not parts:
        return encode_ecgs_twice(model, np.zeros((0, 12, n_samples), np.float32), n_samples, batch_size, device,
                                 aligned)
    return (np.concatenate([r for r, _ in parts]),
            np.concatenate([a for _, a in parts]) if aligned else None)


@dataclass
class CohortEncodings:
    """The ECGs of a cohort that have a split, encoded once: their ids, splits, representations and
    (pre-training cohorts) aligned embeddings."""

    ecg_ids: pd.Series
    splits: np.ndarray
    representations: np.ndarray
    aligned: np.ndarray | None

    def feature_frame(self) -> pd.DataFrame:
        return _feature_frame(self.ecg_ids, self.splits, self.representations, FEATURE_PREFIX, "ecg_id")

    def aligned_frame(self) -> pd.DataFrame:
        if self.aligned is None:
            raise ValueError("these ECGs were encoded without their aligned embeddings")
        return _feature_frame(self.ecg_ids, self.splits, self.aligned, ALIGNED_PREFIX, "id", "ecg")


def encode_cohort_ecgs(model: Echo2ECG, cohort: str, ecg_index: pd.DataFrame, ecgs: pd.DataFrame,
                       splits: pd.DataFrame, n_samples: int, batch_size: int, device: torch.device,
                       log: logging.Logger, aligned: bool = False, root: str | os.PathLike = ".") -> CohortEncodings:
    """Every preprocessed ECG of ``cohort`` whose patient has a split, through the encoder once."""
    rows = _cohort_ecgs(ecg_index, cohort)
    split_of = ecg_splits(ecgs, splits, cohort)
    without = ~rows["ecg_id"].isin(split_of.index)
    if without.any():
        log.info("%s: %d ECGs of patients without a split are left out", cohort, int(without.sum()))
    rows = rows[~without]
    representations, embeddings = _encode_rows(model, rows, n_samples, batch_size, device, aligned, root)
    log.info("%s: %d ECGs -> %d-d representations%s", cohort, len(rows), representations.shape[1],
             f" and {embeddings.shape[1]}-d aligned embeddings" if aligned else "")
    return CohortEncodings(rows["ecg_id"], split_of.loc[rows["ecg_id"]].to_numpy(), representations, embeddings)


def cohort_features(model: Echo2ECG, cohort: str, ecg_index: pd.DataFrame, ecgs: pd.DataFrame, splits: pd.DataFrame,
                    n_samples: int, batch_size: int, device: torch.device, log: logging.Logger,
                    root: str | os.PathLike = ".") -> pd.DataFrame:
    """The representation of every preprocessed ECG of ``cohort`` that has a split."""
    return encode_cohort_ecgs(model, cohort, ecg_index, ecgs, splits, n_samples, batch_size, device, log,
                              root=root).feature_frame()


def aligned_embeddings(model: Echo2ECG, cohort: str, ecg_index: pd.DataFrame, ecgs: pd.DataFrame,
                       studies: pd.DataFrame, view_index: pd.DataFrame, splits: pd.DataFrame, n_samples: int,
                       max_views: int, single_view: bool, batch_size: int, device: torch.device,
                       log: logging.Logger, root: str | os.PathLike = ".",
                       encoded: CohortEncodings | None = None) -> pd.DataFrame:
    """Aligned 512-d embeddings of the cohort's ECGs and echo studies (kind ecg / study); the ECGs'
    from ``encoded`` when given (``encode_cohort_ecgs(..., aligned=True)``), else encoded here."""
    if encoded is None:
        encoded = encode_cohort_ecgs(model, cohort, ecg_index, ecgs, splits, n_samples, batch_size, device, log,
                                     aligned=True, root=root)
    ecg_part = encoded.aligned_frame()
    study_table = studies[studies["cohort"].astype(str) == cohort][["study_id", "patient_id"]].astype(str)
    split_table = splits[splits["cohort"].astype(str) == cohort][["patient_id", "split"]].astype(str)
    study_table = study_table.merge(split_table, on="patient_id", how="inner")
    embedded = set(view_index["study_id"].astype(str))
    study_table = study_table[study_table["study_id"].isin(embedded)].sort_values("study_id").reset_index(drop=True)
    views, valid = study_view_tensors(view_index, study_table["study_id"].tolist(), max_views, root)
    width = max(1, int(valid.sum(axis=1).max())) if len(valid) else 1  # beyond the widest study: padding only
    views, valid = views[:, :width], valid[:, :width]
    study_z = encode_studies(model, views, valid, single_view, batch_size, device)
    study_part = _feature_frame(study_table["study_id"], study_table["split"], study_z, ALIGNED_PREFIX, "id", "study")
    log.info("%s: aligned embeddings of %d ECGs and %d studies", cohort, len(ecg_part), len(study_part))
    return pd.concat([ecg_part, study_part], ignore_index=True)


def variant_context(pretrain_section: dict, variant_name: str, variant_spec: dict, checkpoint_path,
                    device: str | None = None):
    """Model, encoder input length, pre-training config, device and checkpoint metadata of a trained variant."""
    model, meta = load_variant(checkpoint_path, pretrain_section, variant_name, variant_spec)
    cfg = PretrainConfig.from_dict(pretrain_section)
    dev = select_device(device or cfg.device)
    return model.to(dev), int(meta["encoder"]["n_samples"]), cfg, dev, meta


def describe(meta: dict) -> dict:
    return {"encoder": meta["encoder"], "epoch": meta.get("epoch"), "val_loss": meta.get("val_loss"),
            "origin": meta.get("origin"), "variant": meta.get("variant")}

