import copy
from pathlib import Path

import pytest
import yaml

from echo2ecg.config import resolve_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def default_config():
    with open(REPO / "config.yaml") as handle:
        # the effective default: demo_cohorts as cohorts (see echo2ecg.config.resolve_config)
        return resolve_config(copy.deepcopy(yaml.safe_load(handle)))
