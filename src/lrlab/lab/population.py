"""Population training: a cohort of C models trained at once as one model with a member axis.

All members share the data, the architecture and the batch size. The mini-batch order is one
permutation per epoch, as ``fit(shuffle=True)`` draws it: by default (``batch_order="per_seed"``,
as in studies) each member draws it from ``data_seed + seed``, its own seed, so seeds are
independent replicates and members of one seed share an order; ``batch_order="shared"`` gives
every member ``data_seed``'s order. Each member has its own initial weights (from its seed),
its own optimizer hyperparameters (per-member tensors of the :mod:`lrlab.lab.optim`
optimizer), its own learning rate from a precomputed table ``[steps, C]`` evaluated from its
:mod:`lrlab.schedules` schedule, times its :class:`~lrlab.control.Plateau` multiplier, and its
own :class:`~lrlab.control.EarlyStopping` (with ``restore_best_weights``, its best epoch's
weights at the end).

Members never interact: a member whose loss or weights become NaN/inf is marked diverged and
frozen (weights and optimizer state zeroed, learning rate 0, metrics NaN from then on), and no
member's numbers depend on which others share its cohort.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._checks import integer
from ..control import EarlyStopping, Plateau
from ..schedules import Schedule
from .engine import DTYPES as DTYPES
from .engine import ENGINES as ENGINES
from .engine import MONITORS as MONITORS
from .engine import NUMPY_MACS as NUMPY_MACS
from .engine import SMALL_WORK as SMALL_WORK
from .engine import (
    Controls,
    check_threads,
    device_kind,
    make_engine,
    native_fits,
    native_status,
    run_cohort,
)
from .engine import PopulationResult as PopulationResult
from .engine import auto_engine as auto_engine
from .engine import step_macs as step_macs
from .engine import step_work as step_work
from .models import MLP, TorchModule

#: how the members of a population draw their batch order (``batch_order``)
BATCH_ORDERS = ("per_seed", "shared")


def lr_table(schedules: Sequence[Schedule], total_steps: int) -> np.ndarray:
    """Each member's learning rate at every step, ``[C, total_steps]`` (float64).

    Equal schedules are evaluated once.
    """
    cache: dict[Schedule, np.ndarray] = {}
    steps = np.arange(total_steps, dtype=np.float64)
    rows = []
    for i, s in enumerate(schedules):
        if not isinstance(s, Schedule):
            raise ValueError(f"schedules[{i}] must be a lrlab schedule, got {s!r}")
        if s not in cache:
            cache[s] = np.asarray(s(steps), dtype=np.float64)
        rows.append(cache[s])
    return np.stack(rows) if rows else np.zeros((0, total_steps))


def _check_widths(data: Any, model: MLP | TorchModule, has_test: bool) -> None:
    """Refuse inputs that are not ``[rows, features]`` or whose width the MLP does not take."""
    parts = ("x_train", "x_test") if has_test else ("x_train",)
    for part in parts:
        shape = np.shape(getattr(data, part))
        if len(shape) != 2:
            raise ValueError(
                f"train_population: data.{part} must be a 2-D array [rows, features], got {shape}"
            )
        if isinstance(model, MLP) and shape[1] != model.n_inputs:
            raise ValueError(
                f"train_population: the model takes {model.n_inputs} inputs, but data.{part} "
                f"has rows of width {shape[1]} (MLP n_inputs must equal the number of features)"
            )


def _check_rates(rates: np.ndarray, schedules: Sequence[Schedule], dtype: str) -> None:
    """Refuse a negative, NaN or infinite rate (in ``dtype``), naming the member and the step.

    Studies refuse such rates when they are configured; a schedule given here directly (say a
    ``linear`` that crosses zero, or a ``custom`` function) is checked on its whole table.
    """
    top = float(np.finfo(DTYPES[dtype]).max)
    bad = ~(np.isfinite(rates) & (rates >= 0) & (rates <= top))
    if bad.any():
        member, step = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"train_population: learning rates must be finite and >= 0 (in {dtype}); member "
            f"{member} ({schedules[member]!r}) has {float(rates[member, step])!r} at step {step}"
        )


def _check_sizes(
    seeds: Sequence[Any],
    data_seed: Any,
    schedules: Sequence[Schedule],
    epochs: Any,
    batch_size: Any,
) -> tuple[list[int], int]:
    """At least one member, one schedule each, ``epochs`` and ``batch_size`` integers >= 1, the
    seeds and ``data_seed`` integers >= 0; the seeds and ``data_seed`` as ints."""
    members = len(seeds)
    if members < 1:
        raise ValueError("train_population: seeds must name at least one member, got []")
    if len(schedules) != members:
        raise ValueError(
            f"train_population: schedules must have one entry per member ({members}), "
            f"got {len(schedules)}"
        )
    owner = "train_population"
    integer(owner, "epochs", epochs, lo=1)
    integer(owner, "batch_size", batch_size, lo=1)
    ints = [integer(owner, f"seeds[{i}]", s, lo=0) for i, s in enumerate(seeds)]
    return ints, integer(owner, "data_seed", data_seed, lo=0)


def _check_engine(data: Any, model: Any, engine: str, device: Any, dtype: str) -> None:
    """A training split that is not empty; ``engine="numpy"`` or ``"native"`` for an MLP on
    the CPU only, ``"native"`` in float32 for a network it takes, where it is available."""
    if len(data.x_train) == 0:
        raise ValueError("train_population: the training split is empty")
    host = engine in ("numpy", "native")
    if host and (not isinstance(model, MLP) or device_kind(device) != "cpu"):
        where = str(device) if device is not None else "cpu"
        raise ValueError(
            f"train_population: engine={engine!r} trains an MLP on the CPU only, got "
            f"{type(model).__name__} on device {where!r}"
        )
    if engine == "native":
        problem = native_fits(model, dtype)
        if problem is not None:
            raise ValueError(f"train_population: {problem}")
        if native_status() != "available":
            raise RuntimeError(
                f"train_population: engine='native' is not available here: {native_status()}"
            )


def _check_monitors(has_test: bool, *controls: tuple[str, Any]) -> None:
    """Refuse a monitor (``plateau_monitor``, ``stop_monitor``) that is not a metric the run
    has, for a control that is set."""
    for (mon, ctl), name in zip(controls, ("plateau_monitor", "stop_monitor"), strict=True):
        if ctl is not None and (mon not in MONITORS or (mon.startswith("val_") and not has_test)):
            allowed = [m for m in MONITORS if has_test or not m.startswith("val_")]
            raise ValueError(f"train_population: {name} must be one of {allowed}, got {mon!r}")


def batch_orders(batch_order: str, data_seed: int, seeds: Sequence[int]) -> int | list[int]:
    """The ``data_seed`` of :func:`~lrlab.lab.engine.run_cohort` for ``batch_order``: one seed
    (one order for all members) or one per member (``data_seed + seed``).

    Example:
        >>> batch_orders("per_seed", 10, [0, 1, 2]), batch_orders("per_seed", 10, [4, 4])
        ([10, 11, 12], 14)
        >>> batch_orders("shared", 10, [0, 1, 2])
        10
    """
    if batch_order == "shared":
        return int(data_seed)
    orders = [int(data_seed) + int(s) for s in seeds]
    return orders[0] if len(set(orders)) == 1 else orders  # one for all: the faster layout


def train_population(
    data: Any,
    model: MLP | TorchModule,
    optimizer: Any,
    schedules: Sequence[Schedule],
    seeds: Sequence[int],
    *,
    epochs: int,
    batch_size: int,
    data_seed: int = 0,
    batch_order: str = "per_seed",
    shuffle: bool = True,
    plateau: Plateau | None = None,
    plateau_monitor: str = "val_loss",
    early_stopping: EarlyStopping | None = None,
    stop_monitor: str = "val_loss",
    device: Any = None,
    dtype: str = "float32",
    eval_train: bool = False,
    keep_params: bool = False,
    keep_best: bool = False,
    threads: int | None = None,
    engine: str = "auto",
    on_epoch: Callable[[int, dict[str, np.ndarray]], None] | None = None,
) -> PopulationResult:
    """Train ``len(seeds)`` members at once; see the module docstring for what they share.

    Args:
        data: a :class:`~lrlab.lab.data.Dataset` (anything with ``x_train``, ``y_train``,
            ``x_test``, ``y_test``; the test split may be ``None``).
        model: an :class:`~lrlab.lab.models.MLP` (fast fused path) or a
            :class:`~lrlab.lab.models.TorchModule` (``torch.func`` path).
        optimizer: a :mod:`lrlab.lab.optim` optimizer whose per-member hyperparameters have
            length C (or are scalars).
        schedules: one learning-rate schedule per member, in optimizer steps (batches).
        seeds: one initialisation seed per member.
        epochs: passes over the training split.
        batch_size: rows per update; the last batch of an epoch may be smaller (as in Keras).
        data_seed: seeds the per-epoch shuffle (see ``batch_order``).
        batch_order: ``"per_seed"`` (default): member ``i`` draws its batches in the order of
            ``data_seed + seeds[i]``, as a study's ``train.batch_order = "per_seed"`` does;
            ``"shared"``: every member draws ``data_seed``'s order (a study's ``"shared"``).
        shuffle: shuffle the training rows every epoch.
        plateau: a :class:`~lrlab.control.Plateau` applied to every member, monitoring
            ``plateau_monitor`` at each epoch end; its multiplier scales the schedule.
        early_stopping: an :class:`~lrlab.control.EarlyStopping` applied to every member; with
            ``restore_best_weights=True`` each member ends with its best epoch's weights
            (``params`` and the saved weights are those; the history is as trained, as Keras'
            ``History``), with the rule of :func:`~lrlab.lab.engine.run_cohort`.
        device: ``"cpu"`` (default), ``"cuda"``, ... ``dtype``: ``"float32"`` or ``"float64"``.
        eval_train: also evaluate the whole training split after each epoch.
        keep_params: return the final parameters (``result.params``).
        keep_best: return each member's best-epoch parameters and epoch
            (``result.best_params``, ``result.best_epoch``): the early-stopping monitor's best
            epoch if ``early_stopping`` is given, else the lowest ``val_loss`` (``loss`` without
            a test split), earliest on ties; a diverged member's last finite best.
        threads: CPU threads while training (torch's on the torch engine, NumPy's BLAS on
            the NumPy engine, the kernel's on the native engine); ``None`` (default) starts
            on one and chooses between one and the library's count by timing the run's own
            steps, where both counts give bit-identical results (else one thread
            throughout), so the choice never changes the numbers;
            ``result.extra["threads"]`` says what it chose (docs/population.md, "Threads").
            The setting is restored afterwards.
        engine: ``"torch"`` (:class:`~lrlab.lab.engine.TorchEngine`: the fused torch kernels,
            any device; needs torch), ``"numpy"`` (:class:`~lrlab.lab.engine.NumpyEngine`: the
            same forward/backward and optimizer formulas in NumPy alone,
            :class:`~lrlab.lab.models.MLP` on the CPU only: several times faster for small
            cohorts, whose operations are too small for their cost to be anything but the call),
            ``"native"`` (:class:`~lrlab.lab.engine.NativeEngine`: a small MLP on the CPU in
            float32 in lrlab's C kernel, the fastest there) or ``"auto"``
            (:func:`auto_engine`). The engines agree to rounding.
        on_epoch: called as ``on_epoch(epoch, history)`` after each epoch.

    Returns:
        A :class:`PopulationResult`.

    Raises:
        ModuleNotFoundError: where the torch engine is asked for (a
            :class:`~lrlab.lab.models.TorchModule`, ``engine="torch"``) and torch is not
            installed; the message says ``pip install 'lrlab[torch]'``.
        RuntimeError: for ``engine="native"`` where its kernel is not available (no C
            compiler; :func:`~lrlab.lab.engine.native_status` says why).
        ValueError: for a bad argument, inputs that are not ``[rows, features]``, an MLP whose
            ``n_inputs`` is not the data's width (both named), or a negative or non-finite
            learning rate in a member's table (the member and the step named).

    Example:
        >>> import numpy as np
        >>> from lrlab.lab.models import MLP
        >>> from lrlab.lab.optim import SGD
        >>> from lrlab.lab.population import train_population
        >>> from lrlab.schedules import constant
        >>> rng = np.random.default_rng(0)
        >>> class Data:
        ...     x_train = rng.normal(size=(64, 2)); y_train = (x_train[:, 0] > 0).astype(int)
        ...     x_test, y_test = x_train, y_train
        >>> r = train_population(Data, MLP(2, (8,), 2), SGD(momentum=0.9),
        ...                      [constant(0.1), constant(1e-6)], seeds=[0, 0],
        ...                      epochs=20, batch_size=16)
        >>> bool(r.history["val_accuracy"][0, -1] > r.history["val_accuracy"][1, -1])
        True
        >>> r = train_population(Data, MLP(2, (8,), 2), SGD(), [constant(0.5)], seeds=[3],
        ...                      epochs=5, batch_size=16, keep_best=True)
        >>> int(r.best_epoch[0]) == int(np.nanargmin(r.history["val_loss"][0]))
        True
    """
    t0 = time.perf_counter()
    seeds, data_seed = _check_sizes(seeds, data_seed, schedules, epochs, batch_size)
    for name, value, options in (
        ("batch_order", batch_order, BATCH_ORDERS),
        ("engine", engine, ENGINES),
    ):
        if value not in options:
            raise ValueError(
                f"train_population: {name} must be one of {list(options)}, got {value!r}"
            )
    if dtype not in DTYPES:
        raise ValueError(f"train_population: dtype must be float32 or float64, got {dtype!r}")
    has_test = getattr(data, "x_test", None) is not None and len(data.x_test) > 0
    _check_monitors(has_test, (plateau_monitor, plateau), (stop_monitor, early_stopping))
    check_threads(threads)
    _check_widths(data, model, has_test)
    _check_engine(data, model, engine, device, dtype)
    C = len(seeds)
    kind = auto_engine(model, C, batch_size, device, dtype) if engine == "auto" else engine
    test = (data.x_test, data.y_test) if has_test else None
    train = (data.x_train, data.y_train)
    eng = make_engine(
        kind, model, C, train, test, batch_size=batch_size, dtype=dtype, device=device
    )
    steps = epochs * eng.steps_per_epoch
    rates = lr_table(schedules, steps)
    _check_rates(rates, schedules, dtype)
    eng.init(seeds, optimizer)
    result = run_cohort(
        eng,
        rates,
        epochs=epochs,
        data_seed=batch_orders(batch_order, data_seed, seeds),
        shuffle=shuffle,
        controls=Controls(plateau, plateau_monitor, early_stopping, stop_monitor),
        has_test=has_test,
        eval_train=eval_train,
        keep_params=keep_params,
        keep_best=keep_best,
        threads=threads,
        on_epoch=on_epoch,
    )
    result.seconds, result.extra["engine"] = time.perf_counter() - t0, kind
    return result


def freeze_members(mask: np.ndarray, theta: Any, opt_state: Any) -> None:
    """Zero the weights and the optimizer state of the members in ``mask`` (a ``[C]`` bool
    array), as :func:`train_population` does to a diverged member; with a learning rate of 0
    from then on, a frozen member stays at 0 and finite. ``theta`` and the state are torch
    tensors or NumPy arrays.

    Example:
        >>> import numpy as np, torch
        >>> from lrlab.lab.optim import SGD
        >>> theta = torch.ones(3, 2)
        >>> state = SGD(momentum=0.9).init(theta)
        >>> freeze_members(np.array([False, True, False]), theta, state)
        >>> theta[:, 0].tolist()
        [1.0, 0.0, 1.0]
    """
    kind = type(theta)
    buffers = opt_state.values() if isinstance(opt_state, dict) else []
    rows = [t for t in (theta, *buffers) if isinstance(t, kind) and t.ndim >= 1]
    rows = [t for t in rows if t.shape[0] == theta.shape[0]]
    if isinstance(theta, np.ndarray):
        for a in rows:
            if a.dtype.kind == "f":
                a[mask] = 0
        return
    index = theta.new_tensor(np.nonzero(mask)[0], dtype=None).long()
    for t in rows:
        if t.is_floating_point():
            t.index_fill_(0, index, 0.0)


def __getattr__(name: str) -> Any:
    # torch_threads needs torch: imported on first use, so that NumPy alone trains MLPs
    if name == "torch_threads":
        from .engine import torch_threads

        return torch_threads
    raise AttributeError(f"module 'lrlab.lab.population' has no attribute {name!r}")
