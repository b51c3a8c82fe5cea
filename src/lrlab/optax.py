"""lrlab for Optax: schedules as ``optax.Schedule`` and a plateau transformation (needs JAX and
Optax). The implementation is :mod:`lrlab.integrations.optax`; this is the public namespace.

Example:
    >>> import lrlab.optax
    >>> from lrlab.schedules import cosine
    >>> lrlab.optax.to_optax(cosine(init=0.1, decay_steps=100))
    to_optax(cosine(init=0.1, decay_steps=100))
"""

from lrlab.integrations.optax import OptaxSchedule as OptaxSchedule
from lrlab.integrations.optax import ReduceOnPlateauState as ReduceOnPlateauState
from lrlab.integrations.optax import current_lr as current_lr
from lrlab.integrations.optax import effective_lr as effective_lr
from lrlab.integrations.optax import plateau as plateau
from lrlab.integrations.optax import plateau_scale as plateau_scale
from lrlab.integrations.optax import plateau_state as plateau_state
from lrlab.integrations.optax import reduce_on_plateau as reduce_on_plateau
from lrlab.integrations.optax import to_optax as to_optax

__all__ = [
    "OptaxSchedule",
    "ReduceOnPlateauState",
    "current_lr",
    "effective_lr",
    "plateau",
    "plateau_scale",
    "plateau_state",
    "reduce_on_plateau",
    "to_optax",
]
