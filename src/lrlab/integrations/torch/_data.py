"""The data side of :func:`lrlab.torch.find_lr`: a ``DataLoader`` or an ``(inputs, targets)``
pair of tensors as batches (cycled for training, once for evaluation), moved to a device.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch

Batch = tuple[Any, Any]


def is_pair(data: Any) -> bool:
    return (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    )


def _unpack(batch: Any) -> Batch:
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[0], batch[1]
    raise TypeError(
        "find_lr: each batch must be a tuple (inputs, targets, ...), got "
        f"{type(batch).__name__}; wrap your loader so that it yields (inputs, targets)"
    )


def _pair_batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, order: torch.Tensor
) -> Iterator[Batch]:
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        yield x[idx.to(x.device)], y[idx.to(y.device)]


def check_pair(name: str, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = data
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"find_lr: {name} must be (inputs, targets) with the same, non-zero number of rows, "
            f"got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )


def cycle(data: Any, batch_size: int, shuffle: bool, generator: torch.Generator) -> Iterator[Batch]:
    """Training batches forever: a (x, y) pair is reshuffled each pass, a loader re-iterated."""
    if is_pair(data):
        x, y = data
        while True:
            n = len(x)
            order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
            yield from _pair_batches(x, y, batch_size, order)
    if not isinstance(data, Iterable):
        raise TypeError(
            "find_lr: data must be a DataLoader (any re-iterable of (inputs, targets) batches) "
            f"or an (inputs, targets) pair of tensors, got {type(data).__name__}"
        )
    passes = 0
    while True:
        got = 0
        for batch in data:
            got += 1
            yield _unpack(batch)
        if not got:
            raise ValueError(
                "find_lr: data yielded no batch"
                + (
                    " on its second pass: pass a DataLoader or another re-iterable, not an iterator"
                    if passes
                    else ""
                )
            )
        passes += 1


def once(data: Any, batch_size: int) -> Iterator[Batch]:
    if is_pair(data):
        yield from _pair_batches(data[0], data[1], batch_size, torch.arange(len(data[0])))
    else:
        for batch in data:
            yield _unpack(batch)


def to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    return obj


def count_rows(y: Any) -> int:
    if isinstance(y, torch.Tensor) and y.ndim > 0:
        return int(y.shape[0])
    return len(y)
