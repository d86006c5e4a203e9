# Echo2ECG: ECG representations enhanced with cardiac morphology from multi-view echos.
# Rules live in workflow/rules/ (one file per stage), the logic in the echo2ecg package.
from snakemake.utils import min_version

min_version("9.0")


# the embedded default, found from any working directory; --configfile files are merged on top
configfile: f"{workflow.basedir}/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synthesize_cohort.smk"
include: "workflow/rules/list_records.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/pair_ecg_echo.smk"
include: "workflow/rules/split_patients.smk"
include: "workflow/rules/summarize_cohort.smk"
include: "workflow/rules/preprocess_ecg.smk"
include: "workflow/rules/prepare_echo_clips.smk"
include: "workflow/rules/embed_echo_views.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),


# Every configured pre-training variant, the ablations included (the default target builds those
# with in_default_target true).
rule all_variants:
    input:
        model_targets(VARIANTS),


# Embed your own ECGs: set embed_own_ecgs.root (a directory of WFDB or DICOM ECGs), then
#   snakemake own_ecg_features --config embed_own_ecgs='{root: /path/to/ecgs, format: wfdb, variant: echo2ecg}'
rule own_ecg_features:
    input:
        rules.embed_own_ecgs.output.features,


# Every rule that runs repository code gets the param `code`: the digest of the bytes of its script
# and of the echo2ecg modules it imports, transitively (echo2ecg/code_lineage.py). A changed module
# reruns exactly the jobs that run it and their dependants; a touch or a checkout reruns nothing.
CODE_FILES = add_code_params(workflow.rules)
