"""Aggregation of the evaluation over pre-training seed replicates (config ``pretrain.replicates``),
for Tables 3-5 and the report's claims.

A cell of Tables 3-5 is the mean over replicates with its SD and min-max, beside the first
replicate's value and bootstrap CI (the first of ``pretrain.replicates``). A paired difference (a
variant's replicate against the reference's same replicate) counts as reproduced only when its CI
excludes 0 on the claimed side in EVERY replicate; otherwise the report says in how many it did.
Frames without a ``replicate`` column are one replicate.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def with_replicates(frame: pd.DataFrame) -> pd.DataFrame:
    return frame if "replicate" in frame.columns else frame.assign(replicate=0)


def replicate_order(frame: pd.DataFrame, replicates=None) -> list:
    """The replicates present in ``frame``: in the order of ``replicates`` (config order) when given,
    else in order of appearance."""
    present = list(dict.fromkeys(with_replicates(frame)["replicate"]))
    if replicates is None:
        return present
    return [r for r in replicates if r in set(present)]


def spread(frame: pd.DataFrame, keys: list[str], value: str, carry=(), replicates=None) -> pd.DataFrame:
    """One row per ``keys``: ``n_replicates``, ``first_replicate``, the first replicate's ``value`` and
    ``carry`` columns (its CI, set sizes ...), and ``{value}_mean``, ``_sd`` (ddof 1; NaN for fewer than
    two finite values), ``_min``, ``_max`` over the replicates' finite values."""
    frame = with_replicates(frame)
    order = replicate_order(frame, replicates)
    position = {r: i for i, r in enumerate(order)}
    frame = frame[frame["replicate"].isin(position)]
    rows = []
    for key, part in frame.groupby(keys, sort=False, dropna=False):
        part = part.sort_values("replicate", key=lambda s: s.map(position), kind="stable")
        values = part[value].to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        first = part.iloc[0]
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row |= {"n_replicates": len(part), "first_replicate": first["replicate"], value: first[value]}
        row |= {c: first[c] for c in carry}
        row |= {f"{value}_mean": float(finite.mean()) if len(finite) else np.nan,
                f"{value}_sd": float(finite.std(ddof=1)) if len(finite) > 1 else np.nan,
                f"{value}_min": float(finite.min()) if len(finite) else np.nan,
                f"{value}_max": float(finite.max()) if len(finite) else np.nan}
        rows.append(row)
    columns = [*keys, "n_replicates", "first_replicate", value, *carry] + [f"{value}_{s}" for s in ("mean", "sd", "min", "max")]
    return pd.DataFrame(rows, columns=columns)


def fmt_spread(row, value: str, low: str | None = None, high: str | None = None, digits: int = 3) -> str:
    """``mean ± SD (min-max); seed S: first [CI]``; with one replicate the first replicate's value [CI] alone."""
    from echo2ecg.report.tables import fmt_ci

    first = (fmt_ci(row[value], row[low], row[high], digits) if low else
             (f"{row[value]:.{digits}f}" if np.isfinite(row[value]) else "n/a"))
    if row["n_replicates"] < 2:
        return first
    mean, sd, lo, hi = (row[f"{value}_{s}"] for s in ("mean", "sd", "min", "max"))
    if not np.isfinite(mean):
        return f"n/a; seed {row['first_replicate']}: {first}"
    sd_text = f" ± {sd:.{digits}f}" if np.isfinite(sd) else ""
    return f"{mean:.{digits}f}{sd_text} ({lo:.{digits}f}-{hi:.{digits}f}); seed {row['first_replicate']}: {first}"


def replicate_note(n: int, seeds: list, what: str = "AUROC [95 % CI]") -> str:
    """The note under a table that says what a cell holds."""
    if n < 2:
        seed = f" (seed {seeds[0]})" if seeds else ""
        return (f"One pre-training replicate{seed}: SD and min-max over replicates need two or more "
                "(pretrain.replicates; e.g. resources/presets/replicates3.yaml).")
    return (f"Cells: mean ± SD (min-max) over {n} pre-training replicates (seeds {', '.join(map(str, seeds))}), then "
            f"the first replicate's {what}; best and second best by the mean.")


PAIRED_KEYS = ["variant", "reference", "task", "cohort", "train_fraction"]


def verdict_text(n_above: int, n_below: int, n: int) -> str:
    """What the replicates' paired CIs show, in words (reproduced: above 0 in every replicate)."""
    if n and n_above == n:
        return f"reproduced: CI above 0 in every replicate ({n} of {n})"
    if n and n_below == n:
        return f"CI below 0 in every replicate ({n} of {n})"
    text = f"not reproduced: CI above 0 in {n_above} of {n} replicates"
    return text + (f", below 0 in {n_below}" if n_below else "")


def paired_verdicts(paired: pd.DataFrame, replicates=None, keys=PAIRED_KEYS) -> pd.DataFrame:
    """One row per ``keys``: ``n_replicates``, ``n_above`` (CI above 0), ``n_below`` (CI below 0),
    ``reproduced`` (above 0 in every replicate) and ``verdict`` (in words)."""
    paired = with_replicates(paired)
    order = replicate_order(paired, replicates)
    paired = paired[paired["replicate"].isin(set(order))]
    rows = []
    for key, part in paired.groupby(list(keys), sort=False, dropna=False):
        n, above, below = len(part), int((part["ci_low"] > 0).sum()), int((part["ci_high"] < 0).sum())
        rows.append({**dict(zip(keys, key)), "n_replicates": n, "n_above": above, "n_below": below,
                     "reproduced": bool(n and above == n), "verdict": verdict_text(above, below, n)})
    return pd.DataFrame(rows, columns=[*keys, "n_replicates", "n_above", "n_below", "reproduced", "verdict"])
