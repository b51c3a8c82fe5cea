"""Short alias of :mod:`lrlab.integrations.optax`: ``import lrlab.optax`` (needs JAX and Optax).

Example:
    >>> import lrlab.optax
    >>> from lrlab.schedules import cosine
    >>> lrlab.optax.to_optax(cosine(init=0.1, decay_steps=100))
    to_optax(cosine(init=0.1, decay_steps=100))
"""

from lrlab.integrations.optax import (
    OptaxSchedule,
    ReduceOnPlateauState,
    current_lr,
    effective_lr,
    plateau,
    plateau_scale,
    plateau_state,
    reduce_on_plateau,
    to_optax,
)

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
