# Stage: synthesize_cohort -- the synthetic demo cohort, in the real on-disk layouts.
# Code: echo2ecg/synthesize_cohort/


checkpoint synthesize_cohort:
    output:
        directory(SYNTHETIC_ROOT),
    params:
        synthetic=config["synthetic"],
    log:
        f"{RESULTS}/logs/synthesize_cohort.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesize_cohort.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        f"{ENVS}/synthesize.yaml"
    script:
        "../../scripts/synthesize_cohort.py"
