# Stage: fit_echo_encoder (only without EchoPrime weights) and embed_echo_views -- every view is
# encoded once by the frozen echo encoder; 512-d view embeddings per shard, and one index.
# Code: echo2ecg/fit_echo_encoder.py, echo2ecg/embed_echo_views.py, echo2ecg/echo_encoder.py


rule fit_echo_encoder:
    output:
        checkpoint=f"{RESULTS}/models/echo_encoder_standin.pt",
        metrics=f"{RESULTS}/models/echo_encoder_standin.metrics.json",
    log:
        f"{RESULTS}/logs/fit_echo_encoder.log",
    benchmark:
        f"{RESULTS}/benchmarks/fit_echo_encoder.tsv"
    # scheduling only: the echo fit and the view embeddings are the longest chain to pre-training
    priority: 20
    conda:
        f"{ENVS}/echo.yaml"
    threads: config["torch_threads"]
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=gpus_for(config["echo_encoder"]["device"]),
    params:
        torch_threads=config["torch_threads"],
        standin=config["echo_encoder"]["standin"],
        preset=config["echo_encoder"]["preset"],
        clip_size=config["echo_clips"]["clip_size"],
        resize=config["echo_clips"]["resize"],
    script:
        "../../scripts/fit_echo_encoder.py"


rule embed_echo_views:
    input:
        clips=f"{RESULTS}/interim/echo_clips/{{cohort}}/{{shard}}.npy",
        index=f"{RESULTS}/interim/echo_clips/{{cohort}}/{{shard}}.parquet",
        encoder=echo_encoder_weights,
    output:
        embeddings=f"{RESULTS}/echo/view_embeddings/{{cohort}}/{{shard}}.npy",
        index=f"{RESULTS}/echo/view_embeddings/{{cohort}}/{{shard}}.parquet",
        summary=f"{RESULTS}/echo/view_embeddings/{{cohort}}/{{shard}}.json",
    log:
        f"{RESULTS}/logs/embed_echo_views/{{cohort}}/{{shard}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/embed_echo_views/{{cohort}}/{{shard}}.tsv"
    # scheduling only: before the downstream cohorts' ECG stages, which pre-training does not wait for
    priority: 20
    conda:
        f"{ENVS}/echo.yaml"
    threads: config["torch_threads"]
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=gpus_for(config["echo_encoder"]["device"]),
    params:
        torch_threads=config["torch_threads"],
        encoder={k: v for k, v in config["echo_encoder"].items() if k not in ("standin", "assessment_folds")},
    script:
        "../../scripts/embed_echo_views.py"


rule gather_view_embeddings:
    input:
        index=expand(f"{RESULTS}/echo/view_embeddings/{{cohort}}/{{shard}}.parquet", cohort=ECHO_COHORTS, shard=SHARDS),
        summaries=expand(f"{RESULTS}/echo/view_embeddings/{{cohort}}/{{shard}}.json", cohort=ECHO_COHORTS, shard=SHARDS),
        excluded=expand(f"{RESULTS}/interim/echo_clips/{{cohort}}/{{shard}}.excluded.parquet", cohort=ECHO_COHORTS, shard=SHARDS),
        views=f"{RESULTS}/tables/echo_views.parquet",
    output:
        index=f"{RESULTS}/echo/view_embeddings.parquet",
        excluded=f"{RESULTS}/qc/prepare_echo_clips.excluded.parquet",
        reconciliation=f"{RESULTS}/qc/prepare_echo_clips.reconciliation.csv",
        encoder=f"{RESULTS}/echo/echo_encoder.json",
    log:
        f"{RESULTS}/logs/gather_view_embeddings.log",
    benchmark:
        f"{RESULTS}/benchmarks/gather_view_embeddings.tsv"
    conda:
        f"{ENVS}/echo.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        max_excluded_fraction=config["qc"]["max_excluded_fraction"],
    script:
        "../../scripts/gather_view_embeddings.py"


rule assess_echo_embeddings:
    input:
        unpack(echo_truth_files),
        index=f"{RESULTS}/echo/view_embeddings.parquet",
        embeddings=expand(f"{RESULTS}/echo/view_embeddings/{{cohort}}/{{shard}}.npy", cohort=ECHO_COHORTS, shard=SHARDS),
        stats=expand(
            f"{RESULTS}/interim/echo_clips/{{cohort}}/{{shard}}.pixel_statistics.parquet",
            cohort=ECHO_COHORTS,
            shard=SHARDS,
        ),
        studies=f"{RESULTS}/tables/echo_studies.parquet",
        phenotypes=f"{RESULTS}/tables/phenotypes.parquet",
        encoder=f"{RESULTS}/echo/echo_encoder.json",
    output:
        report=report(
            f"{RESULTS}/echo/echo_embedding_phenotype.json",
            caption="../report/echo_embedding_phenotype.rst",
            category="Echo encoder",
            subcategory="Phenotype in the view embeddings",
        ),
    log:
        f"{RESULTS}/logs/assess_echo_embeddings.log",
    benchmark:
        f"{RESULTS}/benchmarks/assess_echo_embeddings.tsv"
    conda:
        f"{ENVS}/echo.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        n_splits=config["echo_encoder"]["assessment_folds"],
    script:
        "../../scripts/assess_echo_embeddings.py"
