"""Vectorised optimizers for a population of ``C`` models trained at once.

The population engine keeps the trainable parameters of ``C`` independent models in one tensor
``theta`` of shape ``[C, P]`` (member-major) and their gradients in ``grad`` of the same shape.
An optimizer here updates ``theta`` in place with a handful of fused in-place ``torch`` ops per
step: no Python loop over members, no host synchronisation, CPU and CUDA, float32 and float64.

Conventions shared by every optimizer:

* **Per-member hyperparameters.** A number means the same value for every member; a sequence
  (list, tuple, NumPy array, 1-D tensor) gives member ``i`` its own value. Its length must equal
  ``C`` (checked by :meth:`~PopulationOptimizer.init`). A number runs as a Python scalar (the
  very ops ``torch.optim`` runs); a sequence as a ``[C, 1]`` tensor broadcast over ``P``, even
  when its values happen to be equal, so no member's bits depend on the other members' values.
* **The learning rate is an argument of** :meth:`~PopulationOptimizer.step`: a ``[C]`` tensor
  (the schedule table's row times the plateau multiplier), never part of the configuration.
* **Functional state.** ``state = opt.init(theta)`` is a ``dict`` of tensors: ``"step"`` (a 0-d
  int64 counter of the updates done) and the buffers, named as in ``torch.optim``
  (``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``square_avg``,
  ``grad_avg``, ``sum``, ``acc_delta``), each ``[C, P]``. :meth:`~PopulationOptimizer.step`
  updates ``theta`` and the state in place; ``grad`` is never modified.
* **Two forms.** ``form="torch"`` (the default) reproduces ``torch.optim`` (torch 2.13,
  ``_single_tensor_*`` code paths) formula for formula; ``form="keras"`` reproduces Keras 3
  (3.15, ``keras/src/optimizers/*.py`` and the torch backend's
  ``keras/src/backend/torch/optimizers/torch_*.py``) where Keras computes something different:
  the learning rate inside SGD's and RMSprop's momentum buffers, Adam's ``epsilon`` added to
  ``sqrt(v)`` without bias correction, ``epsilon`` inside the square root of RMSprop and
  Adagrad, and weight decay that is always decoupled (``p -= lr * wd * p`` before the update,
  ``BaseOptimizer._apply_weight_decay``). Defaults are ``torch.optim``'s in both forms; pass
  Keras' own defaults explicitly when you want them (see ``docs/optimizers.md``).
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "PopulationOptimizer",
    "RMSprop",
    "optimizer_from_config",
]

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
        with torch.no_grad():
            self._update(
                theta, grad, _col(lr, C, _F64, theta.device, type(self).__name__), state, k
            )
            state["step"].add_(1)

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
            theta.mul_((1.0 - lr * k["wd64"]).to(theta.dtype))
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


def _seq(v: object) -> tuple[Any, ...]:
    return v if isinstance(v, tuple) else (v,)


def _check_form_zero(owner: str, form: str, name: str, value: object, why: str) -> None:
    if form == "keras" and any(v != 0 for v in _seq(value)):
        raise ValueError(f"{owner}: {name} must be 0 with form='keras' ({why}), got {value!r}")


# -- SGD -----------------------------------------------------------------------------------------
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

    def _constants(self, m: dict[str, Any], dt: torch.dtype, dev: torch.device) -> dict:
        k = self._common(m, dt, dev)
        nes = m["nesterov"]
        damp = _lift(lambda d, mo: d if mo != 0 else 0.0, m["dampening"], m["momentum"])
        k.update(
            has_momentum=_active(m["momentum"]),
            momentum=_pack(m["momentum"], dt, dev),
            has_damp=_active(m["dampening"]),
            one_minus_damp=_tensor(_lift(lambda d: 1.0 - d, damp), dt, dev),
            one=torch.ones((), dtype=dt, device=dev),
            nes="mask" if isinstance(nes, list) else nes,
            # per-member Nesterov as arithmetic, not torch.where (slow, and a temporary):
            # p -= lr * (c * b + nu * g) with nu = 1, c = momentum (Nesterov) or nu = 0, c = 1
            nes_nu=_tensor(_lift(float, nes), dt, dev),
            nes_c=_tensor(_lift(lambda n, mo: mo if n else 1.0, nes, m["momentum"]), dt, dev),
        )
        return k

    def _update(
        self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor], k: dict
    ) -> None:
        lr_c = lr.to(theta.dtype)
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
            buf.addcmul_(g, torch.where(state["step"] == 0, k["one"], k["one_minus_damp"]))
        else:
            buf.add_(g)
        if k["nes"] == "mask":
            theta.addcmul_(buf, lr_c * k["nes_c"], value=-1)
            theta.addcmul_(g, lr_c * k["nes_nu"], value=-1)
            return
        d = _axpy(g, buf, mom) if k["nes"] else buf
        theta.addcmul_(d, lr_c, value=-1)


# -- Adam / AdamW --------------------------------------------------------------------------------
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

    def _constants(self, m: dict[str, Any], dt: torch.dtype, dev: torch.device) -> dict:
        k = self._common(m, dt, dev)
        k["decoupled"] = self.form == "keras" or bool(self.decoupled)
        for n in ("beta1", "beta2"):
            k[n] = _pack(m[n], dt, dev)
            k[f"{n}_64"] = _pack(m[n], _F64, dev)
            k[f"one_minus_{n}"] = _pack(_lift(lambda b: 1.0 - b, m[n]), dt, dev)
        return k

    def _update(
        self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor], k: dict
    ) -> None:
        g = self._weight_decay(theta, grad, lr, k)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        t = state["step"].to(_F64) + 1
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


# -- RMSprop -------------------------------------------------------------------------------------
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

    def _constants(self, m: dict[str, Any], dt: torch.dtype, dev: torch.device) -> dict:
        k = self._common(m, dt, dev)
        k.update(
            alpha=_pack(m["alpha"], dt, dev),
            one_minus_alpha=_pack(_lift(lambda a: 1.0 - a, m["alpha"]), dt, dev),
            momentum=_pack(m["momentum"], dt, dev),
        )
        return k

    def _update(
        self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor], k: dict
    ) -> None:
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

    def _constants(self, m: dict[str, Any], dt: torch.dtype, dev: torch.device) -> dict:
        k = self._common(m, dt, dev)
        k.update(
            has_lr_decay=_active(m["lr_decay"]),
            lr_decay_64=_pack(m["lr_decay"], _F64, dev),
            init_sum=_pack(m["initial_accumulator_value"], dt, dev),
        )
        return k

    def _update(
        self, theta: Tensor, grad: Tensor, lr: Tensor, state: dict[str, Tensor], k: dict
    ) -> None:
        g = self._weight_decay(theta, grad, lr, k)
        if k["has_lr_decay"]:
            lr = lr / (1.0 + state["step"].to(_F64) * k["lr_decay_64"])
        s = state["sum"]
        s.addcmul_(g, g)
        d = s.add(k["eps"]).sqrt_() if self.form == "keras" else s.sqrt().add_(k["eps"])
        torch.div(g, d, out=d)
        theta.addcmul_(d, lr.to(theta.dtype), value=-1)


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

    def _constants(self, m: dict[str, Any], dt: torch.dtype, dev: torch.device) -> dict:
        k = self._common(m, dt, dev)
        k.update(
            rho=_pack(m["rho"], dt, dev),
            one_minus_rho=_pack(_lift(lambda r: 1.0 - r, m["rho"]), dt, dev),
        )
        return k

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


# -- by name -------------------------------------------------------------------------------------
#: optimizer name -> class, as :func:`optimizer_from_config` reads it
OPTIMIZERS: dict[str, type[PopulationOptimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
}


def optimizer_from_config(name: str, **hyper: Any) -> PopulationOptimizer:
    """Build an optimizer from its name and hyperparameters (a study file's ``optimizer`` table).

    Args:
        name: ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"`` or
            ``"adadelta"`` (case-insensitive).
        **hyper: The class's keyword arguments (numbers or one value per member); the learning
            rate is not one of them (it comes from the schedule).

    Returns:
        The optimizer; ``optimizer_from_config(**opt.to_config())`` rebuilds ``opt``.

    Raises:
        ValueError: an unknown name or hyperparameter (with the closest valid one), or a bad
            value (naming the hyperparameter and the value).

    Example:
        >>> opt = optimizer_from_config("sgd", momentum=[0.0, 0.9], nesterov=[False, True])
        >>> opt.momentum, opt.nesterov
        ((0.0, 0.9), (False, True))
        >>> optimizer_from_config("adma")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: unknown optimizer 'adma'; did you mean 'adam'? Known: sgd, adam, ...
    """
    key = name.lower() if isinstance(name, str) else name
    cls = OPTIMIZERS.get(key) if isinstance(key, str) else None
    if cls is None:
        close = difflib.get_close_matches(str(key), list(OPTIMIZERS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ";"
        raise ValueError(f"unknown optimizer {name!r}{hint} Known: {', '.join(OPTIMIZERS)}")
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for k in hyper:
        if k in fields:
            continue
        if k in ("lr", "learning_rate"):
            raise ValueError(
                f"{cls.__name__}: {k!r} is not an optimizer hyperparameter here; the learning "
                f"rate comes from the schedule (got {k}={hyper[k]!r})"
            )
        close = difflib.get_close_matches(k, fields, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ";"
        raise ValueError(
            f"{cls.__name__}: unknown hyperparameter {k!r} (= {hyper[k]!r}){hint} "
            f"Known: {', '.join(fields)}"
        )
    return cls(**hyper)
