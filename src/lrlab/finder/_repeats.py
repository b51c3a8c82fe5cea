"""Repeated range tests: the same ramp on several seeds / batch orders, summarised per rule."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import integer
from ._analysis import DEFAULT_SKIP_END, RULES, Suggestions
from ._driver import LRSource, run
from ._result import FinderResult
from ._window import Window, log_median, recommend_window

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["RepeatedResult", "RuleSummary", "combine_runs", "run_repeated"]


@dataclass(frozen=True)
class RuleSummary:
    """One rule's suggestions over repeated runs.

    Attributes:
        rule: The rule's name.
        lrs: Each run's suggestion (``None`` where the run had none).
        median: :func:`log_median` of the suggestions (``None`` if there were none).
        min: The smallest suggestion.
        max: The largest suggestion.
        ratio: ``max / min``: 1 when every run agreed.
        log10_iqr: Interquartile range of ``log10(lr)`` (NumPy's linear percentiles), in
            decades.
        flag_counts: How many runs raised each flag for this rule.

    Example:
        >>> from lrlab.finder import ramp, run, combine_runs
        >>> runs = [run(lambda lr, k=k: 1 / (1 + 10**k * lr) + lr**2, ramp(1e-4, 10.0, 50), 50)
        ...         for k in (1, 2, 3)]
        >>> v = combine_runs(runs).suggestions["valley"]
        >>> len(v.lrs), v.min <= v.median <= v.max
        (3, True)
    """

    rule: str
    lrs: tuple[float | None, ...]
    median: float | None
    min: float | None
    max: float | None
    ratio: float | None
    log10_iqr: float | None
    flag_counts: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "rule": self.rule,
            "lrs": list(self.lrs),
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "ratio": self.ratio,
            "log10_iqr": self.log10_iqr,
            "flag_counts": dict(self.flag_counts),
        }


def _summary(rule: str, runs: Sequence[Suggestions]) -> RuleSummary:
    lrs = tuple(s[rule].lr for s in runs)
    got = np.asarray([v for v in lrs if v is not None], dtype=np.float64)
    counts: dict[str, int] = {}
    for s in runs:
        for f in s[rule].flags:
            counts[f] = counts.get(f, 0) + 1
    if got.size == 0:
        return RuleSummary(rule, lrs, None, None, None, None, None, counts)
    q75, q25 = np.percentile(np.log10(got), [75, 25])
    return RuleSummary(
        rule,
        lrs,
        log_median(got.tolist()),
        float(got.min()),
        float(got.max()),
        float(got.max() / got.min()),
        float(q75 - q25),
        counts,
    )


@dataclass(frozen=True, eq=False)
class RepeatedResult:
    """Range tests repeated over seeds, with per-rule summaries and a recommended window.

    Attributes:
        results: One :class:`FinderResult` per run.
        seeds: The seed of each run.
        runs: Each run's :class:`Suggestions`.
        suggestions: ``rule -> RuleSummary`` (median, spread, flag counts).
        window: The recommended :class:`Window` (see :func:`recommend_window`), or ``None``.

    Example:
        >>> from lrlab.finder import ramp, run, combine_runs
        >>> runs = [run(lambda lr, k=k: 1 / (1 + 10**k * lr) + lr**2, ramp(1e-4, 10.0, 50), 50)
        ...         for k in (1, 2, 3)]
        >>> rep = combine_runs(runs)
        >>> rep.seeds, sorted(rep.suggestions) == sorted(rep.runs[0])
        ((0, 1, 2), True)
    """

    results: tuple[FinderResult, ...]
    seeds: tuple[int, ...]
    runs: tuple[Suggestions, ...]
    suggestions: Mapping[str, RuleSummary]
    window: Window | None

    def __repr__(self) -> str:
        lines = [
            f"RepeatedResult({len(self.results)} runs, seeds {list(self.seeds)})",
            f"{'rule':<16}{'median':>10}{'min':>10}{'max':>10}{'max/min':>9}  flags",
        ]

        def g(v: float | None) -> str:
            return "-" if v is None else f"{v:.3g}"

        for r in self.suggestions.values():
            flags = ", ".join(f"{k} x{v}" for k, v in r.flag_counts.items()) or "-"
            lines.append(
                f"{r.rule:<16}{g(r.median):>10}{g(r.min):>10}{g(r.max):>10}{g(r.ratio):>9}  {flags}"
            )
        if self.window is not None:
            lines.append(f"window: {self.window.lo:.3g} .. {self.window.hi:.3g}")
        return "\n".join(lines)

    def plot(self, **kwargs: Any) -> Figure:
        """Every run's smoothed curve, the median suggestions and the window."""
        from ._plot import plot_repeated

        return plot_repeated(self, **kwargs)

    def save(self, path: str | Path, **kwargs: Any) -> Path:
        """Write the plot (``.png``, ``.svg``) or the data (``.json``) to ``path``."""
        from ._plot import save_output

        return save_output(self, path, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: the runs, their suggestions, the summaries and the window."""
        return {
            "seeds": list(self.seeds),
            "results": [r.to_dict() for r in self.results],
            "runs": [s.to_dict() for s in self.runs],
            "suggestions": {k: v.to_dict() for k, v in self.suggestions.items()},
            "window": None if self.window is None else self.window.to_dict(),
        }

    def to_json(self) -> str:
        """``json.dumps(self.to_dict())``."""
        return json.dumps(self.to_dict())


def combine_runs(
    results: Sequence[FinderResult],
    seeds: Sequence[int] | None = None,
    *,
    skip_start: int | None = None,
    skip_end: int = DEFAULT_SKIP_END,
) -> RepeatedResult:
    """Summarise range tests of the same ramp: per-rule median and spread, and a window.

    Each run is analysed with :meth:`FinderResult.suggest`; per rule the summary holds the
    :func:`log_median`, ``min``, ``max``, ``max / min`` and the ``log10`` IQR of the
    suggestions; the window is :func:`recommend_window` over all runs.

    Args:
        results: The runs.
        seeds: Their seeds (default ``0, 1, ...``).
        skip_start: Passed to :meth:`FinderResult.suggest` (default ``num_steps // 10``).
        skip_end: Passed to :meth:`FinderResult.suggest`.

    Returns:
        A :class:`RepeatedResult`.

    Example:
        >>> import numpy as np
        >>> from lrlab.finder import ramp, run, combine_runs
        >>> def make(seed):
        ...     rng = np.random.default_rng(seed)
        ...     return lambda lr: 1 / (1 + 100 * lr) + 50 * lr**2 + 0.01 * rng.normal()
        >>> rep = combine_runs([run(make(s), ramp(1e-4, 1.0, 60), 60) for s in range(3)])
        >>> rep.suggestions["valley"].ratio >= 1
        True
    """
    results = tuple(results)
    if not results:
        raise ValueError("combine_runs: results must not be empty")
    seeds = tuple(range(len(results))) if seeds is None else tuple(int(s) for s in seeds)
    if len(seeds) != len(results):
        raise ValueError(
            f"combine_runs: seeds must have one entry per result ({len(results)}), got {len(seeds)}"
        )
    runs = tuple(r.suggest(skip_start=skip_start, skip_end=skip_end) for r in results)
    summaries = {rule: _summary(rule, runs) for rule in RULES}
    return RepeatedResult(results, seeds, runs, summaries, recommend_window(runs))


def run_repeated(
    make_step_fn: Callable[[int], Callable[[float], Any]],
    schedule: LRSource,
    num_steps: int,
    *,
    repeats: int = 3,
    seed: int = 0,
    skip_start: int | None = None,
    skip_end: int = DEFAULT_SKIP_END,
    **run_kwargs: Any,
) -> RepeatedResult:
    """Run the range test ``repeats`` times, on seeds ``seed, seed + 1, ...``, and summarise.

    ``make_step_fn(seed)`` must return a fresh ``step_fn`` that starts from the same initial
    model and optimizer state and differs only by the seed (batch order, augmentation, dropout):
    the spread then measures how much a single test can be trusted.

    Args:
        make_step_fn: ``seed -> step_fn``.
        schedule: The ramp (or any rate schedule / sequence), as for :func:`run`.
        num_steps: Steps per run.
        repeats: Number of runs, >= 1.
        seed: The first seed.
        skip_start: Passed to :meth:`FinderResult.suggest`.
        skip_end: Passed to :meth:`FinderResult.suggest`.
        **run_kwargs: ``smoothing``, ``diverge_factor``, ``eval_fn``, ``eval_every``,
            ``min_steps`` for :func:`run`.

    Returns:
        A :class:`RepeatedResult` (``.suggestions``, ``.window``, ``.results``).

    Example:
        >>> import numpy as np
        >>> from lrlab.finder import ramp, run_repeated
        >>> def make(seed):
        ...     rng = np.random.default_rng(seed)
        ...     return lambda lr: 1 / (1 + 100 * lr) + 50 * lr**2 + 0.01 * rng.normal()
        >>> rep = run_repeated(make, ramp(1e-4, 1.0, 60), 60, repeats=3)
        >>> len(rep.results), rep.seeds
        (3, (0, 1, 2))
    """
    n = integer("run_repeated", "repeats", repeats, lo=1)
    first = integer("run_repeated", "seed", seed, lo=-(2**63))
    seeds = [first + i for i in range(n)]
    results = [run(make_step_fn(s), schedule, num_steps, **run_kwargs) for s in seeds]
    return combine_runs(results, seeds, skip_start=skip_start, skip_end=skip_end)
