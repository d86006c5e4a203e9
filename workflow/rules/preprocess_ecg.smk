# Stage: preprocess_ecg -- float32 (N, 12, 5000) model inputs per shard, with a row -> ecg_id index.
# Code: echo2ecg/preprocess_ecg.py
# A shard depends only on its own raw files (their digest is a param) and its own ingest shard,
# so changing one raw ECG reruns only that ECG's shard.


rule preprocess_ecg:
    input:
        kept=f"{RESULTS}/interim/ingest/{{cohort}}/ecgs/{{shard}}.parquet",
        manifest=ecg_shard_manifest,
    output:
        ecgs=f"{RESULTS}/ecg/{{cohort}}/{{shard}}.npy",
        index=f"{RESULTS}/ecg/{{cohort}}/{{shard}}.parquet",
        excluded=f"{RESULTS}/ecg/{{cohort}}/{{shard}}.excluded.parquet",
    log:
        f"{RESULTS}/logs/preprocess_ecg/{{cohort}}/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/preprocess_ecg/{{cohort}}/{{shard}}.tsv"
    conda:
        f"{ENVS}/preprocess_ecg.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        files_digest=ecg_shard_digest,
        reader=lambda wc: cohort_spec(wc.cohort)["ecg_reader"],
        preprocessing=config["ecg_preprocessing"],
    script:
        "../../scripts/preprocess_ecg.py"


rule preprocess_ecgs:
    input:
        index=expand(f"{RESULTS}/ecg/{{cohort}}/{{shard}}.parquet", cohort=COHORTS, shard=SHARDS),
        excluded=expand(f"{RESULTS}/ecg/{{cohort}}/{{shard}}.excluded.parquet", cohort=COHORTS, shard=SHARDS),
        kept=expand(f"{RESULTS}/interim/ingest/{{cohort}}/ecgs/{{shard}}.parquet", cohort=COHORTS, shard=SHARDS),
    output:
        index=f"{RESULTS}/ecg/index.parquet",
        excluded=f"{RESULTS}/qc/preprocess_ecg.excluded.parquet",
        reconciliation=f"{RESULTS}/qc/preprocess_ecg.reconciliation.csv",
    log:
        f"{RESULTS}/logs/preprocess_ecgs.log",
    benchmark:
        f"{RESULTS}/benchmarks/preprocess_ecgs.tsv"
    conda:
        f"{ENVS}/preprocess_ecg.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        max_excluded_fraction=config["qc"]["max_excluded_fraction"],
    script:
        "../../scripts/preprocess_ecgs.py"
