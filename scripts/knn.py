"""Rule knn: kNN classification of one variant's frozen ECG features on one task and cohort."""
import datetime as dt

import pandas as pd

import _package_path  # noqa: F401

from echo2ecg.evaluate.knn import EvaluationConfig, ecg_phenotypes, evaluate_task
from echo2ecg.logs import stage_logger
from echo2ecg.replicates import replicate_seed, with_replicate
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
w = snakemake.wildcards
log = stage_logger(f"knn.{w.variant}.{w.replicate}.{w.task}.{w.cohort}", snakemake.log[0])
cfg = EvaluationConfig.from_dict(snakemake.params.evaluation)
tables = {name: pd.read_parquet(snakemake.input[name]) for name in ("ecgs", "pairs", "phenotypes", "splits")}
features = pd.read_parquet(snakemake.input.features)
labels = ecg_phenotypes(tables["ecgs"], tables["pairs"], tables["phenotypes"], w.cohort)
results, scores = evaluate_task(features, labels, tables["splits"], variant=w.variant, task=w.task, cohort=w.cohort,
                                cfg=cfg, log=log)
results, scores = (with_replicate(frame, replicate_seed(w.replicate)) for frame in (results, scores))
results.to_parquet(snakemake.output.results, index=False)
scores.to_parquet(snakemake.output.scores, index=False)
log.info("\n%s", results[["train_fraction", "n_train", "n_test", "auroc", "ci_low", "ci_high"]].to_string(index=False))
provenance_from_snakemake(snakemake, started_at=started,
                          summary={"results": results.drop(columns=["variant", "replicate", "task", "cohort"]).to_dict("records")})
