import pytest

from echo2ecg.config import ConfigError, check_synthetic_roots, validate_config


def test_default_config_is_valid(default_config):
    validate_config(default_config)


@pytest.mark.parametrize("mutate, key", [
    (lambda c: c["pairing"].update(window_days=-1), "pairing.window_days"),
    (lambda c: c["pairing"].update(window_days="seven"), "pairing.window_days"),
    (lambda c: c["ingest"].update(n_shards=0), "ingest.n_shards"),
    (lambda c: c["qc"].update(max_excluded_fraction=1.5), "qc.max_excluded_fraction"),
    (lambda c: c["synthetic"].update(pretrain_patients=2.5), "synthetic.pretrain_patients"),
    (lambda c: c["cohorts"]["mimic"].update(ecg_reader="hl7"), "cohorts.mimic.ecg_reader"),
    (lambda c: c["cohorts"]["mimic"].pop("echo_root"), "cohorts.mimic"),
    (lambda c: c["split"]["fractions"].update(train=0.5), "split.fractions"),
    (lambda c: c["synthetic"].update(views_per_study=[5, 3]), "synthetic.views_per_study"),
    (lambda c: c["echo_clips"].update(resize="bicubic"), "echo_clips.resize"),
])
def test_bad_values_fail_naming_the_key(default_config, mutate, key):
    mutate(default_config)
    with pytest.raises(ConfigError) as error:
        validate_config(default_config)
    assert key in str(error.value)


def test_unknown_keys_are_named(default_config):
    default_config["pairing"]["window_dayz"] = 7
    with pytest.raises(ConfigError, match=r"unknown config key pairing\.window_dayz"):
        validate_config(default_config)
    del default_config["pairing"]["window_dayz"]
    default_config["pretraining"] = {}
    with pytest.raises(ConfigError, match=r"unknown config key pretraining"):
        validate_config(default_config)


def test_synthetic_roots_must_lie_where_the_generator_writes(default_config):
    check_synthetic_roots(default_config, "results/raw/synthetic")
    default_config["cohorts"]["ukb"]["ecg_root"] = "/data/ukb"
    with pytest.raises(ConfigError, match=r"cohorts\.ukb\.ecg_root"):
        check_synthetic_roots(default_config, "results/raw/synthetic")
    default_config["cohorts"]["ukb"]["synthetic"] = False
    check_synthetic_roots(default_config, "results/raw/synthetic")


# ---- your own data with one config file (cohorts replace demo_cohorts) ------------------------
def _merged(*layers):
    """What Snakemake does with --configfile layers (a key-wise recursive merge), then resolved."""
    import copy

    import yaml
    from snakemake.utils import update_config

    from echo2ecg.config import resolve_config
    from conftest import REPO

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for layer in layers:
        update_config(config, copy.deepcopy(layer))
    return resolve_config(config)


def _paths(config):
    return {f"{name}.{key}": value for name, spec in config["cohorts"].items() for key, value in spec.items()
            if key.endswith("_root") or key == "demographics"}


def test_a_users_cohorts_replace_the_demo_set_and_no_demo_path_leaks():
    mine = {"role": "pretrain", "synthetic": False, "ecg_reader": "mimic_iv_ecg", "ecg_root": "/data/ecg",
            "echo_reader": "mimic_iv_echo", "echo_root": "/data/echo", "split_source": "patient_hash"}
    config = _merged({"cohorts": {"mimic": mine}})  # the demo's own cohort name, on purpose
    validate_config(config)
    assert config["cohorts"] == {"mimic": mine}
    assert "demographics" not in config["cohorts"]["mimic"]


def test_the_mimic_iv_preset_names_only_real_roots():
    import yaml

    from conftest import REPO

    config = _merged(yaml.safe_load((REPO / "resources/presets/mimic_iv.yaml").read_text()))
    validate_config(config)
    assert set(config["cohorts"]) == {"mimic", "echonext", "ukb"}
    assert not any(spec["synthetic"] for spec in config["cohorts"].values())
    for key, path in _paths(config).items():
        assert "synthetic" not in path and not path.startswith("results"), key
    assert "demographics" not in config["cohorts"]["mimic"]


def test_without_cohorts_the_demo_runs_with_roots_under_results_dir():
    config = _merged({"results_dir": "/scratch/me/run1"})
    validate_config(config)
    assert set(config["cohorts"]) == {"mimic", "echonext", "ukb"}
    for key, path in _paths(config).items():
        assert path.startswith("/scratch/me/run1/raw/synthetic/"), key
    check_synthetic_roots(config, "/scratch/me/run1/raw/synthetic")
    from echo2ecg.config import resolve_config

    again = resolve_config(config)  # idempotent (Snakemake parses the Snakefile again in jobs)
    assert _paths(again) == _paths(config)


def test_the_mimic_iv_preset_carries_the_recipes_training_numbers_not_the_demos():
    """RECIPE sections 2, 3, 6 written out in the preset: no CPU-demo value of config.yaml leaks in."""
    import yaml

    from conftest import REPO

    demo = _merged({})
    config = _merged(yaml.safe_load((REPO / "resources/presets/mimic_iv.yaml").read_text()))
    pretrain, encoder = config["pretrain"], config["ecg_encoder"]
    assert (pretrain["batch_size"], pretrain["epochs"], pretrain["lr"], pretrain["layer_decay"], pretrain["tau"]) == (
        256, 50, 5e-4, 0.75, 0.5)
    assert (pretrain["warmup_epochs"], pretrain["start_lr_ratio"], pretrain["min_lr_ratio"]) == (2, 0.1, 0.1)
    assert pretrain["augment"] == {"ft_surrogate_phase_noise": 0.075, "ft_surrogate_p": 0.5, "jitter_amplitude": 0.6,
                                   "jitter_sigma": 0.2, "rescaling_mean": 1.0, "rescaling_sigma": 0.5,
                                   "time_flip_p": 0.33, "sign_flip_p": 0.33}
    assert (encoder["patch_size"], encoder["embed_dim"], encoder["depth"], encoder["n_heads"], encoder["n_samples"]) == (
        24, 192, 12, 3, 1008)
    # the demo differs in these very keys, so the test would see a leak
    assert demo["pretrain"]["augment"] != pretrain["augment"] and demo["pretrain"]["lr"] != pretrain["lr"]


def test_ecg_encoder_otis_keys_paper_preset_and_schema(default_config):
    """The paper preset runs OTiS's attention module and reads the ECG rows from the checkpoint's
    domain_offsets (null); the schema takes null or an integer >= 0 and only the two layouts."""
    import yaml

    from conftest import REPO
    from echo2ecg.model.ecg_encoder import ECGEncoder, ECGEncoderConfig, count_parameters

    paper = _merged(yaml.safe_load((REPO / "resources/presets/mimic_iv.yaml").read_text()))["ecg_encoder"]
    assert paper["attention_layout"] == "otis" and paper["otis_ecg_domain_offset"] is None
    assert abs(count_parameters(ECGEncoder(ECGEncoderConfig.from_dict(paper))) - 7.1e6) < 0.1e6
    assert _merged({})["ecg_encoder"]["otis_ecg_domain_offset"] is None  # the demo default too
    validate_config(default_config)
    for value in (4, 0):
        default_config["ecg_encoder"]["otis_ecg_domain_offset"] = value
        validate_config(default_config)
    for key, bad in (("otis_ecg_domain_offset", -1), ("otis_ecg_domain_offset", "four"),
                     ("attention_layout", "timm")):
        default_config["ecg_encoder"][key] = bad
        with pytest.raises(ConfigError, match=rf"ecg_encoder\.{key}"):
            validate_config(default_config)
        default_config["ecg_encoder"][key] = {"otis_ecg_domain_offset": None, "attention_layout": "fused"}[key]
