"""Study specifications: a TOML file (or a dict) that expands into fully resolved trials.

A study names a dataset, a model, the training set-up, an optimizer, a learning-rate schedule
(lrlab's text form with ``{placeholders}``), optional plateau and early-stopping control, and the
seeds; ``[grid]`` and ``[[zip]]`` sweep variables and fields. :meth:`Study.trials` expands it into
:class:`Trial` objects: plain JSON configs, each with a stable id (a short sha256 of the canonical
JSON), so the same config always has the same id, in any process and on any platform. Every
problem is a :class:`SpecError` that names the field path and the bad value. The file format is
described in ``docs/studies.md``.

Example:
    >>> from lrlab.lab.spec import Study
    >>> study = Study.from_dict({
    ...     "data": {"name": "blobs"},
    ...     "model": {"hidden": [50]},
    ...     "train": {"epochs": 2, "batch_size": 32},
    ...     "optimizer": {"name": "sgd"},
    ...     "schedule": "constant({lr})",
    ...     "grid": {"lr": [0.1, 0.01], "optimizer.momentum": [0.0, 0.9]},
    ...     "seeds": [0, 1],
    ... })
    >>> trials = study.trials()
    >>> len(trials), trials[0].config["schedule"], trials[-1].config["optimizer"]["momentum"]
    (8, 'constant(0.1)', 0.9)
    >>> trials[0].config["model"]["n_inputs"], trials[0].config["model"]["output"]
    (2, 'softmax')
    >>> Study.from_dict({**study.raw, "grid": {"lr": [0.1], "optimizer.momentum": [0.0, 0.5, 1.5]}})
    Traceback (most recent call last):
    ...
    lrlab.lab.spec.SpecError: grid."optimizer.momentum"[2]: must be in [0, 1), got 1.5
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
import reprlib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..control import EarlyStopping, Plateau

# The spec's parts live in private siblings, by concept; Study (below) puts them together.
from ._spec_checks import _check_rates, check_steps, check_structure, count_trials, resolve_paths
from ._spec_fields import (
    _DATA_PLACEHOLDERS,
    _IDENT,
    _MODEL,
    _NORMALISERS,
    _TRAIN,
    COMPUTED,
    KEEP,
    MAX_FILE_BYTES,
    MAX_NESTING,
    MAX_SEED,
    MAX_TOTAL_STEPS,
    MAX_TRIALS,
    MONITORS,
    SECTIONS,
    TOP_LEVEL,
    SpecError,
    _blame,
    _check_keys,
    _check_monitor,
    _hint,
    _int,
    _join,
    _placeholders,
    _resolve_model,
    _scalar,
)
from ._spec_trials import Trial, _fill, _Point, _template, canonical_json, config_id

#: sections a sweep may give whole, one table per value (each optimizer with its own settings)
WHOLE_TABLES = ("optimizer", "plateau", "early_stopping")

__all__ = [
    "COMPUTED",
    "KEEP",
    "MAX_FILE_BYTES",
    "MAX_NESTING",
    "MAX_SEED",
    "MAX_TOTAL_STEPS",
    "MAX_TRIALS",
    "MONITORS",
    "SECTIONS",
    "SpecError",
    "Study",
    "Trial",
    "canonical_json",
    "config_id",
]


def _same_kind(name: str, value: Any, path: str, kinds: dict[str, tuple[str, Any, str]]) -> None:
    """A variable's values are all numbers, all text or all booleans, and a number is not
    written as text: it is filled into the schedule as text either way, but a quoted number
    would be sorted, labelled and plotted as a name (``"0.01"`` beside ``0.1``)."""
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, (int, float)):
        kind = "number"
    else:
        kind = "text"
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            fix = "write it without quotes" if math.isfinite(number) else "a finite number"
            raise SpecError(path, f"must be a number, got the text {value!r}: {fix}")
    first = kinds.setdefault(name, (kind, value, path))
    if first[0] != kind:
        raise SpecError(path, f"must be a {first[0]} like {first[2]} ({first[1]!r}), got {value!r}")


class Study:
    """A study: a base config, sweeps over it, and seeds; see ``docs/studies.md``.

    Build one with :meth:`from_toml` or :meth:`from_dict`; everything that can be checked
    without the data is checked there, the rest (model sizes, placeholders computed from the
    data) by :meth:`trials`.

    Every check costs time and memory bounded by the spec's size: tables and arrays nest at
    most :data:`MAX_NESTING` levels and integers fit in 64 bits; a study expands to at most
    :data:`MAX_TRIALS` trials (grid points × seeds, counted from the list lengths before any
    trial is built); seeds and ``data_seed`` are at most :data:`MAX_SEED`; a trial takes at
    most :data:`MAX_TOTAL_STEPS` optimizer steps (``epochs`` alone is checked at once, epochs ×
    steps per epoch once the data is known), whose learning rates are checked in fixed-size
    blocks up to the first bad step.

    Attributes:
        name: The study's name (the file's stem unless the file says ``name = ...``).
        description: Free text.
        raw: The spec as given (a dict; use :meth:`override` to change it).
        seeds: The seeds every config is repeated with.
        device: Where to train (``train.device``; not part of the trial ids).
    """

    def __init__(
        self, raw: Mapping[str, Any], name: str | None = None, *, allow_import: bool = False
    ) -> None:
        self.allow_import = bool(allow_import)
        if not isinstance(raw, Mapping):
            # reprlib: a bounded repr, as the value's nesting is not checked yet
            raise SpecError("", f"a study must be a table of fields, got {reprlib.repr(raw)}")
        check_structure(raw)  # before anything recurses into it (deepcopy, repr, ...)
        self.raw: dict[str, Any] = copy.deepcopy(dict(raw))
        _check_keys(self.raw, TOP_LEVEL, lambda k: _join("", k), "top-level field")
        self.name = raw.get("name", name) or "study"
        if not isinstance(self.name, str):
            raise SpecError("name", f"must be a string, got {self.name!r}")
        self.description = raw.get("description", "")
        if not isinstance(self.description, str):
            raise SpecError("description", f"must be a string, got {self.description!r}")
        seeds = raw.get("seeds", [0])
        if not isinstance(seeds, list) or not seeds:
            raise SpecError("seeds", f"must be a non-empty list of integers, got {seeds!r}")
        count_trials(raw, len(seeds))  # from the list sizes, before any per-trial work
        self.seeds = [_int(s, f"seeds[{i}]", 0, MAX_SEED) for i, s in enumerate(seeds)]
        first: dict[int, int] = {}
        for i, s in enumerate(self.seeds):
            if first.setdefault(s, i) != i:
                raise SpecError(f"seeds[{i}]", f"repeats seed {s}")
        base = {s: self._table(s) for s in SECTIONS}
        for s in ("data", "model", "train"):
            if base[s] is None:
                raise SpecError(s, f"missing; the study needs a [{s}] table")
        base["optimizer"] = base["optimizer"] if base["optimizer"] is not None else {}
        base_vars = self._table("vars") or {}
        for k, v in base_vars.items():
            self._var_name(k, _join("vars", k))
            _scalar(v, _join("vars", k))
        axes = self._axes()
        templates: list[tuple[str, str]] = []
        if "schedule" in raw:
            templates.append((_template(raw["schedule"], "schedule"), "schedule"))
        for axis in axes:
            templates += [
                (_template(v, p), p) for setting in axis for k, v, p in setting if k == "schedule"
            ]
        if not templates:
            raise SpecError(
                "schedule", 'missing; e.g. schedule = "constant({lr})" with lr in [grid]'
            )
        self._allowed = self._check_vars(base_vars, axes, templates)
        self._points = self._expand(base, base_vars, raw.get("schedule"), axes)
        self.device: str = base["train"].get("device", "cpu")
        self._datasets: dict[str, Any] = {}
        self._trials: list[Trial] | None = None

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], *, name: str | None = None, allow_import: bool = False
    ) -> Study:
        """A study from a dict shaped like the TOML file (``name`` is the default name).

        ``allow_import=True`` lets its schedules name functions as ``"module:function"``
        (``custom(fn=...)``, ``recurrence(fn=...)``), imported when the study is read: that
        runs the module's code, so it is off by default.
        """
        return cls(d, name=name, allow_import=allow_import)

    @classmethod
    def from_toml(cls, path: str | Path, *, allow_import: bool = False) -> Study:
        """A study from a TOML file; its name defaults to the file's stem.

        A relative ``path`` or ``cache_dir`` of ``[data]`` (or in a ``"data.path"`` sweep) is
        relative to the file's folder, not to the current one: it is replaced, in :attr:`raw`
        and so in every trial's config and the store's record of the study, by the absolute,
        resolved path (``~`` expanded), so running the file from any folder finds the same data
        and gives the same trial ids. Absolute paths stay as written.

        Args:
            path: The TOML file (at most :data:`MAX_FILE_BYTES` bytes).
            allow_import: Let schedules name functions as ``"module:function"`` (see
                :meth:`from_dict`).

        Returns:
            The study.

        Raises:
            SpecError: the file is missing, too big or not valid TOML, or nests values more
                than :data:`MAX_NESTING` deep (path = the file), or the spec is invalid
                (path = the field).

        Example:
            >>> import pathlib, tempfile
            >>> folder = pathlib.Path(tempfile.mkdtemp()).resolve()
            >>> _ = (folder / "s.toml").write_text(
            ...     'schedule = "constant(0.1)"\\n[data]\\nname = "csv"\\npath = "rows.csv"\\n'
            ...     "[model]\\nhidden = [4]\\n[train]\\nepochs = 1\\nbatch_size = 8\\n")
            >>> Study.from_toml(folder / "s.toml").raw["data"]["path"] == str(folder / "rows.csv")
            True
        """
        p = Path(path)
        try:
            with p.open("rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)  # never more than the limit in memory
            if len(data) > MAX_FILE_BYTES:
                raise SpecError(str(path), f"larger than the limit of {MAX_FILE_BYTES} bytes")
            text = data.decode("utf-8")
        except FileNotFoundError:
            raise SpecError(str(path), "no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(str(path), f"cannot read: {exc}") from None
        try:
            d = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(str(path), f"invalid TOML: {exc}") from None
        except RecursionError:  # tomllib recurses into nested arrays and inline tables
            raise SpecError(
                str(path),
                f"invalid TOML: values nested more than {MAX_NESTING} levels of tables and arrays",
            ) from None
        resolve_paths(d, p.resolve().parent)
        return cls(d, name=p.stem, allow_import=allow_import)

    def override(self, changes: Mapping[str, Any]) -> Study:
        """A new study with fields replaced by dotted path; ``None`` removes a field.

        Paths split on dots (``"train.epochs"``, ``"plateau"``), except that everything after
        ``grid.`` is one key (``"grid.optimizer.momentum"``); ``"zip"`` replaces all zips.

        Example:
            >>> s = Study.from_dict({"data": {"name": "blobs"}, "model": {"hidden": [8]},
            ...     "train": {"epochs": 200, "batch_size": 32}, "schedule": "constant({lr})",
            ...     "grid": {"lr": [1.0, 0.1, 0.01]}})
            >>> s2 = s.override({"train.epochs": 2, "grid.lr": [0.1]})
            >>> s2.raw["train"]["epochs"], len(s2.trials())
            (2, 1)
        """
        raw = copy.deepcopy(self.raw)
        for path, value in changes.items():
            if not isinstance(path, str):
                raise SpecError("override", f"a field path must be a string, got {path!r}")
            parts = path.split(".", 1) if path.startswith("grid.") else path.split(".")
            target = raw
            for i, part in enumerate(parts[:-1]):
                nxt = target.setdefault(part, {})
                if not isinstance(nxt, dict):
                    raise SpecError(path, f"{'.'.join(parts[: i + 1])} is not a table")
                target = nxt
            if value is None:
                target.pop(parts[-1], None)
            else:
                target[parts[-1]] = copy.deepcopy(value)
        return Study(raw, name=self.name, allow_import=self.allow_import)

    def _table(self, key: str) -> dict[str, Any] | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise SpecError(key, f"must be a table, got {value!r}")
        return dict(value)

    @staticmethod
    def _var_name(k: str, path: str) -> None:
        if not _IDENT.match(k):
            raise SpecError(path, f"a variable name must be an identifier, got {k!r}")
        if k in COMPUTED:
            raise SpecError(path, f"{k!r} is computed ({', '.join(COMPUTED)}) and cannot be set")

    def _axes(self) -> list[list[tuple[tuple[str, Any, str], ...]]]:
        axes: list[list[tuple[tuple[str, Any, str], ...]]] = []
        owner: dict[str, str] = {}

        def claim(k: str, path: str) -> None:
            if k in owner:
                raise SpecError(path, f"{k!r} is already swept by {owner[k]}")
            owner[k] = path
            if k in WHOLE_TABLES:
                clash = [o for o in owner if o.startswith(f"{k}.")]
                if clash:
                    raise SpecError(
                        path,
                        f"{clash[0]} is swept by {owner[clash[0]]}; sweep {k} whole or by its "
                        "fields, not both",
                    )
            if k == "schedule":
                return
            if k in ("seed", "seeds"):
                raise SpecError(
                    path, "seeds are not swept here; list them in the top-level seeds = [...]"
                )
            if k in WHOLE_TABLES:  # e.g. optimizer = [{name = "sgd", ...}, {name = "adam"}]
                return
            if k in TOP_LEVEL:
                raise SpecError(
                    path, f'a whole table cannot be swept; sweep its fields, e.g. "{k}.<field>"'
                )
            if "." in k:
                section, _, field = k.partition(".")
                if section in owner and section in WHOLE_TABLES:
                    raise SpecError(
                        path,
                        f"{section} is swept whole by {owner[section]}; give {field} in each of "
                        "its tables instead",
                    )
                if section not in SECTIONS:
                    raise SpecError(
                        path,
                        f"unknown section {section!r}{_hint(section, SECTIONS)}"
                        f' (a field path looks like "optimizer.momentum")',
                    )
                if not field or "." in field:
                    raise SpecError(path, f'a field path is "<section>.<field>", got {k!r}')
                if k == "train.device":
                    raise SpecError(
                        path, "the device cannot be swept (it is not part of a trial's config)"
                    )
                return
            self._var_name(k, path)

        def values(v: Any, path: str) -> list[Any]:
            if not isinstance(v, list) or not v:
                raise SpecError(path, f"must be a non-empty list of values, got {v!r}")
            return v

        grid = self._table("grid") or {}
        for k, v in grid.items():
            path = _join("grid", k)
            claim(k, path)
            axes.append([((k, x, f"{path}[{i}]"),) for i, x in enumerate(values(v, path))])
        zips = self.raw.get("zip", [])
        if not isinstance(zips, list):
            raise SpecError("zip", f"must be a list of tables ([[zip]]), got {zips!r}")
        for j, z in enumerate(zips):
            if not isinstance(z, Mapping) or not z:
                raise SpecError(f"zip[{j}]", f"must be a non-empty table of lists, got {z!r}")
            lengths = {}
            for k, v in z.items():
                claim(k, _join(f"zip[{j}]", k))
                lengths[k] = len(values(v, _join(f"zip[{j}]", k)))
            if len(set(lengths.values())) > 1:
                raise SpecError(f"zip[{j}]", f"lists must have the same length, got {lengths}")
            n = next(iter(lengths.values()))
            axes.append(
                [tuple((k, z[k][i], f"{_join(f'zip[{j}]', k)}[{i}]") for k in z) for i in range(n)]
            )
        return axes

    def _check_vars(
        self, base_vars: Mapping[str, Any], axes: list[Any], templates: list[tuple[str, str]]
    ) -> list[str]:
        """Check the variables and the templates' placeholders; return the names they may use."""
        defined = {k: _join("vars", k) for k in base_vars}
        kinds: dict[str, tuple[str, Any, str]] = {}  # a variable's first value: kind, value, path
        for axis in axes:
            for k, _, p in axis[0]:
                if k != "schedule" and "." not in k and k not in WHOLE_TABLES:
                    defined[k] = p.rsplit("[", 1)[0]
            for setting in axis:
                for k, v, p in setting:
                    if k != "schedule" and "." not in k and k not in WHOLE_TABLES:
                        _scalar(v, p)
                        _same_kind(k, v, p, kinds)
        used: set[str] = set()
        known = [*defined, *COMPUTED]
        known_set = set(known)
        for template, path in templates:
            names = _placeholders(template, path, known)
            for n in sorted(names - known_set):
                raise SpecError(
                    path,
                    f"unknown placeholder {{{n}}} in {template!r}; define it in "
                    f"[vars] or [grid] (known: {', '.join(known)})"
                    f"{_hint(n, known)}",
                )
            used |= names
        fields = {f"{s}.{f}" for s, keys in (("model", _MODEL), ("train", _TRAIN)) for f in keys}
        fields |= {
            f"{s}.{f.name}"
            for s, c in (("plateau", Plateau), ("early_stopping", EarlyStopping))
            for f in dataclasses.fields(c)
        }
        fields |= {
            f"optimizer.{f}"
            for f in (
                "momentum",
                "nesterov",
                "weight_decay",
                "betas",
                "eps",
                "alpha",
                "rho",
                "dampening",
                "name",
            )
        }
        for k, path in defined.items():
            if k not in used:
                field = [f for f in sorted(fields) if f.split(".")[1] == k]
                hint = f'; to sweep a field, write its path, e.g. "{field[0]}"' if field else ""
                raise SpecError(path, f"variable {k!r} is not used by the schedule{hint}")
        return known

    def _expand(
        self, base: dict[str, Any], base_vars: Mapping[str, Any], schedule: Any, axes: list[Any]
    ) -> list[_Point]:
        # a section is normalised once per distinct set of swept fields: the cache key holds
        # only what the sweeps change, so a big base table is not serialised at every point
        cache: dict[tuple[str, str], dict[str, Any]] = {}
        points = []
        for combo in itertools.product(*axes):
            swept: dict[str, dict[str, Any]] = {}
            whole: dict[str, Any] = {}
            variables, sources = dict(base_vars), {}
            var_paths = {k: _join("vars", k) for k in base_vars}  # where each value was written
            template, sources["schedule"] = schedule, "schedule"
            for k, v, p in itertools.chain.from_iterable(combo):
                if k == "schedule":
                    template, sources["schedule"] = v, p
                elif k in WHOLE_TABLES:
                    if not isinstance(v, Mapping):
                        raise SpecError(p, f'must be a table (e.g. {{name = "sgd"}}), got {v!r}')
                    whole[k] = dict(v)
                    sources[k] = p
                elif "." in k:
                    section, _, field = k.partition(".")
                    swept.setdefault(section, {})[field] = v
                    sources[k] = p
                else:
                    variables[k], var_paths[k] = v, p
            point = _Point(
                {}, _template(template, sources["schedule"]), variables, sources, var_paths
            )
            for s, table in base.items():
                if table is None and s not in swept and s not in whole:
                    point.sections[s] = None
                    continue
                changes = [whole.get(s), swept.get(s, {})]
                key = (s, json.dumps(changes, sort_keys=True, default=repr))
                if key not in cache:
                    own = whole.get(s, table or {})  # a table swept whole replaces the base
                    raw = {**own, **swept.get(s, {})}
                    cache[key] = _NORMALISERS[s](raw, point.where(s))
                point.sections[s] = cache[key]
            names = _placeholders(point.template, sources["schedule"], self._allowed)
            if not names & set(_DATA_PLACEHOLDERS):  # check it now; the rest needs the data
                train = point.sections["train"]
                assert train is not None
                _fill(
                    point.template,
                    {**variables, "epochs": train["epochs"], "batch_size": train["batch_size"]},
                    sources["schedule"],
                    self.allow_import,
                )
            points.append(point)
        return points

    # -- trials ----------------------------------------------------------------------------------
    @property
    def n_trials(self) -> int:
        """Grid points × seeds (before identical configs are merged by :meth:`trials`)."""
        return len(self._points) * len(self.seeds)

    def dataset(self, data: Mapping[str, Any]) -> Any:
        """The :class:`~lrlab.lab.data.Dataset` of a trial's ``config["data"]``, loaded once."""
        key = canonical_json(data)
        if key not in self._datasets:
            from .data import load

            kwargs = {k: v for k, v in data.items() if k not in ("name", "standardize")}
            try:
                ds = load(data["name"], **kwargs)
                if data.get("standardize"):
                    ds = ds.standardized()
            except (ValueError, TypeError, OverflowError, ImportError, OSError) as exc:
                raise _blame(exc, list(kwargs), lambda f: _join("data", f), "data") from None
            self._datasets[key] = ds
        return self._datasets[key]

    def trials(self) -> list[Trial]:
        """Every trial, in grid order with seeds innermost; identical configs appear once.

        Loads each distinct data set (once) to size the model and fill ``{steps_per_epoch}``,
        ``{total_steps}`` and ``{n_train}``.

        Raises:
            SpecError: naming the field path, e.g. a placeholder whose schedule is invalid for
                the data, a monitor the data lacks, or a model output that does not fit the task.
        """
        if self._trials is not None:
            return list(self._trials)
        out: list[Trial] = []
        seen: set[str] = set()
        checked: set[tuple[str, int]] = set()
        for p in self._points:
            sec = p.sections
            assert sec["data"] is not None and sec["model"] is not None and sec["train"] is not None
            ds = self.dataset(sec["data"])
            train = sec["train"]
            model = _resolve_model(sec["model"], ds, p.where("model"))
            for c in ("plateau", "early_stopping"):
                if sec[c] is not None:
                    _check_monitor(sec[c]["monitor"], ds, p.where(c)("monitor"))
            spe = math.ceil(ds.n_train / train["batch_size"])
            total = check_steps(train["epochs"], spe, p.where("train")("epochs"))
            values = {
                **p.vars,
                "steps_per_epoch": spe,
                "total_steps": total,
                "epochs": train["epochs"],
                "batch_size": train["batch_size"],
                "n_train": ds.n_train,
            }
            filled = _fill(p.template, values, p.sources["schedule"], self.allow_import)
            schedule = repr(filled)
            if (schedule, total) not in checked:  # configs differing elsewhere share the check
                _check_rates(filled, total, p.sources["schedule"], p.vars, p.var_paths)
                checked.add((schedule, total))
            config = {
                "data": sec["data"],
                "model": model,
                "train": train,
                "optimizer": sec["optimizer"],
                "schedule": schedule,
                "plateau": sec["plateau"],
                "early_stopping": sec["early_stopping"],
            }
            variables = dict(p.vars)
            if p.sources["schedule"] != "schedule":  # swept: the template, as written, names
                variables["schedule"] = p.template  # the line of a figure and a table column
            for seed in self.seeds:
                full = copy.deepcopy({**config, "seed": seed})
                tid = config_id(full)
                if tid not in seen:
                    seen.add(tid)
                    out.append(Trial(tid, full, dict(variables)))
        self._trials = out
        return list(out)

    def __repr__(self) -> str:
        return f"Study(name={self.name!r}, trials={self.n_trials})"
