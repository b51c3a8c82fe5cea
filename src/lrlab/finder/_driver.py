"""The range-test driver: it knows nothing about frameworks, only ``step_fn(lr) -> loss``.

:func:`run` pulls (it calls your ``step_fn``); :class:`Recorder` is the same logic pushed one loss
at a time, for framework callbacks that own the training loop (the Keras ``LRFinder``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lrlab.schedules import Schedule

from .._checks import integer, number
from ._result import FinderResult, StopReason

__all__ = ["LRSource", "Recorder", "run"]

LRSource = Callable[[int], Any] | Sequence[float]


def _lr_table(owner: str, schedule: LRSource, num_steps: int) -> np.ndarray:
    if isinstance(schedule, Schedule):
        lrs = np.asarray(schedule(np.arange(num_steps)), dtype=np.float64)
    elif callable(schedule):  # any function of one step
        lrs = np.array([float(schedule(i)) for i in range(num_steps)], dtype=np.float64)
    else:
        lrs = np.asarray(schedule, dtype=np.float64)
        if lrs.ndim != 1 or lrs.size < num_steps:
            raise ValueError(
                f"{owner}: the learning-rate sequence must be 1-D with at least num_steps="
                f"{num_steps} values, got shape {lrs.shape}"
            )
        lrs = lrs[:num_steps]
    bad = ~(np.isfinite(lrs) & (lrs > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{owner}: the learning rate at step {i} must be finite and > 0, got {lrs[i]!r}"
        )
    return lrs


def _as_loss(owner: str, loss: Any) -> float:
    try:
        return float(loss)
    except (TypeError, ValueError):
        raise TypeError(
            f"{owner}: the step function must return the batch loss as a number, got {loss!r}"
        ) from None


class Recorder:
    """The driver's bookkeeping, fed one loss at a time.

    For each step ``i``: train at :attr:`lr`, then call :meth:`record` with the batch loss; it
    returns ``True`` when the test should stop. :meth:`result` builds the :class:`FinderResult`.

    Smoothing (Lightning ``_LRCallback``, fastai ``AvgSmoothLoss``):
    ``avg = beta * avg + (1 - beta) * loss``, ``smoothed = avg / (1 - beta ** (i + 1))``.

    Stop rules, checked after each recorded loss (the loss that triggers a stop is recorded):

    * ``"non-finite"``: the loss (or its smoothed value) is NaN or inf;
    * ``"diverged"``: from step ``min_steps`` on,
      ``smoothed - best > (diverge_factor - 1) * |best|`` where ``best`` is the lowest smoothed
      loss so far. For a positive ``best`` this is exactly fastai's and Lightning's
      ``smoothed > diverge_factor * best``; unlike that form it also works for negative losses
      (``best = -1``, factor 4: stop above ``+2``, not above ``-4``);
    * ``"completed"``: all ``num_steps`` steps ran.

    Args:
        schedule: The learning rate of each step: an lrlab schedule (e.g. :func:`ramp`), any
            function of the step, or a sequence of rates. Rates must be finite and > 0.
        num_steps: Number of steps, >= 1.
        smoothing: ``beta`` in ``[0, 1)`` (0: no smoothing; the stop rule then sees raw losses).
        diverge_factor: > 1, or ``None`` / ``inf`` to never stop for divergence.
        min_steps: The first step index at which the divergence stop may fire.

    Example:
        >>> from lrlab.finder import Recorder, ramp
        >>> rec = Recorder(ramp(1e-3, 1.0, 4), 4, smoothing=0.0)
        >>> while not rec.done:
        ...     stop = rec.record(1.0 / (1 + 10 * rec.lr))
        >>> rec.result().stop_reason
        'completed'
    """

    def __init__(
        self,
        schedule: LRSource,
        num_steps: int,
        *,
        smoothing: float = 0.98,
        diverge_factor: float | None = 4.0,
        min_steps: int = 1,
    ) -> None:
        owner = "finder"
        self.num_steps = integer(owner, "num_steps", num_steps, lo=1)
        self.smoothing = number(owner, "smoothing", smoothing, lo=0.0, hi=1.0, hi_open=True)
        if diverge_factor is not None:
            diverge_factor = number(
                owner, "diverge_factor", diverge_factor, lo=1.0, lo_open=True, allow_inf=True
            )
        self.diverge_factor = diverge_factor
        self.min_steps = integer(owner, "min_steps", min_steps, lo=0)
        if isinstance(schedule, Schedule):
            self.schedule_text = repr(schedule)
        elif callable(schedule):
            self.schedule_text = getattr(schedule, "__qualname__", type(schedule).__name__)
        else:
            self.schedule_text = "sequence"
        self._table = _lr_table(owner, schedule, self.num_steps)
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.eval_steps: list[int] = []
        self.eval_losses: list[float] = []
        self.stop_reason: StopReason | None = None
        self._avg = 0.0
        self._best = math.inf

    @property
    def step(self) -> int:
        """How many losses have been recorded."""
        return len(self.losses)

    @property
    def done(self) -> bool:
        """Whether the test is over (stopped or all steps ran)."""
        return self.stop_reason is not None

    @property
    def lr(self) -> float:
        """The learning rate for the next step."""
        if self.done:
            raise RuntimeError(f"finder: the test is over ({self.stop_reason})")
        return float(self._table[self.step])

    def record(self, loss: Any) -> bool:
        """Record the loss of the step just taken at :attr:`lr`; return ``True`` to stop."""
        if self.done:
            raise RuntimeError(f"finder: the test is over ({self.stop_reason})")
        i = self.step
        value = _as_loss("finder", loss)
        beta = self.smoothing
        with np.errstate(all="ignore"):
            self._avg = beta * self._avg + (1.0 - beta) * value
            smoothed = self._avg / (1.0 - beta ** (i + 1))
        self.lrs.append(float(self._table[i]))
        self.losses.append(value)
        self.smoothed.append(smoothed)
        if not (math.isfinite(value) and math.isfinite(smoothed)):
            self.stop_reason = "non-finite"
        else:
            self._best = min(self._best, smoothed)
            f = self.diverge_factor
            if (
                f is not None
                and math.isfinite(f)
                and i >= self.min_steps
                and smoothed - self._best > (f - 1.0) * abs(self._best)
            ):
                self.stop_reason = "diverged"
            elif i + 1 == self.num_steps:
                self.stop_reason = "completed"
        return self.done

    def record_eval(self, loss: Any) -> None:
        """Record an evaluation loss measured after the most recent step."""
        if not self.losses:
            raise RuntimeError("finder: record a training loss before an evaluation loss")
        self.eval_steps.append(self.step - 1)
        self.eval_losses.append(_as_loss("finder", loss))

    def result(self) -> FinderResult:
        """The :class:`FinderResult` so far (a stopped-early or interrupted run is fine)."""
        return FinderResult(
            lrs=np.asarray(self.lrs, dtype=np.float64),
            losses=np.asarray(self.losses, dtype=np.float64),
            smoothed=np.asarray(self.smoothed, dtype=np.float64),
            eval_steps=np.asarray(self.eval_steps, dtype=np.int64),
            eval_losses=np.asarray(self.eval_losses, dtype=np.float64),
            stop_reason=self.stop_reason or "completed",
            num_steps=self.num_steps,
            smoothing=self.smoothing,
            diverge_factor=self.diverge_factor,
            schedule=self.schedule_text,
        )


def run(
    step_fn: Callable[[float], Any],
    schedule: LRSource,
    num_steps: int,
    *,
    smoothing: float = 0.98,
    diverge_factor: float | None = 4.0,
    eval_fn: Callable[[], Any] | None = None,
    eval_every: int | None = None,
    min_steps: int = 1,
) -> FinderResult:
    """Run a learning-rate range test with any framework: ``step_fn(lr)`` does one step.

    For ``i = 0, 1, ...``: ``loss = step_fn(schedule(i))`` trains one step at that rate and
    returns the batch loss; the :class:`Recorder` smooths it and decides whether to stop
    (``"non-finite"``, ``"diverged"`` or ``"completed"``: see :class:`Recorder`). With
    ``eval_fn``, ``eval_fn()`` is called after step ``i`` when ``(i + 1) % eval_every == 0``
    (not after a step that diverged or went non-finite) and its loss is recorded with ``i``.

    The driver does not save or restore anything: that is the adapter's job (or yours).

    Args:
        step_fn: ``lr -> loss``: one training step at ``lr``; the loss may be anything
            ``float()`` accepts (a 0-d array or tensor).
        schedule: The rates: usually :func:`ramp`; any function of the step or a sequence.
        num_steps: Steps to run at most, >= 1.
        smoothing: ``beta`` of the bias-corrected smoothing, in ``[0, 1)``.
        diverge_factor: Stop once the smoothed loss has risen by ``diverge_factor - 1`` times
            ``|best|`` above the best smoothed loss; ``None`` never stops for divergence.
        eval_fn: Optional ``() -> loss`` on held-out data.
        eval_every: Evaluate every this many steps (default 1 when ``eval_fn`` is given).
        min_steps: The first step index at which the divergence stop may fire.

    Returns:
        A :class:`FinderResult`.

    Example:
        >>> import numpy as np
        >>> from lrlab.finder import ramp, run
        >>> rng = np.random.default_rng(0)
        >>> w = 5.0
        >>> def step(lr):  # one SGD step on (w - x)**2 / 2, x a noisy sample around 0
        ...     global w
        ...     x = rng.normal(scale=0.1)
        ...     loss = (w - x) ** 2 / 2
        ...     w -= lr * (w - x)
        ...     return loss
        >>> res = run(step, ramp(1e-3, 10.0, 100), 100)
        >>> res
        FinderResult(steps=92/100, stop_reason='diverged', lr 0.001..4.75)
        >>> round(res.suggest().half_divergence.lr, 2)  # SGD on this loss diverges above lr = 2
        1.97
    """
    owner = "run"
    if not callable(step_fn):
        raise TypeError(f"{owner}: step_fn must be callable, got {step_fn!r}")
    if eval_fn is None and eval_every is not None:
        raise ValueError(f"{owner}: eval_every={eval_every!r} needs an eval_fn")
    every = 1 if eval_every is None else integer(owner, "eval_every", eval_every, lo=1)
    rec = Recorder(
        schedule,
        num_steps,
        smoothing=smoothing,
        diverge_factor=diverge_factor,
        min_steps=min_steps,
    )
    while not rec.done:
        rec.record(step_fn(rec.lr))
        if eval_fn is not None and rec.step % every == 0 and rec.stop_reason in (None, "completed"):
            rec.record_eval(eval_fn())
    return rec.result()
