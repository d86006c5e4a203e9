"""A stand-in for OTiS (rule fit_ecg_encoder, only without OTiS weights).

The paper starts its ECG encoder from OTiS, a foundation model pre-trained on large ECG corpora
by masked reconstruction. Without those weights, this module pre-trains the same encoder on its
OWN synthetic ECG-only corpus (echo2ecg.ecg_standin_corpus, cached by rule
synthesize_ecg_standin_corpus: own seed, own patients, never the pre-training or evaluation
cohorts; preprocessed as the cohorts' ECGs are).

Two objectives (``standin.objective``):

- ``masked_reconstruction`` (MAE, OTiS's own): a random ``mask_ratio`` of the patch tokens is
  hidden, the encoder sees the rest, a small decoder (``decoder_depth`` blocks of
  ``decoder_dim``) fills in mask tokens and regresses every hidden patch's samples; loss = MSE on
  the hidden patches.
- ``patient_contrastive``: the corpus holds ``ecgs_per_patient`` ECGs of each heart (independent
  beats, noise and acquisition profile: another cohort's); a step takes two ECGs of each of
  ``batch_size`` patients, a random window of each, and pulls their representations together
  against the other patients' (symmetric InfoNCE at ``contrastive_tau`` through a linear
  projection head that is dropped afterwards): what stays the same between two recordings of one
  heart is the heart, so the encoder learns cardiac structure rather than noise.
- ``ecg_measurements``: the encoder's representation regresses, through a linear head that is
  dropped afterwards, the measurements an ECG machine reads off each corpus ECG (QRS duration,
  frontal axis as sine and cosine, heart rate, log voltage scale, LBBB; z-scored): what MIMIC-IV-ECG
  ships as machine measurements, read here from the generator's own record of each corpus heart.
  No echo measurement (LVEF, volumes, wall, SHD) is a target.

A fixed number of steps, seeded: the same config gives the same weights (on CPU bit-identical).
Held-out corpus patients measure what it learnt: the objective against the encoder as
initialised, and how much of LVEF a ridge read-out finds in its representation.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from echo2ecg.ecg_standin_corpus import ECG_MEASUREMENTS, StandinCorpus
from echo2ecg.model.ecg_encoder import Block, ECGEncoder, ECGEncoderConfig, fit_temporal_table
from echo2ecg.model.optimizer import lr_at_step
from echo2ecg.model.projection import ProjectionHead, clip_loss

HELD_OUT_FRACTION = 0.2  # corpus patients kept out of training for the metrics


@dataclass
class StandinConfig:
    """``ecg_encoder.standin`` of config.yaml."""

    seed: int = 7321
    init_seed: int = 42  # the encoder's initial weights: its own key, shared by every pre-training replicate
    objective: str = "masked_reconstruction"
    n_patients: int = 2000
    ecgs_per_patient: int = 1
    contrastive_tau: float = 0.1
    projection_dim: int = 64
    mask_ratio: float = 0.75
    decoder_dim: int = 64
    decoder_depth: int = 1
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05

    @classmethod
    def from_dict(cls, d: dict) -> "StandinConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


# ---------------------------------------------------------------------------------------------
# Masked reconstruction
# ---------------------------------------------------------------------------------------------

class MaskedReconstruction(nn.Module):
    """The encoder plus a small MAE decoder over its per-lead patch tokens."""

    def __init__(self, encoder: ECGEncoder, decoder_dim: int, decoder_depth: int, n_heads: int):
        super().__init__()
        cfg = encoder.cfg
        self.encoder = encoder
        self.n_tokens = cfg.n_leads * cfg.n_patches
        self.patch_size = cfg.patch_size
        self.decoder_embed = nn.Linear(cfg.embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        # the decoder's positions are the encoder's (learnt variate + fixed sin-cos temporal embedding),
        # projected: every mask token knows its lead and time from the first step
        self.decoder_position = nn.Linear(cfg.embed_dim, decoder_dim, bias=False)
        heads = n_heads if decoder_dim % n_heads == 0 else 1
        self.decoder_blocks = nn.ModuleList(Block(decoder_dim, heads, 4.0, True, 0.0, cfg.ln_eps)
                                            for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=cfg.ln_eps)
        self.decoder_pred = nn.Linear(decoder_dim, cfg.patch_size)
        nn.init.normal_(self.mask_token, std=0.02)

    def token_positions(self) -> torch.Tensor:
        """``(1, 12 * P, D)``: the variate and temporal embeddings of every token, in token order
        (the position half of what ``ECGEncoder.tokenize`` adds to each patch)."""
        enc = self.encoder
        L, P = enc.cfg.n_leads, enc.cfg.n_patches
        variate = enc.variate_embedding(enc.lead_ids)[:, None, :].expand(L, P, -1)
        temporal = fit_temporal_table(enc.temporal_embedding, P)[None, :, :].expand(L, P, -1)
        return torch.cat([variate, temporal.to(variate.dtype)], dim=-1).flatten(0, 1)[None]

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 12, T)`` -> ``(B, 12 * P, patch_size)`` in the encoder's token order (lead-major)."""
        B, L, T = x.shape
        return x.reshape(B, L, T // self.patch_size, self.patch_size).flatten(1, 2)

    def forward(self, x: torch.Tensor, mask_ratio: float, generator: torch.Generator) -> torch.Tensor:
        tokens = self.encoder.tokenize(x)
        B, N, _ = tokens.shape
        n_keep = max(1, int(round(N * (1.0 - mask_ratio))))
        noise = torch.rand(B, N, generator=generator, device=x.device)
        shuffle = noise.argsort(dim=1)
        restore = shuffle.argsort(dim=1)
        keep = shuffle[:, :n_keep]
        visible = tokens.gather(1, keep[..., None].expand(-1, -1, tokens.shape[-1]))
        encoded = self.encoder.encode_tokens(visible)[:, 1:]                      # drop CLS
        decoded = self.decoder_embed(encoded)
        full = torch.cat([decoded, self.mask_token.expand(B, N - n_keep, -1)], dim=1)
        full = full.gather(1, restore[..., None].expand(-1, -1, full.shape[-1]))
        full = full + self.decoder_position(self.token_positions())
        for block in self.decoder_blocks:
            full = block(full)
        prediction = self.decoder_pred(self.decoder_norm(full))
        hidden = torch.ones(B, N, device=x.device)
        hidden[:, :n_keep] = 0.0
        hidden = hidden.gather(1, restore)                                        # 1 where a patch was hidden
        error = ((prediction - self.patches(x)) ** 2).mean(dim=-1)
        return (error * hidden).sum() / hidden.sum()


class PatientContrastive(nn.Module):
    """The encoder plus a linear projection head; the loss pulls two ECGs of one patient together
    against the batch's other patients (symmetric InfoNCE at ``tau``)."""

    def __init__(self, encoder: ECGEncoder, projection_dim: int, tau: float):
        super().__init__()
        self.encoder = encoder
        self.head = ProjectionHead(encoder.cfg.embed_dim, projection_dim)
        self.tau = tau

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        z = self.head(self.encoder(torch.cat([first, second])))
        return clip_loss(z[:len(first)], z[len(first):], tau=self.tau)


class MeasurementRegression(nn.Module):
    """The encoder plus a linear head regressing z-scored ECG machine measurements (MSE)."""

    def __init__(self, encoder: ECGEncoder, n_targets: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.cfg.embed_dim, n_targets)

    def forward(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return ((self.head(self.encoder(x)) - targets) ** 2).mean()


def _windows(x: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """A random ``length``-sample window of each ECG (batched gather, no loop)."""
    starts = torch.randint(0, x.shape[-1] - length + 1, (x.shape[0],), generator=generator, device=x.device)
    index = starts[:, None, None] + torch.arange(length, device=x.device)[None, None, :]
    return x.gather(2, index.expand(-1, x.shape[1], -1))


@torch.no_grad()
def held_out_reconstruction(model: MaskedReconstruction, x: torch.Tensor, mask_ratio: float, seed: int,
                            batch: int = 64) -> float:
    """Masked reconstruction MSE on held-out ECGs (first window, fixed masks from ``seed``)."""
    model.eval()
    generator = torch.Generator(device=x.device).manual_seed(seed)
    n = model.encoder.cfg.n_samples
    losses = [float(model(x[i:i + batch, :, :n], mask_ratio, generator)) * len(x[i:i + batch])
              for i in range(0, len(x), batch)]
    return sum(losses) / len(x)


@torch.no_grad()
def held_out_contrastive(model: PatientContrastive, x: torch.Tensor, batch: int = 64) -> float:
    """Patient-contrastive loss on held-out patients' first two ECGs (first window), in batches of
    ``batch`` patients (chance: log of the batch size)."""
    model.eval()
    n = model.encoder.cfg.n_samples
    chunks = [x[i:i + batch] for i in range(0, len(x), batch)]
    chunks = [c for c in chunks if len(c) > 1]  # a lone patient has no negatives
    losses = [float(model(c[:, 0, :, :n], c[:, 1, :, :n])) * len(c) for c in chunks]
    return sum(losses) / sum(len(c) for c in chunks)


@torch.no_grad()
def held_out_measurement_mse(model: MeasurementRegression, x: torch.Tensor, targets: torch.Tensor,
                             batch: int = 64) -> float:
    """MSE of the z-scored measurements on held-out ECGs (first window; predicting the mean gives about 1)."""
    model.eval()
    n = model.encoder.cfg.n_samples
    losses = [float(model(x[i:i + batch, :, :n], targets[i:i + batch])) * len(x[i:i + batch])
              for i in range(0, len(x), batch)]
    return sum(losses) / len(x)


@torch.no_grad()
def representations(encoder: ECGEncoder, x: torch.Tensor, batch: int = 128) -> np.ndarray:
    encoder.eval()
    n = encoder.cfg.n_samples
    return torch.cat([encoder(x[i:i + batch, :, :n]) for i in range(0, len(x), batch)]).numpy()


def lvef_readout_r2(features: np.ndarray, lvef: np.ndarray, folds: int = 5, alpha: float = 1.0) -> float:
    """Cross-validated R^2 of a ridge read-out of LVEF from standardised features (held-out ECGs);
    NaN with fewer than 2 ECGs per fold."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(lvef) < 2 * folds:
        return float("nan")
    prediction = cross_val_predict(make_pipeline(StandardScaler(), Ridge(alpha=alpha)), features, lvef, cv=folds)
    return float(1.0 - np.sum((prediction - lvef) ** 2) / np.sum((lvef - lvef.mean()) ** 2))


OBJECTIVES = ("masked_reconstruction", "patient_contrastive", "ecg_measurements")


def fit_ecg_encoder(encoder_section: dict, standin_section: dict, corpus: StandinCorpus,
                    log: logging.Logger) -> tuple[dict, dict]:
    """Fit the stand-in on ``corpus`` (synthesised for ``standin_section``'s seed, n_patients and
    ecgs_per_patient); returns (checkpoint dict with the encoder's state dict, metrics)."""
    started = time.perf_counter()
    cfg = StandinConfig.from_dict(standin_section)
    if cfg.objective not in OBJECTIVES:
        raise ValueError(f"ecg_encoder.standin.objective must be one of {OBJECTIVES}, not {cfg.objective!r}")
    contrastive = cfg.objective == "patient_contrastive"
    if contrastive and cfg.ecgs_per_patient < 2:
        raise ValueError("ecg_encoder.standin.objective patient_contrastive needs ecgs_per_patient >= 2")
    enc_cfg = ECGEncoderConfig.from_dict(encoder_section)
    log.info("no OTiS weights configured: fitting the synthetic stand-in (%s, %d steps, corpus of %d own patients "
             "x %d ECGs, seed %d)", cfg.objective, cfg.steps, cfg.n_patients, cfg.ecgs_per_patient, cfg.seed)
    if corpus.ecgs.shape[:2] != (cfg.n_patients, cfg.ecgs_per_patient):
        raise ValueError(f"the stand-in corpus holds {corpus.ecgs.shape[1]} ECGs of {corpus.ecgs.shape[0]} patients; "
                         f"ecg_encoder.standin asks for {cfg.ecgs_per_patient} of {cfg.n_patients}")
    lvef = corpus.lvef
    n_held = max(2, int(round(HELD_OUT_FRACTION * cfg.n_patients)))
    train_x = torch.from_numpy(corpus.ecgs[n_held:])
    held_x, held_lvef = torch.from_numpy(corpus.ecgs[:n_held]), lvef[:n_held]
    log.info("corpus: %d training patients, %d held out", len(train_x), n_held)

    torch.manual_seed(cfg.init_seed)  # standin.init_seed: not a pre-training seed (every replicate shares the stand-in)
    encoder = ECGEncoder(enc_cfg)
    torch.manual_seed(cfg.seed)
    measurements = cfg.objective == "ecg_measurements"
    if measurements:  # z-scored with the training patients' statistics
        values = torch.from_numpy(corpus.measurements)
        mean, sd = values[n_held:].mean(dim=0), values[n_held:].std(dim=0).clamp_min(1e-6)
        targets = (values - mean) / sd
        train_targets, held_targets = targets[n_held:], targets[:n_held]
    if contrastive:
        model = PatientContrastive(encoder, cfg.projection_dim, cfg.contrastive_tau)

        def held_out_objective() -> float:
            return held_out_contrastive(model, held_x)
    elif measurements:
        model = MeasurementRegression(encoder, len(ECG_MEASUREMENTS))

        def held_out_objective() -> float:
            return held_out_measurement_mse(model, held_x[:, 0], held_targets)
    else:
        model = MaskedReconstruction(encoder, cfg.decoder_dim, cfg.decoder_depth, enc_cfg.n_heads)

        def held_out_objective() -> float:
            return held_out_reconstruction(model, held_x[:, 0], cfg.mask_ratio, cfg.seed + 1)
    first_ecgs = held_x[:, 0]
    initial_objective = held_out_objective()
    initial_r2 = lvef_readout_r2(representations(encoder, first_ecgs), held_lvef)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "token" in name or "embedding" in name else decay).append(p)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    generator = torch.Generator().manual_seed(cfg.seed)
    warmup = max(1, cfg.steps // 20)
    fit_started = time.perf_counter()
    model.train()
    K = train_x.shape[1]
    for step in range(cfg.steps):
        lr = lr_at_step(step, 1, cfg.steps, cfg.lr, warmup_epochs=warmup, start_ratio=0.1, min_ratio=0.1)
        for group in optimizer.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, len(train_x), (cfg.batch_size,), generator=generator)
        if contrastive:  # two distinct ECGs of each patient, a random window of each
            first = torch.randint(0, K, (cfg.batch_size,), generator=generator)
            second = (first + torch.randint(1, K, (cfg.batch_size,), generator=generator)) % K
            loss = model(_windows(train_x[idx, first], enc_cfg.n_samples, generator),
                         _windows(train_x[idx, second], enc_cfg.n_samples, generator))
        else:
            copy = torch.randint(0, K, (cfg.batch_size,), generator=generator) if K > 1 else torch.zeros_like(idx)
            window = _windows(train_x[idx, copy], enc_cfg.n_samples, generator)
            loss = (model(window, train_targets[idx]) if measurements
                    else model(window, cfg.mask_ratio, generator))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if (step + 1) % max(1, cfg.steps // 10) == 0 or step + 1 == cfg.steps:
            rate = (step + 1) * cfg.batch_size / (time.perf_counter() - fit_started)
            log.info("step %d/%d: %s loss %.4f, lr %.3g, %.0f patients/s", step + 1, cfg.steps, cfg.objective,
                     float(loss.detach()), lr, rate)
    fitted_objective = held_out_objective()
    metrics = {
        "standin": asdict(cfg),
        "encoder": asdict(enc_cfg),
        "train_patients": len(train_x),
        "held_out_patients": n_held,
        "held_out_objective": {"objective": cfg.objective, "initial": initial_objective, "fitted": fitted_objective},
        "held_out_lvef_ridge_r2": {"initial": initial_r2,
                                   "fitted": lvef_readout_r2(representations(encoder, first_ecgs), held_lvef)},
        "description": f"synthetic stand-in for OTiS: {cfg.objective.replace('_', ' ')} on its own synthetic ECG corpus",
    }
    log.info("held-out %s %.4f -> %.4f; ridge R^2 of LVEF from the representation %.3f -> %.3f "
             "(%.1f s in all; the metrics file holds no timing)", cfg.objective, initial_objective, fitted_objective,
             initial_r2, metrics["held_out_lvef_ridge_r2"]["fitted"], time.perf_counter() - started)
    checkpoint = {"encoder": {k: v.detach().clone() for k, v in encoder.state_dict().items()},
                  "config": asdict(enc_cfg), "standin": asdict(cfg)}
    return checkpoint, metrics
