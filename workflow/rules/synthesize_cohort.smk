# Stage: synthesize_cohort -- the synthetic demo cohort, in the real on-disk layouts.
# Code: echo2ecg/synthesize_cohort/


checkpoint synthesize_cohort:
    output:
        directory(SYNTHETIC_ROOT),
    log:
        f"{RESULTS}/logs/synthesize_cohort.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesize_cohort.tsv"
    # scheduling only (no result depends on it): first, beside the echo stand-in's fit (priority 20), which
    # needs no cohort. One thread: the bytes do not depend on it (each record from its own seed), and two
    # threads held the demo's second core idle for a third of the job (89 CPU-s in 130 core-s held);
    # --set-threads synthesize_cohort=N writes with N processes.
    priority: 30
    conda:
        f"{ENVS}/synthesize.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        synthetic=config["synthetic"],
    script:
        "../../scripts/synthesize_cohort.py"
