"""The cohort loop: any :class:`~lrlab.lab.engine.Engine`, epoch by epoch, with the plateau,
early stopping, divergence freezing and the per-epoch metrics."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...control import EarlyStopping, Plateau
from ._order import cohort_orders
from ._protocol import Engine
from ._threads import Pacer

#: what a plateau or early stopping may monitor
MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")


@dataclass
class PopulationResult:
    """What a population run produced, per member.

    Attributes:
        history: ``name -> [C, epochs]`` arrays: ``loss`` and ``accuracy`` (the mean over the
            epoch's mini-batches weighted by batch size, as Keras logs them), ``val_loss`` and
            ``val_accuracy`` (a full pass over the test split after the epoch), ``lr`` (the
            learning rate of the epoch's first update, plateau included) and, with
            ``eval_train=True``, ``train_eval_loss`` / ``train_eval_accuracy`` (a full pass over
            the training split). NaN after a member stopped or diverged.
        diverged: ``[C]`` bool. ``diverged_epoch``: ``[C]``, -1 if never.
        stopped_epoch: ``[C]`` epoch at which early stopping ended the member, -1 if never.
        epochs_run: ``[C]`` epochs each member trained.
        params: ``[C, P]`` final flat parameters (float64), if asked for: after
            ``restore_best_weights``, the restored ones.
        best_params: ``[C, P]`` flat parameters (float64) of each member's best epoch (the rule
            is :func:`run_cohort`'s), NaN rows for members without one; with ``keep_best``.
        best_epoch: ``[C]`` 0-based epoch of ``best_params``, -1 where none (or not tracked).
        restored: ``[C]`` bool: whether ``restore_best_weights`` gave the member its best
            epoch's weights at the end.
        seconds: wall-clock time of the run.
        extra: ``threads``, what the thread choice did; from
            :func:`~lrlab.lab.population.train_population` also ``engine``, the engine the
            run trained on.
    """

    history: dict[str, np.ndarray]
    diverged: np.ndarray
    diverged_epoch: np.ndarray
    stopped_epoch: np.ndarray
    epochs_run: np.ndarray
    params: np.ndarray | None = None
    best_params: np.ndarray | None = None
    best_epoch: np.ndarray | None = None
    restored: np.ndarray | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def member(self, i: int) -> dict[str, Any]:
        """Member ``i``'s results as plain Python data (lists with ``None`` for NaN)."""
        n = int(self.epochs_run[i])
        hist = {
            k: [None if not math.isfinite(v) else float(v) for v in h[i, :n]]
            for k, h in self.history.items()
        }
        return {
            "history": hist,
            "diverged": bool(self.diverged[i]),
            "diverged_epoch": int(self.diverged_epoch[i]),
            "stopped_epoch": int(self.stopped_epoch[i]),
            "epochs_run": n,
        }


@dataclass(frozen=True)
class Controls:
    """What watches the members at each epoch's end (see :func:`run_cohort`)."""

    plateau: Plateau | None = None
    plateau_monitor: str = "val_loss"
    early_stopping: EarlyStopping | None = None
    stop_monitor: str = "val_loss"


class BestWeights:
    """Each member's best epoch and a host copy of its weights then, for ``keep_best`` and
    ``restore_best_weights``.

    After each epoch, :meth:`update` copies the weights of the members whose metric improved,
    for those members only (:meth:`Engine.params` with a mask). With early stopping, "improved"
    is :meth:`~lrlab.control.EarlyStopping.step`'s (its monitor, ``mode``, ``min_delta`` and
    ``start_from_epoch``: where Keras' ``best`` changes); without, it is a ``monitor`` value
    strictly below the member's lowest so far, so ties keep the earliest epoch (the store's
    ``best_epoch``). Only ``alive`` members count: an epoch in which a member diverges (its
    weights or metrics not finite) is never its best, so a diverged member keeps its last
    finite best. :meth:`restore` loads each member's copy back (:meth:`Engine.load_params`),
    stopped early or not, diverged or not; a member without a best epoch (training that ended
    before ``start_from_epoch``) keeps its last weights, as Keras does.

    Attributes:
        params: ``[C, P]`` float64 copies, NaN rows for members without a best epoch.
        epoch: ``[C]`` their 0-based epochs, -1 where none.

    Example:
        >>> import numpy as np
        >>> from lrlab.lab.engine import make_engine
        >>> from lrlab.lab.models import MLP
        >>> from lrlab.lab.optim import SGD
        >>> x = np.random.default_rng(0).normal(size=(8, 2))
        >>> engine = make_engine("numpy", MLP(2, (3,), 2), 2, (x, x[:, 0] > 0), None,
        ...                      batch_size=4, dtype="float64")
        >>> engine.init([0, 1], SGD())
        >>> best = BestWeights(engine, "loss")
        >>> alive = np.array([True, True])
        >>> best.update(0, alive, {"loss": np.array([0.7, 0.9])})
        >>> best.update(1, alive, {"loss": np.array([0.8, 0.6])})
        >>> best.epoch.tolist(), best.restore().tolist()
        ([0, 1], [True, True])
    """

    def __init__(self, engine: Engine, monitor: str) -> None:
        C = engine.members
        self.engine, self.monitor = engine, monitor
        width = engine.params(np.zeros(C, dtype=bool)).shape[1]
        self.params = np.full((C, width), np.nan)
        self.epoch = np.full(C, -1)
        self._value = np.full(C, np.inf)  # the lowest monitor value, without early stopping

    def update(
        self,
        epoch: int,
        alive: np.ndarray,
        metrics: dict[str, np.ndarray],
        improved: np.ndarray | None = None,
    ) -> None:
        """Copy the weights of the members whose epoch ``epoch`` improved: ``improved`` (early
        stopping's, already masked by ``alive``) or, if ``None``, by ``metrics[monitor]``."""
        if improved is None:
            value = metrics[self.monitor]
            improved = alive & np.isfinite(value) & (value < self._value)
            self._value[improved] = value[improved]
        if improved.any():
            self.params[improved] = self.engine.params(improved)
            self.epoch[improved] = epoch

    def restore(self) -> np.ndarray:
        """Load every member's best copy into the engine; ``[C]`` bool of those restored."""
        restored = self.epoch >= 0
        if restored.any():
            self.engine.load_params(restored, self.params[restored])
        return restored


def _train_epoch(
    engine: Engine,
    pace: Pacer,
    lrs: np.ndarray,
    epoch: int,
    active: np.ndarray,
    stopped_epoch: np.ndarray,
    on_step: Callable[[int], np.ndarray] | None,
) -> None:
    """The epoch's steps at ``lrs [S, C]``, each between the :class:`Pacer`'s ``before`` and
    ``after``; members that ``on_step`` stops are frozen, and ``active``, ``stopped_epoch`` and
    the rest of ``lrs`` updated in place."""
    S = engine.steps_per_epoch
    for b in range(S):
        pace.before(b)
        engine.step(b, lrs[b])
        pace.after(b)
        if on_step is None:
            continue
        stop = active & on_step(epoch * S + b)
        if stop.any():
            engine.freeze(stop)
            stopped_epoch[stop] = epoch
            active &= ~stop
            lrs[b + 1 :] *= active.astype(engine.dtype)
            if not active.any():
                break
    pace.end_epoch()


def run_cohort(
    engine: Engine,
    rates: np.ndarray,
    *,
    epochs: int,
    data_seed: int | Sequence[int] = 0,
    shuffle: bool = True,
    controls: Controls = Controls(),
    has_test: bool = True,
    eval_train: bool = False,
    keep_params: bool = False,
    keep_best: bool = False,
    threads: int | None = None,
    on_epoch: Callable[[int, dict[str, np.ndarray]], None] | None = None,
    on_step: Callable[[int], np.ndarray] | None = None,
) -> PopulationResult:
    """Train an initialised ``engine`` for ``epochs`` epochs; the loop of every population run.

    At epoch ``e`` the rows come in the order of :func:`~lrlab.lab.engine.epoch_orders` for
    ``data_seed`` (one seed per member: each member its own order); step ``t`` of the run trains
    member ``i`` at ``rates[i, t] * scale_i * a_i`` (in the engine's dtype), ``scale_i`` its
    plateau multiplier and ``a_i`` 1 while it trains, else 0. After the epoch: the training
    metrics, the test split's (``has_test``) and the training split's (``eval_train``); a member
    whose weights, loss or ``val_loss`` are not finite is marked diverged and frozen
    (:meth:`Engine.freeze`); the plateau sees its monitor and the learning rate of the next
    step; early stopping may end members; then ``on_epoch(epoch, history)`` runs, outside the
    engine's computing context.

    With ``on_step``, ``on_step(t)`` runs after every step ``t`` and returns a ``[C]`` bool mask
    of members to stop at once (frozen, learning rate 0 from the next step, ``stopped_epoch``
    set): the range test stops its members so.

    Args:
        engine: An :class:`~lrlab.lab.engine.Engine` after :meth:`~Engine.init`.
        rates: Each member's learning rate at every step, ``[C, epochs * steps_per_epoch]``
            (float64, checked finite and >= 0 by the caller).
        epochs, data_seed, shuffle, eval_train, keep_params, threads, on_epoch: as for
            :func:`~lrlab.lab.population.train_population`; ``data_seed`` may also be one seed
            per member.
        keep_best: Return each member's best-epoch weights and epoch (:class:`BestWeights`,
            which early stopping's ``restore_best_weights`` loads back at the end).
        on_step: Called after each step with its index; see above.
        controls: The :class:`Controls` (plateau and early stopping with their monitors).
        has_test: Whether the engine has a test split.

    Returns:
        A :class:`PopulationResult` (``seconds`` left 0 for the caller).
    """
    C, S, N, dt = engine.members, engine.steps_per_epoch, engine.rows, engine.dtype
    table = rates.T.astype(dt)  # [steps, C], as every step's rates are rounded
    total = table.shape[0]
    plateau, early = controls.plateau, controls.early_stopping
    scale = np.ones(C, dtype=dt)
    active = np.ones(C, dtype=bool)
    diverged = np.zeros(C, dtype=bool)
    diverged_epoch = np.full(C, -1)
    stopped_epoch = np.full(C, -1)
    epochs_run = np.zeros(C, dtype=np.int64)
    plateau_state = plateau.init(C) if plateau is not None else None
    stop_state = early.init(C) if early is not None else None
    keys = ["loss", "accuracy", "lr"]
    keys += ["val_loss", "val_accuracy"] if has_test else []
    keys += ["train_eval_loss", "train_eval_accuracy"] if eval_train else []
    history = {k: np.full((C, epochs), np.nan) for k in keys}
    restore = early is not None and early.restore_best_weights
    best = BestWeights(engine, "val_loss" if has_test else "loss") if keep_best or restore else None
    seeds = [data_seed] if isinstance(data_seed, (int, np.integer)) else list(data_seed)
    orders = cohort_orders(N, [int(seed) for seed in seeds], shuffle, threads)

    with engine.session(threads) as pace:
        for epoch in range(epochs):
            if not active.any():
                break
            order = next(orders)
            lrs = table[epoch * S : (epoch + 1) * S] * (scale * active.astype(dt))
            # no NumPy warnings on the overflows of a diverging member: the loop freezes it
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                engine.start_epoch(order)
                _train_epoch(engine, pace, lrs, epoch, active, stopped_epoch, on_step)
                loss_sum, correct_sum = engine.epoch_totals()
                metrics = {
                    "loss": loss_sum / N,
                    "accuracy": correct_sum / N,
                    "lr": lrs[0].astype(np.float64),
                }
                if has_test:
                    metrics["val_loss"], metrics["val_accuracy"] = engine.evaluate("test")
                if eval_train:
                    tl, ta = engine.evaluate("train")
                    metrics["train_eval_loss"], metrics["train_eval_accuracy"] = tl, ta
                finite = engine.finite()
                pace.after_eval()
            metrics = {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}
            if engine.model.loss == "mse":
                for k in ("accuracy", "val_accuracy", "train_eval_accuracy"):
                    metrics.pop(k, None)

            for k in ("loss", "val_loss"):
                if k in metrics:
                    finite &= np.isfinite(metrics[k])
            newly = active & ~finite
            if newly.any():
                diverged[newly] = True
                diverged_epoch[newly] = epoch
                engine.freeze(newly)
            for k, v in metrics.items():
                history[k][active, epoch] = v[active]
            epochs_run[active] = epoch + 1
            alive = active & ~newly  # the members whose epoch may be a best one
            active &= ~newly

            if plateau_state is not None and plateau is not None:
                base = table[min((epoch + 1) * S, total - 1)].astype(np.float64)
                monitored = metrics[controls.plateau_monitor]
                plateau_state = plateau.update(plateau_state, monitored, lr=base)
                scale = np.asarray(plateau_state.scale).astype(dt)
            improved = None
            if stop_state is not None and early is not None:
                stop_state, better = early.step(stop_state, metrics[controls.stop_monitor])
                improved = alive & np.asarray(better, dtype=bool)
                stop = active & np.asarray(stop_state.stopped, dtype=bool)
                stopped_epoch[stop] = epoch
                active &= ~stop
            if best is not None:
                best.update(epoch, alive, metrics, improved)
            if on_epoch is not None:
                on_epoch(epoch, history)

        restored = best.restore() if best is not None and restore else np.zeros(C, dtype=bool)
        return PopulationResult(
            history=history,
            diverged=diverged,
            diverged_epoch=diverged_epoch,
            stopped_epoch=stopped_epoch,
            epochs_run=epochs_run,
            params=engine.params() if keep_params else None,
            best_params=best.params if best is not None and keep_best else None,
            best_epoch=best.epoch if best is not None else None,
            restored=restored,
            extra={"threads": pace.summary()},
        )
