import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def default_config():
    with open(REPO / "config.yaml") as handle:
        return copy.deepcopy(yaml.safe_load(handle))
