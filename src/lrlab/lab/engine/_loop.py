"""The cohort loop: any :class:`~lrlab.lab.engine.Engine`, epoch by epoch, with the plateau,
early stopping, divergence freezing and the per-epoch metrics."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...control import EarlyStopping, Plateau
from ._order import epoch_orders
from ._protocol import Engine

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
        params: ``[C, P]`` final flat parameters (float64), if asked for.
        seconds: wall-clock time of the run.
    """

    history: dict[str, np.ndarray]
    diverged: np.ndarray
    diverged_epoch: np.ndarray
    stopped_epoch: np.ndarray
    epochs_run: np.ndarray
    params: np.ndarray | None = None
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
    seeds = [data_seed] if isinstance(data_seed, (int, np.integer)) else list(data_seed)
    orders = [epoch_orders(N, int(seed), shuffle) for seed in seeds]

    with engine.session(threads):
        for epoch in range(epochs):
            if not active.any():
                break
            order = next(orders[0]) if len(orders) == 1 else np.stack([next(o) for o in orders])
            lrs = table[epoch * S : (epoch + 1) * S] * (scale * active.astype(dt))
            # no NumPy warnings on the overflows of a diverging member: the loop freezes it
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                engine.start_epoch(order)
                for b in range(S):
                    engine.step(b, lrs[b])
                    if on_step is None:
                        continue
                    stop = active & on_step(epoch * S + b)
                    if stop.any():
                        engine.freeze(stop)
                        stopped_epoch[stop] = epoch
                        active &= ~stop
                        lrs[b + 1 :] *= active.astype(dt)
                        if not active.any():
                            break
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
            active &= ~newly

            if plateau_state is not None and plateau is not None:
                base = table[min((epoch + 1) * S, total - 1)].astype(np.float64)
                monitored = metrics[controls.plateau_monitor]
                plateau_state = plateau.update(plateau_state, monitored, lr=base)
                scale = np.asarray(plateau_state.scale).astype(dt)
            if stop_state is not None and early is not None:
                stop_state = early.update(stop_state, metrics[controls.stop_monitor])
                stop = active & np.asarray(stop_state.stopped, dtype=bool)
                stopped_epoch[stop] = epoch
                active &= ~stop
            if on_epoch is not None:
                on_epoch(epoch, history)

        return PopulationResult(
            history=history,
            diverged=diverged,
            diverged_epoch=diverged_epoch,
            stopped_epoch=stopped_epoch,
            epochs_run=epochs_run,
            params=engine.params() if keep_params else None,
        )
