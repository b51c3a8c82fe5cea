"""The record of one range test, :class:`FinderResult`, and its analysis / plot / save methods."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._checks import choice
from ._analysis import DEFAULT_SKIP_END, Suggestions, suggest

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FinderResult", "StopReason"]

StopReason = Literal["completed", "diverged", "non-finite"]


@dataclass(frozen=True, eq=False)
class FinderResult:
    """The record of one range test.

    Attributes:
        lrs: The learning rate of each step run.
        losses: The raw batch loss of each step (the last may be NaN/inf).
        smoothed: The bias-corrected smoothed loss of each step.
        eval_steps: The step index after which each evaluation loss was measured.
        eval_losses: The evaluation losses.
        stop_reason: ``"completed"``, ``"diverged"`` or ``"non-finite"``.
        num_steps: The number of steps requested (``len(lrs)`` is the number run).
        smoothing: The ``beta`` used.
        diverge_factor: The divergence factor used (``None``: never stop for divergence).
        schedule: The text of the learning-rate schedule (its ``repr`` for an lrlab schedule).

    Example:
        >>> from lrlab.finder import FinderResult, ramp, run
        >>> res = run(lambda lr: 1.0 / (1.0 + lr), ramp(1e-3, 1.0, 20), 20)
        >>> res
        FinderResult(steps=20/20, stop_reason='completed', lr 0.001..1)
        >>> res.schedule
        'exponential(init=0.001, decay_rate=1000.0, decay_steps=19, end=1.0)'
        >>> back = FinderResult.from_dict(res.to_dict())
        >>> bool((back.smoothed == res.smoothed).all()), back.stop_reason
        (True, 'completed')
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    eval_steps: np.ndarray
    eval_losses: np.ndarray
    stop_reason: StopReason
    num_steps: int
    smoothing: float
    diverge_factor: float | None
    schedule: str = ""

    def __repr__(self) -> str:
        span = f", lr {self.lrs[0]:.3g}..{self.lrs[-1]:.3g}" if self.lrs.size else ""
        return (
            f"FinderResult(steps={self.lrs.size}/{self.num_steps}, "
            f"stop_reason={self.stop_reason!r}{span})"
        )

    def suggest(
        self,
        *,
        skip_start: int | None = None,
        skip_end: int | None = None,
        source: Literal["train", "eval"] = "train",
    ) -> Suggestions:
        """Every rule's suggestion for this run (see :func:`lrlab.finder.suggest`).

        Args:
            skip_start: Points left out at the start; default ``num_steps // 10`` for the
                training curve (fastai), 0 for the evaluation curve.
            skip_end: Points left out at the end; default 5 for training (fastai), 0 for
                evaluation.
            source: ``"train"`` (the batch losses, smoothed with this run's ``smoothing``) or
                ``"eval"`` (the evaluation losses, unsmoothed: each is already an average).

        Returns:
            :class:`Suggestions`; their indices refer to ``lrs`` (``"train"``) or to
            ``eval_steps`` (``"eval"``).
        """
        choice("FinderResult.suggest", "source", source, ("train", "eval"), kind=str)
        if source == "eval":
            return suggest(
                self.lrs[self.eval_steps],
                self.eval_losses,
                smoothing=0.0,
                skip_start=0 if skip_start is None else skip_start,
                skip_end=0 if skip_end is None else skip_end,
            )
        return suggest(
            self.lrs,
            self.losses,
            smoothing=self.smoothing,
            skip_start=self.num_steps // 10 if skip_start is None else skip_start,
            skip_end=DEFAULT_SKIP_END if skip_end is None else skip_end,
        )

    def plot(self, **kwargs: Any) -> Figure:
        """Loss against learning rate with every suggestion marked (see :func:`plot_result`)."""
        from ._plot import plot_result

        return plot_result(self, **kwargs)

    def save(self, path: str | Path, **kwargs: Any) -> Path:
        """Write the plot (``.png``, ``.svg``) or the data (``.json``, :meth:`to_dict`) to ``path``.

        Keyword arguments go to :meth:`plot`. Returns the path.
        """
        from ._plot import save_output

        return save_output(self, path, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists of floats; NaN/inf stay floats, as Python's ``json`` writes them)."""
        return {
            "lrs": self.lrs.tolist(),
            "losses": self.losses.tolist(),
            "smoothed": self.smoothed.tolist(),
            "eval_steps": self.eval_steps.tolist(),
            "eval_losses": self.eval_losses.tolist(),
            "stop_reason": self.stop_reason,
            "num_steps": self.num_steps,
            "smoothing": self.smoothing,
            "diverge_factor": self.diverge_factor,
            "schedule": self.schedule,
        }

    def to_json(self) -> str:
        """``json.dumps(self.to_dict())``."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FinderResult:
        """Rebuild a result from :meth:`to_dict` data."""
        try:
            return cls(
                lrs=np.asarray(data["lrs"], dtype=np.float64),
                losses=np.asarray(data["losses"], dtype=np.float64),
                smoothed=np.asarray(data["smoothed"], dtype=np.float64),
                eval_steps=np.asarray(data.get("eval_steps", []), dtype=np.int64),
                eval_losses=np.asarray(data.get("eval_losses", []), dtype=np.float64),
                stop_reason=choice(
                    "FinderResult",
                    "stop_reason",
                    data["stop_reason"],
                    ("completed", "diverged", "non-finite"),
                    kind=str,
                ),
                num_steps=int(data["num_steps"]),
                smoothing=float(data["smoothing"]),
                diverge_factor=data.get("diverge_factor"),
                schedule=str(data.get("schedule", "")),
            )
        except KeyError as e:
            raise ValueError(f"FinderResult.from_dict: missing key {e.args[0]!r}") from None
