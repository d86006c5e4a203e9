"""Rule assess_echo_embeddings: LVEF carried by the mean-pooled study embeddings vs pixel statistics, and
every phenotype per view type (view types, wall thickness and SHD from the generator's truth when synthetic)."""
import datetime as dt
import json

import numpy as np
import pandas as pd

import _package_path  # noqa: F401

from echo2ecg.assess_echo_embeddings import assess_echo_embeddings
from echo2ecg.logs import stage_logger
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("assess_echo_embeddings", snakemake.log[0])
index = pd.read_parquet(snakemake.input.index)
matrix = np.concatenate([np.load(path, mmap_mode="r")[part.sort_values("row")["row"].to_numpy()]
                         for path, part in index.groupby("npy_path", sort=False)])
ordered = pd.concat([part.sort_values("row") for _, part in index.groupby("npy_path", sort=False)])
view_types = study_truth = None
if "truth_views" in snakemake.input.keys():
    view_types = pd.read_parquet(snakemake.input.truth_views, columns=["view_id", "view_type"])
    hearts = pd.read_parquet(snakemake.input.truth_hearts)
    study_truth = hearts[hearts["dataset"] == "mimic-iv-echo"].rename(columns={"event_id": "study_id"})
    # what the layout does not carry: wall thickness and SHD (the measured LVEF and volumes come from the index)
    study_truth = study_truth.assign(study_id=study_truth["study_id"].astype(str))[["study_id", "wall_mm", "shd"]]
result = assess_echo_embeddings(
    ordered, matrix, pd.concat([pd.read_parquet(p) for p in snakemake.input.stats]),
    pd.read_parquet(snakemake.input.studies), pd.read_parquet(snakemake.input.phenotypes), snakemake.params.n_splits,
    view_types=view_types, study_truth=study_truth,
)
result["echo_encoder"] = json.loads(open(snakemake.input.encoder).read())["echo_encoder"]
log.info("echo encoder: %s", result["echo_encoder"])
log.info("LVEF from study embeddings: %s; from pixel statistics: %s", result["study_embedding"], result["pixel_statistics"])
for name, entry in result["phenotypes"].items():
    log.info("%s held out -- study: %s; by view type: %s", name, entry.get("study"), entry["by_view_type"])
for pc in result["leading_directions"]:
    log.info("study embeddings, principal component %d: %s", pc["pc"], pc)
with open(snakemake.output.report, "w") as handle:
    json.dump(result, handle, indent=2)
provenance_from_snakemake(snakemake, started_at=started, summary=result)
