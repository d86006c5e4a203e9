"""A stand-in for OTiS (rule fit_ecg_encoder, only without OTiS weights).

The paper starts its ECG encoder from OTiS, a foundation model pre-trained on large ECG corpora
by masked reconstruction. Without those weights, this module pre-trains the same encoder the
same way on its OWN synthetic ECG-only corpus: its own seed and its own patients (latent hearts
drawn by echo2ecg.synthesize_cohort.hearts, ECGs by its dipole generator under the acquisition
profiles of all three cohorts), never the pre-training or evaluation cohorts; every ECG goes
through echo2ecg.preprocess_ecg as the cohorts' ECGs do.

Masked reconstruction (MAE, as OTiS): a random ``mask_ratio`` of the patch tokens is hidden,
the encoder sees the rest, a small decoder (``decoder_depth`` blocks of ``decoder_dim``) fills in
mask tokens and regresses every hidden patch's samples; loss = MSE on the hidden patches. A
fixed number of steps, seeded: the same config gives the same weights (on CPU bit-identical).
Held-out corpus patients measure what it learnt: reconstruction error against the encoder as
initialised, and how much of LVEF a ridge read-out finds in its representation.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from echo2ecg.logs import Progress
from echo2ecg.model.ecg_encoder import Block, ECGEncoder, ECGEncoderConfig, fit_temporal_table
from echo2ecg.model.optimizer import lr_at_step
from echo2ecg.preprocess_ecg import ECGPreprocessing, preprocess_ecg_batch
from echo2ecg.synthesize_cohort.ecg import NOISE_PROFILES, synthesize_ecg
from echo2ecg.synthesize_cohort.hearts import sample_hearts

HELD_OUT_FRACTION = 0.2  # corpus patients kept out of training for the metrics


@dataclass
class StandinConfig:
    """``ecg_encoder.standin`` of config.yaml."""

    seed: int = 7321
    init_seed: int = 42  # the encoder's initial weights: its own key, shared by every pre-training replicate
    n_patients: int = 2000
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
# The corpus
# ---------------------------------------------------------------------------------------------

def synthesize_corpus(n_patients: int, seed: int, preprocessing: ECGPreprocessing, log: logging.Logger | None = None,
                      chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``n_patients`` ECGs (one per patient), preprocessed ``(N, 12, n_samples)`` float32, and their LVEF.

    The hearts come from ``seed`` alone (a stream no cohort uses: the cohorts draw from
    ``[synthetic.seed, ...]``); acquisition profiles rotate over the three cohorts' profiles.
    """
    rng = np.random.default_rng([int(seed), 77])
    hearts = sample_hearts(rng, n_patients)
    profiles = list(NOISE_PROFILES)
    out = np.empty((n_patients, 12, preprocessing.n_samples), dtype=np.float32)
    progress = Progress(log, n_patients, "stand-in corpus ECGs") if log else None
    for start in range(0, n_patients, chunk):
        signals = []
        for i in range(start, min(start + chunk, n_patients)):
            heart = hearts.iloc[i].to_dict()
            record_rng = np.random.default_rng([int(seed), 78, i])
            signals.append(synthesize_ecg(heart, record_rng, fs=500.0, duration_s=10.0,
                                          noise=NOISE_PROFILES[profiles[i % len(profiles)]]))
        out[start:start + len(signals)] = preprocess_ecg_batch(signals, 500.0, preprocessing)
        if progress:
            progress.step(len(signals))
    return out, hearts["lvef"].to_numpy(dtype=np.float64)


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


def fit_ecg_encoder(encoder_section: dict, standin_section: dict, preprocessing: ECGPreprocessing,
                    log: logging.Logger) -> tuple[dict, dict]:
    """Fit the stand-in; returns (checkpoint dict with the encoder's state dict, metrics)."""
    started = time.perf_counter()
    cfg = StandinConfig.from_dict(standin_section)
    enc_cfg = ECGEncoderConfig.from_dict(encoder_section)
    log.info("no OTiS weights configured: fitting the synthetic stand-in (masked reconstruction, %d steps, "
             "corpus of %d own patients, seed %d)", cfg.steps, cfg.n_patients, cfg.seed)
    corpus, lvef = synthesize_corpus(cfg.n_patients, cfg.seed, preprocessing, log)
    n_held = max(2, int(round(HELD_OUT_FRACTION * cfg.n_patients)))
    train_x = torch.from_numpy(corpus[n_held:])
    held_x, held_lvef = torch.from_numpy(corpus[:n_held]), lvef[:n_held]
    log.info("corpus: %d training ECGs, %d held out (%.1f s)", len(train_x), n_held, time.perf_counter() - started)

    torch.manual_seed(cfg.init_seed)  # standin.init_seed: not a pre-training seed (every replicate shares the stand-in)
    encoder = ECGEncoder(enc_cfg)
    torch.manual_seed(cfg.seed)
    model = MaskedReconstruction(encoder, cfg.decoder_dim, cfg.decoder_depth, enc_cfg.n_heads)
    initial_reconstruction = held_out_reconstruction(model, held_x, cfg.mask_ratio, cfg.seed + 1)
    initial_r2 = lvef_readout_r2(representations(encoder, held_x), held_lvef)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "token" in name or "embedding" in name else decay).append(p)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    generator = torch.Generator().manual_seed(cfg.seed)
    warmup = max(1, cfg.steps // 20)
    fit_started = time.perf_counter()
    model.train()
    for step in range(cfg.steps):
        lr = lr_at_step(step, 1, cfg.steps, cfg.lr, warmup_epochs=warmup, start_ratio=0.1, min_ratio=0.1)
        for group in optimizer.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, len(train_x), (cfg.batch_size,), generator=generator)
        loss = model(_windows(train_x[idx], enc_cfg.n_samples, generator), cfg.mask_ratio, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if (step + 1) % max(1, cfg.steps // 10) == 0 or step + 1 == cfg.steps:
            rate = (step + 1) * cfg.batch_size / (time.perf_counter() - fit_started)
            log.info("step %d/%d: masked reconstruction loss %.4f, lr %.3g, %.0f ECGs/s", step + 1, cfg.steps,
                     float(loss.detach()), lr, rate)
    metrics = {
        "standin": asdict(cfg),
        "encoder": asdict(enc_cfg),
        "train_ecgs": len(train_x),
        "held_out_ecgs": n_held,
        "held_out_reconstruction_mse": {"initial": initial_reconstruction,
                                        "fitted": held_out_reconstruction(model, held_x, cfg.mask_ratio, cfg.seed + 1)},
        "held_out_lvef_ridge_r2": {"initial": initial_r2,
                                   "fitted": lvef_readout_r2(representations(encoder, held_x), held_lvef)},
        "description": "synthetic stand-in for OTiS: masked patch reconstruction on its own synthetic ECG corpus",
    }
    log.info("held-out masked reconstruction MSE %.4f -> %.4f; ridge R^2 of LVEF from the representation %.3f -> %.3f "
             "(%.1f s in all; the metrics file holds no timing)",
             metrics["held_out_reconstruction_mse"]["initial"], metrics["held_out_reconstruction_mse"]["fitted"],
             initial_r2, metrics["held_out_lvef_ridge_r2"]["fitted"], time.perf_counter() - started)
    checkpoint = {"encoder": {k: v.detach().clone() for k, v in encoder.state_dict().items()},
                  "config": asdict(enc_cfg), "standin": asdict(cfg)}
    return checkpoint, metrics
