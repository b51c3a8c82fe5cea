"""The learning-rate range test: a ramp, a framework-free driver, and pure analysis.

Three separate parts (DESIGN, core concept 5):

* the **ramp** is just a schedule: :func:`ramp` (exponential or linear);
* the **driver** :func:`run` calls ``step_fn(lr) -> loss`` once per step, smooths the loss and
  stops on divergence or a non-finite loss; :class:`Recorder` is the same logic fed one loss at a
  time, for framework callbacks;
* the **analysis** is pure functions of ``(lrs, losses)``: :func:`smooth`, the rules
  :func:`steepest`, :func:`valley`, :func:`minimum_div10` and :func:`turn_up_index`, and
  :func:`suggest`, which reports all of them side by side with flags that say when a number
  should not be trusted; :func:`run_repeated` / :func:`combine_runs` over several seeds give a
  median, a spread and a recommended :class:`Window`.

The framework adapters, which restore the model and optimizer exactly, build on this core from
above: ``lrlab.torch.find_lr`` and ``lrlab.keras.find_lr``. This package imports no
framework.

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
    >>> result = run(step, ramp(1e-3, 10.0, 100), 100)
    >>> result.stop_reason
    'diverged'
    >>> sorted(result.suggest())
    ['half_divergence', 'minimum_div10', 'steepest', 'valley']
"""

from ._analysis import (
    DEFAULT_SKIP_END,
    FLAGS,
    FLAT_DROP,
    MIN_POINTS,
    NOISE_RATIO,
    RULES,
    Suggestion,
    Suggestions,
    suggest,
)
from ._driver import Recorder, run
from ._plot import plot_repeated, plot_result
from ._ramp import ramp
from ._repeats import RepeatedResult, RuleSummary, combine_runs, run_repeated
from ._result import FinderResult, StopReason
from ._rules import TURN_UP, minimum_div10, smooth, steepest, turn_up_index, valley
from ._window import Window, log_median, recommend_window

__all__ = [
    "DEFAULT_SKIP_END",
    "FLAGS",
    "FLAT_DROP",
    "MIN_POINTS",
    "NOISE_RATIO",
    "RULES",
    "TURN_UP",
    "FinderResult",
    "Recorder",
    "RepeatedResult",
    "RuleSummary",
    "StopReason",
    "Suggestion",
    "Suggestions",
    "Window",
    "combine_runs",
    "log_median",
    "minimum_div10",
    "plot_repeated",
    "plot_result",
    "ramp",
    "recommend_window",
    "run",
    "run_repeated",
    "smooth",
    "steepest",
    "suggest",
    "turn_up_index",
    "valley",
]
