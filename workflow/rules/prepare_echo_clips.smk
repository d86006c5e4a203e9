# Stage: prepare_echo_clips -- uint8 16-frame clips per shard of views (temporary: only the
# embeddings are kept). Code: echo2ecg/prepare_echo_clips.py


rule prepare_echo_clips:
    input:
        views=f"{RESULTS}/interim/ingest/{{cohort}}/echo_views/{{shard}}.parquet",
        manifest=echo_shard_manifest,
    output:
        clips=temp(f"{RESULTS}/interim/echo_clips/{{cohort}}/{{shard}}.npy"),
        index=temp(f"{RESULTS}/interim/echo_clips/{{cohort}}/{{shard}}.parquet"),
        excluded=f"{RESULTS}/interim/echo_clips/{{cohort}}/{{shard}}.excluded.parquet",
        stats=f"{RESULTS}/interim/echo_clips/{{cohort}}/{{shard}}.pixel_statistics.parquet",
    log:
        f"{RESULTS}/logs/prepare_echo_clips/{{cohort}}/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_echo_clips/{{cohort}}/{{shard}}.tsv"
    conda:
        f"{ENVS}/echo.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        files_digest=echo_shard_digest,
        reader=lambda wc: cohort_spec(wc.cohort)["echo_reader"],
        clips=config["echo_clips"],
    script:
        "../../scripts/prepare_echo_clips.py"
