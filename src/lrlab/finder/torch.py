"""The range test for PyTorch: ``find_lr(model, optimizer, loss_fn, data)``.

Importing this module imports torch; :mod:`lrlab.finder` itself never does. The model and the
optimizer come back exactly as they were (:func:`preserved`), also when the run raises, and the
global torch random state is left untouched (the test runs under ``torch.random.fork_rng``).
"""

from __future__ import annotations

import contextlib
import copy
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from ._checks import integer
from ._driver import run
from ._ramp import ramp
from ._repeats import RepeatedResult, run_repeated
from ._result import FinderResult

if TYPE_CHECKING:
    from lrlab.lab.models import TorchModule
    from lrlab.lab.optim import PopulationOptimizer

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
    validate: bool = False,
    validate_around: str | float = "valley",
    validate_factors: Sequence[float] = (1 / 3, 1.0, 3.0),
    validate_epochs: int = 5,
    validate_seeds: int | Sequence[int] = 3,
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
    * **Validation** (``validate=True``): after the test, :func:`lrlab.finder.lab.validate`
      trains ``factor * centre`` for each of ``validate_factors`` (centre from
      :func:`lrlab.finder.lab.validation_center` with ``validate_around``) for
      ``validate_epochs`` passes over ``data``, on lrlab's population engine, and the result
      (a :class:`~lrlab.finder.lab.ValidatedResult` / ``ValidatedRepeatedResult``) carries the
      table as ``result.validation``. The model is trained as a
      :class:`~lrlab.lab.models.TorchModule` whose factory returns ``copy.deepcopy`` of your
      model as it was before the test, so **every member starts from your model's weights**;
      each validation seed (``seed, seed + 1, ...`` for a count) is one batch order. The data is
      materialised in memory (every batch of ``data``; ``val_data`` is the held-out split, or,
      without it, the candidates are compared on a pass over the training data). Limits: the
      loss must be one the engine computes (``CrossEntropyLoss`` / ``F.cross_entropy`` with
      class-index targets, ``BCEWithLogitsLoss`` / ``F.binary_cross_entropy_with_logits`` with
      one output, ``MSELoss`` / ``F.mse_loss``; mean reduction, no weights, no label
      smoothing); the optimizer one of torch's ``SGD``, ``Adam``, ``AdamW``, ``RMSprop``,
      ``Adagrad``, ``Adadelta`` with the same settings in every param group; the model
      without buffers or dropout, returning ``[batch, outputs]``. Anything else is rejected
      before the test runs, with the reason. Your model and optimizer are not touched.

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
        validate: Validate the suggestion by short training runs (see above).
        validate_around: ``"valley"`` (default; the median for repeats), another rule name,
            ``"window"`` (its geometric centre), or a rate.
        validate_factors: Multiples of the centre to train.
        validate_epochs: Passes over ``data`` per validation run.
        validate_seeds: A count (seeds ``seed, seed + 1, ...``) or the seeds themselves; each
            seed is one batch order.

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
    if not isinstance(validate, bool):
        raise ValueError(f"{owner}: validate must be True or False, got {validate!r}")
    plan = (
        _ValidationPlan(
            model,
            optimizer,
            loss_fn,
            validate_around,
            validate_factors,
            validate_epochs,
            validate_seeds,
            seed,
        )
        if validate
        else None
    )
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
            if plan is not None:
                plan.load(data, val_data, batch_size, dev)
            result: FinderResult | RepeatedResult
            if repeats == 1:
                result = run(make_step_fn(seed), schedule, num_steps, **kwargs)
            else:
                result = run_repeated(
                    make_step_fn, schedule, num_steps, repeats=repeats, seed=seed, **kwargs
                )
    finally:
        snap.restore()
    return result if plan is None else plan.run(result, batch_size, dev)


# -- validate=True: the candidates on lrlab's population engine ----------------------------------
def _loss_output(loss_fn: Any) -> str:
    """The :class:`~lrlab.lab.models.TorchModule` output whose loss ``loss_fn`` is."""
    F = torch.nn.functional
    nn = torch.nn
    plain = {F.cross_entropy: "softmax", F.binary_cross_entropy_with_logits: "sigmoid"}
    plain[F.mse_loss] = "linear"
    if loss_fn in plain:
        return plain[loss_fn]
    kind = type(loss_fn)
    mean = getattr(loss_fn, "reduction", None) == "mean"
    if kind is nn.CrossEntropyLoss and mean and loss_fn.weight is None:
        if loss_fn.label_smoothing == 0:
            return "softmax"
    elif kind is nn.BCEWithLogitsLoss and mean and loss_fn.weight is None:
        if loss_fn.pos_weight is None:
            return "sigmoid"
    elif kind is nn.MSELoss and mean:
        return "linear"
    raise ValueError(
        "find_lr: validate=True trains on lrlab's population engine, which computes only "
        "cross-entropy on logits (torch.nn.CrossEntropyLoss, F.cross_entropy), "
        "torch.nn.BCEWithLogitsLoss / F.binary_cross_entropy_with_logits and torch.nn.MSELoss "
        "/ F.mse_loss, with the mean reduction, no class weights and no label smoothing; "
        f"got loss_fn={loss_fn!r}"
    )


def _value(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.tolist()
    if isinstance(v, tuple):
        return tuple(_value(x) for x in v)
    return v


def _lab_optimizer(optimizer: torch.optim.Optimizer) -> PopulationOptimizer:
    """The :mod:`lrlab.lab.optim` optimizer that computes what ``optimizer`` computes."""
    from lrlab.lab import optim as lo

    groups = optimizer.param_groups
    g0 = {k: _value(v) for k, v in groups[0].items() if k != "params"}
    for i, g in enumerate(groups[1:], start=1):
        for k, v in g.items():
            if k != "params" and _value(v) != g0.get(k):
                raise ValueError(
                    "find_lr: validate=True trains one learning rate and one setting for the "
                    f"whole model, but param group {i} has {k}={_value(v)!r} and group 0 "
                    f"{g0.get(k)!r}"
                )
    if g0.get("maximize"):
        raise ValueError("find_lr: validate=True does not support maximize=True")
    kind = type(optimizer)
    o = torch.optim
    wd = float(g0.get("weight_decay", 0.0))
    if kind is o.SGD:
        return lo.SGD(
            momentum=float(g0["momentum"]),
            dampening=float(g0["dampening"]),
            nesterov=bool(g0["nesterov"]),
            weight_decay=wd,
        )
    if kind in (o.Adam, o.AdamW):
        cls = lo.AdamW if kind is o.AdamW else lo.Adam
        return cls(
            betas=(float(g0["betas"][0]), float(g0["betas"][1])),
            eps=float(g0["eps"]),
            weight_decay=wd,
            amsgrad=bool(g0["amsgrad"]),
            decoupled=bool(g0.get("decoupled_weight_decay", kind is o.AdamW)),
        )
    if kind is o.RMSprop:
        return lo.RMSprop(
            alpha=float(g0["alpha"]),
            eps=float(g0["eps"]),
            centered=bool(g0["centered"]),
            momentum=float(g0["momentum"]),
            weight_decay=wd,
        )
    if kind is o.Adagrad:
        return lo.Adagrad(
            lr_decay=float(g0["lr_decay"]),
            eps=float(g0["eps"]),
            initial_accumulator_value=float(g0["initial_accumulator_value"]),
            weight_decay=wd,
        )
    if kind is o.Adadelta:
        return lo.Adadelta(rho=float(g0["rho"]), eps=float(g0["eps"]), weight_decay=wd)
    raise ValueError(
        "find_lr: validate=True rebuilds the optimizer on lrlab's population engine, which has "
        "torch.optim.SGD, Adam, AdamW, RMSprop, Adagrad and Adadelta; got optimizer of type "
        f"{kind.__module__}.{kind.__qualname__}"
    )


def _arrays(name: str, data: Any, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ``(inputs, targets)`` row of ``data`` as two NumPy arrays."""
    xs, ys = [], []
    for inputs, targets in _once(data, batch_size):
        if not (isinstance(inputs, torch.Tensor) and isinstance(targets, torch.Tensor)):
            raise ValueError(
                f"find_lr: validate=True needs {name} batches of tensors (inputs, targets), got "
                f"({type(inputs).__name__}, {type(targets).__name__})"
            )
        xs.append(inputs.detach().cpu())
        ys.append(targets.detach().cpu())
    if not xs:
        raise ValueError(f"find_lr: {name} yielded no batch")
    x, y = torch.cat(xs), torch.cat(ys)
    if x.is_floating_point() and x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    if y.is_floating_point() and y.dtype not in (torch.float32, torch.float64):
        y = y.float()
    return x.numpy(), y.numpy()


def _targets(name: str, y: np.ndarray, output: str, n_out: int) -> np.ndarray:
    if output == "softmax":
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ValueError(
                f"find_lr: validate=True with cross-entropy needs class indices (integers of shape "
                f"[N]) as {name} targets, got dtype {y.dtype} and shape {y.shape}; class "
                "probabilities and one-hot targets are not supported"
            )
        return y.astype(np.int64)
    out = y.astype(np.float64).reshape(len(y), -1)
    if out.shape[1] != n_out:
        raise ValueError(
            f"find_lr: validate=True: {name} targets have {out.shape[1]} columns per row but the "
            f"model has {n_out} outputs"
        )
    return out


class _ValidationPlan:
    """``validate=True``: everything checked before the range test, run after it."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Any,
        around: Any,
        factors: Any,
        epochs: Any,
        seeds: Any,
        seed: int,
    ) -> None:
        from lrlab.lab.models import TorchModule

        from . import lab

        owner = "find_lr"
        self.around = lab._check_around(owner, around)
        self.factors = lab._factors(owner, factors)
        self.epochs = integer(owner, "validate_epochs", epochs, lo=1)
        self.seeds = lab._validate_seeds(owner, seeds, int(seed))
        self.output = _loss_output(loss_fn)
        self.optimizer = _lab_optimizer(optimizer)
        first = next(iter(model.parameters()), None)
        self.dtype = "float64" if first is not None and first.dtype == torch.float64 else "float32"
        base = copy.deepcopy(model)  # the model's state before the test, never trained

        def factory() -> torch.nn.Module:
            return copy.deepcopy(base)

        self.base, self.factory = base, factory
        try:
            TorchModule(factory, 1, self.output).build([0])
        except ValueError as e:
            raise ValueError(f"find_lr: validate=True: {e}") from None
        self.spec: TorchModule | None = None
        self.data: Any = None

    def load(self, data: Any, val_data: Any, batch_size: int, dev: torch.device) -> None:
        """Materialise the data and check it against the model's outputs."""
        from lrlab.lab.models import TorchModule

        x, y = _arrays("data", data, batch_size)
        probe = copy.deepcopy(self.base).eval()
        first = next(iter(probe.parameters()), None)
        dtype = first.dtype if first is not None else torch.float32
        with torch.no_grad():
            out = probe(torch.as_tensor(x[:2]).to(device=dev, dtype=dtype))
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"find_lr: validate=True needs a model that returns [batch, outputs], got {shape}"
            )
        n_out = int(out.shape[1])
        if self.output == "sigmoid" and n_out != 1:
            raise ValueError(
                f"find_lr: validate=True with binary cross-entropy needs one output, the model "
                f"has {n_out}"
            )
        xv = yv = None
        if val_data is not None:
            xv, yv_raw = _arrays("val_data", val_data, batch_size)
            yv = _targets("val_data", yv_raw, self.output, n_out)
        self.data = types.SimpleNamespace(
            x_train=x, y_train=_targets("data", y, self.output, n_out), x_test=xv, y_test=yv
        )
        self.spec = TorchModule(self.factory, n_out, self.output)

    def run(
        self, result: FinderResult | RepeatedResult, batch_size: int, dev: torch.device
    ) -> FinderResult | RepeatedResult:
        """Validate around ``result``'s suggestion; ``result`` with ``.validation``."""
        from .lab import validate, validation_center, with_validation

        assert self.spec is not None
        center, note = validation_center(result, self.around)
        val = validate(
            self.data,
            self.spec,
            self.optimizer,
            center,
            batch_size=batch_size,
            factors=self.factors,
            epochs=self.epochs,
            seeds=self.seeds,
            batch_orders="per_seed",
            dtype=self.dtype,
            device=dev,
            around=note,
        )
        return with_validation(result, val)
