"""The base of the population optimizers: argument checks, coefficient plumbing, and
:class:`PopulationOptimizer` (per-member hyperparameters, state, resume, config).

The conventions every optimizer shares are in the package docstring (:mod:`lrlab.lab.optim`).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

__all__ = ["Coef", "Flag", "Form", "Hyper", "PopulationOptimizer", "Stepper", "Value"]

#: a per-member hyperparameter: one number for every member, or one number per member
Hyper = float | Sequence[float]
#: a per-member switch: one bool for every member, or one bool per member
Flag = bool | Sequence[bool]
#: which framework's formulas to reproduce
Form = Literal["torch", "keras"]
#: a scalar coefficient: a Python float (same for all members) or a ``[C, 1]`` tensor
Coef = float | Tensor

_F64 = torch.float64
_INF = float("inf")


# -- argument checks -----------------------------------------------------------------------------
def _plain(value: object) -> object:
    """Tensors and NumPy arrays as Python numbers / lists; anything else unchanged."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) and not isinstance(value, (str, bytes)) else value


def _number(
    owner: str, name: str, x: object, low: float, high: float, *, high_open: bool = False
) -> float:
    """``x`` as a float in ``[low, high]`` (``[low, high)`` if ``high_open``), else ValueError."""
    right = ")" if high_open else "]"
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise ValueError(f"{owner}: {name} must be a number, got {x!r}")
    v = float(x)
    if not (low <= v and (v < high if high_open else v <= high)) or v != v:
        raise ValueError(f"{owner}: {name} must be in [{low:g}, {high:g}{right}, got {x!r}")
    return v


def _hyper(
    owner: str, name: str, value: object, low: float, high: float, *, high_open: bool = False
) -> float | tuple[float, ...]:
    """A per-member hyperparameter: a float, or a tuple with one checked float per member."""
    value = _plain(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return _number(owner, name, value, low, high, high_open=high_open)
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence) or not value:
        raise ValueError(
            f"{owner}: {name} must be a number or a non-empty sequence of numbers (one per "
            f"member), got {value!r}"
        )
    return tuple(
        _number(owner, f"{name} (member {i})", v, low, high, high_open=high_open)
        for i, v in enumerate(value)
    )


def _flag(owner: str, name: str, value: object) -> bool | tuple[bool, ...]:
    """A per-member switch: a bool, or a tuple with one bool per member."""
    value = _plain(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence) or not value:
        raise ValueError(
            f"{owner}: {name} must be a bool or a non-empty sequence of bools, got {value!r}"
        )
    for i, v in enumerate(value):
        if not isinstance(v, bool):
            raise ValueError(f"{owner}: {name} (member {i}) must be a bool, got {v!r}")
    return tuple(value)


def _choice(owner: str, name: str, value: object, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{owner}: {name} must be {' or '.join(map(repr, choices))}, got {value!r}"
        )


# -- coefficient plumbing ------------------------------------------------------------------------
#: a hyperparameter inside ``_constants``: a number (shared) or a list (one per member)
Value = float | list[float]


def _lift(fn: Callable[..., float], *vs: Value) -> Value:
    """``fn`` applied member by member; a number when every argument is one."""
    lists = [v for v in vs if isinstance(v, list)]
    if not lists:
        return fn(*vs)
    cols = [v if isinstance(v, list) else [v] * len(lists[0]) for v in vs]
    return [fn(*xs) for xs in zip(*cols)]


def _active(v: Value | tuple[Any, ...]) -> bool:
    """Whether the term of this hyperparameter is computed: always for one value per member
    (so that the path never depends on the values), else when the shared number is non-zero.
    Zero-valued members of a computed term get exactly the result of the skipped one."""
    return isinstance(v, (list, tuple)) or bool(v)


def _pack(v: Value, dtype: torch.dtype, device: torch.device) -> Coef:
    """A shared number as a Python float; one value per member as a ``[C, 1]`` tensor.

    The choice follows how the value was *given*, never the values themselves, so a member's
    arithmetic (down to the last bit) does not depend on the other members' values.
    """
    if not isinstance(v, list):
        return float(v)
    return torch.tensor(v, dtype=dtype, device=device).unsqueeze(1)


def _tensor(v: Value | list[bool], dtype: torch.dtype, device: torch.device) -> Tensor:
    """A shared value as a 0-d tensor; one value per member as a ``[C, 1]`` tensor."""
    t = torch.tensor(v, dtype=dtype, device=device)
    return t.unsqueeze(1) if t.dim() else t


def _col(lr: object, n: int, dtype: torch.dtype, device: torch.device, owner: str) -> Tensor:
    """The learning rate as a ``[C, 1]`` column of ``dtype`` (a scalar is every member's)."""
    t = lr if isinstance(lr, Tensor) else torch.as_tensor(lr, dtype=_F64)
    if t.dim() == 0:
        t = t.expand(n)
    elif t.shape != (n,):
        raise ValueError(f"{owner}: lr must have shape [C] = [{n}], got shape {list(t.shape)}")
    return t.to(device=device, dtype=dtype).unsqueeze(1)


def _axpy(y: Tensor, x: Tensor, a: Coef) -> Tensor:
    """``y + a * x`` as a new tensor."""
    return torch.add(y, x, alpha=a) if isinstance(a, float) else torch.addcmul(y, x, a)


def _axpy_(y: Tensor, x: Tensor, a: Coef) -> Tensor:
    """``y += a * x`` in place."""
    return y.add_(x, alpha=a) if isinstance(a, float) else y.addcmul_(x, a)


def _ema_sq_(v: Tensor, g: Tensor, b: Coef, omb: Coef) -> None:
    """``v = b * v + (1 - b) * g**2`` in place (torch: ``mul_(b).addcmul_(g, g, value=1-b)``)."""
    v.mul_(b)
    if isinstance(omb, float):
        v.addcmul_(g, g, value=omb)
    else:
        v.addcmul_(g, g * omb)


# -- the base class ------------------------------------------------------------------------------
class PopulationOptimizer:
    """Base of the population optimizers: per-member hyperparameters, state, resume, config.

    Subclasses are frozen dataclasses; they declare their hyperparameters and implement the
    update. Everything documented here is shared.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    form: Form
    _cache: dict[tuple[int, torch.device, torch.dtype], dict[str, Any]]

    # -- subclass hooks --------------------------------------------------------------------------
    #: per-member numeric hyperparameters: name -> (low, high, high end open)
    _ranges: ClassVar[dict[str, tuple[float, float, bool]]] = {}
    #: per-member switches
    _flags: ClassVar[tuple[str, ...]] = ()
    #: switches shared by all members
    _bools: ClassVar[tuple[str, ...]] = ()
    #: whether ``_update`` computes with the learning rate in float64 (step sizes with bias
    #: corrections, as torch.optim does in Python floats); when not, a ``[C]`` learning rate
    #: already in theta's dtype and device is passed through without two conversions, which
    #: gives the same values (float32 rates are exact in float64) and saves two operations
    _lr64: ClassVar[bool] = True

    def _normalise(self) -> None:
        """Check and normalise the fields (set with ``object.__setattr__``)."""
        o = type(self).__name__
        for n, (low, high, high_open) in self._ranges.items():
            v = _hyper(o, n, getattr(self, n), low, high, high_open=high_open)
            object.__setattr__(self, n, v)
        for n in self._flags:
            object.__setattr__(self, n, _flag(o, n, getattr(self, n)))
        for n in self._bools:
            if not isinstance(getattr(self, n), bool):
                raise ValueError(f"{o}: {n} must be a bool, got {getattr(self, n)!r}")

    def _items(self) -> list[tuple[str, str, Any]]:
        """``(label in errors, key in hyper(), normalised value)`` of each per-member value."""
        return [(n, n, getattr(self, n)) for n in (*self._ranges, *self._flags)]

    def _buffers(self) -> tuple[str, ...]:
        """Names of the ``[C, P]`` state buffers this configuration uses."""
        raise NotImplementedError

    def _check_members(self, members: dict[str, list[Any]]) -> None:
        """Cross-checks between one member's values (e.g. SGD's nesterov needs momentum)."""

    def _constants(self, m: dict[str, Any], dt: torch.dtype, dev: torch.device) -> dict:
        """Coefficients that do not change between steps (``m`` from ``_members(expand=False)``)."""
        raise NotImplementedError

    def _update(
        self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor], k: dict
    ) -> None:
        """One update, in place; ``state["step"]`` still counts the updates done before it."""
        raise NotImplementedError

    # -- shared machinery ------------------------------------------------------------------------
    def __post_init__(self) -> None:
        _choice(type(self).__name__, "form", self.form, ("torch", "keras"))
        self._normalise()
        object.__setattr__(self, "_cache", {})
        lengths = {label: len(v) for label, _, v in self._items() if isinstance(v, tuple)}
        if len(set(lengths.values())) > 1:
            raise ValueError(
                f"{type(self).__name__}: per-member hyperparameters must all have one length "
                f"(C), got lengths {lengths}"
            )
        self._members(next(iter(lengths.values()), 1))

    def _members(self, n: int, *, expand: bool = True) -> dict[str, Any]:
        """Every per-member value as a list of length ``C`` (checked); with ``expand=False``
        a value given as one number stays a number."""
        out: dict[str, Any] = {}
        full: dict[str, list[Any]] = {}
        for label, key, v in self._items():
            if isinstance(v, tuple):
                if len(v) != n:
                    raise ValueError(
                        f"{type(self).__name__}: {label} has {len(v)} values (one per member) "
                        f"but there are C={n} members"
                    )
                out[key] = full[key] = list(v)
            else:
                out[key], full[key] = v, [v] * n
        self._check_members(full)
        return full if expand else out

    def _consts(self, n: int, device: torch.device, dtype: torch.dtype) -> dict[str, Any]:
        key = (n, device, dtype)
        k = self._cache.get(key)
        if k is None:
            k = self._constants(self._members(n, expand=False), dtype, device)
            self._cache[key] = k
        return k

    def hyper(
        self, n: int, device: torch.device | str | None = None, dtype: torch.dtype = _F64
    ) -> dict[str, Tensor]:
        """Every per-member hyperparameter as a ``[C]`` tensor (switches as bool tensors).

        Args:
            n: Number of members C; sequences given at construction must have this length.
            device: Device of the tensors (default CPU).
            dtype: Floating dtype of the numeric hyperparameters.

        Returns:
            ``name -> [C] tensor``, named as in ``torch.optim`` (``beta1``/``beta2`` for Adam's
            ``betas``).
        """
        out = {}
        for key, vals in self._members(n).items():
            kind = torch.bool if isinstance(vals[0], bool) else dtype
            out[key] = torch.tensor(vals, dtype=kind, device=device)
        return out

    def init(self, theta: Tensor) -> dict[str, Tensor]:
        """A fresh state for the population ``theta`` (``[C, P]``).

        Args:
            theta: The parameters, ``[C, P]``, floating point; only its shape, dtype and device
                are used.

        Returns:
            ``{"step": 0-d int64 tensor, <buffer name>: [C, P] tensor, ...}``.
        """
        owner = type(self).__name__
        if not isinstance(theta, Tensor) or theta.dim() != 2 or not theta.is_floating_point():
            shape = list(theta.shape) if isinstance(theta, Tensor) else type(theta).__name__
            raise ValueError(f"{owner}: theta must be a floating [C, P] tensor, got {shape}")
        k = self._consts(theta.shape[0], theta.device, theta.dtype)
        state = {"step": torch.zeros((), dtype=torch.int64, device=theta.device)}
        for name in self._buffers():
            fill = k.get(f"init_{name}", 0.0)
            buf = torch.zeros(theta.shape, dtype=theta.dtype, device=theta.device)
            state[name] = buf.add_(fill) if isinstance(fill, Tensor) or fill else buf
        return state

    def step(self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor]) -> None:
        """One update of every member, in place on ``theta`` and ``state`` (``grad`` unchanged).

        Args:
            theta: The parameters, ``[C, P]``.
            grad: Their gradients, ``[C, P]``.
            lr: This step's learning rate per member, a ``[C]`` tensor of any floating dtype
                (a number or 0-d tensor is every member's). A member with ``lr = 0`` does not
                move. The values are not checked, since that would wait for the device.
            state: The state from :meth:`init` (or :meth:`load_state_dict`).
        """
        C = theta.shape[0]
        k = self._consts(C, theta.device, theta.dtype)
        if (
            not self._lr64
            and isinstance(lr, Tensor)
            and lr.shape == (C,)
            and lr.dtype == theta.dtype
            and lr.device == theta.device
        ):
            col = lr.unsqueeze(1)
        else:
            col = _col(lr, C, _F64, theta.device, type(self).__name__)
        with torch.no_grad():
            self._update(theta, grad, col, state, k)
            state["step"].add_(1)

    def stepper(self, theta: Tensor, grad: Tensor, state: dict[str, Tensor]) -> Stepper:
        """:meth:`step` bound to ``theta``, ``grad`` and ``state``, for a training loop's hot path.

        The checks and lookups of :meth:`step` run once, here; calling the returned
        :class:`Stepper` with ``lr`` only updates. It must be called with gradients disabled
        (``torch.no_grad()``) and ``lr`` a ``[C, 1]`` column in theta's dtype and device. Its
        results equal :meth:`step`'s bit for bit. Call :meth:`Stepper.flush` before reading
        ``state["step"]``: an optimizer whose update does not read the count (SGD without
        dampening, RMSprop, Adadelta, Adagrad without ``lr_decay``) adds it up in Python.

        Example:
            >>> import torch
            >>> from lrlab.lab.optim import SGD
            >>> theta = torch.ones(2, 3, dtype=torch.float64)
            >>> opt = SGD(momentum=0.9)
            >>> state = opt.init(theta)
            >>> update = opt.stepper(theta, torch.ones_like(theta), state)
            >>> lr = torch.tensor([[0.1], [0.0]], dtype=torch.float64)  # member 1 stays
            >>> with torch.no_grad():
            ...     for _ in range(2):
            ...         update(lr)
            >>> update.flush()
            >>> theta[:, 0].tolist(), int(state["step"])
            ([0.71, 1.0], 2)
        """
        owner = type(self).__name__
        if not isinstance(theta, Tensor) or theta.dim() != 2 or not theta.is_floating_point():
            raise ValueError(f"{owner}: theta must be a floating [C, P] tensor")
        if not isinstance(grad, Tensor) or grad.shape != theta.shape:
            raise ValueError(f"{owner}: grad must have theta's shape {list(theta.shape)}")
        k = self._consts(theta.shape[0], theta.device, theta.dtype)
        return Stepper(self, theta, grad, state, k)

    def _reads_step(self, k: dict) -> bool:
        """Whether ``_update`` reads ``state["step"]`` with these constants."""
        return True

    def state_dict(self, state: dict[str, Tensor]) -> dict[str, Any]:
        """A copy of ``state`` in plain containers, for checkpoints (``torch.save``-able).

        Returns:
            ``{"optimizer": name, "form": form, "step": 0-d int64 tensor, "buffers": {name:
            [C, P] tensor}}``; the tensors are copies, on the state's device.
        """
        missing = [n for n in ("step", *self._buffers()) if n not in state]
        if missing:
            raise ValueError(f"{type(self).__name__}: state lacks {missing}; is it from init()?")
        return {
            "optimizer": self.name,
            "form": self.form,
            "step": state["step"].detach().clone(),
            "buffers": {n: state[n].detach().clone() for n in self._buffers()},
        }

    def load_state_dict(
        self, d: Mapping[str, Any], *, device: torch.device | str | None = None
    ) -> dict[str, Tensor]:
        """A state rebuilt from :meth:`state_dict` output (tensors copied, optionally moved).

        Args:
            d: What :meth:`state_dict` returned (possibly through ``torch.save``/``load``).
            device: Where to put the state (default: where the saved tensors are).

        Returns:
            A state to pass to :meth:`step`; resuming is bit-for-bit the uninterrupted run.
        """
        owner = type(self).__name__
        if not isinstance(d, Mapping) or set(d) != {"optimizer", "form", "step", "buffers"}:
            got = sorted(d) if isinstance(d, Mapping) else type(d).__name__
            raise ValueError(
                f"{owner}: state dict must have keys buffers, form, optimizer, step; got {got}"
            )
        from ._registry import OPTIMIZERS

        saved = OPTIMIZERS.get(str(d["optimizer"]))
        if saved is None or saved.family != self.family or d["form"] != self.form:
            raise ValueError(
                f"{owner}: state dict is for optimizer {d['optimizer']!r} form {d['form']!r}, "
                f"not {self.name!r} form {self.form!r}"
            )
        buffers = d["buffers"]
        if not isinstance(buffers, Mapping) or set(buffers) != set(self._buffers()):
            got = sorted(buffers) if isinstance(buffers, Mapping) else buffers
            raise ValueError(
                f"{owner}: state dict buffers must be {sorted(self._buffers())}, got {got}"
            )
        step = torch.as_tensor(d["step"])
        if step.dim() != 0 or step.is_floating_point() or step.is_complex() or int(step) < 0:
            raise ValueError(f"{owner}: state dict step must be an integer >= 0, got {d['step']!r}")
        shapes = {n: tuple(torch.as_tensor(b).shape) for n, b in buffers.items()}
        if len(set(shapes.values())) > 1 or any(len(s) != 2 for s in shapes.values()):
            raise ValueError(f"{owner}: state dict buffers must all be [C, P], got {shapes}")
        if shapes:
            self._members(next(iter(shapes.values()))[0])
        tensors = {n: torch.as_tensor(b) for n, b in buffers.items()}
        if device is not None:
            dev = torch.device(device)
        else:
            dev = next(iter(tensors.values())).device if tensors else step.device
        state = {"step": step.to(device=dev, dtype=torch.int64, copy=True)}
        state.update({n: b.to(device=dev, copy=True) for n, b in tensors.items()})
        return state

    def to_config(self) -> dict[str, Any]:
        """The configuration as plain Python: ``optimizer_from_config(**opt.to_config())``."""
        out: dict[str, Any] = {"name": self.name}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if f.name == "betas":
                v = [list(b) if isinstance(b, tuple) else b for b in v]
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    # -- helpers for subclasses ------------------------------------------------------------------
    def _weight_decay(self, theta: Tensor, grad: Tensor, lr: Tensor, k: dict) -> Tensor:
        """Apply the form's weight decay; return the gradient the update uses.

        torch (coupled, L2): ``g = grad + wd * theta``. Keras (decoupled):
        ``theta -= lr * wd * theta`` before the update, ``g = grad``.
        """
        if not k["has_wd"]:
            return grad
        if k["decoupled"]:
            lr64 = lr if lr.dtype == _F64 else lr.to(_F64)
            theta.mul_((1.0 - lr64 * k["wd64"]).to(theta.dtype))
            return grad
        return _axpy(grad, theta, k["wd"])

    def _common(self, m: dict[str, Any], dt: torch.dtype, dev: torch.device) -> dict:
        wd = m["weight_decay"]
        return {
            "has_wd": _active(wd),
            "wd": _pack(wd, dt, dev),
            "wd64": _pack(wd, _F64, dev),
            "decoupled": self.form == "keras",
            "eps": _pack(m["eps"], dt, dev) if "eps" in m else 0.0,
        }


class Stepper:
    """An optimizer's update bound to one population: see
    :meth:`PopulationOptimizer.stepper`."""

    __slots__ = ("_count", "_grad", "_k", "_lazy", "_lr64", "_pending", "_state", "_theta", "_up")

    def __init__(
        self,
        opt: PopulationOptimizer,
        theta: Tensor,
        grad: Tensor,
        state: dict[str, Tensor],
        k: dict,
    ) -> None:
        self._up, self._theta, self._grad, self._state, self._k = (
            opt._update,
            theta,
            grad,
            state,
            k,
        )
        self._lr64, self._count = opt._lr64, state["step"]
        # a torch op per step to count costs ~4 us; count in Python when nothing reads it
        self._lazy, self._pending = not opt._reads_step(k), 0

    def __call__(self, lr: Tensor) -> None:
        """One update with the learning rates ``lr`` (a ``[C, 1]`` column)."""
        self._up(self._theta, self._grad, lr.to(_F64) if self._lr64 else lr, self._state, self._k)
        if self._lazy:
            self._pending += 1
        else:
            self._count.add_(1)

    def flush(self) -> None:
        """Bring ``state["step"]`` up to date with the updates made."""
        if self._pending:
            self._count.add_(self._pending)
            self._pending = 0


def _seq(v: object) -> tuple[Any, ...]:
    return v if isinstance(v, tuple) else (v,)


def _check_form_zero(owner: str, form: str, name: str, value: object, why: str) -> None:
    if form == "keras" and any(v != 0 for v in _seq(value)):
        raise ValueError(f"{owner}: {name} must be 0 with form='keras' ({why}), got {value!r}")
