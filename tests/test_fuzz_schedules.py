"""Fuzzing the schedule readers: ``parse`` (the text form) and ``from_dict`` (the data form).

Valid inputs are generated from the documented grammar (every registered kind with its
parameters, the presets, composition by ``*`` and nesting), then mutated: characters and tokens
deleted, inserted and replaced, types swapped, keys dropped and added, values made huge, tiny,
NaN, infinite, unicode or control characters, and expressions nested deeply. The contract:

- ``parse`` returns a schedule or raises ``ScheduleSyntaxError`` (a ``ValueError``);
- ``from_dict`` returns a schedule or raises ``ValueError``;
- no other exception (``TypeError``, ``RecursionError``, ``OverflowError``, ``MemoryError``, ...)
  and no warning escapes (warnings are recorded, not turned into errors: an error filter would
  make ``ast.parse`` turn a ``SyntaxWarning`` into the ``SyntaxError`` that ``parse`` reports,
  and hide it);
- an error message is not empty;
- whatever is read round-trips: ``parse(repr(s)) == s``, ``from_dict(s.to_dict()) == s`` and
  ``from_json(s.to_json()) == s``, and the text and data forms of one input agree.

CI runs the derandomized ``lrlab-fuzz-ci`` profile (a fixed set of examples, so a red build is
caused by the change under test, not by a new random draw). ``LRLAB_FUZZ_EXAMPLES=10000``
switches to the random ``lrlab-fuzz-campaign`` profile with that many examples per test
(``--hypothesis-seed=N`` repeats a campaign); see ``docs/reliability.md``.
"""

from __future__ import annotations

import math
import os
import re
import reprlib
import warnings
from collections.abc import Callable
from typing import Any

from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from conftest import FUNCTIONS
from lrlab.schedules import (
    Schedule,
    ScheduleSyntaxError,
    by_epoch,
    clip,
    constant,
    from_dict,
    from_json,
    join,
    known_names,
    parse,
    shift,
    warmup,
)

# -- profiles -------------------------------------------------------------------------------------
EXAMPLES_ENV = "LRLAB_FUZZ_EXAMPLES"
CI_EXAMPLES = 300


def _campaign_examples() -> int | None:
    """The example count of ``LRLAB_FUZZ_EXAMPLES`` (``None``: unset, the CI profile)."""
    raw = os.environ.get(EXAMPLES_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{EXAMPLES_ENV} must be a positive integer, got {raw!r}")
    return int(raw)


#: no "explain" phase: it re-runs a failing example many times to annotate lines, which takes
#: minutes on deep inputs and adds nothing to the shrunk example and its traceback
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
settings.register_profile(
    "lrlab-fuzz-ci",
    max_examples=CI_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=PHASES,
)
settings.register_profile(
    "lrlab-fuzz-campaign",
    max_examples=_campaign_examples() or CI_EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    phases=PHASES,
)
#: the settings every fuzz test runs with (profiles are registered, never loaded globally)
FUZZ = settings.get_profile(
    "lrlab-fuzz-campaign" if _campaign_examples() is not None else "lrlab-fuzz-ci"
)


def call(fn: Callable[..., Any], *args: Any, allowed: type[Exception], **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or ``None`` where it raised ``allowed`` with a message.

    Any other exception propagates (the test fails on it) and any warning fails the test.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(*args, **kwargs)
        except allowed as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"
            result = None
    escaped = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught]
    assert not escaped, f"warnings escaped: {escaped}"
    return result


# -- hostile values -------------------------------------------------------------------------------
HUGE_INTS = [2**31, 2**53 + 1, 2**63, 2**64, 10**30, 10**308, 10**400]
ODD_FLOATS = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1e-300, 1e300, 1.7976931348623157e308]
ODD_STRINGS = ["", " ", "x", "é", "\x00", "\x1b[2J", "\u202e", "\ud7ff", "💥", "a" * 5000, "{lr}"]
hostile = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 1, *HUGE_INTS, *ODD_FLOATS, *ODD_STRINGS]),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.just([]),
    st.just({}),
)
#: depths at which the parser, repr and the readers used to meet Python's limits
depths = st.one_of(
    st.integers(1, 60), st.sampled_from([99, 100, 101, 199, 200, 201, 500, 1000, 3000])
)


# -- valid schedule data from the grammar ---------------------------------------------------------
rates = st.one_of(st.floats(1e-6, 10.0), st.integers(0, 10), st.sampled_from([1e-300, 1e300]))
reals = st.one_of(rates, st.floats(-10.0, 10.0), st.sampled_from([-0.0, -1e300]))
unit = st.floats(0.0, 1.0)
counts = st.one_of(
    st.integers(1, 10**6), st.floats(1e-3, 1e6), st.sampled_from([2**53, 2**53 + 1, 1e300])
)
starts = st.one_of(st.integers(0, 10**6), st.floats(0.0, 1e6))
fn_names = st.sampled_from(sorted(FUNCTIONS))


def _sorted(elements: st.SearchStrategy[Any], lo: int, hi: int) -> st.SearchStrategy[list[Any]]:
    return st.lists(elements, min_size=lo, max_size=hi, unique=True).map(sorted)


@st.composite
def family(draw: st.DrawFn) -> dict[str, Any]:
    """A registered family (no children) with parameters drawn from their documented domains."""
    kind = draw(st.sampled_from(sorted(_FAMILIES)))
    required, optional = _FAMILIES[kind](draw)
    kept = {k: v for k, v in optional.items() if draw(st.booleans())}
    return {"type": kind, **required, **kept}


def _floor(draw: st.DrawFn) -> dict[str, Any]:
    return draw(st.sampled_from([{}, {"alpha": draw(unit)}, {"end": draw(rates)}]))


_FAMILIES: dict[str, Callable[[st.DrawFn], tuple[dict[str, Any], dict[str, Any]]]] = {
    "constant": lambda d: ({"value": d(reals)}, {}),
    "linear": lambda d: ({"init": d(reals), "end": d(reals), "steps": d(counts)}, {}),
    "polynomial": lambda d: (
        {"init": d(rates), "decay_steps": d(counts)},
        {"end": d(unit), "power": d(st.floats(0.1, 4.0)), "cycle": d(st.booleans())},
    ),
    "inverse_time": lambda d: (
        {"init": d(rates), "decay_rate": d(rates)},
        {"decay_steps": d(counts), "staircase": d(st.booleans())},
    ),
    "keras2_decay": lambda d: ({"lr": d(rates), "decay": d(rates)}, {}),
    "step_decay": lambda d: (
        {"init": d(rates), "drop": d(unit), "every": d(counts)},
        {"offset": d(starts)},
    ),
    "multistep": lambda d: (
        {"init": d(rates), "milestones": d(_sorted(starts, 0, 4))},
        {"factor": d(unit), "switch": d(st.sampled_from(["at", "after"]))},
    ),
    "piecewise_constant": lambda d: _piecewise(d),
    "exponential": lambda d: (
        {"init": d(rates), "decay_rate": d(st.floats(0.01, 2.0))},
        {"decay_steps": d(counts), "staircase": d(st.booleans()), "end": d(rates)},
    ),
    "cosine": lambda d: (
        {"init": d(rates), "decay_steps": d(counts), **_floor(d)},
        {
            "exponent": d(st.floats(0.25, 4.0)),
            "past_end": d(st.sampled_from(["clamp", "periodic"])),
        },
    ),
    "cosine_restarts": lambda d: (
        {"init": d(rates), "first_period": d(counts), **_floor(d)},
        {"t_mul": d(st.floats(1.0, 4.0)), "m_mul": d(unit)},
    ),
    "cyclic": lambda d: (
        {"base": d(rates), "peak": d(rates), "step_size_up": d(counts)},
        {
            "step_size_down": d(counts),
            "mode": d(st.sampled_from(["triangular", "triangular2", "exp_range"])),
            "gamma": d(st.floats(0.01, 1.0)),
        },
    ),
    "inverse_sqrt": lambda d: (
        {"peak": d(rates), "warmup_steps": d(counts)},
        {"offset": d(starts)},
    ),
    "one_minus_sqrt": lambda d: ({"init": d(rates), "decay_steps": d(counts)}, {"end": d(unit)}),
    "custom": lambda d: ({"fn": d(fn_names)}, {"vectorized": d(st.booleans())}),
    "recurrence": lambda d: (
        {"fn": d(fn_names), "init": d(rates)},
        {"horizon": d(st.integers(1, 10**6))},
    ),
}


def _piecewise(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    bounds = draw(_sorted(starts, 0, 4))
    values = draw(st.lists(rates, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    return {"boundaries": bounds, "values": values}, {
        "switch": draw(st.sampled_from(["at", "after"]))
    }


def _compose(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def composite(draw: st.DrawFn) -> dict[str, Any]:
        kind = draw(
            st.sampled_from(["join", "warmup", "scale", "product", "clip", "shift", "by_epoch"])
        )
        child = draw(children)
        if kind == "join":
            pieces = [child, *draw(st.lists(children, max_size=2))]
            bounds = draw(_sorted(starts, len(pieces) - 1, len(pieces) - 1))
            return {"type": "join", "schedules": pieces, "boundaries": bounds}
        if kind == "warmup":
            shape = draw(st.sampled_from(["linear", "cosine", "exponential"]))
            start = draw(st.floats(1e-6, 1.0)) if shape == "exponential" else draw(rates)
            return {
                "type": kind,
                "schedule": child,
                "steps": draw(counts),
                "start": start,
                "shape": shape,
            }
        if kind == "scale":
            return {"type": kind, "schedule": child, "factor": draw(reals)}
        if kind == "product":
            return {"type": kind, "left": child, "right": draw(children)}
        if kind == "clip":
            lo, hi = sorted(draw(st.lists(reals, min_size=2, max_size=2)))
            which = draw(
                st.sampled_from([{"floor": lo}, {"ceiling": hi}, {"floor": lo, "ceiling": hi}])
            )
            return {"type": kind, "schedule": child, **which}
        if kind == "shift":
            return {"type": kind, "schedule": child, "steps": draw(reals)}
        return {
            "type": kind,
            "schedule": child,
            "steps_per_epoch": draw(counts),
            "fractional": draw(st.booleans()),
        }

    return composite()


schedule_data = st.recursive(family(), _compose, max_leaves=6)


# -- the text form of schedule data (written without building the schedule) -----------------------
def literal(value: Any) -> str:
    """A value as the text form writes it (non-finite floats as the overflowing literal)."""
    if isinstance(value, dict):
        return render(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "1e999" if value > 0 else ("-1e999" if value < 0 else "(1e999 * 0)")
    return repr(value)


def render(data: dict[str, Any]) -> str:
    """``data`` (``to_dict`` form) as a call, ``kind(param=value, ...)``; scale as ``f * (s)``."""
    kind = data.get("type")
    params = {k: v for k, v in data.items() if k != "type"}
    if (
        kind == "scale"
        and set(params) == {"schedule", "factor"}
        and isinstance(params["schedule"], dict)
    ):
        return f"{literal(params['factor'])} * ({render(params['schedule'])})"
    if kind == "product" and set(params) == {"left", "right"}:
        return f"({literal(params['left'])}) * ({literal(params['right'])})"
    args = ", ".join(f"{k}={literal(v)}" for k, v in params.items())
    return f"{kind}({args})"


@st.composite
def preset_text(draw: st.DrawFn) -> str:
    """A preset call with numbers from the whole range the constructors accept."""
    n = st.one_of(counts, reals, st.sampled_from(HUGE_INTS[:4]))
    name, args = draw(
        st.sampled_from(
            [
                (
                    "one_cycle",
                    ["peak", "total_steps", "pct_start", "div_factor", "final_div_factor"],
                ),
                ("one_cycle_momentum", ["total_steps", "pct_start", "base", "high"]),
                ("one_cycle_fastai", ["lr_max", "total_steps"]),
                (
                    "warmup_cosine",
                    ["peak", "warmup_steps", "total_steps", "start", "end", "exponent"],
                ),
                ("wsd", ["peak", "total_steps", "warmup_steps", "decay_steps", "start", "end"]),
                ("noam", ["d_model", "warmup_steps", "factor"]),
            ]
        )
    )
    k = draw(st.integers(2, len(args)))
    extra = ""
    if name in ("one_cycle", "one_cycle_momentum"):
        anneal = draw(st.sampled_from(["cos", "linear"]))
        convention = draw(st.sampled_from(["torch", "optax", "fastai"]))
        extra = f", anneal={anneal!r}, convention={convention!r}"
    if name == "wsd":
        extra = f", decay={draw(st.sampled_from(['linear', 'cosine', '1-sqrt']))!r}"
    return f"{name}({', '.join(f'{a}={literal(draw(n))}' for a in args[:k])}{extra})"


# -- mutations ------------------------------------------------------------------------------------
GRAMMAR_CHARS = "()[]{}=,*/.-+_ eE0123456789'\"\\:#;@!~`<>%&|^"
inserted = st.one_of(
    st.sampled_from(list(GRAMMAR_CHARS)),
    st.characters(),
    st.sampled_from(["\x00", "\n", "\t", "\r", "\x0c", "\u2028", "\ufeff"]),
)
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d*)?(?:e[-+]?\d+)?")
NAME = re.compile(r"[A-Za-z_]\w*")
ODD_LITERALS = [
    "1e999",
    "-1e999",
    "-0.0",
    "0x10",
    "0o7",
    "0b1",
    "1_000",
    "1j",
    "10**400",
    "9" * 400,
    "9" * 5000,
    "nan",
    "float('nan')",
    "True",
    "None",
    "'x'",
    "[]",
    "{}",
    "()",
    "...",
    "-(-1)",
    "1/0",
    "5e-324",
    "2**63",
    "+-+-1",
    "lambda: 0",
    "__import__('os')",
    "'\\d'",
    "b'x'",
    "f'{1}'",
    "1 if 1 else 2",
]
ODD_NAMES = [
    *known_names(),
    "steps",
    "init",
    "schedule",
    "type",
    "lambda",
    "import",
    "__import__",
    "eval",
    "float",
    "os",
    "print",
    "None",
    "True",
    "_",
    "é",
    "constant_",
]
WRAPS = [
    ("warmup(", ", steps=1)"),
    ("(", ")"),
    ("[", "]"),
    ("-", ""),
    ("+", ""),
    ("0.5 * ", ""),
    ("clip(", ", floor=0)"),
    ("join([", "], [])"),
    ("by_epoch(", ", 2)"),
    ("constant(", ")"),
]


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """``text`` after one to three character-, token- or nesting-level mutations."""
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(
                ["delete", "insert", "replace", "span", "number", "name", "wrap", "cut"]
            )
        )
        i = draw(st.integers(0, len(text)))
        if op == "delete" and text:
            i = min(i, len(text) - 1)
            text = text[:i] + text[i + 1 :]
        elif op == "insert":
            text = text[:i] + draw(inserted) + text[i:]
        elif op == "replace" and text:
            i = min(i, len(text) - 1)
            text = text[:i] + draw(inserted) + text[i + 1 :]
        elif op == "span":
            j = draw(st.integers(i, len(text)))
            text = text[:i] + draw(st.sampled_from(["", text[i:j] * 2, text[i:j][::-1]])) + text[j:]
        elif op in ("number", "name"):
            found = list((NUMBER if op == "number" else NAME).finditer(text))
            if found:
                m = draw(st.sampled_from(found))
                new = draw(st.sampled_from(ODD_LITERALS if op == "number" else ODD_NAMES))
                text = text[: m.start()] + new + text[m.end() :]
        elif op == "wrap":
            pre, post = draw(st.sampled_from(WRAPS))
            n = draw(depths)
            text = pre * n + text + post * n
        else:
            text = text[:i]
    return text


@st.composite
def mutated_data(draw: st.DrawFn, data: Any, wrap: Callable[[Any], Any] | None = None) -> Any:
    """``data`` (nested dicts and lists) after one to three structural mutations.

    Each mutation walks to a random node and drops or adds a key, swaps the node's type, puts a
    hostile value there or nests it deeply (``wrap`` gives one level; default: a list).
    """
    for _ in range(draw(st.integers(1, 3))):
        data = _mutate_node(draw, data, wrap or (lambda v: [v]))
    return data


def _mutate_node(draw: st.DrawFn, node: Any, wrap: Callable[[Any], Any]) -> Any:
    children = (
        list(node.items())
        if isinstance(node, dict)
        else list(enumerate(node))
        if isinstance(node, list)
        else []
    )
    if children and draw(st.integers(0, 2)) > 0:  # go deeper
        key, value = draw(st.sampled_from(children))
        new = _mutate_node(draw, value, wrap)
        copy = dict(node) if isinstance(node, dict) else list(node)
        copy[key] = new
        return copy
    op = draw(st.sampled_from(["hostile", "drop", "add", "swap", "nest"]))
    if op == "drop" and children:
        key = draw(st.sampled_from([k for k, _ in children]))
        return (
            {k: v for k, v in node.items() if k != key}
            if isinstance(node, dict)
            else [v for k, v in children if k != key]
        )
    if op == "add" and isinstance(node, dict):
        return {
            **node,
            draw(st.one_of(st.text(max_size=12), st.sampled_from(list(node) or ["x"]))): draw(
                hostile
            ),
        }
    if op == "swap":
        if isinstance(node, dict):
            # reprlib: a bounded text of the node (str() recurses as deep as the node nests)
            return draw(
                st.sampled_from([list(node.values()), list(node), reprlib.repr(node), None])
            )
        if isinstance(node, list):
            return draw(
                st.sampled_from(
                    [dict(enumerate(node)), tuple(node), {"type": "constant", "value": node}]
                )
            )
        return draw(
            st.sampled_from(
                [
                    str(node),
                    [node],
                    {"value": node},
                    -node
                    if isinstance(node, (int, float)) and not isinstance(node, bool)
                    else None,
                ]
            )
        )
    if op == "nest":
        for _ in range(draw(depths)):
            node = wrap(node)
        return node
    return draw(hostile)


def nest_schedule(value: Any) -> dict[str, Any]:
    """One more level of schedule data around ``value``."""
    return {"type": "warmup", "schedule": value, "steps": 1}


# -- checks ---------------------------------------------------------------------------------------
def assert_round_trips(s: Schedule) -> None:
    """``s`` survives its text, data and JSON forms unchanged."""
    text = call(repr, s, allowed=ValueError)
    assert text is not None, "repr raised ValueError"
    again = parse(text, functions=FUNCTIONS)
    assert again == s and repr(again) == text, text
    assert from_dict(s.to_dict(), functions=FUNCTIONS) == s, text
    assert from_json(s.to_json(), functions=FUNCTIONS) == s, text


def read_text(text: str) -> Schedule | None:
    """``parse(text)`` under the contract; a schedule it returns must round-trip."""
    s = call(parse, text, functions=FUNCTIONS, allowed=ScheduleSyntaxError)
    if s is not None:
        assert isinstance(s, Schedule)
        assert_round_trips(s)
    return s


def read_data(data: Any) -> Schedule | None:
    """``from_dict(data)`` under the contract; a schedule it returns must round-trip."""
    s = call(from_dict, data, functions=FUNCTIONS, allowed=ValueError)
    if s is not None:
        assert isinstance(s, Schedule)
        assert_round_trips(s)
    return s


# -- the tests ------------------------------------------------------------------------------------
@FUZZ
@given(schedule_data)
def test_generated_schedules_read_back_through_both_forms(data: dict[str, Any]) -> None:
    s = read_data(data)
    t = read_text(render(data))
    assert (s is None) == (t is None), render(data)
    assert s == t, render(data)


@FUZZ
@given(schedule_data.flatmap(lambda d: mutated_data(d, nest_schedule)))
def test_mutated_schedule_data(data: Any) -> None:
    read_data(data)


@FUZZ
@given(schedule_data.flatmap(lambda d: mutated_text(render(d))))
def test_mutated_schedule_text(text: str) -> None:
    read_text(text)


@FUZZ
@given(st.one_of(preset_text(), preset_text().flatmap(mutated_text)))
def test_presets_and_mutated_presets(text: str) -> None:
    read_text(text)


@FUZZ
@given(
    st.lists(st.one_of(inserted, st.sampled_from(ODD_NAMES + ODD_LITERALS)), max_size=30).map(
        "".join
    )
)
def test_random_text(text: str) -> None:
    read_text(text)


WRAPPERS: dict[str, Callable[[Schedule], Schedule]] = {
    "warmup": lambda s: warmup(s, steps=1),
    "scale": lambda s: 0.5 * s,
    "product": lambda s: s * constant(1.0),
    "join": lambda s: join([s, 0.1], [1]),
    "clip": lambda s: clip(s, floor=0.0),
    "shift": lambda s: shift(s, 1),
    "by_epoch": lambda s: by_epoch(s, 2),
}


@FUZZ
@given(st.lists(st.sampled_from(sorted(WRAPPERS)), min_size=1, max_size=3), depths)
def test_deep_nesting_is_refused_or_round_trips(kinds: list[str], depth: int) -> None:
    s: Schedule | None = constant(0.1)
    for i in range(depth):
        s = call(WRAPPERS[kinds[i % len(kinds)]], s, allowed=ValueError)
        if s is None:  # refused: a documented ValueError
            break
    else:
        assert s is not None
        assert_round_trips(s)
    data: Any = {"type": "constant", "value": 0.1}
    for _ in range(depth):
        data = nest_schedule(data)
    read_data(data)
    read_text("warmup(" * depth + "0.1" + ", steps=1)" * depth)
