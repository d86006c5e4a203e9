"""Make the repository's echo2ecg package importable from a rule's script in any environment
(the project's virtual environment installs it; a rule's conda environment does not)."""
import pathlib
import sys

_REPO = str(pathlib.Path(__file__).resolve().parents[1])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)
