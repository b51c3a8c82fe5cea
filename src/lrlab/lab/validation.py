"""A short validation run of a range-test suggestion: :func:`validate` trains a few learning
rates around it for a few epochs, several seeds each, and reports each as a :class:`Candidate`
of a :class:`Validation` (final loss / accuracy, mean ± sd); :func:`validation_center` picks the
rate to validate around; :func:`validated` and :func:`with_validation` attach the table to a
range-test result (:class:`ValidatedResult`, :class:`ValidatedRepeatedResult`), as the range
tests' ``validate=True`` does (:func:`lrlab.lab.range_test.find_lr`, :func:`lrlab.torch.find_lr`,
:func:`lrlab.keras.find_lr`). Also the argument checks the population range test shares.

It trains through :func:`lrlab.lab.population.train_population`, with NumPy alone for small MLP
cohorts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .._checks import choice, integer
from .._checks import number as real
from ..finder import RULES, FinderResult, RepeatedResult
from ..schedules import constant
from .models import MLP, TorchModule
from .optim import PopulationOptimizer
from .population import DTYPES, train_population

__all__ = [
    "DEFAULT_FACTORS",
    "Candidate",
    "Settings",
    "ValidatedRepeatedResult",
    "ValidatedResult",
    "Validation",
    "ValidationPlan",
    "validate",
    "validated",
    "validation_center",
    "validation_settings",
    "with_validation",
]

#: The learning rates :func:`validate` tries, as multiples of the centre.
DEFAULT_FACTORS = (1 / 3, 1.0, 3.0)
_AROUND = ("window", *RULES)


# -- argument checks ------------------------------------------------------------------------------
def _check_common(owner: str, data: Any, model: Any, optimizer: Any, batch_size: Any) -> int:
    if getattr(data, "x_train", None) is None or getattr(data, "y_train", None) is None:
        raise ValueError(
            f"{owner}: data must be an lrlab dataset (x_train, y_train, x_test, y_test), "
            f"got {type(data).__name__}"
        )
    if not isinstance(model, (MLP, TorchModule)):
        raise ValueError(
            f"{owner}: model must be an lrlab.lab.models.MLP or TorchModule, got {model!r}"
        )
    if not isinstance(optimizer, PopulationOptimizer):
        raise ValueError(
            f"{owner}: optimizer must be an lrlab.lab.optim optimizer (SGD, Adam, ...), "
            f"got {optimizer!r}"
        )
    return integer(owner, "batch_size", batch_size, lo=1)


def _seed_list(owner: str, name: str, seeds: Any) -> tuple[int, ...]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise ValueError(f"{owner}: {name} must be a non-empty sequence of integers, got {seeds!r}")
    return tuple(integer(owner, f"{name}[{i}]", s, lo=-(2**63)) for i, s in enumerate(seeds))


def _factors(owner: str, factors: Any) -> tuple[float, ...]:
    if isinstance(factors, (str, bytes)) or not isinstance(factors, Sequence) or not factors:
        raise ValueError(
            f"{owner}: validate_factors must be a non-empty sequence of numbers > 0, "
            f"got {factors!r}"
        )
    out = [
        real(owner, f"validate_factors[{i}]", f, lo=0.0, lo_open=True)
        for i, f in enumerate(factors)
    ]
    if len(set(out)) != len(out):
        raise ValueError(f"{owner}: validate_factors must not repeat a value, got {factors!r}")
    return tuple(sorted(out))


def _validate_seeds(owner: str, seeds: Any, first: int) -> tuple[int, ...]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        n = integer(owner, "validate_seeds", seeds, lo=1)
        return tuple(first + k for k in range(n))
    return _seed_list(owner, "validate_seeds", seeds)


def _check_shared(owner: str, optimizer: PopulationOptimizer) -> None:
    """Validation trains its own members: per-member hyperparameters cannot be mapped to them."""
    for f in dataclasses.fields(optimizer):  # type: ignore[arg-type]
        v = getattr(optimizer, f.name)
        parts = v if f.name == "betas" else (v,)
        if any(isinstance(p, tuple) for p in parts):
            raise ValueError(
                f"{owner}: validate=True needs one value of each optimizer hyperparameter for "
                f"all members, got {f.name}={v!r}"
            )


def _check_around(owner: str, around: Any) -> str | float:
    if isinstance(around, str):
        return choice(owner, "validate_around", around, _AROUND)
    return real(owner, "validate_around", around, lo=0.0, lo_open=True)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The checked ``validate_*`` arguments of a ``find_lr(..., validate=True)``."""

    around: str | float
    factors: tuple[float, ...]
    epochs: int
    seeds: tuple[int, ...]


def validation_settings(
    owner: str, around: Any, factors: Any, epochs: Any, seeds: Any, first_seed: int
) -> Settings:
    """``validate_around``, ``validate_factors``, ``validate_epochs`` and ``validate_seeds``,
    checked the same way by every adapter (errors name ``owner``, the field and the value).

    Args:
        owner: The function named in error messages.
        around: ``"valley"``, another rule name, ``"window"``, or a rate > 0.
        factors: Multiples of the centre, each > 0.
        epochs: Epochs of each validation run, >= 1.
        seeds: A count (seeds ``first_seed, first_seed + 1, ...``) or the seeds themselves.
        first_seed: The first seed when ``seeds`` is a count.

    Example:
        >>> from lrlab.lab.validation import validation_settings
        >>> validation_settings("find_lr", "valley", (0.5, 2.0), 3, 2, first_seed=7)
        Settings(around='valley', factors=(0.5, 2.0), epochs=3, seeds=(7, 8))
    """
    return Settings(
        _check_around(owner, around),
        _factors(owner, factors),
        integer(owner, "validate_epochs", epochs, lo=1),
        _validate_seeds(owner, seeds, int(first_seed)),
    )


# -- validation -----------------------------------------------------------------------------------
def _mean_sd(values: Sequence[float]) -> tuple[float | None, float | None]:
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return None, None
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One learning rate tried by :func:`validate`, with its final metrics per seed.

    Attributes:
        factor: The multiple of the centre.
        lr: The learning rate, ``factor * centre``, constant during training.
        loss: The final loss of each seed (NaN where the member diverged).
        accuracy: The final accuracy of each seed, or ``None`` for a regression (MSE) model.
        diverged: How many seeds diverged (NaN/inf loss or weights).

    Example:
        >>> c = Candidate(1.0, 0.1, (0.5, 0.7), (0.8, 0.9), 0)
        >>> round(c.loss_mean, 3), round(c.accuracy_mean, 3), round(c.accuracy_sd, 4)
        (0.6, 0.85, 0.0707)
    """

    factor: float
    lr: float
    loss: tuple[float, ...]
    accuracy: tuple[float, ...] | None
    diverged: int

    @property
    def loss_mean(self) -> float | None:
        """Mean final loss over the seeds that did not diverge (``None`` if all did)."""
        return _mean_sd(self.loss)[0]

    @property
    def loss_sd(self) -> float | None:
        """Sample standard deviation of the final loss (0 for one seed)."""
        return _mean_sd(self.loss)[1]

    @property
    def accuracy_mean(self) -> float | None:
        """Mean final accuracy over the seeds that did not diverge."""
        return None if self.accuracy is None else _mean_sd(self.accuracy)[0]

    @property
    def accuracy_sd(self) -> float | None:
        """Sample standard deviation of the final accuracy."""
        return None if self.accuracy is None else _mean_sd(self.accuracy)[1]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (NaN for a diverged seed stays a float)."""
        return {
            "factor": self.factor,
            "lr": self.lr,
            "loss": list(self.loss),
            "accuracy": None if self.accuracy is None else list(self.accuracy),
            "diverged": self.diverged,
            "loss_mean": self.loss_mean,
            "loss_sd": self.loss_sd,
            "accuracy_mean": self.accuracy_mean,
            "accuracy_sd": self.accuracy_sd,
        }


def _rank_key(c: Candidate) -> tuple[float, float, float]:
    acc, loss = c.accuracy_mean, c.loss_mean
    return (
        float(c.diverged),
        -acc if acc is not None else (math.inf if c.accuracy is not None else 0.0),
        loss if loss is not None else math.inf,
    )


@dataclasses.dataclass(frozen=True)
class Validation:
    """Short training runs at a few learning rates around a suggestion: which did best.

    ``best`` is the candidate with the fewest diverged seeds, then the highest mean final
    accuracy (classification), then the lowest mean final loss.

    Attributes:
        center: The rate the candidates are multiples of.
        around: Where the centre came from (``"centre of the window ..."``, a rule, ``"given"``).
        candidates: One :class:`Candidate` per factor, smallest rate first.
        best: Index of the best candidate.
        seeds: The seeds each candidate was trained with.
        epochs: Epochs of each run.
        split: ``"test"`` (the held-out split) or ``"train"`` (no held-out split: a full pass
            over the training split after the last epoch, which measures fitting only).
        batch_order: ``"per_seed"`` (each seed also has its own batch order) or ``"shared"``
            (one batch order; seeds vary the initial weights).

    Example:
        >>> v = Validation(0.1, "given", (Candidate(0.5, 0.05, (0.6,), (0.7,), 0),
        ...                               Candidate(1.0, 0.1, (0.4,), (0.9,), 0)),
        ...                1, (0,), 5, "test", "shared")
        >>> v.best_lr, v.at_edge
        (0.1, True)
    """

    center: float
    around: str
    candidates: tuple[Candidate, ...]
    best: int
    seeds: tuple[int, ...]
    epochs: int
    split: str
    batch_order: str

    @property
    def best_lr(self) -> float:
        """The best candidate's learning rate."""
        return self.candidates[self.best].lr

    @property
    def at_edge(self) -> bool:
        """The best is the smallest or largest rate tried (the optimum may lie beyond it)."""
        return len(self.candidates) > 1 and self.best in (0, len(self.candidates) - 1)

    def __str__(self) -> str:
        def ms(mean: float | None, sd: float | None) -> str:
            return "-" if mean is None else f"{mean:.4g} ± {sd:.2g}"

        n = len(self.seeds)
        orders = "one batch order" if self.batch_order == "shared" else "a batch order each"
        lines = [
            f"validation: {len(self.candidates)} rates around {self.center:.3g} ({self.around}),"
            f" {self.epochs} epochs, seeds {list(self.seeds)} ({orders})",
            f"final loss and accuracy on the {self.split} split, mean ± sd over the seeds:",
            f"{'factor':>8} {'lr':>10} {'loss':>18} {'accuracy':>18} {'diverged':>9}",
        ]
        for i, c in enumerate(self.candidates):
            mark = "  <- best" if i == self.best else ""
            lines.append(
                f"{'x' + format(c.factor, '.3g'):>8} {c.lr:>10.3g} "
                f"{ms(c.loss_mean, c.loss_sd):>18} {ms(c.accuracy_mean, c.accuracy_sd):>18} "
                f"{f'{c.diverged}/{n}':>9}{mark}"
            )
        lines.append(f"best: {self.best_lr:.3g} (x{self.candidates[self.best].factor:.3g})")
        if self.at_edge:
            side = "largest" if self.best == len(self.candidates) - 1 else "smallest"
            lines.append(
                f"note: the best is the {side} rate tried; the optimum may lie beyond it "
                "(widen the factors)"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "center": self.center,
            "around": self.around,
            "candidates": [c.to_dict() for c in self.candidates],
            "best": self.best,
            "best_lr": self.best_lr,
            "seeds": list(self.seeds),
            "epochs": self.epochs,
            "split": self.split,
            "batch_order": self.batch_order,
        }


def validate(
    data: Any,
    model: MLP | TorchModule,
    optimizer: PopulationOptimizer,
    center: float,
    *,
    batch_size: int,
    factors: Sequence[float] = DEFAULT_FACTORS,
    epochs: int = 5,
    seeds: int | Sequence[int] = 3,
    data_seed: int = 0,
    batch_order: Literal["per_seed", "shared"] = "per_seed",
    dtype: str = "float32",
    device: Any = None,
    around: str = "given",
) -> Validation:
    """Train ``factor * center`` for each factor, a few seeds each, and report which did best.

    Every (rate, seed) pair is a member of a population (:func:`train_population`) trained at a
    constant rate for ``epochs`` epochs; the final loss and accuracy of each are measured on the
    test split (or, without one, by a pass over the training split).

    All ``len(factors) * len(seeds)`` runs are one population.

    * ``batch_order="per_seed"`` (default, as in studies and :func:`train_population`): the runs
      of seed ``s`` start from seed ``s``'s initial weights and draw the batch order of
      ``data_seed + s``, so seeds are independent replicates (and the only thing that varies
      runs of a :class:`TorchModule` whose factory returns copies of one model);
    * ``batch_order="shared"``: seeds vary the initial weights only; every run draws the batch
      order of ``data_seed``.

    Args:
        data: An lrlab dataset (``x_train``, ``y_train``, ``x_test``, ``y_test``).
        model: An :class:`MLP` or :class:`TorchModule`.
        optimizer: An :mod:`lrlab.lab.optim` optimizer.
        center: The rate the candidates are multiples of, > 0.
        batch_size: Rows per update.
        factors: The multiples of ``center`` to try (default ``(1/3, 1, 3)``).
        epochs: Epochs per run.
        seeds: Seeds per rate: a count (seeds ``0 .. n-1``) or the seeds themselves.
        data_seed: Seed of the batch order.
        batch_order: ``"per_seed"`` or ``"shared"`` (above).
        dtype: ``"float32"`` or ``"float64"``.
        device: Where to train (default CPU).
        around: Where ``center`` came from, for the report.

    Returns:
        A :class:`Validation`; ``str()`` of it is a table.

    Example:
        >>> from lrlab.lab.validation import validate
        >>> from lrlab.lab.data import blobs
        >>> from lrlab.lab.models import MLP
        >>> from lrlab.lab.optim import SGD
        >>> v = validate(blobs(), MLP(2, (50,), 3), SGD(momentum=0.9), 1e-3, batch_size=32,
        ...              factors=(1e-3, 1.0, 10.0), epochs=5, seeds=2)
        >>> v.best_lr  # 1e-6 barely moves; 0.01 learns most in 5 epochs
        0.01
    """
    owner = "validate"
    batch_size = _check_common(owner, data, model, optimizer, batch_size)
    _check_shared(owner, optimizer)
    center = real(owner, "center", center, lo=0.0, lo_open=True)
    data_seed = integer(owner, "data_seed", data_seed, lo=-(2**63))
    fs = _factors(owner, factors)
    epochs = integer(owner, "epochs", epochs, lo=1)
    seed_list = _validate_seeds(owner, seeds, 0)
    choice(owner, "batch_order", batch_order, ("per_seed", "shared"))
    choice(owner, "dtype", dtype, tuple(DTYPES))
    has_test = getattr(data, "x_test", None) is not None and len(data.x_test) > 0
    prefix = "val_" if has_test else "train_eval_"
    classify = model.loss != "mse"
    K, S = len(fs), len(seed_list)
    acc = np.full((K, S), np.nan)
    kwargs: dict[str, Any] = {
        "epochs": epochs,
        "batch_size": batch_size,
        "dtype": dtype,
        "device": device,
        "eval_train": not has_test,
    }
    # one population: member (factor k, seed s) draws data_seed + s's order ("per_seed") or
    # data_seed's ("shared")
    scheds = [constant(center * f) for f in fs for _ in seed_list]
    member_seeds = [s for _ in fs for s in seed_list]
    r = train_population(
        data,
        model,
        optimizer,
        scheds,
        member_seeds,
        data_seed=data_seed,
        batch_order=batch_order,
        **kwargs,
    )
    loss = r.history[prefix + "loss"][:, -1].reshape(K, S)
    if classify:
        acc = r.history[prefix + "accuracy"][:, -1].reshape(K, S)
    diverged = r.diverged.reshape(K, S)
    cands = tuple(
        Candidate(
            factor=f,
            lr=center * f,
            loss=tuple(float(v) for v in loss[i]),
            accuracy=tuple(float(v) for v in acc[i]) if classify else None,
            diverged=int(diverged[i].sum()),
        )
        for i, f in enumerate(fs)
    )
    best = min(range(K), key=lambda i: _rank_key(cands[i]))
    return Validation(
        center,
        around,
        cands,
        best,
        seed_list,
        epochs,
        "test" if has_test else "train",
        batch_order,
    )


def validation_center(
    result: FinderResult | RepeatedResult, around: str | float = "valley"
) -> tuple[float, str]:
    """The rate to validate around, from a range test: ``(lr, where it came from)``.

    ``"window"``: the geometric centre ``sqrt(lo * hi)`` of the recommended window (of the run,
    or of all runs for a :class:`~lrlab.finder.RepeatedResult`); a rule name: that rule's
    suggestion (its median over the runs); a number: that rate.

    Args:
        result: A :class:`~lrlab.finder.FinderResult` or :class:`~lrlab.finder.RepeatedResult`.
        around: ``"valley"`` (default), another of :data:`~lrlab.finder.RULES`, ``"window"``,
            or a rate > 0.

    Returns:
        ``(lr, description)``.

    Example:
        >>> from lrlab.finder import ramp, run
        >>> from lrlab.lab.validation import validation_center
        >>> res = run(lambda lr: 1 / (1 + 100 * lr) + 50 * lr**2, ramp(1e-4, 1.0, 60), 60)
        >>> lr, note = validation_center(res, "valley")
        >>> lr == res.suggest().valley.lr, note
        (True, 'valley')
    """
    around = _check_around("validation_center", around)
    if not isinstance(around, str):
        return around, "given"
    if isinstance(result, RepeatedResult):
        window = result.window
        picks = {r: s.median for r, s in result.suggestions.items()}
    else:
        s = result.suggest()
        window = s.window
        picks = {r: s[r].lr for r in RULES}
    if around == "window" and window is not None:
        return math.sqrt(
            window.lo * window.hi
        ), f"centre of the window {window.lo:.3g} .. {window.hi:.3g}"
    rule = "valley" if around == "window" else around
    lr = picks[rule]
    if lr is None:
        raise ValueError(
            f"validation_center: validate_around={around!r}, but the range test gave no {rule} "
            "suggestion (no analysable point); pass a learning rate instead"
        )
    if isinstance(result, RepeatedResult):
        return float(lr), f"median {rule} of {len(result.results)} runs"
    return float(lr), rule


# -- results with their validation ----------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class ValidatedResult(FinderResult):
    """A :class:`~lrlab.finder.FinderResult` with the :class:`Validation` of its suggestion.

    Example:
        >>> from lrlab.lab.validation import ValidatedResult
        >>> [f.name for f in dataclasses.fields(ValidatedResult)][-1]
        'validation'
    """

    validation: Validation | None = None

    def to_dict(self) -> dict[str, Any]:
        """:meth:`FinderResult.to_dict` plus ``"validation"``."""
        out = super().to_dict()
        out["validation"] = None if self.validation is None else self.validation.to_dict()
        return out


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class ValidatedRepeatedResult(RepeatedResult):
    """A :class:`~lrlab.finder.RepeatedResult` with the :class:`Validation` of its suggestion.

    Example:
        >>> from lrlab.lab.validation import ValidatedRepeatedResult
        >>> [f.name for f in dataclasses.fields(ValidatedRepeatedResult)][-1]
        'validation'
    """

    validation: Validation | None = None

    def __repr__(self) -> str:
        text = super().__repr__()
        if self.validation is not None:
            text += f"\nvalidated best: {self.validation.best_lr:.3g} (print .validation)"
        return text

    def to_dict(self) -> dict[str, Any]:
        """:meth:`RepeatedResult.to_dict` plus ``"validation"``."""
        out = super().to_dict()
        out["validation"] = None if self.validation is None else self.validation.to_dict()
        return out


def with_validation(
    result: FinderResult | RepeatedResult, validation: Validation
) -> ValidatedResult | ValidatedRepeatedResult:
    """``result`` as a :class:`ValidatedResult` / :class:`ValidatedRepeatedResult`."""
    cls = ValidatedRepeatedResult if isinstance(result, RepeatedResult) else ValidatedResult
    base = RepeatedResult if isinstance(result, RepeatedResult) else FinderResult
    values = {f.name: getattr(result, f.name) for f in dataclasses.fields(base)}
    return cls(**values, validation=validation)  # type: ignore[arg-type]


def validated(
    settings: Settings,
    result: FinderResult | RepeatedResult,
    data: Any,
    model: MLP | TorchModule,
    optimizer: PopulationOptimizer,
    *,
    batch_size: int,
    dtype: str,
    device: Any = None,
) -> ValidatedResult | ValidatedRepeatedResult:
    """An adapter's ``validate=True``: train around ``result``'s suggestion (each seed with its
    own batch order) as ``settings`` (from :func:`validation_settings`) say, and return
    ``result`` with the :class:`Validation` attached (:func:`with_validation`).

    Example:
        >>> from lrlab.lab.range_test import find_lr
        >>> from lrlab.lab.validation import validated, validation_settings
        >>> from lrlab.lab.data import blobs
        >>> from lrlab.lab.models import MLP
        >>> from lrlab.lab.optim import SGD
        >>> data, net, opt = blobs(), MLP(2, (8,), 3), SGD(momentum=0.9)
        >>> result = find_lr(data, net, opt, batch_size=32, num_steps=40)
        >>> settings = validation_settings("find_lr", "valley", (0.5, 2.0), 1, 2, first_seed=0)
        >>> [c.factor for c in validated(settings, result, data, net, opt, batch_size=32,
        ...                              dtype="float32").validation.candidates]
        [0.5, 2.0]
    """
    center, note = validation_center(result, settings.around)
    val = validate(
        data,
        model,
        optimizer,
        center,
        batch_size=batch_size,
        factors=settings.factors,
        epochs=settings.epochs,
        seeds=settings.seeds,
        batch_order="per_seed",
        dtype=dtype,
        device=device,
        around=note,
    )
    return with_validation(result, val)


class ValidationPlan:
    """A framework adapter's ``validate=True``: its settings (checked before the range test),
    the user's model and optimizer translated to the lab (an :class:`~lrlab.lab.models.MLP` or
    :class:`~lrlab.lab.models.TorchModule` and an :mod:`lrlab.lab.optim` optimizer), and the
    data; :meth:`run` validates around the range test's suggestion with :func:`validated`.

    ``lrlab.torch.find_lr`` and ``lrlab.keras.find_lr`` build one each (subclasses that do the
    translation); the data and the device may be set after construction, once the adapter has
    read them.

    Example:
        >>> from lrlab.lab.data import blobs
        >>> from lrlab.lab.models import MLP
        >>> from lrlab.lab.optim import SGD
        >>> from lrlab.lab.range_test import find_lr
        >>> data, net, opt = blobs(), MLP(2, (8,), 3), SGD()
        >>> settings = validation_settings("find_lr", 0.1, (0.5, 2.0), 1, 2, first_seed=0)
        >>> plan = ValidationPlan(settings, net, opt, "float32", data)
        >>> result = find_lr(data, net, opt, batch_size=32, num_steps=20)
        >>> [c.lr for c in plan.run(result, batch_size=32).validation.candidates]
        [0.05, 0.2]
    """

    def __init__(
        self,
        settings: Settings,
        model: MLP | TorchModule | None,
        optimizer: PopulationOptimizer,
        dtype: str,
        data: Any = None,
        device: Any = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.optimizer = optimizer
        self.dtype = dtype
        self.data = data
        self.device = device

    def run(
        self, result: FinderResult | RepeatedResult, batch_size: int
    ) -> ValidatedResult | ValidatedRepeatedResult:
        """``result`` with the :class:`Validation` of its suggestion (:func:`validated`)."""
        if self.model is None or self.data is None:
            raise RuntimeError("ValidationPlan.run: the model and the data are not set yet")
        return validated(
            self.settings,
            result,
            self.data,
            self.model,
            self.optimizer,
            batch_size=batch_size,
            dtype=self.dtype,
            device=self.device,
        )
