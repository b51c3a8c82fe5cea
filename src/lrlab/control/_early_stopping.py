"""Early stopping as immutable state plus a pure, vectorised update (Keras 3 semantics)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._checks import either, integer, number_in
from ._common import (
    Field,
    StateBase,
    as_float32,
    check_n,
    dump_state,
    field,
    finish,
    load_state,
    state_shape,
    values,
)

__all__ = ["EarlyStopping", "EarlyStoppingState"]

_OWNER = "EarlyStopping"


@dataclasses.dataclass(frozen=True, eq=False)
class EarlyStoppingState(StateBase):
    """State of an :class:`EarlyStopping` controller: scalars for one run, ``[C]`` arrays for C.

    Never mutate a state in place; :meth:`EarlyStopping.update` returns a new one. Once a
    member has stopped, its fields no longer change (its ``epoch`` stops counting too).

    Attributes:
        best: Best monitored metric (``inf`` in ``"min"`` mode / ``-inf`` in ``"max"`` mode
            before the first monitored epoch; Keras' ``best``, which is ``None`` then).
        best_epoch: 0-based epoch of ``best`` (0 before any, as in Keras).
        wait: Epochs since the last improvement that also beat the ``baseline`` (Keras'
            ``wait``).
        stopped: Whether the member has stopped (Keras sets ``model.stop_training``).
        stopped_epoch: 0-based epoch at which it stopped; 0 while running, as in Keras (a
            stop can never happen at epoch 0, so ``stopped`` tells the two apart).
        epoch: How many updates this member has consumed (the next update is epoch ``epoch``).
    """

    best: Field
    best_epoch: Field
    wait: Field
    stopped: Field
    stopped_epoch: Field
    epoch: Field


_DTYPES: dict[str, type] = {
    "best": np.float64,
    "best_epoch": np.int64,
    "wait": np.int64,
    "stopped": np.bool_,
    "stopped_epoch": np.int64,
    "epoch": np.int64,
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class EarlyStopping:
    """Stop training when a monitored metric has stopped improving (Keras 3 ``EarlyStopping``).

    ``state = stopper.init()`` (or ``init(C)``), then once per epoch ``state =
    stopper.update(state, metric)``; stop when ``state.stopped`` (for a population, freeze the
    members whose ``stopped`` is true).

    Rule, reproduced from ``keras/src/callbacks/early_stopping.py``
    ``EarlyStopping.on_epoch_end`` and ``monitor_callback.py`` ``_is_improvement`` (Keras
    3.15), for update number ``epoch`` (0-based) with metric ``a``:

    * if ``epoch < start_from_epoch``: nothing but the epoch count changes;
    * ``wait += 1``;
    * improved — ``a + min_delta < best`` (min) / ``a - min_delta > best`` (max), compared in
      float32 as Keras does; the first monitored metric always improves — then ``best = a,
      best_epoch = epoch``, and ``wait = 0`` only if there is no ``baseline`` or ``a`` also
      improves on it (same test against ``baseline``); no stop on an improving epoch;
    * otherwise, if ``wait >= patience`` and ``epoch > 0``: stop, ``stopped_epoch = epoch``.

    A NaN metric is never an improvement. (Keras itself would adopt a NaN first metric as its
    ``best``; lrlab does not.)

    ``restore_best_weights`` is Keras' flag of the same name. The controller holds no weights;
    it is the trainer that restores them (:func:`~lrlab.lab.population.train_population`, a
    study's ``[early_stopping]``), with the rule of Keras 3.15's ``on_epoch_end`` /
    ``on_train_end``: the weights are copied after every epoch that :meth:`step` reports as
    improved (the epochs that set ``best`` and ``best_epoch``, the first monitored one
    included), and at the end of training, stopped early or not, a member that has such a copy
    gets it back. So: epochs before ``start_from_epoch`` are never restored (training that ends
    before it keeps its last weights, as Keras' ``best_weights`` is still ``None``); the
    ``baseline`` plays no part (the best epoch is restored even when it never beat the
    baseline); ``min_delta`` does (an epoch that improves by less is not a best). One
    difference: Keras also takes the weights of the first monitored epoch when its metric is
    NaN; lrlab never counts NaN, and a NaN loss marks the member diverged anyway.

    Args:
        mode: ``"min"`` (a loss) or ``"max"`` (an accuracy).
        patience: Epochs without improvement tolerated; the stop comes on the ``patience``-th
            (Keras' ``wait >= patience``).
        min_delta: Minimal improvement that counts, ``>= 0``, absolute.
        baseline: Optional value the metric must beat; until it does, ``wait`` never resets,
            so training stops ``patience`` epochs after the start of monitoring.
        start_from_epoch: Epochs ignored at the start (a warm-up with no monitoring).
        convention: ``"keras"``, the only one (torch has no early stopping).
        restore_best_weights: At the end of training, give each member the weights of its
            best epoch (see above); ``True`` or ``False``.

    Returns:
        A frozen controller; its :meth:`init` and :meth:`update` produce
        :class:`EarlyStoppingState`.

    Example:
        >>> stopper = EarlyStopping(patience=2)
        >>> state = stopper.init()
        >>> for loss in [1.0, 0.8, 0.9, 0.85, 0.7]:
        ...     state = stopper.update(state, loss)
        >>> state.stopped, state.stopped_epoch, state.best, state.best_epoch
        (True, 3, 0.8, 1)
    """

    mode: Literal["min", "max"] = "min"
    patience: int = 0
    min_delta: float = 0.0
    baseline: float | None = None
    start_from_epoch: int = 0
    convention: Literal["keras"] = "keras"
    restore_best_weights: bool = False

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        either(_OWNER, "convention", self.convention, ("keras",))
        either(_OWNER, "mode", self.mode, ("min", "max"))
        put("patience", integer(_OWNER, "patience", self.patience, lo=0))
        put("min_delta", number_in(_OWNER, "min_delta", self.min_delta, lo=0))
        if self.baseline is not None:
            put("baseline", number_in(_OWNER, "baseline", self.baseline))
        put("start_from_epoch", integer(_OWNER, "start_from_epoch", self.start_from_epoch, lo=0))
        if not isinstance(self.restore_best_weights, (bool, np.bool_)):
            raise ValueError(
                f"{_OWNER}: restore_best_weights must be True or False, "
                f"got {self.restore_best_weights!r}"
            )
        put("restore_best_weights", bool(self.restore_best_weights))

    @property
    def _worst(self) -> float:
        return math.inf if self.mode == "min" else -math.inf

    def init(self, n: int | None = None) -> EarlyStoppingState:
        """Start a fresh state: no best yet, not stopped, all counters at zero.

        Args:
            n: ``None`` for one run (fields are Python scalars) or the population size ``C``
                (fields are NumPy arrays of shape ``[C]``).

        Returns:
            The initial :class:`EarlyStoppingState`.

        Example:
            >>> EarlyStopping().init(2).stopped
            array([False, False])
        """
        shape = check_n(f"{_OWNER}.init", n)

        def full(value: object, dtype: type) -> Field:
            return finish(np.full(shape, value, dtype=dtype))

        return EarlyStoppingState(
            best=full(self._worst, np.float64),
            best_epoch=full(0, np.int64),
            wait=full(0, np.int64),
            stopped=full(False, np.bool_),
            stopped_epoch=full(0, np.int64),
            epoch=full(0, np.int64),
        )

    def update(self, state: EarlyStoppingState, metric: ArrayLike) -> EarlyStoppingState:
        """Feed one epoch's metric; return the next state (``state`` is left untouched).

        Members already stopped are returned unchanged. The rule is in :class:`EarlyStopping`.

        Args:
            state: The current state.
            metric: This epoch's metric: a number for one run; a number or an array ``[C]`` for
                a population. NaN is never an improvement.

        Returns:
            The new :class:`EarlyStoppingState`.

        Example:
            >>> stopper = EarlyStopping(patience=1)
            >>> state = stopper.update(stopper.init(2), [1.0, 1.0])
            >>> stopper.update(state, [0.5, 2.0]).stopped
            array([False,  True])
        """
        return self.step(state, metric)[0]

    def step(
        self, state: EarlyStoppingState, metric: ArrayLike
    ) -> tuple[EarlyStoppingState, Field]:
        """:meth:`update`, and whether this epoch improved: where Keras' ``best`` and
        ``best_epoch`` change, and where Keras with ``restore_best_weights`` copies the weights.

        Args:
            state: The current state.
            metric: This epoch's metric, as for :meth:`update`.

        Returns:
            ``(new_state, improved)``: ``improved`` is a bool for one run, a ``[C]`` bool array
            for a population; ``False`` for members already stopped, epochs before
            ``start_from_epoch`` and NaN metrics.

        Example:
            >>> stopper = EarlyStopping(patience=5, min_delta=0.1)
            >>> state, kept = stopper.init(), []
            >>> for loss in [1.0, 0.95, 0.8, 0.85]:
            ...     state, improved = stopper.step(state, loss)
            ...     kept.append(improved)
            >>> kept, state.best_epoch
            ([True, False, True, False], 2)
        """
        owner = f"{_OWNER}.update"
        a = values(owner, "metric", metric, state_shape(state))
        best = field(state.best, np.float64)
        best_epoch = field(state.best_epoch, np.int64)
        wait = field(state.wait, np.int64)
        stopped = field(state.stopped, np.bool_)
        stopped_epoch = field(state.stopped_epoch, np.int64)
        epoch = field(state.epoch, np.int64)

        monitored = ~stopped & (epoch >= self.start_from_epoch)
        first = epoch == self.start_from_epoch  # Keras' best is None until then: any metric wins
        improved = monitored & (self._better(a, best) | (~np.isnan(a) & first))
        if self.baseline is None:
            resets = improved
        else:
            resets = improved & self._better(a, np.asarray(self.baseline))
        wait = np.where(monitored, np.where(resets, 0, wait + 1), wait)
        stop = monitored & ~improved & (wait >= self.patience) & (epoch > 0)

        new = EarlyStoppingState(
            best=finish(np.where(improved, a, best)),
            best_epoch=finish(np.where(improved, epoch, best_epoch)),
            wait=finish(wait),
            stopped=finish(stopped | stop),
            stopped_epoch=finish(np.where(stop, epoch, stopped_epoch)),
            epoch=finish(np.where(stopped, epoch, epoch + 1)),
        )
        return new, finish(improved)

    def _better(self, a: NDArray[np.float64], ref: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Keras' ``monitor_op(a - min_delta, ref)``, in float32; NaN is never better."""
        if self.mode == "min":
            return as_float32(a + self.min_delta) < as_float32(ref)
        return as_float32(a - self.min_delta) > as_float32(ref)

    def state_dict(self, state: EarlyStoppingState) -> dict[str, Any]:
        """Plain-Python dict of ``state`` (floats, ints, bools, lists): ``json.dumps`` takes it.

        ``best`` is ``None`` before the first monitored epoch (as Keras' ``best``).

        Args:
            state: An :class:`EarlyStoppingState` of this controller.

        Returns:
            A dict with one key per :class:`EarlyStoppingState` field.

        Example:
            >>> EarlyStopping().state_dict(EarlyStopping().init())["stopped"]
            False
        """
        return dump_state(state, self._worst)

    def load_state_dict(self, data: Mapping[str, Any]) -> EarlyStoppingState:
        """Rebuild a state from :meth:`state_dict` output (also after a JSON round trip).

        Args:
            data: The dict; its keys must be exactly the :class:`EarlyStoppingState` fields.

        Returns:
            The :class:`EarlyStoppingState`, equal to the one that was saved.

        Example:
            >>> stopper = EarlyStopping()
            >>> state = stopper.update(stopper.init(), 0.5)
            >>> stopper.load_state_dict(stopper.state_dict(state)) == state
            True
        """
        return load_state(
            f"{_OWNER}.load_state_dict", EarlyStoppingState, data, _DTYPES, self._worst
        )
