# Stage: pair_ecg_echo -- ECG-study pairs of the same patient within the pairing window.
# Code: echo2ecg/pair_ecg_echo.py


rule pair_ecg_echo:
    input:
        ecgs=f"{RESULTS}/tables/ecgs.parquet",
        studies=f"{RESULTS}/tables/echo_studies.parquet",
    output:
        pairs=f"{RESULTS}/tables/pairs.parquet",
    params:
        window_days=config["pairing"]["window_days"],
    log:
        f"{RESULTS}/logs/pair_ecg_echo.log",
    benchmark:
        f"{RESULTS}/benchmarks/pair_ecg_echo.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        f"{ENVS}/tables.yaml"
    script:
        "../../scripts/pair_ecg_echo.py"
