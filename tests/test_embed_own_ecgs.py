"""Embed your own ECGs: a WFDB directory through readers, QC and preprocessing into features."""
import numpy as np
import pandas as pd
import torch

from echo2ecg.embed_own_ecgs import embed_own_ecgs, list_own_ecgs
from echo2ecg.logs import stage_logger
from echo2ecg.preprocess_ecg import ECGPreprocessing, preprocess_ecg
from echo2ecg.pretrain import PretrainConfig, VariantSpec, build_model
from echo2ecg.synthesize_cohort.ecg import synthesize_ecg
from echo2ecg.synthesize_cohort.hearts import sample_hearts
from echo2ecg.synthesize_cohort.writers import write_wfdb
from tests.test_pretrain import ECG_SECTION, PRETRAIN_SECTION


def test_wfdb_directory_gives_features_for_good_records_and_ledger_rows_for_bad(tmp_path):
    rng = np.random.default_rng(0)
    hearts = sample_hearts(rng, 3)
    signals = [synthesize_ecg(hearts.iloc[i].to_dict(), np.random.default_rng(i)) for i in range(3)]
    root = tmp_path / "mine"
    write_wfdb(root / "a" / "rec1", signals[0])
    write_wfdb(root / "b" / "rec2", signals[1])
    write_wfdb(root / "b" / "short", signals[2][:, :2000])             # 4 s: too short
    flat = signals[2].copy()
    flat[7] = 0.0
    write_wfdb(root / "flat", flat)                                      # a flat lead
    (root / "broken.hea").write_text("garbage\n")                        # unreadable header
    reader, rows = list_own_ecgs(root, "wfdb")
    assert sorted(r["record_id"] for r in rows) == ["a/rec1", "b/rec2", "b/short", "broken", "flat"]

    model, _ = build_model(PretrainConfig.from_dict(PRETRAIN_SECTION), ECG_SECTION, VariantSpec("x", init="random"))
    params = ECGPreprocessing()
    features, excluded = embed_own_ecgs(root, "wfdb", model, ECG_SECTION["n_samples"], params,
                                        tmp_path / "own.npy", tmp_path / "own.parquet", torch.device("cpu"), 2,
                                        stage_logger("test_embed_own"))
    assert sorted(features["ecg_id"]) == ["a/rec1", "b/rec2"]
    assert sorted(excluded["record_id"]) == ["b/short", "broken", "flat"]
    assert excluded["reason"].str.len().gt(10).all()
    assert list(features.columns[:2]) == ["ecg_id", "source_path"]
    assert features.shape[1] == 2 + ECG_SECTION["embed_dim"]
    # the same preprocessing and encoder as every cohort's ECG (after the 200 units/mV round trip)
    row = features.set_index("ecg_id").loc["a/rec1"]
    x = preprocess_ecg(np.round(signals[0] * 200) / 200, 500.0, params)
    with torch.no_grad():
        expected = model.encode_ecg(torch.from_numpy(x[None, :, :ECG_SECTION["n_samples"]].copy())).numpy()[0]
    np.testing.assert_allclose(row.iloc[1:].to_numpy(dtype=np.float32), expected, rtol=1e-4, atol=1e-4)
    assert isinstance(excluded, pd.DataFrame)
