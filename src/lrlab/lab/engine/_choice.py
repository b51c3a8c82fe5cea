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
#: parameters per member up to which ``engine="auto"`` picks the native engine (it takes up to
#: :data:`~lrlab.lab.engine.NATIVE_MAX_PARAMS`): at 6,400 a 784-8-10 network trained 1.3-2.8x
#: slower there than on the torch engine and a 34-64-64-2 one no faster than on NumPy (2.7x
#: slower at C = 1) (``benchmarks/population.py --engines``, RESULTS.md)
NATIVE_AUTO_PARAMS = 4096
#: multiply-adds per training step (``C * batch * parameters per member``, :func:`step_macs`)
#: up to which ``engine="auto"`` picks the NumPy engine on the CPU; ``benchmarks/population.py
#: --engines`` times both engines over three widths
NUMPY_MACS = 2**21


def device_kind(device: Any) -> str:
    """``"cpu"``, ``"cuda"``, ... of a device given as a string or a ``torch.device``."""
    return str(getattr(device, "type", device) if device is not None else "cpu").split(":")[0]


def step_work(model: MLP | TorchModule, members: int, batch_size: int) -> int:
    """Activation elements of one training step, ``members * widest layer * batch_size``: the
    size by which the thread counts decide (a ``TorchModule``
    counts as 64 wide).

    Example:
        >>> from lrlab.lab.models import MLP
        >>> step_work(MLP(2, (50,), 3), members=8, batch_size=32)
        12800
    """
    widest = max([*model.hidden, model.n_outputs]) if isinstance(model, MLP) else 64
    return members * widest * batch_size


def step_macs(model: MLP | TorchModule, members: int, batch_size: int) -> int:
    """Multiply-adds of one training step's forward pass, ``members * batch_size * P`` (``P``
    the parameters of one member; a ``TorchModule`` counts as unknown, ``-1``).

    Example:
        >>> from lrlab.lab.models import MLP
        >>> step_macs(MLP(2, (50,), 3), members=8, batch_size=32)  # 303 parameters
        77568
    """
    return members * batch_size * model.n_params if isinstance(model, MLP) else -1


def auto_engine(
    model: MLP | TorchModule,
    members: int,
    batch_size: int,
    device: Any = "cpu",
    dtype: Any = "float32",
) -> str:
    """The engine ``train_population(engine="auto")`` uses: ``"native"``, ``"numpy"`` or
    ``"torch"``.

    The native engine for an :class:`~lrlab.lab.models.MLP` on the CPU in float32 of at most
    :data:`NATIVE_AUTO_PARAMS` parameters, where its kernel is available
    (:func:`~lrlab.lab.engine.native_status`: a C compiler on the machine): it is the
    fastest on such networks at every cohort size, from C = 8 on by several times
    (``benchmarks/population.py``). Otherwise NumPy for an MLP on the CPU whose step is at most
    :data:`NUMPY_MACS` multiply-adds (:func:`step_macs`), torch otherwise; NumPy for every MLP on
    the CPU where torch is not installed. The NumPy engine's step costs little more than its
    calls, the torch engine's calls cost more but its arithmetic (MKL, oneDNN, threads) less,
    so the arithmetic of a step decides, whatever the shape: on the blobs network (2-50-3) the
    engines cross near C = 200, on 784-300-100-10 torch is faster from C = 1
    (``benchmarks/population.py --engines``, recorded in ``benchmarks/RESULTS.md``).

    Example:
        >>> from lrlab.lab.models import MLP
        >>> net = MLP(2, (50,), 3)
        >>> auto_engine(net, 8, 32, dtype="float64"), auto_engine(net, 1024, 32, dtype="float64")
        ('numpy', 'torch')
        >>> auto_engine(MLP(784, (300, 100), 10), 8, 32)
        'torch'
        >>> from lrlab.lab.engine import native_status
        >>> auto_engine(net, 8, 32) == ("native" if native_status() == "available" else "numpy")
        True
    """
    numpy = isinstance(model, MLP) and device_kind(device) == "cpu"
    if numpy and _native_takes(model, dtype):
        return "native"
    small = step_macs(model, members, batch_size) <= NUMPY_MACS
    return "numpy" if numpy and (small or not torch_installed()) else "torch"


def _native_takes(model: MLP, dtype: Any) -> bool:
    """Whether the native engine takes ``model`` in ``dtype`` and its kernel is available
    (compiled and checked on the first call in a process)."""
    from ._native import native_fits
    from ._native_lib import library

    if native_fits(model, dtype) is not None or model.n_params > NATIVE_AUTO_PARAMS:
        return False
    return library() is not None


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
