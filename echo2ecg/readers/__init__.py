"""One reader module per on-disk format. Which reader a cohort uses is config
(``cohorts.<name>.ecg_reader`` / ``echo_reader``); see FORMATS.md for the contracts."""
from __future__ import annotations

import importlib

ECG_READERS = ("mimic_iv_ecg", "echonext", "ukb_xml", "dicom_ecg")
ECHO_READERS = ("mimic_iv_echo", "echonet_dynamic")


def ecg_reader(name: str):
    if name not in ECG_READERS:
        raise ValueError(f"unknown ECG reader {name!r}; choose one of {ECG_READERS}")
    return importlib.import_module(f"echo2ecg.readers.{name}")


def reader_module(name: str):
    """The reader module of any format (ECG or echo)."""
    return ecg_reader(name) if name in ECG_READERS else echo_reader(name)


def echo_reader(name: str):
    if name not in ECHO_READERS:
        raise ValueError(f"unknown echo reader {name!r}; choose one of {ECHO_READERS}")
    return importlib.import_module(f"echo2ecg.readers.{name}")


# Index files a reader lists records from (relative to the cohort root). A change in one of them
# changes the manifest; the files themselves are declared inputs of the rules that read them.
INDEX_FILES = {
    "mimic_iv_ecg": ["record_list.csv"],
    "mimic_iv_echo": ["echo-record-list.csv"],
    "echonext": ["echonext_metadata_100k.csv"],
    "ukb_xml": ["ukb_phenotypes.csv"],  # plus a directory listing of ecg/*_20205_*_0.xml (age, sex from the CSV)
    "dicom_ecg": [],  # a directory listing of **/*.dcm
    "echonet_dynamic": ["FileList.csv"],
}
# Readers that list records by a directory listing rather than (only) from an index file.
LISTED_BY_DIRECTORY = {"ukb_xml", "dicom_ecg"}
# The study list of echo readers (one row per study).
STUDY_LIST_FILES = {
    "mimic_iv_echo": ["echo-study-list.csv"],
    "echonet_dynamic": ["FileList.csv"],
}
# Files that hold phenotype labels, and what one phenotype row describes.
PHENOTYPE_FILES = {
    "mimic_iv_echo": ["structured-measurement.csv.gz", "echo-study-list.csv"],
    "echonext": ["echonext_metadata_100k.csv"],
    "ukb_xml": ["ukb_phenotypes.csv"],
    "echonet_dynamic": ["FileList.csv"],
}
PHENOTYPE_ENTITY = {
    "mimic_iv_echo": "study",
    "echonext": "ecg",
    "ukb_xml": "patient",
    "echonet_dynamic": "study",
}
