"""RMSprop (centred, with momentum) for a population of models, in the torch and Keras forms."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ._base import (
    _INF,
    Form,
    Hyper,
    PopulationOptimizer,
    _active,
    _axpy_,
    _ema_sq_,
    _ema_sq_np,
    _lerp_np,
    _member_wise,
    _pack,
)

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["RMSprop"]


@dataclasses.dataclass(frozen=True)
class RMSprop(PopulationOptimizer):
    """RMSprop (optionally centred, with momentum), per member.

    ``form="torch"`` — ``torch/optim/rmsprop.py`` ``_single_tensor_rmsprop`` (torch 2.13)::

        g = grad + wd * p
        v = alpha * v + (1 - alpha) * g**2
        a = a + (1 - alpha) * (g - a)              (centred only)
        d = sqrt(v - a**2) + eps   (centred)   or   sqrt(v) + eps
        b = momentum * b + g / d;  p -= lr * b     (momentum > 0)   or   p -= lr * g / d

    ``form="keras"`` — ``keras/src/optimizers/rmsprop.py`` and ``backend/torch/optimizers/
    torch_rmsprop.py`` (Keras 3.15), ``alpha`` being Keras' ``rho``: epsilon inside the square
    root, the learning rate inside the momentum buffer, decoupled weight decay::

        p -= lr * wd * p
        v = rho * v + (1 - rho) * g**2;   a = rho * a + (1 - rho) * g   (centred)
        inc = lr * g / sqrt(v - a**2 + eps)   (centred)   or   lr * g / sqrt(v + eps)
        b = momentum * b + inc;  p -= b           (momentum > 0)   or   p -= inc

    Args:
        alpha: Smoothing constant in ``[0, 1]`` (Keras' ``rho``; Keras' default is 0.9).
        eps: ``>= 0`` (Keras' default is 1e-7).
        centered: Normalise by the estimated variance (the same for all members).
        momentum: ``>= 0``.
        weight_decay: ``>= 0``; coupled in the torch form, decoupled in the Keras form.
        form: ``"torch"`` or ``"keras"``.

    Returns:
        A frozen optimizer.

    Example:
        >>> import torch
        >>> opt = RMSprop(alpha=[0.99, 0.0], eps=0.0)
        >>> theta = torch.zeros(2, 1, dtype=torch.float64)
        >>> grad, lr = torch.full_like(theta, 2.0), torch.tensor([0.1, 0.1], dtype=torch.float64)
        >>> state = opt.init(theta)
        >>> opt.step(theta, grad, lr, state)
        >>> [round(x, 12) for x in theta[:, 0].tolist()]  # -lr * g / sqrt((1 - alpha) * g**2)
        [-1.0, -0.1]
    """

    name: ClassVar[str] = "rmsprop"
    family: ClassVar[str] = "rmsprop"
    alpha: Hyper = 0.99
    eps: Hyper = 1e-8
    centered: bool = False
    momentum: Hyper = 0.0
    weight_decay: Hyper = 0.0
    form: Form = "torch"

    _ranges: ClassVar[dict[str, tuple[float, float, bool]]] = {
        "alpha": (0, 1, False),
        "eps": (0, _INF, False),
        "momentum": (0, _INF, False),
        "weight_decay": (0, _INF, False),
    }
    _bools: ClassVar[tuple[str, ...]] = ("centered",)

    def _buffers(self) -> tuple[str, ...]:
        out = ["square_avg"]
        if self.centered:
            out.append("grad_avg")
        if _active(self.momentum):
            out.append("momentum_buffer")
        return tuple(out)

    def _constants(self, m: dict[str, Any], dt: Any, dev: Any) -> dict:
        k = self._common(m, dt, dev)
        k.update(
            alpha=_pack(m["alpha"], dt, dev),
            one_minus_alpha=_pack(_member_wise(lambda a: 1.0 - a, m["alpha"]), dt, dev),
            momentum=_pack(m["momentum"], dt, dev),
        )
        return k

    def _reads_step(self, k: dict) -> bool:
        return False

    def _update(
        self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor], k: dict
    ) -> None:
        import torch

        lr_c = lr.to(theta.dtype)
        g = self._weight_decay(theta, grad, lr, k)
        v = state["square_avg"]
        _ema_sq_(v, g, k["alpha"], k["one_minus_alpha"])
        keras = self.form == "keras"
        if keras:
            d = v.add(k["eps"])
            if self.centered:
                a = state["grad_avg"]
                _axpy_(a.mul_(k["alpha"]), g, k["one_minus_alpha"])
                d.addcmul_(a, a, value=-1)
            d.sqrt_()
        else:
            if self.centered:
                a = state["grad_avg"].lerp_(g, k["one_minus_alpha"])
                d = torch.addcmul(v, a, a, value=-1).sqrt_()
            else:
                d = v.sqrt()
            d.add_(k["eps"])
        torch.div(g, d, out=d)  # d = g / denominator
        if keras:
            d.mul_(lr_c)
        if "momentum_buffer" in state:
            buf = state["momentum_buffer"]
            buf.mul_(k["momentum"]).add_(d)
            d = buf
        if keras:
            theta.sub_(d)
        else:
            theta.addcmul_(d, lr_c, value=-1)

    def _update_numpy(
        self,
        theta: np.ndarray,
        grad: np.ndarray,
        lr: np.ndarray,
        state: dict[str, np.ndarray],
        k: dict,
    ) -> None:
        lr_c = lr.astype(theta.dtype)
        g = self._weight_decay_numpy(theta, grad, lr, k)
        v = state["square_avg"]
        _ema_sq_np(v, g, k["alpha"], k["one_minus_alpha"])
        keras = self.form == "keras"
        if keras:
            d = v + k["eps"]
            if self.centered:
                a = state["grad_avg"]
                a *= k["alpha"]
                a += g * k["one_minus_alpha"]
                d -= a * a
            np.sqrt(d, out=d)
        else:
            if self.centered:
                a = state["grad_avg"]
                _lerp_np(a, g, k["one_minus_alpha"])
                d = np.sqrt(v - a * a)
            else:
                d = np.sqrt(v)
            d += k["eps"]
        np.divide(g, d, out=d)  # d = g / denominator
        if keras:
            d *= lr_c
        if "momentum_buffer" in state:
            buf = state["momentum_buffer"]
            buf *= k["momentum"]
            buf += d
            d = buf
        if keras:
            theta -= d
        else:
            theta -= d * lr_c
