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

from ._analysis import DEFAULT_SKIP_END as DEFAULT_SKIP_END
from ._analysis import FLAGS as FLAGS
from ._analysis import FLAT_DROP as FLAT_DROP
from ._analysis import MIN_POINTS as MIN_POINTS
from ._analysis import NOISE_RATIO as NOISE_RATIO
from ._analysis import RULES as RULES
from ._analysis import Suggestion as Suggestion
from ._analysis import Suggestions as Suggestions
from ._analysis import suggest as suggest
from ._driver import Recorder as Recorder
from ._driver import run as run
from ._plot import plot_repeated as plot_repeated
from ._plot import plot_result as plot_result
from ._ramp import ramp as ramp
from ._repeats import RepeatedResult as RepeatedResult
from ._repeats import RuleSummary as RuleSummary
from ._repeats import combine_runs as combine_runs
from ._repeats import run_repeated as run_repeated
from ._result import FinderResult as FinderResult
from ._result import StopReason as StopReason
from ._rules import TURN_UP as TURN_UP
from ._rules import minimum_div10 as minimum_div10
from ._rules import smooth as smooth
from ._rules import steepest as steepest
from ._rules import turn_up_index as turn_up_index
from ._rules import valley as valley
from ._window import Window as Window
from ._window import log_median as log_median
from ._window import recommend_window as recommend_window

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
