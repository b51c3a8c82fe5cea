"""The text and data forms: repr / parse, to_dict / from_dict, JSON; property tests; errors."""

from __future__ import annotations

import builtins
import json
import math
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import lrlab.schedules as sch
from conftest import FUNCTIONS, halve_every_third, inv_sqrt_decay
from lrlab.schedules import (
    REGISTRY,
    ScheduleSyntaxError,
    constant,
    cosine,
    custom,
    from_dict,
    from_json,
    join,
    known_names,
    linear,
    parse,
    recurrence,
    warmup,
)

STEPS = np.concatenate([np.arange(0.0, 101.0), [0.5, 2.25, 17.3, 99.9, 150.0]])


def assert_same_numbers(a, b, steps=STEPS):
    np.testing.assert_array_equal(a(steps), b(steps))


def assert_round_trips(s):
    """parse(repr), from_dict(to_dict) and from_json(to_json) all give ``s`` back."""
    text = repr(s)
    back = parse(text, functions=FUNCTIONS)
    assert back == s, text
    assert repr(back) == text
    data = s.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain JSON data
    rebuilt = from_dict(data, functions=FUNCTIONS)
    assert rebuilt == s
    from_text = from_json(s.to_json(), functions=FUNCTIONS)
    assert from_text == s
    for other in (back, rebuilt, from_text):
        assert_same_numbers(other, s)


# -- repr -----------------------------------------------------------------------------------------
REPRS = [
    (cosine(init=0.1, decay_steps=900), "cosine(init=0.1, decay_steps=900)"),
    (
        warmup(cosine(init=0.1, decay_steps=900), steps=100),
        "warmup(cosine(init=0.1, decay_steps=900), steps=100)",
    ),
    (constant(1), "constant(1.0)"),
    (linear(init=1, end=0, steps=4.0), "linear(init=1.0, end=0.0, steps=4)"),
    (0.5 * constant(0.2), "0.5 * constant(0.2)"),
    (-0.5 * constant(0.2), "-0.5 * constant(0.2)"),
    (3 * (2 * constant(1.0)), "3.0 * (2.0 * constant(1.0))"),
    (constant(1.0) * (2 * constant(3.0)), "constant(1.0) * (2.0 * constant(3.0))"),
    (2 * constant(1.0) * constant(3.0), "2.0 * constant(1.0) * constant(3.0)"),
    (
        join([0.1, linear(init=0.1, end=0.0, steps=5)], [3]),
        "join([constant(0.1), linear(init=0.1, end=0.0, steps=5)], boundaries=[3])",
    ),
    (
        cosine(init=1.0, decay_steps=10, past_end="periodic"),
        "cosine(init=1.0, decay_steps=10, past_end='periodic')",
    ),
    (
        sch.exponential(init=1.0, decay_rate=0.5, end=0.1),
        "exponential(init=1.0, decay_rate=0.5, end=0.1)",
    ),
    (custom(inv_sqrt_decay), "custom(fn='conftest:inv_sqrt_decay')"),
    (
        recurrence(halve_every_third, init=0.1, horizon=5),
        "recurrence(fn='conftest:halve_every_third', init=0.1, horizon=5)",
    ),
    (sch.multistep(init=1.0, milestones=[2, 4.5]), "multistep(init=1.0, milestones=[2, 4.5])"),
]


@pytest.mark.parametrize(("s", "text"), REPRS, ids=[t for _, t in REPRS])
def test_repr_is_the_expression_that_builds_it(s, text):
    assert repr(s) == text
    assert parse(text, functions=FUNCTIONS) == s


def test_to_dict_is_plain_nested_data():
    s = warmup(cosine(init=0.1, decay_steps=900), steps=100)
    assert s.to_dict() == {
        "type": "warmup",
        "schedule": {
            "type": "cosine",
            "init": 0.1,
            "decay_steps": 900,
            "alpha": 0.0,
            "end": None,
            "exponent": 1.0,
            "past_end": "clamp",
        },
        "steps": 100,
        "start": 0.0,
        "shape": "linear",
    }
    assert json.loads(s.to_json()) == s.to_dict()
    assert join([0.1, 0.2], [3]).to_dict()["schedules"] == [
        {"type": "constant", "value": 0.1},
        {"type": "constant", "value": 0.2},
    ]


def test_every_representative_schedule_round_trips(schedule_case):
    assert_round_trips(schedule_case[1])


def test_parse_reads_presets_and_positional_arguments():
    assert parse("one_cycle(peak=1.0, total_steps=100)") == sch.one_cycle(1.0, 100)
    assert parse("wsd(1.0, 100, 10, 20, decay='1-sqrt')") == sch.wsd(
        1.0, 100, 10, 20, decay="1-sqrt"
    )
    assert parse("noam(512, 4000)") == sch.noam(512, 4000)
    assert parse("warmup_cosine(1.0, 10, 100)") == sch.warmup_cosine(1.0, 10, 100)
    assert parse("constant(0.1)") == parse("  constant(value=0.1)  ") == constant(0.1)
    assert parse("scale(constant(1.0), factor=2.0)") == 2.0 * constant(1.0)
    assert parse("product(constant(1.0), constant(2.0))") == constant(1.0) * constant(2.0)
    assert parse("cosine(init=1.0, decay_steps=10) / 4") == 0.25 * cosine(init=1.0, decay_steps=10)
    assert parse("join([0.1, 0.01], boundaries=(5,))") == join([0.1, 0.01], [5])


@pytest.mark.parametrize(
    ("text", "value"), [("0.1", 0.1), ("1", 1.0), ("-0.5", -0.5), ("1e-3", 1e-3), ("2 * 0.05", 0.1)]
)
def test_numbers_parse_to_constant_schedules(text, value):
    s = parse(text)
    assert s == constant(value)
    assert s(10) == value


def test_known_names_cover_kinds_and_presets():
    names = known_names()
    assert set(REGISTRY) <= set(names)
    for preset in ("join", "warmup", "one_cycle", "wsd", "warmup_cosine", "noam", "by_epoch"):
        assert preset in names
    for name in names:  # every name the text form calls is public (as itself or its class)
        assert name in sch.__all__ or REGISTRY[name].__name__ in sch.__all__


# -- parse errors ---------------------------------------------------------------------------------
ERRORS = [
    # (text, column (1-based), words the message must contain)
    ("cosin(init=0.1, decay_steps=9)", 1, ["unknown schedule 'cosin'", "did you mean 'cosine'"]),
    ("warmup(cosin(init=0.1, decay_steps=9), steps=5)", 8, ["'cosin'", "'cosine'"]),
    ("wamrup(constant(0.1), steps=5)", 1, ["did you mean 'warmup'"]),
    ("xyzzy(1)", 1, ["unknown schedule 'xyzzy'"]),
    (
        "cosine(init=0.1, decay_step=9)",
        18,
        ["unknown parameter 'decay_step'", "did you mean 'decay_steps'", "init, decay_steps"],
    ),
    ("warmup(constant(0.1), step=5)", 23, ["unknown parameter 'step'", "'steps'"]),
    ("cosine(init=0.1, decay_steps=-5)", 18, ["decay_steps", "-5"]),
    ("cosine(init='a', decay_steps=5)", 8, ["init", "'a'"]),
    ("multistep(init=1.0, milestones=[5, 2])", 21, ["milestones", "[5, 2]"]),
    ("cosine(init=0.1)", 1, ["cosine", "decay_steps"]),
    ("cosine(0.1, 5, 0.0, None, 1.0, 'clamp', 7)", 1, ["cosine", "positional"]),
    ("cosine(init=0.1, decay_steps=9", 7, ["never closed"]),
    ("cosine(init=0.1, decay_steps=9))", 32, ["invalid syntax"]),
    ("constant(0.1) +", 1, ["invalid syntax"]),
    ("cosine", 1, ["unknown name 'cosine'", "cosine(...)"]),
    ("lr", 1, ["unknown name 'lr'"]),
    ("1e400", 1, ["finite", "inf"]),
    ("True", 1, ["expected a schedule"]),
    ("'cosine'", 1, ["expected a schedule"]),
    ("[constant(1.0)]", 1, ["expected a schedule"]),
    ("constant(1.0) / 0", 1, ["divide a schedule by 0"]),
    ("2 / constant(1.0)", 1, ["cannot combine"]),
    ("constant(1.0) + constant(1.0)", 1, ["not allowed"]),
    ("constant(1.0) ** 2", 1, ["not allowed"]),
    ("-constant(1.0)", 1, ["a sign can only stand before a number"]),
    ("constant(*[1.0])", 10, ["not allowed"]),
    ("constant(**{'value': 1.0})", 1, ["'**' is not allowed"]),
    ("os.system('echo hi')", 1, ["not allowed", "os.system"]),
    ("constant(0.1).__class__", 1, ["not allowed"]),
    ("cosine.__init__(None, 0.1, 9)", 1, ["not allowed"]),
    ("[constant(1.0)][0]", 1, ["not allowed"]),
    ("lambda: constant(1.0)", 1, ["not allowed", "lambda"]),
    ("(lambda: 1)()", 1, ["not allowed"]),
    ("__import__('os')", 1, ["unknown schedule '__import__'"]),
    ("eval('1')", 1, ["unknown schedule 'eval'"]),
    ("f'{1}'", 1, ["not allowed"]),
    ("[x for x in [1]]", 1, ["not allowed"]),
    ("(x := 1)", 2, ["not allowed"]),
    ("{'type': 'constant', 'value': 1.0}", 1, ["not allowed"]),
    ("constant(1.0) if 1 else constant(2.0)", 1, ["not allowed"]),
    ("constant(1.0 < 2.0)", 10, ["not allowed"]),
    ("-" * 100_000 + "1", 1, ["nested too deeply"]),
    ("0.5 * " * 3000 + "constant(1.0)", 1, ["nested too deeply"]),
    ("1" + "0" * 400, 1, ["finite"]),
]


@pytest.mark.parametrize(("text", "col", "words"), ERRORS, ids=[e[0][:40] for e in ERRORS])
def test_parse_errors_point_at_the_column_and_name(text, col, words):
    with pytest.raises(ScheduleSyntaxError) as info:
        parse(text)
    err = info.value
    assert isinstance(err, ValueError)
    message = str(err)
    assert message.startswith(f"column {col}:"), message
    assert err.col == col - 1
    for word in words:
        assert word in message, message
    if len(text) < 200:  # the pointer line puts a caret under the column
        lines = message.splitlines()
        assert lines[-2].strip() == text
        assert lines[-1] == "  " + " " * (col - 1) + "^"


def test_parse_needs_a_string():
    with pytest.raises(TypeError, match="str"):
        parse(3)  # type: ignore[arg-type]


def test_parse_runs_no_code(monkeypatch, capsys):
    calls = []

    def boom(*args, **kwargs):
        calls.append(args)
        return constant(1.0)

    monkeypatch.setattr(builtins, "boom", boom, raising=False)
    monkeypatch.setitem(sch.__dict__, "boom", boom)
    texts = [
        "boom()",
        "cosine(init=boom(), decay_steps=1)",
        "(lambda: boom())()",
        "[boom() for _ in [1]]",
        "f'{boom()}'",
        "__import__('this')",
        "__builtins__.boom()",
        "constant(1.0).__class__.__init__(boom())",
        "join([boom()], boundaries=[])",
    ]
    had_this = "this" in sys.modules
    for text in texts:
        with pytest.raises(ScheduleSyntaxError):
            parse(text)
    assert calls == []
    assert ("this" in sys.modules) == had_this  # 'import this' would print the Zen of Python
    assert capsys.readouterr().out == ""


def test_parse_never_imports_a_function_unless_asked():
    had_this = "this" in sys.modules
    with pytest.raises(ScheduleSyntaxError) as info:
        parse("custom(fn='this:s')")
    assert ("this" in sys.modules) == had_this
    message = str(info.value)
    assert message.startswith("column 8:")
    assert "'this:s'" in message and "functions=" in message and "allow_import=True" in message


def test_custom_by_name_needs_functions_or_allow_import():
    text = "custom(fn='math:cos')"
    with pytest.raises(ValueError, match=r"functions=\{'math:cos': fn\}"):
        parse(text)
    by_map = parse(text, functions={"math:cos": math.cos})
    by_import = parse(text, allow_import=True)
    assert by_map == by_import == custom(math.cos)
    assert by_import(0.5) == math.cos(0.5)
    assert repr(by_import) == text
    with pytest.raises(ValueError, match="module:qualname"):
        parse("custom(fn='cos')", allow_import=True)
    with pytest.raises(ValueError, match="not callable"):
        parse("custom(fn='math:pi')", allow_import=True)


# -- from_dict errors -----------------------------------------------------------------------------
DATA_ERRORS = [
    ({"type": "cosin", "init": 0.1}, ["unknown type 'cosin'", "cosine"]),
    ({"init": 0.1}, ["unknown type None"]),
    ([1, 2], ["must be a mapping", "[1, 2]"]),
    (
        {"type": "cosine", "init": 0.1, "decay_step": 9},
        ["cosine", "unknown parameter 'decay_step'"],
    ),
    ({"type": "cosine", "init": 0.1}, ["cosine", "'decay_steps'"]),
    ({"type": "cosine", "init": 0.1, "decay_steps": -1}, ["decay_steps", "-1"]),
    (
        {"type": "warmup", "schedule": {"type": "nope"}, "steps": 3},
        ["schedule data.schedule", "unknown type 'nope'"],
    ),
    (
        {"type": "join", "schedules": [{"type": "constant", "value": 1.0}, "x"], "boundaries": [1]},
        ["schedules[1]", "must be a schedule", "'x'"],
    ),
    ({"type": "custom", "fn": "math:cos"}, ["'math:cos'", "functions="]),
]


@pytest.mark.parametrize(("data", "words"), DATA_ERRORS, ids=[str(d)[:50] for d, _ in DATA_ERRORS])
def test_from_dict_errors_are_value_errors_that_name_the_problem(data, words):
    with pytest.raises(ValueError) as info:
        from_dict(data)
    for word in words:
        assert word in str(info.value), str(info.value)


def test_from_dict_custom_with_functions_or_import():
    data = custom(math.cos).to_dict()
    assert data == {"type": "custom", "fn": "math:cos", "vectorized": False}
    assert from_dict(data, allow_import=True) == custom(math.cos)
    assert from_dict(data, functions={"math:cos": math.cos}) == custom(math.cos)
    assert from_json(json.dumps(data), allow_import=True) == custom(math.cos)


# -- property tests -------------------------------------------------------------------------------
rates = st.floats(1e-4, 10.0)
small = st.floats(0.0, 1.0)
horizons = st.one_of(st.integers(1, 150), st.floats(0.5, 150.0))
offsets = st.one_of(st.integers(0, 5), st.floats(0.0, 5.0))
boundary = st.one_of(st.integers(0, 120), st.floats(0.0, 120.0))


def _sorted_list(elements, min_size=0, max_size=4):
    return st.lists(elements, min_size=min_size, max_size=max_size).map(sorted)


@st.composite
def piecewise(draw):
    bounds = draw(_sorted_list(boundary))
    values = draw(st.lists(rates, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    return sch.piecewise_constant(bounds, values, draw(st.sampled_from(["at", "after"])))


@st.composite
def cosine_floor(draw):
    """Keyword arguments for the floor of cosine / cosine_restarts: alpha, end or neither."""
    pick = draw(st.sampled_from(["none", "alpha", "end"]))
    if pick == "alpha":
        return {"alpha": draw(small)}
    if pick == "end":
        return {"end": draw(rates)}
    return {}


@st.composite
def cosines(draw):
    kw = draw(cosine_floor())
    return sch.cosine(
        init=draw(rates),
        decay_steps=draw(horizons),
        exponent=draw(st.floats(0.25, 4.0)),
        past_end=draw(st.sampled_from(["clamp", "periodic"])),
        **kw,
    )


@st.composite
def restarts(draw):
    kw = draw(cosine_floor())
    return sch.cosine_restarts(
        init=draw(rates),
        first_period=draw(horizons),
        t_mul=draw(st.floats(1.0, 3.0)),
        m_mul=draw(st.floats(0.0, 1.5)),
        **kw,
    )


@st.composite
def presets(draw):
    which = draw(
        st.sampled_from(["one_cycle", "momentum", "fastai", "warmup_cosine", "wsd", "noam"])
    )
    total = draw(st.integers(20, 200))
    try:
        if which in ("one_cycle", "momentum"):
            convention = draw(st.sampled_from(["torch", "optax", "fastai"]))
            three = convention == "torch" and draw(st.booleans())
            common = {
                "total_steps": total,
                "pct_start": draw(st.floats(0.1, 0.9)),
                "anneal": draw(st.sampled_from(["cos", "linear"])),
                "three_phase": three,
                "convention": convention,
            }
            if which == "momentum":
                return sch.one_cycle_momentum(**common)
            return sch.one_cycle(draw(rates), div_factor=draw(st.floats(1.0, 100.0)), **common)
        if which == "fastai":
            return sch.one_cycle_fastai(draw(rates), total)
        if which == "warmup_cosine":
            return sch.warmup_cosine(
                draw(rates), draw(st.integers(0, total - 1)), total, end=draw(small)
            )
        if which == "wsd":
            w = draw(st.integers(0, total // 2))
            d = draw(st.integers(1, total - w))
            decay = draw(st.sampled_from(["linear", "cosine", "1-sqrt"]))
            return sch.wsd(draw(rates), total, w, d, decay=decay)
        return sch.noam(draw(st.integers(8, 1024)), draw(st.integers(1, 100)))
    except ValueError:
        assume(False)  # an invalid combination (e.g. an empty one-cycle phase): draw again
        raise  # pragma: no cover


families = st.one_of(
    st.builds(sch.constant, rates),
    st.builds(sch.linear, init=rates, end=rates, steps=horizons),
    st.builds(
        sch.polynomial,
        init=rates,
        decay_steps=horizons,
        end=small,
        power=st.floats(0.1, 4.0),
        cycle=st.booleans(),
    ),
    st.builds(
        sch.inverse_time,
        init=rates,
        decay_rate=st.floats(0.0, 5.0),
        decay_steps=horizons,
        staircase=st.booleans(),
    ),
    st.builds(sch.keras2_decay, lr=rates, decay=st.floats(0.0, 1.0)),
    st.builds(sch.step_decay, init=rates, drop=st.floats(0.0, 1.5), every=horizons, offset=offsets),
    st.builds(
        sch.multistep,
        init=rates,
        milestones=_sorted_list(boundary),
        factor=st.floats(0.0, 2.0),
        switch=st.sampled_from(["at", "after"]),
    ),
    piecewise(),
    st.builds(
        sch.exponential,
        init=rates,
        decay_rate=st.floats(0.05, 1.5),
        decay_steps=st.one_of(st.integers(1, 100), st.floats(1.0, 100.0)),
        staircase=st.booleans(),
        end=st.none() | rates,
    ),
    cosines(),
    restarts(),
    st.builds(
        sch.cyclic,
        base=rates,
        peak=rates,
        step_size_up=horizons,
        step_size_down=st.none() | horizons,
        mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
        gamma=st.floats(0.5, 1.0),
    ),
    st.builds(sch.inverse_sqrt, peak=rates, warmup_steps=horizons, offset=offsets),
    st.builds(sch.one_minus_sqrt, init=rates, decay_steps=horizons, end=small),
    st.sampled_from([custom(inv_sqrt_decay), custom(inv_sqrt_decay, vectorized=True)]),
    st.builds(
        sch.recurrence,
        st.just(halve_every_third),
        init=rates,
        horizon=st.none() | st.integers(1, 60),
    ),
)


@st.composite
def joins(draw, children):
    pieces = draw(st.lists(children | rates, min_size=1, max_size=3))
    bounds = draw(
        st.lists(boundary, min_size=len(pieces) - 1, max_size=len(pieces) - 1, unique=True).map(
            sorted
        )
    )
    return sch.join(pieces, bounds)


@st.composite
def clips(draw, children):
    lo, hi = sorted(draw(st.lists(rates, min_size=2, max_size=2)))
    which = draw(st.sampled_from(["floor", "ceiling", "both"]))
    return sch.clip(
        draw(children),
        floor=lo if which != "ceiling" else None,
        ceiling=hi if which != "floor" else None,
    )


def _compose(children):
    return st.one_of(
        joins(children),
        st.builds(
            sch.warmup,
            children,
            steps=horizons,
            start=st.floats(1e-3, 1.0),
            shape=st.sampled_from(["linear", "cosine", "exponential"]),
        ),
        st.builds(lambda s, f: f * s, children, st.floats(0.01, 10.0)),
        st.builds(lambda a, b: a * b, children, children),
        clips(children),
        st.builds(sch.shift, children, st.one_of(st.integers(-50, 50), st.floats(-50.0, 50.0))),
        st.builds(sch.by_epoch, children, horizons, st.booleans()),
    )


compositions = st.recursive(families | presets(), _compose, max_leaves=6)

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(families)
def test_every_family_round_trips(s):
    assert_round_trips(s)


@PROPERTY
@given(presets())
def test_presets_round_trip(s):
    assert_round_trips(s)


@PROPERTY
@given(compositions)
def test_random_compositions_round_trip(s):
    assert_round_trips(s)
