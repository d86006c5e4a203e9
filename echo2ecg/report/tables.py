"""The paper's Tables 1-5 as CSV and Markdown from the evaluation's results (rule report_tables).

Every table holds aggregates only (counts, percentages, metrics): no patient, ECG or study id.
Best and second best of a column are marked in Markdown as **bold** and <u>underlined</u> (the
paper's convention); the CSV carries the rank instead. With several pre-training seed replicates,
Tables 3-5 show the mean over replicates with SD and min-max beside the first replicate's CI, and
rank by the mean; Table 3b lists each replicate's paired differences and a verdict over all of them
(echo2ecg/report/replicates.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from echo2ecg.report import replicates as rep
from echo2ecg.summarize_cohort import summary_markdown

TITLES = {
    "table1": "Table 1: Pre-training cohort per split",
    "table2": "Table 2: Downstream sets and label distributions",
    "table3": "Table 3: LVEF classification, kNN AUROC [95 % CI]",
    "table3_paired": "Table 3b: Paired AUROC differences against the baselines [95 % CI]",
    "table4": "Table 4: ECG-to-echo retrieval, Precision@1 and mean rank",
    "table5": "Table 5: Ablations, AUROC [95 % CI]",
}
PHENOTYPE_LABELS = {"lvedv": "LVEDV", "lvesv": "LVESV", "lvsv": "LVSV", "lvef": "LVEF"}
CLASS_NAMES = {"lvef": "LVEF 0/1/2 = reduced/mildly reduced/normal", "shd": "SHD 0/1 = absent/present"}


@dataclass
class Table:
    """One table: its title, the CSV frame (long, numeric) and the Markdown text (display)."""

    name: str
    title: str
    csv: pd.DataFrame
    display: pd.DataFrame
    notes: tuple = ()

    @property
    def markdown(self) -> str:
        return _document(self.title, self.display, self.notes)


def _make(name: str, csv: pd.DataFrame, display: pd.DataFrame, notes=()) -> Table:
    return Table(name, TITLES[name], csv.reset_index(drop=True), display.reset_index(drop=True), tuple(notes))


def _md(frame: pd.DataFrame) -> str:
    columns = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _document(title: str, frame: pd.DataFrame, notes=()) -> str:
    text = f"# {title}\n\n{_md(frame)}\n"
    if notes:
        text += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    return text


def cohort_label(cohort: str, pretrain_cohorts) -> str:
    return f"internal ({cohort} test patients)" if cohort in pretrain_cohorts else cohort


def fmt_ci(value: float, low: float, high: float, digits: int = 3) -> str:
    if not np.isfinite(value):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def ranks(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """1 = best, 2 = second best ... (ties share the better rank); NaN stays NaN."""
    return values.rank(ascending=not higher_is_better, method="min")


def mark(text: str, rank: float) -> str:
    if rank == 1:
        return f"**{text}**"
    if rank == 2:
        return f"<u>{text}</u>"
    return text


def _class_percent(counts: str) -> str:
    c = np.array([int(x) for x in counts.split("/")], dtype=float)
    if c.sum() == 0:
        return "-"
    return "/".join(f"{100 * x / c.sum():.0f}" for x in c) + " %"


def _n(counts: str) -> int:
    return int(sum(int(x) for x in counts.split("/")))


# ---- Origin of a row: the paper's method or this workflow's addition (config pretrain.variants.<v>.origin)
ORIGIN_NOTE = ("Origin: paper = a variant of the authors' method (their Tables 3-5); addition = this workflow's own "
               "(a baseline not in the paper, or one of our choices such as centred view embeddings or "
               "distinct-patient batches run beside the paper's method). The pre-training settings every row shares "
               "are config pretrain's; the demo's differ from the paper's (README, fidelity table).")


def variant_origins(variant_specs: dict) -> dict:
    """variant -> ``paper`` | ``addition`` from the config's variant entries (unset: paper)."""
    return {name: spec.get("origin", "paper") for name, spec in variant_specs.items()}


def _with_origin(row: dict, variant: str, origins: dict | None) -> dict:
    """The display row with an Origin column after its first (label) column, when origins are given."""
    if origins is None:
        return row
    first, *rest = row.items()
    return dict([first, ("Origin", origins.get(variant, "paper")), *rest])


# ---- Table 1 -----------------------------------------------------------------------------------
def table1(cohort_summary: pd.DataFrame, pretrain_cohorts) -> Table:
    frame = cohort_summary[cohort_summary["cohort"].isin(pretrain_cohorts)].reset_index(drop=True)
    # the cohort summary's own Markdown rows (summarize_cohort), read back as the display table
    lines = [line for line in summary_markdown(frame).splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    return _make("table1", frame, pd.DataFrame(rows, columns=header))


# ---- Table 2 -----------------------------------------------------------------------------------
def consistent_sets(knn: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, cohort, train_fraction): the set sizes, which must be the same for every
    variant (they depend on labels and seeds only)."""
    keys = ["task", "cohort", "train_fraction"]
    columns = ["n_train", "n_train_pool", "n_val", "n_test", "n_test_patients", "train_classes", "val_classes",
               "test_classes"]
    sets = knn[keys + columns].drop_duplicates()
    if sets.duplicated(subset=keys).any():
        raise ValueError("kNN sets differ between variants (Table 2 needs one set per task and cohort)")
    return sets.reset_index(drop=True)


def table2(knn: pd.DataFrame, retrieval: pd.DataFrame | None, pretrain_cohorts) -> Table:
    sets = consistent_sets(knn)
    rows = []
    for (task, cohort), part in sets.groupby(["task", "cohort"], sort=False):
        full = part.sort_values("train_fraction", na_position="first").iloc[-1]
        if task == "lvef":
            train = f"{full['n_train']} ({_class_percent(full['train_classes'])}, balanced draw of {full['n_train_pool']})"
        else:
            sizes = ", ".join(f"{100 * f:g} %: {n}" for f, n in zip(part["train_fraction"], part["n_train"]))
            train = f"{full['n_train_pool']} ({_class_percent(full['train_classes'])}); kNN on {sizes}"
        rows.append({"Task": f"{task.upper()} clf", "Dataset": cohort_label(cohort, pretrain_cohorts),
                     "Train (N)": train,
                     "Val (N)": f"{full['n_val']} ({_class_percent(full['val_classes'])})",
                     "Test (N)": f"{full['n_test']} ({_class_percent(full['test_classes'])})",
                     "Test patients": int(full["n_test_patients"]),
                     "task": task, "cohort": cohort, "n_train": int(full["n_train"]), "n_train_pool": int(full["n_train_pool"]),
                     "n_val": int(full["n_val"]), "n_test": int(full["n_test"])})
    if retrieval is not None and len(retrieval):
        for cohort, part in retrieval.groupby("cohort", sort=False):
            for r in part.drop_duplicates("phenotype").itertuples(index=False):
                rows.append({"Task": f"Retrieval ({PHENOTYPE_LABELS[r.phenotype]})",
                             "Dataset": cohort_label(cohort, pretrain_cohorts), "Train (N)": "-", "Val (N)": "-",
                             "Test (N)": f"{r.n_queries} ECG queries x {r.n_studies} studies", "Test patients": "-",
                             "task": f"retrieval_{r.phenotype}", "cohort": cohort, "n_train": 0, "n_train_pool": 0,
                             "n_val": 0, "n_test": int(r.n_queries)})
    frame = pd.DataFrame(rows)
    display = ["Task", "Dataset", "Train (N)", "Val (N)", "Test (N)", "Test patients"]
    notes = ("Train/val/test: ECGs with a label, class shares in brackets (" + "; ".join(CLASS_NAMES.values()) +
             "); patients never cross splits; internal = the pre-training cohort's test patients.",)
    return _make("table2", frame, frame[display], notes)


# ---- Table 3 -----------------------------------------------------------------------------------
def table3(knn: pd.DataFrame, pretrain_cohorts, variants, replicates=None, origins: dict | None = None) -> Table:
    lvef = knn[knn["task"] == "lvef"]
    seeds = rep.replicate_order(lvef, replicates)
    agg = rep.spread(lvef, ["variant", "cohort"], "auroc", replicates=replicates,
                     carry=("ci_low", "ci_high", "auprc", "balanced_accuracy", "n_train", "n_test",
                            "n_resamples_degenerate"))
    agg["rank"] = agg.groupby("cohort")["auroc_mean"].transform(ranks)
    cohorts = list(dict.fromkeys(agg["cohort"]))
    rows = []
    for variant in [v for v in variants if v in set(agg["variant"])]:
        row = {"Method": variant}
        for cohort in cohorts:
            r = agg[(agg["variant"] == variant) & (agg["cohort"] == cohort)]
            row[cohort_label(cohort, pretrain_cohorts)] = (
                mark(rep.fmt_spread(r.iloc[0], "auroc", "ci_low", "ci_high"), r["rank"].iloc[0]) if len(r) else "n/a")
        rows.append(_with_origin(row, variant, origins))
    k, n = (int(lvef["k"].iloc[0]), int(lvef["n_bootstrap"].iloc[0])) if len(lvef) else (0, 0)
    notes = (f"kNN (k = {k}) on the frozen ECG representation; 95 % CI: percentile interval of {n:,} bootstrap "
             "resamples of the test set. **Best**, <u>second best</u> per cohort; n/a: AUROC undefined (a class "
             "missing in the test set).", rep.replicate_note(len(seeds), seeds)) + \
        ((ORIGIN_NOTE,) if origins is not None else ())
    if origins is not None:
        agg.insert(1, "origin", agg["variant"].map(lambda v: origins.get(v, "paper")))
    return _make("table3", agg, pd.DataFrame(rows), notes)


def table3_paired(paired: pd.DataFrame, pretrain_cohorts, variants, replicates=None) -> Table:
    """Per variant one row per replicate and one verdict row; one column per (cohort, reference): the
    LVEF AUROC difference [CI] against the reference's same replicate, marked + when the CI lies above
    0 and - when below; the verdict row says whether it is above 0 in every replicate."""
    part = rep.with_replicates(paired[paired["task"] == "lvef"])
    seeds = rep.replicate_order(part, replicates)
    part = part[part["replicate"].isin(set(seeds))]
    verdicts = rep.paired_verdicts(part, seeds)
    columns = list(dict.fromkeys(zip(part["cohort"], part["reference"])))
    rows = []
    for variant in [v for v in variants if v in set(part["variant"])]:
        mine = part[part["variant"] == variant]
        for seed in seeds:
            row = {"Variant": variant, "Replicate": f"seed {seed}"}
            for cohort, reference in columns:
                r = mine[(mine["replicate"] == seed) & (mine["cohort"] == cohort) & (mine["reference"] == reference)]
                label = f"{cohort_label(cohort, pretrain_cohorts)}: minus {reference}"
                if not len(r):
                    row[label] = "-"
                    continue
                r = r.iloc[0]
                sign = " (+)" if r["ci_low"] > 0 else (" (-)" if r["ci_high"] < 0 else "")
                row[label] = fmt_ci(r["auroc_difference"], r["ci_low"], r["ci_high"]) + sign
            rows.append(row)
        row = {"Variant": variant, "Replicate": f"verdict ({len(seeds)} replicate{'s' if len(seeds) != 1 else ''})"}
        for cohort, reference in columns:
            v = verdicts[(verdicts["variant"] == variant) & (verdicts["cohort"] == cohort)
                         & (verdicts["reference"] == reference)]
            row[f"{cohort_label(cohort, pretrain_cohorts)}: minus {reference}"] = v["verdict"].iloc[0] if len(v) else "-"
        rows.append(row)
    n = int(part["n_resamples"].max()) if len(part) else 0
    notes = (f"Paired bootstrap: both AUROCs on the SAME {n:,} resamples of the test ECGs, a variant's replicate "
             "against the reference's same replicate; the interval is that of the difference. (+): CI above 0, (-): CI "
             "below 0, n/a: AUROC undefined (a class missing in the test set). Reproduced: CI above 0 in every "
             "replicate.",)
    csv = part.merge(verdicts.drop(columns=["train_fraction"]), on=["variant", "reference", "task", "cohort"],
                     how="left", suffixes=("", "_verdict")) if len(part) else part
    return _make("table3_paired", csv, pd.DataFrame(rows), notes)


# ---- Table 4 -----------------------------------------------------------------------------------
def table4(retrieval: pd.DataFrame, variants, replicates=None, origins: dict | None = None) -> Table:
    phenotypes = list(dict.fromkeys(retrieval["phenotype"]))
    random_rows = retrieval.drop_duplicates(["cohort", "phenotype"]).set_index("phenotype")
    check = retrieval.groupby("phenotype")["random_precision_at_1"].nunique()
    if (check > 1).any():
        raise ValueError("retrieval test sets differ between variants (one random baseline per phenotype expected)")
    seeds = rep.replicate_order(retrieval, replicates)
    keys = ["variant", "cohort", "phenotype"]
    carry = [c for c in retrieval.columns if c not in {*keys, "replicate", "precision_at_1", "mean_rank"}]
    frame = rep.spread(retrieval, keys, "precision_at_1", carry=carry, replicates=replicates).merge(
        rep.spread(retrieval, keys, "mean_rank", replicates=replicates).drop(columns=["n_replicates", "first_replicate"]),
        on=keys)
    frame["rank_p1"] = frame.groupby("phenotype")["precision_at_1_mean"].transform(ranks)
    frame["rank_mnr"] = frame.groupby("phenotype")["mean_rank_mean"].transform(lambda s: ranks(s, higher_is_better=False))
    rows = [{"Method": "Random retrieval (exact expectation)",
             **{f"{PHENOTYPE_LABELS[p]} P@1": f"{random_rows.loc[p, 'random_precision_at_1']:.3f}" for p in phenotypes},
             **{f"{PHENOTYPE_LABELS[p]} MnR": f"{random_rows.loc[p, 'random_mean_rank']:.2f}" for p in phenotypes}}]
    for variant in [v for v in variants if v in set(frame["variant"])]:
        row = {"Method": variant}
        for p in phenotypes:
            r = frame[(frame["variant"] == variant) & (frame["phenotype"] == p)].iloc[0]
            row[f"{PHENOTYPE_LABELS[p]} P@1"] = mark(rep.fmt_spread(r, "precision_at_1", "precision_at_1_ci_low",
                                                                    "precision_at_1_ci_high"), r["rank_p1"])
            row[f"{PHENOTYPE_LABELS[p]} MnR"] = mark(rep.fmt_spread(r, "mean_rank", digits=2), r["rank_mnr"])
        rows.append(_with_origin(row, variant, origins))
    order = ["Method"] + (["Origin"] if origins is not None else []) + \
        [f"{PHENOTYPE_LABELS[p]} {m}" for p in phenotypes for m in ("P@1", "MnR")]
    if origins is not None:
        rows[0] = _with_origin(rows[0], "", {"": "-"})
    n = random_rows.iloc[0]
    reading = {"test_pairs": "test echo studies in test pairs (the authors' candidate set)",
               "test_patients": "echo studies of test patients"}.get(n.get("candidates", "test_patients"),
                                                                    "test echo studies")
    sd = f"SD with ddof {int(n['sigma_ddof'])}" if "sigma_ddof" in n else "SD"
    notes = (f"Each test ECG queries the {int(n['n_studies'])} {reading} by cosine similarity of the aligned "
             f"512-d embeddings; relevant: phenotype within 0.5 {sd} of the query's. P@1 [95 % CI over queries]; MnR: mean "
             "rank of the first relevant study (lower is better). The random row is the exact expectation under a "
             "uniformly random ranking (r/N and (N+1)/(r+1)), not a simulation.",
             rep.replicate_note(len(seeds), seeds, "P@1 [95 % CI] and MnR")) + \
        ((ORIGIN_NOTE,) if origins is not None else ())
    csv = frame.reset_index(drop=True)
    if origins is not None:
        csv.insert(1, "origin", csv["variant"].map(lambda v: origins.get(v, "paper")))
    return _make("table4", csv, pd.DataFrame(rows)[order], notes)


# ---- Table 5 -----------------------------------------------------------------------------------
def ordering_holds(values: list[float]) -> bool:
    """True when the values strictly increase (the paper's ablation order, worst to best)."""
    return bool(all(np.isfinite(values)) and all(a < b for a, b in zip(values, values[1:])))


def table5(knn: pd.DataFrame, ablations: dict, ordering: list[str], pretrain_cohorts, shd_fraction: float,
           replicates=None, origins: dict | None = None) -> Table:
    """Ablations: rows in the order of ``ablations`` (variant -> label); a note per column says
    whether the AUROCs increase along ``ordering`` (the paper's claim, worst to best) in every
    replicate (and on the mean over replicates)."""
    knn = rep.with_replicates(knn)
    seeds = rep.replicate_order(knn, replicates)
    csv, columns = [], {}
    internal = [c for c in pretrain_cohorts if ((knn["task"] == "lvef") & (knn["cohort"] == c)).any()]
    if internal:
        columns[f"LVEF clf (internal, {internal[0]})"] = knn[(knn["task"] == "lvef") & (knn["cohort"] == internal[0])]
    shd = knn[(knn["task"] == "shd") & np.isclose(knn["train_fraction"].astype(float), shd_fraction)]
    for cohort, part in shd.groupby("cohort", sort=False):
        columns[f"SHD clf ({cohort} {100 * shd_fraction:g} %)"] = part
    present = [v for v in ablations if v in set(knn["variant"])]
    per_replicate = {}
    for column, part in columns.items():
        part = part[part["variant"].isin(present)]
        per_replicate[column] = part
        agg = rep.spread(part, ["variant"], "auroc", carry=("ci_low", "ci_high", "repeat_auroc_mean", "repeat_auroc_sd"),
                         replicates=seeds)
        agg["rank"] = ranks(agg["auroc_mean"])
        for r in agg.to_dict("records"):
            csv.append({"label": ablations[r["variant"]], "column": column, **r})
    csv = pd.DataFrame(csv, columns=["variant", "label", "column", "n_replicates", "first_replicate", "auroc", "ci_low",
                                     "ci_high", "rank", "repeat_auroc_mean", "repeat_auroc_sd", "auroc_mean",
                                     "auroc_sd", "auroc_min", "auroc_max"])
    rows = []
    for variant in present:
        row = {"Alignment / view aggregation": ablations[variant]}
        for column in columns:
            r = csv[(csv["variant"] == variant) & (csv["column"] == column)]
            row[column] = mark(rep.fmt_spread(r.iloc[0], "auroc", "ci_low", "ci_high"), r["rank"].iloc[0]) \
                if len(r) else "n/a"
        rows.append(_with_origin(row, variant, origins))
    notes = []
    ordered = [v for v in ordering if v in present]
    claim = " > ".join(reversed(ordered))
    for column in columns:
        part = per_replicate[column]
        holds = [ordering_holds([float(part[(part["replicate"] == s) & (part["variant"] == v)]["auroc"].iloc[0])
                                 if ((part["replicate"] == s) & (part["variant"] == v)).any() else np.nan
                                 for v in ordered]) for s in seeds]
        every = bool(holds) and all(holds)
        mean = csv[csv["column"] == column].set_index("variant")["auroc_mean"]
        values = [float(mean.get(v, np.nan)) for v in ordered]
        where = "" if len(seeds) < 2 else f" in {sum(holds)} of {len(seeds)} replicates"
        what = "AUROC" if len(seeds) < 2 else "mean AUROC"
        notes.append(f"{column}: the paper's ordering {claim} {'APPEARS' if every else 'does NOT appear'}{where} "
                     f"({what} {', '.join(f'{v}: {x:.3f}' for v, x in zip(ordered, values))}).")
    notes.append(rep.replicate_note(len(seeds), seeds))
    display = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["Alignment / view aggregation"])
    if origins is not None:
        csv.insert(1, "origin", csv["variant"].map(lambda v: origins.get(v, "paper")))
        notes.append(ORIGIN_NOTE)
    return _make("table5", csv, display, notes)
