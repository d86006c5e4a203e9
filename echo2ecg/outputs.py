"""Atomic writes of result files: a writer writes to a temporary name in the output's own
directory and the file takes its final name (``os.replace``, atomic on one file system) only when
it is complete. A job killed while writing (SIGKILL, scancel, a node fault) leaves at most a
``.*.partial*`` file, never a truncated file under the name Snakemake or a resumed run would take
for complete; Snakemake's incomplete-output marks then make the next run redo the job."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path


def partial_name(path: str | os.PathLike) -> Path:
    """``dir/.name.partial.ext`` for ``dir/name.ext``: same directory (so the replace is atomic), same
    extension (writers such as matplotlib's ``savefig`` pick the format from it), hidden and with
    another stem (no pattern for final names, such as ``epoch_*.pt``, takes it)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.partial{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield the temporary name to write ``path`` to; it becomes ``path`` when the block ends
    without an exception, and is removed when it raises."""
    path = Path(path)
    tmp = partial_name(path)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
