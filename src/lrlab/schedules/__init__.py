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

from ._base import MAX_DEPTH as MAX_DEPTH
from ._base import REGISTRY as REGISTRY
from ._base import FunctionResolver as FunctionResolver
from ._base import Schedule as Schedule
from ._base import from_dict as from_dict
from ._base import from_json as from_json
from ._compose import ByEpoch as ByEpoch
from ._compose import Clip as Clip
from ._compose import Join as Join
from ._compose import Product as Product
from ._compose import Scale as Scale
from ._compose import Shift as Shift
from ._compose import Warmup as Warmup
from ._compose import by_epoch as by_epoch
from ._compose import clip as clip
from ._compose import join as join
from ._compose import shift as shift
from ._compose import warmup as warmup
from ._cosine import Cosine as Cosine
from ._cosine import CosineRestarts as CosineRestarts
from ._cosine import Cyclic as Cyclic
from ._cosine import InverseSqrt as InverseSqrt
from ._cosine import OneMinusSqrt as OneMinusSqrt
from ._custom import Custom as Custom
from ._custom import Recurrence as Recurrence
from ._families import Constant as Constant
from ._families import Exponential as Exponential
from ._families import InverseTime as InverseTime
from ._families import Keras2Decay as Keras2Decay
from ._families import Linear as Linear
from ._families import MultiStep as MultiStep
from ._families import PiecewiseConstant as PiecewiseConstant
from ._families import Polynomial as Polynomial
from ._families import StepDecay as StepDecay
from ._inspect import Description as Description
from ._inspect import LintWarning as LintWarning
from ._inspect import describe as describe
from ._inspect import lint as lint
from ._inspect import plot as plot
from ._parse import ScheduleSyntaxError as ScheduleSyntaxError
from ._parse import known_names as known_names
from ._parse import parse as parse
from ._presets import noam as noam
from ._presets import one_cycle as one_cycle
from ._presets import one_cycle_fastai as one_cycle_fastai
from ._presets import one_cycle_momentum as one_cycle_momentum
from ._presets import warmup_cosine as warmup_cosine
from ._presets import wsd as wsd
from ._rates import Rates as Rates

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
    "Rates",
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
