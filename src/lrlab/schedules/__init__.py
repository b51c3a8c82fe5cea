"""Learning-rate schedules: pure, closed-form functions of the step.

Build a schedule with a lowercase constructor (``cosine(...)``), call it on a step or an array of
steps (NumPy, torch, JAX, also under ``jax.jit``), print it to get the text that
:func:`parse` reads back, and serialise it with ``to_dict``/:func:`from_dict`. The CamelCase
names are the same classes, for ``isinstance`` checks and type hints.

Example:
    >>> from lrlab.schedules import cosine, warmup, parse
    >>> s = warmup(cosine(init=0.1, decay_steps=900), steps=100)
    >>> s([0, 50, 100, 1000])
    array([0.  , 0.05, 0.1 , 0.  ])
    >>> parse(repr(s)) == s
    True
"""

from ._base import MAX_DEPTH, REGISTRY, FunctionResolver, Schedule, from_dict, from_json
from ._compose import (
    ByEpoch,
    Clip,
    Join,
    Product,
    Scale,
    Shift,
    Warmup,
    by_epoch,
    clip,
    join,
    shift,
    warmup,
)
from ._cosine import Cosine, CosineRestarts, Cyclic, InverseSqrt, OneMinusSqrt
from ._custom import Custom, Recurrence
from ._families import (
    Constant,
    Exponential,
    InverseTime,
    Keras2Decay,
    Linear,
    MultiStep,
    PiecewiseConstant,
    Polynomial,
    StepDecay,
)
from ._inspect import Description, LintWarning, describe, lint, plot
from ._parse import ScheduleSyntaxError, known_names, parse
from ._presets import (
    noam,
    one_cycle,
    one_cycle_fastai,
    one_cycle_momentum,
    warmup_cosine,
    wsd,
)

# lowercase constructors: the names the text form uses
constant = Constant
linear = Linear
polynomial = Polynomial
inverse_time = InverseTime
keras2_decay = Keras2Decay
step_decay = StepDecay
multistep = MultiStep
piecewise_constant = PiecewiseConstant
exponential = Exponential
cosine = Cosine
cosine_restarts = CosineRestarts
cyclic = Cyclic
inverse_sqrt = InverseSqrt
one_minus_sqrt = OneMinusSqrt
custom = Custom
recurrence = Recurrence

__all__ = [
    "MAX_DEPTH",
    "REGISTRY",
    "ByEpoch",
    "Clip",
    "Constant",
    "Cosine",
    "CosineRestarts",
    "Custom",
    "Cyclic",
    "Description",
    "Exponential",
    "FunctionResolver",
    "InverseSqrt",
    "InverseTime",
    "Join",
    "Keras2Decay",
    "Linear",
    "LintWarning",
    "MultiStep",
    "OneMinusSqrt",
    "PiecewiseConstant",
    "Polynomial",
    "Product",
    "Recurrence",
    "Scale",
    "Schedule",
    "ScheduleSyntaxError",
    "Shift",
    "StepDecay",
    "Warmup",
    "by_epoch",
    "clip",
    "constant",
    "cosine",
    "cosine_restarts",
    "custom",
    "cyclic",
    "describe",
    "exponential",
    "from_dict",
    "from_json",
    "inverse_sqrt",
    "inverse_time",
    "join",
    "keras2_decay",
    "known_names",
    "linear",
    "lint",
    "multistep",
    "noam",
    "one_cycle",
    "one_cycle_fastai",
    "one_cycle_momentum",
    "one_minus_sqrt",
    "parse",
    "piecewise_constant",
    "plot",
    "polynomial",
    "recurrence",
    "shift",
    "step_decay",
    "warmup",
    "warmup_cosine",
    "wsd",
]
