"""Echo2ECG: the library behind the Snakemake workflow.

One module per workflow stage, named after the stage's rule family:
``synthesize_cohort``, ``readers``, ``ingest``, ``pair_ecg_echo``, ``split_patients``,
``summarize_cohort``, ``preprocess_ecg``, ``prepare_echo_clips``, ``embed_echo_views``,
``fit_echo_encoder``. Shared vocabulary lives in ``leads``, ``qc``, ``sharding``,
``provenance`` and ``config``.
"""

__version__ = "0.1.0"
