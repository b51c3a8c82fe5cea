"""Adagrad and Adadelta (per-coordinate accumulators) for a population of models, in the
torch and Keras forms."""

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
    _check_form_zero,
    _ema_sq_,
    _ema_sq_np,
    _f64,
    _member_wise,
    _pack,
)

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["Adadelta", "Adagrad"]


# -- Adagrad -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Adagrad(PopulationOptimizer):
    """Adagrad, per member.

    ``form="torch"`` — ``torch/optim/adagrad.py`` ``_single_tensor_adagrad`` (torch 2.13), at
    update ``t = 1, 2, ...``, with ``s`` starting at ``initial_accumulator_value``::

        g = grad + wd * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g**2
        p -= clr * g / (sqrt(s) + eps)

    ``form="keras"`` — ``keras/src/optimizers/adagrad.py`` and ``backend/torch/optimizers/
    torch_adagrad.py`` (Keras 3.15): epsilon inside the square root, no ``lr_decay``, decoupled
    weight decay (Keras' defaults: ``initial_accumulator_value=0.1``, ``eps=1e-7``)::

        p -= lr * wd * p;   s = s + g**2;   p -= lr * g / sqrt(s + eps)

    Args:
        lr_decay: ``>= 0`` (torch only; must be 0 with ``form="keras"``).
        eps: ``>= 0``.
        initial_accumulator_value: ``>= 0``, the starting value of ``s``.
        weight_decay: ``>= 0``; coupled in the torch form, decoupled in the Keras form.
        form: ``"torch"`` or ``"keras"``.

    Returns:
        A frozen optimizer.

    Example:
        >>> import torch
        >>> opt = Adagrad(eps=0.0, initial_accumulator_value=[0.0, 3.0])
        >>> theta = torch.zeros(2, 1, dtype=torch.float64)
        >>> grad, lr = torch.ones_like(theta), torch.tensor([0.1, 0.1], dtype=torch.float64)
        >>> state = opt.init(theta)
        >>> opt.step(theta, grad, lr, state)
        >>> [round(x, 12) for x in theta[:, 0].tolist()]  # -lr * g / sqrt(s0 + g**2)
        [-0.1, -0.05]
    """

    name: ClassVar[str] = "adagrad"
    family: ClassVar[str] = "adagrad"
    lr_decay: Hyper = 0.0
    eps: Hyper = 1e-10
    initial_accumulator_value: Hyper = 0.0
    weight_decay: Hyper = 0.0
    form: Form = "torch"

    _ranges: ClassVar[dict[str, tuple[float, float, bool]]] = {
        n: (0, _INF, False)
        for n in ("lr_decay", "eps", "initial_accumulator_value", "weight_decay")
    }

    def _normalise(self) -> None:
        super()._normalise()
        why = "Keras Adagrad has no lr_decay"
        _check_form_zero("Adagrad", self.form, "lr_decay", self.lr_decay, why)

    def _buffers(self) -> tuple[str, ...]:
        return ("sum",)

    def _constants(self, m: dict[str, Any], dt: Any, dev: Any) -> dict:
        k = self._common(m, dt, dev)
        k.update(
            has_lr_decay=_active(m["lr_decay"]),
            lr_decay_64=_pack(m["lr_decay"], _f64(dev), dev),
            init_sum=_pack(m["initial_accumulator_value"], dt, dev),
        )
        return k

    def _reads_step(self, k: dict) -> bool:
        return bool(k["has_lr_decay"])

    def _update(
        self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor], k: dict
    ) -> None:
        import torch

        g = self._weight_decay(theta, grad, lr, k)
        if k["has_lr_decay"]:
            lr = lr / (1.0 + state["step"].to(k["float64"]) * k["lr_decay_64"])
        s = state["sum"]
        s.addcmul_(g, g)
        d = s.add(k["eps"]).sqrt_() if self.form == "keras" else s.sqrt().add_(k["eps"])
        torch.div(g, d, out=d)
        theta.addcmul_(d, lr.to(theta.dtype), value=-1)

    def _update_numpy(
        self,
        theta: np.ndarray,
        grad: np.ndarray,
        lr: np.ndarray,
        state: dict[str, np.ndarray],
        k: dict,
    ) -> None:
        g = self._weight_decay_numpy(theta, grad, lr, k)
        if k["has_lr_decay"]:
            lr = lr / (1.0 + float(state["step"]) * k["lr_decay_64"])
        s = state["sum"]
        s += g * g
        if self.form == "keras":
            d = np.sqrt(s + k["eps"])
        else:
            d = np.sqrt(s)
            d += k["eps"]
        np.divide(g, d, out=d)
        theta -= d * lr.astype(theta.dtype)


# -- Adadelta ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Adadelta(PopulationOptimizer):
    """Adadelta, per member.

    ``form="torch"`` — ``torch/optim/adadelta.py`` ``_single_tensor_adadelta`` (torch 2.13)::

        g = grad + wd * p
        v = rho * v + (1 - rho) * g**2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta**2
        p -= lr * delta

    ``form="keras"`` — ``keras/src/optimizers/adadelta.py`` and ``backend/torch/optimizers/
    torch_adadelta.py`` (Keras 3.15): the same recursion (``delta = sqrt(u + eps) * g /
    sqrt(v + eps)``) with decoupled weight decay ``p -= lr * wd * p`` first (Keras' defaults:
    ``rho=0.95``, ``eps=1e-7``; torch's default learning rate is 1.0).

    Args:
        rho: Decay of the running averages, in ``[0, 1]``.
        eps: ``>= 0``.
        weight_decay: ``>= 0``; coupled in the torch form, decoupled in the Keras form.
        form: ``"torch"`` or ``"keras"``.

    Returns:
        A frozen optimizer.

    Example:
        >>> import torch
        >>> opt = Adadelta(rho=0.0, eps=[1e-6, 1e-4])
        >>> theta = torch.zeros(2, 1, dtype=torch.float64)
        >>> state = opt.init(theta)
        >>> opt.step(theta, torch.ones_like(theta), torch.tensor([1.0, 1.0]), state)
        >>> [round(x, 6) for x in theta[:, 0].tolist()]  # -sqrt(eps) / sqrt(1 + eps)
        [-0.001, -0.01]
    """

    name: ClassVar[str] = "adadelta"
    family: ClassVar[str] = "adadelta"
    rho: Hyper = 0.9
    eps: Hyper = 1e-6
    weight_decay: Hyper = 0.0
    form: Form = "torch"

    _ranges: ClassVar[dict[str, tuple[float, float, bool]]] = {
        "rho": (0, 1, False),
        "eps": (0, _INF, False),
        "weight_decay": (0, _INF, False),
    }

    def _buffers(self) -> tuple[str, ...]:
        return ("square_avg", "acc_delta")

    def _constants(self, m: dict[str, Any], dt: Any, dev: Any) -> dict:
        k = self._common(m, dt, dev)
        k.update(
            rho=_pack(m["rho"], dt, dev),
            one_minus_rho=_pack(_member_wise(lambda r: 1.0 - r, m["rho"]), dt, dev),
        )
        return k

    def _reads_step(self, k: dict) -> bool:
        return False

    def _update(
        self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor], k: dict
    ) -> None:
        g = self._weight_decay(theta, grad, lr, k)
        v, u = state["square_avg"], state["acc_delta"]
        _ema_sq_(v, g, k["rho"], k["one_minus_rho"])
        std = v.add(k["eps"]).sqrt_()
        delta = u.add(k["eps"]).sqrt_()
        if self.form == "keras":
            delta.mul_(g).div_(std)
        else:
            delta.div_(std).mul_(g)
        _ema_sq_(u, delta, k["rho"], k["one_minus_rho"])
        theta.addcmul_(delta, lr.to(theta.dtype), value=-1)

    def _update_numpy(
        self,
        theta: np.ndarray,
        grad: np.ndarray,
        lr: np.ndarray,
        state: dict[str, np.ndarray],
        k: dict,
    ) -> None:
        g = self._weight_decay_numpy(theta, grad, lr, k)
        v, u = state["square_avg"], state["acc_delta"]
        _ema_sq_np(v, g, k["rho"], k["one_minus_rho"])
        std = np.sqrt(v + k["eps"])
        delta = np.sqrt(u + k["eps"])
        if self.form == "keras":
            delta *= g
            delta /= std
        else:
            delta /= std
            delta *= g
        _ema_sq_np(u, delta, k["rho"], k["one_minus_rho"])
        theta -= delta * lr.astype(theta.dtype)
