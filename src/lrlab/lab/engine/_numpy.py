"""The NumPy engine: an :class:`~lrlab.lab.models.MLP` cohort on the CPU with NumPy alone."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..models import MLP
from ._choice import step_work
from ._numpy_kernels import NumpyMLPKernel, Tally
from ._protocol import Split, batch_sizes, initial_params
from ._threads import BlasKnob, Pacer, counts_agree, paced


class HostWeights:
    """The part of an engine that keeps a cohort's weights ``theta [C, P]``, their gradient and
    the optimizer's state as NumPy arrays on the host: initialisation, the divergence check,
    freezing, and the weights in and out. :class:`NumpyEngine` and the native engine share it."""

    model: MLP
    members: int
    dtype: np.dtype

    def init(self, seeds: Sequence[int], optimizer: Any) -> None:
        self.theta = initial_params(self.model, seeds, self.dtype)
        self.grad = np.zeros_like(self.theta)
        self.state = optimizer.init(self.theta)
        self._update = optimizer.stepper(self.theta, self.grad, self.state)

    def finite(self) -> np.ndarray:
        # a row's sum is finite iff all its elements are, unless the sum overflows: one pass
        # without a boolean temporary, then the element-wise check for the rows it flags
        with np.errstate(over="ignore", invalid="ignore"):
            ok = np.isfinite(self.theta.sum(axis=1))
        if not ok.all():
            rows = np.flatnonzero(~ok)
            ok[rows] = np.isfinite(self.theta[rows]).all(axis=1)
        return ok

    def freeze(self, mask: np.ndarray) -> None:
        for a in (self.theta, self.grad, *self.state.values()):
            if a.ndim == 2:
                a[mask] = 0

    def params(self, members: np.ndarray | None = None) -> np.ndarray:
        theta = self.theta if members is None else self.theta[members]
        return theta.astype(np.float64)

    def load_params(self, members: np.ndarray, rows: np.ndarray) -> None:
        self.theta[members] = rows  # in place: the kernels and the optimizer hold views of it


class NumpyEngine(HostWeights):
    """:class:`~lrlab.lab.engine.Engine` on :class:`NumpyMLPKernel` and the NumPy updates of
    :mod:`lrlab.lab.optim`: torch is not imported.

    Inputs are kept feature-major with a row of ones, ``[D + 1, N]`` (see
    :meth:`NumpyMLPKernel.inputs`); an epoch's loss and accuracy are recorded step by step in a
    :class:`Tally` and summed once. With one order per member (``order`` of shape ``[C, N]``)
    each step gathers each member's batch, ``[C, D + 1, B]`` (memory for a batch of rows per
    member, not the whole split), and the kernel multiplies each member's weights by its own
    batch (batched matmuls, one call for the cohort).

    Example:
        >>> import numpy as np
        >>> from lrlab.lab.engine import NumpyEngine, split
        >>> from lrlab.lab.models import MLP
        >>> from lrlab.lab.optim import SGD
        >>> net, f64 = MLP(2, (4,), 2), np.dtype(np.float64)
        >>> x = np.random.default_rng(0).normal(size=(10, 2))
        >>> data = split(x, (x[:, 0] > 0).astype(int), net, f64)
        >>> engine = NumpyEngine(net, 3, data, None, batch_size=4, dtype=f64)
        >>> engine.init([0, 1, 2], SGD())
        >>> engine.start_epoch(np.arange(10))
        >>> for b in range(engine.steps_per_epoch):
        ...     engine.step(b, np.full(3, 0.1))
        >>> engine.epoch_totals()[0].shape, engine.evaluate("train")[1].shape
        ((3,), (3,))
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
        self.model, self.members, self.dtype = model, members, np.dtype(dtype)
        self.kernel = NumpyMLPKernel(model)
        self.rows, self.batch_size = train.x.shape[0], batch_size
        self.steps_per_epoch = math.ceil(self.rows / batch_size)
        self._x = {"train": NumpyMLPKernel.inputs(train.x)}
        self._y = {"train": np.ascontiguousarray(train.y.T)}
        if test is not None:
            self._x["test"] = NumpyMLPKernel.inputs(test.x)
            self._y["test"] = np.ascontiguousarray(test.y.T)
        self._epoch_x = np.empty_like(self._x["train"])  # the epoch's shuffled columns
        self._epoch_y = self._y["train"]
        self._order = np.empty((0, 0), dtype=np.int64)  # one order per member: [C, N]
        self._member_x: dict[int, np.ndarray] = {}  # a batch of each member's rows, per size
        self._apart = False  # whether this epoch's order is one per member
        self._batch = 0

    def _tally(self, members: int) -> Tally:
        """An epoch's tally: every epoch overwrites all that it reads, so one serves them all."""
        S, B, N = self.steps_per_epoch, self.batch_size, self.rows
        return Tally(S, members, min(B, N), N - (S - 1) * B, self.dtype, self.model.loss)

    def init(self, seeds: Sequence[int], optimizer: Any) -> None:
        super().init(seeds, optimizer)
        self._shared_tally = [self._tally(self.members)]
        self._tallies = self._shared_tally

    @contextlib.contextmanager
    def session(self, threads: int | None) -> Iterator[Pacer]:
        """BLAS threads (:func:`~lrlab.lab.engine._threads.paced`): ``threads``, or chosen
        while training where :meth:`probe` agrees at each count."""
        work = step_work(self.model, self.members, self.batch_size)
        knob = BlasKnob.find()
        agree = lambda k, counts: counts_agree(k, counts, self.probe, self._probe_key())  # noqa: E731
        with paced(knob, threads, work, self.steps_per_epoch, agree) as pace:
            yield pace
        self._update.flush()

    def _probe_key(self) -> tuple[Any, ...]:
        """What :meth:`probe`'s operations depend on: the engine, network, sizes and dtype."""
        rows = tuple(x.shape[1] for x in self._x.values())
        return ("numpy", repr(self.model), self.members, self.batch_size, rows, self.dtype)

    def probe(self) -> list[np.ndarray]:
        """What the thread counts could change, computed on a copy of the weights (nothing of
        the engine's state changes): a step's gradient, loss and correct counts on the first
        batch and on a batch of the epoch's last size (BLAS may split them differently), shared
        and one batch per member, and the evaluation of each split."""
        C = self.members
        theta, grad = self.theta.copy(), np.zeros_like(self.theta)
        out: list[np.ndarray] = []
        for B in batch_sizes(self.rows, self.batch_size, self.steps_per_epoch):
            xa = np.ascontiguousarray(self._x["train"][:, :B])
            yt = np.ascontiguousarray(self._y["train"][:, :B])
            for x, y in ((xa, yt), (np.repeat(xa[None], C, 0), np.repeat(yt[None], C, 0))):
                result = self.kernel.step(theta, grad, x, y)
                assert result is not None
                out += [grad.copy(), *result]
        for split in self._x:
            out += list(self.kernel.evaluate(theta, self._x[split], self._y[split]))
        return out

    def start_epoch(self, order: np.ndarray) -> None:
        self._apart = order.ndim == 2
        if not self._apart:
            np.take(self._x["train"], order, axis=1, out=self._epoch_x)
            self._epoch_y = self._y["train"][:, order]
            self._tallies = self._shared_tally
            return
        self._order = order  # each step gathers its batch: [C, B] rows, not [C, N]
        self._tallies = self._shared_tally

    def step(self, batch: int, lr: np.ndarray) -> None:
        lo, hi = batch * self.batch_size, min(self.rows, (batch + 1) * self.batch_size)
        if not self._apart:
            xb, yb = self._epoch_x[:, lo:hi], self._epoch_y[:, lo:hi]
        else:  # [C, D + 1, B] and [C, K, B]: the kernel runs each member on its own rows
            rows = self._order[:, lo:hi]
            xb = self._member_x.get(hi - lo)
            if xb is None:
                xb = self._member_x[hi - lo] = np.empty(
                    (self.members, self._x["train"].shape[0], hi - lo), self.dtype
                )
            np.take(self._x["train"], rows, axis=1, out=xb.transpose(1, 0, 2))
            yb = self._y["train"][:, rows].transpose(1, 0, 2)
        self.kernel.step(self.theta, self.grad, xb, yb, self._tallies[0], batch)
        self._update(lr[:, None])
        self._batch = batch

    def batch_loss(self) -> np.ndarray:
        return np.concatenate([t.step_loss(self._batch) for t in self._tallies])

    def epoch_totals(self) -> tuple[np.ndarray, np.ndarray]:
        self._update.flush()
        totals = [t.totals() for t in self._tallies]
        return np.concatenate([t[0] for t in totals]), np.concatenate([t[1] for t in totals])

    def evaluate(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        return self.kernel.evaluate(self.theta, self._x[split], self._y[split])
