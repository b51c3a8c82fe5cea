"""The mini-batch order of a cohort: one permutation of the training rows per epoch.

The order is torch's: ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))``
drawn epoch after epoch (what ``fit(shuffle=True)`` in a PyTorch loop draws), computed here in
NumPy so that both engines, and an installation without torch, train on the same batches.
torch (2.x, CPU) shuffles by Fisher-Yates on its MT19937 generator: for ``i = 0 .. n - 2`` it
swaps row ``i`` with row ``i + r % (n - i)``, ``r`` the generator's next 32-bit output; MT19937
is initialised from the low 32 bits of the seed (two's complement for a negative one), as
NumPy's legacy ``RandomState(seed)`` does. Where torch is already imported its own ``randperm``
draws the same permutations faster (the swaps are a Python loop here, ~0.1 us a row).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator, Sequence
from itertools import pairwise

import numpy as np

#: rows from which torch's ``randperm`` switches to 64-bit draws (``uint32 max / 20``)
MAX_ROWS = (2**32 - 1) // 20
#: rows of a cohort's orders per thread below which one thread draws them all (the kernel
#: draws a row in 2-5 ns; handing a share to another thread costs tens of microseconds)
PARALLEL_ROWS = 32768


def _check_rows(n: int) -> None:
    """Refuse a row count that torch's 32-bit ``randperm`` draws do not cover."""
    if not 1 <= n < MAX_ROWS:
        raise ValueError(f"epoch_orders: n must be in [1, {MAX_ROWS}), got {n!r}")


def epoch_orders(n: int, seed: int, shuffle: bool = True) -> Iterator[np.ndarray]:
    """Each epoch's order of the ``n`` training rows, forever (``arange(n)`` without shuffling).

    Args:
        n: Rows of the training split, ``1 <= n < MAX_ROWS``.
        seed: The data seed (any integer in ``[-2**63, 2**64)``, as ``torch.manual_seed``).
        shuffle: ``False`` gives the rows in their order every epoch.

    Example:
        >>> orders = epoch_orders(5, seed=0)
        >>> next(orders).tolist(), next(orders).tolist()  # torch.randperm(5) twice, seed 0
        ([4, 0, 1, 3, 2], [3, 4, 0, 1, 2])
    """
    _check_rows(n)
    if not shuffle:
        while True:
            yield np.arange(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        generator = torch.Generator().manual_seed(int(seed))
        while True:
            yield torch.randperm(n, generator=generator).numpy()
    yield from numpy_orders(n, seed)


def numpy_orders(n: int, seed: int) -> Iterator[np.ndarray]:
    """:func:`epoch_orders` computed in NumPy alone (what it yields where torch is not imported).

    Example:
        >>> next(numpy_orders(5, seed=0)).tolist()
        [4, 0, 1, 3, 2]
    """
    _, key, pos, *_ = np.random.RandomState(seed & 0xFFFFFFFF).get_state()
    generator = np.random.MT19937()
    generator.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": pos}}
    offsets = np.arange(n - 1)
    spans = np.arange(n, 1, -1, dtype=np.uint64)  # n - i
    while True:
        draws = generator.random_raw(n - 1) if n > 1 else np.zeros(0, dtype=np.uint64)
        targets = ((draws % spans).astype(np.int64) + offsets).tolist()
        rows = list(range(n))
        for i, j in enumerate(targets):
            rows[i], rows[j] = rows[j], rows[i]
        yield np.array(rows, dtype=np.int64)


def cohort_orders(
    n: int, seeds: Sequence[int], shuffle: bool = True, threads: int | None = None
) -> Iterator[np.ndarray]:
    """Each epoch's orders for a cohort, forever: ``[n]`` for one seed, else ``[C, n]`` whose
    row ``c`` is :func:`epoch_orders` ``(n, seeds[c])``'s.

    Several seeds are drawn by the native kernel where it is available (each member's MT19937
    seeded as ``torch.manual_seed`` seeds it, and the swaps of ``torch.randperm``), the
    members shared among ``threads`` threads (``None``: the usable CPUs; a thread on a busy
    core slows only its share): one ``torch.randperm`` per member and epoch costs about 10 us,
    2 s of a 200-epoch run of 1024 members, the kernel about 1 us; otherwise generator by
    generator.

    Example:
        >>> orders = cohort_orders(5, [0, 0, 1])
        >>> first = next(orders)
        >>> first.tolist()[0] == first.tolist()[1] == [4, 0, 1, 3, 2]
        True
    """
    if len(seeds) == 1:
        yield from epoch_orders(n, int(seeds[0]), shuffle)
        return
    _check_rows(n)
    C = len(seeds)
    if not shuffle:
        while True:
            yield np.tile(np.arange(n), (C, 1))
    from ._native_lib import library

    lib = library()
    if lib is None:
        each = [epoch_orders(n, int(seed)) for seed in seeds]
        while True:
            yield np.stack([next(o) for o in each])
    from ._native import in_parallel, usable_cpus

    state = np.empty((C, 624), dtype=np.uint32)
    pos = np.empty(C, dtype=np.int32)
    low = np.array([int(seed) & 0xFFFFFFFF for seed in seeds], dtype=np.uint32)
    lib.lrlab_seed(state.ctypes.data, pos.ctypes.data, low.ctypes.data, C)
    # the members split among the CPUs where each share is worth a thread's round trip
    parts = max(1, min(threads or usable_cpus(), C * n // PARALLEL_ROWS, C))
    cuts = [C * k // parts for k in range(parts + 1)]
    while True:
        out = np.empty((C, n), dtype=np.int64)
        args = (state.ctypes.data, pos.ctypes.data, out.ctypes.data, n)
        in_parallel(
            [functools.partial(lib.lrlab_orders, *args, lo, hi) for lo, hi in pairwise(cuts)]
        )
        yield out
