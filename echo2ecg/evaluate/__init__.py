"""Evaluation of ECG representations: kNN classification, ECG-to-echo retrieval, bootstrap CIs."""
