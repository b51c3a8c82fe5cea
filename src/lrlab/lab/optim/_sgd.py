"""SGD with (Nesterov) momentum for a population of models, in the torch and Keras forms."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

from ._base import (
    _INF,
    Flag,
    Form,
    Hyper,
    PopulationOptimizer,
    _active,
    _axpy,
    _axpy_,
    _check_form_zero,
    _decay_np,
    _member_wise,
    _pack,
    _tensor,
)
from ._kernel import DECAY, NESTEROV, WD, KernelUpdate, kernel_arrays, member_row, rows_of

__all__ = ["SGD"]


@dataclasses.dataclass(frozen=True)
class SGD(PopulationOptimizer):
    """Stochastic gradient descent with (Nesterov) momentum, per member.

    ``form="torch"`` — ``torch/optim/sgd.py`` ``_single_tensor_sgd`` (torch 2.13)::

        g = grad + weight_decay * p
        b = g                                   (first step: the raw gradient, no dampening)
        b = momentum * b + (1 - dampening) * g  (later steps)
        d = g + momentum * b  if nesterov  else  b
        p -= lr * d

    ``form="keras"`` — ``keras/src/optimizers/sgd.py`` ``update_step`` and the torch backend's
    ``torch_sgd.py`` (Keras 3.15); the learning rate enters the velocity, so the result differs
    from torch's whenever the learning rate changes::

        p -= lr * weight_decay * p              (decoupled, before the update)
        v = momentum * v - lr * g
        p += momentum * v - lr * g  if nesterov  else  p += v

    A member with ``momentum = 0`` takes the plain step ``p -= lr * g`` in both forms.

    Args:
        momentum: Momentum factor, ``>= 0``.
        dampening: torch's dampening of the gradient in the buffer (0 in Keras, which has none).
        nesterov: Nesterov momentum; per member with a sequence of bools. torch requires
            ``momentum > 0`` and ``dampening = 0`` for a Nesterov member.
        weight_decay: ``>= 0``; coupled (L2, added to the gradient) in the torch form,
            decoupled in the Keras form.
        form: ``"torch"`` or ``"keras"``.

    Returns:
        A frozen optimizer; see :class:`PopulationOptimizer` for ``init``/``step``.

    Example:
        >>> import torch
        >>> opt = SGD(momentum=[0.0, 0.9])  # member 0: plain SGD; member 1: momentum 0.9
        >>> theta = torch.ones(2, 3, dtype=torch.float64)
        >>> grad, lr = torch.ones_like(theta), torch.tensor([0.1, 0.1], dtype=torch.float64)
        >>> state = opt.init(theta)
        >>> for _ in range(2):
        ...     opt.step(theta, grad, lr, state)
        >>> theta[:, 0].tolist()
        [0.8, 0.71]
    """

    name: ClassVar[str] = "sgd"
    family: ClassVar[str] = "sgd"
    momentum: Hyper = 0.0
    dampening: Hyper = 0.0
    nesterov: Flag = False
    weight_decay: Hyper = 0.0
    form: Form = "torch"

    _ranges: ClassVar[dict[str, tuple[float, float, bool]]] = {
        "momentum": (0, _INF, False),
        "dampening": (-_INF, _INF, False),
        "weight_decay": (0, _INF, False),
    }
    _flags: ClassVar[tuple[str, ...]] = ("nesterov",)
    _lr64: ClassVar[bool] = False  # lr enters only as a factor (or via _weight_decay's lr * wd64)

    def _normalise(self) -> None:
        super()._normalise()
        _check_form_zero(
            "SGD", self.form, "dampening", self.dampening, "Keras SGD has no dampening"
        )

    def _buffers(self) -> tuple[str, ...]:
        m = self.momentum
        return ("momentum_buffer",) if _active(m) else ()

    def _check_members(self, members: dict[str, list[Any]]) -> None:
        if self.form != "torch":
            return
        for i, (nes, mom, damp) in enumerate(
            zip(members["nesterov"], members["momentum"], members["dampening"])
        ):
            if nes and (mom <= 0 or damp != 0):
                raise ValueError(
                    f"SGD: nesterov requires momentum > 0 and dampening = 0 (as in torch); "
                    f"member {i} has momentum={mom!r}, dampening={damp!r}"
                )

    def _constants(self, m: dict[str, Any], dt: Any, dev: Any) -> dict:
        k = self._common(m, dt, dev)
        nes = m["nesterov"]
        damp = _member_wise(lambda d, mo: d if mo != 0 else 0.0, m["dampening"], m["momentum"])
        k.update(
            has_momentum=_active(m["momentum"]),
            momentum=_pack(m["momentum"], dt, dev),
            has_damp=_active(m["dampening"]),
            one_minus_damp=_tensor(_member_wise(lambda d: 1.0 - d, damp), dt, dev),
            one=_tensor(1.0, dt, dev),
            nes="mask" if isinstance(nes, list) else nes,
            # per-member Nesterov as arithmetic, not torch.where (slow, and a temporary):
            # p -= lr * (c * b + nu * g) with nu = 1, c = momentum (Nesterov) or nu = 0, c = 1
            nes_nu=_tensor(_member_wise(float, nes), dt, dev),
            nes_c=_tensor(
                _member_wise(lambda n, mo: mo if n else 1.0, nes, m["momentum"]), dt, dev
            ),
        )
        return k

    def _kernel_update(
        self, theta: np.ndarray, state: dict[str, Any], k: dict
    ) -> KernelUpdate | None:
        if self._replaces_numpy_update(SGD):  # (not the kernel's formula then)
            return None
        if k["has_momentum"] and (k["has_damp"] or k["nes"] == "mask"):
            return None
        names = ("momentum_buffer",) if k["has_momentum"] else ()
        buffers = kernel_arrays(theta, state, names)
        if buffers is None:
            return None
        wd, decoupled = k["has_wd"], k["has_wd"] and k["decoupled"]
        # rows: the learning rate (set each step), the momentum, the coupled weight decay, the
        # decoupled decay factor (set each step)
        mom = k["momentum"] if names else 0.0
        f32, C = np.dtype(np.float32), theta.shape[0]
        coef = rows_of(C, None, mom, k["wd"] if wd else 0.0, 1.0)

        def coefficients(lr: np.ndarray) -> np.ndarray:
            coef[0] = lr[:, 0]  # (float32 as NumPy's lr.astype(theta.dtype))
            if decoupled:
                coef[3] = member_row(_decay_np(lr, k, f32), C)
            return coef

        flags = (DECAY if decoupled else WD if wd else 0) | (NESTEROV if k["nes"] is True else 0)
        if not names:
            return KernelUpdate("sgd", (), coefficients, flags)
        rule = "momentum" if self.form == "torch" else "keras_momentum"
        return KernelUpdate(rule, buffers, coefficients, flags)

    def _reads_step(self, k: dict) -> bool:
        return bool(k["has_damp"])  # torch's first step skips the dampening

    def _update(
        self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor], k: dict
    ) -> None:
        lr_c = lr if lr.dtype == theta.dtype else lr.to(theta.dtype)
        g = self._weight_decay(theta, grad, lr, k)
        if not k["has_momentum"]:
            theta.addcmul_(g, lr_c, value=-1)
            return
        buf, mom = state["momentum_buffer"], k["momentum"]
        buf.mul_(mom)
        if self.form == "keras":
            buf.addcmul_(g, lr_c, value=-1)
            if k["nes"] is True:
                theta.addcmul_(g, lr_c, value=-1)
                _axpy_(theta, buf, mom)
            elif k["nes"] == "mask":
                theta.addcmul_(buf, k["nes_c"])
                theta.addcmul_(g, lr_c * k["nes_nu"], value=-1)
            else:
                theta.add_(buf)
            return
        if k["has_damp"]:  # torch's first step stores the raw gradient: no dampening then
            import torch  # (where, not a branch: no wait for the device)

            buf.addcmul_(g, torch.where(state["step"] == 0, k["one"], k["one_minus_damp"]))
        else:
            buf.add_(g)
        if k["nes"] == "mask":
            theta.addcmul_(buf, lr_c * k["nes_c"], value=-1)
            theta.addcmul_(g, lr_c * k["nes_nu"], value=-1)
            return
        d = _axpy(g, buf, mom) if k["nes"] else buf
        theta.addcmul_(d, lr_c, value=-1)

    def _update_numpy(
        self,
        theta: np.ndarray,
        grad: np.ndarray,
        lr: np.ndarray,
        state: dict[str, np.ndarray],
        k: dict,
    ) -> None:
        lr_c = lr if lr.dtype == theta.dtype else lr.astype(theta.dtype)
        g = self._weight_decay_numpy(theta, grad, lr, k)
        if not k["has_momentum"]:
            theta -= g * lr_c
            return
        buf, mom = state["momentum_buffer"], k["momentum"]
        buf *= mom
        if self.form == "keras":
            buf -= g * lr_c
            if k["nes"] is True:
                theta -= g * lr_c
                theta += buf * mom
            elif k["nes"] == "mask":
                theta += buf * k["nes_c"]
                theta -= g * (lr_c * k["nes_nu"])
            else:
                theta += buf
            return
        if k["has_damp"]:  # torch's first step stores the raw gradient: no dampening then
            buf += g * (k["one"] if int(state["step"]) == 0 else k["one_minus_damp"])
        else:
            buf += g
        if k["nes"] == "mask":
            theta -= buf * (lr_c * k["nes_c"])
            theta -= g * (lr_c * k["nes_nu"])
            return
        d = g + buf * mom if k["nes"] else buf
        theta -= d * lr_c
