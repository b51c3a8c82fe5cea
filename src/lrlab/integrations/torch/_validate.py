"""``find_lr(..., validate=True)`` for PyTorch: the model, optimizer, loss and data translated
to lrlab's population engine (a :class:`~lrlab.lab.models.TorchModule`, an :mod:`lrlab.lab.optim`
optimizer, NumPy arrays), checked before the range test and validated after it.

Imported by :func:`lrlab.torch.find_lr` only when validation is asked for.
"""

from __future__ import annotations

import copy
import types
from typing import Any

import numpy as np
import torch

from lrlab.lab.models import TorchModule
from lrlab.lab.optim import PopulationOptimizer
from lrlab.lab.validation import ValidationPlan, validation_settings

from ._data import once


# -- validate=True: the candidates on lrlab's population engine ----------------------------------
def _loss_output(loss_fn: Any) -> str:
    """The :class:`~lrlab.lab.models.TorchModule` output whose loss ``loss_fn`` is."""
    F = torch.nn.functional
    nn = torch.nn
    plain = {F.cross_entropy: "softmax", F.binary_cross_entropy_with_logits: "sigmoid"}
    plain[F.mse_loss] = "linear"
    if loss_fn in plain:
        return plain[loss_fn]
    kind = type(loss_fn)
    mean = getattr(loss_fn, "reduction", None) == "mean"
    if kind is nn.CrossEntropyLoss and mean and loss_fn.weight is None:
        if loss_fn.label_smoothing == 0:
            return "softmax"
    elif kind is nn.BCEWithLogitsLoss and mean and loss_fn.weight is None:
        if loss_fn.pos_weight is None:
            return "sigmoid"
    elif kind is nn.MSELoss and mean:
        return "linear"
    raise ValueError(
        "find_lr: validate=True trains on lrlab's population engine, which computes only "
        "cross-entropy on logits (torch.nn.CrossEntropyLoss, F.cross_entropy), "
        "torch.nn.BCEWithLogitsLoss / F.binary_cross_entropy_with_logits and torch.nn.MSELoss "
        "/ F.mse_loss, with the mean reduction, no class weights and no label smoothing; "
        f"got loss_fn={loss_fn!r}"
    )


def _value(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.tolist()
    if isinstance(v, tuple):
        return tuple(_value(x) for x in v)
    return v


def _lab_optimizer(optimizer: torch.optim.Optimizer) -> PopulationOptimizer:
    """The :mod:`lrlab.lab.optim` optimizer that computes what ``optimizer`` computes."""
    from lrlab.lab import optim as lo

    groups = optimizer.param_groups
    g0 = {k: _value(v) for k, v in groups[0].items() if k != "params"}
    for i, g in enumerate(groups[1:], start=1):
        for k, v in g.items():
            if k != "params" and _value(v) != g0.get(k):
                raise ValueError(
                    "find_lr: validate=True trains one learning rate and one setting for the "
                    f"whole model, but param group {i} has {k}={_value(v)!r} and group 0 "
                    f"{g0.get(k)!r}"
                )
    if g0.get("maximize"):
        raise ValueError("find_lr: validate=True does not support maximize=True")
    kind = type(optimizer)
    o = torch.optim
    wd = float(g0.get("weight_decay", 0.0))
    if kind is o.SGD:
        return lo.SGD(
            momentum=float(g0["momentum"]),
            dampening=float(g0["dampening"]),
            nesterov=bool(g0["nesterov"]),
            weight_decay=wd,
        )
    if kind in (o.Adam, o.AdamW):
        cls = lo.AdamW if kind is o.AdamW else lo.Adam
        return cls(
            betas=(float(g0["betas"][0]), float(g0["betas"][1])),
            eps=float(g0["eps"]),
            weight_decay=wd,
            amsgrad=bool(g0["amsgrad"]),
            decoupled=bool(g0.get("decoupled_weight_decay", kind is o.AdamW)),
        )
    if kind is o.RMSprop:
        return lo.RMSprop(
            alpha=float(g0["alpha"]),
            eps=float(g0["eps"]),
            centered=bool(g0["centered"]),
            momentum=float(g0["momentum"]),
            weight_decay=wd,
        )
    if kind is o.Adagrad:
        return lo.Adagrad(
            lr_decay=float(g0["lr_decay"]),
            eps=float(g0["eps"]),
            initial_accumulator_value=float(g0["initial_accumulator_value"]),
            weight_decay=wd,
        )
    if kind is o.Adadelta:
        return lo.Adadelta(rho=float(g0["rho"]), eps=float(g0["eps"]), weight_decay=wd)
    raise ValueError(
        "find_lr: validate=True rebuilds the optimizer on lrlab's population engine, which has "
        "torch.optim.SGD, Adam, AdamW, RMSprop, Adagrad and Adadelta; got optimizer of type "
        f"{kind.__module__}.{kind.__qualname__}"
    )


def _arrays(name: str, data: Any, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ``(inputs, targets)`` row of ``data`` as two NumPy arrays."""
    xs, ys = [], []
    for inputs, targets in once(data, batch_size):
        if not (isinstance(inputs, torch.Tensor) and isinstance(targets, torch.Tensor)):
            raise ValueError(
                f"find_lr: validate=True needs {name} batches of tensors (inputs, targets), got "
                f"({type(inputs).__name__}, {type(targets).__name__})"
            )
        xs.append(inputs.detach().cpu())
        ys.append(targets.detach().cpu())
    if not xs:
        raise ValueError(f"find_lr: {name} yielded no batch")
    x, y = torch.cat(xs), torch.cat(ys)
    if x.is_floating_point() and x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    if y.is_floating_point() and y.dtype not in (torch.float32, torch.float64):
        y = y.float()
    return x.numpy(), y.numpy()


def _targets(name: str, y: np.ndarray, output: str, n_out: int) -> np.ndarray:
    if output == "softmax":
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ValueError(
                f"find_lr: validate=True with cross-entropy needs class indices (integers of shape "
                f"[N]) as {name} targets, got dtype {y.dtype} and shape {y.shape}; class "
                "probabilities and one-hot targets are not supported"
            )
        return y.astype(np.int64)
    out = y.astype(np.float64).reshape(len(y), -1)
    if out.shape[1] != n_out:
        raise ValueError(
            f"find_lr: validate=True: {name} targets have {out.shape[1]} columns per row but the "
            f"model has {n_out} outputs"
        )
    return out


class TorchValidationPlan(ValidationPlan):
    """``validate=True`` for a torch model: the optimizer and the loss translated and checked
    before the range test, the data read (:meth:`load`) while it runs, :meth:`run` after it."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Any,
        around: Any,
        factors: Any,
        epochs: Any,
        seeds: Any,
        seed: int,
    ) -> None:
        settings = validation_settings("find_lr", around, factors, epochs, seeds, seed)
        first = next(iter(model.parameters()), None)
        dtype = "float64" if first is not None and first.dtype == torch.float64 else "float32"
        super().__init__(settings, None, _lab_optimizer(optimizer), dtype)
        self.output = _loss_output(loss_fn)
        base = copy.deepcopy(model)  # the model's state before the test, never trained

        def factory() -> torch.nn.Module:
            return copy.deepcopy(base)

        self.base, self.factory = base, factory
        try:
            TorchModule(factory, 1, self.output).build([0])
        except ValueError as e:
            raise ValueError(f"find_lr: validate=True: {e}") from None

    def load(self, data: Any, val_data: Any, batch_size: int, dev: torch.device) -> None:
        """Materialise the data, check it against the model's outputs, and set the device."""
        x, y = _arrays("data", data, batch_size)
        probe = copy.deepcopy(self.base).eval()
        first = next(iter(probe.parameters()), None)
        dtype = first.dtype if first is not None else torch.float32
        with torch.no_grad():
            out = probe(torch.as_tensor(x[:2]).to(device=dev, dtype=dtype))
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"find_lr: validate=True needs a model that returns [batch, outputs], got {shape}"
            )
        n_out = int(out.shape[1])
        if self.output == "sigmoid" and n_out != 1:
            raise ValueError(
                f"find_lr: validate=True with binary cross-entropy needs one output, the model "
                f"has {n_out}"
            )
        xv = yv = None
        if val_data is not None:
            xv, yv_raw = _arrays("val_data", val_data, batch_size)
            yv = _targets("val_data", yv_raw, self.output, n_out)
        self.data = types.SimpleNamespace(
            x_train=x, y_train=_targets("data", y, self.output, n_out), x_test=xv, y_test=yv
        )
        self.model = TorchModule(self.factory, n_out, self.output)
        self.device = dev
