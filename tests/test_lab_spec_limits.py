"""Study specs: bounded cost of the checks, placeholder syntax, nesting, keys, relative paths."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pytest

import lrlab.lab.spec as spec_module
from lrlab.lab.spec import SpecError, Study

BASE = {
    "data": {"name": "blobs"},
    "model": {"hidden": [8]},
    "train": {"epochs": 2, "batch_size": 32},
    "optimizer": {"name": "sgd"},
    "schedule": "constant({lr})",
    "grid": {"lr": [0.1]},
}
KNOWN = "lr, steps_per_epoch, total_steps, epochs, batch_size, n_train"


def spec(**changes):
    d = copy.deepcopy(BASE)
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def toml_study(folder: Path, body: str, name: str = "s.toml") -> Path:
    p = folder / name
    p.write_text(
        'schedule = "constant({lr})"\n[model]\nhidden = [4]\n'
        "[train]\nepochs = 1\nbatch_size = 64\n[grid]\nlr = [0.1]\n" + body
    )
    return p


# -- placeholders are plain names ----------------------------------------------------------------
@pytest.mark.parametrize(
    "placeholder", ["{lr[0]}", "{lr.__class__}", "{lr!r}", "{lr:>10}", "{lr:{lr}}", "{}", "{0}"]
)
def test_a_placeholder_must_be_a_plain_variable_name(placeholder):
    template = f"constant({placeholder})"
    with pytest.raises(SpecError) as exc:
        Study.from_dict(spec(schedule=template))  # refused when built, before any data
    assert str(exc.value) == (
        f"schedule: placeholder {placeholder} in {template!r} must be a plain variable name "
        f"(allowed: {KNOWN})"
    )


def test_a_swept_schedule_names_its_own_path_for_a_bad_placeholder():
    d = spec(grid={"lr": [0.1], "schedule": ["constant({lr})", "constant({lr[0]})"]})
    with pytest.raises(SpecError, match=r"^grid\.schedule\[1\]: placeholder \{lr\[0\]\} in "):
        Study.from_dict(d)


# -- the number of optimizer steps is bounded, and the rate check works in blocks ----------------
def test_an_absurd_epoch_count_is_refused_before_any_data():
    with pytest.raises(SpecError) as exc:
        Study.from_dict(spec(train={"epochs": 1_000_000_000_000, "batch_size": 32}))
    assert str(exc.value) == (
        "train.epochs: must be an integer from 1 to 10000000, got 1000000000000"
    )


def test_the_total_step_count_is_limited_once_the_data_is_known():
    # blobs: 500 training rows; batch_size 1 -> 500 steps per epoch
    d = spec(train={"epochs": 20_001, "batch_size": 1})
    with pytest.raises(SpecError) as exc:
        Study.from_dict(d).trials()
    assert str(exc.value) == (
        "train.epochs: 20001 epochs x 500 steps per epoch = 10000500 optimizer steps, "
        "more than the limit of 10000000"
    )
    d = spec(train={"epochs": 3, "batch_size": 1}, grid={"lr": [0.1], "train.epochs": [2, 20_001]})
    with pytest.raises(SpecError, match=r'^grid\."train\.epochs"\[1\]: 20001 epochs x 500'):
        Study.from_dict(d).trials()


def test_the_limit_itself_is_allowed():
    d = spec(train={"epochs": 20_000, "batch_size": 1})  # exactly 10,000,000 steps
    [t] = Study.from_dict(d).trials()
    assert t.config["train"]["epochs"] == 20_000


class _Spy:
    """A schedule stand-in: 0.1 before ``bad``, -1 from ``bad`` on; records each call's size."""

    def __init__(self, bad: int) -> None:
        self.bad, self.sizes = bad, []

    def __call__(self, t: np.ndarray) -> np.ndarray:
        self.sizes.append(int(np.size(t)))
        return np.where(np.asarray(t) >= self.bad, -1.0, 0.1)

    def __repr__(self) -> str:
        return "spy"


def test_rates_are_checked_in_bounded_blocks_up_to_the_first_bad_one():
    from lrlab.lab._spec_checks import RATE_BLOCK, _check_rates

    spy = _Spy(bad=10**9)
    _check_rates(spy, 3 * RATE_BLOCK + 5, "schedule", {})
    assert max(spy.sizes) <= RATE_BLOCK
    assert sum(spy.sizes) == 3 * RATE_BLOCK + 5  # every step, once
    spy = _Spy(bad=RATE_BLOCK + 7)
    with pytest.raises(
        SpecError, match=rf"^schedule: spy gives .* -1\.0 at step {RATE_BLOCK + 7} \("
    ):
        _check_rates(spy, 50 * RATE_BLOCK, "schedule", {})
    assert len(spy.sizes) == 2  # stopped at the block that holds the first bad step


def test_the_block_check_finds_exactly_the_first_bad_step_of_a_real_schedule():
    from lrlab.lab._spec_checks import RATE_BLOCK, _check_rates
    from lrlab.schedules import parse

    b = RATE_BLOCK + 3
    s = parse(f"piecewise_constant(boundaries=[{b}], values=[0.1, -0.5])")
    with pytest.raises(SpecError, match=rf"-0\.5 at step {b} \("):
        _check_rates(s, 2 * RATE_BLOCK, "schedule", {})
    _check_rates(s, b, "schedule", {})  # steps 0 .. b - 1 are all fine
    with pytest.raises(SpecError, match=rf"at step {b} \("):
        _check_rates(s, b + 1, "schedule", {})


def test_an_overflowing_schedule_is_a_spec_error_and_no_warning():
    """NumPy's overflow warning is not the message: the non-finite rate is reported instead."""
    d = spec(schedule="exponential(init={lr}, decay_rate=1e10, decay_steps=1e-300)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SpecError, match=r"gives the learning rate inf at step 1"):
            Study.from_dict(d).trials()


# -- nesting -------------------------------------------------------------------------------------
def test_deeply_nested_toml_is_a_spec_error(tmp_path):
    p = tmp_path / "deep.toml"
    p.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SpecError) as exc:
        Study.from_toml(p)
    assert str(exc.value).startswith(f"{p}: ")
    assert "nested more than 32 levels" in str(exc.value)


def test_nesting_the_parser_accepts_is_still_bounded(tmp_path):
    p = toml_study(tmp_path, '[data]\nname = "blobs"\n')
    p.write_text(p.read_text().replace("lr = [0.1]", "lr = " + "[" * 40 + "0.1" + "]" * 40))
    with pytest.raises(SpecError) as exc:
        Study.from_toml(p)
    assert str(exc.value).startswith("grid.lr[0][0][0]")
    assert str(exc.value).endswith("nested more than 32 levels of tables and arrays")


def test_deep_or_cyclic_dicts_are_spec_errors():
    deep: list = [0.1]
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(SpecError, match=r"^grid\.lr\[0\].*nested more than 32 levels"):
        Study.from_dict(spec(grid={"lr": deep}))
    cyclic = spec()
    cyclic["vars"] = {"lr": 0.1}
    cyclic["vars"]["again"] = cyclic["vars"]
    with pytest.raises(SpecError, match="nested more than 32 levels"):
        Study.from_dict(cyclic)


def test_a_deep_value_that_is_not_a_table_is_a_spec_error():
    deep: list = [1]
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(SpecError) as exc:
        Study.from_dict(deep)
    assert str(exc.value) == "a study must be a table of fields, got [[[[[[[...]]]]]]]"


# -- trial count before any per-trial work, and linear checks -----------------------------------
def test_too_many_seeds_fail_before_the_seeds_are_checked(monkeypatch):
    def not_yet(*args, **kwargs):
        raise AssertionError("per-seed work before the trial-count limit")

    monkeypatch.setattr(spec_module, "_int", not_yet)
    monkeypatch.setattr(Study, "_expand", not_yet)
    with pytest.raises(SpecError) as exc:
        Study.from_dict(spec(seeds=list(range(200_000))))
    assert str(exc.value) == (
        "grid: expands to 200000 trials (1 config x 200000 seeds), more than the limit of 100000"
    )


def test_a_long_grid_fails_before_its_values_are_checked(monkeypatch):
    def not_yet(*args, **kwargs):
        raise AssertionError("per-value work before the trial-count limit")

    monkeypatch.setattr(spec_module, "_scalar", not_yet)
    d = spec(grid={"lr": [0.1] * 1000}, zip=[{"optimizer.momentum": [0.0] * 201}])
    with pytest.raises(SpecError, match=r"^grid: expands to 201000 trials \(201000 configs x 1"):
        Study.from_dict(d)


def test_the_duplicate_seed_check_is_linear(monkeypatch):
    calls = [0]

    class CountingInt(int):
        def __eq__(self, other: object) -> bool:
            calls[0] += 1
            return int(self) == other

        __hash__ = int.__hash__

    real = spec_module._int
    monkeypatch.setattr(spec_module, "_int", lambda *a, **k: CountingInt(real(*a, **k)))
    n = 1000
    study = Study.from_dict(spec(seeds=list(range(n))))
    assert len(study.seeds) == n
    assert calls[0] <= n  # a pairwise check would compare n * (n - 1) / 2 times
    with pytest.raises(SpecError, match=r"^seeds\[3\]: repeats seed 1$"):
        Study.from_dict(spec(seeds=[0, 1, 2, 1, 0]))


def test_sections_are_not_serialised_once_per_grid_point(monkeypatch):
    import json

    written = [0]

    class CountingJson:
        @staticmethod
        def dumps(obj, **kwargs):
            text = json.dumps(obj, **kwargs)
            written[0] += len(text)
            return text

    monkeypatch.setattr(spec_module, "json", CountingJson)
    big = {"name": "csv", "path": "rows.csv", "target": "y", "class_names": ["c"] * 20_000}
    d = spec(data=big, grid={"lr": [0.1 * i for i in range(1, 101)]})
    Study.from_dict(d)  # 100 points, each with the same 100 KB [data] table
    assert written[0] < 100_000  # the table is normalised once, not keyed 100 times


# -- wrong types and out-of-range values ---------------------------------------------------------
@pytest.mark.parametrize(
    ("d", "message"),
    [
        (spec(grid={1: [0.1]}), "grid: keys must be strings, got 1"),
        (spec(vars={None: 0.1}), "vars: keys must be strings, got None"),
        ({**spec(), (1,): 2}, "keys must be strings, got (1,)"),
        (spec(zip=[{1: [2]}]), "zip[0]: keys must be strings, got 1"),
        (
            spec(seeds=[2**63]),
            "seeds[0]: must be an integer from -2**63 to 2**63 - 1, got an integer of 64 bits",
        ),
        (  # a NumPy integer may exceed 64 signed bits: the seed's own limit catches it
            spec(seeds=[np.uint64(2**63)]),
            "seeds[0]: must be an integer from 0 to 9223372036854775807, got ",
        ),
        (
            spec(train={"epochs": 1, "batch_size": 8, "data_seed": np.uint64(2**64 - 1)}),
            "train.data_seed: must be an integer from 0 to 9223372036854775807, got ",
        ),
    ],
)
def test_bad_keys_and_out_of_range_integers(d, message):
    with pytest.raises(SpecError) as exc:
        Study.from_dict(d)
    assert str(exc.value).startswith(message)
    assert str(exc.value) == message or message.endswith("got ")


@pytest.mark.parametrize(
    ("d", "path"),
    [
        (spec(optimizer={"name": "adam", "eps": 10**400}), "optimizer.eps"),
        (spec(plateau={"min_lr": 10**400}), "plateau.min_lr"),
        (spec(early_stopping={"baseline": -(10**400)}), "early_stopping.baseline"),
        (spec(data={"name": "blobs", "cluster_std": 10**400}), "data.cluster_std"),
        (spec(grid={"lr": [0.1], "optimizer.momentum": [2**63]}), 'grid."optimizer.momentum"[0]'),
        (spec(vars={"lr": 10**5000}, grid=None), "vars.lr"),
    ],
)
def test_integers_beyond_64_bits_are_spec_errors(d, path):
    with pytest.raises(SpecError) as exc:
        Study.from_dict(d).trials()
    bits = (d.get("vars") or {}).get("lr", 0)
    assert str(exc.value).startswith(f"{path}: must be an integer from -2**63 to 2**63 - 1")
    if bits:  # too long to print: its size instead
        assert str(exc.value).endswith("got an integer of 16610 bits")


def test_override_with_a_bad_path():
    study = Study.from_dict(spec())
    with pytest.raises(SpecError, match=r"^override: a field path must be a string, got 3$"):
        study.override({3: 1})


def test_a_big_study_file_is_refused_without_reading_it_all(tmp_path, monkeypatch):
    p = toml_study(tmp_path, '[data]\nname = "blobs"\n' + "# é" * 2000 + "\n")
    data = p.read_bytes()
    cut = data.index("é".encode()) + 1  # the limit ends inside a two-byte character
    monkeypatch.setattr(spec_module, "MAX_FILE_BYTES", cut - 1)
    with pytest.raises(SpecError) as exc:
        Study.from_toml(p)
    assert str(exc.value) == f"{p}: larger than the limit of {cut - 1} bytes"


# -- a relative data path is the study file's ----------------------------------------------------
def _csv(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{i % 7}.5,{(i * 3) % 5}.25,{'ab'[i % 2]}" for i in range(40)]
    path.write_text("x1,x2,y\n" + "\n".join(rows) + "\n")
    return path


def test_a_relative_data_path_is_relative_to_the_study_file(tmp_path, monkeypatch):
    data = _csv(tmp_path / "studies" / "data" / "rows.csv")
    body = '[data]\nname = "csv"\npath = "data/rows.csv"\ntarget = "y"\n'
    p = toml_study(tmp_path / "studies", body)
    monkeypatch.chdir(tmp_path)  # the data is not at ./data/rows.csv
    study = Study.from_toml("studies/s.toml")
    [t] = study.trials()
    assert t.config["data"]["path"] == str(data.resolve())
    assert study.raw["data"]["path"] == str(data.resolve())  # what the store records
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a resume from another folder finds the same trials
    assert [t.id for t in Study.from_toml(p).trials()] == [t.id]
    assert [t.id for t in Study.from_toml("../studies/s.toml").trials()] == [t.id]


def test_swept_relative_paths_resolve_too_and_absolute_ones_stay(tmp_path):
    a = _csv(tmp_path / "a.csv")
    b = _csv(tmp_path / "other" / "b.csv")
    body = (
        '[data]\nname = "csv"\ntarget = "y"\n'
        f'[[zip]]\n"data.path" = ["a.csv", "{b}"]\n"train.batch_size" = [8, 16]\n'
    )
    study = Study.from_toml(toml_study(tmp_path, body))
    assert study.raw["zip"][0]["data.path"] == [str(a.resolve()), str(b)]
    assert [t.config["data"]["path"] for t in study.trials()] == [str(a.resolve()), str(b)]


def test_a_dict_study_keeps_its_relative_path(tmp_path, monkeypatch):
    _csv(tmp_path / "rows.csv")
    monkeypatch.chdir(tmp_path)
    d = spec(data={"name": "csv", "path": "rows.csv", "target": "y"})
    [t] = Study.from_dict(d).trials()
    assert t.config["data"]["path"] == "rows.csv"


def test_the_limits_are_what_the_docs_state():
    assert spec_module.MAX_TRIALS == 100_000
    assert spec_module.MAX_TOTAL_STEPS == 10_000_000
    assert spec_module.MAX_NESTING == 32
    assert spec_module.MAX_SEED == 2**63 - 1
    assert spec_module.MAX_FILE_BYTES == 16 * 2**20
