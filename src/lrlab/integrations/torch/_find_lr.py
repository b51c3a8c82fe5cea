"""The range test for PyTorch: ``find_lr(model, optimizer, loss_fn, data)``.

Public as :mod:`lrlab.torch` (``from lrlab.torch import find_lr``). The driver, ramp and
analysis are :mod:`lrlab.finder`'s framework-free core; this module does the torch steps. The
model and the optimizer come back exactly as they were (:func:`preserved`), also when the run
raises, and the global torch random state is left untouched (the test runs under
``torch.random.fork_rng``).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch

from lrlab._checks import integer
from lrlab.finder import FinderResult, RepeatedResult, ramp, run, run_repeated
from lrlab.schedules import Schedule

from ._data import check_pair, count_rows, cycle, is_pair, once, to_device

__all__ = ["find_lr", "preserved"]

if TYPE_CHECKING:
    from ._validate import TorchValidationPlan


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
        >>> from lrlab.torch import preserved
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
    * **Validation** (``validate=True``): after the test, :func:`lrlab.lab.validation.validate`
      trains ``factor * centre`` for each of ``validate_factors`` for ``validate_epochs``
      passes over ``data`` on lrlab's population engine, every member starting from your
      model's weights, and ``result.validation`` holds the table. The loss, optimizer and model
      must be ones the engine trains (docs/finder.md lists them); anything else is rejected
      before the test runs, with the reason.

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
        >>> from lrlab.torch import find_lr
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
    _check_inputs(model, optimizer, data, val_data, eval_every, validate)
    batch_size = integer("find_lr", "batch_size", batch_size, lo=1)
    accumulation_steps = integer("find_lr", "accumulation_steps", accumulation_steps, lo=1)
    repeats = integer("find_lr", "repeats", repeats, lo=1)
    plan = None
    if validate:  # the lab (and its translation of the model) is imported only then
        from ._validate import TorchValidationPlan

        plan = TorchValidationPlan(
            model,
            optimizer,
            loss_fn,
            validate_around,
            validate_factors,
            validate_epochs,
            validate_seeds,
            seed,
        )
    schedule = ramp(start_lr, end_lr, num_steps, mode)
    dev = torch.device(device) if device is not None else _model_device(model)
    steps = _TorchSteps(
        model, optimizer, loss_fn, data, val_data, batch_size, accumulation_steps, shuffle, dev
    )
    steps.set_amp(amp, amp_dtype)
    kwargs: dict[str, Any] = {
        "smoothing": smoothing,
        "diverge_factor": diverge_factor,
        "min_steps": min_steps,
        "eval_fn": steps.evaluate if val_data is not None else None,
        "eval_every": eval_every,
    }
    result = steps.run(schedule, num_steps, repeats, seed, plan, kwargs)
    return result if plan is None else plan.run(result, batch_size)


def _check_inputs(
    model: Any, optimizer: Any, data: Any, val_data: Any, eval_every: Any, validate: Any
) -> None:
    """The checks of :func:`find_lr` that are not a single number's."""
    owner = "find_lr"
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{owner}: model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"{owner}: optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    if eval_every is not None and val_data is None:
        raise ValueError(f"{owner}: eval_every={eval_every!r} needs val_data")
    for name, d in (("data", data), ("val_data", val_data)):
        if d is not None and is_pair(d):
            check_pair(name, d)
    if not isinstance(validate, bool):
        raise ValueError(f"{owner}: validate must be True or False, got {validate!r}")


class _TorchSteps:
    """The range test's training steps and evaluation on a torch model, from its snapshot.

    ``step_fn(seed)`` restores the model and optimizer, seeds torch and the batch order, and
    returns the driver's ``lr -> loss`` step: every param group at ``lr`` times its initial
    ratio, ``accumulation_steps`` micro-batches, one ``optimizer.step()``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[Any, Any], torch.Tensor],
        data: Any,
        val_data: Any,
        batch_size: int,
        accumulation_steps: int,
        shuffle: bool,
        dev: torch.device,
    ) -> None:
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.data, self.val_data, self.batch_size = data, val_data, batch_size
        self.accumulation_steps, self.shuffle, self.dev = accumulation_steps, shuffle, dev
        self.ratios = _ratios(optimizer)
        self.amp_dtype: torch.dtype | None = None
        self.snapshot = _Snapshot(model, optimizer)

    def run(
        self,
        schedule: Schedule,
        num_steps: int,
        repeats: int,
        seed: int,
        plan: TorchValidationPlan | None,
        options: dict[str, Any],
    ) -> FinderResult | RepeatedResult:
        """The test (``repeats`` runs from seed ``seed``) under a forked torch random state;
        the model and optimizer are restored afterwards, also when it raises."""
        dev = self.dev
        fork: list[int] = []
        if dev.type == "cuda":
            fork = [dev.index if dev.index is not None else torch.cuda.current_device()]
        try:
            with torch.random.fork_rng(devices=fork):
                if plan is not None:
                    plan.load(self.data, self.val_data, self.batch_size, dev)
                if repeats == 1:
                    return run(self.step_fn(seed), schedule, num_steps, **options)
                return run_repeated(
                    self.step_fn, schedule, num_steps, repeats=repeats, seed=seed, **options
                )
        finally:
            self.snapshot.restore()

    def set_amp(self, amp: bool, amp_dtype: torch.dtype | None) -> None:
        """Mixed precision: float16 on CUDA (with a gradient scaler), else bfloat16."""
        if amp:
            self.amp_dtype = amp_dtype or (
                torch.float16 if self.dev.type == "cuda" else torch.bfloat16
            )

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.dev.type, dtype=self.amp_dtype)

    def step_fn(self, seed: int) -> Callable[[float], float]:
        """A fresh run from the snapshot with seed ``seed``: its ``lr -> loss`` step."""
        self.snapshot.restore()
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        batches = cycle(self.data, self.batch_size, self.shuffle, generator)
        scaler = torch.amp.GradScaler(self.dev.type) if self.amp_dtype == torch.float16 else None
        model, optimizer, n = self.model, self.optimizer, self.accumulation_steps
        model.train()

        def step(lr: float) -> float:
            for group, ratio in zip(optimizer.param_groups, self.ratios):
                _set_lr(group, lr * ratio)
            optimizer.zero_grad(set_to_none=True)
            total: torch.Tensor | None = None
            for _ in range(n):
                inputs, targets = to_device(next(batches), self.dev)
                with self.autocast():
                    loss = self.loss_fn(model(inputs), targets) / n
                (scaler.scale(loss) if scaler is not None else loss).backward()
                total = loss.detach() if total is None else total + loss.detach()
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            return float(total)

        return step

    def evaluate(self) -> float:
        """The mean loss over ``val_data`` (weighted by batch rows), in eval mode, no grad."""
        self.model.eval()
        total, seen = 0.0, 0
        with torch.no_grad(), self.autocast():
            for inputs, targets in once(self.val_data, self.batch_size):
                inputs, targets = to_device((inputs, targets), self.dev)
                n = count_rows(targets)
                total += float(self.loss_fn(self.model(inputs), targets)) * n
                seen += n
        self.model.train()
        if seen == 0:
            raise ValueError("find_lr: val_data yielded no batch")
        return total / seen
