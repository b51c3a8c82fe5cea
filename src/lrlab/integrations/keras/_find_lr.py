"""The range test for Keras 3: ``find_lr(model, x, y)`` and an ``LRFinder`` callback for ``fit``.

Keras is imported when you first use something from this module, not when it is imported (so
``import lrlab.keras`` is cheap, and the backend is whatever ``KERAS_BACKEND`` says when
you first call it). The model's weights and the optimizer's variables come back exactly as they
were.

**The per-batch loss.** In ``on_train_batch_end`` Keras 3 passes ``logs["loss"]``, the running
mean of the epoch so far, weighted by batch rows (its ``Mean`` loss tracker), not the loss of the
batch. The batch loss is recovered exactly from two consecutive means: with ``c_n`` the rows
seen in the epoch after batch ``n`` and ``m_n`` the mean,

    loss_n = (c_n * m_n - c_{n-1} * m_{n-1}) / (c_n - c_{n-1})

which for equal batches is ``n * m_n - (n - 1) * m_{n-1}``. ``c_n`` is read from the tracker's
``count`` when the model has Keras' ``_loss_tracker``; otherwise batches are assumed equal
(exact except for a short last batch). The bookkeeping restarts at each epoch, as Keras resets
its metrics then. The only error is float32 rounding of the running mean (relative error about
``n * 6e-8`` after ``n`` batches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lrlab._checks import integer
from lrlab.finder import FinderResult, Recorder, RepeatedResult, combine_runs, ramp

if TYPE_CHECKING:
    import keras


def batch_loss(mean: float, prev_mean: float, count: float, prev_count: float) -> float:
    """The loss of the latest batch, from the running means before and after it.

    ``(count * mean - prev_count * prev_mean) / (count - prev_count)``; with counts in batches
    (``count = n``) that is ``n * mean - (n - 1) * prev_mean``.

    Args:
        mean: The running mean after the batch (Keras ``logs["loss"]``).
        prev_mean: The running mean before it (anything when ``prev_count`` is 0).
        count: Rows (or batches) counted after the batch.
        prev_count: Rows (or batches) counted before it.

    Returns:
        The batch's own loss.

    Example:
        >>> from lrlab.keras import batch_loss
        >>> batch_loss(mean=1.5, prev_mean=1.0, count=2, prev_count=1)  # batches 1.0 and 2.0
        2.0
        >>> batch_loss(mean=1.2, prev_mean=1.0, count=40, prev_count=32)  # a short last batch
        2.0
    """
    if count <= prev_count:
        raise ValueError(f"batch_loss: count={count!r} must exceed prev_count={prev_count!r}")
    prev = prev_count * prev_mean if prev_count else 0.0
    return (count * mean - prev) / (count - prev_count)


# -- state ----------------------------------------------------------------------------------------
def _variables(model: Any) -> list[Any]:
    seen: dict[int, Any] = {}
    groups = (model.variables, getattr(model, "metrics_variables", []))
    opt = getattr(model, "optimizer", None)
    for group in (*groups, [] if opt is None else opt.variables):
        for v in group:
            seen.setdefault(id(v), v)
    return list(seen.values())


class _State:
    """The values of every model, metric and optimizer variable, and the learning-rate object."""

    def __init__(self, model: Any) -> None:
        from keras import ops

        self.model = model
        self.vars = _variables(model)
        self.values = [np.array(ops.convert_to_numpy(v.value), copy=True) for v in self.vars]
        opt = model.optimizer
        self.lr_object = opt._learning_rate if opt is not None else None
        self.history = getattr(model, "history", None)
        self.stop_training = getattr(model, "stop_training", False)

    def restore(self) -> None:
        for v, value in zip(self.vars, self.values):
            v.assign(value)
        opt = self.model.optimizer
        if opt is not None and opt._learning_rate is not self.lr_object:
            opt.learning_rate = self.lr_object
        self.model.history = self.history
        self.model.stop_training = self.stop_training


def _set_lr(optimizer: Any, lr: float, holder: list[float]) -> None:
    import keras

    if isinstance(optimizer._learning_rate, keras.Variable):
        optimizer.learning_rate = lr
    else:  # a LearningRateSchedule or a callable: swap in a callable for the run
        holder[0] = lr
        if not getattr(optimizer._learning_rate, "_lrlab_finder", False):

            def current() -> float:
                return holder[0]

            current._lrlab_finder = True  # type: ignore[attr-defined]
            optimizer.learning_rate = current


# -- data -----------------------------------------------------------------------------------------
def _rows(data: Any, name: str) -> int:
    if isinstance(data, Mapping):
        data = next(iter(data.values()), None)
    elif isinstance(data, (list, tuple)):
        data = data[0] if data else None
    if data is None or not hasattr(data, "shape") or len(data.shape) == 0:
        raise ValueError(
            f"find_lr: {name} must be an array (or a list/dict of arrays) with a batch axis, "
            f"got {type(data).__name__}"
        )
    return int(data.shape[0])


def _take(data: Any, idx: np.ndarray) -> Any:
    if isinstance(data, Mapping):
        return {k: _take(v, idx) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_take(v, idx) for v in data)
    return np.asarray(data)[idx]


def _order(n: int, total: int, shuffle: bool, seed: int) -> np.ndarray:
    """``total`` row indices: whole permutations of ``range(n)`` one after another."""
    if not shuffle:
        return np.arange(total) % n
    rng = np.random.default_rng(seed)
    parts, got = [], 0
    while got < total:
        parts.append(rng.permutation(n))
        got += n
    return np.concatenate(parts)[:total]


def _evaluate(model: Any, data: Any, batch_size: int) -> float:
    from keras import ops

    x, y = data
    n = _rows(x, "validation_data")
    total = 0.0
    for i in range(0, n, batch_size):
        idx = np.arange(i, min(i + batch_size, n))
        xb, yb = _take(x, idx), _take(y, idx)
        y_pred = model.predict_on_batch(xb)
        loss = model.compute_loss(x=xb, y=yb, y_pred=y_pred, training=False)
        total += float(ops.convert_to_numpy(loss)) * idx.size
    return total / n


class _LRFinderImpl:
    """A Keras 3 callback that runs the range test inside ``model.fit``.

    Each batch trains at the rate of :func:`~lrlab.finder.ramp`; the batch loss (recovered
    from Keras' running mean, see :func:`batch_loss`) goes to a
    :class:`~lrlab.finder.Recorder`, which smooths it and stops the fit
    (``model.stop_training``) on divergence, a non-finite loss, or after ``num_steps``
    batches. At the end of the fit the weights and optimizer variables are restored (unless
    ``restore=False``) and :attr:`result` holds the :class:`~lrlab.finder.FinderResult`.
    Give ``fit`` enough epochs for ``num_steps`` batches. If the fit raises, nothing is
    restored: use :func:`find_lr`, which restores in every case.

    Args:
        start_lr: First rate of the ramp.
        end_lr: Last rate of the ramp.
        num_steps: Batches in the ramp.
        mode: ``"exp"`` or ``"linear"``.
        smoothing: ``beta`` of the loss smoothing.
        diverge_factor: Stop factor (see :class:`~lrlab.finder.Recorder`); ``None``: never.
        min_steps: First step at which the divergence stop may fire.
        validation_data: Optional ``(x, y)`` evaluated every ``eval_every`` batches with
            ``model.compute_loss`` on ``predict_on_batch`` outputs (Keras metrics are not
            touched).
        eval_every: Evaluation period in batches (default 1 with ``validation_data``).
        eval_batch_size: Batch size of the evaluation.
        restore: Restore weights and optimizer variables at the end of the fit.
    """

    def __init__(
        self,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        num_steps: int = 100,
        *,
        mode: Literal["exp", "linear"] = "exp",
        smoothing: float = 0.98,
        diverge_factor: float | None = 4.0,
        min_steps: int = 1,
        validation_data: tuple[Any, Any] | None = None,
        eval_every: int | None = None,
        eval_batch_size: int = 256,
        restore: bool = True,
    ) -> None:
        super().__init__()
        self.schedule = ramp(start_lr, end_lr, num_steps, mode)
        self.num_steps = num_steps
        self._options = {
            "smoothing": smoothing,
            "diverge_factor": diverge_factor,
            "min_steps": min_steps,
        }
        Recorder(self.schedule, num_steps, **self._options)  # check the options now
        if eval_every is not None and validation_data is None:
            raise ValueError(f"LRFinder: eval_every={eval_every!r} needs validation_data")
        self.validation_data = validation_data
        self.eval_every = (
            1 if eval_every is None else integer("LRFinder", "eval_every", eval_every, lo=1)
        )
        self.eval_batch_size = integer("LRFinder", "eval_batch_size", eval_batch_size, lo=1)
        self.restore = restore
        self.result: FinderResult | None = None
        self._recorder: Recorder | None = None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._recorder = Recorder(self.schedule, self.num_steps, **self._options)
        self._state = _State(self.model)
        self._holder = [0.0]
        self._prev = (0.0, 0.0)
        self.result = None

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._prev = (0.0, 0.0)  # Keras resets its metrics at each epoch

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        rec = self._recorder
        if rec is not None and not rec.done:
            _set_lr(self.model.optimizer, rec.lr, self._holder)

    def _count(self, prev_count: float) -> float:
        tracker = getattr(self.model, "_loss_tracker", None)
        count = getattr(tracker, "count", None)
        if count is None:
            return prev_count + 1.0
        from keras import ops

        return float(ops.convert_to_numpy(count))

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        rec = self._recorder
        if rec is None or rec.done:
            self.model.stop_training = True
            return
        if not logs or "loss" not in logs:
            raise ValueError(
                f"LRFinder: the batch logs have no 'loss' (keys: {sorted(logs or {})})"
            )
        prev_count, prev_mean = self._prev
        mean = float(logs["loss"])
        count = self._count(prev_count)
        self._prev = (count, mean)
        rec.record(batch_loss(mean, prev_mean, count, prev_count))
        if (
            self.validation_data is not None
            and rec.step % self.eval_every == 0
            and rec.stop_reason in (None, "completed")
        ):
            rec.record_eval(_evaluate(self.model, self.validation_data, self.eval_batch_size))
        if rec.done:
            self.model.stop_training = True

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._recorder is not None:
            self.result = self._recorder.result()
        if self.restore:
            self._state.restore()
        else:
            opt = self.model.optimizer
            if opt._learning_rate is not self._state.lr_object:
                opt.learning_rate = self._state.lr_object


def _prepare(model: Any, x: Any, y: Any, batch_size: int) -> None:
    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            "find_lr: compile the model first (model.compile(optimizer=..., loss=...))"
        )
    idx = np.arange(min(batch_size, _rows(x, "x")))
    build = getattr(model, "_symbolic_build", None)  # what fit() does before its first batch
    if build is not None:
        build(data_batch=(_take(x, idx), _take(y, idx)))
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def find_lr(
    model: keras.Model,
    x: Any,
    y: Any,
    *,
    batch_size: int = 32,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: Literal["exp", "linear"] = "exp",
    smoothing: float = 0.98,
    diverge_factor: float | None = 4.0,
    min_steps: int = 1,
    validation_data: tuple[Any, Any] | None = None,
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
    """Learning-rate range test of a compiled Keras 3 model; weights and optimizer are restored.

    Runs ``model.fit`` once per repeat with an :class:`LRFinder` callback on exactly
    ``num_steps`` full batches: the rows are whole permutations of the data one after another
    (``numpy.random.default_rng(seed + r)``; in order when ``shuffle=False``), so a short data
    set is cycled and every batch has ``batch_size`` rows. Before the first run the model, its
    metrics and its optimizer are built as ``fit`` would build them, and every variable (model,
    metrics, optimizer: iterations, learning rate, moments, seed-generator states) is saved; it
    is restored between repeats, at the end, and when the run raises. ``model.history`` and
    ``model.stop_training`` are put back too. Keras' own global seeds are not touched.

    **Validation** (``validate=True``): after the test, :func:`lrlab.lab.validation.validate` trains
    ``factor * centre`` for each of ``validate_factors`` (centre from
    :func:`lrlab.lab.validation.validation_center` with ``validate_around``) for ``validate_epochs``
    passes over ``x``, at a constant rate, on lrlab's population engine (on the CPU), and the
    result (a :class:`~lrlab.lab.validation.ValidatedResult` / ``ValidatedRepeatedResult``) carries
    the table as ``result.validation``. The model is translated to an
    :class:`~lrlab.lab.models.MLP` and its optimizer to the :mod:`lrlab.lab.optim` one with
    ``form="keras"`` and the same hyperparameters. Each validation seed (``seed, seed + 1, ...``
    for a count) draws **fresh initial weights** from the model's initialiser (not your model's
    current weights) and has its own batch order. ``validation_data`` is the held-out split;
    without it the candidates are compared on a pass over the training data (which measures
    fitting only). The model, loss, optimizer and data must be ones the engine trains (Dense
    layers only, the usual losses and initialisers, Keras' own optimizers; docs/finder.md lists
    the limits); anything else is rejected with the reason before the test runs.

    Args:
        model: A compiled Keras model.
        x: Inputs: an array, or a list / dict of arrays.
        y: Targets, same form.
        batch_size: Rows per batch.
        start_lr: First rate of the ramp.
        end_lr: Last rate of the ramp.
        num_steps: Batches in the ramp.
        mode: ``"exp"`` or ``"linear"``.
        smoothing: ``beta`` of the loss smoothing.
        diverge_factor: Stop factor (see :class:`~lrlab.finder.Recorder`); ``None``: never.
        min_steps: First step at which the divergence stop may fire.
        validation_data: Optional ``(x, y)`` evaluated every ``eval_every`` batches.
        eval_every: Evaluation period in batches (default 1 with ``validation_data``).
        repeats: Number of runs, on seeds ``seed, seed + 1, ...``.
        seed: The first seed.
        shuffle: Shuffle the rows (whole permutations, one per pass).
        validate: Validate the suggestion by short training runs (see above).
        validate_around: ``"valley"`` (default; the median for repeats), another rule name,
            ``"window"`` (its geometric centre), or a rate.
        validate_factors: Multiples of the centre to train.
        validate_epochs: Passes over ``x`` per validation run.
        validate_seeds: A count (seeds ``seed, seed + 1, ...``) or the seeds themselves; each
            seed is one initial draw of the weights and one batch order.

    Returns:
        A :class:`~lrlab.finder.FinderResult` when ``repeats == 1``, else a
        :class:`~lrlab.finder.RepeatedResult`; with ``validate=True`` the subclass with
        ``.validation``.
    """
    owner = "find_lr"
    batch_size = integer(owner, "batch_size", batch_size, lo=1)
    repeats = integer(owner, "repeats", repeats, lo=1)
    seed = integer(owner, "seed", seed, lo=0)
    n = _rows(x, "x")
    if _rows(y, "y") != n or n == 0:
        raise ValueError(
            f"{owner}: x and y must have the same, non-zero number of rows, got {n} and "
            f"{_rows(y, 'y')}"
        )
    if not isinstance(validate, bool):
        raise ValueError(f"{owner}: validate must be True or False, got {validate!r}")
    from ._classes import build

    finder_cls = build()["LRFinder"]
    make = [
        finder_cls(
            start_lr,
            end_lr,
            num_steps,
            mode=mode,
            smoothing=smoothing,
            diverge_factor=diverge_factor,
            min_steps=min_steps,
            validation_data=validation_data,
            eval_every=eval_every,
            restore=False,
        )
        for _ in range(repeats)
    ]
    _prepare(model, x, y, batch_size)
    plan = None
    if validate:  # the lab (and its translation of the model) is imported only then
        from ._validate import KerasValidationPlan

        plan = KerasValidationPlan(
            model,
            x,
            y,
            validation_data,
            validate_around,
            validate_factors,
            validate_epochs,
            validate_seeds,
            seed,
        )
    state = _State(model)
    results: list[FinderResult] = []
    seeds: Sequence[int] = [seed + r for r in range(repeats)]
    try:
        for finder, s in zip(make, seeds):
            state.restore()
            idx = _order(n, num_steps * batch_size, shuffle, s)
            model.fit(
                _take(x, idx),
                _take(y, idx),
                batch_size=batch_size,
                epochs=1,
                shuffle=False,
                verbose=0,
                callbacks=[finder],
            )
            results.append(finder.result)
    finally:
        state.restore()
    result = results[0] if repeats == 1 else combine_runs(results, seeds)
    return result if plan is None else plan.run(result, batch_size)
