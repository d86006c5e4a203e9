# Stage: evaluation of the frozen ECG representations (kNN) and of the aligned embeddings
# (ECG-to-echo retrieval). RECIPE section 7. Code: echo2ecg/evaluate/ (knn, retrieval, bootstrap).
#
# Jobs: one knn job per variant x replicate x (task, cohort) and one retrieval job per variant x
# replicate x pre-training cohort. Each job reads exactly one feature file, so re-extracting one variant's features of one
# cohort reruns only that cohort's evaluation of that variant, and the jobs run in parallel on a
# cluster. Each knn job keeps its test ECGs' class scores; knn_summary computes the paired
# bootstrap differences between variants from them (the same resamples for every variant; a variant's
# replicate paired with the reference's same replicate). Adding a replicate reruns only its own jobs
# and the summaries.
# Params hold only evaluation keys (the LVEF jobs only the LVEF ones, the SHD jobs only the SHD
# ones), so evaluation keys rerun the evaluation and the report, never pre-training.
from echo2ecg.evaluate.settings import check_evaluation_config, evaluation_params, knn_outputs

check_evaluation_config(config)

EVALUATION = config["evaluation"]
INDEX_TABLES = {name: f"{RESULTS}/tables/{name}.parquet" for name in ("ecgs", "pairs", "phenotypes", "splits")}


wildcard_constraints:
    task="lvef|shd",


rule knn:
    input:
        **INDEX_TABLES,
        features=f"{RESULTS}/features/{{variant}}/{{replicate}}/{{cohort}}.parquet",
    output:
        results=f"{RESULTS}/eval/knn/{{variant}}/{{replicate}}/{{task}}_{{cohort}}.parquet",
        scores=f"{RESULTS}/eval/knn/{{variant}}/{{replicate}}/{{task}}_{{cohort}}.scores.parquet",
    log:
        f"{RESULTS}/logs/knn/{{variant}}/{{replicate}}/{{task}}_{{cohort}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/knn/{{variant}}/{{replicate}}/{{task}}_{{cohort}}.tsv"
    conda:
        f"{ENVS}/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        evaluation=lambda wildcards: evaluation_params(config, wildcards.task),
    script:
        "../../scripts/knn.py"


rule knn_summary:
    input:
        results=knn_outputs(RESULTS, VARIANTS, REPLICATES, config, "results"),
        scores=knn_outputs(RESULTS, VARIANTS, REPLICATES, config, "scores"),
    output:
        knn=f"{RESULTS}/eval/knn.parquet",
        paired=f"{RESULTS}/eval/knn_paired.parquet",
    log:
        f"{RESULTS}/logs/knn_summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/knn_summary.tsv"
    conda:
        f"{ENVS}/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        references=EVALUATION["paired_references"],
        seed=EVALUATION["seed"],
        bootstrap=EVALUATION["bootstrap"],
    script:
        "../../scripts/knn_summary.py"


rule retrieval:
    input:
        aligned=f"{RESULTS}/features/{{variant}}/{{replicate}}/aligned_{{cohort}}.parquet",
        pairs=INDEX_TABLES["pairs"],
        phenotypes=INDEX_TABLES["phenotypes"],
    output:
        f"{RESULTS}/eval/retrieval/{{variant}}/{{replicate}}/{{cohort}}.parquet",
    log:
        f"{RESULTS}/logs/retrieval/{{variant}}/{{replicate}}/{{cohort}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/retrieval/{{variant}}/{{replicate}}/{{cohort}}.tsv"
    conda:
        f"{ENVS}/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        retrieval=EVALUATION["retrieval"],
        seed=EVALUATION["seed"],
        bootstrap=EVALUATION["bootstrap"],
    script:
        "../../scripts/retrieval.py"


rule retrieval_summary:
    input:
        expand(
            f"{RESULTS}/eval/retrieval/{{variant}}/{{replicate}}/{{cohort}}.parquet",
            variant=VARIANTS,
            replicate=REPLICATES,
            cohort=PRETRAIN_COHORTS,
        ),
    output:
        f"{RESULTS}/eval/retrieval.parquet",
    log:
        f"{RESULTS}/logs/retrieval_summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/retrieval_summary.tsv"
    conda:
        f"{ENVS}/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/retrieval_summary.py"
