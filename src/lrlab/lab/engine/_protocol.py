"""What the cohort loop asks of an engine, and the host-side arrays every engine starts from."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from ._threads import Pacer

#: the dtypes a cohort trains in
DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


class Engine(Protocol):
    """C models of one architecture trained as one model with a member axis.

    :func:`~lrlab.lab.engine.run_cohort` drives an engine epoch by epoch: :meth:`init` once,
    then per epoch :meth:`start_epoch` with the epoch's row order, :meth:`step` for each batch,
    :meth:`epoch_totals`, :meth:`evaluate`, :meth:`finite` and, for members that diverged,
    :meth:`freeze`; :meth:`params` and :meth:`load_params` read and write members' weights
    (best-epoch copies, ``restore_best_weights``). Every array an engine takes or returns is a
    host NumPy array; what it keeps inside (NumPy arrays, torch tensors on a device) is its own.

    Attributes:
        model: The :class:`~lrlab.lab.models.MLP` or :class:`~lrlab.lab.models.TorchModule`.
        members: C.
        rows: Rows ``N`` of the training split.
        batch_size: Rows per step; the epoch's last batch has ``N - (S - 1) * batch_size``.
        steps_per_epoch: ``S = ceil(N / batch_size)``.
        dtype: The NumPy dtype the engine computes in (learning rates are rounded to it).
    """

    model: Any
    members: int
    rows: int
    batch_size: int
    steps_per_epoch: int
    dtype: np.dtype

    def init(self, seeds: Sequence[int], optimizer: Any) -> None:
        """Each member's initial weights from its seed; the optimizer's fresh state."""

    def session(self, threads: int | None) -> AbstractContextManager[Pacer]:
        """The context the run computes in (thread counts, no autograd), restored on exit; it
        yields the :class:`~lrlab.lab.engine._threads.Pacer` that the loop tells where each
        step is, which with ``threads=None`` may choose the thread count while training."""

    def start_epoch(self, order: np.ndarray) -> None:
        """Lay out the training rows in ``order`` for the epoch's batches: ``[N]``, the same
        order for every member, or ``[C, N]``, one order per member."""

    def step(self, batch: int, lr: np.ndarray) -> None:
        """Train the epoch's batch ``batch`` at the learning rates ``lr`` (``[C]``, in
        :attr:`dtype`): forward, backward, one optimizer update of every member."""

    def batch_loss(self) -> np.ndarray:
        """The mean loss ``[C]`` of the batch the last :meth:`step` trained on, measured before
        its update."""

    def epoch_totals(self) -> tuple[np.ndarray, np.ndarray]:
        """The epoch's training loss summed over its rows and its correct predictions, ``[C]``
        each (each row's loss measured in the step that trained on it, before the update)."""

    def evaluate(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy ``[C]`` over the whole ``"train"`` or ``"test"`` split."""

    def finite(self) -> np.ndarray:
        """``[C]`` bool: whether each member's weights are all finite."""

    def freeze(self, mask: np.ndarray) -> None:
        """Zero the weights, gradient and optimizer state of the members in ``mask`` (``[C]``
        bool); with a learning rate of 0 from then on they stay at 0 and finite."""

    def params(self, members: np.ndarray | None = None) -> np.ndarray:
        """The members' flat parameters ``[C, P]`` as a float64 copy; with ``members`` (a
        ``[C]`` bool mask) only theirs, ``[k, P]`` in member order."""

    def load_params(self, members: np.ndarray, rows: np.ndarray) -> None:
        """Set the weights of the members in ``members`` (``[C]`` bool) to ``rows`` (``[k, P]``,
        in member order, rounded to :attr:`dtype`); their gradient and optimizer state are
        left as they are (the cohort loop loads weights once training has ended)."""


@dataclass(frozen=True)
class Split:
    """One split on the host: inputs ``x [N, D]`` in the cohort's dtype and dense targets
    ``y [N, K]`` (one-hot for the categorical loss)."""

    x: np.ndarray
    y: np.ndarray


def dense_targets(y: Any, loss: str, n_outputs: int, dtype: np.dtype) -> np.ndarray:
    """Targets ``[N, K]`` as the losses take them: one-hot labels for the categorical loss,
    the values as columns otherwise.

    Example:
        >>> dense_targets([2, 0], "categorical_crossentropy", 3, np.dtype(np.float32)).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    if loss == "categorical_crossentropy":
        labels = np.asarray(y, dtype=np.int64).reshape(-1)
        if labels.size and (labels.min() < 0 or labels.max() >= n_outputs):
            raise ValueError(
                f"labels must lie in [0, {n_outputs}), got values from {int(labels.min())} "
                f"to {int(labels.max())}"
            )
        out = np.zeros((labels.size, n_outputs), dtype=dtype)
        out[np.arange(labels.size), labels] = 1
        return out
    arr = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if arr.shape[1] != n_outputs:
        raise ValueError(f"targets have {arr.shape[1]} columns, the model {n_outputs}")
    return arr.astype(dtype)


def split(x: Any, y: Any, model: Any, dtype: np.dtype) -> Split:
    """A split's inputs and dense targets on the host, in ``dtype``."""
    return Split(np.asarray(x).astype(dtype), dense_targets(y, model.loss, model.n_outputs, dtype))


def initial_params(model: Any, seeds: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """The stacked initial weights ``[C, P]`` of an :class:`~lrlab.lab.models.MLP`, one row per
    seed, in ``dtype``."""
    rows = np.stack([model.init_member(int(s)) for s in seeds])
    return np.ascontiguousarray(rows.astype(dtype))


def batch_sizes(rows: int, batch_size: int, steps: int) -> list[int]:
    """The batch sizes an epoch trains on: the full one and, if it differs, the last one.

    Example:
        >>> batch_sizes(100, 32, 4), batch_sizes(96, 32, 3), batch_sizes(10, 32, 1)
        ([32, 4], [32], [10])
    """
    full = min(batch_size, rows)
    last = rows - (steps - 1) * batch_size
    return [full] if last == full else [full, last]
