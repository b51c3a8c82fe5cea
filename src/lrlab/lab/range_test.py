"""The range test on the population engine, and a short validation run of its suggestion.

:func:`find_lr` runs the range test for an lrlab dataset and an :class:`~lrlab.lab.models.MLP` /
:class:`~lrlab.lab.models.TorchModule`: the ``repeats`` runs are the members of **one**
population trained by the cohort loop (:func:`~lrlab.lab.engine.run_cohort`) on the engine
that :func:`~lrlab.lab.engine.auto_engine` picks (NumPy alone for a small MLP cohort on the
CPU), each with its own initial weights and, by default, its own batch order. Every member
follows the same ramp and feeds its own :class:`~lrlab.finder.Recorder`; a member that stops
(diverged or non-finite) is frozen (learning rate 0, weights zeroed) while the others go on.

:func:`~lrlab.lab.validation.validate` trains a few learning rates around a suggestion for a few
epochs, several seeds each, and reports the final loss / accuracy of each as mean ± sd: evidence
rather than one number. ``find_lr(..., validate=True)`` attaches it to the result as
``result.validation``; :func:`validate` and the validated results live in
:mod:`lrlab.lab.validation`.

Importing this module does not import torch; the torch engine imports it where it trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .._checks import choice, integer
from ..finder import FinderResult, Recorder, RepeatedResult, combine_runs, ramp
from .engine import DTYPES, auto_engine, make_engine, run_cohort
from .models import MLP, TorchModule
from .optim import PopulationOptimizer
from .population import batch_orders
from .validation import (
    DEFAULT_FACTORS,
    _check_common,
    _check_shared,
    _seed_list,
    validate,
    validation_center,
    validation_settings,
    with_validation,
)

__all__ = ["find_lr"]


_validate = validate  # find_lr's ``validate`` argument shadows the function


# -- the range test -------------------------------------------------------------------------------
def find_lr(
    data: Any,
    model: MLP | TorchModule,
    optimizer: PopulationOptimizer,
    *,
    batch_size: int,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: Literal["exp", "linear"] = "exp",
    repeats: int = 1,
    seeds: Sequence[int] | None = None,
    data_seed: int = 0,
    batch_order: Literal["per_seed", "shared"] = "per_seed",
    smoothing: float = 0.98,
    diverge_factor: float | None = 4.0,
    min_steps: int = 1,
    dtype: str = "float32",
    device: Any = None,
    validate: bool = False,
    validate_around: str | float = "valley",
    validate_factors: Sequence[float] = DEFAULT_FACTORS,
    validate_epochs: int = 5,
    validate_seeds: int | Sequence[int] = 3,
) -> FinderResult | RepeatedResult:
    """Learning-rate range test of an lrlab model on an lrlab dataset, ``repeats`` runs at once.

    The runs are the members of one population: member ``i`` starts from the initial weights
    of ``seeds[i]`` (default ``0, 1, ...``) and, with ``batch_order="per_seed"`` (default, as
    in :func:`~lrlab.lab.population.train_population` and studies), draws its batches in the
    order of ``data_seed + seeds[i]`` (``"shared"``: every member uses ``data_seed``'s order, so
    the runs differ by their initial weights only). At step ``t`` every running member trains
    one batch at ``ramp(t)`` (rounded to ``dtype``, as
    :func:`~lrlab.lab.population.train_population` rounds its rates); its batch loss
    (measured before the update, as in :func:`lrlab.torch.find_lr`) goes to its own
    :class:`~lrlab.finder.Recorder`. A member whose recorder stops (``"diverged"``,
    ``"non-finite"``) is frozen: learning rate 0, weights and optimizer state zeroed; the others
    go on. The test ends when every member has stopped or ``num_steps`` steps ran.

    With ``validate=True`` the suggestion is then checked by :func:`validate`: the rates
    ``factor * centre`` for ``validate_factors`` (centre from :func:`validation_center` with
    ``validate_around``) are trained for ``validate_epochs`` epochs on ``validate_seeds`` seeds
    (default: three, starting at ``seeds[0]``), all members of one population, with the same
    ``batch_order``; the result is then a :class:`ValidatedResult` or
    :class:`ValidatedRepeatedResult` whose ``validation`` holds the table.

    Args:
        data: An lrlab dataset (``x_train``, ``y_train``; ``x_test``, ``y_test`` for validation).
        model: An :class:`~lrlab.lab.models.MLP` or :class:`~lrlab.lab.models.TorchModule`.
        optimizer: An :mod:`lrlab.lab.optim` optimizer (hyperparameters shared, or one per
            member).
        batch_size: Rows per step.
        start_lr: First rate of the ramp.
        end_lr: Last rate of the ramp.
        num_steps: Steps of the ramp.
        mode: ``"exp"`` or ``"linear"`` ramp.
        repeats: Number of runs (members); ``len(seeds)`` when ``seeds`` is given.
        seeds: Initial-weight seed of each run (default ``0 .. repeats-1``).
        data_seed: Seed of the batch order (see above), an integer >= 0.
        batch_order: ``"per_seed"`` or ``"shared"``.
        smoothing: ``beta`` of the loss smoothing.
        diverge_factor: Stop factor of :class:`~lrlab.finder.Recorder` (``None``: never).
        min_steps: First step at which the divergence stop may fire.
        dtype: ``"float32"`` or ``"float64"``.
        device: Where to train (default CPU).
        validate: Also run :func:`validate` around the suggestion.
        validate_around: ``"valley"`` (default: the rule with the lowest regret in
            ``benchmarks/finder_quality.py``; the median over the runs), another rule name,
            ``"window"`` (the window's geometric centre), or a rate.
        validate_factors: Multiples of the centre to train (default ``(1/3, 1, 3)``).
        validate_epochs: Epochs of each validation run.
        validate_seeds: A count or the seeds of the validation runs.

    Returns:
        A :class:`~lrlab.finder.FinderResult` for one run, else a
        :class:`~lrlab.finder.RepeatedResult` (``seeds`` are the initial-weight seeds); with
        ``validate=True`` the subclass with ``.validation``.

    Example:
        >>> from lrlab.lab.range_test import find_lr
        >>> from lrlab.lab.data import ionosphere
        >>> from lrlab.lab.models import MLP
        >>> from lrlab.lab.optim import SGD
        >>> ds = ionosphere().standardized()
        >>> net = MLP(34, (34,), 1, output="sigmoid")
        >>> rep = find_lr(ds, net, SGD(momentum=0.9), batch_size=32, repeats=3)
        >>> rep.seeds, [r.stop_reason for r in rep.results]
        ((0, 1, 2), ['diverged', 'diverged', 'diverged'])
        >>> 1e-3 < rep.suggestions["valley"].median < 1.0
        True
    """
    owner = "find_lr"
    batch_size = _check_common(owner, data, model, optimizer, batch_size)
    repeats = integer(owner, "repeats", repeats, lo=1)
    if seeds is None:
        seed_list = tuple(range(repeats))
    else:
        seed_list = _seed_list(owner, "seeds", seeds)
        if repeats not in (1, len(seed_list)):
            raise ValueError(
                f"{owner}: repeats={repeats!r} does not match the {len(seed_list)} seeds given; "
                "pass one of them"
            )
    data_seed = integer(owner, "data_seed", data_seed, lo=0)  # as train_population and a study
    choice(owner, "batch_order", batch_order, ("per_seed", "shared"))
    choice(owner, "dtype", dtype, tuple(DTYPES))
    if not isinstance(validate, bool):
        raise ValueError(f"{owner}: validate must be True or False, got {validate!r}")
    if validate:
        _check_shared(owner, optimizer)
        v = validation_settings(
            owner, validate_around, validate_factors, validate_epochs, validate_seeds, seed_list[0]
        )
        around, factors, v_epochs, v_seeds = v.around, v.factors, v.epochs, v.seeds
    schedule = ramp(start_lr, end_lr, num_steps, mode)
    stops = {"smoothing": smoothing, "diverge_factor": diverge_factor, "min_steps": min_steps}
    recs = [Recorder(schedule, num_steps, **stops) for _ in seed_list]
    lrs = schedule(np.arange(num_steps))
    where = (batch_size, data_seed, batch_order, dtype, device)
    _run_ramp(owner, data, model, optimizer, recs, seed_list, lrs, *where)
    results = [r.result() for r in recs]
    one = len(seed_list) == 1
    out: FinderResult | RepeatedResult = results[0] if one else combine_runs(results, seed_list)
    if not validate:
        return out
    center, note = validation_center(out, around)
    val = _validate(
        data,
        model,
        optimizer,
        center,
        batch_size=batch_size,
        factors=factors,
        epochs=v_epochs,
        seeds=v_seeds,
        data_seed=data_seed,
        batch_order=batch_order,
        dtype=dtype,
        device=device,
        around=note,
    )
    return with_validation(out, val)


def _run_ramp(
    owner: str,
    data: Any,
    model: MLP | TorchModule,
    optimizer: PopulationOptimizer,
    recs: list[Recorder],
    seed_list: Sequence[int],
    ramp_rates: Any,
    batch_size: int,
    data_seed: int,
    batch_order: str,
    dtype: str,
    device: Any,
) -> None:
    """Train one member per recorder on the cohort loop at ``ramp_rates``, each step's batch
    loss to its recorder, until every recorder has stopped (see :func:`find_lr`)."""
    C = len(seed_list)
    num_steps = len(ramp_rates)
    if len(data.x_train) == 0:
        raise ValueError(f"{owner}: the training split of data is empty")
    kind = auto_engine(model, C, batch_size, device, dtype)
    try:
        engine = make_engine(
            kind,
            model,
            C,
            (data.x_train, data.y_train),
            None,
            batch_size=batch_size,
            dtype=dtype,
            device=device,
        )
    except ValueError as e:
        raise ValueError(f"{owner}: data.y_train does not fit the model: {e}") from None
    engine.init(seed_list, optimizer)
    steps = engine.steps_per_epoch
    epochs = -(-num_steps // steps)
    rates = np.zeros((C, epochs * steps))
    rates[:, :num_steps] = np.asarray(ramp_rates, dtype=np.float64)

    def record(step: int) -> np.ndarray:
        """Each running member's batch loss to its recorder; stop those whose test is over."""
        losses = engine.batch_loss().tolist()
        return np.array([not recs[i].done and recs[i].record(losses[i]) for i in range(C)])

    orders = batch_orders(batch_order, data_seed, seed_list)
    run = run_cohort(engine, rates, epochs=epochs, data_seed=orders, has_test=False, on_step=record)
    for i in np.nonzero(run.diverged)[0]:  # its weights overflowed at an epoch's last step
        if not recs[i].done:
            recs[i].record(float("nan"))
