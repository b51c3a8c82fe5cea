"""The range-test ramp: an lrlab schedule that rises from ``start_lr`` to ``end_lr``."""

from __future__ import annotations

from typing import Literal

from lrlab.schedules import Schedule, constant, exponential, join, linear

from .._checks import choice, integer, number

__all__ = ["ramp"]


def ramp(
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: Literal["exp", "linear"] = "exp",
) -> Schedule:
    """The learning-rate ramp of a range test, as an lrlab schedule of the step.

    ``"exp"`` (fastai ``SchedExp``, Lightning and pytorch-lr-finder ``"exp"``)::

        lr(t) = start_lr * (end_lr / start_lr) ** (t / (num_steps - 1))

    ``"linear"`` (Leslie Smith's original test)::

        lr(t) = start_lr + (end_lr - start_lr) * t / (num_steps - 1)

    Step 0 is exactly ``start_lr`` and step ``num_steps - 1`` exactly ``end_lr`` (the
    exponential ramp is bounded by ``end=end_lr``; the linear one ends in ``constant(end_lr)``
    joined at the last step, so no rounding of ``start + (end - start)`` can miss it). Past the
    last step both hold ``end_lr``. This is the convention of pytorch-lr-finder
    (``r = t / (num_iter - 1)``); fastai's ``LRFinder`` divides by ``num_it`` instead, so its last
    step stops one ramp step short of ``end_lr``.

    Args:
        start_lr: First learning rate, > 0 (also for the linear ramp: the analysis works on
            ``log(lr)``).
        end_lr: Last learning rate, > ``start_lr``.
        num_steps: Number of steps in the ramp, >= 2.
        mode: ``"exp"`` (geometric, the default) or ``"linear"``.

    Returns:
        A :class:`lrlab.schedules.Schedule`; call it on a step or an array of steps.

    Example:
        >>> import numpy as np
        >>> from lrlab.finder import ramp
        >>> r = ramp(1e-4, 1.0, num_steps=5)
        >>> r(np.arange(5))
        array([1.e-04, 1.e-03, 1.e-02, 1.e-01, 1.e+00])
        >>> ramp(0.1, 0.5, num_steps=5, mode="linear")(np.arange(5))
        array([0.1, 0.2, 0.3, 0.4, 0.5])
    """
    owner = "ramp"
    start = number(owner, "start_lr", start_lr, lo=0.0, lo_open=True)
    end = number(owner, "end_lr", end_lr, lo=0.0, lo_open=True)
    if end <= start:
        raise ValueError(f"{owner}: end_lr must be > start_lr={start!r}, got {end_lr!r}")
    n = integer(owner, "num_steps", num_steps, lo=2)
    mode = choice(owner, "mode", mode, ("exp", "linear"), kind=str)  # type: ignore[assignment]
    if mode == "exp":
        return exponential(init=start, decay_rate=end / start, decay_steps=n - 1, end=end)
    return join([linear(init=start, end=end, steps=n - 1), constant(end)], boundaries=[n - 1])
