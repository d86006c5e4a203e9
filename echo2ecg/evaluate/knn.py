"""kNN classification of frozen ECG representations (rule family knn; RECIPE section 7).

k = 5 nearest training ECGs, brute force, Euclidean distance, uniform weights; class scores from
``predict_proba``. Two tasks:

- ``lvef``: 3 classes from the ECG's LVEF (class 0 reduced: LVEF <= 40 %; class 1 mildly
  reduced: 40 % < LVEF < 50 %; class 2 normal: LVEF >= 50 %; a value exactly at 40 is reduced, at
  50 normal, as in the paper's "<= 40 %" and ">= 50 %"). Training set: a small class-balanced
  draw (``train_size`` ECGs, a third per class) from the cohort's train split; validation and
  test keep their natural distribution. On the pre-training cohort this is the paper's
  "internal" evaluation: its test patients took no part in pre-training.
- ``shd``: binary, on the cohort with ECG-level SHD labels; kNN trained on fractions of the train
  split (a class-stratified draw, at least one ECG of each class), repeated with several seeds
  at fractions below 1.

Labels of an ECG come from the phenotype table's entity for its cohort: the ECG itself
(EchoNext), its patient (UKB) or its paired echo studies (the pre-training cohort). Pairs are
many-to-many; an ECG paired with several studies takes the MEAN of their values (RECIPE 7 uses the
same rule for the retrieval query), and its LVEF class is the class of that mean; SHD from several
studies is present when present in any. ECGs without a value are left out and counted.

Train and test never share a patient: :func:`assert_patient_disjoint` is called on every set
built here and raises otherwise.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.neighbors import KNeighborsClassifier

from echo2ecg.evaluate.bootstrap import (bootstrap_metrics, identity_indices, paired_difference, resample_indices,
                                         resampled_metrics)

PHENOTYPES = ("lvef", "lvedv", "lvesv", "lvsv", "shd")
SPLIT_NAMES = ("train", "val", "test")
TASK_CLASSES = {"lvef": ("reduced", "mildly reduced", "normal"), "shd": ("absent", "present")}


@dataclass(frozen=True)
class KNNConfig:
    """The classifier (defaults: RECIPE section 7)."""

    k: int = 5
    metric: str = "euclidean"
    weights: str = "uniform"
    algorithm: str = "brute"

    @classmethod
    def from_dict(cls, d: dict) -> "KNNConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class LVEFClasses:
    """Class boundaries in % (paper section 4.3): <= reduced_max, in between, >= normal_min."""

    reduced_max: float = 40.0
    normal_min: float = 50.0

    def classify(self, lvef: np.ndarray) -> np.ndarray:
        """Class 0/1/2 of each LVEF value; -1 where unknown."""
        lvef = np.asarray(lvef, dtype=np.float64)
        out = np.where(lvef <= self.reduced_max, 0, np.where(lvef >= self.normal_min, 2, 1))
        return np.where(np.isfinite(lvef), out, -1)


@dataclass(frozen=True)
class EvaluationConfig:
    """The numbers of the evaluation (config section ``evaluation``)."""

    seed: int = 42
    knn: KNNConfig = field(default_factory=KNNConfig)
    lvef_classes: LVEFClasses = field(default_factory=LVEFClasses)
    lvef_train_size: int = 300
    shd_fractions: tuple = (0.001, 0.01, 0.1, 1.0)
    shd_repeat_seeds: tuple = (0, 1, 2, 3, 4)
    shd_min_train_ecgs: int = 20
    n_bootstrap: int = 1000
    ci: float = 0.95

    @classmethod
    def from_dict(cls, d: dict) -> "EvaluationConfig":
        """From the config section ``evaluation`` (or the part of it one task reads)."""
        kw = {"seed": d["seed"], "knn": KNNConfig.from_dict(d["knn"]),
              "n_bootstrap": d["bootstrap"]["n_resamples"], "ci": d["bootstrap"]["ci"]}
        if "lvef" in d:
            kw |= {"lvef_classes": LVEFClasses(**d["lvef"]["classes"]), "lvef_train_size": d["lvef"]["train_size"]}
        if "shd" in d:
            kw |= {"shd_fractions": tuple(d["shd"]["fractions"]), "shd_repeat_seeds": tuple(d["shd"]["repeat_seeds"]),
                   "shd_min_train_ecgs": d["shd"]["min_train_ecgs"]}
        return cls(**kw)


# ---- labels ------------------------------------------------------------------------------------
def ecg_phenotypes(ecgs: pd.DataFrame, pairs: pd.DataFrame, phenotypes: pd.DataFrame, cohort: str) -> pd.DataFrame:
    """One row per ECG of ``cohort`` with ecg_id, patient_id and each phenotype (NaN when
    unknown), plus ``n_label_studies`` (how many paired studies with a phenotype it averages; 0 for
    cohorts labelled per ECG or patient)."""
    mine = ecgs.loc[ecgs["cohort"] == cohort, ["ecg_id", "patient_id"]].astype({"ecg_id": str, "patient_id": str})
    ph = phenotypes[phenotypes["cohort"] == cohort]
    entities = set(ph["entity"].astype(str))
    if len(entities) > 1:
        raise ValueError(f"phenotypes of cohort {cohort} mix entities {sorted(entities)}")
    values = ph[["entity_id", *PHENOTYPES]].astype({"entity_id": str}).set_index("entity_id")
    values = values.apply(pd.to_numeric, errors="coerce")
    entity = entities.pop() if entities else "ecg"
    if entity == "study":
        p = pairs.loc[pairs["cohort"] == cohort, ["ecg_id", "study_id"]].astype(str)
        joined = p.join(values, on="study_id", how="inner")
        agg = {c: "mean" for c in PHENOTYPES if c != "shd"} | {"shd": "max", "study_id": "nunique"}
        per_ecg = joined.groupby("ecg_id").agg(agg).rename(columns={"study_id": "n_label_studies"})
        out = mine.join(per_ecg, on="ecg_id")
        out["n_label_studies"] = out["n_label_studies"].fillna(0).astype(int)
    elif entity == "patient":
        out = mine.join(values, on="patient_id").assign(n_label_studies=0)
    else:
        out = mine.join(values, on="ecg_id").assign(n_label_studies=0)
    return out.reset_index(drop=True)


def task_labels(frame: pd.DataFrame, task: str, classes: LVEFClasses) -> np.ndarray:
    """Int class per ECG for a task; -1 where unknown."""
    if task == "lvef":
        return classes.classify(frame["lvef"].to_numpy(dtype=np.float64))
    if task == "shd":
        shd = frame["shd"].to_numpy(dtype=np.float64)
        return np.where(np.isfinite(shd), (shd > 0).astype(int), -1)
    raise ValueError(f"unknown kNN task {task!r} (known: {sorted(TASK_CLASSES)})")


def labelled_ecgs(features: pd.DataFrame, labels: pd.DataFrame, splits: pd.DataFrame, cohort: str,
                  task: str, classes: LVEFClasses) -> pd.DataFrame:
    """The cohort's ECGs with a feature row and a label: ecg_id, patient_id, split, label, and
    the feature row's position (``row``). The feature file's split must agree with the patient's
    split in the split table."""
    split_of = splits[splits["cohort"] == cohort].astype(str).set_index("patient_id")["split"]
    twice = split_of.index[split_of.index.duplicated()].unique()
    if len(twice):
        raise ValueError(f"split table of cohort {cohort}: {len(twice)} patients are in more than one split "
                         f"(e.g. {twice[0]}); train and test would share a patient")
    frame = labels.assign(label=task_labels(labels, task, classes), split=lambda f: f["patient_id"].map(split_of))
    rows = pd.Series(np.arange(len(features)), index=features["ecg_id"].astype(str))
    if rows.index.duplicated().any():
        raise ValueError(f"features of cohort {cohort}: duplicate ecg_id")
    frame = frame[frame["ecg_id"].isin(rows.index) & (frame["label"] >= 0) & frame["split"].isin(SPLIT_NAMES)]
    frame = frame.assign(row=frame["ecg_id"].map(rows).astype(int))
    feature_split = features["split"].astype(str).to_numpy()[frame["row"].to_numpy()]
    wrong = feature_split != frame["split"].to_numpy()
    if wrong.any():
        example = frame.loc[wrong, "ecg_id"].iloc[0]
        raise ValueError(f"features of cohort {cohort}: {int(wrong.sum())} ECGs carry a split that differs from "
                         f"their patient's split in splits.parquet (e.g. {example})")
    return frame.sort_values("ecg_id").reset_index(drop=True)


# ---- training and test sets --------------------------------------------------------------------
def _rng(seed: int, *keys) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *(zlib.crc32(str(k).encode()) for k in keys)]))


def assert_patient_disjoint(train: pd.DataFrame, test: pd.DataFrame, what: str = "") -> None:
    shared = set(train["patient_id"]) & set(test["patient_id"])
    if shared:
        raise ValueError(f"kNN {what}: {len(shared)} patients are in both the training and the test set")


def balanced_draw(train: pd.DataFrame, size: int, n_classes: int, rng: np.random.Generator, log=None) -> pd.DataFrame:
    """``size // n_classes`` ECGs of each class, without replacement. When a class has fewer, every
    class gets as many as the smallest has (the set stays balanced) and the log says so."""
    per_class = size // n_classes
    available = train["label"].value_counts().reindex(range(n_classes), fill_value=0)
    if (available == 0).any():
        missing = [int(c) for c in available.index[available == 0]]
        raise ValueError(f"balanced kNN training set: no training ECG of class {missing}")
    if available.min() < per_class:
        if log:
            log.warning("balanced draw: %d per class asked, the smallest class has %d; using %d per class",
                        per_class, int(available.min()), int(available.min()))
        per_class = int(available.min())
    parts = [train[train["label"] == c] for c in range(n_classes)]
    chosen = [p.iloc[np.sort(rng.choice(len(p), size=per_class, replace=False))] for p in parts]
    return pd.concat(chosen).sort_values("ecg_id").reset_index(drop=True)


def fraction_draw(train: pd.DataFrame, fraction: float, rng: np.random.Generator) -> pd.DataFrame:
    """A class-stratified share ``fraction`` of the training ECGs (round(fraction * n_c) of each
    class c, at least one); the whole set at fraction 1."""
    if fraction >= 1.0:
        return train.reset_index(drop=True)
    chosen = []
    for _, part in train.groupby("label", sort=True):
        n = min(len(part), max(1, int(round(fraction * len(part)))))
        chosen.append(part.iloc[np.sort(rng.choice(len(part), size=n, replace=False))])
    return pd.concat(chosen).sort_values("ecg_id").reset_index(drop=True)


def class_counts(labels: np.ndarray, n_classes: int) -> str:
    """'a/b/c' counts of each class."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=n_classes)
    return "/".join(str(int(c)) for c in counts)


# ---- the classifier ----------------------------------------------------------------------------
def knn_scores(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, n_classes: int,
               cfg: KNNConfig) -> np.ndarray:
    """``(n_test, n_classes)`` kNN class scores (the share of the k neighbours in each class)."""
    if len(train_x) < cfg.k:
        raise ValueError(f"kNN: {len(train_x)} training ECGs, fewer than k = {cfg.k}")
    clf = KNeighborsClassifier(n_neighbors=cfg.k, algorithm=cfg.algorithm, metric=cfg.metric,
                               weights=cfg.weights, n_jobs=1)
    clf.fit(train_x, train_y)
    proba = np.zeros((len(test_x), n_classes))
    proba[:, clf.classes_.astype(int)] = clf.predict_proba(test_x)
    return proba


def feature_matrix(features: pd.DataFrame) -> np.ndarray:
    """The representation's columns f0..f{D-1} as a float32 (n, D) matrix, in column order."""
    columns = sorted((c for c in features.columns if c.startswith("f") and c[1:].isdigit()), key=lambda c: int(c[1:]))
    if not columns:
        raise ValueError("feature table has no f0..f{D-1} columns")
    return features[columns].to_numpy(dtype=np.float32)


def evaluate_task(features: pd.DataFrame, labels: pd.DataFrame, splits: pd.DataFrame, *, variant: str,
                  task: str, cohort: str, cfg: EvaluationConfig, log=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every kNN result of one variant on one task and cohort.

    Returns ``(results, scores)``: one results row per training fraction (LVEF: one row, the
    balanced draw) with AUROC, AUPRC, balanced accuracy and their bootstrap CIs, set sizes and
    class counts, and for repeated draws the mean / SD / min / max AUROC over the seeds;
    ``scores`` holds each test ECG's class scores of the first draw (for paired differences)."""
    n_classes = len(TASK_CLASSES[task])
    sets = labelled_ecgs(features, labels, splits, cohort, task, cfg.lvef_classes)
    x = feature_matrix(features)
    by_split = {s: sets[sets["split"] == s] for s in SPLIT_NAMES}
    test, train_pool = by_split["test"], by_split["train"]
    if len(test) == 0:
        raise ValueError(f"kNN {task}/{cohort}: no labelled test ECG")
    key = f"{task}/{cohort}"
    indices = resample_indices(len(test), cfg.n_bootstrap, cfg.seed, key)
    if task == "lvef":
        draws = [(np.nan, "balanced", [cfg.seed])]
    else:
        draws = [(f, "fraction", list(cfg.shd_repeat_seeds) if f < 1.0 else [cfg.shd_repeat_seeds[0]])
                 for f in cfg.shd_fractions]
    rows, scores = [], []
    for fraction, draw, seeds in draws:
        aurocs = []
        for i, seed in enumerate(seeds):
            rng = _rng(cfg.seed if draw == "balanced" else seed, key, fraction)
            if draw == "balanced":
                train = balanced_draw(train_pool, cfg.lvef_train_size, n_classes, rng, log=log)
            else:
                train = fraction_draw(train_pool, fraction, rng)
                if len(train) < cfg.shd_min_train_ecgs:
                    raise ValueError(
                        f"config key evaluation.shd.fractions: fraction {fraction:g} of the {len(train_pool)} "
                        f"training ECGs of {cohort} gives {len(train)} ECGs, fewer than "
                        f"evaluation.shd.min_train_ecgs = {cfg.shd_min_train_ecgs}")
            assert_patient_disjoint(train, test, key)
            proba = knn_scores(x[train["row"].to_numpy()], train["label"].to_numpy(), x[test["row"].to_numpy()],
                               n_classes, cfg.knn)
            if i == 0:  # the first draw: point estimates with bootstrap CIs, and its scores
                first, _ = bootstrap_metrics(test["label"].to_numpy(), proba, indices, cfg.ci)
                first_train, auroc = train, first["auroc"].estimate
                scores.append(pd.DataFrame({"variant": variant, "task": task, "cohort": cohort,
                                            "train_fraction": fraction, "ecg_id": test["ecg_id"].to_numpy(),
                                            "label": test["label"].to_numpy()})
                              .join(pd.DataFrame(proba, columns=[f"p{c}" for c in range(n_classes)])))
            else:  # repeated draws: the point estimate only
                auroc = point_metrics(test["label"].to_numpy(), proba)["auroc"]
            aurocs.append(auroc)
            if log:
                log.info("%s %s/%s fraction %s seed %s: n_train %d, AUROC %.4f", variant, task, cohort,
                         fraction, seed, len(train), auroc)
        row = {"variant": variant, "task": task, "cohort": cohort, "train_fraction": fraction, "draw": draw,
               "n_train": len(first_train), "n_train_pool": len(train_pool), "n_val": len(by_split["val"]),
               "n_test": len(test), "n_test_patients": test["patient_id"].nunique(),
               "train_classes": class_counts(first_train["label"], n_classes),
               "val_classes": class_counts(by_split["val"]["label"], n_classes),
               "test_classes": class_counts(test["label"], n_classes),
               "k": cfg.knn.k, "n_bootstrap": cfg.n_bootstrap, "ci": cfg.ci}
        for name in ("auroc", "auprc", "balanced_accuracy"):
            row |= first[name].as_dict(name)
        row["ci_low"], row["ci_high"] = row.pop("auroc_ci_low"), row.pop("auroc_ci_high")
        row["n_resamples_degenerate"] = row.pop("auroc_n_degenerate")
        a = np.asarray(aurocs, dtype=np.float64)
        row |= {"n_repeats": len(a), "repeat_auroc_mean": float(np.nanmean(a)),
                "repeat_auroc_sd": float(np.nanstd(a, ddof=1)) if len(a) > 1 else np.nan,
                "repeat_auroc_min": float(np.nanmin(a)), "repeat_auroc_max": float(np.nanmax(a))}
        rows.append(row)
    return pd.DataFrame(rows), pd.concat(scores, ignore_index=True)


def point_metrics(labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """The metrics on the whole test set (no resampling)."""
    values = resampled_metrics(labels, proba, identity_indices(len(labels)))
    return {name: float(v[0]) for name, v in values.items()}


def score_columns(scores: pd.DataFrame) -> list[str]:
    return sorted((c for c in scores.columns if c.startswith("p") and c[1:].isdigit()), key=lambda c: int(c[1:]))


PAIRED_COLUMNS = ["variant", "reference", "task", "cohort", "train_fraction", "metric", "auroc", "reference_auroc",
                  "auroc_difference", "ci_low", "ci_high", "n_resamples", "n_resamples_degenerate",
                  "share_not_better", "n_test"]


def _same_fraction(frame: pd.DataFrame, fraction: float) -> pd.DataFrame:
    keep = frame["train_fraction"].isna() if np.isnan(fraction) else frame["train_fraction"] == fraction
    return frame[keep].reset_index(drop=True)


def paired_differences(scores: dict[str, pd.DataFrame], references: list[str], *, task: str, cohort: str,
                       cfg: EvaluationConfig) -> pd.DataFrame:
    """AUROC of each variant minus each reference variant (those of ``references`` present), by a
    paired bootstrap: both on the SAME resamples of the same test ECGs (the resamples of
    :func:`evaluate_task`). One row per (variant, reference, train_fraction)."""
    rows = []
    present = [r for r in references if r in scores]
    fractions = pd.unique(next(iter(scores.values()))["train_fraction"])
    for fraction in fractions:
        per_variant = {v: _same_fraction(frame, float(fraction)) for v, frame in scores.items()}
        first = next(iter(per_variant.values()))
        for variant, part in per_variant.items():
            if not (part["ecg_id"].equals(first["ecg_id"]) and part["label"].equals(first["label"])):
                raise ValueError(f"paired bootstrap {task}/{cohort}: variant {variant} was tested on other ECGs")
        labels = first["label"].to_numpy()
        indices = resample_indices(len(first), cfg.n_bootstrap, cfg.seed, f"{task}/{cohort}")
        # the task's own class columns (score tables of several tasks concatenated carry the
        # widest task's columns, NaN for the others)
        columns = [f"p{c}" for c in range(len(TASK_CLASSES[task]))]
        point = {v: point_metrics(labels, p[columns].to_numpy())["auroc"] for v, p in per_variant.items()}
        values = {v: resampled_metrics(labels, p[columns].to_numpy(), indices)["auroc"]
                  for v, p in per_variant.items()}
        for reference in present:
            for variant in per_variant:
                if variant == reference:
                    continue
                diff = paired_difference(point[variant], point[reference], values[variant], values[reference], cfg.ci)
                rows.append({"variant": variant, "reference": reference, "task": task, "cohort": cohort,
                             "train_fraction": float(fraction), "metric": "auroc",
                             "auroc": point[variant], "reference_auroc": point[reference],
                             "auroc_difference": diff["difference"], "ci_low": diff["ci_low"],
                             "ci_high": diff["ci_high"], "n_resamples": diff["n_resamples"],
                             "n_resamples_degenerate": diff["n_degenerate"],
                             "share_not_better": diff["share_not_better"], "n_test": len(first)})
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def summarise_knn(results: list[pd.DataFrame], scores: list[pd.DataFrame], *, references: list[str], seed: int,
                  bootstrap: dict, log=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All kNN results in one table, and the paired differences of every (replicate, task, cohort): a
    variant's replicate against the reference's same replicate (scores without a ``replicate`` column
    are one replicate)."""
    knn = pd.concat(results, ignore_index=True)
    cfg = EvaluationConfig(seed=seed, n_bootstrap=bootstrap["n_resamples"], ci=bootstrap["ci"])
    all_scores = pd.concat(scores, ignore_index=True)
    if "replicate" not in all_scores.columns:
        all_scores["replicate"] = 0
    paired = []
    for (replicate, task, cohort), part in all_scores.groupby(["replicate", "task", "cohort"], sort=False):
        by_variant = {v: f.drop(columns=["variant", "replicate", "task", "cohort"]).reset_index(drop=True)
                      for v, f in part.groupby("variant", sort=False)}
        diff = paired_differences(by_variant, references, task=task, cohort=cohort, cfg=cfg)
        diff.insert(1, "replicate", replicate)
        paired.append(diff)
        if log:
            for r in diff.itertuples(index=False):
                log.info("replicate %s, %s/%s fraction %s: %s - %s AUROC %.4f [%.4f, %.4f]", replicate, task, cohort,
                         r.train_fraction, r.variant, r.reference, r.auroc_difference, r.ci_low, r.ci_high)
    paired = (pd.concat(paired, ignore_index=True) if paired else
              pd.DataFrame(columns=PAIRED_COLUMNS[:1] + ["replicate"] + PAIRED_COLUMNS[1:]))
    return knn, paired
