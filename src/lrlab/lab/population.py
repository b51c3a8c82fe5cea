"""Population training: a cohort of C models trained at once as one model with a member axis.

All members share the data, the architecture, the batch size and the mini-batch order (one
permutation per epoch from ``data_seed``, as ``fit(shuffle=True)`` draws it). Each member has its
own initial weights (from its seed), its own optimizer hyperparameters (per-member tensors of the
:mod:`lrlab.lab.optim` optimizer), its own learning rate from a precomputed table
``[steps, C]`` evaluated from its :mod:`lrlab.schedules` schedule, times its
:class:`~lrlab.control.Plateau` multiplier, and its own :class:`~lrlab.control.EarlyStopping`.

Members never interact: a member whose loss or weights become NaN/inf is marked diverged and
frozen (weights and optimizer state zeroed, learning rate 0, metrics NaN from then on), and no
member's numbers depend on which others share its cohort.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..control import EarlyStopping, Plateau
from ..schedules import Schedule
from ._engines import FuncEngine, MLPEngine, Targets, loss_and_grad
from ._np_engine import NumpyMLPEngine, Tally
from .models import MLP, TorchModule

MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
ENGINES = ("auto", "torch", "numpy")


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
    top = float(torch.finfo(DTYPES[dtype]).max)
    bad = ~(np.isfinite(rates) & (rates >= 0) & (rates <= top))
    if bad.any():
        member, step = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"train_population: learning rates must be finite and >= 0 (in {dtype}); member "
            f"{member} ({schedules[member]!r}) has {float(rates[member, step])!r} at step {step}"
        )


def auto_engine(
    model: MLP | TorchModule, members: int, batch_size: int, device: str | torch.device = "cpu"
) -> str:
    """The engine ``train_population(engine="auto")`` uses: ``"numpy"`` or ``"torch"``.

    NumPy for an :class:`~lrlab.lab.models.MLP` on the CPU whose activations per step
    (``members * widest layer * batch_size``) are at most :data:`NUMPY_WORK`, torch otherwise.
    ``benchmarks/population.py`` times both engines at each cohort size; on the blobs network
    they cross between C = 128 and C = 256.

    Example:
        >>> from lrlab.lab.models import MLP
        >>> from lrlab.lab.population import auto_engine
        >>> auto_engine(MLP(2, (50,), 3), 8, 32), auto_engine(MLP(2, (50,), 3), 1024, 32)
        ('numpy', 'torch')
    """
    work = step_work(model, members, batch_size)
    cpu = torch.device(device).type == "cpu"
    return "numpy" if isinstance(model, MLP) and cpu and work <= NUMPY_WORK else "torch"


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
    shuffle: bool = True,
    plateau: Plateau | None = None,
    plateau_monitor: str = "val_loss",
    early_stopping: EarlyStopping | None = None,
    stop_monitor: str = "val_loss",
    device: str | torch.device | None = None,
    dtype: str = "float32",
    eval_train: bool = False,
    keep_params: bool = False,
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
        data_seed: seeds the per-epoch shuffle shared by all members.
        shuffle: shuffle the training rows every epoch.
        plateau: a :class:`~lrlab.control.Plateau` applied to every member, monitoring
            ``plateau_monitor`` at each epoch end; its multiplier scales the schedule.
        early_stopping: an :class:`~lrlab.control.EarlyStopping` applied to every member.
        device: ``"cpu"`` (default), ``"cuda"``, ... ``dtype``: ``"float32"`` or ``"float64"``.
        eval_train: also evaluate the whole training split after each epoch.
        keep_params: return the final parameters.
        threads: torch CPU threads while training; ``None`` picks 1 for small cohorts (whose
            ops are too small to split, and where a second thread only waits, badly so on a busy
            machine) and leaves torch's setting otherwise. The setting is restored afterwards.
        engine: ``"torch"`` (the fused torch kernels; any device), ``"numpy"`` (the same
            forward/backward in NumPy, :class:`~lrlab.lab.models.MLP` on the CPU only: several
            times faster for small cohorts, whose operations are too small for their cost to be
            anything but the call) or ``"auto"`` (:func:`auto_engine`). Both engines update
            through the same :mod:`lrlab.lab.optim` optimizer and agree to rounding.
        on_epoch: called as ``on_epoch(epoch, history)`` after each epoch.

    Returns:
        A :class:`PopulationResult`.

    Raises:
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
    """
    t0 = time.perf_counter()
    C = len(seeds)
    if C < 1:
        raise ValueError("train_population: seeds must name at least one member, got []")
    if len(schedules) != C:
        raise ValueError(
            f"train_population: schedules must have one entry per member ({C}), "
            f"got {len(schedules)}"
        )
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"train_population: {name} must be an integer >= 1, got {value!r}")
    if dtype not in DTYPES:
        raise ValueError(f"train_population: dtype must be float32 or float64, got {dtype!r}")
    has_test = getattr(data, "x_test", None) is not None and len(data.x_test) > 0
    for name, mon, ctl in (
        ("plateau_monitor", plateau_monitor, plateau),
        ("stop_monitor", stop_monitor, early_stopping),
    ):
        if ctl is not None and (mon not in MONITORS or (mon.startswith("val_") and not has_test)):
            allowed = [m for m in MONITORS if has_test or not m.startswith("val_")]
            raise ValueError(f"train_population: {name} must be one of {allowed}, got {mon!r}")

    if engine not in ENGINES:
        raise ValueError(f"train_population: engine must be one of {list(ENGINES)}, got {engine!r}")
    _check_widths(data, model, has_test)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    work = step_work(model, C, batch_size)
    if engine == "numpy" and (not isinstance(model, MLP) or dev.type != "cpu"):
        raise ValueError(
            "train_population: engine='numpy' trains an MLP on the CPU only, got "
            f"{type(model).__name__} on device {str(dev)!r}"
        )
    use_numpy = engine == "numpy" or (
        engine == "auto" and auto_engine(model, C, batch_size, dev) == "numpy"
    )

    # with the NumPy engine torch runs only the optimizer's small elementwise updates, and
    # NumPy's BLAS gets the thread count torch would have had
    blas = _blas_threads(threads, work) if use_numpy else contextlib.nullcontext()
    with torch_threads(threads, 0 if use_numpy else work), blas:
        dt = DTYPES[dtype]
        eng: MLPEngine | FuncEngine | NumpyMLPEngine
        if use_numpy:
            assert isinstance(model, MLP)
            eng = NumpyMLPEngine(model, C)
        else:
            eng = MLPEngine(model, C) if isinstance(model, MLP) else FuncEngine(model, C, seeds)
        n_out = model.n_outputs
        x_train = torch.as_tensor(np.asarray(data.x_train), dtype=dt, device=dev)
        N = x_train.shape[0]
        if N == 0:
            raise ValueError("train_population: the training split is empty")
        y_train = Targets(data.y_train, model.loss, n_out, dev, dt)
        yt_train = y_train.dense.T
        if has_test:
            x_test = torch.as_tensor(np.asarray(data.x_test), dtype=dt, device=dev)
            y_test_t = Targets(data.y_test, model.loss, n_out, dev, dt).dense.T
        spe = math.ceil(N / batch_size)
        total = epochs * spe
        rates = lr_table(schedules, total)
        _check_rates(rates, schedules, dtype)
        table = torch.as_tensor(rates.T.copy(), dtype=dt, device=dev)

        theta = eng.init_params(seeds, dev, dt)
        grad = torch.zeros_like(theta)
        if use_numpy:  # NumPy views of the same memory: the optimizer updates what they read
            theta_a, grad_a, yt_train_a = NumpyMLPEngine.arrays(theta, grad, yt_train.contiguous())
            x_train_a = NumpyMLPEngine.inputs(x_train.numpy())
            xe_a = np.empty_like(x_train_a)  # the epoch's shuffled columns
            # every epoch overwrites all that it reads: one tally serves them all
            rows = min(batch_size, N)
            tally = Tally(spe, C, rows, N - (spe - 1) * batch_size, theta_a.dtype, model.loss)
            if has_test:
                x_test_a = NumpyMLPEngine.inputs(x_test.numpy())
                (y_test_a,) = NumpyMLPEngine.arrays(y_test_t.contiguous())
        opt_state = optimizer.init(theta)
        update = optimizer.stepper(theta, grad, opt_state)
        # the fused MLP keeps an epoch's logits and computes its training metrics in one pass,
        # when they are small; otherwise each step computes its own
        small = C * n_out * N * theta.element_size() <= EPOCH_LOGITS_BYTES
        logits = (
            torch.empty((C, n_out, N), dtype=dt, device=dev)
            if isinstance(eng, MLPEngine) and small
            else None
        )
        scale = torch.ones(C, dtype=dt, device=dev)
        active = np.ones(C, dtype=bool)
        diverged = np.zeros(C, dtype=bool)
        diverged_epoch = np.full(C, -1)
        stopped_epoch = np.full(C, -1)
        epochs_run = np.zeros(C, dtype=np.int64)
        pl_state = plateau.init(C) if plateau is not None else None
        es_state = early_stopping.init(C) if early_stopping is not None else None
        keys = ["loss", "accuracy", "lr"]
        keys += ["val_loss", "val_accuracy"] if has_test else []
        keys += ["train_eval_loss", "train_eval_accuracy"] if eval_train else []
        history = {k: np.full((C, epochs), np.nan) for k in keys}
        gen = torch.Generator().manual_seed(int(data_seed))
        all_rows = torch.arange(N)

        for epoch in range(epochs):
            if not active.any():
                break
            order = torch.randperm(N, generator=gen) if shuffle else all_rows
            gate = scale * torch.as_tensor(active, dtype=dt, device=dev)
            # this epoch's learning rates, [spe, C]: one row per update
            lrs = (table[epoch * spe : (epoch + 1) * spe] * gate).unsqueeze(-1)
            with _computing():
                if use_numpy:
                    assert isinstance(eng, NumpyMLPEngine)
                    idx = order.numpy()
                    np.take(x_train_a, idx, axis=1, out=xe_a)
                    ye_a = yt_train_a[:, idx]
                    for b, lr_b in enumerate(lrs.unbind(0)):
                        lo, hi = b * batch_size, min(N, (b + 1) * batch_size)
                        eng.step(theta_a, grad_a, xe_a[:, lo:hi], ye_a[:, lo:hi], tally, b)
                        update(lr_b)
                    loss_sum, correct_sum = tally.totals()
                else:
                    order = order.to(dev)
                    xe = x_train.index_select(0, order)
                    ye = y_train.take(order)
                    if logits is not None:  # the fused MLP: the epoch's metrics in one pass
                        for b in range(spe):
                            lo, hi = b * batch_size, min(N, (b + 1) * batch_size)
                            eng.step(theta, grad, xe[lo:hi], ye[lo:hi].T, logits[:, :, lo:hi])
                            update(lrs[b])
                        mean, correct_t, _ = loss_and_grad(
                            logits, ye.T, model.loss, want_grad=False
                        )
                        loss_sum, correct_sum = _host(mean) * N, _host(correct_t)
                    else:
                        loss_t = torch.zeros(C, dtype=dt, device=dev)
                        correct_t = torch.zeros(C, dtype=dt, device=dev)
                        for b in range(spe):
                            lo, hi = b * batch_size, min(N, (b + 1) * batch_size)
                            loss, correct = eng.step(theta, grad, xe[lo:hi], ye[lo:hi].T)
                            loss_t.add_(loss, alpha=hi - lo)
                            correct_t.add_(correct)
                            update(lrs[b])
                        loss_sum, correct_sum = _host(loss_t), _host(correct_t)

                update.flush()
                metrics = {
                    "loss": loss_sum / N,
                    "accuracy": correct_sum / N,
                    "lr": _host(lrs[0, :, 0]),
                }
                if has_test:
                    if use_numpy:
                        vl, va = eng.evaluate(theta_a, x_test_a, y_test_a)
                    else:
                        vl, va = eng.evaluate(theta, x_test, y_test_t)
                    metrics["val_loss"], metrics["val_accuracy"] = _host(vl), _host(va)
                if eval_train:
                    if use_numpy:
                        tl, ta = eng.evaluate(theta_a, x_train_a, yt_train_a)
                    else:
                        tl, ta = eng.evaluate(theta, x_train, yt_train)
                    metrics["train_eval_loss"], metrics["train_eval_accuracy"] = (
                        _host(tl),
                        _host(ta),
                    )
            metrics = {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}
            if model.loss == "mse":
                for k in ("accuracy", "val_accuracy", "train_eval_accuracy"):
                    metrics.pop(k, None)

            if use_numpy:
                finite = np.isfinite(theta_a).all(axis=1)
            else:
                finite = torch.isfinite(theta).all(dim=1).cpu().numpy()
            for k in ("loss", "val_loss"):
                if k in metrics:
                    finite &= np.isfinite(metrics[k])
            newly = active & ~finite
            if newly.any():
                diverged[newly] = True
                diverged_epoch[newly] = epoch
                freeze_members(newly, theta, opt_state)
            for k, v in metrics.items():
                history[k][active, epoch] = v[active]
            epochs_run[active] = epoch + 1
            active &= ~newly

            if pl_state is not None and plateau is not None:
                base = table[min((epoch + 1) * spe, total - 1)].cpu().numpy().astype(np.float64)
                pl_state = plateau.update(pl_state, metrics[plateau_monitor], lr=base)
                scale = torch.as_tensor(np.asarray(pl_state.scale), dtype=dt, device=dev)
            if es_state is not None and early_stopping is not None:
                es_state = early_stopping.update(es_state, metrics[stop_monitor])
                stop = active & np.asarray(es_state.stopped, dtype=bool)
                stopped_epoch[stop] = epoch
                active &= ~stop
            if on_epoch is not None:
                on_epoch(epoch, history)

        params = theta.detach().cpu().double().numpy() if keep_params else None
        return PopulationResult(
            history=history,
            diverged=diverged,
            diverged_epoch=diverged_epoch,
            stopped_epoch=stopped_epoch,
            epochs_run=epochs_run,
            params=params,
            seconds=time.perf_counter() - t0,
        )


#: activation elements per step below which :func:`torch_threads` picks one thread
SMALL_WORK = 2**16
#: activation elements per step (``C * widest layer * batch``) up to which ``engine="auto"``
#: picks the NumPy engine on the CPU; ``benchmarks/population.py`` times both engines
NUMPY_WORK = 2**18


#: the largest epoch of logits ``[C, K, N]`` the torch engine keeps to compute the training
#: loss and accuracy in one pass at the epoch's end (larger: per step, as the memory grows
#: with the training split)
EPOCH_LOGITS_BYTES = 2**26


@contextlib.contextmanager
def _computing() -> Iterator[None]:
    """Training and evaluation: no autograd graph, and no NumPy warnings on the overflows of a
    diverging member (the loop detects and freezes it). User callbacks run outside."""
    quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
    with torch.no_grad(), quiet:
        yield


def _host(v: Any) -> np.ndarray:
    """A torch tensor or NumPy array as a float64 NumPy array on the host."""
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    return np.asarray(v, dtype=np.float64)


def step_work(model: MLP | TorchModule, members: int, batch_size: int) -> int:
    """Activation elements of one training step, ``members * widest layer * batch_size``: the
    size by which :func:`auto_engine` and :func:`torch_threads` decide (a ``TorchModule``
    counts as 64 wide).

    Example:
        >>> from lrlab.lab.models import MLP
        >>> step_work(MLP(2, (50,), 3), members=8, batch_size=32)
        12800
    """
    widest = max([*model.hidden, model.n_outputs]) if isinstance(model, MLP) else 64
    return members * widest * batch_size


@contextlib.contextmanager
def torch_threads(threads: int | None, work: int) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads, then restore torch's setting.

    ``threads=None`` picks one thread when ``work`` (:func:`step_work`) is below
    :data:`SMALL_WORK`, whose operations are too small to split (a second thread only waits,
    and badly so on a busy machine), and leaves the setting alone otherwise.

    Example:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> with torch_threads(None, work=100):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    if threads is not None and (isinstance(threads, bool) or threads < 1):
        raise ValueError(f"train_population: threads must be >= 1 or None, got {threads!r}")
    want = threads if threads is not None else (1 if work < SMALL_WORK else None)
    before = torch.get_num_threads()
    if want is not None and want != before:
        torch.set_num_threads(want)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@contextlib.contextmanager
def _blas_threads(threads: int | None, work: int) -> Iterator[None]:
    """NumPy's BLAS on ``threads`` threads (one below :data:`SMALL_WORK` when ``None``), with
    ``threadpoolctl`` when it is installed (it comes with scikit-learn), else untouched.

    OpenBLAS starts its threads for a step's larger matmuls on its own; on a small cohort of
    a wide network (784 inputs) they made the NumPy engine's time vary widely from run to run,
    where one thread gave the same time every run.
    """
    want = threads if threads is not None else (1 if work < SMALL_WORK else None)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        want = None
    if want is None:
        yield
        return
    with threadpool_limits(limits=want, user_api="blas"):
        yield


def freeze_members(mask: np.ndarray, theta: torch.Tensor, opt_state: Any) -> None:
    """Zero the weights and the optimizer state of the members in ``mask`` (a ``[C]`` bool
    array), as :func:`train_population` does to a diverged member; with a learning rate of 0
    from then on, a frozen member stays at 0 and finite.

    Example:
        >>> import numpy as np, torch
        >>> from lrlab.lab.optim import SGD
        >>> theta = torch.ones(3, 2)
        >>> state = SGD(momentum=0.9).init(theta)
        >>> freeze_members(np.array([False, True, False]), theta, state)
        >>> theta[:, 0].tolist()
        [1.0, 0.0, 1.0]
    """
    rows = torch.as_tensor(np.nonzero(mask)[0], device=theta.device)
    theta.index_fill_(0, rows, 0.0)
    tensors = opt_state.values() if isinstance(opt_state, dict) else []
    for t in tensors:
        if (
            isinstance(t, torch.Tensor)
            and t.dim() >= 1
            and t.shape[0] == theta.shape[0]
            and t.is_floating_point()
        ):
            t.index_fill_(0, rows, 0.0)
