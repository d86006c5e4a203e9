"""Rule synthesize_ecg_standin_corpus: the OTiS stand-in's own synthetic ECG corpus (only without an
OTiS checkpoint), preprocessed as every ECG is and cached for fit_ecg_encoder."""
import datetime as dt

import _package_path  # noqa: F401

from echo2ecg.ecg_standin_corpus import StandinCorpus
from echo2ecg.logs import stage_logger
from echo2ecg.preprocess_ecg import ECGPreprocessing
from echo2ecg.provenance import provenance_from_snakemake

started = dt.datetime.now(dt.timezone.utc)
log = stage_logger("synthesize_ecg_standin_corpus", snakemake.log[0])
section = snakemake.params.corpus
log.info("synthesising the stand-in's own ECG corpus: %d patients x %d ECGs, seed %d",
         section["n_patients"], section["ecgs_per_patient"], section["seed"])
corpus = StandinCorpus.synthesize(section["n_patients"], section["seed"],
                                  ECGPreprocessing.from_config(snakemake.params.preprocessing),
                                  section["ecgs_per_patient"], log)
corpus.save(snakemake.output.ecgs, snakemake.output.hearts)
log.info("wrote %s (%s float32) and %s", snakemake.output.ecgs, corpus.ecgs.shape, snakemake.output.hearts)
provenance_from_snakemake(snakemake, started_at=started,
                          summary={"patients": int(corpus.ecgs.shape[0]), "ecgs_per_patient": int(corpus.ecgs.shape[1]),
                                   "n_samples": int(corpus.ecgs.shape[-1])})
