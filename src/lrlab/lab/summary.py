"""A study's results with their statistics: per configuration, the mean and 95% confidence
interval over seeds of every final metric, how fast and how steadily it learned, how many runs
diverged or never learned, and a ranking by paired differences from the best.

Seeds are independent replicates (each its own initial weights and batch order), and two
configurations share them seed by seed, so:

* a configuration's metric is ``mean ± t(0.975, n-1) · s / sqrt(n)`` over its ``n`` usable
  seeds (:func:`lrlab.lab.stats.mean_ci`);
* it is compared with the best by the paired differences ``value_s - best_s`` over their common
  seeds (:func:`lrlab.lab.stats.paired_difference`); when that interval contains 0 the two
  cannot be told apart with these seeds, and the table says so;
* a **diverged** run (non-finite loss) and a **dead** run (final accuracy within 0.02 of
  chance and final loss not below its first; :func:`lrlab.lab.stats.is_dead`) are counted
  and kept out of every mean. Chance is ``1 / classes`` unless you pass ``chance``
  (the majority-class share of the validation data is the exact value).

Learning speed, per trial, on the validation accuracy (the training accuracy without
validation data): epochs to reach ``threshold`` (default: 95% of the best configuration's best
mean accuracy over epochs, one target for the whole study, so a configuration that never gets
near the best counts as never reaching it, not as fast), the area under the curve per epoch,
and the volatility (standard deviation of the epoch-to-epoch changes over the last half).

Example:
    >>> recs = [{"trial_id": f"{g}{s}", "group": g, "status": "done", "diverged": False,
    ...          "config": {"lr": lr, "seed": s}, "final_val_accuracy": a}
    ...         for g, lr, s, a in [("a", 0.1, 0, 0.90), ("a", 0.1, 1, 0.92), ("a", 0.1, 2, 0.91),
    ...                             ("b", 1.0, 0, 0.60), ("b", 1.0, 1, 0.64), ("b", 1.0, 2, 0.61)]]
    >>> results = summarize_study(recs)
    >>> [(c.labels["lr"], c.rank, round(c.metric.mean, 3)) for c in results.configs]
    [(0.1, 1, 0.91), (1.0, 2, 0.617)]
    >>> print(results.table())
    #  lr   n  val_accuracy (95% CI)  vs best (95% CI)  diverged  dead
    1  0.1  3  0.9100 ± 0.0248        best              0/3       0/3
    2  1.0  3  0.6167 ± 0.0517        -0.2933 ± 0.0287  0/3       0/3
    95% CI: Student t over seeds; n: seeds in the mean. vs best: paired by seed.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._checks import number_in
from .._text import format_value, render_table, short_name
from ._store_summary import AGGREGATED, flatten
from .stats import (
    MeanCI,
    area_under_curve,
    epochs_to_reach,
    is_dead,
    mean_ci,
    rank_configs,
    volatility,
)

__all__ = [
    "METRICS",
    "ConfigResult",
    "StudyResults",
    "study_results",
    "study_spec",
    "summarize_study",
    "swept_value",
    "swept_variables",
]

#: the final and best metrics a summary gives a mean and interval for (the store's summary columns)
METRICS = AGGREGATED


@dataclasses.dataclass(frozen=True)
class ConfigResult:
    """One configuration's results over its seeds.

    Attributes:
        group: The configuration's id (its trials differ only by seed).
        labels: The config fields that vary across the study, by dotted name.
        seeds: Trials finished. ``diverged``, ``dead``, ``stopped``: how many of them
            diverged, never learned, or were stopped early. ``used``: seeds in the means.
        metrics: ``name -> MeanCI`` for :data:`METRICS` and the speed measures
            (``epochs_to_threshold`` over the seeds that reached it, ``auc``, ``volatility``).
        not_reached: Usable seeds that never reached the threshold.
        threshold: The accuracy threshold of ``epochs_to_threshold`` (``None`` without
            accuracy).
        rank: 1 for the best; ``None`` without any usable seed.
        vs_best: The paired difference from the best of the ranking metric (``None`` for the
            best and for unranked configurations). ``tied_with_best``: its interval holds 0.
        sort: The ranking metric (a key of ``metrics``).
    """

    group: str
    labels: dict[str, Any]
    seeds: int
    diverged: int
    dead: int
    stopped: int
    metrics: dict[str, MeanCI]
    not_reached: int
    threshold: float | None
    rank: int | None
    vs_best: MeanCI | None
    tied_with_best: bool
    sort: str

    @property
    def used(self) -> int:
        """Seeds in the means: neither diverged nor dead."""
        return self.seeds - self.diverged - self.dead

    @property
    def metric(self) -> MeanCI:
        """The ranking metric's :class:`~lrlab.lab.stats.MeanCI`."""
        return self.metrics[self.sort]

    def row(self) -> dict[str, Any]:
        """A flat dict: labels, counts, ``<metric>_mean/_low/_high/_n`` for every metric,
        ``rank``, ``vs_best_mean/_low/_high`` and ``tied_with_best``."""
        out: dict[str, Any] = {"group": self.group, **self.labels, "seeds": self.seeds}
        out.update(diverged=self.diverged, dead=self.dead, stopped=self.stopped, used=self.used)
        for name, ci in self.metrics.items():
            d = ci.to_dict()
            out.update({f"{name}_{k}": d[k] for k in ("mean", "low", "high", "n")})
        out.update(threshold=self.threshold, not_reached=self.not_reached, rank=self.rank)
        diff = self.vs_best.to_dict() if self.vs_best is not None else {}
        out.update({f"vs_best_{k}": diff.get(k) for k in ("mean", "low", "high")})
        out["tied_with_best"] = self.tied_with_best
        return out


@dataclasses.dataclass(frozen=True)
class StudyResults:
    """A study's :class:`ConfigResult` per configuration, best first, and how they were made.

    ``str(results)`` is :meth:`table`; :meth:`rows` and :meth:`dataframe` give every number.
    """

    configs: list[ConfigResult]
    sort: str
    level: float = 0.95
    threshold_rule: str = "95% of the best config's best mean accuracy"

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (
            f"StudyResults({len(self.configs)} configs, sort={self.sort!r}, level={self.level:g})"
        )

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per configuration (:meth:`ConfigResult.row`), best first."""
        return [c.row() for c in self.configs]

    def dataframe(self) -> Any:
        """:meth:`rows` as a pandas DataFrame (needs ``pip install 'lrlab[pandas]'``)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "StudyResults.dataframe needs pandas: pip install 'lrlab[pandas]'"
            ) from None
        return pd.DataFrame(self.rows())

    def tied(self) -> list[ConfigResult]:
        """The ranked configurations that cannot be told apart from the best."""
        return [c for c in self.configs if c.rank is not None and c.tied_with_best]

    def table(self) -> str:
        """The table ``lrlab results`` prints: one line per configuration, best first.

        Columns: rank (``-`` without a usable seed), the varying fields, ``n`` (seeds in the
        means), the ranking metric's mean ± half-width of its 95% CI, the paired difference
        from the best, epochs to the threshold (when there is accuracy), and the diverged and
        dead counts. Footer lines state the interval, and which configurations cannot be
        told apart from the best.
        """
        if not self.configs:
            return "no finished trials"
        labels = list(self.configs[0].labels) or ["group"]
        pct = f"{100 * self.level:g}% CI"
        metric = self.sort.removeprefix("final_")
        speed = any(c.threshold is not None for c in self.configs)
        short = [short_name(k) for k in labels]
        names = short if len(set(short)) == len(short) else labels
        header = ["#", *names, "n", f"{metric} ({pct})", f"vs best ({pct})"]
        if speed:
            header.append("epochs to threshold")
        header += ["diverged", "dead"]
        body = [self._line(c, labels, speed) for c in self.configs]
        lines = [render_table(header, body)]
        lines.append(f"{pct}: Student t over seeds; n: seeds in the mean. vs best: paired by seed.")
        lines += self._footer(speed)
        return "\n".join(lines)

    def _line(self, c: ConfigResult, labels: list[str], speed: bool) -> list[str]:
        def value(k: str) -> str:
            v = c.labels.get(k, c.group) if k != "group" or "group" in c.labels else c.group
            return repr(v) if isinstance(v, float) else format_value(v)

        line = ["-" if c.rank is None else str(c.rank), *(value(k) for k in labels)]
        line += [str(c.used), _interval(c.metric)]
        if c.rank == 1:
            line.append("best")
        elif c.vs_best is None:
            line.append("-")
        else:
            tie = " (no CI)" if c.vs_best.n < 2 else (" (tie)" if c.tied_with_best else "")
            line.append(_interval(c.vs_best, signed=True) + tie)
        if speed:
            e = c.metrics.get("epochs_to_threshold")
            text = "-" if e is None or e.n == 0 else _interval(e, digits=1)
            if c.not_reached:
                text += f" ({c.not_reached} never)"
            line.append(text)
        line += [f"{c.diverged}/{c.seeds}", f"{c.dead}/{c.seeds}"]
        return line

    def _footer(self, speed: bool) -> list[str]:
        out = []
        ties = [c for c in self.tied() if c.rank != 1 and c.vs_best and c.vs_best.n >= 2]
        if all(c.used < 2 for c in self.configs):
            out.append(
                "one usable seed per configuration: no intervals, and the ranking rests on single "
                "runs; run more seeds to tell configurations apart"
            )
        if ties:
            ranks = ", ".join(str(c.rank) for c in ties)
            out.append(
                f"cannot be told apart from the best (the interval of the difference holds 0): "
                f"rank {ranks}"
            )
        diverged = sum(c.diverged for c in self.configs)
        dead = sum(c.dead for c in self.configs)
        trials = sum(c.seeds for c in self.configs)
        if diverged or dead:
            out.append(
                f"{diverged} of {trials} trials diverged and {dead} never learned: counted, "
                "left out of the means and the ranking"
            )
        if speed:
            out.append(f"epochs to threshold: the first epoch at {self.threshold_rule}")
        return out


def _interval(ci: MeanCI, *, signed: bool = False, digits: int = 4) -> str:
    if ci.n == 0:
        return "-"
    sign = "+" if signed else ""
    mean = f"{round(ci.mean, digits) + 0.0:{sign}.{digits}f}"  # + 0.0: no "-0.0000"
    return mean if ci.n < 2 else f"{mean} ± {ci.half_width:.{digits}f}"


def _default_sort(records: Sequence[Mapping[str, Any]]) -> str:
    for name in ("final_val_accuracy", "final_val_loss", "final_loss"):
        if any(_finite(r.get(name)) is not None for r in records):
            return name
    return "final_loss"


def _finite(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _seed(trial: Mapping[str, Any]) -> Any:
    seed = trial.get("seed")
    return trial["config"].get("seed") if seed is None else seed


def _chance(config: Mapping[str, Any]) -> float:
    model = config.get("model") or {}
    k = model.get("n_outputs") or 2
    return 0.5 if model.get("output") == "sigmoid" or k < 2 else 1.0 / k


def _curve(history: Mapping[str, Sequence[float | None]], name: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in history.get(name, [])], dtype=float)


def swept_variables(
    records: Sequence[Mapping[str, Any]], spec: Mapping[str, Any] | None = None
) -> list[str]:
    """The names that tell a study's configurations apart, as the study file sweeps them.

    With the study file (``spec``, as stored): its ``grid`` and ``[[zip]]`` keys whose values
    differ (``lr``, ``optimizer.momentum``); for a section swept whole (``optimizer = [{name =
    "sgd", momentum = 0.9}, {name = "adam"}]``), the fields its tables give. Without: the
    schedule variables that differ, then the config fields that differ (dotted paths; the
    schedule's text only when no variable explains it, and an optimizer's own hyperparameters
    not when ``optimizer.name`` varies).

    Example:
        >>> recs = [{"vars": {"lr": lr}, "config": {"schedule": f"constant({lr})",
        ...          "optimizer": {"name": "sgd", "momentum": m}}}
        ...         for lr in (0.1, 0.01) for m in (0.0, 0.9)]
        >>> swept_variables(recs)
        ['lr', 'optimizer.momentum']
    """
    sweeps: dict[str, Any] = dict((spec or {}).get("grid") or {})
    for block in (spec or {}).get("zip") or []:
        sweeps.update({k: v for k, v in block.items() if k not in sweeps})
    names: list[str] = []
    for k, values in sweeps.items():
        tables = [v for v in values if isinstance(v, Mapping)] if isinstance(values, list) else []
        if tables:  # a section swept whole: the fields its tables give, the name first
            fields = sorted({f for t in tables for f in t}, key=lambda f: (f != "name", f))
            names += [f"{k}.{f}" for f in fields]
        else:
            names.append(k)
    if names:
        return [k for k in names if len({repr(swept_value(r, k)) for r in records}) > 1]
    variables = sorted({k for r in records for k in (r.get("vars") or {})})
    keys = [k for k in variables if len({repr((r.get("vars") or {}).get(k)) for r in records}) > 1]
    flat = [flatten({"config": r.get("config") or {}}) for r in records]
    fields = sorted({k for f in flat for k in f} - {"seed"} - ({"schedule"} if keys else set()))
    fields = [k for k in fields if len({repr(f.get(k)) for f in flat}) > 1]
    if "optimizer.name" in fields:  # each optimizer's own hyperparameters follow from its name
        fields = [k for k in fields if not k.startswith("optimizer.") or k == "optimizer.name"]
    return keys + fields


def swept_value(record: Mapping[str, Any], name: str) -> Any:
    """A swept variable's value in a trial: a schedule variable, else a dotted config path."""
    variables = record.get("vars") or {}
    if name in variables:
        return variables[name]
    node: Any = record.get("config") or {}
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def summarize_study(
    records: Sequence[Mapping[str, Any]],
    histories: Mapping[str, Mapping[str, Sequence[float | None]]] | None = None,
    *,
    sort: str | None = None,
    level: float = 0.95,
    threshold: float | None = None,
    chance: float | None = None,
    spec: Mapping[str, Any] | None = None,
) -> StudyResults:
    """Aggregate a study's finished trials over seeds, with intervals, counts and a ranking.

    Args:
        records: From :meth:`lrlab.lab.store.Store.records` (not flat).
        histories: ``trial_id -> {metric: [value per epoch]}`` (:meth:`Store.history`); needed
            for the dead-run check and the learning-speed measures, which are left out
            without it.
        sort: The ranking metric: ``val_accuracy`` (default when there is one),
            ``val_loss``, ``loss``, ``accuracy``, ``best_val_loss``, ... Losses rank ascending.
        level: Coverage of every interval, in ``(0, 1)``.
        threshold: The accuracy that ``epochs_to_threshold`` counts to; default 95% of the
            best configuration's best mean accuracy over epochs (the best over configurations
            of the maximum over epochs of the mean curve over usable seeds).
        chance: The accuracy of a model that learned nothing (default ``1 / classes``).
        spec: The study file as stored (``Store.studies()``): configurations are then named
            by the variables it sweeps (:func:`swept_variables`).

    Returns:
        A :class:`StudyResults`, best first.
    """
    level = number_in("summarize_study", "level", level, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    if threshold is not None:
        threshold = number_in("summarize_study", "threshold", threshold, lo=0.0, hi=1.0)
    if chance is not None:
        chance = number_in("summarize_study", "chance", chance, lo=0.0, hi=1.0)
    done = [r for r in records if r.get("status") == "done"]
    column = _sort_column(sort, done)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in done:
        groups.setdefault(r["group"], []).append(r)
    varying = swept_variables([g[0] for g in groups.values()], spec)
    labels = {g: {k: swept_value(t[0], k) for k in varying} for g, t in groups.items()}
    partial = {g: _config_stats(trials, histories, level, chance) for g, trials in groups.items()}
    rule = (
        f"{threshold:g}" if threshold is not None else "95% of the best config's best mean accuracy"
    )
    if threshold is None:  # one target for the study: 95% of the best configuration's best
        bests = [_best_mean(p["curves"]) for p in partial.values() if p["curves"]]
        bests = [b for b in bests if math.isfinite(b)]
        if bests:
            threshold = 0.95 * max(bests)
            rule = f"95% of the best config's best mean accuracy: {threshold:.4g}"
    for p in partial.values():
        speed = _speed(p.pop("curves"), threshold, level)
        p["metrics"].update(speed.pop("metrics"))
        p.update(speed)
    by_seed = {g: p["values"][column] for g, p in partial.items()}
    ranking = rank_configs(by_seed, higher_is_better="loss" not in column, level=level)
    configs = [
        ConfigResult(
            group=r.key,
            labels=labels[r.key],
            seeds=partial[r.key]["seeds"],
            diverged=partial[r.key]["diverged"],
            dead=partial[r.key]["dead"],
            stopped=partial[r.key]["stopped"],
            metrics=partial[r.key]["metrics"],
            not_reached=partial[r.key]["not_reached"],
            threshold=partial[r.key]["threshold"],
            rank=r.rank,
            vs_best=r.vs_best,
            tied_with_best=r.tied_with_best,
            sort=column,
        )
        for r in ranking
    ]
    return StudyResults(configs, column, level, rule)


def study_results(
    store: Any, study: str, *, sort: str | None = None, level: float = 0.95
) -> StudyResults:
    """:func:`summarize_study` of one study in an open :class:`~lrlab.lab.store.Store`: its
    finished trials, their per-epoch histories and its study file.

    Example:
        >>> import tempfile, pathlib
        >>> from lrlab.lab.spec import Study
        >>> from lrlab.lab.store import Store
        >>> from lrlab.lab.study import run_study
        >>> study = Study.from_dict({"name": "s", "data": {"name": "blobs", "n_samples": 100,
        ...     "n_train": 50}, "model": {"hidden": [4]}, "train": {"epochs": 2,
        ...     "batch_size": 25}, "schedule": "constant({lr})", "grid": {"lr": [0.1, 0.01]},
        ...     "seeds": [0, 1, 2]})
        >>> with Store(pathlib.Path(tempfile.mkdtemp()) / "lrlab.sqlite") as store:
        ...     _ = run_study(study, store)
        ...     results = study_results(store, "s")
        >>> [(c.labels, c.used) for c in results.configs if c.labels["lr"] == 0.1]
        [({'lr': 0.1}, 3)]
    """
    records = [r for r in store.records(study) if r.get("status") == "done"]
    histories = {r["trial_id"]: store.history(r["trial_id"]) for r in records}
    return summarize_study(
        records, histories, sort=sort, level=level, spec=study_spec(store, study)
    )


def study_spec(store: Any, study: str) -> Mapping[str, Any] | None:
    """The study file of ``study`` as the store keeps it (``None`` if it has none)."""
    spec = next((s.get("spec") for s in store.studies() if s["name"] == study), None)
    return spec if isinstance(spec, Mapping) else None


def _sort_column(sort: str | None, done: Sequence[Mapping[str, Any]]) -> str:
    if sort is None:
        return _default_sort(done)
    column = sort if sort.startswith(("final_", "best_")) else f"final_{sort}"
    if column not in METRICS:
        known = ", ".join(m.removeprefix("final_") for m in METRICS)
        raise ValueError(f"sort: unknown metric {sort!r}; known: {known}")
    return column


def _config_stats(
    trials: Sequence[Mapping[str, Any]],
    histories: Mapping[str, Mapping[str, Sequence[float | None]]] | None,
    level: float,
    chance: float | None,
) -> dict[str, Any]:
    """One configuration's counts, per-seed values and intervals, and the accuracy curves of
    its usable seeds (``curves``, for the learning speed)."""
    dead_ids: set[str] = set()
    curves: dict[str, np.ndarray] = {}
    for t in trials:
        h = (histories or {}).get(t["trial_id"])
        if h is None or t.get("diverged"):
            continue
        acc_name = "val_accuracy" if h.get("val_accuracy") else "accuracy"
        loss_name = "val_loss" if h.get("val_loss") else "loss"
        acc, loss = _curve(h, acc_name), _curve(h, loss_name)
        if acc.size:
            curves[t["trial_id"]] = acc
        if acc.size and loss.size:
            p = chance if chance is not None else _chance(t["config"])
            if is_dead(acc, loss, chance=p):
                dead_ids.add(t["trial_id"])
    usable = [t for t in trials if not t.get("diverged") and t["trial_id"] not in dead_ids]
    values = {
        m: {_seed(t): (math.nan if _finite(t.get(m)) is None else float(t[m])) for t in usable}
        for m in METRICS
    }
    metrics = {
        m: mean_ci(np.array(list(v.values()), dtype=float), level) for m, v in values.items()
    }
    return {
        "seeds": len(trials),
        "diverged": sum(bool(t.get("diverged")) for t in trials),
        "dead": len(dead_ids),
        "stopped": sum((t.get("stopped_epoch") or -1) >= 0 for t in trials),
        "metrics": metrics,
        "values": values,
        "curves": [curves[t["trial_id"]] for t in usable if t["trial_id"] in curves],
    }


def _best_mean(curves: list[np.ndarray]) -> float:
    """The maximum over epochs of the mean curve over seeds (the shortest curve's epochs);
    NaN where no epoch has a value."""
    length = min(c.size for c in curves)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # (an all-NaN epoch's mean)
        mean = np.nanmean(np.stack([c[:length] for c in curves]), axis=0)
        return float(np.nanmax(mean)) if np.isfinite(mean).any() else math.nan


def _speed(curves: list[np.ndarray], threshold: float | None, level: float) -> dict[str, Any]:
    """Epochs to ``threshold``, area under the curve and volatility over the usable seeds."""
    if not curves or threshold is None:
        return {"metrics": {}, "not_reached": 0, "threshold": None}
    reached = [epochs_to_reach(c, threshold) for c in curves]
    hits = [float(e) for e in reached if e is not None]
    metrics = {
        "epochs_to_threshold": mean_ci(np.array(hits, dtype=float), level),
        "auc": mean_ci(np.array([area_under_curve(c) for c in curves]), level),
        "volatility": mean_ci(np.array([volatility(c) for c in curves]), level),
    }
    return {"metrics": metrics, "not_reached": len(curves) - len(hits), "threshold": threshold}
