"""Fuzzing the study loader: ``Study.from_dict``, ``Study.from_toml`` and ``Study.trials``.

Valid studies are generated from the documented format (``docs/studies.md``: the tables, grid,
zip, seeds, vars and schedule templates with placeholders), written as TOML by a small writer
below, and mutated as data (keys dropped and added, types swapped, hostile values, deep nesting,
huge numbers) and as text (characters, lines, deep arrays, invalid UTF-8). The contract:

- every problem is a ``SpecError`` (a ``ValueError``) with a message; no other exception and no
  warning escapes (see ``tests/test_fuzz_schedules.py`` for how warnings are caught);
- a valid study loads from its dict and from its TOML text to the same trials; every trial's id
  is the ``config_id`` of its config, ids are unique, and its schedule text round-trips.

``trials()`` loads the data and evaluates each schedule over all its steps, so it is called
only where that is cheap: the data table is the generated one (blobs, 500 training rows) and
no ``train`` integer is in the band ``[10**6, 10**12)`` that would allocate gigabytes. Hostile
values are drawn from outside that band: huge ones must be refused before any allocation.
The profiles are those of ``tests/test_fuzz_schedules.py`` (``LRLAB_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrlab.lab.spec import SpecError, Study, config_id
from lrlab.schedules import parse
from test_fuzz_schedules import FUZZ, HUGE_INTS, call, depths, mutated_data, mutated_text

# -- valid studies --------------------------------------------------------------------------------
TEMPLATES = [
    "constant({lr})",
    "cosine(init={lr}, decay_steps={total_steps})",
    "warmup(cosine(init={lr}, decay_steps={total_steps}), steps={steps_per_epoch})",
    "by_epoch(step_decay(init={lr}, drop=0.5, every=10, offset=1), {steps_per_epoch})",
    "exponential(init={lr}, decay_rate=0.96, decay_steps={steps_per_epoch})",
    "linear(init={lr}, end=0.0, steps={total_steps})",
    "{lr} * inverse_time(init=1.0, decay_rate=0.5, decay_steps={steps_per_epoch})",
    "join([constant({lr}), cosine(init={lr}, decay_steps={total_steps})], [{steps_per_epoch}])",
    "multistep(init={lr}, milestones=[{epochs}, {total_steps}], factor=0.1)",
    "clip(0.5 * cosine(init={lr}, decay_steps={n_train}), floor=0.0)",
]
DATA = {"name": "blobs"}
lrs = st.one_of(st.floats(1e-8, 10.0), st.integers(1, 10), st.sampled_from([1e-300, 1e-7]))
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)


@st.composite
def optimizers(draw: st.DrawFn) -> dict[str, Any]:
    """An optimizer table with hyperparameters from their documented ranges."""
    name = draw(st.sampled_from(["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"]))
    table: dict[str, Any] = {"name": name}
    if name in ("sgd", "rmsprop") and draw(st.booleans()):
        table["momentum"] = draw(st.floats(0.0, 0.99))
    if name in ("adam", "adamw") and draw(st.booleans()):
        table["betas"] = draw(st.lists(st.floats(0.0, 0.999), min_size=2, max_size=2))
    if draw(st.booleans()):
        table["weight_decay"] = draw(st.floats(0.0, 0.1))
    return table


@st.composite
def control(draw: st.DrawFn, plateau: bool) -> dict[str, Any]:
    """A ``[plateau]`` or ``[early_stopping]`` table."""
    table: dict[str, Any] = {
        "monitor": draw(st.sampled_from(["loss", "accuracy", "val_loss", "val_accuracy"])),
        "patience": draw(st.integers(0, 20)),
    }
    if plateau:
        table["factor"] = draw(st.floats(0.01, 0.99))
    else:
        table["min_delta"] = draw(st.floats(0.0, 1.0))
    return table


@st.composite
def studies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid study dict, shaped like the TOML file."""
    d: dict[str, Any] = {
        "data": dict(DATA),
        "model": {"hidden": draw(st.lists(st.integers(1, 64), min_size=1, max_size=3))},
        "train": {"epochs": draw(st.integers(1, 30)), "batch_size": draw(st.integers(1, 600))},
        "seeds": draw(st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=4, unique=True)),
    }
    for key, value in (
        ("name", texts.filter(bool)),
        ("description", texts),
        ("optimizer", optimizers()),
        ("plateau", control(True)),
        ("early_stopping", control(False)),
    ):
        if draw(st.booleans()):
            d[key] = draw(value)
    if draw(st.booleans()):
        d["model"]["activation"] = draw(st.sampled_from(["relu", "tanh", "sigmoid", "linear"]))
    if draw(st.booleans()):
        d["train"]["dtype"] = draw(st.sampled_from(["float32", "float64"]))
    grid_lr = st.lists(lrs, min_size=1, max_size=3)
    how = draw(st.sampled_from(["grid", "vars", "zip", "schedules"]))
    d["schedule"] = draw(st.sampled_from(TEMPLATES))
    if how == "vars":
        d["vars"] = {"lr": draw(lrs)}
    elif how == "zip":
        n = draw(st.integers(1, 3))
        d["zip"] = [
            {
                "lr": draw(st.lists(lrs, min_size=n, max_size=n)),
                "train.batch_size": draw(st.lists(st.integers(1, 600), min_size=n, max_size=n)),
            }
        ]
    else:
        d["grid"] = {"lr": draw(grid_lr)}
        if how == "schedules":
            d["grid"]["schedule"] = draw(
                st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=3)
            )
    return d


# -- a TOML writer for what the generator makes ---------------------------------------------------
def toml_value(v: Any) -> str:
    """One TOML value: strings as basic strings, dicts as inline tables."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return (
            repr(v)
            if math.isfinite(v)
            else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
        )
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return (
            "{"
            + ", ".join(
                f"{toml_value(str(k))} = {toml_value(x)}" for k, x in v.items() if x is not None
            )
            + "}"
        )
    raise TypeError(f"no TOML form for {v!r}")


def to_toml(d: dict[str, Any]) -> str:
    """A study dict as a TOML file: top-level keys, then ``[tables]``, then ``[[zip]]``."""
    lines = [
        f"{toml_value(k)} = {toml_value(v)}"
        for k, v in d.items()
        if not isinstance(v, dict) and k != "zip" and v is not None
    ]
    for k, v in d.items():
        if isinstance(v, dict):
            lines.append(f"[{toml_value(k)}]")
            lines += [
                f"{toml_value(str(f))} = {toml_value(x)}" for f, x in v.items() if x is not None
            ]
    for z in d.get("zip", []) if isinstance(d.get("zip"), list) else []:
        lines.append("[[zip]]")
        lines += [f"{toml_value(str(f))} = {toml_value(x)}" for f, x in z.items()]
    return "\n".join(lines) + "\n"


# -- checks ---------------------------------------------------------------------------------------
def _ints(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return [i for v in value.values() for i in _ints(v)]
    if isinstance(value, list):
        return [i for v in value for i in _ints(v)]
    return []


def affordable(raw: dict[str, Any]) -> bool:
    """Whether ``trials()`` is cheap here: the generated data, and no train size in the band."""
    if raw.get("data") != DATA:
        return False
    sweeps = [raw.get("grid"), *(raw.get("zip") or [])]
    swept = [
        v
        for s in sweeps
        if isinstance(s, dict)
        for k, v in s.items()
        if str(k).startswith(("data.", "train."))
    ]
    return not any(10**6 <= i < 10**12 for i in _ints([raw.get("train"), swept]))


def check_trials(study: Study) -> list[str] | None:
    """The trial ids of ``study`` under the contract (``None``: refused or too costly to try)."""
    if not affordable(study.raw):
        return None
    trials = call(study.trials, allowed=SpecError)
    if trials is None:
        return None
    ids = [t.id for t in trials]
    assert len(set(ids)) == len(ids) <= study.n_trials
    for t in trials:
        assert t.id == config_id(t.config)
        assert repr(parse(t.config["schedule"])) == t.config["schedule"]
    return ids


def load_toml(text: str | bytes, folder: Path) -> Study | None:
    """``Study.from_toml`` of this text under the contract."""
    path = folder / "study.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    return call(Study.from_toml, path, allowed=SpecError)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the module's study files (hypothesis re-runs a test many times)."""
    return tmp_path_factory.mktemp("fuzz-study")


# -- the tests ------------------------------------------------------------------------------------
@FUZZ
@given(studies())
def test_valid_studies_load_the_same_from_dict_and_toml(folder: Path, d: dict[str, Any]) -> None:
    study = Study.from_dict(d)
    ids = check_trials(study)
    assert ids is not None, "a valid study's trials were refused"
    again = Study.from_toml(_write(folder, to_toml(d)))
    assert check_trials(again) == ids
    assert again.seeds == study.seeds and again.n_trials == study.n_trials


def _write(folder: Path, text: str) -> Path:
    path = folder / "valid.toml"
    path.write_text(text, encoding="utf-8")
    return path


PLACEHOLDERS = [
    "{lr[0]}",
    "{lr.real}",
    "{lr!r}",
    "{lr!z}",
    "{lr:>9}",
    "{lr:{lr}}",
    "{0}",
    "{}",
    "{",
    "}",
    "{{lr}}",
    "{lr.__class__}",
    "{lr:" + "9" * 30 + "}",
    "{steps_per_epoch.bit_length}",
    "{é}",
]


@st.composite
def hostile_studies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid study with one targeted hostile change (placeholders, sizes, seeds, nesting)."""
    d = draw(studies())
    what = draw(st.sampled_from(["placeholder", "epochs", "batch", "seeds", "hidden", "nest"]))
    if what == "placeholder":
        d["schedule"] = draw(st.sampled_from(TEMPLATES)).replace(
            "{lr}", draw(st.sampled_from(PLACEHOLDERS)), 1
        )
    elif what in ("epochs", "batch"):
        d["train"]["epochs" if what == "epochs" else "batch_size"] = draw(
            st.sampled_from([0, -1, *HUGE_INTS[1:]])
        )
    elif what == "seeds":
        d["seeds"] = draw(
            st.sampled_from([[], [0, 0], [-1], [2**64], [True], [0.5], list(range(500))])
        )
    elif what == "hidden":
        d["model"]["hidden"] = draw(st.sampled_from([[], [0], [-1], [10**30], [[8]], 8.0, "8"]))
    else:
        value: Any = draw(st.sampled_from([1, "x", {"a": 1}]))
        for _ in range(draw(depths)):
            value = [value] if draw(st.booleans()) else {"k": value}
        d[draw(st.sampled_from(["grid", "vars", "train", "optimizer", "zip"]))] = value
    return d


@FUZZ
@given(st.one_of(hostile_studies(), studies().flatmap(mutated_data)))
def test_mutated_study_dicts(d: Any) -> None:
    study = call(Study.from_dict, d, allowed=SpecError)
    if study is not None:
        check_trials(study)


BAD_BYTES = [b"\xff", b"\xc3(", b"\xef\xbb\xbf", b"\x00", b"\xed\xa0\x80"]


@st.composite
def toml_texts(draw: st.DrawFn) -> str | bytes:
    """The TOML text of a valid study, mutated as text, by lines, or in its bytes."""
    text = to_toml(draw(studies()))
    how = draw(st.sampled_from(["chars", "lines", "deep", "bytes"]))
    if how == "chars":
        return draw(mutated_text(text))
    if how == "lines":
        lines = text.splitlines()
        i = draw(st.integers(0, len(lines) - 1))
        new = draw(
            st.sampled_from(
                [
                    "",
                    "[[zip]]",
                    "[grid]",
                    "epochs = 99999999999999999999",
                    "x = 1e999",
                    lines[i],
                    "[data",
                    "seeds = [",
                    "a.b.c = 1",
                ]
            )
        )
        lines[i : i + draw(st.integers(0, 1))] = [new]
        return "\n".join(lines)
    if how == "deep":
        n = draw(depths)
        key = draw(st.sampled_from(["seeds", "x"]))
        return (
            text + f"\n{key} = " + "[" * n + "1" + "]" * n + "\n"
            if key == "x"
            else f"{key} = " + "[" * n + "]" * n + "\n" + text
        )
    data = text.encode()
    i = draw(st.integers(0, len(data)))
    return data[:i] + draw(st.sampled_from(BAD_BYTES)) + data[i:]


@FUZZ
@given(toml_texts())
def test_mutated_study_files(folder: Path, text: str | bytes) -> None:
    study = load_toml(text, folder)
    if study is not None:
        check_trials(study)
