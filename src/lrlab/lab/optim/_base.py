"""The base of the population optimizers: argument checks, coefficient plumbing, and
:class:`PopulationOptimizer` (per-member hyperparameters, state, resume, config).

The conventions every optimizer shares are in the package docstring (:mod:`lrlab.lab.optim`).
"""

from __future__ import annotations

import dataclasses
import numbers
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from ..._checks import either, number_in
from ._stepper import Stepper

if TYPE_CHECKING:  # torch is imported where a tensor is updated, never by NumPy's updates
    import torch
    from torch import Tensor

    from ._kernel import KernelUpdate

__all__ = ["Coef", "Flag", "Form", "Hyper", "PopulationOptimizer", "Stepper", "Value"]

#: a per-member hyperparameter: one number for every member, or one number per member
Hyper = float | Sequence[float]
#: a per-member switch: one bool for every member, or one bool per member
Flag = bool | Sequence[bool]
#: which framework's formulas to reproduce
Form = Literal["torch", "keras"]
#: a scalar coefficient: a Python float (same for all members) or a ``[C, 1]`` tensor/array
Coef = Any

_INF = float("inf")


def _is_tensor(x: object) -> bool:
    """Whether ``x`` is a torch tensor (without importing torch where nothing could be one)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _f64(device: Any) -> Any:
    """float64 of the backend: NumPy's when ``device`` is ``None``, else torch's."""
    if device is None:
        return np.dtype(np.float64)
    import torch

    return torch.float64


# -- argument checks -----------------------------------------------------------------------------
def _plain(value: object) -> object:
    """Tensors and NumPy arrays as Python numbers / lists; anything else unchanged."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) and not isinstance(value, (str, bytes)) else value


def _number(
    owner: str, name: str, x: object, low: float, high: float, *, high_open: bool = False
) -> float:
    """``x`` as a float in ``[low, high]`` (``[low, high)`` if ``high_open``), else ValueError."""
    return number_in(owner, name, x, lo=low, hi=high, hi_open=high_open)


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


# -- coefficient plumbing ------------------------------------------------------------------------
#: a hyperparameter inside ``_constants``: a number (shared) or a list (one per member)
Value = float | list[float]


def _member_wise(fn: Callable[..., float], *vs: Value) -> Value:
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


def _pack(v: Value, dtype: Any, device: Any) -> Coef:
    """A shared number as a Python float; one value per member as a ``[C, 1]`` column (a
    NumPy array when ``device`` is ``None``, else a tensor on ``device``).

    The choice follows how the value was *given*, never the values themselves, so a member's
    arithmetic (down to the last bit) does not depend on the other members' values.
    """
    if not isinstance(v, list):
        return float(v)
    return _tensor(v, dtype, device)


def _tensor(v: Value | list[bool], dtype: Any, device: Any) -> Any:
    """A shared value as a 0-d tensor/array; one value per member as a ``[C, 1]`` column (NumPy
    when ``device`` is ``None``)."""
    if device is None:
        a = np.asarray(v, dtype=dtype)
        return a[:, None] if a.ndim else a
    import torch

    t = torch.tensor(v, dtype=dtype, device=device)
    return t.unsqueeze(1) if t.dim() else t


def _lr_column(lr: object, n: int, dtype: Any, device: Any, owner: str) -> Any:
    """The learning rate as a ``[C, 1]`` column of ``dtype`` (a scalar is every member's): a
    NumPy array when ``device`` is ``None``, else a tensor on ``device``."""
    if device is None:
        a = np.asarray(lr.detach().cpu().numpy() if _is_tensor(lr) else lr, dtype=np.float64)
        if a.ndim == 0:
            a = np.broadcast_to(a, (n,))
        elif a.shape != (n,):
            raise ValueError(f"{owner}: lr must have shape [C] = [{n}], got shape {list(a.shape)}")
        return a.astype(dtype)[:, None]
    import torch

    t = lr if isinstance(lr, torch.Tensor) else torch.as_tensor(lr, dtype=torch.float64)
    if t.dim() == 0:
        t = t.expand(n)
    elif t.shape != (n,):
        raise ValueError(f"{owner}: lr must have shape [C] = [{n}], got shape {list(t.shape)}")
    return t.to(device=device, dtype=dtype).unsqueeze(1)


def _axpy(y: Tensor, x: Tensor, a: Coef) -> Tensor:
    """``y + a * x`` as a new tensor."""
    return y.add(x, alpha=a) if isinstance(a, float) else y.addcmul(x, a)


def _axpy_(y: Tensor, x: Tensor, a: Coef) -> Tensor:
    """``y += a * x`` in place."""
    return y.add_(x, alpha=a) if isinstance(a, float) else y.addcmul_(x, a)


def _ema_sq_(v: Tensor, g: Tensor, b: Coef, one_minus_b: Coef) -> None:
    """``v = b * v + (1 - b) * g**2`` in place (torch: ``mul_(b).addcmul_(g, g, value=1-b)``)."""
    v.mul_(b)
    if isinstance(one_minus_b, float):
        v.addcmul_(g, g, value=one_minus_b)
    else:
        v.addcmul_(g, g * one_minus_b)


def _ema_sq_np(v: np.ndarray, g: np.ndarray, b: Coef, one_minus_b: Coef) -> None:
    """:func:`_ema_sq_` on NumPy arrays: ``v = b * v + (1 - b) * g**2`` in place."""
    v *= b
    v += g * g * one_minus_b if isinstance(one_minus_b, float) else g * (g * one_minus_b)


def _decay_np(lr: np.ndarray, k: dict, dtype: Any) -> np.ndarray:
    """Decoupled weight decay's factor ``1 - lr * weight_decay``, in float64, then ``dtype``."""
    return (1.0 - lr.astype(np.float64) * k["wd64"]).astype(dtype)


def _lerp_np(start: np.ndarray, end: np.ndarray, weight: Coef) -> None:
    """``start += weight * (end - start)`` in place, as torch's ``lerp_`` computes it (from
    ``end`` backwards where ``|weight| >= 0.5``)."""
    if isinstance(weight, float):
        if abs(weight) < 0.5:
            start += weight * (end - start)
        else:
            start[...] = end - (end - start) * (1.0 - weight)
        return
    diff = end - start
    near = np.abs(weight) < 0.5
    np.copyto(start, np.where(near, start + weight * diff, end - diff * (1 - weight)))


# -- the base class ------------------------------------------------------------------------------
class PopulationOptimizer:
    """Base of the population optimizers: per-member hyperparameters, state, resume, config.

    Subclasses are frozen dataclasses; they declare their hyperparameters and implement the
    update. Everything documented here is shared.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    form: Form
    _cache: dict[tuple[int, Any, Any], dict[str, Any]]

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

    def _constants(self, m: dict[str, Any], dt: Any, dev: Any) -> dict:
        """Coefficients that do not change between steps (``m`` from ``_members(expand=False)``),
        as NumPy arrays when ``dev`` is ``None`` (``dt`` a NumPy dtype), else torch tensors."""
        raise NotImplementedError

    def _update(
        self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor], k: dict
    ) -> None:
        """One update, in place; ``state["step"]`` still counts the updates done before it."""
        raise NotImplementedError

    def _update_numpy(
        self,
        theta: np.ndarray,
        grad: np.ndarray,
        lr: np.ndarray,
        state: dict[str, np.ndarray],
        k: dict,
    ) -> None:
        """:meth:`_update` on NumPy arrays: the same formulas, equal to rounding."""
        raise NotImplementedError

    # -- shared machinery ------------------------------------------------------------------------
    def __post_init__(self) -> None:
        either(type(self).__name__, "form", self.form, ("torch", "keras"))
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

    def _consts(self, n: int, device: Any, dtype: Any) -> dict[str, Any]:
        key = (n, device, dtype)
        k = self._cache.get(key)
        if k is None:
            k = self._constants(self._members(n, expand=False), dtype, device)
            self._cache[key] = k
        return k

    def hyper(
        self, n: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> dict[str, Tensor]:
        """Every per-member hyperparameter as a ``[C]`` tensor (switches as bool tensors).

        Args:
            n: Number of members C; sequences given at construction must have this length.
            device: Device of the tensors (default CPU).
            dtype: Floating dtype of the numeric hyperparameters (default float64).

        Returns:
            ``name -> [C] tensor``, named as in ``torch.optim`` (``beta1``/``beta2`` for Adam's
            ``betas``).
        """
        import torch

        dtype = torch.float64 if dtype is None else dtype
        out = {}
        for key, vals in self._members(n).items():
            kind = torch.bool if isinstance(vals[0], bool) else dtype
            out[key] = torch.tensor(vals, dtype=kind, device=device)
        return out

    def init(self, theta: Tensor | np.ndarray) -> dict[str, Any]:
        """A fresh state for the population ``theta`` (``[C, P]``).

        Args:
            theta: The parameters, ``[C, P]``, floating point: a torch tensor, or a NumPy array
                (then the state is NumPy arrays and the updates run in NumPy, torch unused);
                only its shape, dtype and device are used.

        Returns:
            ``{"step": 0-d int64 tensor, <buffer name>: [C, P] tensor, ...}`` (NumPy arrays for
            a NumPy ``theta``).

        Example:
            >>> import numpy as np
            >>> from lrlab.lab.optim import Adam
            >>> sorted(Adam().init(np.zeros((2, 3))))
            ['exp_avg', 'exp_avg_sq', 'step']
        """
        owner = type(self).__name__
        if isinstance(theta, np.ndarray):
            if theta.ndim != 2 or theta.dtype.kind != "f":
                raise ValueError(
                    f"{owner}: theta must be a floating [C, P] array, got {list(theta.shape)} "
                    f"{theta.dtype}"
                )
            k = self._consts(theta.shape[0], None, theta.dtype)
            arrays: dict[str, Any] = {"step": np.zeros((), dtype=np.int64)}
            for name in self._buffers():
                arrays[name] = np.zeros(theta.shape, dtype=theta.dtype)
                arrays[name] += k.get(f"init_{name}", 0.0)
            return arrays
        if not _is_tensor(theta) or theta.dim() != 2 or not theta.is_floating_point():
            shape = list(theta.shape) if _is_tensor(theta) else type(theta).__name__
            raise ValueError(f"{owner}: theta must be a floating [C, P] tensor, got {shape}")
        import torch

        k = self._consts(theta.shape[0], theta.device, theta.dtype)
        state = {"step": torch.zeros((), dtype=torch.int64, device=theta.device)}
        for name in self._buffers():
            fill = k.get(f"init_{name}", 0.0)
            buf = torch.zeros(theta.shape, dtype=theta.dtype, device=theta.device)
            state[name] = buf.add_(fill) if isinstance(fill, torch.Tensor) or fill else buf
        return state

    def step(self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor]) -> None:
        """One update of every member, in place on ``theta`` and ``state`` (``grad`` unchanged).

        Args:
            theta: The parameters, ``[C, P]`` (a tensor, or a NumPy array with a NumPy state).
            grad: Their gradients, ``[C, P]``, of theta's kind.
            lr: This step's learning rate per member, a ``[C]`` tensor or array of any floating
                dtype (a number or 0-d tensor is every member's). A member with ``lr = 0`` does
                not move. The values are not checked, since that would wait for the device.
            state: The state from :meth:`init` (or :meth:`load_state_dict`).
        """
        C = theta.shape[0]
        if isinstance(theta, np.ndarray):
            k = self._consts(C, None, theta.dtype)
            dt = np.float64 if self._lr64 else theta.dtype
            self._update_numpy(theta, grad, _lr_column(lr, C, dt, None, self.name), state, k)
            state["step"] += 1
            return
        import torch

        k = self._consts(C, theta.device, theta.dtype)
        if (
            not self._lr64
            and isinstance(lr, torch.Tensor)
            and lr.shape == (C,)
            and lr.dtype == theta.dtype
            and lr.device == theta.device
        ):
            col = lr.unsqueeze(1)
        else:
            col = _lr_column(lr, C, torch.float64, theta.device, type(self).__name__)
        with torch.no_grad():
            self._update(theta, grad, col, state, k)
            state["step"].add_(1)

    def stepper(self, theta: Tensor, grad: Tensor, state: dict[str, Any]) -> Stepper:
        """:meth:`step` bound to ``theta``, ``grad`` and ``state``, for a training loop's hot path.

        The checks and lookups of :meth:`step` run once, here; calling the returned
        :class:`Stepper` with ``lr`` only updates. It must be called with gradients disabled
        (``torch.no_grad()``) and ``lr`` a ``[C, 1]`` column in theta's dtype and device (for a
        NumPy ``theta``: a ``[C, 1]`` NumPy column). Its results equal :meth:`step`'s bit for
        bit. Call :meth:`Stepper.flush` before reading ``state["step"]``: an optimizer whose
        update does not read the count (SGD without dampening, RMSprop, Adadelta, Adagrad without
        ``lr_decay``) adds it up in Python.

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
        if isinstance(theta, np.ndarray):
            if theta.ndim != 2 or theta.dtype.kind != "f":
                raise ValueError(f"{owner}: theta must be a floating [C, P] array")
            if not isinstance(grad, np.ndarray) or grad.shape != theta.shape:
                raise ValueError(f"{owner}: grad must be an array of theta's shape {theta.shape}")
            k = self._consts(theta.shape[0], None, theta.dtype)
            return Stepper(self, theta, grad, state, k)
        if not _is_tensor(theta) or theta.dim() != 2 or not theta.is_floating_point():
            raise ValueError(f"{owner}: theta must be a floating [C, P] tensor")
        if not _is_tensor(grad) or grad.shape != theta.shape:
            raise ValueError(f"{owner}: grad must have theta's shape {list(theta.shape)}")
        k = self._consts(theta.shape[0], theta.device, theta.dtype)
        return Stepper(self, theta, grad, state, k)

    def _reads_step(self, k: dict) -> bool:
        """Whether ``_update`` reads ``state["step"]`` with these constants."""
        return True

    def _kernel_update(
        self, theta: np.ndarray, state: dict[str, Any], k: dict
    ) -> KernelUpdate | None:
        """``_update_numpy`` with these constants as a :class:`~lrlab.lab.optim.KernelUpdate`
        (the same numbers bit for bit), or ``None``."""
        return None

    def _replaces_numpy_update(self, cls: type[PopulationOptimizer]) -> bool:
        """Whether this optimizer's class, a subclass of ``cls``, computes its NumPy update
        (or its weight decay) otherwise than ``cls`` does: ``cls``'s kernel update is then not
        its own."""
        own = type(self)
        return (
            own._update_numpy is not cls._update_numpy
            or own._weight_decay_numpy is not cls._weight_decay_numpy
        )

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
        import torch

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
            f64 = k["float64"]
            lr64 = lr if lr.dtype == f64 else lr.to(f64)
            theta.mul_((1.0 - lr64 * k["wd64"]).to(theta.dtype))
            return grad
        return _axpy(grad, theta, k["wd"])

    def _weight_decay_numpy(
        self, theta: np.ndarray, grad: np.ndarray, lr: np.ndarray, k: dict
    ) -> np.ndarray:
        """:meth:`_weight_decay` on NumPy arrays."""
        if not k["has_wd"]:
            return grad
        if k["decoupled"]:
            theta *= _decay_np(lr, k, theta.dtype)
            return grad
        return grad + theta * k["wd"]

    def _common(self, m: dict[str, Any], dt: Any, dev: Any) -> dict:
        wd = m["weight_decay"]
        f64 = _f64(dev)
        return {
            "float64": f64,
            "has_wd": _active(wd),
            "wd": _pack(wd, dt, dev),
            "wd64": _pack(wd, f64, dev),
            "decoupled": self.form == "keras",
            "eps": _pack(m["eps"], dt, dev) if "eps" in m else 0.0,
        }


def _seq(v: object) -> tuple[Any, ...]:
    return v if isinstance(v, tuple) else (v,)


def _check_form_zero(owner: str, form: str, name: str, value: object, why: str) -> None:
    if form == "keras" and any(v != 0 for v in _seq(value)):
        raise ValueError(f"{owner}: {name} must be 0 with form='keras' ({why}), got {value!r}")
