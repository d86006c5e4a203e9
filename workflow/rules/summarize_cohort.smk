# Stage: summarize_cohort -- Table-1-style summary per cohort and split (CSV and Markdown).
# Code: echo2ecg/summarize_cohort.py


rule summarize_cohort:
    input:
        unpack(demographics_files),
        ecgs=f"{RESULTS}/tables/ecgs.parquet",
        studies=f"{RESULTS}/tables/echo_studies.parquet",
        views=f"{RESULTS}/tables/echo_views.parquet",
        pairs=f"{RESULTS}/tables/pairs.parquet",
        splits=f"{RESULTS}/tables/splits.parquet",
    output:
        csv=report(
            f"{RESULTS}/tables/cohort_summary.csv",
            caption="../report/cohort_summary.rst",
            category="Data",
            subcategory="Cohort summary",
        ),
        markdown=f"{RESULTS}/tables/cohort_summary.md",
    log:
        f"{RESULTS}/logs/summarize_cohort.log",
    benchmark:
        f"{RESULTS}/benchmarks/summarize_cohort.tsv"
    conda:
        f"{ENVS}/tables.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        roles={c: spec["role"] for c, spec in config["cohorts"].items()},
    script:
        "../../scripts/summarize_cohort.py"
