"""The report's figures (Matplotlib, PNG): Figure 2 analogue (SHD AUROC against training fraction),
training curves, and 2-D PCA maps of test ECG features coloured by LVEF."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

DPI = 120


def _replicate_words(replicate, separator: str = "; ") -> str:
    """``separator`` + "replicate seed42" for a title (``replicate`` a seed as the evaluation tables hold it,
    or a path's seed42), or "" when no replicate is named."""
    if replicate is None:
        return ""
    text = str(replicate)
    return f"{separator}replicate {text if text.startswith('seed') else f'seed{text}'}"


def _save(fig, path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def shd_scaling_figure(knn: pd.DataFrame, path, cohort: str, synthetic: bool, replicate=None) -> None:
    """AUROC of SHD classification against the share of the training split (log x), one line per
    variant, the single draw's 95 % bootstrap CI as a band, the repeated draws' mean +- SD as
    error bars; of one pre-training replicate (``replicate``; None: the first in the table)."""
    if "replicate" in knn.columns and len(knn):
        replicate = knn["replicate"].iloc[0] if replicate is None else replicate
        knn = knn[knn["replicate"] == replicate]
    shd = knn[(knn["task"] == "shd") & (knn["cohort"] == cohort)].sort_values("train_fraction")
    fig, ax = plt.subplots(figsize=(9, 4.8))
    for i, (variant, part) in enumerate(shd.groupby("variant", sort=False)):
        x = 100 * part["train_fraction"].to_numpy(dtype=float)
        colour = f"C{i}"
        ax.plot(x, part["auroc"], marker="o", color=colour, label=variant)
        ax.fill_between(x, part["ci_low"], part["ci_high"], color=colour, alpha=0.15)
        repeated = part["n_repeats"] > 1
        if repeated.any():
            ax.errorbar(x[repeated] * 1.04, part.loc[repeated, "repeat_auroc_mean"],
                        yerr=part.loc[repeated, "repeat_auroc_sd"], fmt="none", ecolor=colour, capsize=3, alpha=0.8)
    ax.set_xscale("log")
    fractions = 100 * np.sort(shd["train_fraction"].astype(float).unique())
    ax.set_xticks(fractions)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} %"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"Training data (% of the {cohort} train split, log scale)")
    ax.set_ylabel("AUROC, SHD classification")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    n_test = int(shd["n_test"].iloc[0]) if len(shd) else 0
    ax.set_title(f"SHD kNN AUROC vs training data ({cohort}{', synthetic' if synthetic else ''}; {n_test} test ECGs"
                 f"{_replicate_words(replicate)})")
    ax.legend(title="variant\n(band: 95 % CI of one draw;\nbars: mean +- SD over draws)", fontsize=8, title_fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)


def training_curves_figure(curves: dict[str, pd.DataFrame], path, replicate=None) -> None:
    """Training and validation CLIP loss per epoch, one line per variant, of one pre-training replicate
    (named in the title)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for i, (variant, curve) in enumerate(curves.items()):
        per_epoch = curve.groupby("epoch").agg(train_loss=("train_loss", "mean"), val_loss=("val_loss", "last"))
        axes[0].plot(per_epoch.index, per_epoch["train_loss"], color=f"C{i}", label=variant)
        axes[1].plot(per_epoch.index, per_epoch["val_loss"], color=f"C{i}", marker=".", label=variant)
    for ax, what in zip(axes, ("Training", "Validation")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{what} loss")
        ax.set_xlabel("Epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("CLIP loss (nats, tau = 0.5)")
    axes[1].legend(title="variant", fontsize=8)
    fig.suptitle("Contrastive pre-training curves" + (f" ({_replicate_words(replicate, '')})" if replicate is not None else ""))
    _save(fig, path)


def feature_map_figure(maps: dict[str, tuple[np.ndarray, np.ndarray]], path, cohort: str, synthetic: bool,
                       replicate=None) -> None:
    """PCA to 2-D of each variant's test ECG features, points coloured by the ECG's LVEF, of one pre-training
    replicate (named in the title)."""
    fig, axes = plt.subplots(1, len(maps), figsize=(5.5 * len(maps), 4.6), squeeze=False)
    lvef_all = np.concatenate([lvef for _, lvef in maps.values()]) if maps else np.array([0.0])
    vmin, vmax = np.nanpercentile(lvef_all, [2, 98])
    for ax, (variant, (features, lvef)) in zip(axes[0], maps.items()):
        pca = PCA(n_components=2, svd_solver="full")
        xy = pca.fit_transform(features.astype(np.float64))
        points = ax.scatter(xy[:, 0], xy[:, 1], c=lvef, cmap="viridis", vmin=vmin, vmax=vmax, s=12, alpha=0.8)
        ratio = 100 * pca.explained_variance_ratio_
        ax.set_xlabel(f"PC 1 ({ratio[0]:.0f} % of variance)")
        ax.set_ylabel(f"PC 2 ({ratio[1]:.0f} % of variance)")
        ax.set_title(f"{variant}: {len(lvef)} test ECGs")
        fig.colorbar(points, ax=ax, label="LVEF (%)")
    fig.suptitle(f"PCA of ECG features, internal test ECGs ({cohort}{', synthetic' if synthetic else ''}"
                 f"{_replicate_words(replicate)})")
    _save(fig, path)


def test_feature_maps(features: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame], cohort: str
                      ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per variant: the test split's ECG features with a known LVEF, and that LVEF (an ECG's LVEF is
    the mean over its paired studies, as in the kNN labels)."""
    from echo2ecg.evaluate.knn import ecg_phenotypes, feature_matrix
    labels = ecg_phenotypes(tables["ecgs"], tables["pairs"], tables["phenotypes"], cohort).set_index("ecg_id")["lvef"]
    maps = {}
    for variant, frame in features.items():
        test = frame[frame["split"].astype(str) == "test"]
        lvef = test["ecg_id"].astype(str).map(labels).to_numpy(dtype=float)
        known = np.isfinite(lvef)
        maps[variant] = (feature_matrix(test)[known], lvef[known])
    return maps
