"""Tables made from store records: :func:`flatten` (config and vars as dotted columns),
:func:`summarize` (done trials aggregated over seeds, best first) and :func:`write_csv`.

Private: import the public names from :mod:`lrlab.lab.store`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ._store_schema import finite_or_none

#: the summary metrics :func:`summarize` averages over seeds
AGGREGATED = (
    "final_val_accuracy",
    "final_val_loss",
    "final_accuracy",
    "final_loss",
    "best_val_accuracy",
    "best_val_loss",
)


def write_csv(rows: Sequence[Mapping[str, Any]], file: Any) -> None:
    """Write dicts as CSV to an open text file: the union of their keys as the header, lists
    and tables as JSON, ``None`` as an empty cell."""
    columns: dict[str, None] = {}
    for r in rows:
        columns.update(dict.fromkeys(r))

    def cell(v: Any) -> Any:
        return json.dumps(v) if isinstance(v, (list, dict)) else ("" if v is None else v)

    w = csv.writer(file, lineterminator="\n")
    w.writerow(columns)
    w.writerows([cell(r.get(c)) for c in columns] for r in rows)


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record with ``config`` and ``vars`` spread into dotted columns.

    Example:
        >>> flatten({"trial_id": "t", "vars": {"lr": 0.1},
        ...          "config": {"optimizer": {"momentum": 0.9}, "plateau": None}})
        {'trial_id': 't', 'vars.lr': 0.1, 'optimizer.momentum': 0.9, 'plateau': None}
    """
    out = {k: v for k, v in record.items() if k not in ("config", "vars")}
    out.update({f"vars.{k}": v for k, v in (record.get("vars") or {}).items()})

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = value

    walk("", record.get("config") or {})
    return out


def summarize(
    records: Sequence[Mapping[str, Any]], sort: str | None = None
) -> list[dict[str, Any]]:
    """Aggregate done trials over seeds: one row per distinct config (``group``), best first.

    Each row has ``group``, the config fields that vary across the records (dotted paths; the
    ``schedule`` when nothing varies),
    ``seeds`` (trials aggregated), ``diverged`` and ``stopped`` counts, and
    ``<metric>_mean`` / ``<metric>_std`` (sample std, ``None`` for one seed) of
    ``final_val_accuracy``, ``final_val_loss``, ``final_accuracy``, ``final_loss``,
    ``best_val_accuracy`` and ``best_val_loss`` over the trials that did not diverge and where
    they are finite. A diverged trial counts in ``seeds`` and ``diverged`` only: its metrics,
    even from a store written before they were cleared, are in no mean and no ranking, and a
    config whose every seed diverged has no means and ranks last.

    Args:
        records: From :meth:`Store.records` (not flat).
        sort: A metric: ``val_accuracy`` (default when there is one), ``val_loss``, ``loss``,
            ``accuracy``, ``best_val_loss``, ... Losses sort ascending, others descending;
            missing values last.

    Example:
        >>> recs = [{"group": g, "status": "done", "config": {"lr": lr, "seed": s},
        ...          "final_val_accuracy": a, "diverged": False}
        ...         for g, lr, s, a in [("a", 0.1, 0, 0.8), ("a", 0.1, 1, 0.9),
        ...                             ("b", 1.0, 0, 0.95)]]
        >>> [(r["lr"], r["seeds"], r["final_val_accuracy_mean"]) for r in summarize(recs)]
        [(1.0, 1, 0.95), (0.1, 2, 0.85)]
    """
    done = [r for r in records if r.get("status") == "done"]
    flat = [
        flatten({"config": {k: v for k, v in r["config"].items() if k != "seed"}}) for r in done
    ]
    varying = _varying(flat)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    firsts: dict[str, dict[str, Any]] = {}
    for r, f in zip(done, flat):
        groups.setdefault(r["group"], []).append(r)
        firsts.setdefault(r["group"], f)
    rows = [
        {"group": g, **{k: firsts[g].get(k) for k in varying}, **_aggregate(trials)}
        for g, trials in groups.items()
    ]
    return _ranked(rows, sort)


def _varying(flat: Sequence[Mapping[str, Any]]) -> list[str]:
    """The dotted config fields whose values differ across ``flat``; ``["schedule"]`` when
    none does and there is a schedule (one config: name it by its schedule)."""
    keys: dict[str, None] = {}
    for f in flat:
        keys.update(dict.fromkeys(f))
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
    if not varying and "schedule" in keys:
        varying = ["schedule"]
    return varying


def _aggregate(trials: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One config's ``seeds``, ``diverged``, ``stopped`` and ``<metric>_mean`` / ``_std`` of
    the :data:`AGGREGATED` metrics over its trials that did not diverge, where finite."""
    row: dict[str, Any] = {
        "seeds": len(trials),
        "diverged": sum(bool(t.get("diverged")) for t in trials),
        "stopped": sum((t.get("stopped_epoch") or -1) >= 0 for t in trials),
    }
    for m in AGGREGATED:
        vals = [
            float(t[m])
            for t in trials
            if not t.get("diverged") and finite_or_none(t.get(m)) is not None
        ]
        mean = sum(vals) / len(vals) if vals else None
        std = None
        if len(vals) > 1 and mean is not None:
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
        row[f"{m}_mean"], row[f"{m}_std"] = mean, std
    return row


def _ranked(rows: list[dict[str, Any]], sort: str | None) -> list[dict[str, Any]]:
    """``rows`` sorted in place, best first, by the mean of ``sort`` (see :func:`summarize`);
    ties go to the lower validation (else training) loss."""
    if sort is None:
        has_acc = any(r["final_val_accuracy_mean"] is not None for r in rows)
        has_val = any(r["final_val_loss_mean"] is not None for r in rows)
        sort = "val_accuracy" if has_acc else ("val_loss" if has_val else "loss")
    column = sort if sort.startswith(("final_", "best_")) else f"final_{sort}"
    col = f"{column}_mean"
    if rows and col not in rows[0]:
        known = ", ".join(m.removeprefix("final_") for m in AGGREGATED)
        raise ValueError(f"sort: unknown metric {sort!r}; known: {known}")
    sign = 1.0 if "loss" in sort else -1.0
    tie_on_val = bool(rows) and rows[0]["final_val_loss_mean"] is not None
    tie = "final_val_loss_mean" if tie_on_val else "final_loss_mean"

    def key(r: Mapping[str, Any]) -> tuple[Any, ...]:
        t = r[tie] if r[tie] is not None else math.inf
        return (r[col] is None, sign * r[col] if r[col] is not None else 0.0, t)

    rows.sort(key=key)
    return rows
