"""A measured sweep for the demo pre-training preset: does alignment show at demo budget?

Cohort: generator ECGs (echo2ecg.synthesize_cohort: latent hearts -> dipole ECGs, preprocessed
as every ECG is) of ``--patients`` pre-training patients with one echo study and
``--ecgs-per-study`` ECGs each (so pairs = patients x ECGs per study), plus ``--held-out``
patients with one ECG for the evaluation. The echo side is the *idealised* one of the issue's
prior measurements: every study has 3-5 view embeddings (512-d), each a fixed random linear map
of the study's standardised (LVEF, LVEDV, LVESV, wall, SHD) plus view-specific noise, so the
study carries the phenotype about as well as a good echo encoder does; real view embeddings
from the demo's frozen echo encoder carry less (see echo/echo_embedding_phenotype.json).

Quick metric: kNN (k = 5, Euclidean) 3-class LVEF AUROC (macro one-vs-rest; <= 40, 40-50, >= 50)
with a class-balanced training set drawn from the pre-training patients' ECGs (the paper's
~300) and the held-out patients as test set.

    python benchmarks/sweep_pretrain.py --runs random,standin,align_random,align_standin

Every run appends a row to benchmarks/results/pretrain_sweep.jsonl; the table goes to
benchmarks/results/pretrain_sweep.md.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from echo2ecg.extract_ecg_features import encode_ecgs  # noqa: E402
from echo2ecg.ecg_standin_corpus import StandinCorpus  # noqa: E402
from echo2ecg.fit_ecg_encoder import fit_ecg_encoder  # noqa: E402
from echo2ecg.logs import stage_logger  # noqa: E402
from echo2ecg.preprocess_ecg import ECGPreprocessing, preprocess_ecg_batch  # noqa: E402
from echo2ecg.pretrain import PairTensors, PretrainConfig, VariantSpec, build_model, pretrain  # noqa: E402
from echo2ecg.synthesize_cohort.ecg import NOISE_PROFILES, synthesize_ecg  # noqa: E402
from echo2ecg.synthesize_cohort.hearts import drift_hearts, sample_hearts  # noqa: E402

OUT = REPO / "benchmarks/results"


def lvef_class(lvef: np.ndarray) -> np.ndarray:
    return np.digitize(lvef, [40.0 + 1e-9, 50.0])  # 0: <= 40, 1: 40-50, 2: >= 50


def build_cohort(n_patients: int, ecgs_per_study: int, n_held_out: int, seed: int, log) -> dict:
    rng = np.random.default_rng([seed, 1])
    hearts = sample_hearts(rng, n_patients + n_held_out)
    params = ECGPreprocessing()
    ecgs, ecg_lvef, pair_study, study_hearts = [], [], [], []
    for p in range(n_patients):
        visits = drift_hearts(hearts.iloc[p].to_dict(), np.sort(rng.uniform(0, 7, ecgs_per_study + 1)), rng)
        study_hearts.append(visits.iloc[0].to_dict())
        for j in range(ecgs_per_study):
            heart = visits.iloc[j + 1].to_dict()
            ecgs.append(synthesize_ecg(heart, np.random.default_rng([seed, 2, p, j]), noise=NOISE_PROFILES["mimic"]))
            ecg_lvef.append(heart["lvef"])
            pair_study.append(p)
    held, held_lvef = [], []
    for p in range(n_patients, n_patients + n_held_out):
        heart = hearts.iloc[p].to_dict()
        held.append(synthesize_ecg(heart, np.random.default_rng([seed, 3, p]), noise=NOISE_PROFILES["mimic"]))
        held_lvef.append(heart["lvef"])
    t0 = time.perf_counter()
    x = np.concatenate([preprocess_ecg_batch(ecgs[i:i + 256], 500.0, params) for i in range(0, len(ecgs), 256)])
    h = np.concatenate([preprocess_ecg_batch(held[i:i + 256], 500.0, params) for i in range(0, len(held), 256)])
    log.info("cohort: %d pairs of %d studies, %d held-out ECGs (preprocessed in %.0f s)", len(x), n_patients, len(h),
             time.perf_counter() - t0)
    # idealised echo side
    keys = ("lvef", "lvedv", "lvesv", "wall_mm", "shd")
    phen = np.array([[s[k] for k in keys] for s in study_hearts], dtype=np.float64)
    phen = (phen - phen.mean(0)) / phen.std(0)
    mapping = rng.normal(size=(len(keys), 512)) / np.sqrt(len(keys))
    n_views = rng.integers(3, 6, n_patients)
    views = np.zeros((n_patients, 5, 512), dtype=np.float32)
    valid = np.zeros((n_patients, 5), dtype=bool)
    for s in range(n_patients):
        for v in range(n_views[s]):
            views[s, v] = phen[s] @ mapping + rng.normal(scale=0.7, size=512)
            valid[s, v] = True
    return {"x": x, "lvef": np.array(ecg_lvef), "pair_study": np.array(pair_study), "views": views, "valid": valid,
            "held_x": h, "held_lvef": np.array(held_lvef)}


def knn_auroc(train_f, train_y, test_f, test_y, k: int = 5, per_class: int = 100, seed: int = 0) -> float:
    from sklearn.metrics import roc_auc_score
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(seed)
    pick = np.concatenate([rng.choice(np.flatnonzero(train_y == c), min(per_class, int((train_y == c).sum())),
                                      replace=False) for c in range(3)])
    knn = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(train_f[pick], train_y[pick])
    return float(roc_auc_score(test_y, knn.predict_proba(test_f), multi_class="ovr", average="macro"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="random,standin,align_random,align_standin")
    parser.add_argument("--patients", type=int, default=370)
    parser.add_argument("--ecgs-per-study", type=int, default=3)
    parser.add_argument("--held-out", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--standin-steps", type=int, default=None)
    parser.add_argument("--preset", default=None, help="a preset layered on config.yaml (model numbers)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    log = stage_logger("sweep_pretrain")
    log.setLevel(logging.INFO)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    if args.preset:
        from snakemake.utils import update_config

        update_config(config, yaml.safe_load(Path(args.preset).read_text()))
    if args.epochs:
        config["pretrain"]["epochs"] = args.epochs
    if args.lr:
        config["pretrain"]["lr"] = args.lr
    if args.standin_steps:
        config["ecg_encoder"]["standin"]["steps"] = args.standin_steps
    cohort = build_cohort(args.patients, args.ecgs_per_study, args.held_out, seed=99, log=log)
    n = len(cohort["x"])
    data = PairTensors(torch.from_numpy(cohort["x"]), torch.from_numpy(cohort["views"]),
                       torch.from_numpy(cohort["valid"]), torch.arange(n), torch.from_numpy(cohort["pair_study"]),
                       [str(i) for i in range(n)], [str(i) for i in range(len(cohort["views"]))])
    val_idx = torch.arange(n)[::10]
    val = PairTensors(data.ecgs, data.views, data.valid, val_idx, data.pair_study[val_idx], data.ecg_ids, data.study_ids)
    train_y, test_y = lvef_class(cohort["lvef"]), lvef_class(cohort["held_lvef"])
    cfg = PretrainConfig.from_dict(config["pretrain"])
    n_samples = config["ecg_encoder"]["n_samples"]
    standin_path = Path("/tmp/sweep_standin.pt")
    work = Path("/tmp/sweep_runs")
    work.mkdir(exist_ok=True)
    for run in args.runs.split(","):
        started = time.perf_counter()
        init = "foundation" if "standin" in run else "random"
        steps = None
        if init == "foundation" and not standin_path.exists():
            standin = config["ecg_encoder"]["standin"]
            corpus = StandinCorpus.synthesize(standin["n_patients"], standin["seed"], ECGPreprocessing(),
                                              standin.get("ecgs_per_patient", 1))
            checkpoint, metrics = fit_ecg_encoder({k: v for k, v in config["ecg_encoder"].items() if k != "standin"},
                                                  standin, corpus, log)
            torch.save(checkpoint, standin_path)
            log.info("stand-in metrics %s", metrics)
        variant = VariantSpec(run, "attention", init, run.startswith("align"))
        model, _ = build_model(cfg, config["ecg_encoder"], variant, str(standin_path), log)
        for stale in (work / run).glob("*.pt"):
            stale.unlink()
        if variant.align:
            result = pretrain(model, data, val, cfg, variant, n_samples, work / run, work / f"{run}_best.pt",
                              work / f"{run}_last.pt", {}, log)
            steps = int(result.curve["step"].iloc[-1])
            final_val = float(result.curve["val_loss"].iloc[-1])
        else:
            final_val = float("nan")
        seconds = time.perf_counter() - started
        device = torch.device("cpu")
        train_f = encode_ecgs(model, cohort["x"], n_samples, 256, device)
        test_f = encode_ecgs(model, cohort["held_x"], n_samples, 256, device)
        auroc = knn_auroc(train_f, train_y, test_f, test_y)
        row = {"run": run, "tag": args.tag, "pairs": n, "epochs": cfg.epochs if variant.align else 0, "steps": steps,
               "lr": cfg.lr, "batch": cfg.batch_size, "encoder": {k: config["ecg_encoder"][k] for k in
                                                                 ("patch_size", "embed_dim", "depth", "n_heads")},
               "standin_steps": config["ecg_encoder"]["standin"]["steps"] if init == "foundation" else 0,
               "final_val_loss": final_val, "chance_loss": float(np.log(cfg.batch_size)), "knn_lvef_auroc": auroc,
               "seconds": round(seconds, 1)}
        log.info("RESULT %s", row)
        with open(OUT / "pretrain_sweep.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")


def write_table() -> None:
    """benchmarks/results/pretrain_sweep.md from every row of pretrain_sweep.jsonl."""
    rows = [json.loads(line) for line in (OUT / "pretrain_sweep.jsonl").read_text().splitlines() if line.strip()]
    lines = ["# Pre-training sweep: kNN (k = 5) 3-class LVEF AUROC on held-out patients", "",
             "Generator ECGs, idealised echo side (see benchmarks/sweep_pretrain.py); 2 shared CPU cores, so the "
             "seconds are wall time under other processes' load.", "",
             "| run | tag | pairs | encoder (patch, width, depth) | stand-in steps | epochs | steps | lr | batch | "
             "final val loss (chance) | kNN LVEF AUROC | s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e = r["encoder"]
        lines.append(f"| {r['run']} | {r['tag']} | {r['pairs']} | {e['patch_size']}, {e['embed_dim']}, {e['depth']} | "
                     f"{r['standin_steps']} | {r['epochs']} | {r['steps'] or 0} | {r['lr']:g} | {r['batch']} | "
                     f"{r['final_val_loss']:.3f} ({r['chance_loss']:.3f}) | {r['knn_lvef_auroc']:.3f} | {r['seconds']} |")
    notes = OUT / "pretrain_sweep_notes.md"  # hand-written reading of the rows, kept under the table
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    (OUT / "pretrain_sweep.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--table"]:
        write_table()
    else:
        main()
        write_table()
