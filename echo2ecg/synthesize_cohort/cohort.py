"""The synthetic cohort: pre-training (MIMIC-IV-ECG + MIMIC-IV-ECHO), EchoNext and UK Biobank stand-ins.

A plan (patients, visit times, records, views, injected faults) is drawn in the main process
from the seed; records are then synthesised and written per patient, in worker processes, each
record from its own seed, so the bytes do not depend on the number of workers.
"""
from __future__ import annotations

import gzip
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from echo2ecg.synthesize_cohort.echo import render_echo_view, tint
from echo2ecg.synthesize_cohort.ecg import NOISE_PROFILES, synthesize_ecg
from echo2ecg.synthesize_cohort.hearts import HEART_COLUMNS, drift_hearts, sample_hearts
from echo2ecg.synthesize_cohort.writers import write_dicom, write_ukb_xml, write_wfdb

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # as MIMIC writes timestamps (naive, date-shifted)
PAIR_WINDOW_DAYS = 7.0
# How an ECG is timed against an echo study of the same patient (pairing cases).
TIMING_CASES = ("within", "boundary_7.0", "outside_7.1", "far")
TIMING_WEIGHTS = (0.6, 0.08, 0.08, 0.24)
ECG_FAULTS = ("corrupt_wfdb_dat", "corrupt_wfdb_header", "flat_lead", "missing_timestamp", "duplicate_id")
# View types beyond the two every study has (A4C, PLAX), with their frequency.
VIEW_WEIGHTS = {"A4C": 0.2, "A2C": 0.25, "A3C": 0.15, "PLAX": 0.15, "PSAX": 0.25}
ECHONEXT_FLAGS = (
    "lvef_lte_45_flag", "lvwt_gte_13_flag", "aortic_stenosis_moderate_or_greater_flag",
    "aortic_regurgitation_moderate_or_greater_flag", "mitral_regurgitation_moderate_or_greater_flag",
    "tricuspid_regurgitation_moderate_or_greater_flag", "pulmonary_regurgitation_moderate_or_greater_flag",
    "rv_systolic_dysfunction_moderate_or_greater_flag", "pericardial_effusion_moderate_large_flag",
    "pasp_gte_45_flag", "shd_moderate_or_greater_flag",
)
_VALVE_FLAGS = ECHONEXT_FLAGS[2:7]
# Real-time ranges MIMIC-IV reports for a patient's shifted anchor year.
ANCHOR_YEAR_GROUPS = ("2008 - 2010", "2011 - 2013", "2014 - 2016", "2017 - 2019", "2020 - 2022")
_COHORT_CODE = {"mimic": 1, "echonext": 2, "ukb": 3}


def _record_rng(seed: int, cohort: str, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _COHORT_CODE[cohort], *map(int, key)])


def _uniform_int(rng: np.random.Generator, bounds, size=None):
    lo, hi = int(bounds[0]), int(bounds[1])
    return rng.integers(lo, hi + 1, size=size)


@dataclass
class _PatientPlan:
    """Everything a worker needs to write one pre-training patient's ECGs and echo studies."""

    subject_id: int
    ecgs: list[dict] = field(default_factory=list)       # record_path, heart, seed key, flat_lead
    views: list[dict] = field(default_factory=list)      # dicom path, heart, view parameters


def _write_patient(root: str, plan: _PatientPlan, seed: int) -> int:
    """Synthesise and write one patient's ECGs and views; returns the number of files written."""
    root_path = Path(root)
    n = 0
    for ecg in plan.ecgs:
        rng = _record_rng(seed, "mimic", 0, ecg["key"])
        signal = synthesize_ecg(ecg["heart"], rng, fs=500.0, duration_s=10.0, noise=NOISE_PROFILES["mimic"])
        if ecg["flat_lead"] is not None:
            signal[ecg["flat_lead"]] = 0.0
        write_wfdb(root_path / "mimic-iv-ecg" / ecg["path"], signal)
        n += 1
    for view in plan.views:
        rng = _record_rng(seed, "mimic", 1, view["key"])
        frames = render_echo_view(view["heart"], view["view_type"], view["n_frames"], view["fps"],
                                  view["height"], view["width"], rng, depth_cm=view["depth_cm"])
        if view["color"]:
            frames = tint(frames)
        write_dicom(root_path / "mimic-iv-echo" / view["dicom_filepath"], frames, view["fps"], view["compressed"],
                    str(plan.subject_id), str(view["study_id"]), view["acquired"], view["instance"])
        n += 1
    return n


def _fault_choice(rng: np.random.Generator, n: int, kinds: tuple[str, ...], rate: float,
                  eligible: np.ndarray | None = None) -> dict[int, str]:
    """Pick records (indices) to fault at ``rate`` with at least one of each kind when rate > 0."""
    if rate <= 0 or n == 0:
        return {}
    candidates = np.arange(n) if eligible is None else np.flatnonzero(eligible)
    candidates = rng.permutation(candidates)
    n_faults = min(len(candidates), max(len(kinds), int(rng.binomial(len(candidates), rate))))
    chosen = candidates[:n_faults]
    labels = list(kinds) + list(rng.choice(kinds, size=max(0, n_faults - len(kinds))))
    return {int(i): str(k) for i, k in zip(chosen, labels)}


def _plan_mimic(cfg: dict, rng: np.random.Generator):
    """Patients, visit times and latent hearts of the pre-training cohort (MIMIC-IV-ECG/ECHO)."""
    n_patients = int(cfg["pretrain_patients"])
    baseline = sample_hearts(rng, n_patients)
    height, width = map(int, cfg["echo_frame_size"])
    plans, record_rows, hearts_rows, studies, views, measurements, machine = [], [], [], [], [], [], []
    ecg_counter, study_counter, measurement_counter = 0, 0, 0
    for p in range(n_patients):
        subject_id = 10000000 + 37 * (p + 1)
        plan = _PatientPlan(subject_id)
        n_studies = int(_uniform_int(rng, cfg["studies_per_patient"]))
        n_ecgs = int(_uniform_int(rng, cfg["ecgs_per_patient"]))
        start = datetime(2110 + int(rng.integers(0, 70)), 1, 1) + timedelta(
            days=int(rng.integers(0, 360)), hours=int(rng.integers(7, 18)), minutes=int(rng.integers(0, 60)))
        study_times = [start]
        for _ in range(n_studies - 1):
            study_times.append(study_times[-1] + timedelta(days=int(rng.integers(60, 420)),
                                                           minutes=int(rng.integers(-300, 300))))
        cases = list(rng.choice(TIMING_CASES, size=n_ecgs, p=TIMING_WEIGHTS))
        if p < 2:  # the boundary cases always exist: patient 0 has a 7.0-day ECG, patient 1 a 7.1-day one
            cases[0] = TIMING_CASES[1 + p]
        ecg_times = []
        for case in cases:
            anchor = study_times[int(rng.integers(0, n_studies))]
            sign = 1 if rng.random() < 0.5 else -1
            if case == "within":
                delta = timedelta(minutes=int(rng.integers(-int(6.9 * 1440), int(6.9 * 1440))))
            elif case == "boundary_7.0":
                delta = sign * timedelta(days=7)
            elif case == "outside_7.1":
                delta = sign * timedelta(days=7.1)
            else:
                anchor = study_times[0]
                delta = -timedelta(days=int(rng.integers(30, 400)), minutes=int(rng.integers(0, 1440)))
            ecg_times.append(anchor + delta)
        # one latent heart drifting over the patient's visits
        events = [("ecg", t) for t in ecg_times] + [("echo_study", t) for t in study_times]
        order = np.argsort([t.timestamp() for _, t in events], kind="stable")
        days = np.array([(events[i][1] - events[order[0]][1]).total_seconds() / 86400.0 for i in order])
        visit_hearts = drift_hearts(baseline.iloc[p].to_dict(), days, rng)
        heart_of = {int(i): visit_hearts.iloc[k].to_dict() for k, i in enumerate(order)}
        for j, (case, t) in enumerate(zip(cases, ecg_times)):
            ecg_counter += 1
            study_id = 40000000 + 7 * ecg_counter
            path = f"files/p{str(subject_id)[:4]}/p{subject_id}/s{study_id}/{study_id}"
            heart = heart_of[j]
            plan.ecgs.append({"key": ecg_counter, "path": path, "heart": heart, "flat_lead": None,
                              "study_id": study_id})
            record_rows.append({"subject_id": subject_id, "study_id": study_id, "file_name": str(study_id),
                                "ecg_time": t.strftime(TIME_FORMAT), "path": path, "_timing": case})
            hearts_rows.append({"dataset": "mimic-iv-ecg", "patient_id": str(subject_id), "event_id": str(study_id),
                                "event_kind": "ecg", "event_time": t.strftime(TIME_FORMAT), **heart})
            machine.append(_machine_measurement(subject_id, study_id, t, heart, rng))
        for s, t in enumerate(study_times):
            study_counter += 1
            study_id = 90000000 + 11 * study_counter
            heart = heart_of[n_ecgs + s]
            hearts_rows.append({"dataset": "mimic-iv-echo", "patient_id": str(subject_id), "event_id": str(study_id),
                                "event_kind": "echo_study", "event_time": t.strftime(TIME_FORMAT), **heart})
            has_measurement = rng.random() < 0.9
            measurement_counter += 1
            study_row = {"subject_id": subject_id, "study_id": study_id, "study_datetime": t.strftime(TIME_FORMAT),
                         "measurement_id": measurement_counter if has_measurement else pd.NA,
                         "measurement_datetime": t.strftime(TIME_FORMAT) if has_measurement else "",
                         "note_id": f"{subject_id}-EC-{s + 1}"}
            studies.append(study_row)
            if has_measurement:
                lvedv = heart["lvedv"] * (1.0 + rng.normal(0.0, 0.07))
                lvesv = min(heart["lvesv"] * (1.0 + rng.normal(0.0, 0.09)), 0.95 * lvedv)
                for name, value in (("lvef", f"{np.clip(heart['lvef'] + rng.normal(0, 3.0), 5, 85):.0f}"),
                                    ("biplane_lvef", f"{100 * (1 - lvesv / lvedv):.1f}"),
                                    ("biplane_lvedv", f"{lvedv:.1f}"), ("biplane_lvesv", f"{lvesv:.1f}")):
                    measurements.append({"subject_id": subject_id, "measurement_id": measurement_counter,
                                         "measurement_datetime": t.strftime(TIME_FORMAT), "test_type": "tte",
                                         "measurement": name, "result": value})
            n_views = int(_uniform_int(rng, cfg["views_per_study"]))
            extra = rng.choice(list(VIEW_WEIGHTS), size=max(0, n_views - 2), p=list(VIEW_WEIGHTS.values()))
            view_types = list(rng.permutation(["A4C", "PLAX"][:n_views] + list(extra)))
            for v, view_type in enumerate(view_types):
                still = rng.random() < float(cfg["still_fraction"])
                compressed = bool(rng.random() < float(cfg["jpeg_fraction"]))
                color = bool(rng.random() < (0.5 if compressed else 0.1))
                n_frames = 1 if still else int(_uniform_int(rng, cfg["echo_frames"]))
                fps = float(_uniform_int(rng, cfg["echo_fps"]))
                acquired = t + timedelta(seconds=45 * v)
                view_id = f"{study_id}_{v + 1:04d}"
                dicom_filepath = f"files/p{str(subject_id)[:2]}/p{subject_id}/s{study_id}/{view_id}.dcm"
                view = {"key": len(views) + 1, "study_id": study_id, "view_id": view_id, "view_type": str(view_type),
                        "n_frames": n_frames, "fps": fps, "height": height, "width": width,
                        "depth_cm": float(rng.choice([14.0, 15.0, 16.0, 17.0])), "compressed": compressed,
                        "color": color, "still": bool(still), "acquired": acquired, "instance": v + 1,
                        "dicom_filepath": dicom_filepath, "heart": heart}
                plan.views.append(view)
                views.append({k: view[k] for k in view if k not in ("heart", "key", "instance")}
                             | {"subject_id": subject_id})
        plans.append(plan)
    return plans, record_rows, hearts_rows, studies, views, measurements, machine


def _machine_measurement(subject_id: int, study_id: int, t: datetime, heart: dict, rng: np.random.Generator) -> dict:
    """A machine-read report line and intervals as MIMIC-IV-ECG machine_measurements.csv has them."""
    statements = ["Sinus rhythm"]
    if heart["qrs_ms"] >= 120:
        statements.append("Left bundle branch block")
    if heart["wall_mm"] >= 13:
        statements.append("Left ventricular hypertrophy")
    if heart["axis_deg"] < -30:
        statements.append("Left axis deviation")
    if len(statements) == 1:
        statements.append("Normal ECG")
    qrs_onset = int(rng.integers(190, 230))
    row = {"subject_id": subject_id, "study_id": study_id, "cart_id": int(rng.integers(6000, 6900)),
           "ecg_time": t.strftime(TIME_FORMAT)}
    row |= {f"report_{i}": (statements[i] if i < len(statements) else "") for i in range(18)}
    row |= {"bandwidth": "0.005-150 Hz", "filtering": "60 Hz notch Baseline filter",
            "rr_interval": int(round(60000.0 / heart["heart_rate"])), "p_onset": qrs_onset - 160,
            "p_end": qrs_onset - 60, "qrs_onset": qrs_onset, "qrs_end": int(qrs_onset + heart["qrs_ms"]),
            "t_end": int(qrs_onset + 400 * np.sqrt(60.0 / heart["heart_rate"])), "p_axis": int(rng.integers(30, 70)),
            "qrs_axis": int(round(heart["axis_deg"])),
            "t_axis": 29999 if rng.random() < 0.05 else int(round(heart["axis_deg"] - 10))}
    return row


def _write_csv_gz(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` as a gzipped CSV whose bytes depend only on its content (header mtime 0)."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped:
        zipped.write(table.to_csv(index=False).encode())


def _hosp_patients(hearts_rows: list[dict], rng: np.random.Generator) -> pd.DataFrame:
    """MIMIC-IV hosp ``patients`` rows of the pre-training patients, anchored at each one's first ECG.

    anchor_year is the year of the first ECG in shifted time, anchor_age the latent heart's age
    then (whole years, 91 for anyone over 89 as MIMIC-IV does), anchor_year_group the real-time
    range the anchor year falls in; dod is empty (no deaths recorded).
    """
    events = pd.DataFrame([{k: r[k] for k in ("dataset", "patient_id", "event_time", "age", "sex")}
                           for r in hearts_rows if r["dataset"] in ("mimic-iv-ecg", "mimic-iv-echo")])
    events["is_ecg"] = events["dataset"] == "mimic-iv-ecg"
    events["time"] = pd.to_datetime(events["event_time"], format=TIME_FORMAT)
    # the first ECG of each patient (the first event where a patient has no ECG)
    first = events.sort_values(["is_ecg", "time"], ascending=[False, True], kind="stable").drop_duplicates("patient_id")
    first = first.set_index("patient_id").loc[list(dict.fromkeys(events["patient_id"]))]
    age = np.floor(first["age"].to_numpy(dtype=float)).astype(int)
    groups = np.array(ANCHOR_YEAR_GROUPS)[rng.integers(0, len(ANCHOR_YEAR_GROUPS), len(first))]
    return pd.DataFrame({
        "subject_id": first.index.astype(np.int64),
        "gender": np.where(first["sex"].to_numpy() == 1, "M", "F"),
        "anchor_age": np.where(age > 89, 91, age),
        "anchor_year": first["time"].dt.year.to_numpy(),
        "anchor_year_group": groups,
        "dod": "",
    })


def _corrupt_file(path: Path, kind: str, rng: np.random.Generator) -> str:
    """Damage a written file in place; returns a description."""
    data = path.read_bytes()
    if kind == "corrupt_wfdb_header":
        garbled = bytes(rng.integers(33, 127, size=len(data), dtype=np.uint8))
        path.write_bytes(garbled)
        return "header replaced by random characters"
    keep = int(len(data) * rng.uniform(0.3, 0.6))
    path.write_bytes(data[:keep])
    return f"truncated to {keep} of {len(data)} bytes"


def _write_echonext(out: Path, cfg: dict, seed: int, rng: np.random.Generator):
    """EchoNext stand-in: metadata CSV and (N, 1, 2500, 12) float32 npy per split, 250 Hz."""
    n_patients = int(cfg["echonext_patients"])
    hearts = sample_hearts(rng, n_patients, age_mean=66.0, age_sd=13.0, ef_mix=(0.25, 0.15, 0.6),
                           hypertrophy_fraction=0.3)
    split_of = rng.choice(["train", "val", "test", "no_split"], size=n_patients, p=[0.7, 0.1, 0.17, 0.03])
    rows, hearts_rows = [], []
    key = 0
    for p in range(n_patients):
        n_ecgs = int(_uniform_int(rng, cfg["ecgs_per_patient"]))
        years = np.sort(rng.uniform(0.0, 4.0, n_ecgs))
        first_year = int(rng.integers(2008, 2019))
        visit = drift_hearts(hearts.iloc[p].to_dict(), years * 365.25, rng)
        for j in range(n_ecgs):
            key += 1
            heart = visit.iloc[j].to_dict()
            lvef_value = float(np.clip(heart["lvef"] + rng.normal(0.0, 3.0), 5.0, 85.0))
            flags = {f: 0 for f in ECHONEXT_FLAGS}
            flags["lvef_lte_45_flag"] = int(lvef_value <= 45.0)
            flags["lvwt_gte_13_flag"] = int(heart["wall_mm"] >= 13.0)
            if heart["shd"]:
                for f in rng.choice(_VALVE_FLAGS, size=int(rng.integers(1, 3)), replace=False):
                    flags[str(f)] = 1
            flags["rv_systolic_dysfunction_moderate_or_greater_flag"] = int(heart["lvef"] < 30 and rng.random() < 0.4)
            flags["pasp_gte_45_flag"] = int((heart["lvef"] < 40 or heart["shd"]) and rng.random() < 0.4)
            flags["pericardial_effusion_moderate_large_flag"] = int(rng.random() < 0.01)
            flags["shd_moderate_or_greater_flag"] = int(any(flags[f] for f in ECHONEXT_FLAGS[:-1]))
            ecg_key = f"EN{key:07d}"
            rows.append({"ecg_key": ecg_key, "patient_key": f"P{100000 + p:06d}", "age_at_ecg": round(heart["age"], 1),
                         "sex": "M" if heart["sex"] else "F", "acquisition_year": first_year + int(years[j]),
                         "split": split_of[p], **flags, "lvef_value": round(lvef_value, 1), "_key": key,
                         "_heart": heart})
            hearts_rows.append({"dataset": "echonext", "patient_id": f"P{100000 + p:06d}", "event_id": ecg_key,
                                "event_kind": "ecg", "event_time": f"{first_year + int(years[j])}-07-01 00:00:00",
                                **heart})
    meta = pd.DataFrame(rows)
    split_order = {"train": 0, "val": 1, "test": 2, "no_split": 3}
    meta = meta.iloc[np.argsort(meta["split"].map(split_order).to_numpy(), kind="stable")].reset_index(drop=True)
    faults = _fault_choice(rng, len(meta), ("nan_lead",), float(cfg["fault_rate"]),
                           eligible=(meta["split"] != "no_split").to_numpy())
    fault_rows = []
    for split in ("train", "val", "test"):
        part = meta[meta["split"] == split]
        waves = np.empty((len(part), 1, 2500, 12), dtype=np.float32)
        for i, (idx, row) in enumerate(part.iterrows()):
            signal = synthesize_ecg(row["_heart"], _record_rng(seed, "echonext", row["_key"]), fs=250.0,
                                    noise=NOISE_PROFILES["echonext"])
            if idx in faults:
                lead = int(_record_rng(seed, "echonext", row["_key"], 1).integers(12))
                signal[lead] = np.nan
                fault_rows.append({"dataset": "echonext", "record_id": row["ecg_key"], "kind": "nan_lead",
                                   "path": f"EchoNext_{split}_waveforms.npy", "detail": f"lead index {lead} all NaN"})
            waves[i, 0] = signal.T
        np.save(out / f"EchoNext_{split}_waveforms.npy", waves)
    meta.drop(columns=["_key", "_heart"]).to_csv(out / "echonext_metadata_100k.csv", index=False)
    return len(meta), n_patients, hearts_rows, fault_rows


def _write_ukb(out: Path, cfg: dict, seed: int, rng: np.random.Generator):
    """UK Biobank stand-in: CardiologyXML ECGs (instance 2, some instance 3) and a phenotype CSV."""
    n_patients = int(cfg["ukb_patients"])
    hearts = sample_hearts(rng, n_patients, age_mean=63.0, age_sd=7.5, ef_mix=(0.04, 0.08, 0.88),
                           hypertrophy_fraction=0.1)
    hearts["age"] = hearts["age"].clip(45.0, 82.0)
    phenotypes, hearts_rows, n_ecgs = [], [], 0
    for p in range(n_patients):
        eid = 1000000 + 13 * (p + 1)
        visit2 = datetime(2014 + int(rng.integers(0, 6)), 1, 1) + timedelta(
            days=int(rng.integers(0, 360)), hours=int(rng.integers(8, 17)), minutes=int(rng.integers(0, 60)))
        instances = [(2, visit2)]
        if rng.random() < 0.15:
            instances.append((3, visit2 + timedelta(days=int(rng.integers(700, 1100)))))
        days = np.array([(t - visit2).total_seconds() / 86400.0 for _, t in instances])
        visit = drift_hearts(hearts.iloc[p].to_dict(), days, rng)
        for k, (instance, t) in enumerate(instances):
            heart = visit.iloc[k].to_dict()
            signal = synthesize_ecg(heart, _record_rng(seed, "ukb", eid, instance), fs=500.0, noise=NOISE_PROFILES["ukb"])
            write_ukb_xml(out / "ecg" / f"{eid}_20205_{instance}_0.xml", signal, 500.0, t)
            n_ecgs += 1
            hearts_rows.append({"dataset": "ukb", "patient_id": str(eid), "event_id": f"{eid}_20205_{instance}_0",
                                "event_kind": "ecg", "event_time": t.strftime(TIME_FORMAT), **heart})
        heart = visit.iloc[0].to_dict()
        has_mri = rng.random() < 0.9
        lvedv = heart["lvedv"] * (1.0 + rng.normal(0.0, 0.04))
        lvesv = heart["lvesv"] * (1.0 + rng.normal(0.0, 0.05))
        phenotypes.append({"eid": eid, "31-0.0": int(heart["sex"]), "21003-2.0": int(heart["age"]),
                           "22420-2.0": round(100 * (1 - lvesv / lvedv), 1) if has_mri else np.nan,
                           "22421-2.0": round(lvedv, 1) if has_mri else np.nan,
                           "22422-2.0": round(lvesv, 1) if has_mri else np.nan,
                           "22423-2.0": round(lvedv - lvesv, 1) if has_mri else np.nan})
    pd.DataFrame(phenotypes).to_csv(out / "ukb_phenotypes.csv", index=False)
    return n_ecgs, n_patients, hearts_rows


def synthesize_cohort(out_root: Path, cfg: dict, log: logging.Logger, n_workers: int | None = None) -> dict:
    """Write the synthetic cohort under ``out_root`` (layouts of FORMATS.md) and its truth tables.

    ``cfg`` is the ``synthetic`` section of config.yaml. Returns counts (written to
    ``truth/summary.json``); the seconds taken go to the log only.
    """
    started = time.perf_counter()
    out_root = Path(out_root)
    seed = int(cfg["seed"])
    rng = np.random.default_rng([seed, 0])
    dirs = {name: out_root / name for name in ("mimic-iv-ecg", "mimic-iv-echo", "echonext", "ukb", "truth")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)

    plans, record_rows, hearts_rows, studies, views, measurements, machine = _plan_mimic(cfg, rng)
    log.info("planned %d pre-training patients: %d ECGs, %d studies, %d views",
             len(plans), len(record_rows), len(studies), len(views))

    # faults: ECG records (not the forced pairing-boundary ECGs) and DICOM views
    fault_rng = np.random.default_rng([seed, 9])
    ecg_of = [(pi, ei) for pi, plan in enumerate(plans) for ei in range(len(plan.ecgs))]
    eligible = np.array([row["_timing"] in ("within", "far") for row in record_rows])
    ecg_faults = _fault_choice(fault_rng, len(record_rows), ECG_FAULTS, float(cfg["fault_rate"]), eligible)
    view_faults = _fault_choice(fault_rng, len(views), ("truncated_dicom",), float(cfg["fault_rate"]))
    fault_rows = []
    for index, kind in ecg_faults.items():
        if kind == "flat_lead":
            pi, ei = ecg_of[index]
            plans[pi].ecgs[ei]["flat_lead"] = int(fault_rng.integers(12))

    n_workers = n_workers or min(2, os.cpu_count() or 1)
    root_str = str(out_root)
    if n_workers > 1 and len(plans) > 1:
        with ProcessPoolExecutor(n_workers) as pool:
            futures = [pool.submit(_write_patient, root_str, plan, seed) for plan in plans]
            n_echonext, p_echonext, hearts_echonext, faults_echonext = _write_echonext(dirs["echonext"], cfg, seed, rng)
            n_ukb, p_ukb, hearts_ukb = _write_ukb(dirs["ukb"], cfg, seed, rng)
            for f in futures:
                f.result()
    else:
        for plan in plans:
            _write_patient(root_str, plan, seed)
        n_echonext, p_echonext, hearts_echonext, faults_echonext = _write_echonext(dirs["echonext"], cfg, seed, rng)
        n_ukb, p_ukb, hearts_ukb = _write_ukb(dirs["ukb"], cfg, seed, rng)

    # file-level faults after writing
    record_list = pd.DataFrame(record_rows)
    for index, kind in sorted(ecg_faults.items()):
        row = record_list.iloc[index]
        record_id, path = str(row["study_id"]), str(row["path"])
        detail = ""
        if kind == "corrupt_wfdb_dat":
            detail = _corrupt_file(dirs["mimic-iv-ecg"] / f"{path}.dat", kind, fault_rng)
        elif kind == "corrupt_wfdb_header":
            detail = _corrupt_file(dirs["mimic-iv-ecg"] / f"{path}.hea", kind, fault_rng)
        elif kind == "flat_lead":
            pi, ei = ecg_of[index]
            detail = f"lead index {plans[pi].ecgs[ei]['flat_lead']} (model order) written as all zero"
        elif kind == "missing_timestamp":
            record_list.loc[record_list.index[index], "ecg_time"] = ""
            detail = "ecg_time empty in record_list.csv"
        elif kind == "duplicate_id":
            detail = "record_list.csv row repeated with the same study_id"
        fault_rows.append({"dataset": "mimic-iv-ecg", "record_id": record_id, "kind": kind, "path": path,
                           "detail": detail})
    for index, kind in sorted(view_faults.items()):
        view = views[index]
        detail = _corrupt_file(dirs["mimic-iv-echo"] / view["dicom_filepath"], kind, fault_rng)
        fault_rows.append({"dataset": "mimic-iv-echo", "record_id": view["view_id"], "kind": kind,
                           "path": view["dicom_filepath"], "detail": detail})
    fault_rows += faults_echonext

    duplicates = [i for i, k in ecg_faults.items() if k == "duplicate_id"]
    record_list = pd.concat([record_list, record_list.iloc[sorted(duplicates)]]).sort_index(kind="stable")
    record_list.drop(columns=["_timing"]).to_csv(dirs["mimic-iv-ecg"] / "record_list.csv", index=False)
    pd.DataFrame(machine).to_csv(dirs["mimic-iv-ecg"] / "machine_measurements.csv", index=False)

    hosp = out_root / "mimic-iv" / "hosp"
    hosp.mkdir(parents=True, exist_ok=True)
    _write_csv_gz(_hosp_patients(hearts_rows, np.random.default_rng([seed, 5])), hosp / "patients.csv.gz")

    view_table = pd.DataFrame(views)
    view_table.assign(acquisition_datetime=view_table["acquired"].map(lambda t: t.strftime(TIME_FORMAT)))[
        ["subject_id", "study_id", "acquisition_datetime", "dicom_filepath"]
    ].to_csv(dirs["mimic-iv-echo"] / "echo-record-list.csv", index=False)
    pd.DataFrame(studies).to_csv(dirs["mimic-iv-echo"] / "echo-study-list.csv", index=False)
    _write_csv_gz(pd.DataFrame(measurements, columns=["subject_id", "measurement_id", "measurement_datetime",
                                                      "test_type", "measurement", "result"]),
                  dirs["mimic-iv-echo"] / "structured-measurement.csv.gz")

    # truth
    hearts = pd.DataFrame(hearts_rows + hearts_echonext + hearts_ukb)
    hearts = hearts[["dataset", "patient_id", "event_id", "event_kind", "event_time", *HEART_COLUMNS]]
    hearts.to_parquet(dirs["truth"] / "hearts.parquet", index=False)
    faults = pd.DataFrame(fault_rows, columns=["dataset", "record_id", "kind", "path", "detail"])
    faults.to_csv(dirs["truth"] / "faults.csv", index=False)
    truth_views = view_table.drop(columns=["acquired"]).assign(
        view_id=lambda d: d["view_id"].astype(str), study_id=lambda d: d["study_id"].astype(str),
        patient_id=lambda d: d["subject_id"].astype(str)).drop(columns=["subject_id"])
    truth_views.to_parquet(dirs["truth"] / "views.parquet", index=False)
    timing = pd.DataFrame(record_rows)[["study_id", "_timing"]].rename(columns={"_timing": "timing_case"})
    timing.assign(study_id=timing["study_id"].astype(str)).to_parquet(dirs["truth"] / "ecg_timing.parquet", index=False)

    summary = {
        "patients": {"pretrain": len(plans), "echonext": p_echonext, "ukb": p_ukb},
        "ecgs": {"mimic-iv-ecg": len(record_rows), "echonext": n_echonext, "ukb": n_ukb},
        "studies": len(studies),
        "views": len(views),
        "frames": int(sum(v["n_frames"] for v in views)),
        "faults": {str(k): int(v) for k, v in faults["kind"].value_counts().sort_index().items()},
    }
    log.info("synthetic cohort written to %s in %.1f s: %s", out_root, time.perf_counter() - started, summary)
    return summary
