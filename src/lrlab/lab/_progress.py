"""The progress reports of :func:`lrlab.lab.study.run_study`.

Private: import :class:`Progress` from :mod:`lrlab.lab.study`.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Progress:
    """A progress report, passed to ``run_study(progress=...)`` before the first cohort, after
    every cohort and, for cohorts trained in this process, after every epoch of the cohort in
    training (``epoch > 0``).

    Attributes:
        done: Trials finished in this run so far (failed ones included).
        total: Trials this run has to do (the pending ones).
        skipped: Trials already done before this run.
        cohort_size: Members of the cohort just finished (0 for the first report), or of the
            cohort in training for an epoch report.
        seconds: That cohort's wall time. ``error``: its error, if it failed.
        cohorts_done: Cohorts finished; ``cohorts``: cohorts in this run.
        epoch: For an epoch report, the epochs the cohort in training has finished (else 0);
            ``epochs``: its epochs in all.
        elapsed: Seconds since the run started.
    """

    done: int
    total: int
    skipped: int
    cohort_size: int = 0
    seconds: float = 0.0
    error: str | None = None
    cohorts_done: int = 0
    cohorts: int = 0
    epoch: int = 0
    epochs: int = 0
    elapsed: float = 0.0

    @property
    def fraction(self) -> float:
        """The share of this run's trials done, counting the cohort in training by its epochs."""
        if self.total == 0:
            return 1.0
        running = self.cohort_size * self.epoch / self.epochs if self.epoch and self.epochs else 0
        return min(1.0, (self.done + running) / self.total)

    @property
    def remaining(self) -> float | None:
        """Seconds left at the pace so far (``None`` before anything is done)."""
        f = self.fraction
        return None if f <= 0 or self.elapsed <= 0 else self.elapsed * (1 - f) / f
