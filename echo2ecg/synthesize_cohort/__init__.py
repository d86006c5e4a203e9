"""Synthetic cohort generator: linked ECGs and echo studies from one latent heart per patient.

Written in the published on-disk layouts (echo2ecg/readers/FORMATS.md) so the real readers read it.
"""
from echo2ecg.synthesize_cohort.cohort import synthesize_cohort
from echo2ecg.synthesize_cohort.echo import VIEW_TYPES, render_echo_view
from echo2ecg.synthesize_cohort.ecg import synthesize_ecg
from echo2ecg.synthesize_cohort.hearts import drift_hearts, sample_hearts

__all__ = ["VIEW_TYPES", "drift_hearts", "render_echo_view", "sample_hearts", "synthesize_cohort", "synthesize_ecg"]
