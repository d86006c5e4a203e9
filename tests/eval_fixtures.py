"""Fabricated index tables and contract-shaped feature files with a KNOWN signal, for the tests of
the evaluation (echo2ecg/evaluate) and of its rules.

Feature files follow /work/coord/CONTRACT.md: ``features/{variant}/{replicate}/{cohort}.parquet`` with
ecg_id, split, f0..f{D-1} (float32), and for pre-training cohorts
``features/{variant}/{replicate}/aligned_{cohort}.parquet`` with kind (ecg | study), id, split, z0..z511.

The signal: a variant's representation is ``strength * standardised phenotype`` in the first
coordinates plus unit Gaussian noise; strength 0 is a representation that carries nothing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SIGNAL_PHENOTYPES = ("lvef", "lvedv", "lvesv", "shd")


def fabricate_tables(n_patients: int = 300, cohort: str = "mimic", entity: str = "study", seed: int = 0,
                     ecgs_per_patient: int = 2, studies_per_patient: int = 2) -> dict[str, pd.DataFrame]:
    """ecgs, pairs, phenotypes and splits of one cohort in the documented column layout.
    ``entity``: study (pre-training cohort: ECGs paired with studies), ecg (EchoNext) or patient (UKB)."""
    rng = np.random.default_rng(seed)
    patients = [f"{cohort}-p{i:05d}" for i in range(n_patients)]
    split = rng.choice(["train", "val", "test"], size=n_patients, p=[0.6, 0.2, 0.2])
    splits = pd.DataFrame({"cohort": cohort, "patient_id": patients, "split": split, "split_source": "patient_hash"})
    ecg_rows, pair_rows, ph_rows = [], [], []

    def phenotype_row(entity_id, patient):
        lvedv = rng.uniform(80, 220)
        lvef = float(np.clip(rng.normal(52, 12), 10, 80))
        lvesv = lvedv * (1 - lvef / 100)
        return {"entity": entity, "entity_id": entity_id, "patient_id": patient, "dataset": "fake", "cohort": cohort,
                "lvef": lvef, "lvedv": lvedv, "lvesv": lvesv, "lvsv": lvedv - lvesv, "shd": float(lvef < 45)}

    for p in patients:
        ecg_ids = [f"{p}-e{j}" for j in range(ecgs_per_patient)]
        for e in ecg_ids:
            ecg_rows.append({"ecg_id": e, "patient_id": p, "cohort": cohort, "dataset": "fake"})
        if entity == "study":
            studies = [f"{p}-s{j}" for j in range(studies_per_patient)]
            for s in studies:
                ph_rows.append(phenotype_row(s, p))
            for e in ecg_ids:
                for s in studies[: rng.integers(1, studies_per_patient + 1)]:
                    pair_rows.append({"ecg_id": e, "study_id": s, "patient_id": p, "cohort": cohort})
        elif entity == "patient":
            ph_rows.append(phenotype_row(p, p))
        else:
            for e in ecg_ids:
                ph_rows.append(phenotype_row(e, p))
    pairs = pd.DataFrame(pair_rows, columns=["ecg_id", "study_id", "patient_id", "cohort"])
    return {"ecgs": pd.DataFrame(ecg_rows), "pairs": pairs, "phenotypes": pd.DataFrame(ph_rows), "splits": splits}


def _standardise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    sd = np.nanstd(x)
    return np.nan_to_num((x - np.nanmean(x)) / (sd if sd > 0 else 1.0))


def ecg_values(ecgs, pairs, phenotypes, cohort) -> pd.DataFrame:
    from echo2ecg.evaluate.knn import ecg_phenotypes
    return ecg_phenotypes(ecgs, pairs, phenotypes, cohort)


def feature_table(ecgs, pairs, phenotypes, splits, cohort, strength: float, dim: int = 16, seed: int = 0) -> pd.DataFrame:
    """Contract-shaped ECG feature table: ecg_id, split, f0..f{dim-1} (float32)."""
    rng = np.random.default_rng(seed)
    values = ecg_values(ecgs, pairs, phenotypes, cohort)
    split_of = splits[splits["cohort"] == cohort].set_index("patient_id")["split"]
    x = rng.normal(size=(len(values), dim))
    for j, name in enumerate(SIGNAL_PHENOTYPES[: dim]):
        x[:, j] += strength * _standardise(values[name].to_numpy())
    frame = pd.DataFrame(x.astype(np.float32), columns=[f"f{j}" for j in range(dim)])
    frame.insert(0, "split", values["patient_id"].map(split_of).astype(str).to_numpy())
    frame.insert(0, "ecg_id", values["ecg_id"].astype(str).to_numpy())
    return frame


def aligned_table(ecgs, pairs, phenotypes, splits, cohort, strength: float, dim: int = 512, seed: int = 0) -> pd.DataFrame:
    """Contract-shaped aligned table (kind, id, split, z0..z{dim-1}) of a pre-training cohort:
    ECG and study embeddings share the phenotype directions (times ``strength``) plus noise."""
    rng = np.random.default_rng(seed + 1)
    split_of = splits[splits["cohort"] == cohort].set_index("patient_id")["split"]
    values = ecg_values(ecgs, pairs, phenotypes, cohort)
    study = phenotypes[(phenotypes["cohort"] == cohort) & (phenotypes["entity"] == "study")]
    parts = []
    for kind, ids, patients, table in (("ecg", values["ecg_id"], values["patient_id"], values),
                                       ("study", study["entity_id"], study["patient_id"], study)):
        z = rng.normal(size=(len(ids), dim))
        for j, name in enumerate(("lvedv", "lvesv", "lvsv", "lvef")):
            z[:, j] += strength * _standardise(table[name].to_numpy())
        frame = pd.DataFrame(z.astype(np.float32), columns=[f"z{j}" for j in range(dim)])
        frame.insert(0, "split", patients.map(split_of).astype(str).to_numpy())
        frame.insert(0, "id", ids.astype(str).to_numpy())
        frame.insert(0, "kind", kind)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def write_contract_features(results: Path, strengths: dict[str, float], pretrain_cohorts, downstream_cohorts,
                            dim: int = 16, aligned_dim: int = 512, replicate: str = "seed42",
                            noise_seed: int = 0) -> list[Path]:
    """Write features/{variant}/{replicate}/{cohort}.parquet for every cohort and aligned_{cohort}.parquet
    for the pre-training cohorts, from the run's own index tables under ``results/tables``."""
    tables = {name: pd.read_parquet(results / "tables" / f"{name}.parquet")
              for name in ("ecgs", "pairs", "phenotypes", "splits")}
    written = []
    for i, (variant, strength) in enumerate(strengths.items()):
        out = results / "features" / variant / replicate
        out.mkdir(parents=True, exist_ok=True)
        for cohort in [*pretrain_cohorts, *downstream_cohorts]:
            path = out / f"{cohort}.parquet"
            feature_table(**tables, cohort=cohort, strength=strength, dim=dim, seed=noise_seed + i).to_parquet(path, index=False)
            written.append(path)
        for cohort in pretrain_cohorts:
            path = out / f"aligned_{cohort}.parquet"
            aligned_table(**tables, cohort=cohort, strength=strength, dim=aligned_dim, seed=noise_seed + i).to_parquet(
                path, index=False)
            written.append(path)
    return written


def write_curve(results: Path, variant: str, epochs: int = 5, scale: float = 1.0, replicate: str = "seed42") -> Path:
    """A contract-shaped training curve (epoch, step, train_loss, val_loss, lr)."""
    out = results / "models" / variant / replicate
    out.mkdir(parents=True, exist_ok=True)
    epoch = np.arange(1, epochs + 1)
    curve = pd.DataFrame({"epoch": epoch, "step": epoch * 10, "train_loss": 3.0 * scale / epoch + 1.0,
                          "val_loss": 3.2 * scale / epoch + 1.1, "lr": 5e-4 * np.ones(epochs)})
    curve.to_parquet(out / "curve.parquet", index=False)
    return out / "curve.parquet"
