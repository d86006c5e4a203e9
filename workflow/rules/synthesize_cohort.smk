# Stage: synthesize_cohort -- the synthetic demo cohort, in the real on-disk layouts.
# Code: echo2ecg/synthesize_cohort/


checkpoint synthesize_cohort:
    output:
        directory(SYNTHETIC_ROOT),
    log:
        f"{RESULTS}/logs/synthesize_cohort.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesize_cohort.tsv"
    # scheduling only (no result depends on it): first, so that its two threads never wait for a long one-thread job
    priority: 30
    conda:
        f"{ENVS}/synthesize.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        synthetic=config["synthetic"],
    script:
        "../../scripts/synthesize_cohort.py"
