"""Adam and AdamW for a population of models, in the torch and Keras forms."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ._base import (
    _INF,
    Form,
    Hyper,
    PopulationOptimizer,
    _axpy_,
    _check_form_zero,
    _decay_np,
    _ema_sq_,
    _ema_sq_np,
    _f64,
    _hyper,
    _lerp_np,
    _member_wise,
    _pack,
    _plain,
)
from ._kernel import ADAM_ROWS, COLUMN_B2, KernelUpdate, kernel_arrays, member_row, rows_of

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["Adam", "AdamW"]


@dataclasses.dataclass(frozen=True)
class Adam(PopulationOptimizer):
    """Adam (and AdamW with ``decoupled=True``), per member.

    ``form="torch"`` — ``torch/optim/adam.py`` ``_single_tensor_adam`` (torch 2.13; AdamW is
    ``Adam(decoupled_weight_decay=True)``, ``torch/optim/adamw.py``), at update ``t = 1, 2, ...``::

        p *= 1 - lr * wd  (decoupled)    or    g = grad + wd * p  (coupled, the default)
        m = m + (1 - b1) * (g - m)                         (lerp)
        v = b2 * v + (1 - b2) * g**2
        vmax = max(vmax, v)  if amsgrad, and then v = vmax in the next line
        p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)

    ``form="keras"`` — ``keras/src/optimizers/adam.py`` and ``backend/torch/optimizers/
    torch_adam.py`` (Keras 3.15); epsilon is added to ``sqrt(v)`` without bias correction, so a
    given ``eps`` weighs ``1 / sqrt(1 - b2**t)`` times more than in torch; weight decay is
    Keras' decoupled one (``AdamW`` is ``Adam`` with ``weight_decay``)::

        p -= lr * wd * p
        m = b1 * m + (1 - b1) * g;   v = b2 * v + (1 - b2) * g**2   (vmax as in torch)
        alpha = lr * sqrt(1 - b2**t) / (1 - b1**t)
        p -= alpha * m / (sqrt(v) + eps)

    Args:
        betas: ``(beta1, beta2)``, each in ``[0, 1)``, each a number or one per member.
        eps: ``>= 0``, added to the denominator (see the forms above). Keras' default is 1e-7.
        weight_decay: ``>= 0``.
        decoupled: ``True`` is AdamW; ``None`` means the form's own kind: coupled for torch's
            ``Adam``, decoupled for Keras (which has no coupled kind, so ``False`` with a
            non-zero ``weight_decay`` and ``form="keras"`` is an error).
        amsgrad: Use the running maximum of ``v`` (the same for all members).
        form: ``"torch"`` or ``"keras"``.

    Returns:
        A frozen optimizer; see :class:`PopulationOptimizer` for ``init``/``step``.

    Example:
        >>> import torch
        >>> opt = Adam(betas=([0.9, 0.5], 0.999))  # beta1 per member, beta2 shared
        >>> theta = torch.zeros(2, 2, dtype=torch.float64)
        >>> grad, lr = torch.ones_like(theta), torch.tensor([0.1, 0.2], dtype=torch.float64)
        >>> state = opt.init(theta)
        >>> opt.step(theta, grad, lr, state)
        >>> [round(x, 6) for x in theta[:, 0].tolist()]  # the first step is -lr * sign(g)
        [-0.1, -0.2]
    """

    name: ClassVar[str] = "adam"
    family: ClassVar[str] = "adam"
    betas: tuple[Hyper, Hyper] = (0.9, 0.999)
    eps: Hyper = 1e-8
    weight_decay: Hyper = 0.0
    decoupled: bool | None = None
    amsgrad: bool = False
    form: Form = "torch"

    _ranges: ClassVar[dict[str, tuple[float, float, bool]]] = {
        "eps": (0, _INF, False),
        "weight_decay": (0, _INF, False),
    }
    _bools: ClassVar[tuple[str, ...]] = ("amsgrad",)

    def _normalise(self) -> None:
        super()._normalise()
        o = type(self).__name__
        betas = _plain(self.betas)
        if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) or len(betas) != 2:
            raise ValueError(f"{o}: betas must be a pair (beta1, beta2), got {self.betas!r}")
        b = tuple(_hyper(o, f"betas[{i}]", x, 0, 1, high_open=True) for i, x in enumerate(betas))
        object.__setattr__(self, "betas", b)
        if not (self.decoupled is None or isinstance(self.decoupled, bool)):
            raise ValueError(f"{o}: decoupled must be a bool or None, got {self.decoupled!r}")
        if self.form == "keras" and self.decoupled is False:
            _check_form_zero(
                o, "keras", "weight_decay", self.weight_decay, "Keras weight decay is decoupled"
            )

    def _items(self) -> list[tuple[str, str, Any]]:
        betas = [("betas[0]", "beta1", self.betas[0]), ("betas[1]", "beta2", self.betas[1])]
        return betas + super()._items()

    def _buffers(self) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq", *(("max_exp_avg_sq",) if self.amsgrad else ()))

    def _constants(self, m: dict[str, Any], dt: Any, dev: Any) -> dict:
        k = self._common(m, dt, dev)
        k["decoupled"] = self.form == "keras" or bool(self.decoupled)
        for n in ("beta1", "beta2"):
            k[n] = _pack(m[n], dt, dev)
            k[f"{n}_64"] = _pack(m[n], _f64(dev), dev)
            k[f"one_minus_{n}"] = _pack(_member_wise(lambda b: 1.0 - b, m[n]), dt, dev)
        return k

    def _update(
        self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor], k: dict
    ) -> None:
        import torch

        g = self._weight_decay(theta, grad, lr, k)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        t = state["step"].to(k["float64"]) + 1
        bc1 = 1.0 - k["beta1_64"] ** t
        bc2 = 1.0 - k["beta2_64"] ** t
        if self.form == "keras":
            m.mul_(k["beta1"])
            _axpy_(m, g, k["one_minus_beta1"])
        else:
            m.lerp_(g, k["one_minus_beta1"])
        _ema_sq_(v, g, k["beta2"], k["one_minus_beta2"])
        if self.amsgrad:
            vmax = state["max_exp_avg_sq"]
            torch.maximum(vmax, v, out=vmax)
            v = vmax
        denom = v.sqrt()
        if self.form == "keras":
            size = (lr * bc2.sqrt() / bc1).to(theta.dtype)
        else:
            size = (lr / bc1).to(theta.dtype)
            denom.div_(bc2.sqrt().to(theta.dtype))
        denom.add_(k["eps"])
        torch.div(m, denom, out=denom)
        theta.addcmul_(denom, size, value=-1)

    def _update_numpy(
        self,
        theta: np.ndarray,
        grad: np.ndarray,
        lr: np.ndarray,
        state: dict[str, np.ndarray],
        k: dict,
    ) -> None:
        g = self._weight_decay_numpy(theta, grad, lr, k)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        size, sc2 = self._scalars_np(lr, state["step"], k, theta.dtype)
        if self.form == "keras":
            m *= k["beta1"]
            m += g * k["one_minus_beta1"]
        else:
            _lerp_np(m, g, k["one_minus_beta1"])
        _ema_sq_np(v, g, k["beta2"], k["one_minus_beta2"])
        if self.amsgrad:
            vmax = state["max_exp_avg_sq"]
            np.maximum(vmax, v, out=vmax)
            v = vmax
        denom = np.sqrt(v)
        if sc2 is not None:
            denom /= sc2
        denom += k["eps"]
        np.divide(m, denom, out=denom)
        theta -= denom * size

    def _scalars_np(
        self, lr: np.ndarray, step: Any, k: dict, dtype: Any
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """A step's step size and ``sqrt(bc2)`` (``None`` in the Keras form, which folds it
        into the step size), from the float64 bias corrections of update ``step + 1``."""
        t = float(step) + 1
        bc1 = 1.0 - np.power(k["beta1_64"], t)
        bc2 = 1.0 - np.power(k["beta2_64"], t)
        if self.form == "keras":
            return np.asarray(lr * np.sqrt(bc2) / bc1).astype(dtype), None
        return np.asarray(lr / bc1).astype(dtype), np.asarray(np.sqrt(bc2)).astype(dtype)

    def _kernel_update(
        self, theta: np.ndarray, state: dict[str, Any], k: dict
    ) -> KernelUpdate | None:
        if self._replaces_numpy_update(Adam):  # (not the kernel's formula then)
            return None
        if self.amsgrad or (k["has_wd"] and not k["decoupled"]):
            return None
        buffers = kernel_arrays(theta, state, ("exp_avg", "exp_avg_sq"))
        if buffers is None:
            return None
        w, C, keras = k["one_minus_beta1"], theta.shape[0], self.form == "keras"
        if keras:  # e * beta1 + g * (1 - beta1)
            a, c, near = k["beta1"], w, 0.0
        elif isinstance(w, float):  # torch's lerp_, as _lerp_np computes it
            a, c, near = w, 1.0 - w, float(abs(w) < 0.5)
        else:
            a, c, near = w, 1 - w, (np.abs(w) < 0.5).astype(np.float32)
        fixed = {"decay": 1.0, "a": a, "c": c, "near": near, "sc2": 1.0, "eps": k["eps"]}
        fixed.update(b2=k["beta2"], c2=k["one_minus_beta2"])
        coef = rows_of(C, *(fixed.get(name) for name in ADAM_ROWS))
        row = {name: coef[i] for i, name in enumerate(ADAM_ROWS)}
        f32, has_wd = np.dtype(np.float32), k["has_wd"]

        def coefficients(lr: np.ndarray) -> np.ndarray:
            lr = lr.astype(np.float64)  # (as the Stepper hands it to _update_numpy)
            size, sc2 = self._scalars_np(lr, state["step"], k, f32)
            row["size"][:] = member_row(size, C)
            if sc2 is not None:
                row["sc2"][:] = member_row(sc2, C)
            if has_wd:
                row["decay"][:] = member_row(_decay_np(lr, k, f32), C)
            return coef

        flags = 0 if isinstance(k["one_minus_beta2"], float) else COLUMN_B2
        return KernelUpdate("keras_adam" if keras else "adam", buffers, coefficients, flags)


@dataclasses.dataclass(frozen=True)
class AdamW(Adam):
    """AdamW: :class:`Adam` with decoupled weight decay, torch's default ``weight_decay=1e-2``.

    ``p *= 1 - lr * weight_decay`` before the Adam update (``torch/optim/adamw.py``, torch 2.13);
    with ``form="keras"`` it is Keras' ``AdamW`` (whose own default ``weight_decay`` is 0.004).

    Args:
        betas: ``(beta1, beta2)``, as in :class:`Adam`.
        eps: As in :class:`Adam`.
        weight_decay: ``>= 0``, default 1e-2 as in torch.
        decoupled: Must stay ``True`` (AdamW's weight decay is decoupled).
        amsgrad: As in :class:`Adam`.
        form: ``"torch"`` or ``"keras"``.

    Returns:
        A frozen optimizer.

    Example:
        >>> import torch
        >>> opt = AdamW(weight_decay=0.5)
        >>> theta = torch.ones(1, 1, dtype=torch.float64)
        >>> state = opt.init(theta)
        >>> lr = torch.tensor([0.1], dtype=torch.float64)
        >>> opt.step(theta, torch.zeros_like(theta), lr, state)
        >>> theta.item()  # 1 * (1 - 0.1 * 0.5); zero gradient, so Adam itself does not move
        0.95
    """

    name: ClassVar[str] = "adamw"
    weight_decay: Hyper = 1e-2
    decoupled: bool | None = True

    def _normalise(self) -> None:
        if self.decoupled is not True:
            raise ValueError(f"AdamW: decoupled must be True, got {self.decoupled!r}")
        super()._normalise()
