"""Logging for workflow steps: one logger per job, writing to the rule's ``log:`` file.

A rule's failure lands in that file. Every script in ``scripts/`` imports ``_package_path``
first, which calls :func:`log_failures_to_rule_log` with the rule's ``log:`` files: from then on an
exception that ends the script (an expected stop such as a QC threshold, or any unexpected
error, import errors included) is appended to the rule's log before Python prints it to stderr
as usual. An :class:`ExpectedFailure` is logged by its message (it names what is wrong); any
other exception with its traceback.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import traceback

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ExpectedFailure(Exception):
    """A stop the stage reports by its message alone: a QC threshold, an input that is not what it
    should be (named by path). The rule's log gets the message, without a traceback."""


def stage_logger(name: str, log_path=None, level: int = logging.INFO) -> logging.Logger:
    """A logger that writes timestamped lines to ``log_path`` (and to stderr)."""
    logger = logging.getLogger(f"echo2ecg.{name}")
    logger.setLevel(level)
    logger.handlers.clear()
    logger.propagate = False
    fmt = logging.Formatter(_FORMAT)
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    return logger


def failure_message(exc: BaseException, name: str) -> str:
    """What the rule's log says about the exception that stopped ``name``."""
    if isinstance(exc, ExpectedFailure):
        return f"{name} stopped: {exc}"
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    return f"{name} failed with an unexpected error: {type(exc).__name__}: {exc}\n{trace}"


def log_failures_to_rule_log(log_paths, name: str) -> None:
    """Append the exception that ends this process to every file in ``log_paths`` (the rule's
    ``log:``), then let Python's own hook print it to stderr; installed once per process."""
    paths = [os.fspath(p) for p in (log_paths or [])]
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        if not issubclass(exc_type, KeyboardInterrupt):
            if exc.__traceback__ is None:
                exc = exc.with_traceback(tb)
            stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
            line = f"{stamp} ERROR echo2ecg.{name}: {failure_message(exc, name)}\n"
            for path in paths:
                try:
                    with open(path, "a") as handle:
                        handle.write(line)
                except OSError as error:  # the log's directory is gone: stderr still has it
                    print(f"cannot write the failure to {path}: {error}", file=sys.stderr)
        previous(exc_type, exc, tb)

    sys.excepthook = hook


class Progress:
    """Logs 'done/total' about every ``every`` items and at the end."""

    def __init__(self, log: logging.Logger, total: int, what: str, every: int | None = None):
        self.log, self.total, self.what = log, total, what
        self.every = every or max(1, total // 10)
        self.done = 0

    def step(self, n: int = 1) -> None:
        before = self.done
        self.done += n
        if self.done // self.every != before // self.every or self.done == self.total:
            self.log.info("%s: %d/%d", self.what, self.done, self.total)
