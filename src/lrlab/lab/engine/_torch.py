"""The torch engine: any device, an :class:`~lrlab.lab.models.MLP` through the fused kernel or
a :class:`~lrlab.lab.models.TorchModule` through ``torch.func``."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ..models import MLP, TorchModule
from ._choice import SMALL_WORK, check_threads, step_work
from ._protocol import Split, batch_sizes, initial_params
from ._threads import Pacer, TorchKnob, counts_agree, paced
from ._torch_kernels import TorchFuncKernel, TorchMLPKernel, loss_and_grad

#: the largest epoch of logits ``[C, K, N]`` the torch engine keeps to compute the training
#: loss and accuracy in one pass at the epoch's end (larger: per step, as the memory grows
#: with the training split)
EPOCH_LOGITS_BYTES = 2**26

TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


class TorchEngine:
    """:class:`~lrlab.lab.engine.Engine` on the torch kernels and the tensor updates of
    :mod:`lrlab.lab.optim`.

    An :class:`~lrlab.lab.models.MLP` whose epoch of logits fits :data:`EPOCH_LOGITS_BYTES`
    keeps them and computes the epoch's training loss and accuracy in one pass at its end; a
    larger one, or a :class:`~lrlab.lab.models.TorchModule`, sums them step by step.

    Example:
        >>> import numpy as np
        >>> from lrlab.lab.engine import TorchEngine, split
        >>> from lrlab.lab.models import MLP
        >>> from lrlab.lab.optim import SGD
        >>> net, f64 = MLP(2, (4,), 2), np.dtype(np.float64)
        >>> x = np.random.default_rng(0).normal(size=(10, 2))
        >>> data = split(x, (x[:, 0] > 0).astype(int), net, f64)
        >>> engine = TorchEngine(net, 3, data, None, batch_size=4, dtype=f64)
        >>> engine.init([0, 1, 2], SGD())
        >>> engine.start_epoch(np.arange(10))
        >>> for b in range(engine.steps_per_epoch):
        ...     engine.step(b, np.full(3, 0.1))
        >>> engine.epoch_totals()[0].shape
        (3,)
    """

    def __init__(
        self,
        model: MLP | TorchModule,
        members: int,
        train: Split,
        test: Split | None,
        *,
        batch_size: int,
        dtype: np.dtype,
        device: str | torch.device | None = None,
    ) -> None:
        self.model, self.members, self.dtype = model, members, np.dtype(dtype)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.rows, self.batch_size = train.x.shape[0], batch_size
        self.steps_per_epoch = math.ceil(self.rows / batch_size)
        dt = TORCH_DTYPES[self.dtype]

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, device=self.device)

        self._x = {"train": tensor(train.x)}
        self._y = {"train": tensor(train.y)}  # [N, K]
        self._yt = {"train": self._y["train"].T}
        if test is not None:
            self._x["test"], self._yt["test"] = tensor(test.x), tensor(test.y).T
        size = torch.empty((), dtype=dt).element_size()
        small = members * model.n_outputs * self.rows * size <= EPOCH_LOGITS_BYTES
        # the fused MLP keeps an epoch's logits and computes its training metrics in one pass,
        # when they are small; otherwise each step computes its own
        self._logits = (
            torch.empty((members, model.n_outputs, self.rows), dtype=dt, device=self.device)
            if isinstance(model, MLP) and small
            else None
        )
        self._loss = torch.zeros(members, dtype=dt, device=self.device)
        self._correct = torch.zeros(members, dtype=dt, device=self.device)
        self._batch_loss = torch.zeros(members, dtype=dt, device=self.device)
        self._apart = False  # whether this epoch's order is one per member
        self._batch = (0, 0)

    def init(self, seeds: Sequence[int], optimizer: Any) -> None:
        dt = TORCH_DTYPES[self.dtype]
        if isinstance(self.model, MLP):
            self.kernel: TorchMLPKernel | TorchFuncKernel = TorchMLPKernel(self.model)
            rows = initial_params(self.model, seeds, self.dtype)
            self.theta = torch.as_tensor(rows, device=self.device).contiguous()
        else:
            self.kernel = TorchFuncKernel(self.model, seeds)
            self.theta = self.kernel.init_params(seeds, self.device, dt)
        self.grad = torch.zeros_like(self.theta)
        self.state = optimizer.init(self.theta)
        self._update = optimizer.stepper(self.theta, self.grad, self.state)

    @contextlib.contextmanager
    def session(self, threads: int | None) -> Iterator[Pacer]:
        """torch's CPU threads (:func:`~lrlab.lab.engine._threads.paced`): ``threads``, or, for
        an MLP on the CPU, chosen while training where :meth:`probe` agrees at each count."""
        work = step_work(self.model, self.members, self.batch_size)
        knob = TorchKnob()
        mlp = isinstance(self.kernel, TorchMLPKernel) and self.device.type == "cpu"
        key = self._probe_key() if mlp else None
        agree = (lambda k, counts: counts_agree(k, counts, self.probe, key)) if mlp else None
        with paced(knob, threads, work, self.steps_per_epoch, agree) as pace:
            yield pace
        self._update.flush()

    def _probe_key(self) -> tuple[Any, ...]:
        """What :meth:`probe`'s operations depend on: the engine, network, sizes and dtype."""
        rows = tuple(x.shape[0] for x in self._x.values())
        return ("torch", repr(self.model), self.members, self.batch_size, rows, self.dtype)

    def probe(self) -> list[torch.Tensor]:
        """What the thread counts could change, computed on a copy of the weights (nothing of
        the engine's state changes): an MLP step's gradient and metrics on the first batch and
        on a batch of the epoch's last size (per step, into an epoch of logits, one batch per
        member) and each split's evaluation."""
        assert isinstance(self.kernel, TorchMLPKernel)
        C = self.members
        out: list[torch.Tensor] = []
        with torch.no_grad():
            theta, grad = self.theta.clone(), torch.zeros_like(self.theta)
            for B in batch_sizes(self.rows, self.batch_size, self.steps_per_epoch):
                xb, yt = self._x["train"][:B], self._y["train"][:B].T
                first = self.kernel.step(theta, grad, xb, yt)
                assert first is not None
                out += [*first, grad.clone()]
                shape = (C, yt.shape[0], B)
                logits = torch.empty(shape, dtype=theta.dtype, device=theta.device)
                self.kernel.step(theta, grad, xb, yt, logits)
                out += [logits, grad.clone()]
                xc = xb.expand(C, *xb.shape).contiguous()
                yc = yt.expand(C, *yt.shape).contiguous()
                out += [*self.kernel.step_apart(theta, grad, xc, yc), grad.clone()]
            for split in self._x:
                out += list(self.kernel.evaluate(theta, self._x[split], self._yt[split]))
        return out

    def start_epoch(self, order: np.ndarray) -> None:
        """The epoch's rows in ``order``: ``[N]`` for all members, or ``[C, N]``, one order per
        member (then each step gathers each member's batch and the kernel's ``step_apart``
        trains every member on its own in one batched call: batched matmuls for an MLP, a
        vmap over the members' rows for a torch module; metrics per step)."""
        self._apart = order.ndim == 2
        index = torch.as_tensor(order).to(self.device)
        if self._apart:  # each step gathers its batch of rows per member: [C, B, D], not [C, N, D]
            self._order = index
        else:
            self._epoch_x = self._x["train"][index]  # [N, D]
            self._epoch_y = self._y["train"][index]
        self._loss.zero_()
        self._correct.zero_()

    def step(self, batch: int, lr: np.ndarray) -> None:
        lo, hi = batch * self.batch_size, min(self.rows, (batch + 1) * self.batch_size)
        column = torch.from_numpy(lr).to(self.device).unsqueeze(1)
        self._batch = (lo, hi)
        with torch.no_grad():
            if self._apart:  # each member its own rows: [C, B, D] and [C, K, B]
                rows = self._order[:, lo:hi]
                xb, yt = self._x["train"][rows], self._y["train"][rows].transpose(1, 2)
                loss, correct = self.kernel.step_apart(self.theta, self.grad, xb, yt)
                self._batch_loss.copy_(loss)
                self._loss.add_(loss, alpha=hi - lo)
                self._correct.add_(correct)
            elif self._logits is not None:
                assert isinstance(self.kernel, TorchMLPKernel)
                xb, yt = self._epoch_x[lo:hi], self._epoch_y[lo:hi].T
                self.kernel.step(self.theta, self.grad, xb, yt, self._logits[:, :, lo:hi])
            else:
                xb, yt = self._epoch_x[lo:hi], self._epoch_y[lo:hi].T
                loss, correct = self.kernel.step(self.theta, self.grad, xb, yt)
                self._batch_loss.copy_(loss)
                self._loss.add_(loss, alpha=hi - lo)
                self._correct.add_(correct)
            self._update(column)

    def batch_loss(self) -> np.ndarray:
        if self._logits is not None and not self._apart:
            lo, hi = self._batch
            with torch.no_grad():
                yt = self._epoch_y[lo:hi].T
                loss = loss_and_grad(self._logits[:, :, lo:hi], yt, self.model.loss, False)[0]
            return _host(loss)
        return _host(self._batch_loss)

    def epoch_totals(self) -> tuple[np.ndarray, np.ndarray]:
        self._update.flush()
        if self._logits is None or self._apart:
            return _host(self._loss), _host(self._correct)
        with torch.no_grad():
            mean, correct, _ = loss_and_grad(
                self._logits, self._epoch_y.T, self.model.loss, want_grad=False
            )
        return _host(mean) * self.rows, _host(correct)

    def evaluate(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            loss, accuracy = self.kernel.evaluate(self.theta, self._x[split], self._yt[split])
        return _host(loss), _host(accuracy)

    def finite(self) -> np.ndarray:
        # a row's sum is finite iff all its elements are, unless the sum overflows: the sum is
        # one pass without temporaries (20x faster than isfinite(...).all on wide cohorts), and
        # the rows whose sum is not finite get the element-wise check
        sums = self.theta.sum(dim=1)
        ok = torch.isfinite(sums)
        if not bool(ok.all()):
            rows = torch.nonzero(~ok).flatten()
            ok[rows] = torch.isfinite(self.theta[rows]).all(dim=1)
        return ok.cpu().numpy()

    def freeze(self, mask: np.ndarray) -> None:
        rows = torch.as_tensor(np.nonzero(mask)[0], device=self.device)
        for t in (self.theta, self.grad, *self.state.values()):
            if t.dim() == 2 and t.is_floating_point():
                t.index_fill_(0, rows, 0.0)

    def params(self, members: np.ndarray | None = None) -> np.ndarray:
        theta = self.theta.detach()
        if members is not None:
            theta = theta[torch.as_tensor(np.flatnonzero(members), device=self.device)]
        return theta.cpu().double().numpy()

    def load_params(self, members: np.ndarray, rows: np.ndarray) -> None:
        index = torch.as_tensor(np.flatnonzero(members), device=self.device)
        values = torch.as_tensor(np.asarray(rows), device=self.device).to(self.theta.dtype)
        with torch.no_grad():
            self.theta.index_copy_(0, index, values)  # in place: the kernels hold views of it


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
    check_threads(threads)
    want = threads if threads is not None else (1 if work < SMALL_WORK else None)
    before = torch.get_num_threads()
    if want is not None and want != before:
        torch.set_num_threads(want)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _host(v: torch.Tensor) -> np.ndarray:
    """A tensor as a float64 NumPy array on the host."""
    return v.detach().cpu().numpy().astype(np.float64)
