"""The native engine: a cohort of small MLPs in lrlab's C kernel (``_native.c``), one member in
each lane of every vector operation, on the CPU with NumPy alone besides."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..models import MLP
from ..optim import KernelUpdate
from ._choice import step_work
from ._native_lib import library, native_status
from ._numpy import HostWeights
from ._protocol import Split, batch_sizes
from ._threads import Pacer, counts_agree, paced

#: the largest network (parameters per member) the native engine takes: a group of members
#: keeps its weights and gradient lane by lane, ``2 * 4 * lanes * P`` bytes (1 MB at 16
#: lanes), which must stay in the core's L2 cache for the kernel to be fast (a wider network
#: streams them from memory once per sample; the torch engine's matmuls suit it better)
NATIVE_MAX_PARAMS = 8192
#: the narrower build a small cohort takes where the CPU's vectors hold more lanes: a cohort of
#: at most 8 members runs on 8 lanes on an AVX-512 CPU (a group with idle lanes costs nearly a
#: full one: its per-lane gathers and copies run for every lane; benchmarks/RESULTS.md, "Small
#: cohorts on the native engine"); the numbers are the same bits at any width
NARROW_LANES = 8

_ACTIVATIONS = {"relu": 0, "tanh": 1, "sigmoid": 2, "linear": 3}
_LOSSES = {"categorical_crossentropy": 0, "binary_crossentropy": 1, "mse": 2}


def native_fits(model: Any, dtype: Any = "float32") -> str | None:
    """``None`` if the native engine can train ``model`` in ``dtype``, else why not.

    Example:
        >>> from lrlab.lab.models import MLP
        >>> native_fits(MLP(2, (50,), 3)) is None
        True
        >>> native_fits(MLP(2, (50,), 3), "float64")
        "engine='native' computes in float32, got dtype float64"
    """
    if not isinstance(model, MLP):
        return f"engine='native' trains an MLP, got {type(model).__name__}"
    if np.dtype(dtype) != np.float32:
        return f"engine='native' computes in float32, got dtype {np.dtype(dtype)}"
    if model.n_params > NATIVE_MAX_PARAMS:
        return (
            f"engine='native' takes networks of at most {NATIVE_MAX_PARAMS} parameters, "
            f"got {model.n_params}"
        )
    return None


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class _Worker:
    """A thread that runs one call at a time for the kernel's calls: :meth:`submit`, then
    :meth:`wait`. Two locks hand the call over and back, a shorter round trip than a
    ``ThreadPoolExecutor`` future's, which every step of a cohort on two threads pays.
    ``ctypes`` releases the GIL around the kernel."""

    def __init__(self) -> None:
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._call: Callable[[], Any] = lambda: None
        self._error: BaseException | None = None
        threading.Thread(target=self._loop, name="lrlab-native", daemon=True).start()

    def _loop(self) -> None:
        while True:
            self._go.acquire()
            try:
                self._call()
                self._error = None
            except BaseException as exc:  # handed to wait(), raised in the caller's thread
                self._error = exc
            self._done.release()

    def submit(self, call: Callable[[], Any]) -> None:
        """Start ``call`` on this thread (the last one must have been waited for)."""
        self._call = call
        self._go.release()

    def wait(self) -> BaseException | None:
        """Wait for the call to end; the exception it raised, if any."""
        self._done.acquire()
        return self._error


#: the process's workers, made as more threads are asked for, and the lock that gives one
#: kernel call at a time their use (a second caller at the same moment runs alone)
_WORKERS: list[_Worker] = []
_WORKERS_LOCK = threading.Lock()


def _workers(n: int) -> list[_Worker]:
    """``n`` workers (the caller holds :data:`_WORKERS_LOCK`)."""
    while len(_WORKERS) < n:
        _WORKERS.append(_Worker())
    return _WORKERS[:n]


def in_parallel(calls: list[Callable[[], Any]]) -> None:
    """Run ``calls`` at once: the last on this thread, the others on the process's worker
    threads; all of them here, in turn, where another call holds the workers. Returns when
    every call has ended, and raises the first one's exception, if any."""
    if len(calls) > 1 and _WORKERS_LOCK.acquire(blocking=False):
        started: list[_Worker] = []
        failures: list[BaseException | None] = []
        handed = False
        try:
            for call, worker in zip(calls[:-1], _workers(len(calls) - 1), strict=True):
                worker.submit(call)
                started.append(worker)
            handed = True
            calls[-1]()
        finally:  # no worker goes on with its call (writing the weights) after this returns
            failures = [worker.wait() for worker in started]
            # (a Ctrl-C while the calls were handed out, between a worker's start and its
            # record, or a second one that cuts a wait short, leaves the lock held: the
            # workers' state is then unknown, and later calls run their shares in turn)
            if handed:
                _WORKERS_LOCK.release()
        first = next((f for f in failures if f is not None), None)
        if first is not None:
            raise first
    else:  # one call, or another call holds the workers
        for call in calls:
            call()


class NativeKnob:
    """The native engine's thread count: how many threads share the groups of a call."""

    def __init__(self, engine: NativeEngine) -> None:
        self._engine = engine

    def get(self) -> int:
        return self._engine.threads

    def set(self, n: int) -> None:
        self._engine.threads = n


class NativeEngine(HostWeights):
    """:class:`~lrlab.lab.engine.Engine` on lrlab's C kernel for an
    :class:`~lrlab.lab.models.MLP` of up to :data:`NATIVE_MAX_PARAMS` parameters, float32, and
    the NumPy updates of :mod:`lrlab.lab.optim`.

    Members go through the kernel a group at a time, one per lane of a vector (16 lanes with
    AVX-512, 8 with AVX2, 4 otherwise); a step streams each member's batch through forward
    pass, loss and backward pass four samples at a time, so no ``[C, width, B]`` activation
    tensor is ever written (the cost of the torch and NumPy engines at large cohorts). Each
    lane runs one member's scalar formula in a fixed order, so a member's numbers are the same
    in a cohort of any size, at any place in it, at any thread count and at any vector width
    (``tests/test_lab_native.py``); they agree with the other engines to float32 rounding
    (sums run in another order; exp, log, tanh and sigmoid are the kernel's own, within 2.5
    ulp of the exact values). Losses are summed in float64 and reported rounded to float32, as
    the other engines sum them. The kernel is compiled on first use
    (:func:`~lrlab.lab.engine.native_status`).

    Example:
        >>> import numpy as np
        >>> from lrlab.lab.engine import NativeEngine, native_status, split
        >>> from lrlab.lab.models import MLP
        >>> from lrlab.lab.optim import SGD
        >>> net, f32 = MLP(2, (4,), 2), np.dtype(np.float32)
        >>> x = np.random.default_rng(0).normal(size=(10, 2))
        >>> data = split(x, (x[:, 0] > 0).astype(int), net, f32)
        >>> if native_status() == "available":
        ...     engine = NativeEngine(net, 3, data, None, batch_size=4, dtype=f32)
        ...     engine.init([0, 1, 2], SGD())
        ...     engine.start_epoch(np.arange(10))
        ...     for b in range(engine.steps_per_epoch):
        ...         engine.step(b, np.full(3, 0.1))
        ...     print(engine.epoch_totals()[0].shape)
        ... else:
        ...     print((3,))
        (3,)
    """

    def __init__(
        self,
        model: MLP,
        members: int,
        train: Split,
        test: Split | None,
        *,
        batch_size: int,
        dtype: np.dtype,
    ) -> None:
        problem = native_fits(model, dtype)
        if problem is not None:
            raise ValueError(problem)
        lib = library()
        if lib is None:
            raise RuntimeError(f"engine='native' is not available here: {native_status()}")
        if members <= NARROW_LANES < int(lib.lrlab_lanes()):
            lib = library(lanes=NARROW_LANES) or lib
        for name, part in (("train", train), ("test", test)):
            if part is None:
                continue
            x_ok = part.x.ndim == 2 and part.x.shape[1] == model.n_inputs
            if not x_ok or part.y.shape[1:] != (model.n_outputs,):
                raise ValueError(
                    f"NativeEngine: the {name} split's inputs are {part.x.shape} and targets "
                    f"{part.y.shape}, the model takes {model.n_inputs} inputs and gives "
                    f"{model.n_outputs} outputs"
                )
        self._lib = lib
        self.model, self.members, self.dtype = model, members, np.dtype(dtype)
        self.rows, self.batch_size = train.x.shape[0], batch_size
        self.steps_per_epoch = math.ceil(self.rows / batch_size)
        f32 = np.float32
        self._x = {"train": np.ascontiguousarray(train.x, dtype=f32)}
        self._y = {"train": np.ascontiguousarray(train.y, dtype=f32)}
        if test is not None:
            self._x["test"] = np.ascontiguousarray(test.x, dtype=f32)
            self._y["test"] = np.ascontiguousarray(test.y, dtype=f32)
        sizes = [model.n_inputs, *model.hidden, model.n_outputs]
        self._widths = np.asarray(sizes, dtype=np.int32)  # (kept: the kernel reads it)
        # the network's arguments of every kernel call
        self._net = (
            self._widths.ctypes.data,
            len(sizes) - 1,
            _ACTIVATIONS[model.activation],
            _LOSSES[model.loss],
        )
        self._lanes = int(lib.lrlab_lanes())
        self._groups = -(-members // self._lanes)
        self._cuts_of: Any = None  # the stepper self._cuts cut
        self._cuts: dict[int, list[tuple[int, int, Callable[[np.ndarray], None]]]] = {}
        self._works: dict[int, list[int]] = {}
        self._bounds: dict[int, list[int]] = {}
        self._own: dict[int, tuple[np.ndarray, int]] = {}
        self._coef: tuple[Any, int] = (None, 0)  # the kernel update's coefficients, address
        self.threads = 1
        self._order = np.zeros(0, dtype=np.int64)
        self._stride = 0
        self._loss = np.zeros(members)  # the epoch's summed loss
        self._correct = np.zeros(members)
        self._out = (np.zeros(members), np.zeros(members))
        self._batch_rows = 1  # the last step's batch
        self._remember(*self._x.values(), *self._y.values(), *self._out)

    def _remember(self, *arrays: np.ndarray) -> None:
        """Keep the data addresses of the engine's own arrays: ``ndarray.ctypes`` builds an
        object at every call, several times a step, a share of a small cohort's step."""
        for a in arrays:
            self._own[id(a)] = (a, a.ctypes.data)

    def _addr(self, a: np.ndarray) -> int:
        """``a``'s data address (remembered for the engine's own arrays)."""
        hit = self._own.get(id(a))
        return hit[1] if hit is not None and hit[0] is a else a.ctypes.data

    def init(self, seeds: Sequence[int], optimizer: Any) -> None:
        old = getattr(self, "_update", None)
        kept = [*old.kernel.buffers] if old is not None and old.kernel is not None else []
        for a in (getattr(self, "theta", None), getattr(self, "grad", None), *kept):
            if a is not None:
                self._own.pop(id(a), None)
        super().init(seeds, optimizer)
        self._remember(self.theta, self.grad)
        kernel = self._update.kernel
        if kernel is not None:
            self._remember(*kernel.buffers)

    def _run(
        self,
        theta: np.ndarray,
        grad: np.ndarray | None,
        split: str,
        rows: np.ndarray | None,
        offset: int,
        stride: int,
        count: int,
        out: tuple[np.ndarray, np.ndarray],
        lr: np.ndarray | None = None,
    ) -> None:
        """One kernel call over all groups, shared among :attr:`threads` threads: a step on
        ``count`` rows from ``rows[c * stride + offset]`` (``grad`` given), or a pass over
        the first ``count`` rows of ``split``; summed losses and correct counts into ``out``.
        With ``lr`` (``[C, 1]``), each thread then applies the optimizer's update to its own
        members (:meth:`~lrlab.lab.optim.Stepper.rows`: the rows whose gradient it just
        wrote, still in its cache), and the update is counted once. SGD without dampening and
        Adam without AMSGrad or coupled weight decay
        (:attr:`~lrlab.lab.optim.Stepper.kernel`) are applied by the kernel itself, to each
        group's weights and buffers while they are in its registers' layout: the same bits as
        the NumPy update (a NaN's sign and payload aside), without NumPy's row-by-row loops
        over the ``[C, 1]`` columns."""
        addr = self._addr
        rows_ptr = addr(rows) + 8 * offset if rows is not None else None
        grad_ptr = addr(grad) if grad is not None else None
        inline = self._update.kernel if lr is not None else None
        update: tuple[Any, ...] = (None, None, None, 0)  # (coefficients, buffers, rule)
        if inline is not None:
            coef = inline.coefficients(lr)  # (the same array every step: its address kept)
            if self._coef[0] is not coef:
                self._coef = (coef, coef.ctypes.data)
            update = (self._coef[1], *self._inline_args(inline))
        args = (addr(theta), grad_ptr, *update, self.members, theta.shape[1], *self._net)
        args += (addr(self._x[split]), addr(self._y[split]), rows_ptr, stride, count)
        args += (int(grad is not None),)
        outs = (addr(out[0]), addr(out[1]))
        run, G = self._lib.lrlab_run, self._groups
        parts = min(self.threads, G)
        bounds = self._bounds.get(parts)
        if bounds is None:
            bounds = self._bounds[parts] = [G * k // parts for k in range(parts + 1)]
        work = self._work(parts)
        cuts = self._parts(parts) if lr is not None and inline is None else None
        # the caller's floating-point error handling (the cohort loop ignores a diverging
        # member's overflows) for the updates on the workers' threads, which have their own
        errors = None
        if cuts is not None and parts > 1:
            errors = {**np.geterr(), "call": np.geterrcall()}

        def share(k: int, errors: dict[str, Any] | None = None) -> None:
            # (the work memory is given: the kernel cannot fail)
            run(*args, bounds[k], bounds[k + 1], *outs, work[k])
            if cuts is not None:
                lo, hi, update = cuts[k]
                if errors is None:
                    update(lr[lo:hi])
                else:
                    with np.errstate(**errors):
                        update(lr[lo:hi])

        # (the last share runs on this thread, whose error handling is the caller's)
        calls = [functools.partial(share, k, errors) for k in range(parts - 1)]
        in_parallel([*calls, functools.partial(share, parts - 1)])
        if lr is not None:
            self._update.tick()

    def _inline_args(self, inline: KernelUpdate) -> tuple[int | None, int | None, int]:
        """The kernel's ``buf0``, ``buf1`` and ``rule`` arguments for ``inline``."""
        bufs = [self._addr(b) for b in inline.buffers] + [None, None]
        return (bufs[0], bufs[1], inline.code)

    def _work(self, parts: int) -> list[int]:
        """The addresses of the kernel's work memory for each of ``parts`` threads, 64-byte
        aligned (made once per thread count; parts of one array the engine keeps)."""
        have = self._works.get(parts)
        if have is None:
            floats = int(self._lib.lrlab_work_floats(self.model.n_params, *self._net[:2]))
            stride = -(-floats // 16) * 16  # 64 bytes
            buf = np.empty(parts * stride + 16, dtype=np.float32)
            self._remember(buf)  # (kept: the addresses point into it)
            start = buf.ctypes.data + (-buf.ctypes.data % 64)
            have = [start + 4 * k * stride for k in range(parts)]
            self._works[parts] = have
        return have

    def _parts(self, parts: int) -> list[tuple[int, int, Callable[[np.ndarray], None]]]:
        """The optimizer's update cut by the members of each of ``parts`` threads' groups
        (made once per thread count and optimizer stepper)."""
        if self._cuts_of is not self._update:
            self._cuts_of, self._cuts = self._update, {}
        cuts = self._cuts.get(parts)
        if cuts is None:
            G, L, C = self._groups, self._lanes, self.members
            cuts = []
            for k in range(parts):
                lo, hi = min(C, G * k // parts * L), min(C, G * (k + 1) // parts * L)
                cuts.append((lo, hi, self._update.rows(lo, hi)))
            self._cuts[parts] = cuts
        return cuts

    @contextlib.contextmanager
    def session(self, threads: int | None) -> Iterator[Pacer]:
        """The kernel's threads (:func:`~lrlab.lab.engine._threads.paced`): ``threads``, or
        chosen while training between one and the usable CPUs where :meth:`probe` agrees."""
        self.threads = usable_cpus()
        work = step_work(self.model, self.members, self.batch_size)
        knob = NativeKnob(self)
        key = ("native", repr(self.model), self.members, self.batch_size, self.rows)
        agree = lambda k, counts: counts_agree(k, counts, self.probe, key)  # noqa: E731
        with paced(knob, threads, work, self.steps_per_epoch, agree) as pace:
            yield pace
        self._update.flush()

    def probe(self) -> list[np.ndarray]:
        """A step's gradient, losses and correct counts on copies of the weights (the first
        batch and one of the epoch's last size, shared and one order per member) and each
        split's evaluation: what a thread count could change (nothing, by construction)."""
        theta, grad = self.theta.copy(), np.zeros_like(self.theta)
        out: list[np.ndarray] = []
        sizes = batch_sizes(self.rows, self.batch_size, self.steps_per_epoch)
        shared = np.arange(max(sizes), dtype=np.int64)
        apart = np.repeat(shared[None], self.members, axis=0)  # [C, batch], not [C, N]
        for B in sizes:
            for rows, stride in ((shared, 0), (apart, shared.size)):
                res = (np.zeros(self.members), np.zeros(self.members))
                self._run(theta, grad, "train", rows, 0, stride, B, res)
                out += [grad.copy(), *res]
        for split in self._x:
            out += list(self._pass(theta, split))
        return out

    def start_epoch(self, order: np.ndarray) -> None:
        # the kernel reads the rows these name: a wrong one must be an error, not a read
        # outside the data
        order = np.ascontiguousarray(order, dtype=np.int64)
        N = self.rows
        if order.shape not in ((N,), (self.members, N)) or (
            order.size and (order.min() < 0 or order.max() >= N)
        ):
            raise ValueError(
                f"NativeEngine.start_epoch: order must be [{N}] or [{self.members}, {N}] rows "
                f"in [0, {N}), got shape {order.shape}"
            )
        self._own.pop(id(self._order), None)
        self._order = order
        self._remember(order)
        self._stride = N if order.ndim == 2 else 0
        self._loss[:] = 0
        self._correct[:] = 0

    def step(self, batch: int, lr: np.ndarray) -> None:
        lo, hi = batch * self.batch_size, min(self.rows, (batch + 1) * self.batch_size)
        summed, correct = self._out
        order, stride, out = self._order, self._stride, self._out
        self._run(self.theta, self.grad, "train", order, lo, stride, hi - lo, out, lr[:, None])
        self._batch_rows = hi - lo  # (its mean loss: when batch_loss() asks)
        self._loss += summed
        self._correct += correct

    def batch_loss(self) -> np.ndarray:
        return _float32(self._out[0]) / self._batch_rows

    def epoch_totals(self) -> tuple[np.ndarray, np.ndarray]:
        self._update.flush()
        return _float32(self._loss), self._correct.copy()

    def _pass(self, theta: np.ndarray, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy of every member over all rows of ``split``."""
        n = self._x[split].shape[0]
        out = (np.zeros(self.members), np.zeros(self.members))
        self._run(theta, None, split, None, 0, 0, n, out)
        return _float32(out[0]) / n, out[1] / n

    def evaluate(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        return self._pass(self.theta, split)


def _float32(sums: np.ndarray) -> np.ndarray:
    """Loss sums (the kernel adds them in float64) rounded to float32, as the other engines
    sum them: a sum beyond float32's range is inf there too, so a diverging member is seen at
    the same epoch."""
    with np.errstate(over="ignore"):
        return sums.astype(np.float32).astype(np.float64)


def _forget_workers() -> None:
    """In a forked child: the workers' threads did not come along (and the lock may have been
    held by one that did not), so both are made anew."""
    global _WORKERS_LOCK
    _WORKERS.clear()
    _WORKERS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # (POSIX; Windows does not fork)
    os.register_at_fork(after_in_child=_forget_workers)
