"""What the ``lrlab`` commands share: the one-line usage error, argument types and the progress
display of a study run."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .report import printable


class UsageError(Exception):
    """Bad input from the user: reported as one line with exit status 2."""


def positive(value: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value!r}")
    return n


def rate(value: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {value!r}") from None
    if not (x > 0 and x < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {value!r}")
    return x


class ProgressDisplay:
    """The progress of ``lrlab run`` on stderr: a bar (trials done, the cohort and its epoch,
    elapsed and remaining time) on a terminal when rich is installed, else one line per cohort;
    nothing with ``--quiet``. Use it as a context manager: the bar is closed on Ctrl-C too."""

    def __init__(self, name: str, quiet: bool) -> None:
        self.name, self.quiet = name, quiet
        self.bar: Any = None
        self.task: Any = None
        if quiet or not sys.stderr.isatty():
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:
            return
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[trials]}"),
            TextColumn("{task.fields[where]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
            console=Console(stderr=True),
            transient=False,
        )

    def __enter__(self) -> ProgressDisplay:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, p: Any) -> None:
        from .report import progress_line

        if self.quiet:
            return
        if self.bar is None:
            if p.epoch == 0:  # plain lines: one per cohort
                print(progress_line(self.name, p), file=sys.stderr)
            return
        left = "" if p.remaining is None else f"~{p.remaining:.0f} s left"
        fields = {
            "trials": f"{p.done}/{p.total} trials",
            "where": f"cohort {min(p.cohorts_done + 1, p.cohorts)}/{p.cohorts}"
            + (f", epoch {p.epoch}/{p.epochs}" if p.epoch else ""),
            "left": left,
        }
        if self.task is None:
            self.task = self.bar.add_task(printable(self.name), total=1.0, **fields)
        self.bar.update(self.task, completed=p.fraction, **fields)
        if p.epoch == 0 and p.error:
            self.bar.console.print(progress_line(self.name, p))
