# Stage: split_patients -- patient-level train / val / test, stable when data grow.
# Code: echo2ecg/split_patients.py


rule split_patients:
    input:
        ecgs=f"{RESULTS}/tables/ecgs.parquet",
        studies=f"{RESULTS}/tables/echo_studies.parquet",
    output:
        splits=f"{RESULTS}/tables/splits.parquet",
    params:
        fractions=config["split"]["fractions"],
        seed=config["split"]["seed"],
        split_sources={c: spec["split_source"] for c, spec in config["cohorts"].items()},
    log:
        f"{RESULTS}/logs/split_patients.log",
    benchmark:
        f"{RESULTS}/benchmarks/split_patients.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        f"{ENVS}/tables.yaml"
    script:
        "../../scripts/split_patients.py"
