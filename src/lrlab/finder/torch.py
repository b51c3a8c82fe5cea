"""The range test for PyTorch: ``find_lr(model, optimizer, loss_fn, data)``.

Importing this module imports torch; :mod:`lrlab.finder` itself never does. The model and the
optimizer come back exactly as they were (:func:`preserved`), also when the run raises, and the
global torch random state is left untouched (the test runs under ``torch.random.fork_rng``).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import torch

from ._checks import integer
from ._driver import run
from ._ramp import ramp
from ._repeats import RepeatedResult, run_repeated
from ._result import FinderResult

__all__ = ["find_lr", "preserved"]

Batch = tuple[Any, Any]


def _clone(v: Any) -> Any:
    return v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)


def _put_back(orig: Any, saved: Any) -> Any:
    """``orig`` with ``saved``'s value, in place when it is a tensor of the same kind."""
    if (
        isinstance(orig, torch.Tensor)
        and isinstance(saved, torch.Tensor)
        and orig.shape == saved.shape
        and orig.dtype == saved.dtype
        and orig.device == saved.device
    ):
        with torch.no_grad():
            orig.copy_(saved)
        return orig
    return _clone(saved)


class _Snapshot:
    """Everything a training step changes in a model and its optimizer, copied."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model, self.optimizer = model, optimizer
        modules = list(model.modules())
        self.training = [(m, m.training) for m in modules]
        params: dict[int, torch.Tensor] = {id(p): p for p in model.parameters()}
        for group in optimizer.param_groups:
            for p in group["params"]:
                params.setdefault(id(p), p)
        self.params = [
            (p, p.detach().clone(), None if p.grad is None else p.grad.detach().clone())
            for p in params.values()
        ]
        self.buffers = [
            (m, name, b, None if b is None else b.detach().clone())
            for m in modules
            for name, b in m._buffers.items()
        ]
        self.state = {
            p: {k: (v, _clone(v)) for k, v in st.items()} for p, st in optimizer.state.items()
        }
        self.groups = [
            {k: (v, _clone(v)) for k, v in g.items() if k != "params"}
            for g in optimizer.param_groups
        ]

    def restore(self) -> None:
        with torch.no_grad():
            for p, data, grad in self.params:
                p.copy_(data)
                p.grad = None if grad is None else _put_back(p.grad, grad)
            for m, name, orig, saved in self.buffers:
                m._buffers[name] = None if saved is None else _put_back(orig, saved)
        for m, mode in self.training:
            m.training = mode
        state = self.optimizer.state
        state.clear()
        for p, st in self.state.items():
            state[p] = {k: _put_back(orig, saved) for k, (orig, saved) in st.items()}
        for g, saved_group in zip(self.optimizer.param_groups, self.groups):
            for k in [k for k in g if k != "params" and k not in saved_group]:
                del g[k]
            for k, (orig, saved) in saved_group.items():
                g[k] = _put_back(orig, saved)


@contextlib.contextmanager
def preserved(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Restore ``model`` and ``optimizer`` exactly on exit, also after an exception.

    Restored: every parameter's values and ``.grad``, every buffer (persistent or not), every
    module's ``training`` flag, the optimizer's per-parameter state (momentum buffers, Adam
    moments, step counts; state created inside the block is dropped) and every param-group
    entry (``lr``, momentum, betas, weight decay, ...). Tensors are written back in place, so
    references to them stay valid; ``state_dict()``s compare bit-identical afterwards.

    Example:
        >>> import torch
        >>> from lrlab.finder.torch import preserved
        >>> model = torch.nn.Linear(2, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> before = {k: v.clone() for k, v in model.state_dict().items()}
        >>> with preserved(model, opt):
        ...     model(torch.ones(1, 2)).sum().backward()
        ...     opt.step()
        >>> all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        True
        >>> opt.state_dict()["state"]
        {}
    """
    snap = _Snapshot(model, optimizer)
    try:
        yield
    finally:
        snap.restore()


# -- data -----------------------------------------------------------------------------------------
def _is_pair(data: Any) -> bool:
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


def _check_pair(name: str, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = data
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"find_lr: {name} must be (inputs, targets) with the same, non-zero number of rows, "
            f"got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )


def _cycle(
    data: Any, batch_size: int, shuffle: bool, generator: torch.Generator
) -> Iterator[Batch]:
    """Training batches forever: a (x, y) pair is reshuffled each pass, a loader re-iterated."""
    if _is_pair(data):
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


def _once(data: Any, batch_size: int) -> Iterator[Batch]:
    if _is_pair(data):
        yield from _pair_batches(data[0], data[1], batch_size, torch.arange(len(data[0])))
    else:
        for batch in data:
            yield _unpack(batch)


def _to(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    return obj


def _rows(y: Any) -> int:
    if isinstance(y, torch.Tensor) and y.ndim > 0:
        return int(y.shape[0])
    return len(y)


# -- the step -------------------------------------------------------------------------------------
def _set_lr(group: dict[str, Any], value: float) -> None:
    if isinstance(group["lr"], torch.Tensor):
        group["lr"].fill_(value)
    else:
        group["lr"] = value


def _ratios(optimizer: torch.optim.Optimizer) -> list[float]:
    lrs = [float(g["lr"]) for g in optimizer.param_groups]
    if lrs[0] == 0:
        if any(lrs):
            raise ValueError(
                f"find_lr: param group 0 (the reference) has lr=0 but others do not ({lrs}); "
                "the ramp sets group 0 and scales the others by their ratio to it"
            )
        return [1.0] * len(lrs)
    return [lr / lrs[0] for lr in lrs]


def _model_device(model: torch.nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def find_lr(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    data: Any,
    *,
    batch_size: int = 32,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: Literal["exp", "linear"] = "exp",
    smoothing: float = 0.98,
    diverge_factor: float | None = 4.0,
    min_steps: int = 1,
    accumulation_steps: int = 1,
    amp: bool = False,
    amp_dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    val_data: Any = None,
    eval_every: int | None = None,
    repeats: int = 1,
    seed: int = 0,
    shuffle: bool = True,
) -> FinderResult | RepeatedResult:
    """Learning-rate range test of a PyTorch model; the model and optimizer are left untouched.

    Each step sets the learning rate from :func:`~lrlab.finder.ramp`, runs
    ``accumulation_steps`` forward/backward passes (each loss divided by
    ``accumulation_steps``, as pytorch-lr-finder does), then ``optimizer.step()``; the step's loss
    is the mean of its micro-batch losses. :func:`lrlab.finder.run` smooths, stops and records.

    * **Param groups** keep their learning-rate *ratios*: group 0 is the reference and gets
      the ramp's rate; group ``g`` gets ``rate * lr_g / lr_0`` (``lr_g`` as it was before).
      The result records group 0's rate.
    * **Data**: a ``DataLoader`` (or any re-iterable yielding ``(inputs, targets, ...)``) or an
      ``(inputs, targets)`` pair of tensors, cut into ``batch_size`` rows, reshuffled each pass
      when ``shuffle``. Shorter data is cycled. Batches are moved to ``device`` (default: the
      device of the model's parameters; the model itself is never moved).
    * **AMP** (``amp=True``): forward and loss under ``torch.autocast`` with ``amp_dtype``
      (default float16 on CUDA, with a fresh ``torch.amp.GradScaler``; bfloat16 elsewhere,
      without scaler).
    * **Evaluation**: with ``val_data`` (same forms, not shuffled) its mean loss (weighted by
      batch rows, model in eval mode, no grad) is recorded every ``eval_every`` steps (default
      1): Leslie Smith's variant; analyse it with ``result.suggest(source="eval")``.
    * **Randomness**: the run happens under ``torch.random.fork_rng``; repeat ``r`` seeds torch
      with ``seed + r`` (dropout, ``DataLoader`` shuffling) and shuffles a tensor pair with its
      own generator of that seed. Your global random state is not advanced.
    * **Restore**: everything :func:`preserved` lists, also when the run raises; between
      repeats too, so every repeat starts from the same state.

    Args:
        model: The model; it is put in train mode for the steps.
        optimizer: Its optimizer (any ``torch.optim`` optimizer).
        loss_fn: ``loss_fn(model(inputs), targets) -> scalar tensor``.
        data: Training data (see above).
        batch_size: Rows per batch for a tensor pair (ignored for a loader).
        start_lr: First rate of the ramp.
        end_lr: Last rate of the ramp.
        num_steps: Optimizer steps in the ramp.
        mode: ``"exp"`` or ``"linear"`` ramp.
        smoothing: ``beta`` of the loss smoothing.
        diverge_factor: Stop factor (see :class:`lrlab.finder.Recorder`); ``None``: never.
        min_steps: First step at which the divergence stop may fire.
        accumulation_steps: Micro-batches per optimizer step.
        amp: Mixed precision (see above).
        amp_dtype: Autocast dtype (default float16 on CUDA, bfloat16 elsewhere).
        device: Where batches are moved (default: the model's device).
        val_data: Optional evaluation data.
        eval_every: Evaluate every this many steps (needs ``val_data``).
        repeats: Number of runs on seeds ``seed, seed + 1, ...``.
        seed: The first seed.
        shuffle: Reshuffle a tensor pair each pass.

    Returns:
        A :class:`~lrlab.finder.FinderResult` when ``repeats == 1``, else a
        :class:`~lrlab.finder.RepeatedResult`.

    Example:
        >>> import torch
        >>> from lrlab.finder.torch import find_lr
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(256, 3, generator=g)
        >>> y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.01)
        >>> result = find_lr(model, opt, torch.nn.functional.mse_loss, (x, y), num_steps=60,
        ...                  start_lr=1e-4, end_lr=10.0)
        >>> result.stop_reason
        'diverged'
        >>> opt.param_groups[0]["lr"]  # untouched
        0.01
    """
    owner = "find_lr"
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{owner}: model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"{owner}: optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    batch_size = integer(owner, "batch_size", batch_size, lo=1)
    accumulation_steps = integer(owner, "accumulation_steps", accumulation_steps, lo=1)
    repeats = integer(owner, "repeats", repeats, lo=1)
    if eval_every is not None and val_data is None:
        raise ValueError(f"{owner}: eval_every={eval_every!r} needs val_data")
    for name, d in (("data", data), ("val_data", val_data)):
        if d is not None and _is_pair(d):
            _check_pair(name, d)
    schedule = ramp(start_lr, end_lr, num_steps, mode)
    ratios = _ratios(optimizer)
    dev = torch.device(device) if device is not None else _model_device(model)
    if amp:
        dtype = amp_dtype or (torch.float16 if dev.type == "cuda" else torch.bfloat16)

        def autocast() -> contextlib.AbstractContextManager[Any]:
            return torch.autocast(device_type=dev.type, dtype=dtype)
    else:
        dtype = None
        autocast = contextlib.nullcontext

    def make_step_fn(seed_r: int) -> Callable[[float], float]:
        snap.restore()
        torch.manual_seed(seed_r)
        batches = _cycle(data, batch_size, shuffle, torch.Generator().manual_seed(seed_r))
        scaler = torch.amp.GradScaler(dev.type) if dtype == torch.float16 else None
        model.train()

        def step_fn(lr: float) -> float:
            for group, ratio in zip(optimizer.param_groups, ratios):
                _set_lr(group, lr * ratio)
            optimizer.zero_grad(set_to_none=True)
            total: torch.Tensor | None = None
            for _ in range(accumulation_steps):
                inputs, targets = _to(next(batches), dev)
                with autocast():
                    loss = loss_fn(model(inputs), targets) / accumulation_steps
                (scaler.scale(loss) if scaler is not None else loss).backward()
                total = loss.detach() if total is None else total + loss.detach()
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            return float(total)

        return step_fn

    def eval_fn() -> float:
        model.eval()
        total, rows = 0.0, 0
        with torch.no_grad(), autocast():
            for inputs, targets in _once(val_data, batch_size):
                inputs, targets = _to((inputs, targets), dev)
                n = _rows(targets)
                total += float(loss_fn(model(inputs), targets)) * n
                rows += n
        model.train()
        if rows == 0:
            raise ValueError(f"{owner}: val_data yielded no batch")
        return total / rows

    kwargs: dict[str, Any] = {
        "smoothing": smoothing,
        "diverge_factor": diverge_factor,
        "min_steps": min_steps,
        "eval_fn": eval_fn if val_data is not None else None,
        "eval_every": eval_every,
    }
    fork: list[int] = []
    if dev.type == "cuda":
        fork = [dev.index if dev.index is not None else torch.cuda.current_device()]
    snap = _Snapshot(model, optimizer)
    try:
        with torch.random.fork_rng(devices=fork):
            if repeats == 1:
                return run(make_step_fn(seed), schedule, num_steps, **kwargs)
            return run_repeated(
                make_step_fn, schedule, num_steps, repeats=repeats, seed=seed, **kwargs
            )
    finally:
        snap.restore()
