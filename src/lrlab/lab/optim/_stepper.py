"""A population optimizer's update bound to one population's arrays, for a training loop's hot
path: :meth:`lrlab.lab.optim.PopulationOptimizer.stepper`.

Private: reach it through :mod:`lrlab.lab.optim`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._base import PopulationOptimizer
    from ._kernel import KernelUpdate


class Stepper:
    """An optimizer's update bound to one population: see
    :meth:`PopulationOptimizer.stepper`."""

    __slots__ = (
        "_count",
        "_f64",
        "_grad",
        "_k",
        "_lazy",
        "_lr64",
        "_pending",
        "_state",
        "_theta",
        "_to_f64",
        "_up",
        "kernel",
    )

    def __init__(
        self,
        opt: PopulationOptimizer,
        theta: Any,
        grad: Any,
        state: dict[str, Any],
        k: dict,
    ) -> None:
        numpy = isinstance(theta, np.ndarray)
        self._up = opt._update_numpy if numpy else opt._update
        self._theta, self._grad, self._state, self._k = theta, grad, state, k
        self._lr64, self._count, self._f64 = opt._lr64, state["step"], k["float64"]
        self._to_f64 = "astype" if numpy else "to"
        # a torch op per step to count costs ~4 us; count in Python when nothing reads it
        self._lazy, self._pending = not opt._reads_step(k), 0
        #: the update as the native engine's kernel applies it itself
        #: (:class:`~lrlab.lab.optim.KernelUpdate`), or ``None``: SGD without dampening
        #: (Nesterov momentum for all members or none) and Adam without AMSGrad or coupled
        #: weight decay, on a float32 NumPy population
        self.kernel: KernelUpdate | None = opt._kernel_update(theta, state, k) if numpy else None

    def __call__(self, lr: Any) -> None:
        """One update with the learning rates ``lr`` (a ``[C, 1]`` column)."""
        if self._lr64:
            lr = getattr(lr, self._to_f64)(self._f64)
        self._up(self._theta, self._grad, lr, self._state, self._k)
        self.tick()

    def tick(self) -> None:
        """Count one update (:meth:`__call__` does; after the :meth:`rows` parts of one update,
        call it once)."""
        if self._lazy:
            self._pending += 1
        else:
            self._count += 1

    def rows(self, lo: int, hi: int) -> Callable[[np.ndarray], None]:
        """The update of members ``[lo, hi)`` alone, for a NumPy population: called with those
        members' ``[hi - lo, 1]`` learning rates, it updates views of theta, the gradient, the
        state's buffers and the per-member hyperparameters. Every update is element-wise, so
        parts covering ``[0, C)`` give :meth:`__call__`'s numbers bit for bit (tested for every
        optimizer), and parts may run on threads at once (NumPy releases the GIL in its loops).
        A part does not count the step: call :meth:`tick` once after all parts of an update.

        Example:
            >>> import numpy as np
            >>> from lrlab.lab.optim import SGD
            >>> theta = np.ones((4, 2))
            >>> opt = SGD(momentum=[0.0, 0.9, 0.0, 0.9])
            >>> update = opt.stepper(theta, np.ones_like(theta), opt.init(theta))
            >>> lr = np.full((4, 1), 0.1)
            >>> for lo, hi in ((0, 1), (1, 4)):
            ...     update.rows(lo, hi)(lr[lo:hi])
            >>> update.tick()
            >>> theta[:, 0].tolist()
            [0.9, 0.9, 0.9, 0.9]
        """
        if not isinstance(self._theta, np.ndarray):
            raise TypeError("Stepper.rows: parts of an update are for NumPy populations")
        C = self._theta.shape[0]
        if not 0 <= lo <= hi <= C:
            raise ValueError(f"Stepper.rows: need 0 <= lo <= hi <= {C}, got [{lo}, {hi})")

        def cut(v: Any) -> Any:  # a member's row of [C, P] buffers and [C, 1] columns
            return v[lo:hi] if isinstance(v, np.ndarray) and v.ndim == 2 and len(v) == C else v

        theta, grad = self._theta[lo:hi], self._grad[lo:hi]
        state = {n: cut(v) for n, v in self._state.items()}
        k = {n: cut(v) for n, v in self._k.items()}
        up, f64 = self._up, (self._f64 if self._lr64 else None)

        def update(lr: np.ndarray) -> None:
            up(theta, grad, lr if f64 is None else lr.astype(f64), state, k)

        return update

    def flush(self) -> None:
        """Bring ``state["step"]`` up to date with the updates made."""
        if self._pending:
            self._count += self._pending
            self._pending = 0
