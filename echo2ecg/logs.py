"""Logging for workflow steps: one logger per job, writing to the rule's ``log:`` file."""
from __future__ import annotations

import logging
import sys


def stage_logger(name: str, log_path=None, level: int = logging.INFO) -> logging.Logger:
    """A logger that writes timestamped lines to ``log_path`` (and to stderr)."""
    logger = logging.getLogger(f"echo2ecg.{name}")
    logger.setLevel(level)
    logger.handlers.clear()
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    if log_path:
        # a rule's failure lands in its log: an exception nothing caught is logged (with its traceback) there
        def log_uncaught(kind, value, traceback):
            logger.critical("failed: %s: %s", kind.__name__, value, exc_info=(kind, value, traceback))

        sys.excepthook = log_uncaught
    return logger


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
