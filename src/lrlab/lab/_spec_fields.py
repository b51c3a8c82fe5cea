"""Study spec fields: the error type, the checks of single values and field paths, and the
normalisation of each section (``[data]``, ``[model]``, ``[train]``, ``[optimizer]``,
``[plateau]``, ``[early_stopping]``), plus the checks that need the loaded data.

Private: import the public names from :mod:`lrlab.lab.spec`.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import math
import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..control import EarlyStopping, Plateau
from .models import ACTIVATIONS, INITS, OUTPUTS

SECTIONS = ("data", "model", "train", "optimizer", "plateau", "early_stopping")
TOP_LEVEL = ("name", "description", "seeds", "schedule", "vars", *SECTIONS, "grid", "zip")
#: placeholders every schedule may use, computed from the data and the [train] table
COMPUTED = ("steps_per_epoch", "total_steps", "epochs", "batch_size", "n_train")
_DATA_PLACEHOLDERS = ("steps_per_epoch", "total_steps", "n_train")
MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")
#: the most trials (grid points x seeds) a study may expand to
MAX_TRIALS = 100_000
#: the most optimizer steps (epochs x steps per epoch) one trial may take
MAX_TOTAL_STEPS = 10_000_000
#: the deepest nesting of tables and arrays in a spec (the top-level table not counted)
MAX_NESTING = 32
#: the largest seed (and data_seed): the largest SQLite INTEGER, 2**63 - 1
MAX_SEED = 2**63 - 1
#: the largest study file read, in bytes (16 MiB)
MAX_FILE_BYTES = 16 * 2**20
_REQUIRED = object()
_MODEL = {
    "type": "mlp",
    "hidden": _REQUIRED,
    "activation": "relu",
    "output": None,
    "init": "he_uniform",
}
_TRAIN = {
    "epochs": _REQUIRED,
    "batch_size": _REQUIRED,
    "data_seed": 0,
    "batch_order": "per_seed",
    "dtype": "float32",
    "device": "cpu",
    "eval_train": False,
    "shuffle": True,
    "keep": "none",
}
#: what ``train.keep`` may save of each trial's weights (see ``docs/studies.md``)
KEEP = ("best", "final", "none")
_OUTPUT_FOR_TASK = {"multiclass": "softmax", "binary": "sigmoid", "regression": "linear"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BLAME = re.compile(r"([A-Za-z_]\w*)((?:\[\d+\])?) (.*)", re.S)


class SpecError(ValueError):
    """A problem in a study spec: ``str(err)`` is ``"<field path>: <problem>"``.

    Attributes:
        path: Where the problem is, e.g. ``grid."optimizer.momentum"[2]`` or ``train.epochs``.
        problem: What is wrong, naming the value received.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}" if path else problem)


# Present it as part of the public module, where it lived before: tracebacks and doctests
# print lrlab.lab.spec.SpecError.
SpecError.__module__ = "lrlab.lab.spec"


# -- canonical values ----------------------------------------------------------------------------
def _canon(x: Any, path: str = "") -> Any:
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        if not math.isfinite(f):
            raise SpecError(path, f"must be a finite number, got {x!r}")
        return 0.0 if f == 0 else f  # -0.0 and 0.0 are one value
    if isinstance(x, Mapping):
        return {str(k): _canon(v, _join(path, str(k))) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_canon(v, _join(path, i)) for i, v in enumerate(x)]
    raise SpecError(path, f"must be a number, string, boolean, list or table, got {x!r}")


# -- paths and small checks ----------------------------------------------------------------------
def _key(k: str) -> str:
    return k if _IDENT.match(k) else json.dumps(k)


def _join(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{_key(key)}" if base else _key(key)


def _hint(word: object, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_keys(
    raw: Mapping[str, Any], allowed: Sequence[str], where: Callable[[str], str], what: str
) -> None:
    for k in raw:
        if k not in allowed:
            raise SpecError(
                where(k), f"unknown {what}{_hint(k, allowed)} (known: {', '.join(allowed)})"
            )


def _int(value: Any, path: str, lo: int, hi: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < lo
        or (hi is not None and value > hi)
    ):
        bounds = f">= {lo}" if hi is None else f"from {lo} to {hi}"
        raise SpecError(path, f"must be an integer {bounds}, got {value!r}")
    return int(value)


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(path, f"must be true or false, got {value!r}")
    return value


def _choice(value: Any, options: Sequence[str], path: str) -> str:
    if not isinstance(value, str) or value not in options:
        hint = _hint(value, options) if isinstance(value, str) else ""
        raise SpecError(
            path, f"must be one of {', '.join(map(repr, options))}, got {value!r}{hint}"
        )
    return value


def _scalar(value: Any, path: str) -> Any:
    if not isinstance(value, (str, bool, int, float)):
        raise SpecError(path, f"must be a number, string or boolean, got {value!r}")
    return _canon(value, path)


def _blame(
    exc: Exception, keys: Sequence[str], where: Callable[[str], str], default: str, note: str = ""
) -> SpecError:
    """Turn a component's ``"Owner: field problem"`` error into a :class:`SpecError`."""
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    rest = re.sub(r"^[\w. ]+: ", "", msg, count=1)
    m = _BLAME.match(rest)
    if m and m.group(1) in keys:
        return SpecError(where(m.group(1)) + m.group(2), m.group(3) + note)
    for k in keys:
        if f"'{k}'" in rest:
            return SpecError(where(k), rest + note)
    return SpecError(default, rest + note)


def _placeholders(template: str, path: str, allowed: Sequence[str]) -> set[str]:
    """The variable names of a schedule template's ``{placeholders}``.

    A placeholder is a plain name, ``{lr}``: no index, attribute, conversion or format
    (``{lr[0]}``, ``{lr.real}``, ``{lr!r}``, ``{lr:.3}``), which ``str.format`` would otherwise
    evaluate on the value. Whether the name is defined is checked by the caller.

    Args:
        template: The schedule text, e.g. ``"cosine(init={lr}, decay_steps={total_steps})"``.
        path: Where the template came from (named in errors).
        allowed: The names the template may use (listed in errors).

    Returns:
        The names used.

    Example:
        >>> sorted(_placeholders("cosine(init={lr}, decay_steps={total_steps})", "s", ["lr"]))
        ['lr', 'total_steps']
        >>> try:
        ...     _placeholders("constant({lr[0]})", "schedule", ["lr"])
        ... except SpecError as exc:
        ...     print(exc.problem)
        placeholder {lr[0]} in 'constant({lr[0]})' must be a plain variable name (allowed: lr)
    """
    try:
        parts = [p for p in string.Formatter().parse(template) if p[1] is not None]
    except ValueError as exc:
        raise SpecError(
            path, f"{exc} in {template!r} (write {{{{ and }}}} for literal braces)"
        ) from None
    names = set()
    for _, field, spec, conversion in parts:
        if not _IDENT.match(field or "") or spec or conversion:
            text = f"{field}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}"
            raise SpecError(
                path,
                f"placeholder {{{text}}} in {template!r} must be a plain variable name "
                f"(allowed: {', '.join(allowed)})",
            )
        names.add(field)
    return names


# -- sections ------------------------------------------------------------------------------------
def _loader(name: str) -> Callable[..., Any]:
    from . import data

    return data.from_csv if name == "csv" else getattr(data, name)


def _norm_data(raw: Mapping[str, Any], where: Callable[[str], str]) -> dict[str, Any]:
    from .data import available

    if "name" not in raw:
        raise SpecError(where("name"), f"missing; one of {', '.join(available())}")
    name = raw["name"]
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    _choice(key, available(), where("name"))
    standardize = _bool(raw.get("standardize", False), where("standardize"))
    params = list(inspect.signature(_loader(key)).parameters)
    kwargs = {k: v for k, v in raw.items() if k not in ("name", "standardize")}
    _check_keys(kwargs, params, where, f"argument of the {key!r} loader")
    return {
        "name": key,
        "standardize": standardize,
        **{k: _canon(v, where(k)) for k, v in kwargs.items()},
    }


def _norm_model(raw: Mapping[str, Any], where: Callable[[str], str]) -> dict[str, Any]:
    _check_keys(raw, list(_MODEL), where, "model field")
    if "hidden" not in raw:
        raise SpecError(where("hidden"), "missing; the hidden layer widths, e.g. hidden = [50]")
    hidden = raw["hidden"]
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = [hidden]
    if not isinstance(hidden, list):
        raise SpecError(where("hidden"), f"must be a list of layer widths, got {hidden!r}")
    out = {
        "type": _choice(raw.get("type", "mlp"), ("mlp",), where("type")),
        "hidden": [_int(h, f"{where('hidden')}[{i}]", 1) for i, h in enumerate(hidden)],
        "activation": _choice(raw.get("activation", "relu"), ACTIVATIONS, where("activation")),
        "output": None,
        "init": _choice(raw.get("init", "he_uniform"), INITS, where("init")),
    }
    if raw.get("output") is not None:
        out["output"] = _choice(raw["output"], tuple(OUTPUTS), where("output"))
    return out


def _norm_train(raw: Mapping[str, Any], where: Callable[[str], str]) -> dict[str, Any]:
    _check_keys(raw, list(_TRAIN), where, "train field")
    for k in ("epochs", "batch_size"):
        if k not in raw:
            raise SpecError(where(k), "missing; an integer >= 1")
    device = raw.get("device", "cpu")
    if not isinstance(device, str) or not device:
        raise SpecError(
            where("device"), f"must be a device name such as 'cpu' or 'cuda', got {device!r}"
        )
    out = {
        "epochs": _int(raw["epochs"], where("epochs"), 1, MAX_TOTAL_STEPS),
        "batch_size": _int(raw["batch_size"], where("batch_size"), 1),
        "data_seed": _int(raw.get("data_seed", 0), where("data_seed"), 0, MAX_SEED),
        # per_seed: a trial's seed also picks its batch order (data_seed + seed), so seeds are
        # independent replicates; shared: every trial draws data_seed's order
        "batch_order": _choice(
            raw.get("batch_order", "per_seed"), ("per_seed", "shared"), where("batch_order")
        ),
        "dtype": _choice(raw.get("dtype", "float32"), ("float32", "float64"), where("dtype")),
        "eval_train": _bool(raw.get("eval_train", False), where("eval_train")),
        "shuffle": _bool(raw.get("shuffle", True), where("shuffle")),
    }
    # written only when weights are kept, so the configs (and ids) of other studies stay as
    # they were; keeping weights is part of a trial, which trains again to save them
    keep = _choice(raw.get("keep", "none"), KEEP, where("keep"))
    if keep != "none":
        out["keep"] = keep
    return out


def _norm_optimizer(raw: Mapping[str, Any], where: Callable[[str], str]) -> dict[str, Any]:
    from .optim import optimizer_from_config

    name = raw.get("name", "sgd")
    hyper = {k: v for k, v in raw.items() if k != "name"}
    for k, v in hyper.items():
        if isinstance(v, (list, tuple)) and k != "betas":
            raise SpecError(
                where(k),
                f"must be one value per trial, got the list {v!r}; sweep "
                f'values with [grid] "optimizer.{k}" = [...]',
            )
        _canon(v, where(k))
    key = name.lower() if isinstance(name, str) else name
    if key in ("sgd", "rmsprop") and "momentum" in hyper:
        m = hyper["momentum"]
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m < 1:
            raise SpecError(where("momentum"), f"must be in [0, 1), got {m!r}")
    note = f" (optimizer.name = {name!r} from {where('name')})" if "[" in where("name") else ""
    try:
        opt = optimizer_from_config(name, **hyper)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _blame(exc, list(hyper), where, where("name"), note) from None
    return _canon(opt.to_config())


def _norm_control(cls: type, raw: Mapping[str, Any], where: Callable[[str], str]) -> dict[str, Any]:
    fields = [f.name for f in dataclasses.fields(cls)]
    _check_keys(raw, ["monitor", *fields], where, f"{cls.__name__} field")
    monitor = _choice(raw.get("monitor", "val_loss"), MONITORS, where("monitor"))
    kwargs = {k: v for k, v in raw.items() if k != "monitor"}
    kwargs.setdefault("mode", "max" if "accuracy" in monitor else "min")
    if "restore_best_weights" in kwargs:
        _bool(kwargs["restore_best_weights"], where("restore_best_weights"))
    try:
        obj = cls(**kwargs)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _blame(exc, list(kwargs), where, where("monitor")) from None
    out = {"monitor": monitor, **_canon(dataclasses.asdict(obj))}
    if out.get("restore_best_weights") is False:
        # written only when set, so the configs (and ids) of other studies stay as they were
        del out["restore_best_weights"]
    return out


_NORMALISERS: dict[str, Callable[[Mapping[str, Any], Callable[[str], str]], dict[str, Any]]] = {
    "data": _norm_data,
    "model": _norm_model,
    "train": _norm_train,
    "optimizer": _norm_optimizer,
    "plateau": lambda raw, where: _norm_control(Plateau, raw, where),
    "early_stopping": lambda raw, where: _norm_control(EarlyStopping, raw, where),
}


# -- checks that need the data ------------------------------------------------------------------
def _resolve_model(m: Mapping[str, Any], ds: Any, where: Callable[[str], str]) -> dict[str, Any]:
    if np.ndim(ds.x_train) != 2:
        raise SpecError(
            "data",
            f"the MLP needs flat input rows, got rows of shape "
            f"{tuple(ds.x_train.shape[1:])} (e.g. flatten = true)",
        )
    task = ds.task
    output = m["output"] or _OUTPUT_FOR_TASK[task]
    path = where("output")
    if task == "regression":
        if output != "linear":
            raise SpecError(
                path, f"must be 'linear' for the regression data {ds.name!r}, got {output!r}"
            )
        n_out = 1 if np.ndim(ds.y_train) == 1 else int(ds.y_train.shape[1])
    elif output == "linear":
        raise SpecError(
            path, f"'linear' (mean squared error) needs regression data; {ds.name!r} is {task}"
        )
    elif output == "sigmoid":
        if task != "binary":
            raise SpecError(
                path,
                f"'sigmoid' needs binary data; {ds.name!r} has "
                f"{ds.n_classes} classes (use 'softmax')",
            )
        n_out = 1
    else:
        n_out = int(ds.n_classes)
    return {**m, "n_inputs": int(ds.n_features), "n_outputs": n_out, "output": output}


def _check_monitor(monitor: str, ds: Any, path: str) -> None:
    if monitor.startswith("val_") and ds.n_test == 0:
        raise SpecError(path, f"{monitor!r} needs a test split, and {ds.name!r} has none")
    if "accuracy" in monitor and ds.task == "regression":
        raise SpecError(path, f"{monitor!r} does not exist for regression data {ds.name!r}")
