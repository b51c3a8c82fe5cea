"""Which engine trains a cohort, and how many threads it computes with."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from typing import Any

from ..models import MLP, TorchModule

#: activation elements per step below which one thread computes (:func:`blas_threads` and the
#: torch engine's ``torch_threads``)
SMALL_WORK = 2**16
#: activation elements per step (``C * widest layer * batch``) up to which ``engine="auto"``
#: picks the NumPy engine on the CPU; ``benchmarks/population.py`` times both engines
NUMPY_WORK = 2**18


def device_kind(device: Any) -> str:
    """``"cpu"``, ``"cuda"``, ... of a device given as a string or a ``torch.device``."""
    return str(getattr(device, "type", device) if device is not None else "cpu").split(":")[0]


def step_work(model: MLP | TorchModule, members: int, batch_size: int) -> int:
    """Activation elements of one training step, ``members * widest layer * batch_size``: the
    size by which :func:`auto_engine` and the thread counts decide (a ``TorchModule``
    counts as 64 wide).

    Example:
        >>> from lrlab.lab.models import MLP
        >>> step_work(MLP(2, (50,), 3), members=8, batch_size=32)
        12800
    """
    widest = max([*model.hidden, model.n_outputs]) if isinstance(model, MLP) else 64
    return members * widest * batch_size


def auto_engine(
    model: MLP | TorchModule, members: int, batch_size: int, device: Any = "cpu"
) -> str:
    """The engine ``train_population(engine="auto")`` uses: ``"numpy"`` or ``"torch"``.

    NumPy for an :class:`~lrlab.lab.models.MLP` on the CPU whose activations per step
    (``members * widest layer * batch_size``) are at most :data:`NUMPY_WORK`, torch otherwise;
    NumPy for every MLP on the CPU where torch is not installed.
    ``benchmarks/population.py`` times both engines at each cohort size; on the blobs network
    they cross between C = 128 and C = 256.

    Example:
        >>> from lrlab.lab.models import MLP
        >>> auto_engine(MLP(2, (50,), 3), 8, 32), auto_engine(MLP(2, (50,), 3), 1024, 32)
        ('numpy', 'torch')
    """
    work = step_work(model, members, batch_size)
    numpy = isinstance(model, MLP) and device_kind(device) == "cpu"
    return "numpy" if numpy and (work <= NUMPY_WORK or not torch_installed()) else "torch"


def torch_installed() -> bool:
    """Whether torch can be imported (found, not imported)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def check_threads(threads: int | None) -> None:
    """Refuse a thread count that is not ``None`` or an integer >= 1."""
    if threads is not None and (isinstance(threads, bool) or threads < 1):
        raise ValueError(f"train_population: threads must be >= 1 or None, got {threads!r}")


@contextlib.contextmanager
def blas_threads(threads: int | None, work: int) -> Iterator[None]:
    """NumPy's BLAS on ``threads`` threads (one below :data:`SMALL_WORK` when ``None``), with
    ``threadpoolctl`` when it is installed (it comes with scikit-learn), else untouched.

    OpenBLAS starts its threads for a step's larger matmuls on its own; on a small cohort of
    a wide network (784 inputs) they made the NumPy engine's time vary widely from run to run,
    where one thread gave the same time every run.
    """
    check_threads(threads)
    want = threads if threads is not None else (1 if work < SMALL_WORK else None)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        want = None
    if want is None:
        yield
        return
    with threadpool_limits(limits=want, user_api="blas"):
        yield
