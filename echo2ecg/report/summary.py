"""What the report states in words (rule report_summary): which encoders the numbers come from
(EchoPrime or the synthetic stand-in; OTiS weights, the ECG stand-in or random initialisation),
whether the cohorts are synthetic, and whether the demo reproduces the paper's claims, with the
intervals behind each claim. Also the HTML page with every table that the Snakemake report shows
on its landing page."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd

from echo2ecg.report import replicates as rep
from echo2ecg.report.tables import Table, fmt_ci


def model_statements(cohorts: dict, echo_encoder: dict, echo_encoder_config: dict, ecg_encoder_config: dict,
                     variants: dict) -> list[str]:
    """Plain sentences on the data and the encoders behind every number."""
    out = []
    synthetic = [c for c, spec in cohorts.items() if spec.get("synthetic")]
    if synthetic:
        out.append(f"SYNTHETIC DATA: the cohorts {', '.join(synthetic)} are synthetic (written by synthesize_cohort); "
                   "no number in this report describes real patients.")
    real = [c for c in cohorts if c not in synthetic]
    if real:
        out.append(f"Real data: the cohorts {', '.join(real)} are read from their configured roots.")
    descriptions = list(echo_encoder.get("echo_encoder", []))
    standin = not echo_encoder_config.get("echoprime_checkpoint") or any("stand-in" in d for d in descriptions)
    if standin:
        out.append("ECHO ENCODER IS A STAND-IN: no EchoPrime weights were configured; the frozen echo encoder is the "
                   "synthetic stand-in trained by fit_echo_encoder (" + "; ".join(descriptions or ["no description"]) + ").")
    else:
        out.append("Echo encoder: EchoPrime weights (" + "; ".join(descriptions) + ").")
    otis = ecg_encoder_config.get("otis_checkpoint")
    if otis:
        out.append(f"ECG encoder start: OTiS weights from {otis}.")
    else:
        objective = (ecg_encoder_config.get("standin") or {}).get("objective", "masked_reconstruction")
        out.append("ECG ENCODER START IS A STAND-IN: no OTiS weights were configured; otis_init and the start of the "
                   f"aligned variants are the stand-in of fit_ecg_encoder (objective {objective}, fitted on its own "
                   "synthetic ECG corpus), not OTiS.")
    for name, spec in variants.items():
        if "random" in name or (isinstance(spec, dict) and "random" in str(spec.get("init", ""))):
            out.append(f"Variant {name}: RANDOMLY INITIALISED ECG encoder, no alignment (a floor, not a model).")
    return out


def _paired_rows(paired: pd.DataFrame, variant: str, reference: str, task: str, cohort: str, seeds: list,
                 fraction=None) -> pd.DataFrame:
    """The paired rows of every replicate, in replicate order (first replicate first)."""
    paired = rep.with_replicates(paired)
    part = paired[(paired["variant"] == variant) & (paired["reference"] == reference) & (paired["task"] == task)
                  & (paired["cohort"] == cohort) & paired["replicate"].isin(set(seeds))]
    if fraction is not None:
        part = part[np.isclose(part["train_fraction"].astype(float), fraction)]
    return part.sort_values("replicate", key=lambda s: s.map({r: i for i, r in enumerate(seeds)}), kind="stable")


def claim_statements(knn: pd.DataFrame, paired: pd.DataFrame, retrieval: pd.DataFrame | None, *, main: str,
                     references: list[str], internal: str | None, ablation_notes=(), replicates=None) -> list[str]:
    """Whether the demo shows what the issue asks (section 5), each with its interval. With several
    pre-training replicates a claim is REPRODUCED only when its paired CI lies above 0 in every
    replicate; otherwise the statement says in how many it did."""
    out = []
    seeds = rep.replicate_order(paired if len(paired) else knn, replicates)
    several = len(seeds) > 1
    if several:
        out.append(f"{len(seeds)} pre-training replicates (seeds {', '.join(map(str, seeds))}); each claim is checked "
                   "in every replicate, a variant's replicate paired with the reference's same replicate.")
    for reference in references:
        if internal is None:
            break
        rows = _paired_rows(paired, main, reference, "lvef", internal, seeds)
        if not len(rows):
            out.append(f"{main} vs {reference}: not evaluated ({reference} is not a configured variant).")
            continue
        r, n = rows.iloc[0], len(rows)
        above = int((rows["ci_low"] > 0).sum())
        paper = " (paper Table 3: 0.785 vs OTiS 0.688)" if reference == "otis_init" else ""
        if not several:
            verdict = ("REPRODUCED: the paired-difference CI lies above 0" if above == n else
                       "NOT reproduced: the paired-difference CI is not above 0")
            out.append(f"Internal LVEF AUROC, {main} minus {reference}: "
                       f"{fmt_ci(r['auroc_difference'], r['ci_low'], r['ci_high'])} "
                       f"({main} {r['auroc']:.3f}, {reference} {r['reference_auroc']:.3f}){paper}. {verdict}.")
            continue
        diff = rows["auroc_difference"].to_numpy(dtype=float)
        verdict = (f"REPRODUCED: the paired-difference CI lies above 0 in every replicate ({n} of {n})" if above == n
                   else f"NOT reproduced: the paired-difference CI lies above 0 in {above} of {n} replicates")
        out.append(f"Internal LVEF AUROC, {main} minus {reference}, over {n} replicates: mean {np.nanmean(diff):.3f} "
                   f"(min {np.nanmin(diff):.3f}, max {np.nanmax(diff):.3f}); first replicate (seed {r['replicate']}): "
                   f"{fmt_ci(r['auroc_difference'], r['ci_low'], r['ci_high'])} "
                   f"({main} {r['auroc']:.3f}, {reference} {r['reference_auroc']:.3f}){paper}. {verdict}.")
    if retrieval is not None and len(retrieval):
        rows = rep.with_replicates(retrieval)
        rows = rows[(rows["variant"] == main) & (rows["phenotype"] == "lvef") & rows["replicate"].isin(set(seeds))]
        rows = rows.sort_values("replicate", key=lambda s: s.map({x: i for i, x in enumerate(seeds)}), kind="stable")
        if len(rows):
            r, n = rows.iloc[0], len(rows)
            beats = int((rows["precision_at_1_minus_random_ci_low"] > 0).sum())
            text = (f"Retrieval P@1 for LVEF, {main}{f' (first replicate, seed {r.replicate})' if several else ''}: "
                    f"{r['precision_at_1']:.3f} vs random retrieval {r['random_precision_at_1']:.3f} (exact expectation); "
                    "difference " + fmt_ci(r['precision_at_1_minus_random'], r['precision_at_1_minus_random_ci_low'],
                                           r['precision_at_1_minus_random_ci_high']) + ": ")
            if several:
                text += (f"beats random retrieval in every replicate ({n} of {n})." if beats == n else
                         f"does NOT beat random retrieval in every replicate (CI above 0 in {beats} of {n}).")
            else:
                text += "beats random retrieval." if beats else "does NOT beat random retrieval (CI not above 0)."
            out.append(text)
    out.extend(n for n in ablation_notes if "the paper's ordering" in n)
    return out


def _cell(value) -> str:
    text = html.escape(str(value))
    text = text.replace("&lt;u&gt;", "<u>").replace("&lt;/u&gt;", "</u>")
    while "**" in text:
        text = text.replace("**", "<b>", 1).replace("**", "</b>", 1)
    return text


def table_html(table: Table) -> str:
    frame = table.display
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False))
    notes = "".join(f"<li>{_cell(n)}</li>" for n in table.notes)
    return (f"<h3>{html.escape(table.title)}</h3>\n<table class='e2e'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>\n" + (f"<ul>{notes}</ul>\n" if notes else ""))


STYLE = ("<style>table.e2e{border-collapse:collapse;font-size:12px;margin:4px 0}"
         "table.e2e td,table.e2e th{border:1px solid #bbb;padding:2px 6px;text-align:left}"
         ".e2e-warn{border:2px solid #c00;padding:6px;margin:6px 0;background:#fff4f4}</style>")


def summary_fragment(statements: list[str], claims: list[str], tables: list[Table]) -> str:
    """The HTML the report's landing page shows: statements first, then every table."""
    warn = "".join(f"<li>{_cell(s)}</li>" for s in statements)
    claim = "".join(f"<li>{_cell(s)}</li>" for s in claims)
    parts = [STYLE, f"<div class='e2e-warn'><b>What these numbers come from</b><ul>{warn}</ul></div>",
             f"<h3>Does the demo show the paper's claims?</h3><ul>{claim}</ul>"]
    parts += [table_html(t) for t in tables]
    return "\n".join(parts)


def summary_page(fragment: str) -> str:
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Echo2ECG evaluation summary</title></head>"
            f"<body><h2>Echo2ECG evaluation summary</h2>{fragment}</body></html>\n")


def build_tables(knn: pd.DataFrame, paired: pd.DataFrame, retrieval: pd.DataFrame, cohort_summary: pd.DataFrame, *,
                 pretrain_cohorts: list[str], variants: list[str], ablations: dict, ablation_ordering: list[str],
                 ablation_shd_fraction: float, replicates=None, origins: dict | None = None) -> list[Table]:
    """Tables 1-5 (and 3b, the paired differences) in the report's order; ``replicates``: the
    pre-training seeds in config order (the first replicate's CIs stand beside the means);
    ``origins`` (variant -> paper | addition) adds the Origin column to Tables 3-5."""
    from echo2ecg.report import tables as t
    return [t.table1(cohort_summary, pretrain_cohorts), t.table2(knn, retrieval, pretrain_cohorts),
            t.table3(knn, pretrain_cohorts, variants, replicates=replicates, origins=origins),
            t.table3_paired(paired, pretrain_cohorts, variants, replicates),
            t.table4(retrieval, variants, replicates=replicates, origins=origins),
            t.table5(knn, ablations, ablation_ordering, pretrain_cohorts, ablation_shd_fraction,
                     replicates=replicates, origins=origins)]
