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
