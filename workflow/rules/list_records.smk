# Stage: list_records -- each cohort's records from its index files, one manifest per shard.
# Code: echo2ecg/list_records.py. A shard job's input is its manifest, not its thousands of raw
# files, so the DAG grows with the shard count; the listing reruns when an index file or what
# the listing yields (listing_digest) changes.


rule list_ecg_records:
    input:
        ecg_index_files,
    output:
        manifests=expand(f"{RESULTS}/interim/manifests/{{cohort}}/ecgs/{{shard}}.parquet", shard=SHARDS, allow_missing=True),
    log:
        f"{RESULTS}/logs/list_ecg_records/{{cohort}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/list_ecg_records/{{cohort}}.tsv"
    conda:
        f"{ENVS}/ingest.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        reader=lambda wc: cohort_spec(wc.cohort)["ecg_reader"],
        root=lambda wc: cohort_spec(wc.cohort)["ecg_root"],
        n_shards=config["ingest"]["n_shards"],
        listing_digest=ecg_listing_digest,
    script:
        "../../scripts/list_ecg_records.py"


rule list_echo_views:
    input:
        echo_index_files,
    output:
        manifests=expand(f"{RESULTS}/interim/manifests/{{cohort}}/echo_views/{{shard}}.parquet", shard=SHARDS, allow_missing=True),
    log:
        f"{RESULTS}/logs/list_echo_views/{{cohort}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/list_echo_views/{{cohort}}.tsv"
    conda:
        f"{ENVS}/ingest.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        reader=lambda wc: cohort_spec(wc.cohort)["echo_reader"],
        root=lambda wc: cohort_spec(wc.cohort)["echo_root"],
        n_shards=config["ingest"]["n_shards"],
        listing_digest=echo_listing_digest,
    script:
        "../../scripts/list_echo_views.py"
