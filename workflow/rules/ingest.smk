# Stage: ingest -- index tables with content hashes, and the QC ledger of rejected records.
# Code: echo2ecg/ingest.py (logic), echo2ecg/readers/ (one module per format).
# Records are sharded by a keyed hash of their id; a shard job reads its records from its manifest
# (rules list_ecg_records / list_echo_views) and carries a digest of their files' (path, size,
# mtime) in `params`, so a change to one raw file reruns only its shard.


rule ingest_ecg_shard:
    input:
        manifest=ecg_shard_manifest,
    output:
        index=f"{RESULTS}/interim/ingest/{{cohort}}/ecgs/{{shard}}.parquet",
        excluded=f"{RESULTS}/interim/ingest/{{cohort}}/ecgs/{{shard}}.excluded.parquet",
    log:
        f"{RESULTS}/logs/ingest_ecg_shard/{{cohort}}/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest_ecg_shard/{{cohort}}/{{shard}}.tsv"
    conda:
        f"{ENVS}/ingest.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        files_digest=ecg_shard_digest,
        reader=lambda wc: cohort_spec(wc.cohort)["ecg_reader"],
        min_duration_s=config["ecg_preprocessing"]["min_duration_s"],
    script:
        "../../scripts/ingest_ecg_shard.py"


rule ingest_ecgs:
    input:
        listing=ecg_listing_files,
        index=expand(f"{RESULTS}/interim/ingest/{{cohort}}/ecgs/{{shard}}.parquet", cohort=COHORTS, shard=SHARDS),
        excluded=expand(f"{RESULTS}/interim/ingest/{{cohort}}/ecgs/{{shard}}.excluded.parquet", cohort=COHORTS, shard=SHARDS),
    output:
        table=f"{RESULTS}/tables/ecgs.parquet",
        excluded=f"{RESULTS}/qc/ingest_ecgs.excluded.parquet",
        reconciliation=f"{RESULTS}/qc/ingest_ecgs.reconciliation.csv",
    log:
        f"{RESULTS}/logs/ingest_ecgs.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest_ecgs.tsv"
    conda:
        f"{ENVS}/ingest.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        listings={c: {"reader": cohort_spec(c)["ecg_reader"], "root": cohort_spec(c)["ecg_root"]} for c in COHORTS},
        max_excluded_fraction=config["qc"]["max_excluded_fraction"],
    script:
        "../../scripts/ingest_ecgs.py"


rule ingest_echo_shard:
    input:
        manifest=echo_shard_manifest,
    output:
        index=f"{RESULTS}/interim/ingest/{{cohort}}/echo_views/{{shard}}.parquet",
        excluded=f"{RESULTS}/interim/ingest/{{cohort}}/echo_views/{{shard}}.excluded.parquet",
    log:
        f"{RESULTS}/logs/ingest_echo_shard/{{cohort}}/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest_echo_shard/{{cohort}}/{{shard}}.tsv"
    conda:
        f"{ENVS}/ingest.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        files_digest=echo_shard_digest,
        reader=lambda wc: cohort_spec(wc.cohort)["echo_reader"],
    script:
        "../../scripts/ingest_echo_shard.py"


rule ingest_echos:
    input:
        unpack(lambda wc: {f"study_list_{c}": f for c, f in echo_study_list_files(wc).items()}),
        listing=echo_listing_files,
        index=expand(f"{RESULTS}/interim/ingest/{{cohort}}/echo_views/{{shard}}.parquet", cohort=ECHO_COHORTS, shard=SHARDS),
        excluded=expand(
            f"{RESULTS}/interim/ingest/{{cohort}}/echo_views/{{shard}}.excluded.parquet",
            cohort=ECHO_COHORTS,
            shard=SHARDS,
        ),
    output:
        views=f"{RESULTS}/tables/echo_views.parquet",
        studies=f"{RESULTS}/tables/echo_studies.parquet",
        excluded=f"{RESULTS}/qc/ingest_echos.excluded.parquet",
        reconciliation=f"{RESULTS}/qc/ingest_echos.reconciliation.csv",
    log:
        f"{RESULTS}/logs/ingest_echos.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest_echos.tsv"
    conda:
        f"{ENVS}/ingest.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        readers={c: cohort_spec(c)["echo_reader"] for c in ECHO_COHORTS},
        roots={c: cohort_spec(c)["echo_root"] for c in ECHO_COHORTS},
        max_excluded_fraction=config["qc"]["max_excluded_fraction"],
    script:
        "../../scripts/ingest_echos.py"


rule ingest_phenotypes:
    input:
        unpack(lambda wc: {f"phenotypes_{c}": f for c, f in phenotype_files(wc).items()}),
    output:
        table=f"{RESULTS}/tables/phenotypes.parquet",
        excluded=f"{RESULTS}/qc/ingest_phenotypes.excluded.parquet",
        reconciliation=f"{RESULTS}/qc/ingest_phenotypes.reconciliation.csv",
    log:
        f"{RESULTS}/logs/ingest_phenotypes.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest_phenotypes.tsv"
    conda:
        f"{ENVS}/ingest.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        sources=phenotype_sources,
        max_excluded_fraction=config["qc"]["max_excluded_fraction"],
    script:
        "../../scripts/ingest_phenotypes.py"
