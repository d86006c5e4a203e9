# Stage: the report -- Tables 1-5 (CSV + Markdown), Figure 2 analogue, training curves, PCA maps of
# the ECG features, and the summary that `snakemake --report report.html` shows on its landing page
# (workflow/report/workflow.rst includes it). Code: echo2ecg/report/ (tables, figures, summary).
# Params hold only evaluation.report keys and the variant/cohort names: report keys rerun the report only.
# Tables 3-5 aggregate over the seed replicates; the figures show the first replicate.
from echo2ecg.evaluate.settings import REPORT_TABLE_SECTIONS, REPORT_TABLES, curve_variants, map_variants, shd_cohorts

REPORT = f"{RESULTS}/report"
REPORT_SETTINGS = config["evaluation"]["report"]
CURVE_VARIANTS = curve_variants(config, VARIANTS)
MAP_VARIANTS = map_variants(config, VARIANTS)
SHD_COHORTS = shd_cohorts(config)


rule report_tables:
    input:
        knn=f"{RESULTS}/eval/knn.parquet",
        paired=f"{RESULTS}/eval/knn_paired.parquet",
        retrieval=f"{RESULTS}/eval/retrieval.parquet",
        cohort_summary=f"{RESULTS}/tables/cohort_summary.csv",
        echo_encoder=f"{RESULTS}/echo/echo_encoder.json",
    output:
        **{
            f"{name}_csv": report(
                f"{REPORT}/{name}.csv",
                caption=f"../report/{name}.rst",
                category=REPORT_TABLE_SECTIONS[name][0],
                subcategory=REPORT_TABLE_SECTIONS[name][1],
                labels={"table": name},
            )
            for name in REPORT_TABLES
        },
        **{f"{name}_md": f"{REPORT}/{name}.md" for name in REPORT_TABLES},
        summary=report(
            f"{REPORT}/summary.html",
            caption="../report/summary.rst",
            category="Evaluation",
            subcategory="Summary: the paper's claims checked",
            labels={"page": "summary"},
        ),
        fragment=f"{REPORT}/summary_fragment.html",
    log:
        f"{RESULTS}/logs/report_tables.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_tables.tsv"
    conda:
        f"{ENVS}/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        report=REPORT_SETTINGS,
        references=config["evaluation"]["paired_references"],
        variants=VARIANTS,
        variant_specs=config.get("pretrain", {}).get("variants", {}),
        pretrain_cohorts=PRETRAIN_COHORTS,
        replicates=REPLICATE_SEEDS,  # config order: the first replicate's CIs stand beside the means
        cohorts={c: {"synthetic": spec["synthetic"], "role": spec["role"]} for c, spec in config["cohorts"].items()},
        echo_encoder={"echoprime_checkpoint": config["echo_encoder"]["echoprime_checkpoint"]},
        ecg_encoder={"otis_checkpoint": config.get("ecg_encoder", {}).get("otis_checkpoint")},
    script:
        "../../scripts/report_tables.py"


rule report_shd_figure:
    input:
        knn=f"{RESULTS}/eval/knn.parquet",
    output:
        report(
            f"{REPORT}/figure2_shd_{{cohort}}.png",
            caption="../report/figure2_shd.rst",
            category="Evaluation",
            subcategory="Figure 2: SHD vs training data",
            labels={"figure": "Figure 2: SHD vs training data", "cohort": "{cohort}"},
        ),
    log:
        f"{RESULTS}/logs/report_shd_figure/{{cohort}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_shd_figure/{{cohort}}.tsv"
    conda:
        f"{ENVS}/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        synthetic=lambda wildcards: config["cohorts"][wildcards.cohort]["synthetic"],
        replicate=REPLICATE_SEEDS[0],
    script:
        "../../scripts/report_shd_figure.py"


rule report_training_curves:
    input:
        curves=expand(f"{RESULTS}/models/{{variant}}/{FIRST_REPLICATE}/curve.parquet", variant=CURVE_VARIANTS),
    output:
        report(
            f"{REPORT}/training_curves.png",
            caption="../report/training_curves.rst",
            category="Pre-training",
            subcategory="Training curves",
            labels={"figure": "Training curves"},
        ),
    log:
        f"{RESULTS}/logs/report_training_curves.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_training_curves.tsv"
    conda:
        f"{ENVS}/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        variants=CURVE_VARIANTS,
        replicate=FIRST_REPLICATE,
    script:
        "../../scripts/report_training_curves.py"


rule report_feature_map:
    input:
        **INDEX_TABLES,
        features=expand(
            f"{RESULTS}/features/{{variant}}/{FIRST_REPLICATE}/{{cohort}}.parquet",
            variant=MAP_VARIANTS,
            cohort=PRETRAIN_COHORTS[:1],
        ),
    output:
        report(
            f"{REPORT}/feature_map.png",
            caption="../report/feature_map.rst",
            category="Evaluation",
            subcategory="ECG feature maps",
            labels={"figure": "PCA of ECG features"},
        ),
    log:
        f"{RESULTS}/logs/report_feature_map.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_feature_map.tsv"
    conda:
        f"{ENVS}/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        variants=MAP_VARIANTS,
        replicate=FIRST_REPLICATE,
        cohort=PRETRAIN_COHORTS[0] if PRETRAIN_COHORTS else None,
        synthetic=config["cohorts"][PRETRAIN_COHORTS[0]]["synthetic"] if PRETRAIN_COHORTS else False,
    script:
        "../../scripts/report_feature_map.py"
