# Stage: pair_ecg_echo -- ECG-study pairs of the same patient within the pairing window.
# Code: echo2ecg/pair_ecg_echo.py


rule pair_ecg_echo:
    input:
        ecgs=f"{RESULTS}/tables/ecgs.parquet",
        studies=f"{RESULTS}/tables/echo_studies.parquet",
    output:
        pairs=f"{RESULTS}/tables/pairs.parquet",
    log:
        f"{RESULTS}/logs/pair_ecg_echo.log",
    benchmark:
        f"{RESULTS}/benchmarks/pair_ecg_echo.tsv"
    conda:
        f"{ENVS}/tables.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        window_days=config["pairing"]["window_days"],
    script:
        "../../scripts/pair_ecg_echo.py"
