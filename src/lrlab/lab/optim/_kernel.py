"""An optimizer's update in the form the native engine's kernel applies itself:
:class:`KernelUpdate`, :attr:`lrlab.lab.optim.Stepper.kernel`.

Private: reach it through :mod:`lrlab.lab.optim`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

#: the update rules the native kernel applies itself (``lrlab_run``'s ``rule``, by index)
RULES: tuple[str, ...] = ("sgd", "momentum", "keras_momentum", "adam", "keras_adam")
#: a flag of the kernel's rule: beta2 one value per member (NumPy then multiplies
#: ``g * (g * c2)``, not ``(g * g) * c2``)
COLUMN_B2 = 16
#: flags of the SGD rules: coupled weight decay (torch: ``g = g + theta * wd``), decoupled
#: weight decay (Keras: ``theta = theta * decay`` first), Nesterov momentum
WD, DECAY, NESTEROV = 32, 64, 128
#: the rows of an SGD rule's coefficients, in order
SGD_ROWS = ("r", "m", "wd", "decay")
#: the rows of an Adam rule's coefficients, in order
ADAM_ROWS = ("size", "decay", "a", "c", "near", "b2", "c2", "sc2", "eps")

Rule = Literal["sgd", "momentum", "keras_momentum", "adam", "keras_adam"]


@dataclasses.dataclass(frozen=True)
class KernelUpdate:
    """An update simple enough for the native engine to apply inside its kernel, where each
    group's weights are already in its registers' layout: :attr:`Stepper.kernel`.

    ``rule`` (``g`` the gradient, ``r`` the member's learning rate, ``m`` its momentum, ``b``
    its momentum buffer, ``e`` and ``v`` Adam's ``exp_avg`` and ``exp_avg_sq``; every product
    rounded to float32 before it is added, as NumPy computes the optimizer's own update)::

        "sgd":             theta -= g * r
        "momentum":        b = b * m;  b = b + g;      theta -= b * r   (torch's SGD)
        "keras_momentum":  b = b * m;  b = b - g * r;  theta += b       (Keras' SGD)
        "adam":            theta *= decay                                (AdamW's decay)
                           e = lerp(e, g, 1 - beta1)                     (as torch's lerp_)
                           v = v * beta2 + g * g * (1 - beta2)
                           theta -= e / (sqrt(v) / sqrt(bc2) + eps) * (r / bc1)
        "keras_adam":      theta *= decay
                           e = e * beta1 + g * (1 - beta1)
                           v = v * beta2 + g * g * (1 - beta2)
                           theta -= e / (sqrt(v) + eps) * (r * sqrt(bc2) / bc1)

    with ``bc1 = 1 - beta1**t`` and ``bc2 = 1 - beta2**t`` at step ``t`` (in float64, then
    rounded), ``decay = 1 - r * weight_decay`` (1 without weight decay).

    The SGD rules' flags: :data:`WD` first ``g = g + theta * wd`` (torch's coupled weight
    decay), :data:`DECAY` first ``theta *= decay`` (Keras' decoupled one), :data:`NESTEROV`
    ``theta -= (g + b * m) * r`` (torch) or ``theta -= g * r; theta += b * m`` (Keras) for the
    momentum rules' last step.

    Attributes:
        rule: One of :data:`RULES`.
        buffers: The state's buffers the kernel updates in place, C-contiguous float32
            ``[C, P]`` arrays: none for ``"sgd"``, ``momentum_buffer`` for the momentum
            rules, ``exp_avg`` and ``exp_avg_sq`` for Adam.
        coefficients: Called with a step's ``[C, 1]`` learning rates (before the step is
            counted), it returns each member's coefficients of that step as the rows of a
            C-contiguous float32 ``[rows, C]`` array: :data:`SGD_ROWS` for the SGD rules,
            :data:`ADAM_ROWS` for Adam. The array may be reused by the next call.
        flags: Variants of the rule's arithmetic (:data:`WD`, :data:`DECAY`,
            :data:`NESTEROV`, :data:`COLUMN_B2`).

    Example:
        >>> import numpy as np
        >>> from lrlab.lab.optim import SGD
        >>> theta = np.ones((2, 3), dtype=np.float32)
        >>> opt = SGD(momentum=[0.0, 0.9])
        >>> kernel = opt.stepper(theta, np.zeros_like(theta), opt.init(theta)).kernel
        >>> kernel.rule, kernel.coefficients(np.array([[0.5], [0.25]]))[:2].tolist()
        ('momentum', [[0.5, 0.25], [0.0, 0.8999999761581421]])
    """

    rule: Rule
    buffers: tuple[np.ndarray, ...]
    coefficients: Callable[[np.ndarray], np.ndarray]
    flags: int = 0

    @property
    def code(self) -> int:
        """The rule's number in the kernel: its index in :data:`RULES` and its flags."""
        return RULES.index(self.rule) | self.flags


def kernel_arrays(theta: np.ndarray, state: dict[str, Any], names: tuple[str, ...]) -> Any:
    """The state's buffers ``names``, or ``None`` where ``theta`` or one of them is not what
    the kernel updates in place: a writeable, C-contiguous float32 array of theta's shape."""
    f32 = np.dtype(np.float32)
    arrays = (theta, *(state.get(n) for n in names))
    for a in arrays:
        if (
            not isinstance(a, np.ndarray)
            or a.dtype != f32
            or a.shape != theta.shape
            or not a.flags.c_contiguous
            or not a.flags.writeable
        ):
            return None
    return arrays[1:]


def member_row(value: Any, members: int) -> np.ndarray:
    """A coefficient (a Python float, a 0-d array or a ``[C, 1]`` column) as ``members``
    float32s, the values NumPy multiplies by (a Python float enters a float32 operation as its
    float32 value)."""
    return np.broadcast_to(np.asarray(value, dtype=np.float32).reshape(-1), (members,))


def rows_of(members: int, *fixed: Any) -> np.ndarray:
    """A ``[len(fixed), members]`` float32 array whose rows are ``fixed`` (``None``: set
    later)."""
    out = np.zeros((len(fixed), members), dtype=np.float32)
    for i, value in enumerate(fixed):
        if value is not None:
            out[i] = member_row(value, members)
    return out
