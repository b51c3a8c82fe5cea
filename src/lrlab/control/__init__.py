"""Stateful training control as immutable state plus a pure update: plateau and early stopping.

Both controllers follow one pattern: a frozen configuration object with ``init(n=None)`` (one run,
or a population of ``n`` members updated together) and a pure ``update(state, metric) -> state``,
plus ``state_dict`` / ``load_state_dict`` for resuming. Nothing here imports a framework.

* :class:`Plateau` — reduce-on-plateau as a learning-rate *multiplier* that composes with any
  schedule; ``convention="torch"`` or ``"keras"`` reproduces that framework's callback exactly.
* :class:`EarlyStopping` — Keras 3's early stopping, including ``baseline`` and
  ``start_from_epoch``.

Example:
    >>> from lrlab.control import Plateau
    >>> plateau = Plateau(patience=0, factor=0.5)
    >>> state = plateau.init()
    >>> for loss in [1.0, 1.0, 1.0]:
    ...     state = plateau.update(state, loss)
    >>> state.scale
    0.25
"""

from ._early_stopping import EarlyStopping as EarlyStopping
from ._early_stopping import EarlyStoppingState as EarlyStoppingState
from ._plateau import Plateau as Plateau
from ._plateau import PlateauState as PlateauState
from ._plateau import plateau_rule as plateau_rule

__all__ = ["EarlyStopping", "EarlyStoppingState", "Plateau", "PlateauState", "plateau_rule"]
