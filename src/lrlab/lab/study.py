"""Running a study: pending trials grouped into cohorts, cohorts run by an executor, results stored.

Trials that share the data, the model, the batch size, the epochs, the data seed, the dtype, the
optimizer's name and switches, and the plateau and early-stopping settings form a *cohort*,
trained together by ONE :func:`~lrlab.lab.population.train_population` call; each member keeps
its own seed, schedule and numeric optimizer hyperparameters. Big cohorts are split to at most
``max_members`` members (by default sized to fit memory, see :func:`default_max_members`).

An executor runs cohorts: :class:`InProcessExecutor` (the default) runs them one after the other
in this process. Anything with the :class:`Executor` protocol's ``map`` (a Ray executor, say) can
stand in; it receives a picklable :class:`CohortRunner` and plain-data :class:`Cohort` objects
and yields plain-data :class:`CohortResult` objects. Only the process that calls
:func:`run_study` writes to the store, one transaction per cohort.

Example:
    >>> import tempfile, pathlib
    >>> from lrlab.lab.spec import Study
    >>> from lrlab.lab.store import Store
    >>> from lrlab.lab.study import run_study
    >>> study = Study.from_dict({"data": {"name": "blobs"}, "model": {"hidden": [8]},
    ...     "train": {"epochs": 2, "batch_size": 100}, "schedule": "constant({lr})",
    ...     "grid": {"lr": [0.1, 0.01]}, "seeds": [0, 1]})
    >>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "lrlab.sqlite")
    >>> summary = run_study(study, store)
    >>> summary.ran, summary.cohorts, summary.skipped  # a cohort per seed
    (4, 2, 0)
    >>> run_study(study, store).skipped   # a re-run skips what is done
    4
    >>> store.close()
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from ._progress import Progress as Progress
from .models import MLP
from .spec import SpecError, Study, Trial, canonical_json, config_id
from .store import DIVERGED_NULL, Store, summarize
from .summary import StudyResults, study_results
from .weights import kept_weights, save_kept, weights_dir, weights_path

__all__ = [
    "Cohort",
    "CohortResult",
    "CohortRunner",
    "Executor",
    "InProcessExecutor",
    "Progress",
    "StudySummary",
    "cohort_key",
    "default_max_members",
    "make_cohorts",
    "run_study",
    "train_cohort",
]

#: most members per cohort by default, per device type
MAX_MEMBERS_CAP = {"cpu": 1024, "cuda": 8192}


@dataclasses.dataclass(frozen=True)
class Cohort:
    """Trials trained together: the settings they share and, per member, their trials.

    Attributes:
        key: :func:`cohort_key` of the shared settings (the same for every part of a split).
        shared: The config every member shares (``data``, ``model``, ``train``, ``optimizer``
            without its numeric hyperparameters, ``plateau``, ``early_stopping``).
        trials: The members, in order.
        device: Where to train.
    """

    key: str
    shared: dict[str, Any]
    trials: tuple[Trial, ...]
    device: str = "cpu"

    def __len__(self) -> int:
        return len(self.trials)


@dataclasses.dataclass
class CohortResult:
    """What one cohort produced: one row per trial for :meth:`Store.write_trials`."""

    key: str
    rows: list[dict[str, Any]]
    seconds: float
    error: str | None = None


@dataclasses.dataclass
class StudySummary:
    """What :func:`run_study` did, and the study's results aggregated over seeds.

    Attributes:
        study: The study's name. ``store``: path of the store.
        trials: Trials in the study. ``skipped``: already done before. ``ran``: trained now.
        failed: Trials whose cohort raised (retried on the next run). ``diverged``: trained now
            and diverged.
        cohorts: Cohorts trained now. ``seconds``: wall time of the run.
        rows: :func:`~lrlab.lab.store.summarize` of the whole study (done trials).
        weights: The folder of the kept weights (:func:`~lrlab.lab.weights.weights_dir`) if
            the study keeps any (``train.keep``), else ``None``. ``kept``: how many of its
            trials have a weights file there.
        dropped: Trials the study listed before this run and no longer lists (its file
            changed); what they stored stays in the store.
        results: The study's :class:`~lrlab.lab.summary.StudyResults`: means with 95%
            confidence intervals over seeds, paired differences from the best, counts of
            diverged and dead runs; ``str(summary)`` prints its table.
    """

    study: str
    store: str
    trials: int
    skipped: int
    ran: int
    failed: int
    diverged: int
    cohorts: int
    seconds: float
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    results: StudyResults | None = dataclasses.field(default=None, repr=False)
    weights: str | None = None
    kept: int = 0
    dropped: int = 0

    def dropped_line(self) -> str | None:
        """One line when the study's file dropped trials of earlier runs, else ``None``."""
        n = self.dropped
        note = f"note: the study changed: {n} trials it listed before are not part of it now"
        return f"{note} (what they stored stays in the store)" if n else None

    def weights_line(self) -> str | None:
        """Where the kept weights are (``train.keep``), in one line; ``None`` without it."""
        if self.weights is None:
            return None
        return f"weights: {self.kept} trials kept in {self.weights} (train.keep)"

    def __str__(self) -> str:
        head = (
            f"study {self.study}: {self.trials} trials ({self.ran} run now, {self.skipped} "
            f"already done, {self.failed} failed) in {self.seconds:.1f} s; results in "
            f"{self.store}"
        )
        for line in (self.dropped_line(), self.weights_line()):
            if line is not None:
                head = f"{head}\n{line}"
        return head if self.results is None else f"{head}\n{self.results.table()}"

    def table(self) -> str:
        """The results table (:meth:`lrlab.lab.summary.StudyResults.table`)."""
        return "no finished trials" if self.results is None else self.results.table()

    def dataframe(self) -> Any:
        """The results per configuration as a pandas DataFrame (needs ``lrlab[pandas]``)."""
        if self.results is None:
            raise ValueError("StudySummary: no results to make a DataFrame of")
        return self.results.dataframe()


# -- cohorting -----------------------------------------------------------------------------------
def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _per_member(value: Any) -> bool:
    """Numbers and lists of numbers (Adam's betas) may differ between members."""
    if isinstance(value, list):
        return bool(value) and all(_is_number(v) for v in value)
    return _is_number(value)


def _shared(config: Mapping[str, Any]) -> dict[str, Any]:
    opt = {k: v for k, v in config["optimizer"].items() if k == "name" or not _per_member(v)}
    shared = {
        "data": config["data"],
        "model": config["model"],
        "train": config["train"],
        "optimizer": opt,
        "plateau": config["plateau"],
        "early_stopping": config["early_stopping"],
    }
    if config["train"].get("batch_order", "shared") == "per_seed":
        shared["seed"] = config["seed"]  # one batch order per seed: a cohort per seed
    return shared


def cohort_key(trial: Trial) -> str:
    """The id of what a trial shares with its cohort (everything but the schedule and the
    numeric optimizer hyperparameters; the seed too with ``train.batch_order = "per_seed"``,
    whose trials of one seed share that seed's batch order)."""
    return config_id(_shared(trial.config))


def default_max_members(
    model: Mapping[str, Any], batch_size: int, dtype: str = "float32", device: str = "cpu"
) -> int:
    """Members per cohort that fit comfortably in memory.

    Bytes per member ~ ``itemsize * (6 * P + 4 * batch_size * W)``: parameters, gradient and up
    to four optimizer buffers (``P`` parameters), and the forward/backward activations of a
    batch (``W`` = the hidden and output widths); evaluation runs in small chunks. The budget is
    a quarter of the physical memory on CPU (at most 8 GiB), half the free memory on CUDA; the
    result is capped by :data:`MAX_MEMBERS_CAP` (1024 on CPU).

    Example:
        >>> m = {"n_inputs": 2, "hidden": [50], "n_outputs": 3}
        >>> default_max_members(m, 32)
        1024
    """
    widths = [int(model["n_inputs"]), *map(int, model["hidden"]), int(model["n_outputs"])]
    n_params = sum(i * o + o for i, o in itertools.pairwise(widths))
    itemsize = 8 if dtype == "float64" else 4
    per_member = itemsize * (6 * n_params + 4 * batch_size * sum(widths[1:])) + 4096
    kind = str(device).split(":")[0]
    budget = None
    if kind == "cuda":
        try:
            import torch

            budget = torch.cuda.mem_get_info(device)[0] // 2
        except Exception:  # no CUDA: fall back to the CPU budget
            budget = None
    if budget is None:
        try:
            physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            physical = 8 * 2**30
        budget = min(physical // 4, 8 * 2**30)
    cap = MAX_MEMBERS_CAP.get(kind, MAX_MEMBERS_CAP["cpu"])
    return int(max(1, min(cap, budget // per_member)))


def make_cohorts(
    trials: Sequence[Trial], max_members: int | None = None, device: str = "cpu"
) -> list[Cohort]:
    """Group trials by :func:`cohort_key` (in order of first appearance) and split big groups
    into near-equal parts of at most ``max_members`` (default :func:`default_max_members`).

    Example:
        >>> from lrlab.lab.spec import Study
        >>> study = Study.from_dict({"data": {"name": "blobs"}, "model": {"hidden": [8]},
        ...     "train": {"epochs": 1, "batch_size": 32}, "schedule": "constant({lr})",
        ...     "grid": {"lr": [0.1, 0.01, 0.001], "train.batch_size": [16, 32]}})
        >>> [len(c) for c in make_cohorts(study.trials())]
        [3, 3]
        >>> [len(c) for c in make_cohorts(study.trials(), max_members=2)]
        [2, 1, 2, 1]
    """
    if max_members is not None and (isinstance(max_members, bool) or max_members < 1):
        raise ValueError(f"max_members must be an integer >= 1, got {max_members!r}")
    groups: dict[str, list[Trial]] = {}
    for t in trials:
        groups.setdefault(cohort_key(t), []).append(t)
    cohorts = []
    for key, members in groups.items():
        shared = _shared(members[0].config)
        cap = max_members or default_max_members(
            shared["model"], shared["train"]["batch_size"], shared["train"]["dtype"], device
        )
        parts = math.ceil(len(members) / cap)
        size = math.ceil(len(members) / parts)
        for lo in range(0, len(members), size):
            cohorts.append(Cohort(key, shared, tuple(members[lo : lo + size]), device))
    return cohorts


# -- running one cohort --------------------------------------------------------------------------
def _optimizer(cohort: Cohort) -> Any:
    from .optim import optimizer_from_config

    configs = [t.config["optimizer"] for t in cohort.trials]
    hyper: dict[str, Any] = {}
    for k, v in configs[0].items():
        if k == "name":
            continue
        values = [c[k] for c in configs]
        if all(x == values[0] for x in values):
            hyper[k] = values[0]
        elif isinstance(v, list):  # a pair such as Adam's betas: one sequence per component
            columns = list(zip(*values))
            hyper[k] = [c[0] if all(x == c[0] for x in c) else list(c) for c in columns]
        else:
            hyper[k] = values
    return optimizer_from_config(configs[0]["name"], **hyper)


def _summary(h: Mapping[str, list[float | None]], diverged: bool = False) -> dict[str, Any]:
    """A trial's summary columns from its history; a diverged trial's final and best metrics
    are ``None`` (the epoch it diverged at was scored on NaN weights), its ``final_lr`` kept."""

    def last(name: str) -> float | None:
        values = h.get(name) or [None]
        return values[-1]

    def best(name: str, pick: Callable[[list[float]], float]) -> float | None:
        values = [v for v in h.get(name) or [] if v is not None]
        return pick(values) if values else None

    out = {f"final_{k}": last(k) for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr")}
    out["best_val_loss"] = best("val_loss", min)
    out["best_val_accuracy"] = best("val_accuracy", max)
    by = "val_loss" if h.get("val_loss") else "loss"
    finite = [(v, e) for e, v in enumerate(h.get(by) or []) if v is not None]
    out["best_epoch"] = min(finite)[1] if finite else None
    if diverged:
        out.update(dict.fromkeys(DIVERGED_NULL))
    return out


def _data_seed(shared: Mapping[str, Any]) -> int:
    """The seed of a cohort's batch order: ``data_seed``, plus the members' seed with
    ``batch_order = "per_seed"`` (a cohort's members then share their seed)."""
    train = shared["train"]
    if train.get("batch_order", "shared") == "per_seed":
        return int(train["data_seed"]) + int(shared["seed"])
    return int(train["data_seed"])


def failed_result(
    cohort: Cohort, error: str, seconds: float, started: float | None = None
) -> CohortResult:
    """A cohort that could not be trained: every trial ``status="failed"`` with ``error``
    (stored, and retried by the next run of the study)."""
    now = time.time()
    rows = [
        {
            "device": cohort.device,
            "cohort": cohort.key,
            "cohort_size": len(cohort),
            "started_at": now - seconds if started is None else started,
            "id": t.id,
            "config": t.config,
            "config_group": t.group,
            "seed": t.seed,
            "status": "failed",
            "error": error,
            "seconds": seconds,
            "finished_at": now,
        }
        for t in cohort.trials
    ]
    return CohortResult(cohort.key, rows, seconds, error)


def train_cohort(
    cohort: Cohort,
    dataset: Any,
    on_epoch: Callable[[int, int], None] | None = None,
    *,
    allow_import: bool = False,
) -> CohortResult:
    """Train one cohort with :func:`~lrlab.lab.population.train_population`.

    Returns rows for :meth:`~lrlab.lab.store.Store.write_trials`. An exception in training is
    not raised: every member gets ``status="failed"`` and the error (it is retried next run).
    ``on_epoch(done, epochs)`` is called after every epoch (a ``KeyboardInterrupt`` from it,
    or during training, is passed on).
    """
    from ..control import EarlyStopping, Plateau
    from ..schedules import parse
    from .population import train_population

    started = time.time()
    t0 = time.perf_counter()
    sh = cohort.shared
    common = {
        "device": cohort.device,
        "cohort": cohort.key,
        "cohort_size": len(cohort),
        "started_at": started,
    }
    try:
        model = MLP.from_dict(sh["model"])
        controls: dict[str, Any] = {}
        for name, cls, mon in (
            ("plateau", Plateau, "plateau_monitor"),
            ("early_stopping", EarlyStopping, "stop_monitor"),
        ):
            cfg = sh[name]
            if cfg is not None:
                controls[name] = cls(**{k: v for k, v in cfg.items() if k != "monitor"})
                controls[mon] = cfg["monitor"]
        train = sh["train"]
        keep = train.get("keep", "none")
        result = train_population(
            dataset,
            model,
            _optimizer(cohort),
            [parse(t.config["schedule"], allow_import=allow_import) for t in cohort.trials],
            [t.seed for t in cohort.trials],
            epochs=train["epochs"],
            batch_size=train["batch_size"],
            data_seed=_data_seed(sh),
            batch_order="shared",  # _data_seed is the cohort's one order
            shuffle=train["shuffle"],
            device=cohort.device,
            dtype=train["dtype"],
            eval_train=train["eval_train"],
            keep_params=keep == "final",
            keep_best=keep == "best",
            on_epoch=None if on_epoch is None else lambda e, _h: on_epoch(e + 1, train["epochs"]),
            **controls,
        )
    except Exception as exc:  # reported per trial, the study goes on
        error = f"{type(exc).__name__}: {exc}"
        result = failed_result(cohort, error, time.perf_counter() - t0, started)
        result.error = error + "\n" + traceback.format_exc(limit=-3)
        return result
    seconds = time.perf_counter() - t0
    rows = []
    for i, t in enumerate(cohort.trials):
        member = result.member(i)
        hist = member["history"]
        rows.append(
            {
                **common,
                "id": t.id,
                "config": t.config,
                "config_group": t.group,
                "seed": t.seed,
                "status": "done",
                "seconds": seconds,
                "finished_at": time.time(),
                "diverged": member["diverged"],
                "diverged_epoch": member["diverged_epoch"],
                "stopped_epoch": member["stopped_epoch"],
                "epochs_run": member["epochs_run"],
                "history": hist,
                **_summary(hist, member["diverged"]),
            }
        )
        if keep != "none":
            rows[-1]["weights"] = kept_weights(result, i, keep, sh, train["dtype"])
    return CohortResult(cohort.key, rows, seconds)


class CohortRunner:
    """The picklable function an executor calls on each cohort: loads (and caches) the data,
    then :func:`train_cohort`. A copy sent to another process starts with an empty cache."""

    def __init__(
        self,
        study: Study | None = None,
        on_epoch: Callable[[Cohort, int, int], None] | None = None,
    ) -> None:
        self._study = study
        self._local: dict[str, Any] = {}
        self._on_epoch = on_epoch
        self._allow_import = study.allow_import if study is not None else False

    def __getstate__(self) -> dict[str, Any]:
        return {
            "_study": None,
            "_local": {},
            "_on_epoch": None,
            "_allow_import": self._allow_import,
        }

    def dataset(self, data: Mapping[str, Any]) -> Any:
        """The cohort's data set: the study's cached copy, or loaded here once."""
        if self._study is not None:
            return self._study.dataset(data)
        key = canonical_json(data)
        if key not in self._local:
            from .data import load

            kwargs = {k: v for k, v in data.items() if k not in ("name", "standardize")}
            ds = load(data["name"], **kwargs)
            self._local[key] = ds.standardized() if data.get("standardize") else ds
        return self._local[key]

    def __call__(self, cohort: Cohort) -> CohortResult:
        hook = self._on_epoch
        on_epoch = None if hook is None else lambda e, n: hook(cohort, e, n)
        data = self.dataset(cohort.shared["data"])
        return train_cohort(cohort, data, on_epoch, allow_import=self._allow_import)


# -- executors -----------------------------------------------------------------------------------
class Executor(Protocol):
    """Runs cohorts. ``map`` yields each cohort's result as it finishes (in any order)."""

    def map(
        self, fn: Callable[[Cohort], CohortResult], cohorts: Sequence[Cohort]
    ) -> Iterator[CohortResult]:
        """Yield ``fn(cohort)`` for every cohort."""
        ...


class InProcessExecutor:
    """The default executor: runs cohorts one after the other in this process."""

    def submit(self, fn: Callable[[Cohort], CohortResult], cohort: Cohort) -> CohortResult:
        """Run one cohort now and return its result."""
        return fn(cohort)

    def map(
        self, fn: Callable[[Cohort], CohortResult], cohorts: Sequence[Cohort]
    ) -> Iterator[CohortResult]:
        """Yield ``fn(cohort)`` for every cohort, in order."""
        for c in cohorts:
            yield self.submit(fn, c)


# -- the study runner ----------------------------------------------------------------------------
def _check_device(device: str) -> None:
    """Refuse a device this machine does not have; the CPU needs no torch (the NumPy engine)."""
    if device == "cpu":
        return
    try:
        import torch
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise SpecError(
            "train.device", f"{device!r} needs torch: pip install 'lrlab[torch]'"
        ) from None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):  # (torch's message lists twenty device types)
        raise SpecError("train.device", f"not a torch device: {device!r} (cpu, cuda)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpecError("train.device", f"CUDA is not available on this machine, got {device!r}")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise SpecError("train.device", f"MPS is not available on this machine, got {device!r}")


def run_study(
    study: Study,
    store: Store | str | os.PathLike[str],
    executor: Executor | None = None,
    progress: Callable[[Progress], None] | None = None,
    *,
    max_members: int | None = None,
    device: str | None = None,
) -> StudySummary:
    """Run (or resume) a study: train every trial not yet done, storing each cohort at once.

    Args:
        study: The study.
        store: A :class:`~lrlab.lab.store.Store` or the path of its file (opened and closed
            here).
        executor: Runs the cohorts; :class:`InProcessExecutor` by default. One with a
            ``cohort_size(n_pending)`` method (:class:`~lrlab.lab.executors.RayExecutor`) sets
            the largest cohort when ``max_members`` is not given.
        progress: Called with a :class:`Progress` before the first cohort and after each.
        max_members: Largest cohort; default :func:`default_max_members`.
        device: Overrides the study's ``train.device`` (not part of the trial ids).

    Returns:
        A :class:`StudySummary`.

    Raises:
        SpecError: the study cannot be resolved (e.g. a schedule invalid for the data). The
            study is checked before the store is opened: a study that fails leaves no store
            (and no folder) behind.
        StoreError: the store cannot be used or written (another process is writing it, it
            is damaged or not an lrlab store, the disk is full, ...).
        KeyboardInterrupt: passed on; every cohort stored before it is kept.
    """
    t0 = time.perf_counter()
    dev = device or study.device
    _check_device(dev)
    trials = study.trials()
    own = not isinstance(store, Store)
    db = Store(store) if own else store
    assert isinstance(db, Store)
    try:
        description = str(study.description)
        dropped = db.register_study(study.name, study.raw, trials, description=description)
        done = db.done_ids(t.id for t in trials)
        pending = [t for t in trials if t.id not in done]
        if max_members is None and hasattr(executor, "cohort_size"):
            # an executor with several workers: enough cohorts for all of them
            cap = MAX_MEMBERS_CAP.get(dev.split(":")[0], MAX_MEMBERS_CAP["cpu"])
            max_members = min(cap, executor.cohort_size(len(pending)))
        cohorts = make_cohorts(pending, max_members, dev)
        report = Progress(0, len(pending), len(done), cohorts=len(cohorts))
        if progress is not None:
            progress(report)
        ran = failed = diverged = n = 0

        def epoch_report(cohort: Cohort, epoch: int, epochs: int) -> None:
            if progress is not None:
                progress(
                    dataclasses.replace(
                        report,
                        done=ran,
                        cohort_size=len(cohort),
                        cohorts_done=n,
                        epoch=epoch,
                        epochs=epochs,
                        elapsed=time.perf_counter() - t0,
                    )
                )

        runner = CohortRunner(study, epoch_report if progress is not None else None)
        for result in (executor or InProcessExecutor()).map(runner, cohorts):
            save_kept(db, result.rows)  # before the trials are marked done
            db.write_trials(result.rows)
            n += 1
            ran += len(result.rows)
            failed += sum(r["status"] == "failed" for r in result.rows)
            diverged += sum(bool(r.get("diverged")) for r in result.rows)
            if progress is not None:
                progress(
                    dataclasses.replace(
                        report,
                        done=ran,
                        cohort_size=len(result.rows),
                        seconds=result.seconds,
                        error=result.error,
                        cohorts_done=n,
                        elapsed=time.perf_counter() - t0,
                    )
                )
        rows = summarize(db.records(study.name))
        results = study_results(db, study.name)
        keeping = [t for t in trials if t.config["train"].get("keep", "none") != "none"]
        kept = sum(weights_path(db, t.id).is_file() for t in keeping)
        return StudySummary(
            study.name,
            str(db.path),
            len(trials),
            len(done),
            ran,
            failed,
            diverged,
            n,
            time.perf_counter() - t0,
            rows,
            results,
            str(weights_dir(db)) if keeping else None,
            kept,
            dropped,
        )
    finally:
        if own:
            db.close()
