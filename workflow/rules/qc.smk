# Stage: qc -- one QC ledger of every excluded record, and the read = kept + excluded counts.
# Code: echo2ecg/qc.py


rule qc_ledger:
    input:
        excluded=[
            f"{RESULTS}/qc/ingest_ecgs.excluded.parquet",
            f"{RESULTS}/qc/ingest_echos.excluded.parquet",
            f"{RESULTS}/qc/ingest_phenotypes.excluded.parquet",
            f"{RESULTS}/qc/preprocess_ecg.excluded.parquet",
            f"{RESULTS}/qc/prepare_echo_clips.excluded.parquet",
        ],
        reconciliation=[
            f"{RESULTS}/qc/ingest_ecgs.reconciliation.csv",
            f"{RESULTS}/qc/ingest_echos.reconciliation.csv",
            f"{RESULTS}/qc/ingest_phenotypes.reconciliation.csv",
            f"{RESULTS}/qc/preprocess_ecg.reconciliation.csv",
            f"{RESULTS}/qc/prepare_echo_clips.reconciliation.csv",
        ],
    output:
        excluded=report(
            f"{RESULTS}/qc/excluded.parquet", caption="../report/qc_ledger.rst", category="Data", subcategory="QC ledger"
        ),
        reconciliation=f"{RESULTS}/qc/reconciliation.csv",
        reasons=f"{RESULTS}/qc/excluded_by_reason.csv",
    log:
        f"{RESULTS}/logs/qc_ledger.log",
    benchmark:
        f"{RESULTS}/benchmarks/qc_ledger.tsv"
    conda:
        f"{ENVS}/tables.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/qc_ledger.py"
