# Stage: split_patients -- patient-level train / val / test, stable when data grow.
# Code: echo2ecg/split_patients.py


rule split_patients:
    input:
        ecgs=f"{RESULTS}/tables/ecgs.parquet",
        studies=f"{RESULTS}/tables/echo_studies.parquet",
    output:
        splits=f"{RESULTS}/tables/splits.parquet",
    log:
        f"{RESULTS}/logs/split_patients.log",
    benchmark:
        f"{RESULTS}/benchmarks/split_patients.tsv"
    conda:
        f"{ENVS}/tables.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        fractions=config["split"]["fractions"],
        seed=config["split"]["seed"],
        split_sources={c: spec["split_source"] for c, spec in config["cohorts"].items()},
    script:
        "../../scripts/split_patients.py"
