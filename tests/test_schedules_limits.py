"""Hostile input: deep nesting, tokenizer warnings and mathtext in labels.

A schedule nests at most ``MAX_DEPTH`` levels; deeper data, text or objects give a
``ValueError`` that states the limit (never a ``RecursionError``), ``parse`` never lets a
Python warning escape, and plot labels are drawn literally.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from lrlab.schedules import (
    Scale,
    ScheduleSyntaxError,
    constant,
    from_dict,
    from_json,
    join,
    parse,
    plot,
    warmup,
)
from lrlab.schedules._base import MAX_DEPTH, depth


def nested_scale_data(n: int) -> dict:
    """``n`` scale dicts around a constant (depth ``n + 1``)."""
    d: dict = {"type": "constant", "value": 1.0}
    for _ in range(n):
        d = {"type": "scale", "schedule": d, "factor": 0.5}
    return d


def nested(n: int):
    """A schedule ``n`` levels deep: ``n - 1`` scales around a constant."""
    s = constant(1.0)
    for _ in range(n - 1):
        s = Scale(s, 0.5)
    return s


# -- depth ---------------------------------------------------------------------------------------
def test_from_dict_of_1000_nested_scales_names_the_limit():
    with pytest.raises(ValueError, match=rf"at most {MAX_DEPTH} levels"):
        from_dict(nested_scale_data(1000))


def test_from_dict_of_deeply_nested_lists_names_the_limit():
    data: list = [1.0]
    for _ in range(2000):
        data = [data]
    with pytest.raises(ValueError, match=rf"at most {MAX_DEPTH} levels"):
        from_dict({"type": "multistep", "init": 1.0, "milestones": data})


def test_from_json_too_deep_for_the_json_reader_is_a_value_error():
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match=rf"at most {MAX_DEPTH} levels"):
        from_json(text)


def test_building_a_400_deep_schedule_names_the_limit():
    """Before the bound, ``repr`` of such a schedule raised ``RecursionError``."""
    s = constant(1.0)
    with pytest.raises(ValueError, match=rf"scale: schedule is nested {MAX_DEPTH} levels"):
        for _ in range(400):
            s = 0.5 * s
    assert depth(s) == MAX_DEPTH  # the last one that was allowed


@pytest.mark.parametrize("build", [lambda s: warmup(s, steps=3), lambda s: join([s, 0.1], [5])])
def test_every_composite_is_bounded(build):
    with pytest.raises(ValueError, match=rf"at most {MAX_DEPTH} levels"):
        build(nested(MAX_DEPTH))
    assert depth(build(nested(MAX_DEPTH - 1))) == MAX_DEPTH


def test_the_deepest_allowed_schedule_round_trips_and_evaluates():
    s = nested(MAX_DEPTH)
    assert depth(s) == MAX_DEPTH
    assert parse(repr(s)) == s
    assert from_dict(s.to_dict()) == s
    assert from_json(s.to_json()) == s
    assert s(3) == pytest.approx(0.5 ** (MAX_DEPTH - 1))
    np.testing.assert_allclose(s(np.arange(3)), 0.5 ** (MAX_DEPTH - 1))
    with pytest.raises(ValueError, match=rf"at most {MAX_DEPTH} levels"):
        from_dict(nested_scale_data(MAX_DEPTH))  # one level more


@pytest.mark.parametrize(
    "text",
    [
        "(" * 5000 + "1" + ")" * 5000,
        "[" * 5000 + "]" * 5000,
        "-" * 5000 + "1",
        "constant(1)" + " * 0.5" * 3000,
        "scale(" * 150 + "constant(1)" + ", factor=0.5)" * 150,
    ],
    ids=["parentheses", "brackets", "signs", "products", "scale-calls"],
)
def test_parse_of_deeply_nested_text_names_the_limit(text: str):
    with pytest.raises(ScheduleSyntaxError, match=rf"at most {MAX_DEPTH} levels"):
        parse(text)


# -- warnings ------------------------------------------------------------------------------------
ODD_TEXT = ["1if", "0x1for", "constant(1else)", "constant(1if 1 else 2)", "'\\d'", "1_0if"]


@pytest.mark.parametrize("text", ODD_TEXT)
def test_parse_lets_no_warning_escape(text: str):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ScheduleSyntaxError):
            parse(text)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("text", ODD_TEXT)
def test_parse_under_warnings_as_errors_gives_the_same_error(text: str):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with pytest.raises(ScheduleSyntaxError) as plain:
            parse(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ScheduleSyntaxError) as strict:
            parse(text)
    assert str(strict.value) == str(plain.value)


@pytest.mark.parametrize(("text", "col"), [("\ud800", 0), ("constant(0.1) # \udcff", 16)])
def test_parse_of_text_with_lone_surrogates_is_a_syntax_error(text: str, col: int):
    """A lone surrogate cannot be encoded for Python's parser; it is the text's error, at its
    column, not a ``UnicodeEncodeError``."""
    with pytest.raises(ScheduleSyntaxError, match="not valid Unicode") as info:
        parse(text)
    assert info.value.col == col


# -- plot labels ---------------------------------------------------------------------------------
@pytest.mark.parametrize("label", ["constant(0.1) # $\\frac{$", "$", "cost: $5 and $6"])
def test_plot_draws_labels_with_dollars_literally(label: str):
    """Labels and titles are not mathtext: ``$\\frac{$`` used to fail while drawing."""
    pytest.importorskip("matplotlib")
    fig = plot({label: constant(0.1)}, 10, title=label)
    fig.savefig(io.BytesIO(), format="png")
    escaped = label.replace("$", "\\$")  # matplotlib draws an escaped dollar as "$"
    legend = fig.axes[0].get_legend() or fig.legends[0]  # (a figure of its own: under the axes)
    assert legend.get_texts()[0].get_text() == escaped
    assert fig.axes[0].get_title() == escaped


@pytest.mark.parametrize("kind", ["clip", "shift", "warmup"])
def test_a_number_too_large_for_a_float_in_place_of_a_schedule_is_a_value_error(kind: str):
    """A number where a schedule goes becomes ``constant(number)``; an int beyond float range is
    refused by name, not an ``OverflowError``."""
    data = {"type": kind, "schedule": 10**400, **({} if kind == "clip" else {"steps": 3})}
    with pytest.raises(ValueError, match=f"{kind}: schedule must be finite"):
        from_dict(data)


def test_a_deep_dict_as_the_type_is_a_value_error_with_a_short_message():
    """The error names the bad ``type`` with a bounded repr: a 3,000-level dict in its place
    raised ``RecursionError`` while the message was being written."""
    deep: dict = {"type": "constant", "value": 0.1}
    for _ in range(3000):
        deep = {"type": "warmup", "schedule": deep, "steps": 2}
    with pytest.raises(ValueError, match="unknown type") as info:
        from_dict({"type": deep})
    assert len(str(info.value)) < 1000
