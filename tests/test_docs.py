"""Documentation is enforced: every CLI command has help and a section in docs/cli.md, every
public schedule name is documented in docs/schedules.md, and every public object has a docstring.
(The code blocks in docs/*.md and README.md run as doctests through pytest's doctest-glob.)"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

import pytest

import lrlab.control
import lrlab.schedules
from lrlab.cli import build_parser

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _commands(parser: argparse.ArgumentParser, prefix: str = "lrlab"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", helps.get(name), sub
                yield from _commands(sub, f"{prefix} {name}")


COMMANDS = list(_commands(build_parser()))


@pytest.mark.parametrize(("command", "help_text", "parser"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_has_help_and_docs(command, help_text, parser):
    assert help_text, f"{command} has no help text"
    for action in parser._actions:
        if action.dest not in ("help",) and not isinstance(action, argparse._SubParsersAction):
            assert action.help, f"{command}: option {action.dest} has no help text"
    assert f"## `{command}`" in (DOCS / "cli.md").read_text(), f"{command} not in docs/cli.md"


@pytest.mark.parametrize("name", lrlab.schedules.__all__)
def test_every_schedule_name_is_documented(name):
    text = (DOCS / "schedules.md").read_text()
    assert f"`{name}" in text, f"lrlab.schedules.{name} is not mentioned in docs/schedules.md"


@pytest.mark.parametrize(
    "obj",
    [
        getattr(m, n)
        for m in (lrlab.schedules, lrlab.control)
        for n in m.__all__
        if inspect.isclass(getattr(m, n)) or inspect.isfunction(getattr(m, n))
    ],
    ids=lambda o: o.__name__,
)
def test_public_objects_have_docstrings(obj):
    assert inspect.getdoc(obj), f"{obj.__name__} has no docstring"
