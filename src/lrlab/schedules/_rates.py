"""A schedule's values served step by step from blocks of its vectorised form: what makes
:class:`~lrlab.torch.LrlabScheduler`'s step, and :class:`~lrlab.keras.KerasSchedule` on Keras'
torch backend, cheaper than the framework's own schedules."""

from __future__ import annotations

import operator

import numpy as np

from ._base import Schedule
from ._custom import Custom, Recurrence

#: steps per block
BLOCK = 512
#: from this step on float64 no longer holds every integer: one step at a time
EXACT = 2**53


class Rates:
    """One schedule's values, served step by step from blocks of its vectorised form.

    ``at(k)`` is ``s(np.arange(lo, lo + 512, dtype=np.float64))[k - lo]`` with
    ``lo = k - k % 512``: the same evaluation, of the same block at the same position, however
    step ``k`` is reached (one ``step()`` after another, ``step(epoch=k)``, a resumed checkpoint),
    so a resumed run gets the rates of an uninterrupted one bit for bit. It is also the float of
    the lr table ``s(np.arange(n))[k]`` and of ``s(k)`` (which evaluates one step as a
    one-element array): NumPy's elementwise functions compute each element from that element
    alone.

    One step at a time, on a one-element array (``block == 1``), are evaluated: schedules with a
    user's function (``custom``, whose function may not be elementwise; ``recurrence`` without
    ``horizon``, whose function a block would call for epochs ahead of the run), schedule classes
    defined outside lrlab, and steps from ``2**53`` on, where float64 no longer holds every
    integer. A block's floating-point warnings (overflow at a step far ahead) are not shown: a
    rate that is not finite, or negative, still raises at its own step.

    Example:
        >>> from lrlab.schedules import cosine
        >>> s = cosine(init=0.1, decay_steps=1000)
        >>> rates = Rates(s)
        >>> rates.at(700) == s(np.arange(1000)).tolist()[700], (rates.lo, rates.hi)
        (True, (512, 1024))
    """

    __slots__ = ("block", "hi", "lo", "schedule", "values")

    def __init__(self, schedule: Schedule, block: int = BLOCK) -> None:
        self.schedule = schedule
        self.block: int = block if elementwise(schedule) else 1
        self.lo: int = 0
        self.hi: int = 0  # values holds steps lo .. hi - 1
        self.values: list[float] = []

    def at(self, k: int) -> float:
        """The schedule's value at step ``k``, an integer (the value is not checked: it may be
        negative, inf or NaN)."""
        k = operator.index(k)  # a float step is refused before it can touch the block
        if self.lo <= k < self.hi:
            return self.values[k - self.lo]
        b = self.block
        lo = k - k % b if k >= 0 else k
        if b > 1 and k >= 0 and lo + b <= EXACT:
            with np.errstate(all="ignore"):
                values = self.schedule(np.arange(lo, lo + b, dtype=np.float64)).tolist()
        else:
            lo, values = k, self.schedule(np.array([k], dtype=np.float64)).tolist()
        self.lo, self.hi, self.values = lo, lo + len(values), values
        return values[k - lo]


def elementwise(s: Schedule) -> bool:
    """Whether ``s``'s vectorised form may be evaluated ahead, in blocks (see :class:`Rates`)."""
    for node in s.walk():
        if type(node) is Recurrence:  # its table is built up to horizon first in any case
            if node.horizon is None:
                return False
        elif type(node) is Custom or not type(node).__module__.startswith("lrlab.schedules."):
            return False  # a user's function, or a class (or subclass) from elsewhere
    return True
