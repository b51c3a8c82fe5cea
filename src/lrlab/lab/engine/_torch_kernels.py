"""The torch kernels of population training: C models' forward and backward in one pass.

:class:`TorchMLPKernel` is the fast path for :class:`~lrlab.lab.models.MLP`: a hand-written
forward/backward over stacked weights (checked against autograd in the tests), laid out as the
measurements in DESIGN.md's performance notes recommend:

- parameters in one member-major tensor ``theta [C, P]``; weights are views ``[C, out, in]``;
- activations feature-major, hidden ``[C, width, B]`` and logits ``[C, K, B]``, so no batched
  matmul has a 3-wide output;
- the first layer's input is shared by all members, so its forward pass and its weight gradient
  are each one large matmul over the stacked members;
- the small-class log-sum-exp and the accuracy are elementwise (no ``argmax``);
- evaluation goes through members in chunks so temporaries stay a few MB.

:class:`TorchFuncKernel` serves any ``torch.nn.Module`` through ``torch.func``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..models import MLP, TorchModule
from ._numpy_kernels import WIDE_INPUT

EVAL_CHUNK_BYTES = 8 * 2**20


class Targets:
    """A split's targets on the device, in the forms the losses need."""

    def __init__(self, y: np.ndarray, loss: str, n_outputs: int, device: Any, dtype: Any) -> None:
        self.loss = loss
        if loss == "categorical_crossentropy":
            labels = torch.as_tensor(np.asarray(y, dtype=np.int64), device=device)
            if labels.numel() and (labels.min() < 0 or labels.max() >= n_outputs):
                raise ValueError(
                    f"labels must lie in [0, {n_outputs}), got values from {int(labels.min())} "
                    f"to {int(labels.max())}"
                )
            self.dense = torch.nn.functional.one_hot(labels, n_outputs).to(dtype)  # [N, K]
        else:
            arr = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
            if arr.shape[1] != n_outputs:
                raise ValueError(f"targets have {arr.shape[1]} columns, the model {n_outputs}")
            self.dense = torch.as_tensor(arr, device=device, dtype=dtype)  # [N, K]

    def take(self, index: torch.Tensor) -> torch.Tensor:
        return self.dense.index_select(0, index)


def loss_and_grad(
    z: torch.Tensor, yt: torch.Tensor, loss: str, want_grad: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Per-member mean loss ``[C]``, correct predictions ``[C]`` and ``dL/dz`` for logits ``z``.

    ``z`` is ``[C, K, B]``, ``yt`` the targets ``[K, B]`` (one-hot for the categorical loss),
    or ``[C, K, B]`` where each member has its own batch.
    The gradient is of the batch **mean** loss, as Keras and torch report it.
    """
    B = z.shape[-1]
    F = torch.nn.functional
    if loss == "categorical_crossentropy":
        lsm = torch.log_softmax(z, dim=1)
        picked = (lsm * yt).sum(dim=1)  # log p(true class)
        per_sum = picked.sum(dim=-1).neg_()
        correct = (picked >= lsm.amax(dim=1)).sum(dim=-1, dtype=z.dtype)
        grad = lsm.exp_().sub_(yt).div_(B) if want_grad else None
    elif loss == "binary_crossentropy":
        zz = z[:, 0, :]
        y = yt[..., 0, :].expand_as(zz)
        per_sum = F.binary_cross_entropy_with_logits(zz, y, reduction="none").sum(dim=-1)
        correct = ((zz > 0) == (y > 0.5)).sum(dim=-1, dtype=z.dtype)
        grad = torch.sigmoid(zz).sub_(y).div_(B).unsqueeze(1) if want_grad else None
    else:  # mse: mean over outputs and batch
        diff = z - yt
        K = z.shape[1]
        per_sum = diff.square().mean(dim=1).sum(dim=-1)
        correct = torch.full(z.shape[:1], float("nan"), dtype=z.dtype, device=z.device)
        grad = diff.mul_(2.0 / (K * B)) if want_grad else None
    return per_sum.div_(B), correct, grad


def loss_grad(z: torch.Tensor, yt: torch.Tensor, loss: str) -> torch.Tensor:
    """``dL/dz`` of the batch-mean loss alone (``z`` unchanged): :func:`loss_and_grad`'s
    gradient without the loss and accuracy, in 3 operations instead of 11."""
    B = z.shape[-1]
    if loss == "categorical_crossentropy":
        return torch.softmax(z, dim=1).sub_(yt).div_(B)
    if loss == "binary_crossentropy":
        return torch.sigmoid(z).sub_(yt).div_(B)
    return (z - yt).mul_(2.0 / (z.shape[1] * B))


_ONEDNN_ACT = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "linear": "none"}
_ONEDNN: list[Any] = []


#: hidden-layer elements from which oneDNN's linear beats MKL's mm on the CPU (below, its
#: fixed cost per call is more than it saves: small cohorts ran slower with it)
ONEDNN_MIN = 2**17


def _onednn_for(theta: torch.Tensor, elements: int) -> Any:
    """The oneDNN linear for a float32 CPU layer of ``elements`` outputs, else ``None``."""
    if elements < ONEDNN_MIN or theta.dtype != torch.float32 or not theta.is_cpu:
        return None
    return _onednn_linear()


def _onednn_linear() -> Any:
    """torch's oneDNN linear with a fused activation (the operator torch.compile's CPU code
    uses), or ``None`` where this torch build lacks it or it disagrees with ``torch.mm``.

    It is not a public torch API, so it is probed once per process, checked against
    ``torch.mm`` and ``torch.relu``/``tanh``/``sigmoid``, and every caller falls back to
    MKL's ``mm`` without it; ``LRLAB_NO_ONEDNN=1`` turns it off.
    """
    if not _ONEDNN:
        _ONEDNN.append(_probe_onednn())
    return _ONEDNN[0]


def _probe_onednn() -> Any:
    import os

    if os.environ.get("LRLAB_NO_ONEDNN"):
        return None
    try:
        op = torch.ops.mkldnn._linear_pointwise
        gen = torch.Generator().manual_seed(0)
        a, w = torch.randn(40, 3, generator=gen), torch.randn(7, 3, generator=gen)
        ref = a @ w.T
        checks = (("none", None), ("relu", torch.relu), ("tanh", torch.tanh))
        for attr, fn in (*checks, ("sigmoid", torch.sigmoid)):
            got = op(a, w, None, attr, [], "")
            want = ref if fn is None else fn(ref)
            if got.shape != want.shape or not torch.allclose(got, want, rtol=1e-5, atol=1e-6):
                return None
        return op
    except Exception:  # absent, or refused on this CPU or build
        return None


class TorchMLPKernel:
    """Fused forward/backward for C stacked :class:`MLP` members."""

    def __init__(self, model: MLP) -> None:
        self.model = model
        self.slots = model.slots()
        self._cache: dict[int, tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]] = {}
        self._scratch: dict[tuple[Any, ...], torch.Tensor] = {}

    def init_params(self, seeds: Sequence[int], device: Any, dtype: Any) -> torch.Tensor:
        rows = np.stack([self.model.init_member(int(s)) for s in seeds])
        return torch.as_tensor(rows, device=device, dtype=dtype).contiguous()

    def _views(self, theta: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        # training calls this with the same two buffers at every step: keep their views (the
        # cache holds the tensor itself, so an id is never reused while it is cached)
        hit = self._cache.get(id(theta))
        if hit is not None and hit[0] is theta:
            return hit[1]
        views = self._make_views(theta)
        if len(self._cache) >= 2:
            self._cache.pop(next(iter(self._cache)))
        self._cache[id(theta)] = (theta, views)
        return views

    def _make_views(self, theta: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        C = theta.shape[0]
        out = []
        for k in range(0, len(self.slots), 2):
            (_, wo, wshape), (_, bo, bshape) = self.slots[k], self.slots[k + 1]
            w = theta[:, wo : wo + wshape[0] * wshape[1]].view(C, *wshape)
            b = theta[:, bo : bo + bshape[0]]
            out.append((w, b))
        return out

    def _act(self, z: torch.Tensor) -> torch.Tensor:
        a = self.model.activation
        if a == "relu":
            return z.relu_()
        if a == "tanh":
            return z.tanh_()
        if a == "sigmoid":
            return z.sigmoid_()
        return z

    def _act_grad(self, da: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        kind = self.model.activation
        if kind == "relu":  # in place: da is the step's scratch
            return torch.ops.aten.threshold_backward.grad_input(da, a, 0, grad_input=da)
        if kind == "tanh":
            return da * (1 - a * a)
        if kind == "sigmoid":
            return da * a * (1 - a)
        return da

    def forward(
        self, theta: torch.Tensor, xb: torch.Tensor, layers: list[Any] | None = None
    ) -> list[torch.Tensor]:
        """Activations ``[x, a1, ..., z]`` for input rows ``xb [B, D]``; ``z`` is ``[C, K, B]``."""
        C = theta.shape[0]
        layers = self._make_views(theta) if layers is None else layers
        w1, b1 = layers[0]
        o = w1.shape[1]
        h = torch.addmm(b1.reshape(C * o, 1), w1.reshape(C * o, -1), xb.T).view(C, o, -1)
        acts = [xb]
        for w, b in layers[1:]:
            h = self._act(h)
            acts.append(h)
            h = torch.baddbmm(b.unsqueeze(-1), w, h)
        acts.append(h)
        return acts

    def _buf(
        self, key: tuple[Any, ...], shape: tuple[int, ...], like: torch.Tensor
    ) -> torch.Tensor:
        """A scratch tensor kept between steps (the step's shapes repeat; a fresh multi-MB
        tensor per operation costs page faults on top of the arithmetic)."""
        full = (key, shape, like.dtype, like.device)
        t = self._scratch.get(full)
        if t is None:
            if len(self._scratch) > 64:
                self._scratch.clear()
            t = self._scratch[full] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return t

    def _scratch_forward(
        self, theta: torch.Tensor, xb: torch.Tensor, layers: list[Any]
    ) -> list[torch.Tensor]:
        """:meth:`forward` into scratch tensors: ``[x, a1, ..., z]``. With few inputs layer 1 is
        one matmul with the bias folded in and ``x`` is ``xa [D + 1, B]``, the inputs and a row
        of ones; with ``WIDE_INPUT`` or more, a batched matmul on the weights in place and
        ``x`` is ``xb [B, D]``."""
        C, B = theta.shape[0], xb.shape[0]
        w1, b1 = layers[0]
        o, d = w1.shape[1], w1.shape[2]
        fused = False
        if d >= WIDE_INPUT:
            # many inputs: multiply each member's W1 where it lies (copying W1 into one matrix
            # every step would cost more than the matmul); acts[0] is then xb itself
            h = self._buf(("h", 0), (C, o, B), theta)
            torch.baddbmm(b1.unsqueeze(-1), w1, xb.T.expand(C, d, B), out=h)
            acts = [xb]
        else:
            wa = self._buf(("wa",), (C, o, d + 1), theta)
            wa[:, :, :d].copy_(w1)
            wa[:, :, d].copy_(b1)
            xa = self._buf(("xa",), (d + 1, B), theta)
            xa[:d].copy_(xb.T)
            xa[d].fill_(1.0)
            linear = _onednn_for(theta, C * o * B)
            fused = linear is not None and len(layers) > 1
            if linear is not None and fused:
                # oneDNN's matmul with the activation in its epilogue: faster than MKL's
                # mm + relu_ on these shapes ([C * width, D + 1] @ [D + 1, B]), one pass less
                xr = self._buf(("xr",), (B, d + 1), theta)
                xr.copy_(xa.T)
                act = _ONEDNN_ACT[self.model.activation]
                h = linear(wa.view(C * o, d + 1), xr, None, act, [], "").view(C, o, B)
            else:
                h = torch.mm(wa.view(C * o, d + 1), xa, out=self._buf(("h", 0), (C * o, B), theta))
                h = h.view(C, o, B)
            acts = [xa]
        for k, (w, b) in enumerate(layers[1:], start=1):
            if not (fused and k == 1):
                h = self._act(h)
            acts.append(h)
            out = self._buf(("h", k), (C, w.shape[1], B), theta)
            h = torch.baddbmm(b.unsqueeze(-1), w, h, out=out)
        acts.append(h)
        return acts

    def step(
        self,
        theta: torch.Tensor,
        grad: torch.Tensor,
        xb: torch.Tensor,
        yt: torch.Tensor,
        logits: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Write the batch gradient into ``grad``; return the loss and correct counts ``[C]``,
        or, given ``logits`` (a ``[C, K, B]`` view), write the logits there and return nothing:
        the loop then computes an epoch's loss and accuracy in one pass over all its logits.

        Layer 1 runs on the inputs with a row of ones appended (``xa [D + 1, B]``) and the
        weights with the bias as one more column: its forward pass and both its gradients are
        each one matmul over all members, and no pass over the hidden layer sums the bias
        gradient. Not differentiable (it writes into scratch tensors); :meth:`forward` is.
        """
        C, B = theta.shape[0], xb.shape[0]
        layers = self._views(theta)
        acts = self._scratch_forward(theta, xb, layers)
        h, xa = acts.pop(), acts[0]
        o, d = layers[0][0].shape[1], xb.shape[1]
        if logits is None:
            loss, correct, dz = loss_and_grad(h, yt, self.model.loss)
        else:  # (baddbmm into the strided view would run one addmm per member)
            logits.copy_(h)
            dz = loss_grad(h, yt, self.model.loss)
        assert dz is not None
        glayers = self._views(grad)
        for k in range(len(layers) - 1, 0, -1):
            w, _ = layers[k]
            gw, gb = glayers[k]
            prev = acts[k]
            torch.sum(dz, dim=-1, out=gb)
            # into a kept scratch tensor, then into grad's strided rows: a fresh [C, out, in]
            # tensor per step (30 MB at C = 256 on 300-100) costs page faults every step
            gw_buf = self._buf(("gw", k), tuple(gw.shape), theta)
            gw.copy_(torch.bmm(dz, prev.transpose(1, 2), out=gw_buf))
            da = torch.bmm(w.transpose(1, 2), dz, out=self._buf(("da", k), prev.shape, theta))
            dz = self._act_grad(da, prev)
        gw, gb = glayers[0]
        if d >= WIDE_INPUT:  # each member's dW1 straight into its rows of grad
            torch.sum(dz, dim=-1, out=gb)
            if theta.is_cpu:  # (a strided out= to bmm would run per member anyway)
                for c in range(C):
                    torch.mm(dz[c], xb, out=gw[c])
            else:
                gw.copy_(torch.bmm(dz, xb.expand(C, B, d)))
            return None if logits is not None else (loss, correct)
        # transposed, [D + 1, B] @ [B, C * o]: a wide output rather than a 3-wide one
        linear = _onednn_for(theta, C * o * B)
        if linear is not None:  # faster than MKL's mm on large cohorts
            g1 = linear(xa, dz.reshape(C * o, B), None, "none", [], "")
        else:
            g1 = self._buf(("g1",), (d + 1, C * o), theta)
            torch.mm(xa, dz.reshape(C * o, B).T, out=g1)
        gw.copy_(g1[:d].T.view(C, o, d))
        gb.copy_(g1[d].view(C, o))
        return None if logits is not None else (loss, correct)

    def step_apart(
        self, theta: torch.Tensor, grad: torch.Tensor, xb: torch.Tensor, yt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`step` with each member on its own batch (one batch order per member):
        ``xb [C, B, D]`` and ``yt [C, K, B]``; batched matmuls over the members, so the cost is
        about that of one shared batch, not one call per member. Returns the loss and correct
        counts ``[C]``."""
        layers, glayers = self._views(theta), self._views(grad)
        w1, b1 = layers[0]
        h = torch.baddbmm(b1.unsqueeze(-1), w1, xb.transpose(1, 2))  # [C, o, B]
        acts: list[torch.Tensor] = []
        for w, b in layers[1:]:
            h = self._act(h)
            acts.append(h)
            h = torch.baddbmm(b.unsqueeze(-1), w, h)
        loss, correct, dz = loss_and_grad(h, yt, self.model.loss)
        assert dz is not None
        for k in range(len(layers) - 1, 0, -1):
            gw, gb = glayers[k]
            prev = acts[k - 1]
            torch.sum(dz, dim=-1, out=gb)
            # into a kept scratch tensor, then into grad's strided rows: a fresh [C, out, in]
            # tensor per step (30 MB at C = 256 on 300-100) costs page faults every step
            gw_buf = self._buf(("gw", k), tuple(gw.shape), theta)
            gw.copy_(torch.bmm(dz, prev.transpose(1, 2), out=gw_buf))
            dz = self._act_grad(torch.bmm(layers[k][0].transpose(1, 2), dz), prev)
        gw, gb = glayers[0]
        torch.sum(dz, dim=-1, out=gb)
        if theta.is_cpu and xb.shape[-1] >= WIDE_INPUT:
            # each member's dW1 straight into its rows of grad: a [C, o, D] temporary (240 MB
            # at C = 256 on 784-300) and its copy cost more than the C calls
            for c in range(theta.shape[0]):
                torch.mm(dz[c], xb[c], out=gw[c])
        else:
            gw.copy_(torch.bmm(dz, xb))
        return loss, correct

    def evaluate(
        self, theta: torch.Tensor, x: torch.Tensor, yt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss ``[C]`` and accuracy ``[C]`` over all rows of ``x``, members in chunks."""
        C, N = theta.shape[0], x.shape[0]
        width = max([*self.model.hidden, self.model.n_outputs])
        chunk = max(1, EVAL_CHUNK_BYTES // max(1, width * N * theta.element_size()))
        chunk = -(-C // -(-C // chunk))  # equal chunks: one set of scratch shapes
        losses, accs = [], []
        for lo in range(0, C, chunk):
            part = theta[lo : lo + chunk]
            z = self._scratch_forward(part, x, self._make_views(part))[-1]
            loss, correct, _ = loss_and_grad(z, yt, self.model.loss, want_grad=False)
            losses.append(loss)
            accs.append(correct / N)
        return torch.cat(losses), torch.cat(accs)


class TorchFuncKernel:
    """Any ``torch.nn.Module`` for C members through ``torch.func`` (vmap of grad)."""

    def __init__(self, spec: TorchModule, seeds: Sequence[int]) -> None:
        self.spec = spec
        self.modules = spec.build(seeds)
        base = self.modules[0]
        self.names = [n for n, _ in base.named_parameters()]
        self.shapes = [p.shape for _, p in base.named_parameters()]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.skeleton = copy.deepcopy(base).to("meta")
        from torch.func import functional_call, grad_and_value, vmap

        def member_loss(
            params: dict[str, torch.Tensor], xb: torch.Tensor, yt: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            z = functional_call(self.skeleton, params, (xb,)).T.unsqueeze(0)  # [1, K, B]
            loss, correct, _ = loss_and_grad(z, yt, spec.loss, want_grad=False)
            return loss[0], correct[0]

        self._grad = vmap(grad_and_value(member_loss, has_aux=True), in_dims=(0, None, None))
        self._grad_apart = vmap(grad_and_value(member_loss, has_aux=True), in_dims=(0, 0, 0))
        self._loss = vmap(member_loss, in_dims=(0, None, None))

    def init_params(self, seeds: Sequence[int], device: Any, dtype: Any) -> torch.Tensor:
        rows = [torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in self.modules]
        return torch.stack(rows).to(device=device, dtype=dtype).contiguous()

    def _params(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        out, offset = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes):
            out[name] = theta[:, offset : offset + size].view(theta.shape[0], *shape)
            offset += size
        return out

    def step(
        self, theta: torch.Tensor, grad: torch.Tensor, xb: torch.Tensor, yt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        grads, (loss, correct) = self._grad(self._params(theta), xb, yt)
        torch.cat([grads[n].reshape(theta.shape[0], -1) for n in self.names], dim=1, out=grad)
        return loss, correct

    def step_apart(
        self, theta: torch.Tensor, grad: torch.Tensor, xb: torch.Tensor, yt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`step` with each member on its own batch: ``xb [C, B, ...]``, ``yt [C, K, B]``
        (vmapped over the members with the parameters)."""
        grads, (loss, correct) = self._grad_apart(self._params(theta), xb, yt)
        torch.cat([grads[n].reshape(theta.shape[0], -1) for n in self.names], dim=1, out=grad)
        return loss, correct

    def evaluate(
        self, theta: torch.Tensor, x: torch.Tensor, yt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        loss, correct = self._loss(self._params(theta), x, yt)
        return loss, correct / x.shape[0]
