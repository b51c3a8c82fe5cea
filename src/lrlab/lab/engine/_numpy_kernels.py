"""The NumPy kernels of population training: C models' forward and backward in one pass.

A cohort of a few MLPs on a small problem does tiny operations: at C=8 on the blobs network one
step is about 22 array operations on a few thousand numbers each. Their cost is the call, not the
arithmetic, and a NumPy call costs a fraction of a torch call on the CPU: the blobs study at
C=8 takes 34 ms per configuration here against 78 ms on the torch engine
(``benchmarks/population.py`` times both engines, and :func:`~lrlab.lab.engine.auto_engine`
picks by it). :class:`NumpyMLPKernel` is the torch kernel's forward and backward written in
NumPy, and the optimizers of :mod:`lrlab.lab.optim` update its NumPy arrays with NumPy: this
engine needs NumPy alone.

The arithmetic is the torch engine's: feature-major activations (hidden ``[C, width, B]``,
logits ``[C, K, B]``), the first layer as one matmul over the stacked members, the loss gradient
of the batch mean. The two engines agree to rounding (float64 tests), not bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..models import MLP

EVAL_CHUNK_BYTES = 2**20  # per evaluated hidden layer: stays in cache

#: the true class's logit of ``z [C, K, B]`` for targets ``[K, B]`` (shared by the members) or
#: ``[C, K, B]`` (each member its own rows)
_PICK = {2: "ckb,kb->cb", 3: "ckb,ckb->cb"}

#: inputs from which layer 1 multiplies each member's weights where they lie, instead of
#: copying them with the bias into one matrix for a single matmul (both engines)
WIDE_INPUT = 16


class NumpyMLPKernel:
    """Fused forward/backward for C stacked :class:`MLP` members, in NumPy (CPU only)."""

    def __init__(self, model: MLP) -> None:
        self.model = model
        self.slots = model.slots()
        self._views_of: dict[int, tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]] = {}
        self._scratch: dict[tuple[Any, ...], np.ndarray] = {}
        self._steps: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray, Any]] = {}

    def _views(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        hit = self._views_of.get(id(theta))
        if hit is not None and hit[0] is theta:
            return hit[1]
        C = theta.shape[0]
        views = []
        for k in range(0, len(self.slots), 2):
            (_, wo, wshape), (_, bo, bshape) = self.slots[k], self.slots[k + 1]
            w = theta[:, wo : wo + wshape[0] * wshape[1]].reshape(C, *wshape)
            views.append((w, theta[:, bo : bo + bshape[0]]))
        if len(self._views_of) >= 2:
            self._views_of.pop(next(iter(self._views_of)))
        self._views_of[id(theta)] = (theta, views)
        return views

    def _buf(self, key: tuple[Any, ...], shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A scratch array kept between calls.

        Arrays above glibc's mmap threshold (128 KiB) come back as fresh pages on every
        allocation, and the page faults cost more than the arithmetic (at C=32 they made an
        epoch's evaluation 4x slower); the shapes here repeat every step.
        """
        full = (key, shape, dtype)
        a = self._scratch.get(full)
        if a is None:
            if len(self._scratch) > 64:
                self._scratch.clear()
            a = self._scratch[full] = np.empty(shape, dtype=dtype)
        return a

    def _act(self, z: np.ndarray) -> None:
        """The hidden activation, in place."""
        a = self.model.activation
        if a == "relu":
            # -inf -> 0 and NaN stays NaN, as torch's relu: z * (z > 0) would turn an
            # overflowed -inf into NaN and mark a finite member diverged
            np.maximum(z, 0, out=z)
        elif a == "tanh":
            np.tanh(z, out=z)
        elif a == "sigmoid":
            np.negative(z, out=z)
            np.exp(z, out=z)
            z += 1
            np.reciprocal(z, out=z)

    def _act_grad(self, da: np.ndarray, a: np.ndarray) -> None:
        """``da`` times the derivative of a tanh/sigmoid/linear activation whose output is
        ``a``, in place (relu's, a multiply by its mask, is in the bound step)."""
        kind = self.model.activation
        if kind == "tanh":
            da *= 1 - a * a
        elif kind == "sigmoid":
            da *= a * (1 - a)

    @staticmethod
    def inputs(x: np.ndarray) -> np.ndarray:
        """Input rows ``x [N, D]`` as the engine takes them: ``[D + 1, N]``, a row of ones last.

        The ones row carries the first layer's bias through its matmul (a separate broadcast
        add over the ``[C, width, B]`` hidden layer cost twice the matmul itself).
        """
        xa = np.empty((x.shape[1] + 1, x.shape[0]), dtype=x.dtype)
        xa[:-1] = x.T
        xa[-1] = 1
        return xa

    def forward(
        self, theta: np.ndarray, xa: np.ndarray, layers: list[Any] | None = None
    ) -> list[np.ndarray]:
        """Activations ``[xa, a1, ..., z]`` for inputs ``xa [D + 1, B]`` (see :meth:`inputs`;
        ``z`` is ``[C, K, B]``), for evaluation. The arrays are scratch space that the next call
        overwrites; training runs the same arithmetic in :meth:`_bind`'s step."""
        C = theta.shape[0]
        layers = self._views(theta) if layers is None else layers
        w1, b1 = layers[0]
        o, d = w1.shape[1], w1.shape[2]
        n, dt = xa.shape[1], w1.dtype
        h = self._buf(("h", 0), (C * o, n), dt)
        if d < WIDE_INPUT:
            # the member-major weights are strided: copy them, with the bias as one more
            # column, into one contiguous matrix so that layer 1 of every member is one matmul
            wa = self._buf(("wa",), (C * o, d + 1), dt)
            w3 = wa.reshape(C, o, d + 1)
            np.copyto(w3[:, :, :d], w1)
            np.copyto(w3[:, :, d], b1)
            h = np.matmul(wa, xa, out=h).reshape(C, o, n)
        else:  # see _bind
            h = np.matmul(w1, xa[:d], out=h.reshape(C, o, n))
            h += b1[:, :, None]
        acts = [xa]
        for k, (w, b) in enumerate(layers[1:], start=1):
            self._act(h)
            acts.append(h)
            h = np.matmul(w, h, out=self._buf(("h", k), (C, w.shape[1], n), dt))
            h += b[:, :, None]
        acts.append(h)
        return acts

    def step(
        self,
        theta: np.ndarray,
        grad: np.ndarray,
        xa: np.ndarray,
        yt: np.ndarray,
        tally: Tally | None = None,
        b: int = 0,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Write the gradient of the batch ``xa [D + 1, B]`` (:meth:`inputs`), ``yt [K, B]``
        into ``grad``; return the loss and correct counts ``[C]``, or, given a
        :class:`Tally`, record what they need as the epoch's step ``b``. With ``xa
        [C, D + 1, B]`` and ``yt [C, K, B]`` each member trains on its own batch (one order per
        member), through the same calls batched over the members."""
        run = self._bound(theta, grad, xa.shape[-1])
        if tally is not None:
            run(xa, yt, tally.record, b)
            return None
        out: list[tuple[np.ndarray, np.ndarray]] = []

        def record(_: int, z: np.ndarray, yt: np.ndarray) -> np.ndarray:
            loss, correct, dz = loss_and_grad(z, yt, self.model.loss)
            out.append((loss, correct))
            return dz

        run(xa, yt, record, b)
        return out[0]

    def _bound(
        self, theta: np.ndarray, grad: np.ndarray, rows: int
    ) -> Callable[[np.ndarray, np.ndarray, Callable[..., np.ndarray], int], None]:
        """The step for ``theta``/``grad`` and batches of ``rows`` rows, with every view and
        scratch array bound once: at C=8 the Python around the ~22 array operations of a step
        costs as much as they do, and binding removes most of it."""
        key = (id(theta), id(grad), rows)
        hit = self._steps.get(key)
        if hit is not None and hit[0] is theta and hit[1] is grad:
            return hit[2]
        fn = self._bind(theta, grad, rows)
        if len(self._steps) >= 4:
            self._steps.pop(next(iter(self._steps)))
        self._steps[key] = (theta, grad, fn)
        return fn

    def _bind(
        self, theta: np.ndarray, grad: np.ndarray, rows: int
    ) -> Callable[[np.ndarray, np.ndarray, Callable[..., np.ndarray], int], None]:
        layers, glayers = self._views(theta), self._views(grad)
        C, dt, B = theta.shape[0], theta.dtype, rows
        (w1, b1), (gw1, gb1) = layers[0], glayers[0]
        o, d = w1.shape[1], w1.shape[2]
        wa = np.empty((C * o, d + 1), dtype=dt)
        w3 = wa.reshape(C, o, d + 1)
        wa_w, wa_b = w3[:, :, :d], w3[:, :, d]
        h1 = np.empty((C * o, B), dtype=dt)
        outs = [h1.reshape(C, o, B)]  # each layer's output; activations are applied in place
        for w, _ in layers[1:]:
            outs.append(np.empty((C, w.shape[1], B), dtype=dt))
        hidden = outs[:-1]
        z = outs[-1]
        relu = self.model.activation == "relu"
        masks = [np.empty_like(h) for h in hidden] if relu else [None] * len(hidden)
        das = [np.empty_like(h) for h in hidden]
        hidden_t = [h.transpose(0, 2, 1) for h in hidden]
        upper = [(w, b[:, :, None], w.transpose(0, 2, 1)) for w, b in layers[1:]]
        g1 = np.empty((C, o, d + 1), dtype=dt)
        g1_w, g1_b = g1[:, :, :d], g1[:, :, d]
        ones = np.ones(B, dtype=dt)
        matmul, copyto, greater, multiply, add, maximum = (
            np.matmul,
            np.copyto,
            np.greater,
            np.multiply,
            np.add,
            np.maximum,
        )
        act, act_grad = self._act, self._act_grad
        n_hidden = len(hidden)
        backward = list(range(n_hidden - 1, -1, -1))

        # few inputs (d < WIDE_INPUT): copy W1 with its bias into one matrix and run layer 1 as
        # a single matmul over all members; many inputs: one matmul per member straight on
        # the weights, since the copies of W1 and its gradient would cost more than they save
        fold = d < WIDE_INPUT
        b1_3, h3 = b1[:, :, None], outs[0]

        def step(xa: np.ndarray, yt: np.ndarray, record: Callable[..., np.ndarray], b: int) -> None:
            # xa [D + 1, B] and yt [K, B] shared by the members, or [C, D + 1, B] and [C, K, B]
            if fold:
                copyto(wa_w, w1)
                copyto(wa_b, b1)
                if xa.ndim == 2:
                    matmul(wa, xa, out=h1)
                else:
                    matmul(w3, xa, out=h3)
            else:
                matmul(w1, xa[..., :d, :], out=h3)
                add(h3, b1_3, out=h3)
            for j in range(n_hidden):
                h = hidden[j]
                if relu:
                    mask = masks[j]
                    greater(h, 0, out=mask, casting="unsafe")
                    maximum(h, 0, out=h)  # see _act
                else:
                    act(h)
                w, bias, _ = upper[j]
                nxt = outs[j + 1]
                matmul(w, h, out=nxt)
                add(nxt, bias, out=nxt)
            dz = record(b, z, yt)
            for j in backward:
                gw, gb = glayers[j + 1]
                matmul(dz, ones, out=gb)
                matmul(dz, hidden_t[j], out=gw)
                da = das[j]
                matmul(upper[j][2], dz, out=da)
                if relu:
                    multiply(da, masks[j], out=da)
                else:
                    act_grad(da, hidden[j])
                dz = da
            xt = xa.swapaxes(-1, -2)  # [B, D + 1], or [C, B, D + 1]
            if fold:  # layer 1: weights and bias together, [C, o, B] @ [B, D + 1]
                matmul(dz, xt, out=g1)
                copyto(gw1, g1_w)
                copyto(gb1, g1_b)
            else:
                matmul(dz, xt[..., :d], out=gw1)
                matmul(dz, ones, out=gb1)

        return step

    def evaluate(
        self, theta: np.ndarray, x: np.ndarray, yt: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss ``[C]`` and accuracy ``[C]`` over all columns of ``x [D + 1, N]``
        (:meth:`inputs`), members in chunks."""
        C, N = theta.shape[0], x.shape[1]
        width = max([*self.model.hidden, self.model.n_outputs])
        chunk = max(1, EVAL_CHUNK_BYTES // max(1, width * N * theta.itemsize))
        chunk = -(-C // -(-C // chunk))  # equal chunks: one set of scratch shapes
        losses, accs = [], []
        for lo in range(0, C, chunk):
            part = theta[lo : lo + chunk]
            z = self.forward(part, x)[-1]
            loss, correct, _ = loss_and_grad(z, yt, self.model.loss, want_grad=False)
            losses.append(loss)
            accs.append(correct / N)
        return np.concatenate(losses), np.concatenate(accs)


class Tally:
    """One epoch's training loss and accuracy, recorded step by step and summed once.

    For the categorical loss a step records only what its gradient computes anyway (each
    example's largest logit, the sum of the shifted exponentials, the true class's logit), so
    the loss ``m + log(s) - z_true`` and the accuracy ``z_true >= m`` cost nothing per step;
    the other losses record each step's per-member sums.

    Args:
        steps: updates in the epoch; ``batch``: rows of a full batch; ``last``: rows of the
        epoch's last batch; ``members``: C; ``loss``: the model's loss.
    """

    def __init__(
        self, steps: int, members: int, batch: int, last: int, dtype: np.dtype, loss: str
    ) -> None:
        self.loss = loss
        self.B = batch
        if loss == "categorical_crossentropy":
            # padding (beyond the last batch's rows) stays m = 0, s = 1, z_true = 0: it adds
            # exactly 0 + log 1 - 0 = 0 to the loss, and counts as correct (0 >= 0), which
            # totals() takes off as a whole number
            shape = (steps, members, batch)
            self.m = np.zeros(shape, dtype=dtype)
            self.s = np.ones(shape, dtype=dtype)
            self.picked = np.zeros(shape, dtype=dtype)
            self.padding = batch - last
            self._views = []  # step b's slices, made once: the step is short enough to notice
            for b in range(steps):
                n = last if b == steps - 1 else batch
                m, s = self.m[b, :, :n], self.s[b, :, :n]
                inv = np.asarray(1.0 / n, dtype=dtype)
                self._views.append((m, m[:, None, :], self.picked[b, :, :n], s, s[:, None, :], inv))
        else:
            self.sums = np.zeros((steps, members), dtype=dtype)
            self.correct = np.zeros((steps, members), dtype=dtype)
            self.sizes = [last if b == steps - 1 else batch for b in range(steps)]

    def record(self, b: int, z: np.ndarray, yt: np.ndarray) -> np.ndarray:
        """Step ``b``'s gradient of the batch-mean loss (``z`` overwritten), its loss recorded."""
        if self.loss != "categorical_crossentropy":
            per_mean, correct, grad = loss_and_grad(z, yt, self.loss)
            n = z.shape[-1]
            np.multiply(per_mean, n, out=self.sums[b])
            self.correct[b] = correct
            return grad
        m, m3, picked, s, s3, inv = self._views[b]
        np.maximum.reduce(z, axis=1, out=m)
        np.einsum(_PICK[yt.ndim], z, yt, out=picked)
        np.subtract(z, m3, out=z)
        np.exp(z, out=z)
        np.add.reduce(z, axis=1, out=s)
        np.divide(z, s3, out=z)
        np.subtract(z, yt, out=z)
        np.multiply(z, inv, out=z)
        return z

    def step_loss(self, b: int) -> np.ndarray:
        """Step ``b``'s mean loss over its batch, ``[C]``."""
        if self.loss != "categorical_crossentropy":
            n = self.sizes[b]
            return self.sums[b] / n
        m, _, picked, s, _, _ = self._views[b]
        return (m + np.log(s) - picked).sum(axis=1) / m.shape[1]

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        """The epoch's summed loss (over all rows) and correct predictions, ``[C]`` each."""
        if self.loss != "categorical_crossentropy":
            return self.sums.sum(axis=0), self.correct.sum(axis=0)
        per = self.m + np.log(self.s) - self.picked  # [steps, C, batch]
        loss = per.sum(axis=(0, 2))
        correct = (self.picked >= self.m).sum(axis=(0, 2), dtype=self.m.dtype) - self.padding
        return loss, correct


def loss_and_grad(
    z: np.ndarray, yt: np.ndarray, loss: str, want_grad: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The torch kernels' ``loss_and_grad`` in NumPy; ``z`` is overwritten by the gradient.

    Per-member mean loss ``[C]``, correct predictions ``[C]`` and ``dL/dz`` (the batch-mean
    loss's) for logits ``z [C, K, B]`` and targets ``yt [K, B]``; the gradient is ``z`` itself,
    overwritten (or ``z`` unchanged when ``want_grad`` is false).
    """
    B = z.shape[-1]
    if loss == "categorical_crossentropy":
        m = z.max(axis=1, keepdims=True)  # [C, 1, B]
        picked = np.einsum(_PICK[yt.ndim], z, yt)  # z of the true class
        correct = (picked >= m[:, 0]).sum(axis=-1, dtype=z.dtype)
        e = np.subtract(z, m, out=z if want_grad else None)
        np.exp(e, out=e)
        s = e.sum(axis=1, keepdims=True)
        # -log p(true) = m + log(sum exp(z - m)) - z_true, summed over the batch
        per_sum = np.matmul(m[:, 0] + np.log(s[:, 0]) - picked, np.ones(B, dtype=z.dtype))
        if want_grad:
            e /= s
            e -= yt
            e *= 1.0 / B
        grad = z
    elif loss == "binary_crossentropy":
        zz, y = z[:, 0, :], yt[..., 0, :]
        # torch's binary_cross_entropy_with_logits: max(z, 0) - z y + log1p(exp(-|z|))
        per_sum = (np.maximum(zz, 0) - zz * y + np.log1p(np.exp(-np.abs(zz)))).sum(axis=-1)
        correct = ((zz > 0) == (y > 0.5)).sum(axis=-1, dtype=z.dtype)
        if want_grad:
            np.negative(zz, out=zz)
            np.exp(zz, out=zz)
            zz += 1
            np.reciprocal(zz, out=zz)
            zz -= y
            zz *= 1.0 / B
        grad = z
    else:  # mse: mean over outputs and batch
        K = z.shape[1]
        diff = np.subtract(z, yt, out=z if want_grad else None)
        per_sum = np.square(diff).mean(axis=1).sum(axis=-1)
        correct = np.full(z.shape[:1], np.nan, dtype=z.dtype)
        if want_grad:
            diff *= 2.0 / (K * B)
        grad = z
    return per_sum / B, correct, grad
