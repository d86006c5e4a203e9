# Stage: synthesize_ecg_standin_corpus and fit_ecg_encoder (only without OTiS weights; shared by every
# replicate: the stand-in's own ECG corpus, cached, and its fit on it), pretrain (one job per
# {variant} and seed {replicate}), extract_ecg_features (per variant and replicate: every cohort's feature
# file and the pre-training cohorts' aligned embeddings),
# embed_own_ecgs (target own_ecg_features).
# Code: echo2ecg/ecg_standin_corpus.py, echo2ecg/fit_ecg_encoder.py, echo2ecg/pretrain.py, echo2ecg/extract_ecg_features.py,
# echo2ecg/embed_own_ecgs.py; the model parts in echo2ecg/model/.


rule synthesize_ecg_standin_corpus:
    output:
        ecgs=ECG_STANDIN_CORPUS["ecgs"],
        hearts=ECG_STANDIN_CORPUS["hearts"],
    log:
        f"{RESULTS}/logs/synthesize_ecg_standin_corpus.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesize_ecg_standin_corpus.tsv"
    conda:
        f"{ENVS}/pretrain.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        # only what the corpus depends on: a change of the fit (objective, steps, lr) keeps it
        corpus={k: config["ecg_encoder"]["standin"][k] for k in ("seed", "n_patients", "ecgs_per_patient")},
        preprocessing=config["ecg_preprocessing"],
    script:
        "../../scripts/synthesize_ecg_standin_corpus.py"


rule fit_ecg_encoder:
    input:
        **ECG_STANDIN_CORPUS,
    output:
        checkpoint=ECG_STANDIN,
        metrics=f"{RESULTS}/models/ecg_encoder_standin.metrics.json",
    log:
        f"{RESULTS}/logs/fit_ecg_encoder.log",
    benchmark:
        f"{RESULTS}/benchmarks/fit_ecg_encoder.tsv"
    conda:
        f"{ENVS}/pretrain.yaml"
    threads: config["torch_threads"]
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        torch_threads=config["torch_threads"],
        encoder={k: v for k, v in config["ecg_encoder"].items() if k != "standin"},
        standin=config["ecg_encoder"]["standin"],
    script:
        "../../scripts/fit_ecg_encoder.py"


rule pretrain:
    input:
        pairs=f"{RESULTS}/tables/pairs.parquet",
        splits=f"{RESULTS}/tables/splits.parquet",
        ecg_index=f"{RESULTS}/ecg/index.parquet",
        view_index=f"{RESULTS}/echo/view_embeddings.parquet",
        ecgs=expand(f"{RESULTS}/ecg/{{cohort}}/{{shard}}.npy", cohort=PRETRAIN_COHORTS, shard=SHARDS),
        views=expand(f"{RESULTS}/echo/view_embeddings/{{cohort}}/{{shard}}.npy", cohort=PRETRAIN_COHORTS, shard=SHARDS),
        foundation=ecg_foundation,
    output:
        best=f"{RESULTS}/models/{{variant}}/{{replicate}}/best.pt",
        last=f"{RESULTS}/models/{{variant}}/{{replicate}}/last.pt",
        curve=f"{RESULTS}/models/{{variant}}/{{replicate}}/curve.parquet",
        # the report shows every variant's curve in one figure (rule report_training_curves)
        figure=f"{RESULTS}/models/{{variant}}/{{replicate}}/curve.png",
    log:
        f"{RESULTS}/logs/pretrain/{{variant}}/{{replicate}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretrain/{{variant}}/{{replicate}}.tsv"
    # scheduling only: the long jobs first, the short feature and evaluation jobs fill the cores after
    priority: 10
    conda:
        f"{ENVS}/pretrain.yaml"
    threads: config["pretrain"]["threads"]
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1 if config["pretrain"]["device"] == "cuda" else 0,
    params:
        # seed = the replicate's; no checkpoint choice (features'); unaligned variants: no training-only key
        pretrain=lambda wc: pretrain_job_section(wc.variant, wc.replicate),
        variant=lambda wc: variant_spec(wc.variant),
        ecg_encoder={k: v for k, v in config["ecg_encoder"].items() if k != "standin"},
        cohorts=PRETRAIN_COHORTS,
        # epoch checkpoints (full training state) live here, outside the outputs, so that a killed or
        # retried job resumes from the newest one instead of having it deleted as an incomplete output
        state_dir=lambda wc: f"{RESULTS}/interim/pretrain/{wc.variant}/{wc.replicate}",
    script:
        "../../scripts/pretrain.py"


rule extract_ecg_features:
    # One job per variant and replicate writes every cohort's feature file and the pre-training cohorts'
    # aligned embeddings (retrieval's input): the model is loaded once, a pre-training cohort's ECGs go
    # through the encoder once for both files, and the demo starts 24 fewer processes (each imports
    # torch). Every file depends on the checkpoint and its own cohort's data only, so its bytes are those
    # a job per file would write; what the job shares is the checkpoint, which reruns them all anyway.
    input:
        checkpoint=lambda wc: variant_checkpoint(wc.variant, wc.replicate),
        ecg_index=f"{RESULTS}/ecg/index.parquet",
        ecgs_table=f"{RESULTS}/tables/ecgs.parquet",
        studies=f"{RESULTS}/tables/echo_studies.parquet",
        splits=f"{RESULTS}/tables/splits.parquet",
        view_index=f"{RESULTS}/echo/view_embeddings.parquet",
        ecgs=expand(f"{RESULTS}/ecg/{{cohort}}/{{shard}}.npy", cohort=COHORTS, shard=SHARDS),
        views=expand(f"{RESULTS}/echo/view_embeddings/{{cohort}}/{{shard}}.npy", cohort=PRETRAIN_COHORTS, shard=SHARDS),
    output:
        features=expand(f"{RESULTS}/features/{{{{variant}}}}/{{{{replicate}}}}/{{cohort}}.parquet", cohort=COHORTS),
        aligned=expand(
            f"{RESULTS}/features/{{{{variant}}}}/{{{{replicate}}}}/aligned_{{cohort}}.parquet",
            cohort=PRETRAIN_COHORTS,
        ),
    log:
        f"{RESULTS}/logs/extract_ecg_features/{{variant}}/{{replicate}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/extract_ecg_features/{{variant}}/{{replicate}}.tsv"
    conda:
        f"{ENVS}/pretrain.yaml"
    threads: config["torch_threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=1 if config["pretrain"]["device"] == "cuda" else 0,
    params:
        torch_threads=config["torch_threads"],
        pretrain=lambda wc: extraction_section(wc.replicate),
        variant=lambda wc: variant_spec(wc.variant),
        cohorts=COHORTS,  # in the order of output.features
        pretrain_cohorts=PRETRAIN_COHORTS,  # in the order of output.aligned
    script:
        "../../scripts/extract_ecg_features.py"


rule embed_own_ecgs:
    input:
        checkpoint=variant_checkpoint(config["embed_own_ecgs"]["variant"], FIRST_REPLICATE),  # the first replicate
        records=own_ecg_files,
    output:
        features=f"{RESULTS}/features/{config['embed_own_ecgs']['variant']}/{FIRST_REPLICATE}/own_ecgs.parquet",
        excluded=f"{RESULTS}/qc/own_ecgs.excluded.parquet",
        ecgs=f"{RESULTS}/interim/own_ecgs/ecgs.npy",
        index=f"{RESULTS}/interim/own_ecgs/ecgs.parquet",
    log:
        f"{RESULTS}/logs/embed_own_ecgs.log",
    benchmark:
        f"{RESULTS}/benchmarks/embed_own_ecgs.tsv"
    conda:
        f"{ENVS}/pretrain.yaml"
    threads: config["torch_threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        torch_threads=config["torch_threads"],
        root=config["embed_own_ecgs"]["root"],
        format=config["embed_own_ecgs"]["format"],
        variant=config["embed_own_ecgs"]["variant"],
        variant_spec=variant_spec(config["embed_own_ecgs"]["variant"]),
        pretrain=extraction_section(FIRST_REPLICATE),
        preprocessing=config["ecg_preprocessing"],
    script:
        "../../scripts/embed_own_ecgs.py"
